/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Runner commands: run, start, stop, exec, ps (the runner itself is
 * src/runner/; see runner.h for the process chain).
 */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <math.h>
#include <time.h>

#include "src/cli.h"
#include "src/json.h"
#include "src/log.h"
#include "src/runner/runner.h"

static const char run_help[] =
"Usage: layerctl run CHILD [OPTIONS] [-- CMD [ARGS...]]\n"
"\n"
"Run CMD (default /bin/sh) in CHILD as a container: new mount, PID, UTS, IPC\n"
"and cgroup namespaces, pivot_root into the child's overlay (mounted for the\n"
"run, inside its own mount namespace only, if it is not), a minimal /dev, a masked\n"
"/proc, a read-only /sys, systemd-nspawn's capability bounding set without\n"
"CAP_SYS_ADMIN, no_new_privs and a seccomp filter.  The command runs as PID 2\n"
"under a small init; its exit status (128+N for signal N) is layerctl's.\n"
"Settings come from the child's child.conf ([Exec], [Files]); options win.\n"
"\n"
"  -b, --boot                 run the child's init as PID 1 (keeps SYS_ADMIN)\n"
"      --bind SRC[:DST[:ro]]  bind-mount a host path into the container\n"
"      --bind-ro SRC[:DST]    the same, read-only\n"
"      --tmpfs DST[:OPTS]     mount a tmpfs at DST\n"
"  -E, --setenv KEY=VALUE     set an environment variable\n"
"  -u, --user USER            run CMD as USER (name or uid in the child)\n"
"      --chdir DIR            working directory inside (default /)\n"
"      --hostname NAME        hostname (default: the child's name)\n"
"      --private-network      own network namespace with loopback only\n"
"      --capability CAPS      add capabilities (CAP_X,CAP_Y or all)\n"
"      --drop-capability CAPS drop capabilities\n"
"      --console MODE         auto (a pty for each of stdin/stdout/stderr that\n"
"                             is a terminal, always with --boot), pty, or pipe\n"
"  -h, --help                 this help\n"
"\n"
"With a terminal on stdin, press ^] three times within a second to leave (kills\n"
"the container).  SIGTERM and SIGINT go to the container; it is killed 10 s\n"
"after a SIGTERM, or at a second SIGTERM or SIGINT.\n";

static const char start_help[] =
"Usage: layerctl start CHILD\n"
"\n"
"Boot CHILD's init in the background (like run --boot).  A monitor process\n"
"stays parent of the container and writes its console to\n"
"RUNTIME/children/CHILD/log.  Returns once the init was started.\n"
"\n"
"  -h, --help      this help\n";

#define STOP_TIMEOUT_MAX 86400   /* a day: longer is a typo, not a shutdown */

static const char stop_help[] =
"Usage: layerctl stop CHILD [--timeout SECONDS]\n"
"\n"
"Ask a running child's init to power off (SIGRTMIN+3 for systemd, SIGUSR2\n"
"for busybox init, [Exec] KillSignal= to override; SIGTERM for a plain run)\n"
"and kill it when it is not gone after the timeout.\n"
"\n"
"  -t, --timeout SECONDS   wait this long before SIGKILL (default 10, at most\n"
"                          86400; fractions allowed)\n"
"  -h, --help              this help\n";

static const char exec_help[] =
"Usage: layerctl exec CHILD [OPTIONS] -- CMD [ARGS...]\n"
"\n"
"Run CMD inside a running child: join its namespaces (setns through a\n"
"pidfd), with the capability, no_new_privs, seccomp and environment rules\n"
"of a plain run.\n"
"\n"
"  -E, --setenv KEY=VALUE     set an environment variable\n"
"  -u, --user USER            run CMD as USER\n"
"      --chdir DIR            working directory inside (default /)\n"
"      --console MODE         auto, pty or pipe\n"
"  -h, --help                 this help\n";

static const char ps_help[] =
"Usage: layerctl ps [--json]\n"
"\n"
"List running children: name, PID of their init (host view), mode, uptime.\n"
"\n"
"      --json      JSON output\n"
"  -h, --help      this help\n";

/* Options given on the command line, applied on top of child.conf. */
struct run_opts {
	bool boot;
	const char *user, *chdir, *hostname, *console;
	bool private_network;
	uint64_t caps_add, caps_drop;
	struct run_config lists;   /* only env, binds, tmpfs used */
};

