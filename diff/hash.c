/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Content and xattr digests: XXH3-128 through libxxhash's streaming API, with
 * one read buffer and one state reused for every file of a walk (no malloc
 * per file).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <xxhash.h>

#include "diff/diff.h"
#include "diff/internal.h"
#include "src/basic/idshift.h"

/* 64 KiB: the buffer stays in L2 between read() and hashing (256 KiB was 25% slower). */
#define HASH_BUF_SIZE (65536)

struct diff_hasher {
	XXH3_state_t *state;
	void *fast;           /* AVX2 build of the same hash, when the CPU has it */
	XXH3_state_t *xstate; /* xattr digests, so a caller's content hash is not disturbed */
	char *buf;
	char *xnames;      /* listxattr buffer, grown on demand */
	size_t xnames_size;
	char *xvalue;
	size_t xvalue_size;
	uint32_t unshift_base, unshift_count; /* ACL IDs of a shifted upper (diff_hasher_set_unshift) */
};

void diff_hasher_set_unshift(struct diff_hasher *h, uint32_t base, uint32_t count)
{
	h->unshift_base = base;
	h->unshift_count = count;
}

int diff_hasher_new(struct diff_hasher **ret)
{
	struct diff_hasher *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->state = XXH3_createState();
	h->xstate = XXH3_createState();
	if (diff_xxh_avx2_available() && !(h->fast = diff_xxh_avx2_new())) {
		diff_hasher_free(h);
		return -ENOMEM;
	}
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
	if (h->fast)
		diff_xxh_avx2_free(h->fast);
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

void diff_hash_begin(struct diff_hasher *h)
{
	if (h->fast)
		diff_xxh_avx2_reset(h->fast);
	else
		XXH3_128bits_reset(h->state);
}

void diff_hash_update(struct diff_hasher *h, const void *data, size_t len)
{
	if (h->fast)
		diff_xxh_avx2_update(h->fast, data, len);
	else
		XXH3_128bits_update(h->state, data, len);
}

void diff_hash_end(struct diff_hasher *h, uint8_t out[DIFF_HASH_SIZE])
{
	if (h->fast)
		diff_xxh_avx2_digest(h->fast, out);
	else
		canonical(XXH3_128bits_digest(h->state), out);
}

int diff_hash_fd(struct diff_hasher *h, int fd, uint8_t out[DIFF_HASH_SIZE], uint64_t *ret_bytes)
{
	uint64_t total = 0;
	diff_hash_begin(h);
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
		diff_hash_update(h, h->buf, (size_t)n);
		total += (uint64_t)n;
	}
	diff_hash_end(h, out);
	if (ret_bytes)
		*ret_bytes = total;
	return 0;
}

