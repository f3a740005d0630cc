/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An overlay whose lower layer is seen through an idmapped mount, for a
 * child in user-namespace mode (docs/runner.md, "User namespaces").
 *
 * The base generation's tree is shared by every child and must never be
 * chowned.  Instead, open_tree(OPEN_TREE_CLONE) makes a detached copy of
 * its mount, mount_setattr(MOUNT_ATTR_IDMAP) shifts what that copy shows
 * (0..COUNT-1 on disk reads as BASE..BASE+COUNT-1), and the overlay takes
 * that copy as its lower layer (overlayfs accepts idmapped lowers since
 * Linux 5.19).  Copy-up then writes the shifted owners into the upper,
 * which is stored shifted on disk, like everything the container creates.
 *
 * MOUNT_ATTR_IDMAP wants a user namespace holding the mapping; the idmap
 * is copied from it, so a throw-away namespace (a forked child that made
 * one and waits) serves, and the container's own namespace, made later with
 * the same maps, needs not exist yet.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "overlay/overlay.h"
#include "src/basic/fsutil.h"

static int write_file(const char *path, const char *text)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	if (n < 0)
		return -errno;
	return (size_t)n == strlen(text) ? 0 : -EIO;
}

int ov_write_id_maps(pid_t pid, uint32_t base, uint32_t count)
{
	char path[64], map[64];
	int r;
	snprintf(map, sizeof(map), "0 %u %u\n", base, count);
	/*
	 * Written by us, privileged in the parent namespace, so setgroups(2)
	 * stays allowed inside (a booted system needs it) — as nspawn does.
	 */
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	if ((r = write_file(path, map)) < 0)
		return r;
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
	return write_file(path, map);
}

int ov_userns_open(uint32_t base, uint32_t count)
{
	int sync[2];
	if (pipe2(sync, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(sync[0]);
		close(sync[1]);
		return r;
	}
	if (pid == 0) {
		char c;
		/* Never outlive the caller, even stopped. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
			_exit(1);
		close(sync[1]);
		if (unshare(CLONE_NEWUSER) < 0)
			_exit(1);
		/* Stopping tells the parent the namespace exists; then wait to be killed. */
		kill(getpid(), SIGSTOP);
		if (read(sync[0], &c, 1) < 0) {
			/* parent gone */
		}
		_exit(0);
	}
	close(sync[0]);
	int r = 0, fd = -1;
	siginfo_t si = {};
	/* Stopped = it has made its namespace. */
	if (waitid(P_PID, pid, &si, WSTOPPED | WEXITED) < 0)
		r = -errno;
	else if (si.si_code != CLD_STOPPED)
		r = -EPERM;
	if (r == 0)
		r = ov_write_id_maps(pid, base, count);
	if (r == 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			r = -errno;
	}
	kill(pid, SIGKILL);
	close(sync[1]);
	waitpid(pid, NULL, 0);
	return r < 0 ? r : fd;
}

int ov_idmapped_clone(const char *path, uint32_t base, uint32_t count)
{
	_cleanup_close_ int userns = ov_userns_open(base, count);
	if (userns < 0)
		return userns;
	int fd = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct mount_attr a = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns };
	if (mount_setattr(fd, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* The overlay whose one lower is the detached idmapped clone, reached through its descriptor; a mount fd. */
static int make_overlay(int lower_fd, const char *upper, const char *work, struct lc_err *err)
{
	char lower[64];
	snprintf(lower, sizeof(lower), "/proc/self/fd/%d", lower_fd);
	const char *lowers[] = { lower };
	struct ov_layers l = { .lowers = lowers, .n_lowers = 1, .upper = upper, .work = work };
	int m = ov_mount_detached(&l, err);
	if (m == -EOPNOTSUPP)   /* no libmount fallback: an idmapped lower needs the mount API */
		return lc_err_ret(err, m, "overlay with an idmapped lower layer: fsconfig cannot take the store's paths (over 255 bytes, or a ',' before Linux 6.5)");
	return m;
}

int ov_mount_idmapped(const struct ov_layers *l, const char *target, uint32_t base, uint32_t count, struct lc_err *err)
{
	if (l->n_lowers != 1 || !l->upper || !l->work)
		return lc_err_ret(err, -EINVAL, "an idmapped overlay takes one lower, an upper and a work dir");
	_cleanup_close_ int lower = ov_idmapped_clone(l->lowers[0], base, count);
	if (lower < 0)
		return lc_err_ret(err, lower, "idmapped mount of %s: %s", l->lowers[0], strerror(-lower));
	_cleanup_close_ int m = make_overlay(lower, l->upper, l->work, err);
	if (m < 0)
		return m;
	if (move_mount(m, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return lc_err_ret(err, -errno, "move_mount to %s: %s", target, strerror(errno));
	return 0;
}

/*
 * Can this kernel and the file system at dir do it?  A scratch lower,
 * upper and work dir below dir, an idmapped clone of the lower and an
 * overlay made from it (never attached anywhere), all removed again.
 */
int ov_check_idmapped(const char *dir, struct lc_err *err)
{
	char tmpl[PATH_MAX];
	if (snprintf(tmpl, sizeof(tmpl), "%s/.idmap-probe-XXXXXX", dir) >= (int)sizeof(tmpl))
		return -ENAMETOOLONG;
	if (!mkdtemp(tmpl))
		return lc_err_ret(err, -errno, "%s: %s", dir, strerror(errno));
	char l[PATH_MAX + 8], u[PATH_MAX + 8], w[PATH_MAX + 8];
	snprintf(l, sizeof(l), "%s/l", tmpl);
	snprintf(u, sizeof(u), "%s/u", tmpl);
	snprintf(w, sizeof(w), "%s/w", tmpl);
	int r = 0;
	if (mkdir(l, 0755) < 0 || mkdir(u, 0755) < 0 || mkdir(w, 0755) < 0)
		r = lc_err_ret(err, -errno, "%s: %s", tmpl, strerror(errno));
	int lower = r == 0 ? ov_idmapped_clone(l, 0x80000, 65536) : -1;
	if (r == 0 && lower < 0)
		r = lc_err_ret(err, lower, "idmapped mounts: %s", strerror(-lower));
	if (r == 0) {
		int m = make_overlay(lower, u, w, err);
		if (m < 0)
			r = m;
		else
			close(m);
	}
	if (lower >= 0)
		close(lower);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		rm_rf_at(dfd, strrchr(tmpl, '/') + 1);
	return r;
}