enum {
	OPT_BIND = 0x100, OPT_BIND_RO, OPT_TMPFS, OPT_CHDIR, OPT_HOSTNAME, OPT_PRIVNET,
	OPT_CAP, OPT_DROPCAP, OPT_CONSOLE, OPT_JSON,
};

/* Split argv at the first "--": options before, the command after. */
static int split_command(int argc, char **argv, char ***cmd)
{
	for (int i = 1; i < argc; i++)
		if (STREQ(argv[i], "--")) {
			*cmd = argv + i + 1;
			argv[i] = NULL;
			return i;
		}
	*cmd = NULL;
	return argc;
}

static int parse_run_opts(const char *cmd, int argc, char **argv, struct run_opts *o, bool exec_only)
{
	static const struct option opts[] = {
		{ "boot", no_argument, NULL, 'b' },
		{ "bind", required_argument, NULL, OPT_BIND },
		{ "bind-ro", required_argument, NULL, OPT_BIND_RO },
		{ "tmpfs", required_argument, NULL, OPT_TMPFS },
		{ "setenv", required_argument, NULL, 'E' },
		{ "user", required_argument, NULL, 'u' },
		{ "chdir", required_argument, NULL, OPT_CHDIR },
		{ "hostname", required_argument, NULL, OPT_HOSTNAME },
		{ "private-network", no_argument, NULL, OPT_PRIVNET },
		{ "capability", required_argument, NULL, OPT_CAP },
		{ "drop-capability", required_argument, NULL, OPT_DROPCAP },
		{ "console", required_argument, NULL, OPT_CONSOLE },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c, r;
	uint64_t m;

	optind = 0;
	while ((c = getopt_long(argc, argv, "bE:u:h", opts, NULL)) != -1) {
		bool run_only = c == 'b' || c == OPT_BIND || c == OPT_BIND_RO || c == OPT_TMPFS ||
				c == OPT_HOSTNAME || c == OPT_PRIVNET || c == OPT_CAP || c == OPT_DROPCAP;
		if (exec_only && run_only)
			return usage_error(cmd, "%s is not an option of exec", argv[optind - 1]);
		switch (c) {
		case 'b': o->boot = true; break;
		case OPT_BIND:
		case OPT_BIND_RO:
			if ((r = runner_config_add_bind(&o->lists, optarg, c == OPT_BIND_RO)) < 0)
				return usage_error(cmd, "--bind %s: %s", optarg,
						   r == -EINVAL ? "needs SRC[:DST[:ro]], absolute paths without '..'" : strerror(-r));
			break;
		case OPT_TMPFS:
			if ((r = runner_config_add_tmpfs(&o->lists, optarg)) < 0)
				return usage_error(cmd, "--tmpfs %s: needs an absolute DST[:OPTS] other than /", optarg);
			break;
		case 'E':
			if (runner_config_add_env(&o->lists, optarg) < 0)
				return usage_error(cmd, "--setenv %s: needs KEY=VALUE", optarg);
			break;
		case 'u':
			if (!*optarg)
				return usage_error(cmd, "--user: empty name");
			o->user = optarg;
			break;
		case OPT_CHDIR:
			if (optarg[0] != '/')
				return usage_error(cmd, "--chdir %s: needs an absolute path", optarg);
			o->chdir = optarg;
			break;
		case OPT_HOSTNAME:
			if (!*optarg || strlen(optarg) > 64)
				return usage_error(cmd, "--hostname: 1 to 64 bytes");
			o->hostname = optarg;
			break;
		case OPT_PRIVNET: o->private_network = true; break;
		case OPT_CAP:
		case OPT_DROPCAP:
			if (runner_caps_parse(optarg, &m) < 0)
				return usage_error(cmd, "%s: unknown capability in '%s'",
						   c == OPT_CAP ? "--capability" : "--drop-capability", optarg);
			if (c == OPT_CAP)
				o->caps_add |= m;
			else
				o->caps_drop |= m;
			break;
		case OPT_CONSOLE:
			if (!STREQ(optarg, "auto") && !STREQ(optarg, "pty") && !STREQ(optarg, "pipe"))
				return usage_error(cmd, "--console: auto, pty or pipe");
			o->console = optarg;
			break;
		case 'h':
			fputs(exec_only ? exec_help : run_help, stdout);
			return -1;
		default:
			return option_error(cmd, argc, argv, "bE:u:h");
		}
	}
	return 0;
}

static int strv_copy(char ***dst, char **src)
{
	size_t n = 0;
	while (src && src[n])
		n++;
	char **v = calloc(n + 1, sizeof(char *));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!(v[i] = strdup(src[i])))
			return -ENOMEM;
	if (*dst)
		for (char **p = *dst; *p; p++)
			free(*p);
	free(*dst);
	*dst = v;
	return 0;
}

