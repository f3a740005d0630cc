/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * User-namespace mode (PrivateUsers=, docs/runner.md "User namespaces").
 *
 * The container's first process is cloned with CLONE_NEWUSER next to the
 * other namespaces, so they all belong to its user namespace: root inside
 * holds its capabilities there only.  The parent, privileged outside,
 * writes the maps 0..COUNT-1 -> BASE..BASE+COUNT-1 (setgroups stays
 * allowed, as with nspawn) and chowns the container's cgroups to BASE so a
 * booted systemd can manage them; only then does the container go on (it
 * waits on a pipe).  It keeps the host's UID 0 (unmapped inside, no
 * capability outside) until pivot_root: as the owner of the store's
 * directories it can still reach the overlay and the bind sources.  Right
 * after pivot_root it becomes UID 0 of its namespace and drops the host's
 * supplementary groups.
 *
 * What cannot be done from inside a user namespace is prepared before
 * pivot_root while the host is still visible: device nodes are bind mounts
 * of the host's (mknod needs CAP_MKNOD in the initial namespace), /proc is
 * a new instance made by fsmount (the kernel allows it only while a fully
 * visible /proc exists in the mount namespace), /sys a read-only recursive
 * clone of the host's (a fresh sysfs needs a network namespace of our own;
 * with --private-network it is fresh).
 */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <grp.h>
#include <linux/mount.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "overlay/overlay.h"
#include "src/runner/runner.h"
#include "src/store/settings.h"

int runner_private_users_parse(const char *v, enum private_users *mode, uint32_t *base, uint32_t *count)
{
	if (!*v)
		return -EINVAL;
	int b = settings_value_bool(v);
	if (b == 0) {
		*mode = PRIVATE_USERS_NO;
		return 0;
	}
	if (b == 1 || STREQ(v, "pick")) {
		*mode = PRIVATE_USERS_PICK;
		return 0;
	}
	char *end;
	if (!isdigit((unsigned char)v[0]))
		return -EINVAL;
	errno = 0;
	unsigned long long nb = strtoull(v, &end, 10), nc = 65536;
	if (errno)
		return -EINVAL;
	if (*end == ':') {
		const char *c = end + 1;
		if (!isdigit((unsigned char)*c))
			return -EINVAL;
		nc = strtoull(c, &end, 10);
		if (errno)
			return -EINVAL;
	}
	/* 0 would map root to the host's root; an end past 2^32-1 does not exist. */
	if (*end || nb == 0 || nc == 0 || nb + nc > UINT32_MAX)
		return -EINVAL;
	*mode = PRIVATE_USERS_FIXED;
	*base = (uint32_t)nb;
	*count = (uint32_t)nc;
	return 0;
}

bool runner_config_userns(const struct run_config *c)
{
	return c->private_users != PRIVATE_USERS_NO && c->uid_count > 0;
}

/* cgroup2's delegation (Documentation/admin-guide/cgroup-v2.rst): the directory and these files. */
int runner_cgroups_chown(const struct cgroups *cg, uid_t uid, gid_t gid)
{
	static const char *const files[] = { "", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "tasks" };
	for (size_t i = 0; i < cg->n; i++)
		for (size_t k = 0; k < ELEMENTSOF(files); k++) {
			char p[PATH_MAX];
			snprintf(p, sizeof(p), "%s%s%s", cg->dirs[i], *files[k] ? "/" : "", files[k]);
			if (chown(p, uid, gid) < 0 && (errno != ENOENT || !*files[k]))
				return -errno;
		}
	return 0;
}

int runner_userns_parent_setup(const struct run_config *c, pid_t pid)
{
	int r = ov_write_id_maps(pid, c->uid_base, c->uid_count);
	if (r < 0)
		return r;
	return runner_cgroups_chown(&c->cgroups, c->uid_base, c->uid_base);
}

