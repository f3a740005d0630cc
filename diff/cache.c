/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The per-child hash cache: (inode, size, mtime, ctime) -> XXH3-128 of the
 * content, so a second diff or audit reads only files that changed since.
 *
 * File layout: struct hc_header (magic, version, byte order, st_dev of the
 * upper dir, counts, XXH3-128 checksum of the whole file with the checksum
 * field zeroed), struct hc_record sorted by inode, struct hc_dir sorted by
 * inode, then the pool of directory name lists.
 *
 * Directories (git's untracked cache has the same idea): a dir whose
 * (inode, mtime, ctime) is unchanged has the same names (creating,
 * removing or renaming an entry moves the dir's mtime and ctime) and the
 * same xattrs (setxattr moves ctime), so its name list and xattr digest
 * come from the cache and the walk neither reads the dir (getdents) nor
 * lists its xattrs.  Every entry of it is still stat'ed: writing to a file
 * changes the file's times, never its dir's.  Only dirs without overlay
 * xattrs that change their meaning (opaque, redirect) are stored, and the
 * racy rule below applies to them as to files.
 *
 * The "racy" rule (git's index has the same problem): a file rewritten
 * within the same timestamp tick as the hash was taken keeps its key.  Any
 * write sets ctime to "now", so an entry is stored only when its ctime is
 * older than the start of the walk minus a margin; files changed just
 * before or during the walk are hashed again next time.  File systems with
 * whole-second timestamps (ctime nsec == 0) get a two-second margin.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <xxhash.h>

#include "diff/diff.h"
#include "diff/internal.h"
#include "src/basic/fileio.h"

#define HC_MAGIC "LCHCACHE"
#define HC_VERSION 3
#define HC_ENDIAN 0x01020304u
#define RACY_MARGIN_NS (50 * 1000 * 1000LL)
#define RACY_MARGIN_COARSE_NS (2 * 1000 * 1000 * 1000LL)

struct hc_header {
	char magic[8];
	uint32_t version;
	uint32_t endian;
	uint64_t dev;
	uint64_t count;      /* file records */
	uint64_t dir_count;  /* dir records */
	uint64_t names_size; /* bytes of the name pool */
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

/* A directory: its key, xattr digest and names (n_names NUL-terminated names at names_off in the pool). */
struct hc_dir {
	uint64_t ino;
	int64_t mtime_sec;
	int64_t ctime_sec;
	uint32_t mtime_nsec;
	uint32_t ctime_nsec;
	uint64_t names_off;
	uint32_t names_len;
	uint32_t n_names;
	uint8_t xattrs[DIFF_HASH_SIZE];
};

_Static_assert(sizeof(struct hc_header) == 64, "header layout");
_Static_assert(sizeof(struct hc_record) == 72, "record layout");
_Static_assert(sizeof(struct hc_dir) == 64, "dir record layout");

struct diff_hash_cache {
	dev_t dev;
	int64_t walk_start_ns;
	void *file; /* the loaded file, mapped: header, records, dirs, pool */
	size_t file_size;
	const struct hc_record *old; /* loaded, sorted by inode (into file) */
	size_t n_old;
	const struct hc_dir *old_dirs; /* loaded, sorted by inode (into file) */
	size_t n_old_dirs;
	const char *old_names;
	uint8_t *used; /* per loaded record, then per loaded dir: used again by this walk */
	size_t n_used, n_dirs_used;
	struct hc_record *cur; /* used by this walk */
	size_t n_cur, alloc_cur;
	struct hc_dir *cur_dirs; /* used by this walk; names_off into cur_names */
	size_t n_cur_dirs, alloc_cur_dirs;
	struct dbuf cur_names;
	size_t hits, stored, added;
	size_t dir_hits, dir_added, dirs_stored;
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
static int sum(const struct hc_header *h, const void *body, size_t body_len, uint8_t out[DIFF_HASH_SIZE])
{
	static const uint8_t zero[DIFF_HASH_SIZE];
	XXH3_state_t *st = XXH3_createState();
	XXH128_canonical_t c;
	if (!st)
		return -ENOMEM;
	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, h, offsetof(struct hc_header, checksum));
	XXH3_128bits_update(st, zero, sizeof(zero));
	XXH3_128bits_update(st, body, body_len);
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
	XXH3_freeState(st);
	memcpy(out, c.digest, DIFF_HASH_SIZE);
	return 0;
}

/* Every dir record's name list lies inside the pool and holds exactly n_names plain names. */
static bool dirs_valid(const struct hc_dir *d, size_t n, const char *pool, size_t pool_size)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && d[i - 1].ino >= d[i].ino)
			return false;
		if (d[i].names_off > pool_size || d[i].names_len > pool_size - d[i].names_off)
			return false;
		const char *p = pool + d[i].names_off, *end = p + d[i].names_len;
		uint32_t count = 0;
		while (p < end) {
			const char *nul = memchr(p, '\0', (size_t)(end - p));
			if (!nul || nul == p || memchr(p, '/', (size_t)(nul - p)) || STREQ(p, ".") || STREQ(p, ".."))
				return false;
			count++;
			p = nul + 1;
		}
		if (count != d[i].n_names)
			return false;
	}
	return true;
}

/* The mapped file's header and body checked; NULL if sound, or why not. */
static const char *check_file(const struct diff_hash_cache *c, const uint8_t *map, size_t size)
{
	struct hc_header h;
	uint8_t want[DIFF_HASH_SIZE];
	memcpy(&h, map, sizeof(h));
	if (memcmp(h.magic, HC_MAGIC, sizeof(h.magic)) || h.version != HC_VERSION || h.endian != HC_ENDIAN)
		return "corrupt";
	if (h.dev != (uint64_t)c->dev)
		return "stale"; /* another file system: inode numbers mean nothing */
	uint64_t body = (uint64_t)size - sizeof(h);
	if (h.count > body / sizeof(struct hc_record) || h.dir_count > body / sizeof(struct hc_dir) ||
	    h.names_size > body ||
	    body != h.count * sizeof(struct hc_record) + h.dir_count * sizeof(struct hc_dir) + h.names_size)
		return "corrupt";
	const uint8_t *v = map + sizeof(h);
	if (sum(&h, v, body, want) < 0)
		return "out of memory"; /* the cache is then ignored, as any cache in doubt */
	if (memcmp(want, h.checksum, sizeof(want)) != 0)
		return "corrupt";
	const struct hc_record *files = (const struct hc_record *)v;
	const struct hc_dir *dirs = (const struct hc_dir *)(v + h.count * sizeof(struct hc_record));
	for (size_t i = 1; i < h.count; i++)
		if (files[i - 1].ino >= files[i].ino)
			return "corrupt";
	if (!dirs_valid(dirs, h.dir_count, (const char *)(dirs + h.dir_count), h.names_size))
		return "corrupt";
	return NULL;
}

/* Map dirfd/name and check it; on any doubt leave the cache empty and say why. */
static const char *load_records(struct diff_hash_cache *c, int dirfd, const char *name)
{
	struct hc_header h;
	struct stat st;
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? "missing" : "unreadable";
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return "unreadable";
	if (st.st_size < (off_t)sizeof(h))
		return "corrupt";
	/*
	 * Mapped, not read: a cache of a few thousand entries is hundreds of
	 * KiB, and read() into a buffer costs a copy and a page fault per 4 KiB
	 * of it, where a mapping faults in 64 KiB at a time (docs/benchmarks.md,
	 * "Cached second diff").  The file is only ever replaced by a rename,
	 * never rewritten in place, so what is checked stays what is used.
	 */
	size_t size = (size_t)st.st_size;
	uint8_t *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return "unreadable";
	const char *bad = check_file(c, map, size);
	if (bad) {
		munmap(map, size);
		return bad;
	}
	memcpy(&h, map, sizeof(h));
	const struct hc_dir *dirs = (const struct hc_dir *)(map + sizeof(h) + h.count * sizeof(struct hc_record));
	const struct hc_record *files = (const struct hc_record *)(map + sizeof(h));
	const char *pool = (const char *)(dirs + h.dir_count);
	c->file = map;
	c->file_size = size;
	c->old = files;
	c->n_old = h.count;
	c->old_dirs = dirs;
	c->n_old_dirs = h.dir_count;
	c->old_names = pool;
	/* Hits are marked, not copied: an unchanged cache costs nothing more to keep. */
	c->used = calloc(h.count + h.dir_count + 1, 1);
	if (!c->used) {
		c->n_old = c->n_old_dirs = 0;
		return "out of memory";
	}
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
	if (c->file)
		munmap(c->file, c->file_size);
	free(c->used);
	free(c->cur);
	free(c->cur_dirs);
	dbuf_done(&c->cur_names);
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
	if (!c->used[lo]) {
		c->used[lo] = 1;
		c->n_used++;
	}
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

static bool same_dir_key(const struct hc_dir *d, const struct stat *st)
{
	return d->ino == (uint64_t)st->st_ino && d->mtime_sec == st->st_mtim.tv_sec &&
	       d->mtime_nsec == (uint32_t)st->st_mtim.tv_nsec && d->ctime_sec == st->st_ctim.tv_sec &&
	       d->ctime_nsec == (uint32_t)st->st_ctim.tv_nsec;
}

/* In this walk's records, names_off with this bit is an offset into the loaded pool (a hit: not copied). */
#define IN_OLD_POOL (UINT64_C(1) << 63)

static int append_dir(struct diff_hash_cache *c, const struct stat *st, const uint8_t xattrs[DIFF_HASH_SIZE],
		      const char *names, size_t names_len, size_t n_names)
{
	if (names_len > UINT32_MAX || n_names > UINT32_MAX)
		return 0; /* not remembered: read again next time */
	if (c->n_cur_dirs == c->alloc_cur_dirs) {
		size_t na = c->alloc_cur_dirs ? c->alloc_cur_dirs * 2 : 64;
		struct hc_dir *v = realloc(c->cur_dirs, na * sizeof(*v));
		if (!v)
			return -ENOMEM;
		c->cur_dirs = v;
		c->alloc_cur_dirs = na;
	}
	struct hc_dir *d = &c->cur_dirs[c->n_cur_dirs];
	*d = (struct hc_dir){
		.ino = st->st_ino,
		.mtime_sec = st->st_mtim.tv_sec,
		.mtime_nsec = (uint32_t)st->st_mtim.tv_nsec,
		.ctime_sec = st->st_ctim.tv_sec,
		.ctime_nsec = (uint32_t)st->st_ctim.tv_nsec,
		.names_off = c->cur_names.len,
		.names_len = (uint32_t)names_len,
		.n_names = (uint32_t)n_names,
	};
	memcpy(d->xattrs, xattrs, DIFF_HASH_SIZE);
	int r = dbuf_append(&c->cur_names, names, names_len);
	if (r < 0)
		return r;
	c->n_cur_dirs++;
	return 0;
}

bool diff_cache_lookup_dir(struct diff_hash_cache *c, const struct stat *st, uint8_t out_xattrs[DIFF_HASH_SIZE],
			   const char **ret_names, size_t *ret_len, size_t *ret_n)
{
	size_t lo = 0, hi = c->n_old_dirs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->old_dirs[mid].ino < (uint64_t)st->st_ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= c->n_old_dirs || !same_dir_key(&c->old_dirs[lo], st))
		return false;
	const struct hc_dir *d = &c->old_dirs[lo];
	memcpy(out_xattrs, d->xattrs, DIFF_HASH_SIZE);
	*ret_names = c->old_names + d->names_off;
	*ret_len = d->names_len;
	*ret_n = d->n_names;
	c->dir_hits++;
	if (!c->used[c->n_old + lo]) {
		c->used[c->n_old + lo] = 1;
		c->n_dirs_used++;
	}
	return true;
}

int diff_cache_remember_dir(struct diff_hash_cache *c, const struct stat *st, const uint8_t xattrs[DIFF_HASH_SIZE],
			    const char *names, size_t names_len, size_t n_names)
{
	c->dir_added++;
	return append_dir(c, st, xattrs, names, names_len, n_names);
}

static int cmp_ino(const void *a, const void *b)
{
	const struct hc_record *x = a, *y = b;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int cmp_dir_ino(const void *a, const void *b)
{
	const struct hc_dir *x = a, *y = b;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* Old enough that any later write must have moved ctime (see the top of the file). */
static bool settled_ctime(const struct diff_hash_cache *c, int64_t sec, uint32_t nsec)
{
	int64_t ctime_ns = sec * 1000000000LL + nsec;
	int64_t margin = nsec == 0 ? RACY_MARGIN_COARSE_NS : RACY_MARGIN_NS;
	return ctime_ns < c->walk_start_ns - margin;
}

static bool settled(const struct diff_hash_cache *c, const struct hc_record *r)
{
	return settled_ctime(c, r->ctime_sec, r->ctime_nsec);
}

/* Nothing new and every old entry used again: the file on disk is already right. */
static bool unchanged(const struct diff_hash_cache *c)
{
	return c->added == 0 && c->n_used == c->n_old && c->dir_added == 0 && c->n_dirs_used == c->n_old_dirs;
}

/* What this walk used again joins what it computed (only when the file is rewritten). */
static int gather_used(struct diff_hash_cache *c)
{
	int r;
	for (size_t i = 0; i < c->n_old; i++)
		if (c->used[i] && (r = append(c, &c->old[i])) < 0)
			return r;
	for (size_t i = 0; i < c->n_old_dirs; i++) {
		const struct hc_dir *d = &c->old_dirs[i];
		if (!c->used[c->n_old + i])
			continue;
		struct hc_dir *nd;
		if (c->n_cur_dirs == c->alloc_cur_dirs) {
			size_t na = c->alloc_cur_dirs ? c->alloc_cur_dirs * 2 : 64;
			if (!(nd = realloc(c->cur_dirs, na * sizeof(*nd))))
				return -ENOMEM;
			c->cur_dirs = nd;
			c->alloc_cur_dirs = na;
		}
		nd = &c->cur_dirs[c->n_cur_dirs++];
		*nd = *d;
		nd->names_off |= IN_OLD_POOL;
	}
	return 0;
}

/* Settled file records, one per inode (hard links share theirs), sorted; returns how many. */
static size_t keep_files(struct diff_hash_cache *c)
{
	size_t n = 0;
	if (c->n_cur)
		qsort(c->cur, c->n_cur, sizeof(*c->cur), cmp_ino);
	for (size_t i = 0; i < c->n_cur; i++) {
		if (!settled(c, &c->cur[i]) || (n > 0 && c->cur[n - 1].ino == c->cur[i].ino))
			continue;
		c->cur[n++] = c->cur[i];
	}
	return n;
}

/* The same for dirs (a dir has one name, but a bind mount or a race could show one twice). */
static size_t keep_dirs(struct diff_hash_cache *c)
{
	size_t n = 0;
	if (c->n_cur_dirs)
		qsort(c->cur_dirs, c->n_cur_dirs, sizeof(*c->cur_dirs), cmp_dir_ino);
	for (size_t i = 0; i < c->n_cur_dirs; i++) {
		const struct hc_dir *d = &c->cur_dirs[i];
		if (!settled_ctime(c, d->ctime_sec, d->ctime_nsec) || (n > 0 && c->cur_dirs[n - 1].ino == d->ino))
			continue;
		c->cur_dirs[n++] = *d;
	}
	return n;
}

int diff_cache_save(struct diff_hash_cache *c, int dirfd, const char *name)
{
	struct hc_header h = {};

	if (unchanged(c)) {
		c->stored = c->n_old;
		c->dirs_stored = c->n_old_dirs;
		return 0;
	}
	int r = gather_used(c);
	if (r < 0)
		return r;
	size_t n = keep_files(c), nd = keep_dirs(c), names = 0;
	for (size_t i = 0; i < nd; i++)
		names += c->cur_dirs[i].names_len;
	size_t files_len = n * sizeof(struct hc_record), dirs_len = nd * sizeof(struct hc_dir);
	size_t body = files_len + dirs_len + names;
	_cleanup_free_ char *buf = malloc(sizeof(h) + body);
	if (!buf)
		return -ENOMEM;
	/* The kept dirs' names, packed in record order (what was dropped leaves no gap). */
	char *pool = buf + sizeof(h) + files_len + dirs_len;
	size_t off = 0;
	for (size_t i = 0; i < nd; i++) {
		struct hc_dir *d = &c->cur_dirs[i];
		const char *from = d->names_off & IN_OLD_POOL ? c->old_names + (d->names_off & ~IN_OLD_POOL)
							      : c->cur_names.p + d->names_off;
		if (d->names_len)
			memcpy(pool + off, from, d->names_len);
		d->names_off = off;
		off += d->names_len;
	}
	if (files_len)
		memcpy(buf + sizeof(h), c->cur, files_len);
	if (dirs_len)
		memcpy(buf + sizeof(h) + files_len, c->cur_dirs, dirs_len);
	memcpy(h.magic, HC_MAGIC, sizeof(h.magic));
	h.version = HC_VERSION;
	h.endian = HC_ENDIAN;
	h.dev = (uint64_t)c->dev;
	h.count = n;
	h.dir_count = nd;
	h.names_size = names;
	if (sum(&h, buf + sizeof(h), body, h.checksum) < 0)
		return -ENOMEM;
	memcpy(buf, &h, sizeof(h));
	c->stored = n;
	c->dirs_stored = nd;
	/* Not fsync'd: after a crash a torn cache fails its checksum and is rebuilt. */
	return lc_write_atomic(dirfd, name, buf, sizeof(h) + body, 0600, false);
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

void diff_cache_dir_stats(const struct diff_hash_cache *c, size_t *loaded, size_t *hits, size_t *stored)
{
	if (loaded)
		*loaded = c->n_old_dirs;
	if (hits)
		*hits = c->dir_hits;
	if (stored)
		*stored = c->dirs_stored;
}