static int replace_str(char **dst, const char *v)
{
	if (!v)
		return 0;
	free(*dst);
	*dst = strdup(v);
	return *dst ? 0 : -ENOMEM;
}

/* child.conf first, then the options on top; lists append. */
static int apply_opts(struct run_config *c, struct run_opts *o, char **cmdv)
{
	int r;
	if (o->boot)
		c->boot = true;
	if (c->boot && (o->user || c->user))
		return -EINVAL;   /* an init runs as root; said by the caller */
	if (o->private_network)
		c->private_network = true;
	c->caps_add = (c->caps_add & ~o->caps_drop) | o->caps_add;
	c->caps_drop = (c->caps_drop & ~o->caps_add) | o->caps_drop;
	if ((r = replace_str(&c->user, o->user)) < 0 || (r = replace_str(&c->chdir, o->chdir)) < 0 ||
	    (r = replace_str(&c->hostname, o->hostname)) < 0)
		return r;
	if (o->console)
		c->console = STREQ(o->console, "pty") ? CONSOLE_PTY : STREQ(o->console, "pipe") ? CONSOLE_PIPE : CONSOLE_AUTO;
	if (cmdv && cmdv[0] && (r = strv_copy(&c->argv, cmdv)) < 0)
		return r;
	for (char **e = o->lists.env; e && *e; e++)
		if ((r = runner_config_add_env(c, *e)) < 0)
			return r;
	for (size_t i = 0; i < o->lists.n_binds; i++) {
		struct bind_spec *b = &o->lists.binds[i];
		_cleanup_free_ char *arg = NULL;
		if (asprintf(&arg, "%s:%s", b->src, b->dst) < 0 || (r = runner_config_add_bind(c, arg, b->ro)) < 0)
			return -ENOMEM;
	}
	for (size_t i = 0; i < o->lists.n_tmpfs; i++) {
		struct tmpfs_spec *t = &o->lists.tmpfs[i];
		_cleanup_free_ char *arg = NULL;
		if (asprintf(&arg, "%s%s%s", t->dst, t->opts ? ":" : "", t->opts ? t->opts : "") < 0 ||
		    (r = runner_config_add_tmpfs(c, arg)) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int apply_opts_or_fail(const char *cmd, struct run_config *c, struct run_opts *o, char **cmdv)
{
	int r = apply_opts(c, o, cmdv);
	if (r == -EINVAL && STREQ(cmd, "start"))
		return log_fail(EXIT_FAIL, "start %s: User=%s in child.conf does not go with start, which boots the init "
			       "(an init runs as root)", c->name, c->user);
	if (r == -EINVAL)
		return log_fail(EXIT_FAIL, "%s %s: --user/User= does not go with --boot/Boot=yes (an init runs as root)", cmd, c->name);
	if (r < 0)
		return log_fail(EXIT_FAIL, "out of memory");
	return 0;
}

/* Load a child and its settings into c.  Prints; returns an exit code. */
/* The terminal may still be in raw mode: a line of its own, with carriage returns. */
static void print_console_notice(void *userdata, const char *msg)
{
	fprintf(stderr, "\r\n%s\r\n", msg);
}

static int load_child(struct ctx *ctx, const char *cmd, const char *name, struct child_info *ci, struct run_config *c)
{
	struct lc_err e = { "" };
	struct child_handle h;
	int r;
	if ((r = cli_open_child(ctx, cmd, name, 0, &h)))
		return r;
	*ci = h.c; /* no lock, no manifest: nothing else to release */
	c->name = strdup(name);
	c->root = store_child_path(&ctx->store, name, "root");
	c->runtime = ctx->store.runtime;
	c->warn = (struct lc_warn){ cli_print_warning, NULL };
	c->notice = (struct lc_warn){ print_console_notice, NULL };
	if (!c->name || !c->root)
		return log_fail(EXIT_FAIL, "out of memory");
	r = runner_config_from_settings(c, ci->conf, &e);
	if (r < 0)
		return log_fail(EXIT_FAIL, "%s %s: child.conf: %s", cmd, name, lc_err_msg(&e, r));
	return 0;
}

static int take_run_lock(struct ctx *ctx, const char *cmd, const char *name);

/*
 * A child that is not mounted yet gets its overlay for the run in a mount
 * namespace of our own (a slave of the host's: the user's mounts still show
 * through, ours never reach the host), which the container's namespace is
 * then copied from.  When run (or start's monitor) and the container end,
 * however they end — kill -9 included — the kernel drops the namespaces and
 * the overlay with them: nothing is left mounted in the host, and no next
 * run can adopt a stale mount.  A child the user mounted (layerctl mount)
 * is visible here as it is, is used as it is and stays mounted.
 */
static int private_mount_namespace(void)
{
	if (unshare(CLONE_NEWNS) < 0)
		return -errno;
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return -errno;
	return 0;
}
static int check_root(const char *cmd, const struct run_config *c);

/* A bind source that is missing is named here, before anything starts (the runner only knows its index). */
static int check_bind_sources(const char *cmd, const struct run_config *c)
{
	struct stat st;
	for (size_t i = 0; i < c->n_binds; i++)
		if (stat(c->binds[i].src, &st) < 0)
			return log_fail(EXIT_FAIL, "%s %s: bind source %s: %m", cmd, c->name, c->binds[i].src);
	return 0;
}

/*
 * The runner mounts its own /dev over the image's; a symlink there would be
 * followed inside the container to wherever it points.  Say so plainly
 * instead of failing later on "/dev/console".
 */
static int check_dev_dir(const char *cmd, const struct run_config *c)
{
	_cleanup_free_ char *dev = NULL;
	char target[4096];
	struct stat st;
	if (asprintf(&dev, "%s/dev", c->root) < 0)
		return log_fail(EXIT_FAIL, "out of memory");
	if (lstat(dev, &st) < 0 || S_ISDIR(st.st_mode))
		return 0; /* absent: the runner makes it */
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlink(dev, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = '\0';
		return log_fail(EXIT_FAIL, "%s %s: /dev in the child is a symlink (to %s); it must be a directory", cmd,
				c->name, target);
	}
	return log_fail(EXIT_FAIL, "%s %s: /dev in the child is not a directory", cmd, c->name);
}

/*
 * What run and start do first: take the run lock (the child runs at most
 * once), then under the child lock load child.conf ("lock, then load", as
 * every command that acts on a child) and mount the overlay if it is not
 * mounted.  The child lock is released afterwards: from then on the run lock
 * says "running", which umount, child rm and child reset respect.  On
 * success *runlock is the run lock's fd and *mounted_here says whether the
 * overlay must be unmounted again afterwards.
 */
static int lock_load_mount(struct ctx *ctx, const char *cmd, const char *name, struct run_opts *o, char **cmdv,
			   struct child_info *ci, struct run_config *c, bool *mounted_here, int *runlock)
{
	struct lc_err e = { "" };
	int r;

	if ((r = cli_check_name(cmd, "child", name)) || (r = ctx_store(ctx, false)))
		return r;
	_cleanup_close_ int rlock = take_run_lock(ctx, cmd, name);
	if (rlock < 0)
		return EXIT_FAIL;
	_cleanup_close_ int lock = store_lock(&ctx->store, LOCK_CHILD, name, LOCK_EX);
	if (lock < 0)
		return log_fail(EXIT_FAIL, "%s %s: lock: %s", cmd, name, strerror(-lock));
	if ((r = load_child(ctx, cmd, name, ci, c)) || (o && (r = apply_opts_or_fail(cmd, c, o, cmdv))))
		return r;
	/* Whatever is at the root now (a bind mount of /, say) must not be the host's root. */
	if ((r = check_root(cmd, c)))
		return r;
	if ((r = check_bind_sources(cmd, c)))
		return r;
	r = store_child_is_mounted(&ctx->store, ci);
	if (r == 0 && (r = private_mount_namespace()) < 0)
		return log_fail(EXIT_FAIL, "%s %s: private mount namespace: %s", cmd, name, strerror(-r));
	r = store_child_mount(&ctx->store, ci, &e);
	if (r < 0)
		return log_fail(EXIT_FAIL, "%s %s: mount overlay: %s", cmd, name, lc_err_msg(&e, r));
	*mounted_here = r == 0;
	if ((r = check_dev_dir(cmd, c))) {
		if (*mounted_here)
			store_child_umount(&ctx->store, ci, NULL);
		return r;
	}
	*runlock = TAKE_FD(rlock);
	return 0;
}

static void umount_after_run(struct ctx *ctx, const char *cmd, const struct child_info *ci)
{
	struct lc_err e = { "" };
	_cleanup_close_ _unused_ int lock = store_lock(&ctx->store, LOCK_CHILD, ci->name, LOCK_EX);   /* held until return */
	int r = store_child_umount(&ctx->store, ci, &e);
	if (r < 0)
		log_error("%s %s: unmount overlay: %s", cmd, ci->name, lc_err_msg(&e, r));
}

/*
 * The runtime dir decides what stop signals and which seccomp program a
 * container loads: refuse one that someone other than root could change
 * (see runner_trusted_dir_open).  Not there yet is fine: nothing runs, and run
 * creates it.
 */
static int check_runtime_dir(struct ctx *ctx, const char *cmd, const char *name)
{
	char why[512];
	int fd = runner_trusted_dir_open(ctx->store.runtime, why, sizeof(why));
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return log_fail(EXIT_FAIL, "%s %s: runtime dir %s: %s", cmd, name, ctx->store.runtime,
				fd == -EPERM ? why : strerror(-fd));
	close(fd);
	return 0;
}

static int take_run_lock(struct ctx *ctx, const char *cmd, const char *name)
{
	int fd = runner_state_lock(ctx->store.runtime, name);
	if (fd == -EBUSY)
		return log_fail(-1, "%s %s: the child is already running (a child runs at most once)", cmd, name);
	if (fd < 0)
		return log_fail(-1, "%s %s: runtime dir %s: %s", cmd, name, ctx->store.runtime, strerror(-fd));
	if (check_runtime_dir(ctx, cmd, name)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int check_root(const char *cmd, const struct run_config *c)
{
	int r = runner_is_host_root(c->root);
	if (r < 0)
		return log_fail(EXIT_FAIL, "%s %s: %s: %s", cmd, c->name, c->root, strerror(-r));
	if (r > 0)
		return log_fail(EXIT_FAIL, "%s %s: %s is the host's root file system; refusing", cmd, c->name, c->root);
	return 0;
}

static void fill_kill_signal(struct run_config *c)
{
	if (c->kill_signal)
		return;
	if (!c->boot) {
		c->kill_signal = SIGTERM;
		return;
	}
	static const char *const inits[] = { "/usr/lib/systemd/systemd", "/lib/systemd/systemd", "/sbin/init" };
	for (size_t i = 0; i < ELEMENTSOF(inits); i++) {
		if (runner_image_exists(c->root, inits[i])) {
			c->kill_signal = runner_kill_signal_for_init(c->root, inits[i]);
			return;
		}
	}
	c->kill_signal = SIGRTMIN + 3;
}

static int check_boot(const char *cmd, const struct run_config *c)
{
	/* Resolved inside the image: an absolute symlink there must not find the host's file. */
	if (c->boot && !runner_image_exists(c->root, "/etc/os-release") && !runner_image_exists(c->root, "/usr/lib/os-release"))
		return log_fail(EXIT_FAIL, "%s %s: boot: no /etc/os-release or /usr/lib/os-release in the child", cmd, c->name);
	return 0;
}

static void record_state(struct ctx *ctx, const struct run_config *c, const struct container *ct)
{
	struct run_state st = {
		.pid = ct->pid, .monitor = getpid(), .boot = c->boot, .kill_signal = c->kill_signal,
		.private_network = c->private_network, .started = (long long)time(NULL), .pidns = pidns_of(ct->pid),
	};
	int r = runner_state_write(ctx->store.runtime, c->name, &st);
	if (r < 0)
		log_warning("%s: runtime state: %s", c->name, strerror(-r));
}

/*
 * Start the container and run it to its end; the caller holds the run lock.
 * A booted init that asks for a reboot gets a fresh container, as with nspawn.
 */
static int run_container(struct ctx *ctx, const char *cmd, struct run_config *c, int report_fd)
{
	struct container ct;
	char errbuf[600];
	int hint, r, status;

	for (;;) {
		r = runner_container_start(c, &ct, errbuf, sizeof(errbuf), &hint);
		if (r < 0) {
			log_error("%s %s: %s", cmd, c->name, errbuf);
			if (report_fd >= 0)
				dprintf(report_fd, "%s", errbuf);
			runner_state_clear(ctx->store.runtime, c->name);
			return hint;
		}
		record_state(ctx, c, &ct);
		if (report_fd >= 0)
			close(report_fd);   /* start: "it is up" */
		report_fd = -1;
		status = runner_container_wait(c, &ct);
		runner_container_done(&ct);
		if (!ct.rebooted)
			break;
		log_info("Container %s rebooted; starting it again.", c->name);
	}
	runner_state_clear(ctx->store.runtime, c->name);
	return status;
}

int cmd_run(struct ctx *ctx, int argc, char **argv)
{
	struct run_opts o = {};
	struct run_config c = { .log_fd = -1 };
	struct child_info ci = {};
	char **cmdv;
	bool mounted_here = false;
	_cleanup_close_ int lock = -1;
	int r, ret;

	argc = split_command(argc, argv, &cmdv);
	if ((r = parse_run_opts("run", argc, argv, &o, false)))
		return r < 0 ? EXIT_OK : r;
	if (argc - optind != 1)
		ret = usage_error("run", "needs exactly one CHILD (the command goes after --)");
	else if (!(ret = lock_load_mount(ctx, "run", argv[optind], &o, cmdv, &ci, &c, &mounted_here, &lock))) {
		fill_kill_signal(&c);
		if (!(ret = check_root("run", &c)) && !(ret = check_boot("run", &c)))
			ret = run_container(ctx, "run", &c, -1);
		if (mounted_here)
			umount_after_run(ctx, "run", &ci);
	}
	runner_config_done(&o.lists);
	runner_config_done(&c);
	child_info_done(&ci);
	return ret;
}

/* Close every descriptor from 3 up but those in keep[]. */
static void close_fds_except(const int *keep, size_t n)
{
	int lo = 3;
	for (;;) {
		int next = INT_MAX;   /* the lowest kept fd >= lo */
		for (size_t i = 0; i < n; i++)
			if (keep[i] >= lo && keep[i] < next)
				next = keep[i];
		if (next > lo)
			syscall(SYS_close_range, (unsigned)lo, next == INT_MAX ? ~0U : (unsigned)next - 1, 0);
		if (next == INT_MAX)
			return;
		lo = next + 1;
	}
}

/*
 * start: fork a monitor that owns the container (and the run lock), its
 * console going to RUNTIME/children/NAME/log; wait until the monitor says
 * the init was exec'd (its report pipe closes empty) or why it was not.
 */
int cmd_start(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, {} };
	struct run_config c = { .log_fd = -1 };
	struct child_info ci = {};
	bool mounted_here = false;
	_cleanup_free_ char *dir = NULL, *logpath = NULL;
	int ch, r, ret;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(start_help, stdout);
			return EXIT_OK;
		}
		return option_error("start", argc, argv, "h");
	}
	if ((ch = check_arg_count("start", argc, argv, 1, 1, "needs exactly one CHILD")))
		return ch;
	int lock = -1;
	/* start boots: the same rules as run --boot (User= refused, …), checked before anything is mounted. */
	struct run_opts o = { .boot = true };
	if ((ret = lock_load_mount(ctx, "start", argv[optind], &o, NULL, &ci, &c, &mounted_here, &lock)))
		goto out;
	c.boot = true;
	c.console = CONSOLE_LOG;
	dir = runner_state_dir(ctx->store.runtime, c.name);
	if (!dir || asprintf(&logpath, "%s/log", dir) < 0) {
		ret = log_fail(EXIT_FAIL, "out of memory");
		goto fail;
	}
	c.log_fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
	if (c.log_fd < 0) {
		ret = log_fail(EXIT_FAIL, "start %s: %s: %m", c.name, logpath);
		goto fail;
	}
	fill_kill_signal(&c);
	int report[2] = { -1, -1 };
	if ((ret = check_root("start", &c)) || (ret = check_boot("start", &c)))
		goto fail;
	if (pipe2(report, O_CLOEXEC) < 0) {
		ret = log_fail(EXIT_FAIL, "start %s: pipe: %m", c.name);
		goto fail;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		ret = log_fail(EXIT_FAIL, "start %s: fork: %m", c.name);
		close(report[0]);
		close(report[1]);
		goto fail;
	}
	if (pid == 0) {
		/*
		 * The monitor, a daemon: its own session, stdio to /dev/null and
		 * the log, pinning no directory, and holding no descriptor of the
		 * caller's (out=$(layerctl start c 3>&1) would otherwise wait for
		 * the container's end), only the run lock, the log, the report
		 * pipe and the store.
		 */
		close(report[0]);
		setsid();
		if (chdir("/") < 0) {
			/* keep the old cwd */
		}
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		dup2(c.log_fd, STDOUT_FILENO);
		dup2(c.log_fd, STDERR_FILENO);
		close_fds_except((int[]){ report[1], c.log_fd, lock, ctx->store.root_fd }, 4);
		/* Nor the caller's signal state (a shell's `&` ignores SIGINT, say), which the init would inherit. */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int sig = 1; sig < _NSIG; sig++)
			if (sig != SIGKILL && sig != SIGSTOP)
				signal(sig, SIG_DFL);
		r = run_container(ctx, "start", &c, report[1]);
		if (mounted_here)
			umount_after_run(ctx, "start", &ci);
		fprintf(stderr, "layerctl: %s: container ended with status %d\n", c.name, r);
		_exit(r);
	}
	close(report[1]);
	close(lock);   /* the monitor holds it now */
	char msg[700];
	ssize_t n, len = 0;
	while ((n = read(report[0], msg + len, sizeof(msg) - 1 - len)) > 0)
		len += n;
	close(report[0]);
	if (len > 0) {
		msg[len] = '\0';
		waitpid(pid, NULL, 0);
		ret = log_fail(EXIT_FAIL, "start %s: %s", c.name, msg);
	} else {
		log_info("Started %s (console log: %s).", c.name, logpath);
		ret = EXIT_OK;
	}
	goto out;
fail:
	close(lock);
	if (mounted_here)
		umount_after_run(ctx, "start", &ci);
out:
	runner_config_done(&c);
	child_info_done(&ci);
	return ret;
}

/* Load the state of a running child: 0, or an exit code after printing. */
static int running_state(struct ctx *ctx, const char *cmd, const char *name, struct run_state *st)
{
	int r;
	if ((r = cli_check_name(cmd, "child", name)) || (r = ctx_store(ctx, false)) || (r = check_runtime_dir(ctx, cmd, name)))
		return r;
	if (runner_state_is_locked(ctx->store.runtime, name) <= 0) {
		_cleanup_free_ char *rel = NULL;
		if (asprintf(&rel, "children/%s", name) >= 0 && faccessat(ctx->store.root_fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
		    errno == ENOENT)
			return log_fail(EXIT_FAIL, "%s %s: no such child", cmd, name);
		return log_fail(EXIT_FAIL, "%s %s: the child is not running", cmd, name);
	}
	if ((r = runner_state_read(ctx->store.runtime, name, st)) < 0)
		return log_fail(EXIT_FAIL, "%s %s: runtime state: %s", cmd, name, strerror(-r));
	return 0;
}

static bool wait_unlocked(struct ctx *ctx, const char *name, long ms)
{
	for (long waited = 0; waited <= ms; waited += 20) {
		if (runner_state_is_locked(ctx->store.runtime, name) <= 0)
			return true;
		usleep(20000);
	}
	return false;
}

int cmd_stop(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' }, { "help", no_argument, NULL, 'h' }, {}
	};
	struct run_state st;
	double timeout = 10;
	char *end;
	int ch, r;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
		if (ch == 't') {
			/* strtod takes "nan", "inf" and 1e300: none is a wait (and the ms conversion would overflow). */
			errno = 0;
			timeout = strtod(optarg, &end);
			if (end == optarg || *end || errno || !isfinite(timeout) || timeout < 0 || timeout > STOP_TIMEOUT_MAX)
				return usage_error("stop", "--timeout %s: a number of seconds from 0 to %d", optarg,
						   STOP_TIMEOUT_MAX);
		} else if (ch == 'h') {
			fputs(stop_help, stdout);
			return EXIT_OK;
		} else
			return option_error("stop", argc, argv, "t:h");
	}
	if ((ch = check_arg_count("stop", argc, argv, 1, 1, "needs exactly one CHILD")))
		return ch;
	const char *name = argv[optind];
	if ((r = running_state(ctx, "stop", name, &st)))
		return r;
	_cleanup_close_ int pidfd = runner_state_open_pid(&st);
	if (pidfd < 0)
		return wait_unlocked(ctx, name, 2000) ? EXIT_OK : log_fail(EXIT_FAIL, "stop %s: pid %d: %s", name, st.pid, strerror(-pidfd));
	if (syscall(SYS_pidfd_send_signal, pidfd, st.kill_signal ? st.kill_signal : SIGTERM, NULL, 0) < 0 && errno != ESRCH)
		return log_fail(EXIT_FAIL, "stop %s: signal: %m", name);
	if (!wait_unlocked(ctx, name, (long)(timeout * 1000))) {
		log_warning("stop %s: still running after %gs; killing it", name, timeout);
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		if (!wait_unlocked(ctx, name, 10000))
			return log_fail(EXIT_FAIL, "stop %s: the monitor (pid %d) did not finish", name, st.monitor);
	}
	log_info("Stopped %s.", name);
	return EXIT_OK;
}

