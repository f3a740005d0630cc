/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Content and xattr digests: XXH3-128 through libxxhash's streaming API, with
 * one read buffer and one state reused for every file of a walk (no malloc
 * per file).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/xattr.h>
#include <xxhash.h>

#include "diff/diff.h"
#include "diff/internal.h"

/* Large reads keep the syscall count low; xxhsum reads 64 KiB at a time. */
#define HASH_BUF_SIZE (256 * 1024)

struct diff_hasher {
	XXH3_state_t *state;
	XXH3_state_t *xstate; /* xattr digests, so a caller's content hash is not disturbed */
	char *buf;
	char *xnames;      /* listxattr buffer, grown on demand */
	size_t xnames_size;
	char *xvalue;
	size_t xvalue_size;
};

int diff_hasher_new(struct diff_hasher **ret)
{
	struct diff_hasher *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->state = XXH3_createState();
	h->xstate = XXH3_createState();
	h->buf = malloc(HASH_BUF_SIZE);
	h->xnames_size = 4096;
	h->xnames = malloc(h->xnames_size);
	h->xvalue_size = 4096;
	h->xvalue = malloc(h->xvalue_size);
	if (!h->state || !h->xstate || !h->buf || !h->xnames || !h->xvalue) {
		diff_hasher_free(h);
		return -ENOMEM;
	}
	*ret = h;
	return 0;
}

void diff_hasher_free(struct diff_hasher *h)
{
	if (!h)
		return;
	if (h->state)
		XXH3_freeState(h->state);
	if (h->xstate)
		XXH3_freeState(h->xstate);
	free(h->buf);
	free(h->xnames);
	free(h->xvalue);
	free(h);
}

static void canonical(XXH128_hash_t v, uint8_t out[DIFF_HASH_SIZE])
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, v);
	memcpy(out, c.digest, DIFF_HASH_SIZE);
}

int diff_hash_fd(struct diff_hasher *h, int fd, uint8_t out[DIFF_HASH_SIZE], uint64_t *ret_bytes)
{
	uint64_t total = 0;
	XXH3_128bits_reset(h->state);
	/* Tell the kernel to read ahead generously: we read every byte once. */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		ssize_t n = read(fd, h->buf, HASH_BUF_SIZE);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		XXH3_128bits_update(h->state, h->buf, (size_t)n);
		total += (uint64_t)n;
	}
	canonical(XXH3_128bits_digest(h->state), out);
	if (ret_bytes)
		*ret_bytes = total;
	return 0;
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* /proc/self/fd/DIRFD/NAME: an *at() path for the l*xattr calls, which have no *at form. */
static int proc_path(char *buf, size_t size, int dirfd, const char *name)
{
	int n = snprintf(buf, size, "/proc/self/fd/%d/%s", dirfd, name);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static ssize_t list_names(struct diff_hasher *h, const char *path)
{
	for (;;) {
		ssize_t n = llistxattr(path, h->xnames, h->xnames_size);
		if (n >= 0)
			return n;
		if (errno == ENOTSUP || errno == EOPNOTSUPP)
			return 0;
		if (errno != ERANGE)
			return -errno;
		ssize_t need = llistxattr(path, NULL, 0);
		if (need < 0)
			return -errno;
		char *nb = realloc(h->xnames, (size_t)need + 1);
		if (!nb)
			return -ENOMEM;
		h->xnames = nb;
		h->xnames_size = (size_t)need + 1;
	}
}

static ssize_t get_value(struct diff_hasher *h, const char *path, const char *name)
{
	for (;;) {
		ssize_t n = lgetxattr(path, name, h->xvalue, h->xvalue_size);
		if (n >= 0)
			return n;
		if (errno != ERANGE)
			return -errno;
		ssize_t need = lgetxattr(path, name, NULL, 0);
		if (need < 0)
			return -errno;
		char *nb = realloc(h->xvalue, (size_t)need + 1);
		if (!nb)
			return -ENOMEM;
		h->xvalue = nb;
		h->xvalue_size = (size_t)need + 1;
	}
}

int diff_xattr_digest(struct diff_hasher *h, int dirfd, const char *name, uint8_t out[DIFF_HASH_SIZE],
		      bool *ret_private)
{
	char path[NAME_MAX_PROC];
	const char *sorted_stack[32];
	const char **sorted = sorted_stack;
	_cleanup_free_ const char **sorted_heap = NULL;
	size_t count = 0, used = 0;
	bool private = false;
	int r;

	memset(out, 0, DIFF_HASH_SIZE);
	if ((r = proc_path(path, sizeof(path), dirfd, name)) < 0)
		return r;
	ssize_t len = list_names(h, path);
	if (len < 0)
		return (int)len;
	if (len == 0)
		goto done;
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(h->xnames + i) + 1)
		count++;
	if (count > ELEMENTSOF(sorted_stack)) {
		sorted_heap = malloc(count * sizeof(*sorted_heap));
		if (!sorted_heap)
			return -ENOMEM;
		sorted = sorted_heap;
	}
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(h->xnames + i) + 1) {
		const char *x = h->xnames + i;
		if (ov_xattr_is_private(x))
			private = true;
		else
			sorted[used++] = x;
	}
	if (used == 0)
		goto done;
	/* The kernel lists in no defined order: sort so equal sets hash equal. */
	qsort(sorted, used, sizeof(*sorted), cmp_cstr);
	/* Each value is read into h->xvalue, so the digest streams through its own state. */
	XXH3_state_t *st = h->xstate;
	XXH3_128bits_reset(st);
	for (size_t i = 0; i < used; i++) {
		ssize_t vlen = get_value(h, path, sorted[i]);
		if (vlen == -ENODATA)
			continue; /* removed meanwhile */
		if (vlen < 0)
			return (int)vlen;
		uint64_t l = (uint64_t)vlen;
		XXH3_128bits_update(st, sorted[i], strlen(sorted[i]) + 1);
		XXH3_128bits_update(st, &l, sizeof(l));
		XXH3_128bits_update(st, h->xvalue, (size_t)vlen);
	}
	canonical(XXH3_128bits_digest(st), out);
	/* A digest of all zeros means "none": nudge the (1 in 2^128) real one. */
	if (diff_hash_is_zero(out))
		out[DIFF_HASH_SIZE - 1] = 1;
done:
	if (ret_private)
		*ret_private = private;
	return 0;
}

void diff_hash_hex(const uint8_t h[DIFF_HASH_SIZE], char out[2 * DIFF_HASH_SIZE + 1])
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < DIFF_HASH_SIZE; i++) {
		out[2 * i] = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	out[2 * DIFF_HASH_SIZE] = '\0';
}

bool diff_hash_is_zero(const uint8_t h[DIFF_HASH_SIZE])
{
	for (size_t i = 0; i < DIFF_HASH_SIZE; i++)
		if (h[i])
			return false;
	return true;
}
