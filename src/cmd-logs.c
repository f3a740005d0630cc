/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * logs, login, shell: what machinectl users reach for after start.
 *
 *   logs   the console log start writes (RUNTIME/children/NAME/log), or
 *          with --journal the child's systemd journal read from the host
 *          by journalctl --directory= (through /proc/PID/root of a running
 *          child: its overlay is mounted in its own namespace only).
 *   login  a getty on a pty of its own in the running child (as machinectl
 *          login starts container-getty@.service), through exec's path:
 *          the container's namespaces, the plain profile; ^]^]^] leaves.
 *   shell  a root login shell, or CMD, without a password (machinectl
 *          shell): the container's environment (child.conf's Environment=
 *          and what its /etc/profile sets), not the caller's.
 */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/cli.h"
#include "src/log.h"
#include "src/output.h"
#include "src/run-opts.h"
#include "src/runner/runner.h"

static const char logs_help[] =
"Usage: layerctl logs CHILD [-f] [-n N] [--journal]\n"
"\n"
"Print the console log of a started CHILD (RUNTIME/children/CHILD/log; it\n"
"stays after the child stops, until the next start).\n"
"\n"
"  -f, --follow    keep printing what is written while the child runs\n"
"  -n, --lines N   only the last N lines\n"
"      --journal   the child's systemd journal instead, by journalctl\n"
"                  --directory= on the child's /var/log/journal/MACHINE-ID\n"
"  -h, --help      this help\n";

static const char login_help[] =
"Usage: layerctl login CHILD\n"
"\n"
"A login prompt of a running CHILD on a pty of its own: the child's getty\n"
"(agetty, or busybox getty) and login, started in the child's namespaces.\n"
"Press ^] three times within a second to leave.\n"
"\n"
"  -h, --help      this help\n";

static const char shell_help[] =
"Usage: layerctl shell CHILD [-- CMD [ARGS...]]\n"
"\n"
"A root login shell (/bin/sh -l, in /root when the child has it) in a\n"
"running CHILD without a password, or CMD as root:\n"
"the child's environment (child.conf's Environment=, its profile), not the\n"
"caller's.  A pty when stdin is a terminal; ^]^]^] leaves.\n"
"\n"
"  -h, --help      this help\n";

enum { OPT_JOURNAL = 0x100 };

static char *state_file(struct ctx *ctx, const char *name, const char *leaf)
{
	_cleanup_free_ char *dir = runner_state_dir(ctx->store.runtime, name);
	char *p;
	return dir && asprintf(&p, "%s/%s", dir, leaf) >= 0 ? p : NULL;
}

/* Offset of the start of the last n lines of fd's file (0: all of it). */
static off_t start_of_last_lines(int fd, long n)
{
	struct stat st;
	char buf[4096];
	if (n < 0 || fstat(fd, &st) < 0)
		return 0;
	off_t pos = st.st_size;
	long seen = 0;
	if (n == 0)
		return st.st_size;
	bool first = true;
	while (pos > 0) {
		size_t len = pos > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)pos;
		if (pread(fd, buf, len, pos - len) != (ssize_t)len)
			return 0;
		for (size_t i = len; i > 0; i--, first = false) {
			if (buf[i - 1] != '\n' || (first && pos == st.st_size))
				continue;
			if (++seen == n)
				return pos - len + i;
		}
		pos -= len;
	}
	return 0;
}

