/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Content manifests of base generations.
 *
 * On disk (all integers in the host's byte order, which the header records;
 * a manifest from a host of the other order is refused):
 *
 *   header   struct mf_header (magic, version, sizes, XXH3-128 checksum of
 *            the whole file computed with the checksum field zeroed)
 *   records  n fixed-size struct mf_record, sorted by path (memcmp order)
 *   pool     the bytes of every path and symlink target, each followed by
 *            a NUL (names never hold NUL, so C strings work on the map)
 *
 * Fixed-size records make the file usable straight from mmap: lookups are a
 * binary search over records, touching only the pages they read.  Opening
 * checks the checksum and each record's bounds and order once, so nothing
 * read later can point outside the map.
 */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <sys/mman.h>
#include <xxhash.h>

#include "src/basic/progress-cb.h"
#include "diff/diff.h"
#include "diff/internal.h"
#include "src/basic/fileio.h"
#include "src/basic/fsutil.h"

#define MF_MAGIC "LCMANIF\0"
#define MF_VERSION 1
#define MF_ENDIAN 0x01020304u

struct mf_header {
	char magic[8];
	uint32_t version;
	uint32_t endian;
	uint32_t header_size;
	uint32_t record_size;
	uint64_t n_records;
	uint64_t records_off;
	uint64_t pool_off;
	uint64_t pool_size;
	uint64_t file_size;
	uint8_t reserved[8];
	uint8_t checksum[DIFF_HASH_SIZE];
};

struct mf_record {
	uint64_t path_off;
	uint64_t target_off;
	uint64_t size;
	int64_t mtime_sec;
	uint64_t rdev;
	uint32_t path_len;
	uint32_t target_len;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint32_t mtime_nsec;
	uint32_t nlink;
	uint32_t flags;
	uint8_t content[DIFF_HASH_SIZE];
	uint8_t xattrs[DIFF_HASH_SIZE];
};

_Static_assert(sizeof(struct mf_header) == 88, "header layout");
_Static_assert(sizeof(struct mf_record) == 104, "record layout");

struct diff_manifest {
	const struct mf_record *rec;
	size_t n;
	const char *pool;
	size_t pool_size;
	void *map; /* mmap'd file, or NULL */
	size_t map_len;
	struct mf_record *own_rec; /* built in memory */
	size_t own_alloc;
	struct dbuf own_pool;
};

int diff_path_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

size_t diff_manifest_count(const struct diff_manifest *m)
{
	return m->n;
}

void diff_manifest_get(const struct diff_manifest *m, size_t i, struct diff_entry *e)
{
	const struct mf_record *r = &m->rec[i];
	e->path = m->pool + r->path_off;
	e->path_len = r->path_len;
	e->target = m->pool + r->target_off;
	e->target_len = r->target_len;
	e->mode = r->mode;
	e->uid = r->uid;
	e->gid = r->gid;
	e->nlink = r->nlink;
	e->size = r->size;
	e->mtime_sec = r->mtime_sec;
	e->mtime_nsec = r->mtime_nsec;
	e->rdev = r->rdev;
	memcpy(e->content, r->content, DIFF_HASH_SIZE);
	memcpy(e->xattrs, r->xattrs, DIFF_HASH_SIZE);
}

static int rec_cmp_key(const struct diff_manifest *m, size_t i, const char *path, size_t len)
{
	const struct mf_record *r = &m->rec[i];
	return diff_path_cmp(m->pool + r->path_off, r->path_len, path, len);
}

