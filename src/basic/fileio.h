/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Replace dirfd/name atomically with data (src/basic/fileio.c): a reader sees
 * the old or the new content, never a mix.  durable: fsync the file before
 * the rename and the directory after it (crash-safe); without it, only
 * atomic (caches that may be lost).  Returns 0 or -errno.
 */
int lc_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode, bool durable);
/* write(2) until all of data is written (EINTR retried).  0 or -errno. */
int lc_write_all(int fd, const void *data, size_t len);
/* Read fd to its end into a malloc'd, NUL-terminated buffer (*ret_len without the NUL).  0 or -errno. */
int lc_read_full(int fd, char **ret, size_t *ret_len);
/*
 * The same, for a file whose size is known (fstat): a buffer of size_hint + 1
 * bytes first, so a small file costs a small buffer (a 16 KiB one is a heap
 * page or more touched at every start); grows if the file did.
 */
int lc_read_full_sized(int fd, size_t size_hint, char **ret, size_t *ret_len);
