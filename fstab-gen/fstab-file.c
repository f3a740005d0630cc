/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fstab file itself: read once through one descriptor, locked (flock on
 * its directory), and replaced atomically keeping its mode and owner, never
 * when someone else changed it meanwhile.  What goes into it is fstab.c's.
 */
#include <fcntl.h>
#include <libgen.h>
#include "src/basic/mount-dl.h"   /* libmount, loaded on first use */
#include <limits.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "fstab-gen/fstab-gen.h"
#include "fstab-gen/internal.h"
#include "src/basic/fileio.h"
#include "src/basic/testhook.h"

/* ---- Reading, locking and atomically replacing the file ---- */


static bool same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

struct fg_fstab {
	char *path;          /* as given: for messages */
	char *dir, *base;    /* where the file is (symlinks resolved) */
	int dirfd;
	bool exists;
	struct stat st;      /* of the old file, when it exists */
	char *text;
	size_t len;
};

void fg_fstab_close(struct fg_fstab *t)
{
	if (!t)
		return;
	free(t->path);
	free(t->dir);
	free(t->base);
	if (t->dirfd >= 0)
		close(t->dirfd);
	free(t->text);
	free(t);
}

static int split_path(const char *path, struct fg_fstab *t)
{
	char real[PATH_MAX];
	const char *use = path;
	if (realpath(path, real))
		use = real;
	else if (errno != ENOENT)
		return -errno;
	_cleanup_free_ char *a = strdup(use), *b = strdup(use);
	if (!a || !b)
		return -ENOMEM;
	t->dir = strdup(dirname(a));
	t->base = strdup(basename(b));
	if (!t->dir || !t->base)
		return -ENOMEM;
	if (!*t->base || STREQ(t->base, "/") || STREQ(t->base, ".") || STREQ(t->base, ".."))
		return -EISDIR;
	return 0;
}

/* Open, lock and read (once, through one descriptor).  The lock is held through t->dirfd. */
static int open_target(const char *path, bool exclusive, struct fg_fstab *t, struct lc_err *err)
{
	int r = split_path(path, t);
	if (r < 0)
		return lc_err_ret(err, r, "%s: %s", path, strerror(-r));
	t->dirfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dirfd < 0)
		return lc_err_ret(err, -errno, "%s: %m", t->dir);
	while (flock(t->dirfd, exclusive ? LOCK_EX : LOCK_SH) < 0)
		if (errno != EINTR)
			return lc_err_ret(err, -errno, "%s: lock: %m", t->dir);
	_cleanup_close_ int fd = openat(t->dirfd, t->base, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT)
			return lc_err_ret(err, -errno, "%s: %m", path);
		t->text = strdup("");
		return t->text ? 0 : -ENOMEM;
	}
	if (fstat(fd, &t->st) < 0)
		return -errno;
	if (!S_ISREG(t->st.st_mode))
		return lc_err_ret(err, -EINVAL, "%s: not a regular file", path);
	t->exists = true;
	r = lc_read_full(fd, &t->text, &t->len);
	return r < 0 ? lc_err_ret(err, r, "%s: read: %s", path, strerror(-r)) : 0;
}

int fg_fstab_open(const char *path, bool for_write, struct fg_fstab **ret, struct lc_err *err)
{
	struct fg_fstab *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->dirfd = -1;
	int r = (t->path = strdup(path)) ? open_target(path, for_write, t, err) : -ENOMEM;
	if (r < 0) {
		fg_fstab_close(t);
		return r;
	}
	*ret = t;
	return 0;
}

static int write_replacement(struct fg_fstab *t, const char *text, size_t len, const char *what,
			     struct lc_err *err)
{
	_cleanup_free_ char *tmp = NULL;
	struct stat now;
	int r;

	if (asprintf(&tmp, "%s/.%s.layerctl-XXXXXX", t->dir, t->base) < 0)
		return -ENOMEM;
	_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return lc_err_ret(err, -errno, "%s: temporary file: %m", t->dir);
	mode_t mode = t->exists ? t->st.st_mode & 07777 : 0644;
	r = lc_write_all(fd, text, len);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && t->exists && (t->st.st_uid != geteuid() || t->st.st_gid != getegid()) &&
	    fchown(fd, t->st.st_uid, t->st.st_gid) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return lc_err_ret(err, r, "%s: writing %s: %s", what, tmp, strerror(-r));
	}
	r = fg_verify_written(tmp, what, err);
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	/* Someone else (an editor, another tool) changed the file since we read it? */
	bool changed = fstatat(t->dirfd, t->base, &now, AT_SYMLINK_NOFOLLOW) == 0
			       ? !t->exists || !same_file_state(&now, &t->st)
			       : errno != ENOENT || t->exists;
	if (changed) {
		unlink(tmp);
		return lc_err_ret(err, -EAGAIN, "%s: changed by someone else while layerctl was updating it; try again",
				  what);
	}
	if (renameat(t->dirfd, strrchr(tmp, '/') + 1, t->dirfd, t->base) < 0) {
		r = -errno;
		unlink(tmp);
		return lc_err_ret(err, r, "%s: rename: %s", what, strerror(-r));
	}
	if (fsync(t->dirfd) < 0)
		return lc_err_ret(err, -errno, "%s: fsync of %s: %m", what, t->dir);
	return 0;
}

/*
 * Only the text fg_fstab_open() read is merged: the file is not opened or
 * read again (libmount gets a copy of the text), so a file replaced or
 * edited since then cannot be compared in its place; a write then fails in
 * write_replacement()'s check.
 */
int fg_fstab_apply(struct fg_fstab *t, const char *scope, const struct fg_child *children, size_t n,
		   unsigned flags, struct fg_report *rep, struct lc_err *err)
{
	bool dry = flags & FG_SYNC_DRY_RUN;
	_cleanup_free_ char *new_text = NULL;
	size_t new_len = 0;

	int r = fg_fstab_merge(t->text, t->len, t->path, scope, children, n, &new_text, &new_len, rep, err);
	if (r < 0)
		return r;
	test_hook("fstab-before-write");
	rep->created = !t->exists && rep->n_changes > 0;
	if (!dry && rep->n_changes > 0 && (r = write_replacement(t, new_text, new_len, t->path, err)) < 0)
		fg_report_done(rep);
	return r;
}

int fg_fstab_sync(const char *path, const char *scope, const struct fg_child *children, size_t n,
		  unsigned flags, struct fg_report *rep, struct lc_err *err)
{
	struct fg_fstab *t = NULL;

	memset(rep, 0, sizeof(*rep));
	int r = fg_fstab_open(path, !(flags & FG_SYNC_DRY_RUN), &t, err);
	if (r < 0)
		return r;
	r = fg_fstab_apply(t, scope, children, n, flags, rep, err);
	fg_fstab_close(t);
	return r;
}
