/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * run and start: a child as a container, in the foreground or under a
 * monitor in the background (the runner itself is src/runner/; see
 * runner.h for the process chain).  Their options and the run config are
 * src/run-opts.c; stop, exec and ps, which act on started children,
 * src/cmd-machine.c.
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
#include <time.h>

#include "src/basic/proctitle.h"
#include "src/basic/testhook.h"
#include "src/cli.h"
#include "src/log.h"
#include "src/run-opts.h"
#include "src/runner/runner.h"
#include "src/store/uidrange.h"

static const char run_help[] =
"Usage: layerctl run CHILD [OPTIONS] [-- CMD [ARGS...]]\n"
"\n"
"Run CMD (default /bin/sh) in CHILD as a container: new mount, PID, UTS, IPC\n"
"and cgroup namespaces, pivot_root into the child's overlay (mounted for the\n"
"run, inside its own mount namespace only, if it is not), a minimal /dev, a masked\n"
"/proc, a read-only /sys, systemd-nspawn's capability bounding set without\n"
"CAP_SYS_ADMIN, no_new_privs and a seccomp filter.  The command runs as PID 2\n"
"under a small init; its exit status (128+N for signal N) is layerctl's.\n"
"Settings come from the child's child.conf ([Exec], [Files], [Network]);\n"
"options win.\n"
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
"      --private-users MODE   user namespace: pick (a range of its own), BASE[:COUNT],\n"
"                             or no\n"
"  -n, --network-veth         a veth pair: host0 inside, vl-CHILD outside, a /30\n"
"                             of the address pool, default route via the host\n"
"      --network-bridge BR    a veth whose host side joins the existing bridge BR\n"
"                             (no address from layerctl)\n"
"      --network-zone NAME    a veth on bridge vlz-NAME, made with the zone's first\n"
"                             child and removed with its last; a /24 per zone\n"
"  -p, --port [tcp:|udp:]HOST[:CHILD]\n"
"                             forward a port of the host's to the child (nftables\n"
"                             table inet layerctl); repeatable\n"
"      --network-pool CIDR    where addresses come from (default 10.234.0.0/16)\n"
"      --resolv-conf MODE     off (default) or copy-host: the host's\n"
"                             /etc/resolv.conf into the child's /etc\n"
"      --capability CAPS      add capabilities (CAP_X,CAP_Y or all)\n"
"      --drop-capability CAPS drop capabilities\n"
"      --console MODE         auto (a pty for each of stdin/stdout/stderr that\n"
"                             is a terminal, always with --boot), pty, or pipe\n"
"      --property KEY=VALUE   a resource limit, systemd's names and syntax:\n"
"                             MemoryMax=, MemoryHigh=, MemorySwapMax=, CPUQuota=,\n"
"                             CPUWeight=, TasksMax=, IOWeight=,\n"
"                             IOReadBandwidthMax=, IOWriteBandwidthMax=\n"
"      --limits MODE          strict (default: a limit that cannot be applied\n"
"                             is an error) or best-effort (a warning)\n"
"  -h, --help                 this help\n"
"\n"
"With a terminal on stdin, press ^] three times within a second to leave (kills\n"
"the container).  SIGTERM and SIGINT go to the container; it is killed 10 s\n"
"after a SIGTERM, or at a second SIGTERM or SIGINT.\n"
"\n"
"An overlay mounted for the run stays LAYERCTL_RUN_LINGER seconds (default 2,\n"
"0: not at all) for the next run of the child, which then needs no new one.\n";

static const char start_help[] =
"Usage: layerctl start CHILD [OPTIONS]\n"
"\n"
"Boot CHILD's init in the background (like run --boot).  A monitor process\n"
"stays parent of the container and writes its console to\n"
"RUNTIME/children/CHILD/log.  Returns once the init was started.\n"
"\n"
"      --property KEY=VALUE   a resource limit (as run; [Resources] in child.conf)\n"
"      --limits MODE          strict or best-effort (as run)\n"
"  -h, --help                 this help\n";

