/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The per-child hash cache: (inode, size, mtime, ctime) -> XXH3-128 of the
 * content, so a second diff or audit reads only files that changed since.
 *
 * File layout: struct hc_header (magic, version, byte order, st_dev of the
 * upper dir, count, XXH3-128 checksum of the whole file with the checksum
 * field zeroed) followed by struct hc_record sorted by inode.
 *
 * The "racy" rule (git's index has the same problem): a file rewritten
 * within the same timestamp tick as the hash was taken keeps its key.  Any
 * write sets ctime to "now", so an entry is stored only when its ctime is
 * older than the start of the walk minus a margin; files changed just
 * before or during the walk are hashed again next time.  File systems with
 * whole-second timestamps (ctime nsec == 0) get a two-second margin.
 */
#include <fcntl.h>
#include <time.h>
#include <xxhash.h>

#include "diff/diff.h"
#include "diff/internal.h"

#define HC_MAGIC "LCHCACHE"
#define HC_VERSION 2
#define HC_ENDIAN 0x01020304u
#define RACY_MARGIN_NS (50 * 1000 * 1000LL)
#define RACY_MARGIN_COARSE_NS (2 * 1000 * 1000 * 1000LL)

struct hc_header {
	char magic[8];
	uint32_t version;
	uint32_t endian;
	uint64_t dev;
	uint64_t count;
	uint8_t checksum[DIFF_HASH_SIZE];
};

struct hc_record {
	uint64_t ino;
	uint64_t size;
	int64_t mtime_sec;
	int64_t ctime_sec;
	uint32_t mtime_nsec;
	uint32_t ctime_nsec;
	uint8_t hash[DIFF_HASH_SIZE];
	uint8_t xattrs[DIFF_HASH_SIZE]; /* every xattr write moves ctime too, so the key covers them */
};

_Static_assert(sizeof(struct hc_header) == 48, "header layout");
_Static_assert(sizeof(struct hc_record) == 72, "record layout");

struct diff_hash_cache {
	dev_t dev;
	int64_t walk_start_ns;
	struct hc_record *old; /* loaded, sorted by inode */
	size_t n_old;
	struct hc_record *cur; /* used by this walk */
	size_t n_cur, alloc_cur;
	size_t hits, stored, added;
};

static void key_from_stat(struct hc_record *r, const struct stat *st)
{
	r->ino = st->st_ino;
	r->size = (uint64_t)st->st_size;
	r->mtime_sec = st->st_mtim.tv_sec;
	r->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	r->ctime_sec = st->st_ctim.tv_sec;
	r->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
}

static bool same_key(const struct hc_record *a, const struct hc_record *b)
{
	return a->ino == b->ino && a->size == b->size && a->mtime_sec == b->mtime_sec &&
	       a->mtime_nsec == b->mtime_nsec && a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec;
}

/* -ENOMEM when the hash state cannot be allocated: never a made-up checksum. */
static int sum(const struct hc_header *h, const struct hc_record *v, size_t n, uint8_t out[DIFF_HASH_SIZE])
{
	static const uint8_t zero[DIFF_HASH_SIZE];
	XXH3_state_t *st = XXH3_createState();
	XXH128_canonical_t c;
	if (!st)
		return -ENOMEM;
	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, h, offsetof(struct hc_header, checksum));
	XXH3_128bits_update(st, zero, sizeof(zero));
	XXH3_128bits_update(st, v, n * sizeof(*v));
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
	XXH3_freeState(st);
	memcpy(out, c.digest, DIFF_HASH_SIZE);
	return 0;
}