void diff_hash_buffer(struct diff_hasher *h, const void *data, size_t len, uint8_t out[DIFF_HASH_SIZE])
{
	diff_hash_begin(h);
	diff_hash_update(h, data, len);
	diff_hash_end(h, out);
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Linux 6.13 added *xattrat() system calls, which take a dirfd and a name
 * like every other *at() call.  Older kernels (and libcs without the
 * numbers) fall back to /proc/self/fd/DIRFD/NAME with the l*xattr() calls;
 * that costs a walk through procfs per call, which dominates a drift walk.
 */
#ifndef SYS_getxattrat
#define SYS_getxattrat 464
#endif
#ifndef SYS_listxattrat
#define SYS_listxattrat 465
#endif

struct xattr_args_compat {
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

static int have_xattrat = -1; /* unknown, 0 no, 1 yes */

/*
 * Did an *xattrat() call fail because the call itself is missing?  ENOSYS
 * on old kernels; EPERM where a seccomp filter (container runtimes' default
 * profiles) rejects system calls it does not know.  The xattr calls
 * themselves do not fail with EPERM, so the fallback then reports any real
 * error.
 */
static bool xattrat_missing(void)
{
	return errno == ENOSYS || errno == EPERM;
}

/* Where an xattr call goes: dirfd + name with the *at calls, or a /proc path. */
struct xtarget {
	int dirfd;
	const char *name;
	char proc[NAME_MAX_PROC];
};

static int xtarget_init(struct xtarget *t, int dirfd, const char *name)
{
	t->dirfd = dirfd;
	t->name = name;
	int n = snprintf(t->proc, sizeof(t->proc), "/proc/self/fd/%d/%s", dirfd, name);
	return n < 0 || (size_t)n >= sizeof(t->proc) ? -ENAMETOOLONG : 0;
}

static ssize_t x_list(const struct xtarget *t, char *buf, size_t size)
{
	if (have_xattrat != 0) {
		long n = syscall(SYS_listxattrat, t->dirfd, t->name, AT_SYMLINK_NOFOLLOW, buf, size);
		if (n >= 0 || !xattrat_missing()) {
			have_xattrat = 1;
			return n;
		}
		have_xattrat = 0;
	}
	return llistxattr(t->proc, buf, size);
}

static ssize_t x_get(const struct xtarget *t, const char *key, char *buf, size_t size)
{
	if (have_xattrat != 0) {
		struct xattr_args_compat args = { .value = (uint64_t)(uintptr_t)buf, .size = (uint32_t)size };
		long n = syscall(SYS_getxattrat, t->dirfd, t->name, AT_SYMLINK_NOFOLLOW, key, &args, sizeof(args));
		if (n >= 0 || !xattrat_missing()) {
			have_xattrat = 1;
			return n;
		}
		have_xattrat = 0;
	}
	return lgetxattr(t->proc, key, buf, size);
}

static ssize_t list_names(struct diff_hasher *h, const struct xtarget *t)
{
	for (;;) {
		ssize_t n = x_list(t, h->xnames, h->xnames_size);
		if (n >= 0)
			return n;
		if (errno == ENOTSUP || errno == EOPNOTSUPP)
			return 0;
		if (errno != ERANGE)
			return -errno;
		ssize_t need = x_list(t, NULL, 0);
		if (need < 0)
			return -errno;
		char *nb = realloc(h->xnames, (size_t)need + 1);
		if (!nb)
			return -ENOMEM;
		h->xnames = nb;
		h->xnames_size = (size_t)need + 1;
	}
}

static ssize_t get_value(struct diff_hasher *h, const struct xtarget *t, const char *name)
{
	for (;;) {
		ssize_t n = x_get(t, name, h->xvalue, h->xvalue_size);
		if (n >= 0)
			return n;
		if (errno != ERANGE)
			return -errno;
		ssize_t need = x_get(t, name, NULL, 0);
		if (need < 0)
			return -errno;
		char *nb = realloc(h->xvalue, (size_t)need + 1);
		if (!nb)
			return -ENOMEM;
		h->xvalue = nb;
		h->xvalue_size = (size_t)need + 1;
	}
}

/*
 * Overlay xattrs that change what an upper entry means.  origin, impure,
 * nlink, uuid and the like are bookkeeping a copy-up always leaves behind:
 * they must not send every copied-up file down the slow decoding path.
 */
static bool meaningful_private(const char *name)
{
	const char *suffix = strncmp(name, "trusted.overlay.", 16) == 0 ? name + 16 :
			     strncmp(name, "user.overlay.", 13) == 0	  ? name + 13 :
									    NULL;
	return suffix && (STREQ(suffix, "opaque") || STREQ(suffix, "redirect") || STREQ(suffix, "metacopy") ||
			  STREQ(suffix, "whiteout"));
}

int diff_xattr_digest(struct diff_hasher *h, int dirfd, const char *name, uint8_t out[DIFF_HASH_SIZE],
		      bool *ret_private)
{
	struct xtarget t;
	const char *sorted_stack[32];
	const char **sorted = sorted_stack;
	_cleanup_free_ const char **sorted_heap = NULL;
	size_t count = 0, used = 0;
	bool private = false;
	int r;

	memset(out, 0, DIFF_HASH_SIZE);
	if ((r = xtarget_init(&t, dirfd, name)) < 0)
		return r;
	ssize_t len = list_names(h, &t);
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
			private |= meaningful_private(x);
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
		ssize_t vlen = get_value(h, &t, sorted[i]);
		if (vlen == -ENODATA)
			continue; /* removed meanwhile */
		if (vlen < 0)
			return (int)vlen;
		uint64_t l = (uint64_t)vlen;
		/* An ACL stored shifted names its users as the child sees them. */
		if (h->unshift_count && (STREQ(sorted[i], LC_ACL_ACCESS) || STREQ(sorted[i], LC_ACL_DEFAULT)))
			lc_posix_acl_shift(h->xvalue, (size_t)vlen, h->unshift_base, h->unshift_count, 0);
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
