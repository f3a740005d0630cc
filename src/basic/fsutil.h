/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Generic file and directory helpers (src/basic/fsutil.c): the building
 * blocks of every atomic state change.  Never print; 0 or -errno.
 */
#pragma once

#include <sys/types.h>

/* Write dirfd/name atomically: temp file, fsync, rename, fsync dir. */
int atomic_write_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode);
/* Remove a tree without following symlinks or crossing mounts (-EBUSY on a mount point). */
int rm_rf_at(int dirfd, const char *name);
/*
 * Rename dirfd/name to a hidden ".trash-LEAF@PID.NSEC" beside it, fsync, then
 * remove it.  0 when all is gone; 1 when the entry is gone from view but the
 * trash could not be fully deleted (a later sweep retries); -errno when the
 * rename failed and nothing changed.
 */
int remove_atomically(int dirfd, const char *name);
/* The same, to a trash name the caller made with trash_name() (to record it first: store_inflight_begin()). */
#define TRASH_NAME_MAX 128
void trash_name(const char *leaf, char buf[static TRASH_NAME_MAX]);
int remove_atomically_as(int dirfd, const char *name, const char *trash_leaf);
int fsync_dir_at(int dirfd, const char *name);
/* mkdir -p of an absolute path. */
int mkdir_p(const char *path, mode_t mode);
/*
 * opendir() of dirfd/name ("." for dirfd itself, with its own offset):
 * O_DIRECTORY | O_CLOEXEC plus flags (O_NOFOLLOW…).  0 or -errno.
 */
#include <dirent.h>
int lc_opendirat(int dirfd, const char *name, int flags, DIR **ret);
/* dirfd/name (O_NOFOLLOW) both as a DIR to read and as *ret_fd for its entries' *at() calls.  0 or -errno. */
int lc_opendirat_with_fd(int dirfd, const char *name, int *ret_fd, DIR **ret);
/*
 * The directory holding path (its first len bytes, relative to dirfd),
 * opened O_PATH without following any symlink and never leaving dirfd's
 * tree (openat2 RESOLVE_BENEATH|NO_SYMLINKS|NO_XDEV|NO_MAGICLINKS): a running
 * container may replace a directory of its upper by a symlink to anywhere on
 * the host.  *ret_name points at the last component.  A new fd, or -errno.
 */
int lc_open_parent_beneath(int dirfd, const char *path, size_t len, const char **ret_name);
/*
 * dirfd/path opened with flags (O_CLOEXEC added) without following a symlink
 * at any component (openat2 RESOLVE_NO_SYMLINKS): one system call where a
 * walk with O_NOFOLLOW takes an open and a close per directory.  A new fd or
 * -errno; -ENOSYS on kernels before 5.6 (the caller walks instead).
 */
int lc_open_nofollow(int dirfd, const char *path, int flags);
/*
 * Reading a directory's names with getdents64 directly: opendir() of an
 * fd costs an fstat and two fcntl calls and a 32 KiB buffer, which a
 * command that lists one directory and exits notices (docs/benchmarks.md,
 * "child list").  The names of "." and ".." are skipped.
 *
 *   struct lc_dirents d;
 *   r = lc_dirents_open(&d, dirfd, "children");   0 or -errno
 *   while ((r = lc_dirents_next(&d, &name)) > 0) ...   1, 0 at the end, or -errno
 *   lc_dirents_close(&d);
 */
struct lc_dirents {
	int fd;
	size_t pos, end;
	char buf[4096] __attribute__((aligned(8)));
};
int lc_dirents_open(struct lc_dirents *d, int dirfd, const char *name);
int lc_dirents_next(struct lc_dirents *d, const char **ret_name);
void lc_dirents_close(struct lc_dirents *d);
/* Free a NULL-terminated vector of strings and the strings. */
void strv_free(char **v);