/*
 * A child that is not mounted yet gets its overlay for the run as a
 * detached mount, attached in the container's namespace only (below); in
 * user-namespace mode, or where the kernel cannot make one, in a mount
 * namespace of our own (a slave of the host's: the user's mounts still show
 * through, ours never reach the host), which the container's namespace is
 * then copied from.  When run (or start's monitor) and the container end,
 * however they end — kill -9 included — the kernel drops the namespaces and
 * the overlay with them: nothing is left mounted in the host, and no next
 * run can find a stale mount (a lingering overlay is held by a process,
 * never mounted anywhere: store/linger.c).  A child the user mounted
 * (layerctl mount) is visible here as it is, is used as it is and stays
 * mounted.
 */
static int private_mount_namespace(void)
{
	if (unshare(CLONE_NEWNS) < 0)
		return -errno;
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return -errno;
	return 0;
}

/* The overlay a run made or borrowed, and what must become of it afterwards. */
struct run_overlay {
	bool mounted_here;   /* made (or borrowed) for this run: it goes again afterwards */
	int keep;            /* detached: the unattached original the container's clone came from
	                        (kept for the next run, store/linger.c), or -1 */
	int borrowed;        /* a lingerer's original, until used, or -1 */
	int conn;            /* to that lingerer, kept until the run is over, or -1 */
};

/*
 * How long the overlay of a run stays for the next run of the same child
 * (store/linger.c): LAYERCTL_RUN_LINGER seconds, 2 unless set; 0 never
 * (and a run with 0 asks a lingering overlay to go).  -1: not a number of
 * seconds (said).
 */
static int linger_ms(void)
{
	const char *v = getenv("LAYERCTL_RUN_LINGER");
	if (!v || !*v)
		return 2000;
	char *end;
	double sec = strtod(v, &end);
	if (*end || end == v || !(sec >= 0 && sec <= 3600))
		return log_fail(-1, "run: LAYERCTL_RUN_LINGER=%s: not a number of seconds (0-3600)", v);
	return (int)(sec * 1000);
}

/*
 * An overlay may outlast its run only where nothing but layerctl mounts
 * it: not for a child enabled for automount (systemd would mount a second
 * one on the same upper), nor for one whose upper is stored shifted.
 */
static bool may_linger(const struct child_info *ci, const struct run_config *c)
{
	struct uid_range shift;
	return c->private_users == PRIVATE_USERS_NO && settings_get_bool(ci->conf, "Child", "Automount", false) <= 0 &&
	       store_child_upper_shift(ci, &shift) == 0 && shift.count == 0 &&
	       !settings_get(ci->conf, "Child", "UpperShiftTo");
}

/*
 * A borrowed overlay this run cannot use (other options) goes before
 * anything touches the upper: the lingerer is asked to quit and waited for
 * (it syncs and releases the image), and the lock we share is then ours.
 */
static void drop_borrowed(struct run_overlay *ov)
{
	if (ov->conn < 0)
		return;
	if (ov->borrowed >= 0)
		close(ov->borrowed);
	ov->borrowed = -1;
	store_linger_end(ov->conn, true);
	ov->conn = -1;
}

/*
 * The overlay of a child not mounted, as a detached mount the container
 * attaches in its own namespace (runner.h, root_detached): no private
 * namespace of ours to make and copy, no libmount, and nothing to unmount
 * afterwards — the last descriptor of it closed is the unmount.  The
 * container gets a clone; the original stays unattached (ov->keep), since
 * a mount once attached in a namespace that died cannot be attached again,
 * while its clone source can be cloned again: for a container that
 * reboots, and for the next run (lingering).  From here the image is
 * reached through the descriptor.  Returns 1 done, 0 when the caller must
 * mount the old way (a kernel or path fsconfig cannot take, or a kernel
 * that cannot clone a detached mount), -errno with e set.
 */