int cmd_exec(struct ctx *ctx, int argc, char **argv)
{
	struct run_opts o = {};
	struct run_config c = { .log_fd = -1 };
	struct child_info ci = {};
	struct run_state st;
	char **cmdv;
	_cleanup_close_ int pidfd = -1;
	int r, ret;

	argc = split_command(argc, argv, &cmdv);
	if ((r = parse_run_opts("exec", argc, argv, &o, true)))
		return r < 0 ? EXIT_OK : r;
	if (argc - optind != 1 || !cmdv || !cmdv[0]) {
		runner_config_done(&o.lists);
		return usage_error("exec", "needs CHILD -- CMD [ARGS...]");
	}
	const char *name = argv[optind];
	if ((ret = running_state(ctx, "exec", name, &st)) || (ret = load_child(ctx, "exec", name, &ci, &c)))
		goto out;
	c.boot = false;   /* exec'd commands get the plain profile, even in a booted child */
	if ((ret = apply_opts_or_fail("exec", &c, &o, cmdv)))
		goto out;
	ret = EXIT_FAIL;
	pidfd = runner_state_open_pid(&st);
	if (pidfd < 0) {
		log_error("exec %s: pid %d: %s", name, st.pid, pidfd == -ESRCH ? "the child is not running" : strerror(-pidfd));
		goto out;
	}
	struct container ct;
	char errbuf[600];
	if (runner_container_enter(&c, pidfd, st.private_network, &ct, errbuf, sizeof(errbuf), &ret) < 0) {
		log_error("exec %s: %s", name, errbuf);
		goto out;
	}
	ret = runner_container_wait(&c, &ct);
	runner_container_done(&ct);
out:
	runner_config_done(&o.lists);
	runner_config_done(&c);
	child_info_done(&ci);
	return ret;
}

