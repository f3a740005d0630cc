/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The container's file system view, built in its fresh mount namespace:
 *
 *   1. every mount becomes a slave (nothing we do propagates to the host);
 *   2. the overlay root loses device nodes (nodev on our copy of its mount:
 *      a device node in the image, or one an attacker makes there, is inert);
 *   3. bind sources are cloned as detached trees (open_tree) while the host
 *      is still visible;
 *   4. pivot_root(".", ".") and a lazy unmount of the old root: after this
 *      no host path is reachable, so every later mount target resolves
 *      inside the container, symlinks included, and cannot land on the host;
 *   5. /dev, /proc (masked), /sys (read-only), /run, /tmp, user tmpfs and
 *      the cloned binds are mounted at their places.
 */
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "src/runner/runner.h"

#define STEP(s) (*step = (s))

const char *runner_root_in_ns(const struct run_config *c)
{
	return c->root_detached ? c->root_attach : c->root;
}

int runner_is_host_root(const char *path)
{
	struct stat a, b;
	if (stat("/", &a) < 0 || stat(path, &b) < 0)
		return -errno;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int mnt(const char *src, const char *target, const char *type, unsigned long flags, const char *data)
{
	return mount(src, target, type, flags, data) < 0 ? -errno : 0;
}

/* /dev and /proc must exist: an image without them gets them (in its upper dir), as with nspawn. */
static int mnt_mkdir(const char *src, const char *target, const char *type, unsigned long flags, const char *data)
{
	int r = mnt(src, target, type, flags, data);
	if (r == -ENOENT && mkdir(target, 0755) == 0)
		r = mnt(src, target, type, flags, data);
	return r;
}

/* mkdir -p inside the (already pivoted) root; existing entries are fine. */
static int mkdir_parents(const char *path, mode_t mode, bool last)
{
	char buf[4096];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || (*p == '\0' && last)) {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return -errno;
			*p = c;
		}
		if (*p == '\0')
			break;
	}
	return 0;
}