/* Read dirfd/name and check it; on any doubt leave c->old empty and say why. */
static const char *load_records(struct diff_hash_cache *c, int dirfd, const char *name)
{
	struct hc_header h;
	struct stat st;
	uint8_t want[DIFF_HASH_SIZE];
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? "missing" : "unreadable";
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return "unreadable";
	if (st.st_size < (off_t)sizeof(h) || pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return "corrupt";
	if (memcmp(h.magic, HC_MAGIC, sizeof(h.magic)) || h.version != HC_VERSION || h.endian != HC_ENDIAN)
		return "corrupt";
	if (h.dev != (uint64_t)c->dev)
		return "stale"; /* another file system: inode numbers mean nothing */
	if (h.count != (uint64_t)(st.st_size - (off_t)sizeof(h)) / sizeof(struct hc_record) ||
	    (uint64_t)st.st_size != sizeof(h) + h.count * sizeof(struct hc_record))
		return "corrupt";
	struct hc_record *v = malloc(h.count ? h.count * sizeof(*v) : 1);
	if (!v)
		return "unreadable";
	size_t len = h.count * sizeof(*v);
	if (pread(fd, v, len, sizeof(h)) != (ssize_t)len) {
		free(v);
		return "corrupt";
	}
	if (sum(&h, v, h.count, want) < 0) {
		free(v);
		return "out of memory"; /* the cache is then ignored, as any cache in doubt */
	}
	for (size_t i = 1; i < h.count; i++)
		if (v[i - 1].ino >= v[i].ino) {
			free(v);
			return "corrupt";
		}
	if (memcmp(want, h.checksum, sizeof(want)) != 0) {
		free(v);
		return "corrupt";
	}
	c->old = v;
	c->n_old = h.count;
	return "loaded";
}

int diff_cache_load(int dirfd, const char *name, dev_t dev, struct diff_hash_cache **ret, const char **ret_status)
{
	struct timespec now;
	struct diff_hash_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->dev = dev;
	clock_gettime(CLOCK_REALTIME, &now);
	c->walk_start_ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
	const char *status = load_records(c, dirfd, name);
	if (ret_status)
		*ret_status = status;
	*ret = c;
	return 0;
}

void diff_cache_free(struct diff_hash_cache *c)
{
	if (!c)
		return;
	free(c->old);
	free(c->cur);
	free(c);
}

static int append(struct diff_hash_cache *c, const struct hc_record *r)
{
	if (c->n_cur == c->alloc_cur) {
		size_t na = c->alloc_cur ? c->alloc_cur * 2 : 256;
		struct hc_record *v = realloc(c->cur, na * sizeof(*v));
		if (!v)
			return -ENOMEM;
		c->cur = v;
		c->alloc_cur = na;
	}
	c->cur[c->n_cur++] = *r;
	return 0;
}

bool diff_cache_lookup(struct diff_hash_cache *c, const struct stat *st, uint8_t out[DIFF_HASH_SIZE],
		       uint8_t out_xattrs[DIFF_HASH_SIZE])
{
	struct hc_record key;
	size_t lo = 0, hi = c->n_old;
	key_from_stat(&key, st);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->old[mid].ino < key.ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= c->n_old || !same_key(&c->old[lo], &key))
		return false;
	memcpy(out, c->old[lo].hash, DIFF_HASH_SIZE);
	memcpy(out_xattrs, c->old[lo].xattrs, DIFF_HASH_SIZE);
	c->hits++;
	(void)append(c, &c->old[lo]); /* keep it for the next save; losing it only costs a re-hash */
	return true;
}

int diff_cache_remember(struct diff_hash_cache *c, const struct stat *st, const uint8_t h[DIFF_HASH_SIZE],
			const uint8_t xattrs[DIFF_HASH_SIZE])
{
	struct hc_record r;
	key_from_stat(&r, st);
	memcpy(r.hash, h, DIFF_HASH_SIZE);
	memcpy(r.xattrs, xattrs, DIFF_HASH_SIZE);
	c->added++;
	return append(c, &r);
}

static int cmp_ino(const void *a, const void *b)
{
	const struct hc_record *x = a, *y = b;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* Old enough that any later write must have moved ctime (see the top of the file). */
static bool settled(const struct diff_hash_cache *c, const struct hc_record *r)
{
	int64_t ctime_ns = r->ctime_sec * 1000000000LL + r->ctime_nsec;
	int64_t margin = r->ctime_nsec == 0 ? RACY_MARGIN_COARSE_NS : RACY_MARGIN_NS;
	return ctime_ns < c->walk_start_ns - margin;
}

int diff_cache_save(struct diff_hash_cache *c, int dirfd, const char *name)
{
	struct hc_header h = {};
	size_t n = 0;

	/* Nothing new and every old entry used again: the file on disk is already right. */
	if (c->added == 0 && c->hits == c->n_old && c->n_cur == c->n_old) {
		c->stored = c->n_old;
		return 0;
	}
	if (c->n_cur)
		qsort(c->cur, c->n_cur, sizeof(*c->cur), cmp_ino);
	/* Keep settled entries, one per inode (hard links share theirs). */
	for (size_t i = 0; i < c->n_cur; i++) {
		if (!settled(c, &c->cur[i]) || (n > 0 && c->cur[n - 1].ino == c->cur[i].ino))
			continue;
		c->cur[n++] = c->cur[i];
	}
	memcpy(h.magic, HC_MAGIC, sizeof(h.magic));
	h.version = HC_VERSION;
	h.endian = HC_ENDIAN;
	h.dev = (uint64_t)c->dev;
	h.count = n;
	if (sum(&h, c->cur, n, h.checksum) < 0)
		return -ENOMEM;
	size_t len = sizeof(h) + n * sizeof(struct hc_record);
	_cleanup_free_ char *buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, &h, sizeof(h));
	if (n)
		memcpy(buf + sizeof(h), c->cur, n * sizeof(struct hc_record));
	c->stored = n;
	/* Not fsync'd: after a crash a torn cache fails its checksum and is rebuilt. */
	return lc_write_atomic(dirfd, name, buf, len, 0600, false);
}

void diff_cache_stats(const struct diff_hash_cache *c, size_t *loaded, size_t *hits, size_t *stored)
{
	if (loaded)
		*loaded = c->n_old;
	if (hits)
		*hits = c->hits;
	if (stored)
		*stored = c->stored;
}