static int copy_out(int fd)
{
	char buf[65536];
	ssize_t k;
	while ((k = read(fd, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, k, stdout) != (size_t)k)
			return -EIO;
	fflush(stdout);
	return k < 0 ? -errno : 0;
}

/* -f: what is appended, until the child stops (its run lock is released) and the rest is out. */
static int follow(struct ctx *ctx, const char *name, int fd)
{
	int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	_cleanup_free_ char *path = state_file(ctx, name, "log");
	if (in >= 0 && path)
		inotify_add_watch(in, path, IN_MODIFY);
	for (;;) {
		int r = copy_out(fd);
		if (r < 0) {
			if (in >= 0)
				close(in);
			return r;
		}
		if (runner_state_is_locked(ctx->store.runtime, name) <= 0) {
			r = copy_out(fd);
			if (in >= 0)
				close(in);
			return r;
		}
		/* A wake-up at least every 200 ms to notice the end; inotify says "more" sooner. */
		struct pollfd p = { .fd = in, .events = POLLIN };
		if (in >= 0 && poll(&p, 1, 200) > 0) {
			char ev[4096];
			while (read(in, ev, sizeof(ev)) > 0)
				;
		} else if (in < 0)
			usleep(200000);
	}
}

/*
 * The journal of a child that runs systemd-journald: its files under
 * /var/log/journal/MACHINE-ID, reached through the running child's root
 * (/proc/PID/root) or, stopped, its upper dir (a journal is always written,
 * never in the base).
 */
static int show_journal(struct ctx *ctx, const char *name, bool fol, long lines)
{
	_cleanup_free_ char *dir = NULL;
	struct run_state st;
	if (runner_state_is_locked(ctx->store.runtime, name) > 0 && runner_state_read(ctx->store.runtime, name, &st) == 0) {
		if (asprintf(&dir, "/proc/%d/root/var/log/journal", (int)st.pid) < 0)
			return log_fail(EXIT_FAIL, "out of memory");
	} else {
		_cleanup_free_ char *upper = store_child_path(&ctx->store, name, "upper");
		if (!upper || asprintf(&dir, "%s/var/log/journal", upper) < 0)
			return log_fail(EXIT_FAIL, "out of memory");
	}
	if (access(dir, F_OK) < 0)
		return log_fail(EXIT_FAIL, "logs %s: no journal (%s: %m); the child does not run systemd-journald with "
				"Storage=persistent", name, dir);
	char nbuf[32];
	snprintf(nbuf, sizeof(nbuf), "--lines=%ld", lines);
	char *argv[] = { "journalctl", "--directory", dir, "--no-pager", fol ? "--follow" : "--no-tail",
			 lines >= 0 ? nbuf : NULL, NULL };
	fflush(NULL);
	execvp("journalctl", argv);
	return log_fail(EXIT_FAIL, "logs %s: journalctl: %m", name);
}

int cmd_logs(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' }, { "lines", required_argument, NULL, 'n' },
		{ "journal", no_argument, NULL, OPT_JOURNAL }, { "help", no_argument, NULL, 'h' }, {}
	};
	bool fol = false, journal = false;
	long lines = -1;
	char *end;
	int ch, r;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "fn:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f': fol = true; break;
		case 'n':
			errno = 0;
			lines = strtol(optarg, &end, 10);
			if (end == optarg || *end || errno || lines < 0)
				return usage_error("logs", "--lines %s: a number of lines", optarg);
			break;
		case OPT_JOURNAL: journal = true; break;
		case 'h': fputs(logs_help, stdout); return EXIT_OK;
		default: return option_error("logs", argc, argv, "fn:h");
		}
	}
	if ((r = check_arg_count("logs", argc, argv, 1, 1, "needs exactly one CHILD")))
		return r;
	const char *name = argv[optind];
	struct child_handle h;
	if ((r = cli_open_child(ctx, "logs", name, CLI_CHILD_ANY_CONF, &h)))
		return r;
	child_handle_done(&h);
	if ((r = run_opts_check_runtime_dir(ctx, "logs", name)))
		return r;
	if (journal)
		return show_journal(ctx, name, fol, lines);
	_cleanup_free_ char *path = state_file(ctx, name, "log");
	_cleanup_close_ int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
	if (fd < 0 && errno == ENOENT)
		return log_fail(EXIT_FAIL, "logs %s: no console log (only start writes one)", name);
	if (fd < 0)
		return log_fail(EXIT_FAIL, "logs %s: %s: %m", name, path ? path : "log");
	if (lseek(fd, start_of_last_lines(fd, lines), SEEK_SET) < 0)
		return log_fail(EXIT_FAIL, "logs %s: %m", name);
	r = fol ? follow(ctx, name, fd) : copy_out(fd);
	if (r < 0)
		return log_fail(EXIT_FAIL, "logs %s: %s", name, strerror(-r));
	return EXIT_OK;
}

/* ---- login, shell: a process in the running child, exec's way ---- */

static int enter_child(struct ctx *ctx, const char *cmd, const char *name, char **argv, const char *chdir,
		       enum console_mode console)
{
	struct run_config c = { .log_fd = -1 };
	struct child_info ci = {};
	struct run_state st;
	_cleanup_close_ int pidfd = -1;
	int ret, r;