size_t diff_manifest_lower_bound(const struct diff_manifest *m, const char *path, size_t len)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (rec_cmp_key(m, mid, path, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

ssize_t diff_manifest_find(const struct diff_manifest *m, const char *path, size_t len)
{
	size_t i = diff_manifest_lower_bound(m, path, len);
	if (i < m->n && rec_cmp_key(m, i, path, len) == 0)
		return (ssize_t)i;
	return -1;
}

ssize_t diff_manifest_find_range(const struct diff_manifest *m, size_t begin, size_t end, size_t skip, const char *path,
				 size_t len)
{
	size_t lo = begin, hi = end;
	const char *key = path + skip;
	size_t klen = len - skip;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct mf_record *r = &m->rec[mid];
		if (diff_path_cmp(m->pool + r->path_off + skip, r->path_len - skip, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < end && diff_path_cmp(m->pool + m->rec[lo].path_off + skip, m->rec[lo].path_len - skip, key, klen) == 0)
		return (ssize_t)lo;
	return -1;
}

int diff_manifest_cmp_at(const struct diff_manifest *m, size_t i, size_t skip, const char *path, size_t len)
{
	const struct mf_record *r = &m->rec[i];
	return diff_path_cmp(m->pool + r->path_off + skip, r->path_len - skip, path + skip, len - skip);
}

/* Record i against the key path + c (len + 1 bytes), as diff_path_cmp would compare them. */
static int rec_cmp_key_suffixed(const struct diff_manifest *m, size_t i, const char *path, size_t len, char c)
{
	const struct mf_record *r = &m->rec[i];
	const char *a = m->pool + r->path_off;
	size_t alen = r->path_len;
	int k = memcmp(a, path, alen < len ? alen : len);
	if (k)
		return k;
	if (alen <= len)
		return -1; /* a prefix of the key (or the path itself): shorter sorts first */
	k = (int)(unsigned char)a[len] - (int)(unsigned char)c;
	if (k)
		return k;
	return alen > len + 1;
}

static size_t lower_bound_suffixed_in(const struct diff_manifest *m, size_t lo, size_t hi, const char *path, size_t len,
				      char c);

static size_t lower_bound_suffixed(const struct diff_manifest *m, const char *path, size_t len, char c)
{
	return lower_bound_suffixed_in(m, 0, m->n, path, len, c);
}

/* In [lo, hi); the key is path + c. */
static size_t lower_bound_suffixed_in(const struct diff_manifest *m, size_t lo, size_t hi, const char *path, size_t len,
				      char c)
{
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (rec_cmp_key_suffixed(m, mid, path, len, c) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Every path below `path` sorts in [path + "/", path + "0"): '0' is the byte
 * after '/'.  Compared in place, without building the keys: an allocation
 * that could fail here would leave no honest answer (an empty range made
 * diff under-report D).
 */
void diff_manifest_subtree(const struct diff_manifest *m, const char *path, size_t len, size_t *begin, size_t *end)
{
	if (len == 0) { /* the root: everything but "" itself */
		*begin = m->n > 0 && m->rec[0].path_len == 0 ? 1 : 0;
		*end = m->n;
		return;
	}
	*begin = lower_bound_suffixed(m, path, len, '/');
	*end = lower_bound_suffixed(m, path, len, '/' + 1);
}

/* lower_bound_suffixed_in(), the answer expected near lo: steps widening from there, then a binary search. */
static size_t gallop_suffixed(const struct diff_manifest *m, size_t lo, size_t hi, const char *path, size_t len, char c)
{
	size_t step = 1;
	while (lo + step < hi && rec_cmp_key_suffixed(m, lo + step - 1, path, len, c) < 0) {
		lo += step;
		step *= 2;
	}
	return lower_bound_suffixed_in(m, lo, lo + step < hi ? lo + step : hi, path, len, c);
}

void diff_manifest_subtree_in(const struct diff_manifest *m, size_t begin, size_t end, const char *path, size_t len,
			      size_t *ret_begin, size_t *ret_end)
{
	*ret_begin = gallop_suffixed(m, begin, end, path, len, '/');
	*ret_end = gallop_suffixed(m, *ret_begin, end, path, len, '/' + 1);
}

void diff_manifest_free(struct diff_manifest *m)
{
	if (!m)
		return;
	if (m->map)
		munmap(m->map, m->map_len);
	free(m->own_rec);
	dbuf_done(&m->own_pool);
	free(m);
}

/* ---- building ---- */

struct scan {
	struct diff_manifest *m;
	struct diff_hasher *h;
	struct dbuf path;
	struct lc_err *err;
	const struct lc_progress *progress;
	uint64_t total, bytes;
	const struct diff_manifest *known; /* content hashes to take instead of reading (scan_known) */
	char target[PATH_MAX + 1];
};

static int pool_add(struct diff_manifest *m, const char *s, size_t n, uint64_t *off)
{
	*off = m->own_pool.len;
	int r = dbuf_reserve(&m->own_pool, n + 1);
	if (r < 0)
		return r;
	memcpy(m->own_pool.p + m->own_pool.len, s, n);
	m->own_pool.p[m->own_pool.len + n] = '\0';
	m->own_pool.len += n + 1;
	return 0;
}

static struct mf_record *new_record(struct diff_manifest *m)
{
	if (m->n == m->own_alloc) {
		size_t na = m->own_alloc ? m->own_alloc * 2 : 1024;
		struct mf_record *v = realloc(m->own_rec, na * sizeof(*v));
		if (!v)
			return NULL;
		m->own_rec = v;
		m->own_alloc = na;
	}
	struct mf_record *r = &m->own_rec[m->n++];
	memset(r, 0, sizeof(*r));
	return r;
}

static void record_from_stat(struct mf_record *r, const struct stat *st)
{
	struct diff_entry e = {};
	diff_entry_from_stat(&e, st);
	r->mode = e.mode;
	r->uid = e.uid;
	r->gid = e.gid;
	r->nlink = e.nlink;
	r->size = e.size;
	r->mtime_sec = e.mtime_sec;
	r->mtime_nsec = e.mtime_nsec;
	r->rdev = e.rdev;
}

/* Open a file of the tree for reading without updating its atime (root may; others fall back). */
static int open_for_hash(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	return fd;
}

static const char *shown(struct scan *sc)
{
	return sc->path.len ? sc->path.p : "/";
}

static int scan_dir(struct scan *sc, int dfd);

/*
 * The content hash the known manifest gives a regular file of the same path
 * and size: a tree just made from the tree that manifest describes (an
 * exported image) need not be read again to know its files' contents.
 */
static bool known_content(struct scan *sc, const struct stat *st, uint8_t out[DIFF_HASH_SIZE])
{
	if (!sc->known)
		return false;
	ssize_t i = diff_manifest_find(sc->known, sc->path.p, sc->path.len);
	if (i < 0)
		return false;
	const struct mf_record *k = &sc->known->rec[i];
	if (!S_ISREG(k->mode) || k->size != (uint64_t)st->st_size)
		return false;
	memcpy(out, k->content, DIFF_HASH_SIZE);
	return true;
}

/* Record dirfd/name (whose path is sc->path) and, for a directory, what is below it. */
static int scan_entry(struct scan *sc, int dirfd, const char *name, const struct stat *st)
{
	struct diff_manifest *m = sc->m;
	struct mf_record *rec = new_record(m);
	size_t idx = m->n - 1;
	int r;

	if (!rec)
		return -ENOMEM;
	record_from_stat(rec, st);
	if (S_ISREG(st->st_mode))
		sc->bytes += (uint64_t)st->st_size;
	lc_progress_report(sc->progress, m->n, sc->bytes, sc->total, 0);
	if ((r = pool_add(m, sc->path.p, sc->path.len, &rec->path_off)) < 0)
		return r;
	rec->path_len = (uint32_t)sc->path.len;
	r = diff_xattr_digest(sc->h, dirfd, name, rec->xattrs, NULL);
	if (r < 0)
		return lc_err_ret(sc->err, r, "/%s: xattrs: %s", sc->path.p, strerror(-r));

	if (S_ISLNK(st->st_mode)) {
		ssize_t n = readlinkat(dirfd, name, sc->target, sizeof(sc->target) - 1);
		if (n < 0)
			return lc_err_ret(sc->err, -errno, "/%s: readlink: %m", sc->path.p);
		r = pool_add(m, sc->target, (size_t)n, &m->own_rec[idx].target_off);
		m->own_rec[idx].target_len = (uint32_t)n;
		m->own_rec[idx].size = (uint64_t)n;
		return r;
	}
	/* An empty target still needs a valid offset: point at the path's NUL. */
	rec->target_off = rec->path_off + rec->path_len;
	if (S_ISREG(st->st_mode) && known_content(sc, st, m->own_rec[idx].content))
		return 0;
	if (S_ISREG(st->st_mode)) {
		_cleanup_close_ int fd = open_for_hash(dirfd, name);
		if (fd < 0)
			return lc_err_ret(sc->err, -errno, "/%s: open: %m", sc->path.p);
		uint64_t bytes;
		r = diff_hash_fd(sc->h, fd, rec->content, &bytes);
		if (r < 0)
			return lc_err_ret(sc->err, r, "/%s: read: %s", sc->path.p, strerror(-r));
		rec->size = bytes; /* what was hashed, should the file be growing */
		return 0;
	}
	if (S_ISDIR(st->st_mode)) {
		_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return lc_err_ret(sc->err, -errno, "/%s: open: %m", sc->path.p);
		return scan_dir(sc, fd);
	}
	return 0;
}

static int scan_dir(struct scan *sc, int dfd)
{
	size_t saved = sc->path.len;
	_cleanup_closedir_ DIR *d = NULL;
	int r = lc_opendirat(dfd, ".", 0, &d); /* not dup(): own offset */
	if (r < 0)
		return r;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno)
				return lc_err_ret(sc->err, -errno, "%s: readdir: %m", shown(sc));
			break;
		}
		if (STREQ(de->d_name, ".") || STREQ(de->d_name, ".."))
			continue;
		size_t nl = strlen(de->d_name);
		sc->path.len = saved;
		if ((r = dbuf_reserve(&sc->path, nl + 2)) < 0)
			return r;
		if (saved)
			sc->path.p[sc->path.len++] = '/';
		memcpy(sc->path.p + sc->path.len, de->d_name, nl + 1);
		sc->path.len += nl;
		struct stat st;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return lc_err_ret(sc->err, -errno, "/%s: stat: %m", sc->path.p);
		if ((r = scan_entry(sc, dfd, de->d_name, &st)) < 0)
			return r;
	}
	sc->path.len = saved;
	if (sc->path.p)
		sc->path.p[saved] = '\0';
	return 0;
}

static _Thread_local const char *sort_pool;

static int rec_sort_cmp(const void *a, const void *b)
{
	const struct mf_record *x = a, *y = b;
	return diff_path_cmp(sort_pool + x->path_off, x->path_len, sort_pool + y->path_off, y->path_len);
}

int diff_manifest_scan(int tree_fd, struct diff_manifest **ret, struct lc_err *err)
{
	return diff_manifest_scan_progress(tree_fd, NULL, 0, ret, err);
}

int diff_manifest_scan_progress(int tree_fd, const struct lc_progress *progress, uint64_t total_entries,
				struct diff_manifest **ret, struct lc_err *err)
{
	return diff_manifest_scan_known(tree_fd, NULL, progress, total_entries, ret, err);
}

int diff_manifest_scan_known(int tree_fd, const struct diff_manifest *known, const struct lc_progress *progress,
			     uint64_t total_entries, struct diff_manifest **ret, struct lc_err *err)
{
	struct diff_manifest *m = calloc(1, sizeof(*m));
	struct scan sc = { .m = m, .err = err, .progress = progress, .total = total_entries, .known = known };
	struct stat st;
	int r;

	if (!m)
		return -ENOMEM;
	if ((r = diff_hasher_new(&sc.h)) < 0)
		goto fail;
	if ((r = dbuf_reserve(&sc.path, 256)) < 0)
		goto fail;
	sc.path.p[0] = '\0';
	if (fstat(tree_fd, &st) < 0) {
		r = lc_err_ret(err, -errno, "stat: %m");
		goto fail;
	}
	if (!S_ISDIR(st.st_mode)) {
		r = lc_err_ret(err, -ENOTDIR, "not a directory");
		goto fail;
	}
	/* The root is the entry "": its mode, owner and xattrs are the merged "/"'s. */
	if ((r = scan_entry(&sc, tree_fd, ".", &st)) < 0)
		goto fail;
	sort_pool = m->own_pool.p;
	qsort(m->own_rec, m->n, sizeof(*m->own_rec), rec_sort_cmp);
	m->rec = m->own_rec;
	m->pool = m->own_pool.p;
	m->pool_size = m->own_pool.len;
	diff_hasher_free(sc.h);
	dbuf_done(&sc.path);
	*ret = m;
	return 0;
fail:
	diff_hasher_free(sc.h);
	dbuf_done(&sc.path);
	diff_manifest_free(m);
	return r;
}

/* -ENOMEM when the hash state cannot be allocated: never a made-up checksum. */
static int checksum(const struct mf_header *hdr, const void *records, size_t records_len, const void *pool,
		    size_t pool_len, uint8_t out[DIFF_HASH_SIZE])
{
	static const uint8_t zero[DIFF_HASH_SIZE];
	XXH3_state_t *st = XXH3_createState();
	XXH128_canonical_t c;
	if (!st)
		return -ENOMEM;
	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, hdr, offsetof(struct mf_header, checksum));
	XXH3_128bits_update(st, zero, sizeof(zero));
	XXH3_128bits_update(st, records, records_len);
	XXH3_128bits_update(st, pool, pool_len);
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
	XXH3_freeState(st);
	memcpy(out, c.digest, DIFF_HASH_SIZE);
	return 0;
}

int diff_manifest_write(const struct diff_manifest *m, const char *out_path, struct lc_err *err)
{
	struct mf_header hdr = {};
	size_t rec_len = m->n * sizeof(struct mf_record);

	memcpy(hdr.magic, MF_MAGIC, sizeof(hdr.magic));
	hdr.version = MF_VERSION;
	hdr.endian = MF_ENDIAN;
	hdr.header_size = sizeof(hdr);
	hdr.record_size = sizeof(struct mf_record);
	hdr.n_records = m->n;
	hdr.records_off = sizeof(hdr);
	hdr.pool_off = hdr.records_off + rec_len;
	hdr.pool_size = m->pool_size;
	hdr.file_size = hdr.pool_off + hdr.pool_size;
	if (checksum(&hdr, m->rec, rec_len, m->pool, m->pool_size, hdr.checksum) < 0)
		return lc_err_ret(err, -ENOMEM, "checksum: out of memory");

	/* One buffer and one write: the file is small next to the tree it describes. */
	_cleanup_free_ char *buf = malloc(hdr.file_size);
	if (!buf)
		return lc_err_ret(err, -ENOMEM, "out of memory");
	memcpy(buf, &hdr, sizeof(hdr));
	if (rec_len)
		memcpy(buf + hdr.records_off, m->rec, rec_len);
	if (m->pool_size)
		memcpy(buf + hdr.pool_off, m->pool, m->pool_size);

	_cleanup_free_ char *dir_copy = strdup(out_path), *base_copy = strdup(out_path);
	if (!dir_copy || !base_copy)
		return -ENOMEM;
	_cleanup_close_ int dfd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return lc_err_ret(err, -errno, "%s: %m", out_path);
	int r = lc_write_atomic(dfd, basename(base_copy), buf, hdr.file_size, 0644, true);
	if (r < 0)
		return lc_err_ret(err, r, "%s: write: %s", out_path, strerror(-r));
	return 0;
}

int diff_manifest_build(const char *tree_dir, const char *out_path, struct lc_err *err)
{
	return diff_manifest_build_progress(tree_dir, out_path, NULL, 0, err);
}

int diff_manifest_build_progress(const char *tree_dir, const char *out_path, const struct lc_progress *progress,
				 uint64_t total_entries, struct lc_err *err)
{
	_cleanup_manifest_ struct diff_manifest *m = NULL;
	_cleanup_close_ int fd = open(tree_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return lc_err_ret(err, -errno, "%s: %m", tree_dir);
	int r = diff_manifest_scan_progress(fd, progress, total_entries, &m, err);
	if (r < 0)
		return r;
	return diff_manifest_write(m, out_path, err);
}

/* ---- loading ---- */

static int check_string(const struct diff_manifest *m, uint64_t off, uint32_t len)
{
	return off < m->pool_size && len < m->pool_size - off && m->pool[off + len] == '\0' &&
			       !memchr(m->pool + off, '\0', len)
		       ? 0
		       : -1;
}

static int validate(struct diff_manifest *m, const uint8_t *data, size_t size, struct lc_err *err)
{
	struct mf_header hdr;
	uint8_t sum[DIFF_HASH_SIZE];

	if (size < sizeof(hdr))
		return lc_err_ret(err, -EBADMSG, "truncated (%zu bytes, the header alone is %zu)", size, sizeof(hdr));
	memcpy(&hdr, data, sizeof(hdr));
	if (memcmp(hdr.magic, MF_MAGIC, sizeof(hdr.magic)) != 0)
		return lc_err_ret(err, -EBADMSG, "not a layerctl manifest (bad magic)");
	if (hdr.endian != MF_ENDIAN)
		return lc_err_ret(err, -EBADMSG, "written on a host of the other byte order");
	if (hdr.version != MF_VERSION)
		return lc_err_ret(err, -EBADMSG, "format version %u, this layerctl reads version %u", hdr.version,
				  MF_VERSION);
	if (hdr.header_size != sizeof(hdr) || hdr.record_size != sizeof(struct mf_record))
		return lc_err_ret(err, -EBADMSG, "unexpected header or record size");
	if (hdr.file_size != size)
		return lc_err_ret(err, -EBADMSG, "truncated or extended: %zu bytes, header says %llu", size,
				  (unsigned long long)hdr.file_size);
	if (hdr.records_off != sizeof(hdr) || hdr.n_records > (size - sizeof(hdr)) / sizeof(struct mf_record) ||
	    hdr.pool_off != hdr.records_off + hdr.n_records * sizeof(struct mf_record) ||
	    hdr.pool_off > size || hdr.pool_size != size - hdr.pool_off)
		return lc_err_ret(err, -EBADMSG, "inconsistent section sizes");
	if (checksum(&hdr, data + hdr.records_off, hdr.pool_off - hdr.records_off, data + hdr.pool_off, hdr.pool_size,
		     sum) < 0)
		return lc_err_ret(err, -ENOMEM, "checksum: out of memory");
	if (memcmp(sum, hdr.checksum, sizeof(sum)) != 0)
		return lc_err_ret(err, -EBADMSG, "checksum mismatch (corrupt)");

	m->rec = (const struct mf_record *)(data + hdr.records_off);
	m->n = hdr.n_records;
	m->pool = (const char *)data + hdr.pool_off;
	m->pool_size = hdr.pool_size;
	/* Bounds and order of every record, once: later lookups may then trust them. */
	for (size_t i = 0; i < m->n; i++) {
		const struct mf_record *r = &m->rec[i];
		if (check_string(m, r->path_off, r->path_len) < 0 || check_string(m, r->target_off, r->target_len) < 0)
			return lc_err_ret(err, -EBADMSG, "record %zu points outside the file", i);
		if (i > 0 && rec_cmp_key(m, i - 1, m->pool + r->path_off, r->path_len) >= 0)
			return lc_err_ret(err, -EBADMSG, "record %zu is out of order", i);
	}
	if (m->n == 0 || m->rec[0].path_len != 0 || !S_ISDIR(m->rec[0].mode))
		return lc_err_ret(err, -EBADMSG, "has no root directory entry");
	return 0;
}

int diff_manifest_from_buffer(const void *data, size_t size, struct diff_manifest **ret, struct lc_err *err)
{
	struct diff_manifest *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	int r = validate(m, data, size, err);
	if (r < 0) {
		diff_manifest_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

int diff_manifest_open(const char *path, struct diff_manifest **ret, struct lc_err *err)
{
	struct stat st;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lc_err_ret(err, -errno, "%m");
	if (fstat(fd, &st) < 0)
		return lc_err_ret(err, -errno, "%m");
	if (!S_ISREG(st.st_mode))
		return lc_err_ret(err, -EBADMSG, "not a regular file");
	if (st.st_size < (off_t)sizeof(struct mf_header))
		return lc_err_ret(err, -EBADMSG, "truncated (%lld bytes)", (long long)st.st_size);
	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return lc_err_ret(err, -errno, "mmap: %m");
	struct diff_manifest *m = calloc(1, sizeof(*m));
	if (!m) {
		munmap(map, (size_t)st.st_size);
		return -ENOMEM;
	}
	m->map = map;
	m->map_len = (size_t)st.st_size;
	/* The checksum reads it all once: ask for read-ahead. */
	(void)madvise(map, m->map_len, MADV_WILLNEED);
	int r = validate(m, map, m->map_len, err);
	if (r < 0) {
		diff_manifest_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

/* ---- comparing ---- */

unsigned diff_entry_changes(const struct diff_entry *a, const struct diff_entry *b, bool with_times)
{
	unsigned ch = 0;
	if ((a->mode & S_IFMT) != (b->mode & S_IFMT))
		return DIFF_CH_TYPE;
	if (S_ISREG(a->mode) && (a->size != b->size || memcmp(a->content, b->content, DIFF_HASH_SIZE) != 0))
		ch |= DIFF_CH_CONTENT;
	if (S_ISLNK(a->mode) && (a->target_len != b->target_len || memcmp(a->target, b->target, a->target_len) != 0))
		ch |= DIFF_CH_CONTENT;
	if ((S_ISCHR(a->mode) || S_ISBLK(a->mode)) && a->rdev != b->rdev)
		ch |= DIFF_CH_CONTENT;
	if ((a->mode & 07777) != (b->mode & 07777))
		ch |= DIFF_CH_MODE;
	if (a->uid != b->uid || a->gid != b->gid)
		ch |= DIFF_CH_OWNER;
	if (memcmp(a->xattrs, b->xattrs, DIFF_HASH_SIZE) != 0)
		ch |= DIFF_CH_XATTRS;
	if (with_times && (a->mtime_sec != b->mtime_sec || a->mtime_nsec != b->mtime_nsec))
		ch |= DIFF_CH_MTIME;
	/*
	 * nlink is not compared: a generation's files are hard links shared
	 * with the generations before and after it, so their link counts move
	 * whenever one is committed or collected, without the tree changing.
	 */
	return ch;
}

const char *diff_change_name(unsigned bit)
{
	switch (bit) {
	case DIFF_CH_TYPE: return "type";
	case DIFF_CH_CONTENT: return "content";
	case DIFF_CH_MODE: return "mode";
	case DIFF_CH_OWNER: return "owner";
	case DIFF_CH_XATTRS: return "xattrs";
	case DIFF_CH_MTIME: return "mtime";
	case DIFF_CH_NLINK: return "nlink";
	}
	return "?";
}

int diff_manifest_compare(const struct diff_manifest *a, const struct diff_manifest *b, bool with_times,
			  diff_manifest_cb cb, void *userdata)
{
	size_t i = 0, j = 0;
	struct diff_entry ea, eb;
	int r;
	while (i < a->n || j < b->n) {
		int c;
		if (i >= a->n)
			c = 1;
		else if (j >= b->n)
			c = -1;
		else
			c = diff_path_cmp(a->pool + a->rec[i].path_off, a->rec[i].path_len, b->pool + b->rec[j].path_off,
					  b->rec[j].path_len);
		if (c < 0) {
			diff_manifest_get(a, i++, &ea);
			r = cb(&ea, NULL, 0, userdata);
		} else if (c > 0) {
			diff_manifest_get(b, j++, &eb);
			r = cb(NULL, &eb, 0, userdata);
		} else {
			diff_manifest_get(a, i++, &ea);
			diff_manifest_get(b, j++, &eb);
			unsigned ch = diff_entry_changes(&ea, &eb, with_times);
			r = ch ? cb(&ea, &eb, ch, userdata) : 0;
		}
		if (r)
			return r;
	}
	return 0;
}

/* ---- building from pieces (base generations) ---- */

int diff_manifest_new(struct diff_manifest **ret)
{
	struct diff_manifest *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	*ret = m;
	return 0;
}

int diff_manifest_add(struct diff_manifest *m, const struct diff_entry *e)
{
	struct mf_record *rec = new_record(m);
	int r;
	if (!rec)
		return -ENOMEM;
	size_t idx = m->n - 1;
	if (e->path_len > UINT32_MAX || e->target_len > UINT32_MAX)
		return -ENAMETOOLONG;
	/* pool_add may move the pool, never the records: index by idx from here on. */
	if ((r = pool_add(m, e->path, e->path_len, &m->own_rec[idx].path_off)) < 0)
		return r;
	rec = &m->own_rec[idx];
	rec->path_len = (uint32_t)e->path_len;
	if (e->target_len) {
		if ((r = pool_add(m, e->target, e->target_len, &rec->target_off)) < 0)
			return r;
	} else
		rec->target_off = rec->path_off + rec->path_len;
	rec->target_len = (uint32_t)e->target_len;
	rec->mode = e->mode;
	rec->uid = e->uid;
	rec->gid = e->gid;
	rec->nlink = e->nlink;
	rec->size = e->size;
	rec->mtime_sec = e->mtime_sec;
	rec->mtime_nsec = e->mtime_nsec;
	rec->rdev = e->rdev;
	memcpy(rec->content, e->content, DIFF_HASH_SIZE);
	memcpy(rec->xattrs, e->xattrs, DIFF_HASH_SIZE);
	return 0;
}

int diff_manifest_seal(struct diff_manifest *m, struct lc_err *err)
{
	sort_pool = m->own_pool.p;
	if (m->n)
		qsort(m->own_rec, m->n, sizeof(*m->own_rec), rec_sort_cmp);
	m->rec = m->own_rec;
	m->pool = m->own_pool.p;
	m->pool_size = m->own_pool.len;
	for (size_t i = 1; i < m->n; i++)
		if (rec_cmp_key(m, i - 1, m->pool + m->rec[i].path_off, m->rec[i].path_len) == 0)
			return lc_err_ret(err, -EEXIST, "/%s: listed twice", m->pool + m->rec[i].path_off);
	if (m->n == 0 || m->rec[0].path_len != 0 || !S_ISDIR(m->rec[0].mode))
		return lc_err_ret(err, -EBADMSG, "has no root directory entry");
	return 0;
}

int diff_entry_scan(struct diff_hasher *h, int dirfd, const char *name, const struct stat *st,
		    struct diff_entry *e, char target_buf[PATH_MAX + 1], struct lc_err *err)
{
	int r;
	memset(e, 0, sizeof(*e));
	diff_entry_from_stat(e, st);
	e->target = "";
	r = diff_xattr_digest(h, dirfd, name, e->xattrs, NULL);
	if (r < 0)
		return lc_err_ret(err, r, "%s: xattrs: %s", name, strerror(-r));
	if (S_ISLNK(st->st_mode)) {
		ssize_t n = readlinkat(dirfd, name, target_buf, PATH_MAX);
		if (n < 0)
			return lc_err_ret(err, -errno, "%s: readlink: %m", name);
		target_buf[n] = '\0';
		e->target = target_buf;
		e->target_len = (size_t)n;
		e->size = (uint64_t)n;
	} else if (S_ISREG(st->st_mode)) {
		_cleanup_close_ int fd = open_for_hash(dirfd, name);
		if (fd < 0)
			return lc_err_ret(err, -errno, "%s: open: %m", name);
		uint64_t bytes;
		r = diff_hash_fd(h, fd, e->content, &bytes);
		if (r < 0)
			return lc_err_ret(err, r, "%s: read: %s", name, strerror(-r));
		e->size = bytes;
	}
	return 0;
}
