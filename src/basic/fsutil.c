/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* File helpers for atomic state changes: write-then-rename, tree removal. */
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "src/basic/fsutil.h"
#include "src/basic/fileio.h"
#include "src/basic/macro.h"
#include "src/basic/testhook.h"

int fsync_dir_at(int dirfd, const char *name)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fsync(fd) < 0 ? -errno : 0;
}

int atomic_write_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
	return lc_write_atomic(dirfd, name, data, len, mode, true);
}

static int rm_rf_children(int fd, dev_t dev);

/* Remove dirfd/name (not following symlinks, not crossing into other mounts). */
static int rm_entry(int dirfd, const char *name, dev_t dev)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	if (st.st_dev != dev)
		return -EBUSY; /* something is mounted there: never delete through it */
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = rm_rf_children(fd, dev);
	close(fd);
	if (r < 0)
		return r;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int lc_opendirat(int dirfd, const char *name, int flags, DIR **ret)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int r = -errno;
		close(fd);
		return r;
	}
	*ret = d;
	return 0;
}

int lc_opendirat_with_fd(int dirfd, const char *name, int *ret_fd, DIR **ret)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = lc_opendirat(fd, ".", 0, ret);
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

static int rm_rf_children(int fd, dev_t dev)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int r = lc_opendirat(fd, ".", 0, &d);
	if (r < 0)
		return r;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int k = rm_entry(fd, de->d_name, dev);
		if (k < 0 && r == 0)
			r = k;
	}
	return r;
}

int rm_rf_at(int dirfd, const char *name)
{
	struct stat st;
	if (fstatat(dirfd, ".", &st, 0) < 0)
		return -errno;
	return rm_entry(dirfd, name, st.st_dev);
}

void trash_name(const char *leaf, char buf[static TRASH_NAME_MAX])
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(buf, TRASH_NAME_MAX, ".trash-%.64s@%d.%lx", leaf, (int)getpid(), (unsigned long)ts.tv_nsec);
}

int remove_atomically_as(int dirfd, const char *name, const char *trash_leaf)
{
	char trash[PATH_MAX];
	const char *slash = strrchr(name, '/');
	int dir_len = slash ? (int)(slash - name + 1) : 0;

	/* The trash name sits next to the entry: a rename never crosses directories. */
	snprintf(trash, sizeof(trash), "%.*s%s", dir_len, name, trash_leaf);
	if (renameat(dirfd, name, dirfd, trash) < 0)
		return -errno;
	/* From here on the entry is gone for every reader; the rest is cleanup. */
	test_hook("rm-after-trash");
	_cleanup_free_ char *parent = dir_len ? strndup(name, (size_t)dir_len) : strdup(".");
	if (parent)
		fsync_dir_at(dirfd, parent);
	/*
	 * The removal has happened; what is left is garbage collection.  If it
	 * fails (an immutable file, a mount inside) the caller may warn: a later
	 * sweep of ".trash-*" entries retries.
	 */
	return rm_rf_at(dirfd, trash) < 0 ? 1 : 0;
}

int remove_atomically(int dirfd, const char *name)
{
	char leaf[TRASH_NAME_MAX];
	const char *slash = strrchr(name, '/');
	trash_name(slash ? slash + 1 : name, leaf);
	return remove_atomically_as(dirfd, name, leaf);
}

int mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

int lc_open_parent_beneath(int dirfd, const char *path, size_t len, const char **ret_name)
{
	const char *slash = memrchr(path, '/', len);
	if (!slash) {
		*ret_name = path;
		int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
		return fd < 0 ? -errno : fd; /* -1 is not an errno */
	}
	_cleanup_free_ char *parent = strndup(path, (size_t)(slash - path));
	if (!parent)
		return -ENOMEM;
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS,
	};
	*ret_name = slash + 1;
	int fd = (int)syscall(SYS_openat2, dirfd, parent, &how, sizeof(how));
	return fd < 0 ? -errno : fd;
}

int lc_open_nofollow(int dirfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (unsigned)(flags | O_CLOEXEC | O_NOFOLLOW),
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	return fd < 0 ? -errno : fd;
}

int lc_dirents_open(struct lc_dirents *d, int dirfd, const char *name)
{
	d->pos = d->end = 0;
	d->fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return d->fd < 0 ? -errno : 0;
}

int lc_dirents_next(struct lc_dirents *d, const char **ret_name)
{
	for (;;) {
		if (d->pos >= d->end) {
			/* syscall(), as for openat2 and statmount: one page of libc's code fewer at each start. */
			ssize_t n = syscall(SYS_getdents64, d->fd, d->buf, sizeof(d->buf));
			if (n < 0)
				return -errno;
			if (n == 0)
				return 0;
			d->pos = 0;
			d->end = (size_t)n;
		}
		/* The kernel's records: struct dirent64 (d_reclen bytes each, d_name NUL-terminated). */
		const struct dirent64 *de = (const struct dirent64 *)(d->buf + d->pos);
		if (de->d_reclen == 0 || d->pos + de->d_reclen > d->end)
			return -EIO;
		d->pos += de->d_reclen;
		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		*ret_name = de->d_name;
		return 1;
	}
}

void lc_dirents_close(struct lc_dirents *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}