static int mount_detached(struct ctx *ctx, const struct child_info *ci, struct run_config *c, struct run_overlay *ov,
			  struct lc_err *e)
{
	int keep = ov->borrowed >= 0 ? TAKE_FD(ov->borrowed) : store_child_mount_detached(&ctx->store, ci, e);
	if (keep == -EOPNOTSUPP)
		return 0;
	if (keep < 0)
		return keep;
	int fd = open_tree(keep, "", OPEN_TREE_CLONE | AT_EMPTY_PATH | OPEN_TREE_CLOEXEC);
	if (fd < 0) {
		close(keep);
		if (ov->conn < 0)
			return 0;
		/* A lingerer's original must never be attached itself: give it back, make our own. */
		drop_borrowed(ov);
		return mount_detached(ctx, ci, c, ov, e);
	}
	char *view = NULL;
	if (asprintf(&view, "/proc/self/fd/%d", fd) < 0) {
		close(fd);
		close(keep);
		return -ENOMEM;
	}
	c->root_attach = c->root;
	c->root = view;
	c->root_mnt_fd = fd;
	c->root_detached = true;
	ov->keep = keep;
	return 1;
}

/* A rebooting container needs a fresh clone: the last one died attached in its namespace. */
static int clone_root_again(struct run_config *c, const struct run_overlay *ov)
{
	if (!c->root_detached)
		return 0;
	close(c->root_mnt_fd);
	c->root_mnt_fd = open_tree(ov->keep, "", OPEN_TREE_CLONE | AT_EMPTY_PATH | OPEN_TREE_CLOEXEC);
	if (c->root_mnt_fd < 0)
		return -errno;
	free(c->root);
	if (asprintf(&c->root, "/proc/self/fd/%d", c->root_mnt_fd) < 0) {
		c->root = NULL;
		return -ENOMEM;
	}
	return 0;
}

/*
 * Gone with the last reference: the container's namespace has died with its
 * PID 1, so closing the last descriptor unmounts the overlay (the kernel
 * syncs the upper file system then, before close returns: cleanup_mnt runs
 * as task work).  An image lower stays mounted on the host for the next
 * run (lock_load_mount).
 */
static void close_detached_overlay(struct run_config *c, struct run_overlay *ov)
{
	if (c->root_mnt_fd >= 0)
		close(c->root_mnt_fd);
	c->root_mnt_fd = -1;
	if (ov->keep >= 0)
		close(ov->keep);
	ov->keep = -1;
}

/* The overlay run mounted (or made detached) goes again; caller holds the child lock or never let it go. */
static void release_overlay(struct ctx *ctx, const struct child_info *ci, struct run_config *c, struct run_overlay *ov)
{
	if (c->root_detached)
		close_detached_overlay(c, ov);
	else
		store_child_umount(&ctx->store, ci, NULL);
}