int cmd_ps(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, OPT_JSON }, { "help", no_argument, NULL, 'h' }, {}
	};
	bool json = false;
	char **names = NULL;
	size_t n = 0;
	int ch, r;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == OPT_JSON)
			json = true;
		else if (ch == 'h') {
			fputs(ps_help, stdout);
			return EXIT_OK;
		} else
			return option_error("ps", argc, argv, "h");
	}
	if (optind != argc)
		return usage_error("ps", "unexpected argument '%s'", argv[optind]);
	bool empty;
	if ((r = ctx_store_or_empty(ctx, &empty)))
		return r;
	if (!empty && (r = store_list_children(&ctx->store, &names, &n)) < 0)
		return log_fail(EXIT_FAIL, "ps: %s", strerror(-r));
	struct json j;
	if (json) {
		json_init(&j, stdout);
		json_begin_array(&j);
	} else
		printf("%-24s %8s %-5s %s\n", "NAME", "PID", "MODE", "UPTIME");
	long long now = time(NULL);
	for (size_t i = 0; i < n; i++) {
		struct run_state st;
		if (runner_state_is_locked(ctx->store.runtime, names[i]) <= 0 || runner_state_read(ctx->store.runtime, names[i], &st) < 0)
			continue;
		if (json) {
			json_begin_object(&j);
			json_kv_string(&j, "name", names[i]);
			json_kv_int(&j, "pid", st.pid);
			json_kv_int(&j, "monitor", st.monitor);
			json_kv_string(&j, "mode", st.boot ? "boot" : "run");
			json_kv_int(&j, "started", st.started);
			json_end_object(&j);
		} else
			printf("%-24s %8d %-5s %llds\n", names[i], (int)st.pid, st.boot ? "boot" : "run", now - st.started);
	}
	if (json) {
		json_end_array(&j);
		json_done(&j);
	}
	strv_free(names);
	return EXIT_OK;
}

int child_is_running(struct ctx *ctx, const char *name)
{
	if (!ctx->store_open)
		return 0;
	return runner_state_is_locked(ctx->store.runtime, name) > 0;
}