int runner_userns_wait_for_maps(int syncfd)
{
	char c;
	ssize_t n;
	while ((n = read(syncfd, &c, 1)) < 0 && errno == EINTR)
		;
	close(syncfd);
	return n == 1 ? 0 : -EPERM;   /* EOF: the parent could not write them */
}

/*
 * UID/GID 0 of the namespace, i.e. the range's base outside.  Without it the
 * process keeps the host's root IDs, which are not mapped inside; and the
 * host's supplementary groups would still open group-owned host files.
 */
int runner_userns_become_root(void)
{
	if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		return -errno;
	return 0;
}

/* The pid behind a pidfd, from its fdinfo ("Pid:"). */
static pid_t pid_of_pidfd(int pidfd)
{
	char p[64];
	_cleanup_free_ char *line = NULL;
	size_t len = 0;
	long pid = -1;
	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", pidfd);
	_cleanup_fclose_ FILE *f = fopen(p, "re");
	if (!f)
		return -errno;
	while (pid < 0 && getline(&line, &len, f) > 0)
		if (sscanf(line, "Pid: %ld", &pid) != 1)
			pid = -1;
	return pid > 0 ? (pid_t)pid : -ESRCH;
}

int runner_userns_of_pidfd_is_other(int pidfd)
{
	char p[64];
	struct stat a, b;
	pid_t pid = pid_of_pidfd(pidfd);
	if (pid < 0)
		return pid;
	snprintf(p, sizeof(p), "/proc/%d/ns/user", (int)pid);
	if (stat("/proc/self/ns/user", &a) < 0 || stat(p, &b) < 0)
		return -errno;
	return a.st_ino != b.st_ino || a.st_dev != b.st_dev;
}

static int fsmount_new(const char *type, unsigned attrs)
{
	_cleanup_close_ int fs = fsopen(type, FSOPEN_CLOEXEC);
	if (fs < 0)
		return -errno;
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	int m = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
	return m < 0 ? -errno : m;
}

static int clone_ro(const char *path, bool recursive)
{
	int fd = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
	if (fd < 0)
		return -errno;
	struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC };
	if (mount_setattr(fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof(a)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int runner_userns_open_mounts(const struct run_config *c, const char *const *dev_nodes, size_t n_nodes,
			      struct userns_mounts *m, const char **step)
{
	*m = (struct userns_mounts){ .proc = -1, .sys = -1 };
	for (size_t i = 0; i < ELEMENTSOF(m->dev); i++)
		m->dev[i] = -1;
	if (n_nodes > ELEMENTSOF(m->dev))
		return -E2BIG;
	*step = "user namespace: /dev nodes";
	for (size_t i = 0; i < n_nodes; i++) {
		char p[64];
		snprintf(p, sizeof(p), "/dev/%s", dev_nodes[i]);
		m->dev[i] = open_tree(AT_FDCWD, p, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		if (m->dev[i] < 0)
			return -errno;
	}
	*step = "user namespace: /proc";
	m->proc = fsmount_new("proc", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (m->proc < 0)
		return m->proc;
	*step = "user namespace: /sys";
	m->sys = c->private_network ? fsmount_new("sysfs", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
							   MOUNT_ATTR_NOEXEC) : -EPERM;
	if (m->sys < 0)
		m->sys = clone_ro("/sys", true);
	return m->sys < 0 ? m->sys : 0;
}

void runner_userns_close_mounts(struct userns_mounts *m)
{
	for (size_t i = 0; i < ELEMENTSOF(m->dev); i++)
		if (m->dev[i] >= 0)
			close(m->dev[i]);
	if (m->proc >= 0)
		close(m->proc);
	if (m->sys >= 0)
		close(m->sys);
	*m = (struct userns_mounts){ .proc = -1, .sys = -1, .dev = { -1, -1, -1, -1, -1, -1 } };
}

int runner_move_mount_to(int fd, const char *dst)
{
	return move_mount(fd, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0 ? -errno : 0;
}
