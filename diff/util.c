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
	if (n) /* an empty append to an empty buffer: no pointer to copy to (an empty dir's names) */
		memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

void dbuf_done(struct dbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
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

void diff_entry_unshift(struct diff_entry *e, uint32_t base, uint32_t count)
{
	if (!count)
		return;
	if (e->uid >= base && (uint64_t)e->uid < (uint64_t)base + count)
		e->uid -= base;
	if (e->gid >= base && (uint64_t)e->gid < (uint64_t)base + count)
		e->gid -= base;
}