	if ((r = cli_check_name(cmd, "child", name)) || (r = ctx_store(ctx, false)) ||
	    (r = run_opts_check_runtime_dir(ctx, cmd, name)))
		return r;
	if (runner_state_is_locked(ctx->store.runtime, name) <= 0 || runner_state_read(ctx->store.runtime, name, &st) < 0) {
		struct child_handle h;
		if ((r = cli_open_child(ctx, cmd, name, CLI_CHILD_ANY_CONF, &h)))
			return r;
		child_handle_done(&h);
		return log_fail(EXIT_FAIL, "%s %s: the child is not running", cmd, name);
	}
	if ((ret = run_opts_load_child(ctx, cmd, name, &ci, &c)))
		goto out;
	c.boot = false;   /* the plain profile, as exec */
	free(c.user);
	c.user = NULL;    /* root: the point of shell; login switches user itself */
	free(c.chdir);
	char proot[64];
	snprintf(proot, sizeof(proot), "/proc/%d/root", (int)st.pid);
	c.chdir = chdir && runner_image_exists(proot, chdir) ? strdup(chdir) : NULL;
	c.console = console;
	ret = EXIT_FAIL;
	size_t n = 0;
	while (argv[n])
		n++;
	if (!(c.argv = calloc(n + 1, sizeof(char *))))
		goto out;
	for (size_t i = 0; i < n; i++)
		if (!(c.argv[i] = strdup(argv[i])))
			goto out;
	pidfd = runner_state_open_pid(&st);
	if (pidfd < 0) {
		log_error("%s %s: the child is not running", cmd, name);
		goto out;
	}
	struct container ct;
	char errbuf[600];
	/* Into the child's cgroups, so that its limits hold the command too. */
	if ((r = runner_cgroups_open_state(ctx->store.runtime, name, &c.cgroups)) < 0) {
		log_error("%s %s: runtime state: cgroup: %s", cmd, name, strerror(-r));
		goto out;
	}
	r = runner_container_enter(&c, pidfd, st.private_network, &ct, errbuf, sizeof(errbuf), &ret);
	free(c.cgroups.procs);
	c.cgroups.procs = NULL;
	if (r < 0) {
		log_error("%s %s: %s", cmd, name, errbuf);
		goto out;
	}
	ret = runner_container_wait(&c, &ct);
	if (ct.left)
		ret = EXIT_OK;   /* leaving a login or shell with ^]^]^] is a way out, as with machinectl */
	runner_container_done(&ct);
out:
	runner_config_done(&c);
	child_info_done(&ci);
	return ret;
}

/* Only --help; then CHILD (and, for shell, "-- CMD").  -1 after the help, else 0 or an exit code. */
static int parse_help_only(const char *cmd, int argc, char **argv, const char *help)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, {} };
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (ch != 'h')
			return option_error(cmd, argc, argv, "h");
		fputs(help, stdout);
		return -1;
	}
	return check_arg_count(cmd, argc, argv, 1, 1, "needs exactly one CHILD");
}

/* The first of the child's gettys, resolved inside its image (through the running init's root). */
static const char *find_getty(pid_t pid)
{
	static const char *const cands[] = { "/sbin/agetty", "/usr/sbin/agetty", "/sbin/getty", "/usr/sbin/getty",
					     "/bin/getty", "/usr/bin/getty" };
	char root[64];
	snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
	for (size_t i = 0; i < ELEMENTSOF(cands); i++)
		if (runner_image_exists(root, cands[i]))
			return cands[i];
	return NULL;
}

int cmd_login(struct ctx *ctx, int argc, char **argv)
{
	int r = parse_help_only("login", argc, argv, login_help);
	if (r)
		return r < 0 ? EXIT_OK : r;
	const char *name = argv[optind];
	struct run_state st;
	if ((r = cli_check_name("login", "child", name)) || (r = ctx_store(ctx, false)))
		return r;
	if (runner_state_is_locked(ctx->store.runtime, name) > 0 && runner_state_read(ctx->store.runtime, name, &st) == 0) {
		const char *getty = find_getty(st.pid);
		if (!getty)
			return log_fail(EXIT_FAIL, "login %s: no getty in the child (/sbin/agetty, /sbin/getty, /bin/getty)", name);
		/* "-": the pty on stdin; agetty and busybox getty both read it so, and both then run login. */
		const char *base = strrchr(getty, '/') + 1;
		char *agetty[] = { (char *)getty, "--noclear", "--keep-baud", "-", "115200,38400,9600", "vt220", NULL };
		char *bbgetty[] = { (char *)getty, "38400", "-", "vt220", NULL };
		log_info("Connected to %s. Press ^] three times within 1s to exit session.", name);
		return enter_child(ctx, "login", name, STREQ(base, "agetty") ? agetty : bbgetty, NULL, CONSOLE_PTY);
	}
	return enter_child(ctx, "login", name, (char *[]){ "true", NULL }, NULL, CONSOLE_PTY);   /* says why */
}

int cmd_shell(struct ctx *ctx, int argc, char **argv)
{
	char **cmdv;
	argc = run_opts_split_command(argc, argv, &cmdv);
	int r = parse_help_only("shell", argc, argv, shell_help);
	if (r)
		return r < 0 ? EXIT_OK : r;
	/* A login shell: it reads the child's /etc/profile (the "-" convention of login(1)). */
	char *sh[] = { "/bin/sh", "-l", NULL };
	return enter_child(ctx, "shell", argv[optind], cmdv && cmdv[0] ? cmdv : sh, "/root", CONSOLE_AUTO);
}