/* A bind of path onto itself, then read-only (nosuid, nodev, noexec). */
static int bind_ro_self(const char *path)
{
	int r = mnt(path, path, NULL, MS_BIND | MS_REC, NULL);
	if (r < 0)
		return r;
	return mnt(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

static const struct { const char *name; unsigned maj, min; } dev_nodes[] = {
	{ "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 },
	{ "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
};

/* A node of /dev: made, or in a user namespace (no CAP_MKNOD there) the host's bound onto an empty file. */
static int make_node(const char *path, int idx, const struct userns_mounts *um)
{
	if (!um) {
		dev_t dev = makedev(dev_nodes[idx].maj, dev_nodes[idx].min);
		return mknod(path, S_IFCHR | 0666, dev) < 0 ? -errno : 0;
	}
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
	if (fd < 0)
		return -errno;
	close(fd);
	return runner_move_mount_to(um->dev[idx], path);
}

static int make_dev(const struct userns_mounts *um)
{
	static const struct { const char *name, *target; } links[] = {
		{ "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" },
		{ "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
		{ "ptmx", "pts/ptmx" },
	};
	int r;
	if ((r = mnt_mkdir("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=0755,size=4m")) < 0)
		return r;
	/* umask 0: the modes below are meant literally. */
	mode_t old = umask(0);
	for (size_t i = 0; i < ELEMENTSOF(dev_nodes); i++) {
		char p[32];
		snprintf(p, sizeof(p), "/dev/%s", dev_nodes[i].name);
		if ((r = make_node(p, (int)i, um)) < 0) {
			umask(old);
			return r;
		}
	}
	for (size_t i = 0; i < ELEMENTSOF(links); i++) {
		char p[32];
		snprintf(p, sizeof(p), "/dev/%s", links[i].name);
		if (symlink(links[i].target, p) < 0) {
			umask(old);
			return -errno;
		}
	}
	r = 0;
	if (mkdir("/dev/pts", 0755) < 0 || mkdir("/dev/shm", 01777) < 0 || mkdir("/dev/mqueue", 0755) < 0)
		r = -errno;
	int fd = r == 0 ? open("/dev/console", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600) : -1;
	if (r == 0 && fd < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	umask(old);
	if (r < 0)
		return r;
	/* A private devpts: the container never sees the host's ptys. */
	if ((r = mnt("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		     "newinstance,ptmxmode=0666,mode=620,gid=5")) < 0)
		return r;
	if ((r = mnt("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_STRICTATIME, "mode=1777")) < 0)
		return r;
	return mnt("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

/*
 * /proc like nspawn 252 (nspawn-mount.c, mount_all()), plus more: kernel
 * tunables and hardware directories read-only; files that show kernel
 * memory, addresses or other tenants' activity hidden behind /dev/null.
 * nspawn hides kallsyms, kcore, keys, sysrq-trigger, timer_list; we add
 * the physical page tables (kpage*: which pages are mapped, shared, idle —
 * a side channel on the host's memory), the kernel log, the kernel's
 * vmalloc addresses, scheduler and latency statistics (docker masks most
 * of these too).  Files a kernel lacks are skipped.
 */
static int make_proc(const struct userns_mounts *um)
{
	static const char *const read_only[] = {
		"/proc/sys", "/proc/acpi", "/proc/apm", "/proc/asound",
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/scsi",
	};
	static const char *const hidden[] = {
		"/proc/kallsyms", "/proc/kcore", "/proc/keys", "/proc/sysrq-trigger", "/proc/timer_list",
		"/proc/kpageflags", "/proc/kpagecount", "/proc/kpagecgroup", "/proc/kmsg", "/proc/vmallocinfo",
		"/proc/sched_debug", "/proc/latency_stats", "/proc/timer_stats",
	};
	int r = 0;
	if (um) {
		if ((mkdir("/proc", 0555) < 0 && errno != EEXIST) || (r = runner_move_mount_to(um->proc, "/proc")) < 0)
			return r < 0 ? r : -errno;
	} else if ((r = mnt_mkdir("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) < 0)
		return r;
	/* A path the kernel lacks fails the first mount with ENOENT (no access() probe first: one call less each). */
	for (size_t i = 0; i < ELEMENTSOF(read_only); i++)
		if ((r = bind_ro_self(read_only[i])) < 0 && r != -ENOENT)
			return r;
	for (size_t i = 0; i < ELEMENTSOF(hidden); i++) {
		if ((r = mnt("/dev/null", hidden[i], NULL, MS_BIND, NULL)) == -ENOENT)
			continue;
		if (r < 0 ||
		    (r = mnt(NULL, hidden[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) < 0)
			return r;
	}
	return 0;
}

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int make_tmpfs(const char *dst, const char *opts, mode_t mode)
{
	int r = mkdir_parents(dst, mode, true);
	if (r < 0)
		return r;
	return mnt("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV | MS_STRICTATIME, opts);
}

/* Clone the bind sources into detached trees while the host is still visible. */
static int open_binds(const struct run_config *c, int *fds)
{
	for (size_t i = 0; i < c->n_binds; i++) {
		fds[i] = open_tree(AT_FDCWD, c->binds[i].src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
		if (fds[i] < 0)
			return -errno;
		struct mount_attr a = { .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
						     (c->binds[i].ro ? MOUNT_ATTR_RDONLY : 0) };
		if (mount_setattr(fds[i], "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) < 0)
			return -errno;
	}
	return 0;
}

static int place_bind(int fd, const char *dst)
{
	struct stat st;
	int r;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		r = mkdir_parents(dst, 0755, true);
	else {
		r = mkdir_parents(dst, 0755, false);
		if (r == 0) {
			int f = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
			if (f < 0 && errno != EEXIST && errno != EISDIR)
				r = -errno;
			if (f >= 0)
				close(f);
		}
	}
	if (r < 0)
		return r;
	return move_mount(fd, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0 ? -errno : 0;
}

/* Before anything is mounted: nothing leaks back to the host, and the root is ours and nodev. */
static int prepare_root(const struct run_config *c, const char **step)
{
	int r;

	STEP("make mounts private");
	if ((r = mnt(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL)) < 0)
		return r;
	/* After the above: attached in a shared mount it would propagate to the host. */
	if (c->root_detached) {
		STEP("root: attach the overlay");
		if (move_mount(c->root_mnt_fd, "", AT_FDCWD, c->root_attach, MOVE_MOUNT_F_EMPTY_PATH) < 0)
			return -errno;
		close(c->root_mnt_fd);   /* run holds the mount: its teardown is run's (cmd-run.c) */
	}
	const char *root = runner_root_in_ns(c);
	/*
	 * In a user namespace the overlay's mount came from a more privileged
	 * namespace and is locked, which pivot_root refuses: a bind of it onto
	 * itself is ours.
	 */
	STEP("root: bind");
	if (runner_config_userns(c) && (r = mnt(root, root, NULL, MS_BIND | MS_REC, NULL)) < 0)
		return r;
	STEP("root: nodev");
	struct mount_attr nodev = { .attr_set = MOUNT_ATTR_NODEV };
	if (mount_setattr(AT_FDCWD, root, 0, &nodev, sizeof(nodev)) < 0)
		return -errno;
	return 0;
}

/* The mounts a user namespace cannot make itself, opened while the host is visible (userns.c). */
static int open_userns_mounts(const struct run_config *c, struct userns_mounts *um, const char **step)
{
	const char *names[ELEMENTSOF(dev_nodes)];
	for (size_t i = 0; i < ELEMENTSOF(dev_nodes); i++)
		names[i] = dev_nodes[i].name;
	return runner_userns_open_mounts(c, names, ELEMENTSOF(names), um, step);
}

static int enter_root(const struct run_config *c, const struct userns_mounts *um, const char **step)
{
	STEP("pivot_root");
	if (chdir(runner_root_in_ns(c)) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		return -errno;
	/* The old root now sits on top of the new one: detach it. */
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return -errno;
	/* Nothing of the host is reachable now: become root of the user namespace (userns.c). */
	STEP("user namespace: setuid 0");
	if (um)
		return runner_userns_become_root();
	return 0;
}

static int make_sys(const struct run_config *c, const struct userns_mounts *um, const char **step)
{
	int r;

	if (um)
		r = runner_move_mount_to(um->sys, "/sys");
	else
		r = mnt("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	if (r < 0)
		return r;
	/*
	 * systemd as init needs a writable cgroup2 tree: its own, thanks to
	 * the cgroup namespace.  A user namespace's /sys is a clone of the
	 * host's, host hierarchies included: its own view hides them.
	 */
	if ((c->boot || um) && c->cgroups.v2_path) {
		STEP("/sys/fs/cgroup");
		if ((r = mnt("cgroup2", "/sys/fs/cgroup", "cgroup2",
			     MS_NOSUID | MS_NODEV | MS_NOEXEC | (c->boot ? 0 : MS_RDONLY), NULL)) < 0)
			return r;
	}
	return 0;
}

/* /dev, /proc, /sys, /run, /tmp and the --tmpfs mounts, inside the new root. */
static int make_api_mounts(const struct run_config *c, const struct userns_mounts *um, const char **step)
{
	int r;

	STEP("/dev");
	if ((r = make_dev(um)) < 0)
		return r;
	STEP("/proc");
	if ((r = make_proc(um)) < 0)
		return r;
	STEP("/sys");
	if (is_dir("/sys") && (r = make_sys(c, um, step)) < 0)
		return r;
	STEP("/run");
	if (is_dir("/run") && (r = make_tmpfs("/run", "mode=0755,size=20%", 0755)) < 0)
		return r;
	STEP("/tmp");
	if (is_dir("/tmp") && (r = make_tmpfs("/tmp", "mode=1777", 01777)) < 0)
		return r;
	STEP("tmpfs");
	for (size_t i = 0; i < c->n_tmpfs; i++)
		if ((r = make_tmpfs(c->tmpfs[i].dst, c->tmpfs[i].opts ? c->tmpfs[i].opts : "mode=0755", 0755)) < 0)
			return r;
	return 0;
}

int runner_setup_root(const struct run_config *c, const char **step)
{
	int bind_fds[c->n_binds + 1];
	struct userns_mounts usermounts, *um = NULL;
	int r;

	for (size_t i = 0; i <= c->n_binds; i++)
		bind_fds[i] = -1;

	if ((r = prepare_root(c, step)) < 0)
		return r;
	STEP("bind: open source");
	if ((r = open_binds(c, bind_fds)) < 0)
		goto out;
	if (runner_config_userns(c)) {
		um = &usermounts; /* set first: a half-open set is closed at out */
		if ((r = open_userns_mounts(c, um, step)) < 0)
			goto out;
	}
	if ((r = enter_root(c, um, step)) < 0)
		goto out;
	if ((r = make_api_mounts(c, um, step)) < 0)
		goto out;
	STEP("bind");
	for (size_t i = 0; i < c->n_binds; i++)
		if ((r = place_bind(bind_fds[i], c->binds[i].dst)) < 0)
			goto out;
	r = 0;
out:
	for (size_t i = 0; i < c->n_binds; i++)
		if (bind_fds[i] >= 0)
			close(bind_fds[i]);
	if (um)
		runner_userns_close_mounts(um);
	return r;
}

int runner_bind_console(const char *slave)
{
	return mnt(slave, "/dev/console", NULL, MS_BIND, NULL);
}