static int take_run_lock(struct ctx *ctx, const char *cmd, const char *name)
{
	int fd = runner_state_lock(ctx->store.runtime, name);
	if (fd == -EBUSY)
		return log_fail(-1, "%s %s: the child is already running (a child runs at most once)", cmd, name);
	if (fd < 0)
		return log_fail(-1, "%s %s: runtime dir %s: %s", cmd, name, ctx->store.runtime, strerror(-fd));
	if (run_opts_check_runtime_dir(ctx, cmd, name)) {
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
			   struct child_info *ci, struct run_config *c, bool linger, struct run_overlay *ov, int *runlock)
{
	struct lc_err e = { "" };
	int r;

	if ((r = cli_check_name(cmd, "child", name)) || (r = ctx_store(ctx, false)))
		return r;
	_cleanup_close_ int rlock = take_run_lock(ctx, cmd, name);
	if (rlock < 0)
		return EXIT_FAIL;
	/* A lingering overlay of the last run is borrowed with the lock (store/linger.c). */
	_cleanup_close_ int lock = linger ? store_lock_child_or_borrow(&ctx->store, name, &ov->borrowed, &ov->conn)
					  : store_lock(&ctx->store, LOCK_CHILD, name, LOCK_EX);
	if (lock < 0)
		return log_fail(EXIT_FAIL, "%s %s: lock: %s", cmd, name, strerror(-lock));
	r = run_opts_load_child(ctx, cmd, name, ci, c);
	if (!r && o)
		r = run_opts_apply(cmd, c, o, cmdv);
	if (r || !may_linger(ci, c))
		drop_borrowed(ov);
	if (r)
		return r;
	if ((r = run_opts_prepare_userns(ctx, cmd, ci, c)))
		return r;
	/* Whatever is at the root now (a bind mount of /, say) must not be the host's root. */
	if ((r = check_root(cmd, c)) || (r = check_bind_sources(cmd, c)))
		return r;
	r = store_child_is_mounted(&ctx->store, ci);
	if (r != 0)
		drop_borrowed(ov);
	/*
	 * An image lower (base import --keep-image) is mounted on the host and
	 * stays there for the next run: its loop set-up costs more than a run.
	 */
	if (r == 0 && (r = store_gen_image_mount(&ctx->store, ci->base, ci->gen, &e)) < 0)
		return log_fail(EXIT_FAIL, "%s %s: mount the base's image: %s", cmd, name, lc_err_msg(&e, r));
	if (r == 0 && !runner_config_userns(c))
		r = mount_detached(ctx, ci, c, ov, &e);
	if (r == 0 && (r = private_mount_namespace()) < 0)
		return log_fail(EXIT_FAIL, "%s %s: private mount namespace: %s", cmd, name, strerror(-r));
	if (r == 0)
		r = store_child_mount(&ctx->store, ci, &e);
	if (r < 0)
		return log_fail(EXIT_FAIL, "%s %s: mount overlay: %s", cmd, name, lc_err_msg(&e, r));
	ov->mounted_here = r == 0 || c->root_detached;
	if ((r = check_dev_dir(cmd, c))) {
		if (ov->mounted_here)
			release_overlay(ctx, ci, c, ov);
		return r;
	}
	*runlock = TAKE_FD(rlock);
	return 0;
}

static void umount_after_run(struct ctx *ctx, const char *cmd, const struct child_info *ci, struct run_config *c,
			     struct run_overlay *ov)
{
	struct lc_err e = { "" };
	_cleanup_close_ _unused_ int lock = store_lock(&ctx->store, LOCK_CHILD, ci->name, LOCK_EX);   /* held until return */
	if (c->root_detached) {
		close_detached_overlay(c, ov);
		return;
	}
	int r = store_child_umount(&ctx->store, ci, &e);
	if (r < 0)
		log_error("%s %s: unmount overlay: %s", cmd, ci->name, lc_err_msg(&e, r));
}

static void close_fds_except(const int *keep, size_t n);

/*
 * The overlay run mounted in its private namespace, unmounted with one
 * umount2: statmount says it is still this child's overlay (a host mount
 * made on top would have propagated into our slave namespace: then the
 * careful way), and nothing of libmount's is needed — the mount was made
 * without it, in a namespace nobody else sees.  Loading libmount and
 * reading the mount table cost ~1 ms of the time the child lock is held.
 */
static void umount_private_overlay(struct ctx *ctx, const struct child_info *ci)
{
	_cleanup_free_ char *target = store_child_path(&ctx->store, ci->name, "root");
	if (target && store_child_is_mounted(&ctx->store, ci) > 0 && umount2(target, 0) == 0)
		store_gen_image_release(&ctx->store, ci->base, ci->gen, NULL);
	else
		store_child_umount(&ctx->store, ci, NULL);
}

/*
 * run's overlay goes away with its last reference (the detached mount's
 * last descriptor, or the private namespace's umount2), and the kernel
 * syncs the upper file system then (ovl_sync_fs -> sync_filesystem(upper):
 * a journal commit and a disk flush, 3-9 ms here, more on a busy disk) —
 * time the caller need not wait for: the command's status is known.  A
 * background process takes over the overlay and the child lock, lends both
 * to the runs that follow for a while (store/linger.c), lets the overlay go
 * (the sync happens there), and only then lets the lock go; run returns at
 * once.  A run that borrowed from a lingerer still there only hangs up.
 * Every command that touches the child's overlay or
 * upper dir for writing (run, start, mount, umount, child rm/reset, refresh)
 * takes the child lock first, so it waits until the old overlay is gone:
 * never two overlays on one upper dir (with index=off the kernel would only
 * warn).  The run lock is not kept: the child is no longer running.
 * Durability is what a pre-mounted child's run gives: the page cache holds
 * the data until the kernel writes it, and a following command sees it.
 */
static void umount_in_background(struct ctx *ctx, const char *cmd, const struct child_info *ci, struct run_config *c,
				 struct run_overlay *ov, unsigned linger_for, int *runlock)
{
	/* A lingerer still there keeps lock and original for the next run: we only hang up. */
	if (ov->conn >= 0) {
		bool alive = store_linger_alive(ov->conn);
		if (alive && c->root_detached) {
			close(c->root_mnt_fd);
			close(ov->keep);
			c->root_mnt_fd = ov->keep = -1;
		}
		store_linger_end(ov->conn, false);
		ov->conn = -1;
		if (alive)
			return;
		/* It was asked to go during the run: ours to tear down (or linger) as if we had mounted it. */
	}
	/*
	 * The run lock first: a copy of it in the new process (an OFD lock lives
	 * as long as any descriptor of it) would make a run right after this one
	 * fail with "already running".
	 */
	close(*runlock);
	*runlock = -1;
	int lock = store_lock(&ctx->store, LOCK_CHILD, ci->name, LOCK_EX);
	/*
	 * A detached overlay goes with its last descriptor, which must be the
	 * background process's: it waits until ours are closed (the gate's
	 * write end closes after them), or the sync would be ours again.  With
	 * a kept original, the container's clone is closed here at once.
	 */
	int gate[2] = { -1, -1 };
	if (lock < 0 || (c->root_detached && pipe2(gate, O_CLOEXEC) < 0)) {
		if (lock >= 0)
			close(lock);
		umount_after_run(ctx, cmd, ci, c, ov);   /* says why, as before */
		return;
	}
	int mnt = -1, sock = -1;
	if (c->root_detached) {
		mnt = ov->keep >= 0 ? ov->keep : c->root_mnt_fd;
		if (ov->keep >= 0) {
			close(c->root_mnt_fd);
			c->root_mnt_fd = -1;
		}
		/* The next run of this child may take the overlay over (store/linger.c). */
		if (linger_for && ov->keep >= 0)
			sock = store_linger_listen(&ctx->store, ci->name);
	}
	/* Blocked before fork: no ^C between fork and setsid may end it while it holds the lock. */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		/* Nothing of the caller's: out=$(layerctl run ...) ends with run, not with the sync. */
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		for (int fd = 0; fd <= 2 && null >= 0; fd++)
			dup2(null, fd);
		close_fds_except((int[]){ lock, ctx->store.root_fd, gate[0], mnt, sock }, 5);
		if (chdir("/") < 0) {
			/* keep the old cwd */
		}
		char byte;
		while (gate[0] >= 0 && read(gate[0], &byte, 1) < 0 && errno == EINTR)
			;
		/* Lent to the runs that follow, until none came for a while or someone asked for the child. */
		if (sock >= 0) {
			/* ps shows this, not the run that ended (its argv strings stay, unused). */
			char title[128];
			snprintf(title, sizeof(title), "layerctl: overlay of %s kept for the next run", ci->name);
			lc_set_cmdline(title);
			store_linger_serve(sock, lock, mnt, linger_for);
			store_linger_unlisten(&ctx->store, ci->name);
		}
		test_hook("run-teardown-before-umount");
		if (c->root_detached)
			close(mnt);
		else
			umount_private_overlay(ctx, ci);
		_exit(0);   /* the lock goes with it, after the overlay */
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(lock);
	if (sock >= 0)
		close(sock);
	if (pid < 0) {
		close(gate[0]);
		close(gate[1]);
		umount_after_run(ctx, cmd, ci, c, ov);
		return;
	}
	if (c->root_detached) {
		close(mnt);
		c->root_mnt_fd = ov->keep = -1;
		close(gate[1]);
		close(gate[0]);
	}
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
		.private_network = c->private_network, .started = (long long)time(NULL), .pidns = runner_pidns_of(ct->pid),
	};
	/* Where its cgroups are and which limits were written (status, set-property): before the state says "up". */
	int r = runner_cgroups_state_write(ctx->store.runtime, c->name, &c->cgroups, c->limits_applied);
	if (r < 0)
		log_warning("%s: runtime state: cgroup: %s", c->name, strerror(-r));
	if ((r = runner_state_write(ctx->store.runtime, c->name, &st)) < 0)
		log_warning("%s: runtime state: %s", c->name, strerror(-r));
}

