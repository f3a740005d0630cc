/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small helpers for diff/: growable buffers, atomic writes. */
#include <fcntl.h>
#include <stdio.h>
#include <time.h>

#include "diff/internal.h"

int dbuf_reserve(struct dbuf *b, size_t extra)
{
	if (b->len + extra <= b->alloc)
		return 0;
	size_t n = b->alloc ? b->alloc : 4096;
	while (n < b->len + extra)
		n *= 2;
	char *p = realloc(b->p, n);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->alloc = n;
	return 0;
}

int dbuf_append(struct dbuf *b, const void *data, size_t n)
{
	int r = dbuf_reserve(b, n);
	if (r < 0)
		return r;
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

void dbuf_done(struct dbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int diff_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode, bool durable)
{
	char tmp[NAME_MAX + 1];
	struct timespec ts;
	int r = 0;

	if (strlen(name) > NAME_MAX - 40)
		return -ENAMETOOLONG;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(tmp, sizeof(tmp), ".#%s.%d.%lx", name, (int)getpid(), (unsigned long)ts.tv_nsec);
	_cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	r = write_all(fd, data, len);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && durable && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	if (!durable)
		return 0;
	return fsync(dirfd) < 0 && errno != EINVAL && errno != EBADF ? -errno : 0;
}

void diff_entry_from_stat(struct diff_entry *e, const struct stat *st)
{
	e->mode = st->st_mode;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->nlink = (uint32_t)st->st_nlink;
	e->size = S_ISREG(st->st_mode) || S_ISLNK(st->st_mode) ? (uint64_t)st->st_size : 0;
	e->mtime_sec = st->st_mtim.tv_sec;
	e->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	e->rdev = S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ? (uint64_t)st->st_rdev : 0;
}