/*
 * Start the container and run it to its end; the caller holds the run lock.
 * A booted init that asks for a reboot gets a fresh container, as with nspawn.
 */
static int run_container(struct ctx *ctx, const char *cmd, struct run_config *c, const struct run_overlay *ov,
			 int report_fd)
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
			runner_cgroups_state_clear(ctx->store.runtime, c->name);
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
		if ((r = clone_root_again(c, ov)) < 0) {
			log_error("%s %s: the overlay for the next boot: %s", cmd, c->name, strerror(-r));
			status = EXIT_FAIL;
			break;
		}
	}
	runner_state_clear(ctx->store.runtime, c->name);
	runner_cgroups_state_clear(ctx->store.runtime, c->name);
	return status;
}

int cmd_run(struct ctx *ctx, int argc, char **argv)
{
	struct run_opts o = {};
	struct run_config c = { .log_fd = -1 };
	struct child_info ci = {};
	struct run_overlay ov = { .keep = -1, .borrowed = -1, .conn = -1 };
	char **cmdv;
	_cleanup_close_ int lock = -1;
	int r, ret;

	argc = run_opts_split_command(argc, argv, &cmdv);
	if ((r = run_opts_parse("run", argc, argv, &o, false, run_help)))
		return r < 0 ? EXIT_OK : r;
	int linger_for = linger_ms();
	bool linger = linger_for > 0;
	if (linger_for < 0)
		ret = EXIT_FAIL;
	else if (argc - optind != 1)
		ret = usage_error("run", "needs exactly one CHILD (the command goes after --)");
	else if (!(ret = lock_load_mount(ctx, "run", argv[optind], &o, cmdv, &ci, &c, linger, &ov, &lock))) {
		fill_kill_signal(&c);
		if (!(ret = check_root("run", &c)) && !(ret = check_boot("run", &c)))
			ret = run_container(ctx, "run", &c, &ov, -1);
		if (ov.mounted_here)
			umount_in_background(ctx, "run", &ci, &c, &ov, linger ? (unsigned)linger_for : 0, &lock);
	}
	run_opts_done(&o);
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

/* start takes --property, --limits and --help: -1 after printing the help, else 0 or an exit code. */
static int parse_start_args(int argc, char **argv, struct run_opts *o)
{
	static const struct option opts[] = {
		{ "property", required_argument, NULL, 'p' }, { "limits", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' }, {}
	};
	int ch, r;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(start_help, stdout);
			return -1;
		}
		if (ch != 'p' && ch != 'l')
			return option_error("start", argc, argv, "h");
		if ((r = run_opts_parse_limit_opt("start", ch == 'p', optarg, o)))
			return r;
	}
	return check_arg_count("start", argc, argv, 1, 1, "needs exactly one CHILD");
}

/* The container's console goes to RUNTIME/children/NAME/log (*logpath, for the user). */
static int open_console_log(struct ctx *ctx, struct run_config *c, char **logpath)
{
	_cleanup_free_ char *dir = runner_state_dir(ctx->store.runtime, c->name);
	if (!dir || asprintf(logpath, "%s/log", dir) < 0)
		return log_fail(EXIT_FAIL, "out of memory");
	c->log_fd = open(*logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
	if (c->log_fd < 0)
		return log_fail(EXIT_FAIL, "start %s: %s: %m", c->name, *logpath);
	return 0;
}

/*
 * The monitor, a daemon: its own session, stdio to /dev/null and the log,
 * pinning no directory, and holding no descriptor of the caller's
 * (out=$(layerctl start c 3>&1) would otherwise wait for the container's
 * end), only the run lock, the log, the report pipe and the store.  It runs
 * the container to its end and exits with its status.
 */
static _Noreturn void run_monitor(struct ctx *ctx, struct run_config *c, const struct child_info *ci,
				  struct run_overlay *ov, int report_fd, int lock)
{
	setsid();
	if (chdir("/") < 0) {
		/* keep the old cwd */
	}
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null >= 0)
		dup2(null, STDIN_FILENO);
	dup2(c->log_fd, STDOUT_FILENO);
	dup2(c->log_fd, STDERR_FILENO);
	close_fds_except((int[]){ report_fd, c->log_fd, lock, ctx->store.root_fd, c->root_detached ? c->root_mnt_fd : -1,
			   ov->keep }, 6);
	/* Nor the caller's signal state (a shell's `&` ignores SIGINT, say), which the init would inherit. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < _NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	int r = run_container(ctx, "start", c, ov, report_fd);
	if (ov->mounted_here)
		umount_after_run(ctx, "start", ci, c, ov);
	fprintf(stderr, "layerctl: %s: container ended with status %d\n", c->name, r);
	_exit(r);
}

/* The monitor's report pipe closes empty once the init was exec'd, or says why it was not. */
static int wait_for_monitor(int report_fd, pid_t pid, const char *name, const char *logpath)
{
	char msg[700];
	ssize_t n, len = 0;
	while ((n = read(report_fd, msg + len, sizeof(msg) - 1 - len)) > 0)
		len += n;
	close(report_fd);
	if (len > 0) {
		msg[len] = '\0';
		waitpid(pid, NULL, 0);
		return log_fail(EXIT_FAIL, "start %s: %s", name, msg);
	}
	log_info("Started %s (console log: %s).", name, logpath);
	return EXIT_OK;
}

/*
 * start: fork a monitor that owns the container (and the run lock), its
 * console going to RUNTIME/children/NAME/log; wait until the monitor says
 * the init was exec'd (its report pipe closes empty) or why it was not.
 */
int cmd_start(struct ctx *ctx, int argc, char **argv)
{
	struct run_config c = { .log_fd = -1 };
	struct child_info ci = {};
	struct run_overlay ov = { .keep = -1, .borrowed = -1, .conn = -1 };
	_cleanup_free_ char *logpath = NULL;
	int lock = -1, report[2] = { -1, -1 };
	int ret;

	/* start boots: the same rules as run --boot (User= refused, …), checked before anything is mounted. */
	struct run_opts o = { .boot = true };
	if ((ret = parse_start_args(argc, argv, &o))) {
		run_opts_done(&o);
		return ret < 0 ? EXIT_OK : ret;
	}
	if ((ret = lock_load_mount(ctx, "start", argv[optind], &o, NULL, &ci, &c, false, &ov, &lock)))
		goto out;
	c.boot = true;
	c.console = CONSOLE_LOG;
	if ((ret = open_console_log(ctx, &c, &logpath)))
		goto fail;
	fill_kill_signal(&c);
	if ((ret = check_root("start", &c)) || (ret = check_boot("start", &c)))
		goto fail;
	int gate[2] = { -1, -1 };
	if (c.root_detached && pipe2(gate, O_CLOEXEC) < 0) {
		ret = log_fail(EXIT_FAIL, "start %s: pipe: %m", c.name);
		goto fail;
	}
	if (pipe2(report, O_CLOEXEC) < 0) {
		ret = log_fail(EXIT_FAIL, "start %s: pipe: %m", c.name);
		if (gate[0] >= 0) {
			close(gate[0]);
			close(gate[1]);
		}
		goto fail;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		ret = log_fail(EXIT_FAIL, "start %s: fork: %m", c.name);
		close(report[0]);
		close(report[1]);
		if (gate[0] >= 0) {
			close(gate[0]);
			close(gate[1]);
		}
		goto fail;
	}
	if (pid == 0) {
		close(report[0]);
		/*
		 * The overlay's last descriptors must be ours, or its sync would
		 * happen outside the lock: on once the caller has closed its own.
		 */
		if (gate[0] >= 0) {
			char byte;
			close(gate[1]);
			while (read(gate[0], &byte, 1) < 0 && errno == EINTR)
				;
			close(gate[0]);
		}
		run_monitor(ctx, &c, &ci, &ov, report[1], lock);
	}
	close(report[1]);
	close(lock);   /* the monitor holds it now */
	if (c.root_detached) {
		/* And the overlay: the monitor waits for the gate, closed after these. */
		close(c.root_mnt_fd);
		close(ov.keep);
		close(gate[1]);
		close(gate[0]);
	}
	ret = wait_for_monitor(report[0], pid, c.name, logpath);
	goto out;
fail:
	close(lock);
	if (ov.mounted_here)
		umount_after_run(ctx, "start", &ci, &c, &ov);
out:
	run_opts_done(&o);
	runner_config_done(&c);
	child_info_done(&ci);
	return ret;
}
