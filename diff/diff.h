/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * diff/ — content identity and drift: hashing, manifests, the hash cache,
 * upper-vs-base classification, manifest-to-manifest diff, vacuum.
 * Never prints, never exits; returns 0 or -errno (detail in struct lc_err).
 *
 * Paths inside this module are relative to the tree root, without a leading
 * '/', and are arbitrary bytes (no NUL, no '/' inside a name); the root
 * itself is the empty path "".  Callers add the leading '/' for display.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "overlay/overlay.h"

#define DIFF_HASH_SIZE 16 /* XXH3-128, canonical (big-endian) byte order */

/* ---- Hashing ---- */

struct diff_hasher; /* a reusable read buffer + XXH3 state: no allocation per file */
int diff_hasher_new(struct diff_hasher **ret);
/* xattr digests of an upper stored shifted: POSIX ACL IDs in base..base+count-1 count as 0.. (count 0: off). */
void diff_hasher_set_unshift(struct diff_hasher *h, uint32_t base, uint32_t count);
void diff_hasher_free(struct diff_hasher *h);
/* XXH3-128 of the content of the regular file fd (read from its start). */
int diff_hash_fd(struct diff_hasher *h, int fd, uint8_t out[DIFF_HASH_SIZE], uint64_t *ret_bytes);
/* The same hash of a buffer (a mapped file: no copy through read()). */
void diff_hash_buffer(struct diff_hasher *h, const void *data, size_t len, uint8_t out[DIFF_HASH_SIZE]);
/* The same hash over pieces: begin, update with each in order, end (a copy that hashes what it writes). */
void diff_hash_begin(struct diff_hasher *h);
void diff_hash_update(struct diff_hasher *h, const void *data, size_t len);
void diff_hash_end(struct diff_hasher *h, uint8_t out[DIFF_HASH_SIZE]);
/*
 * Digest of the xattrs of dirfd/name (not following a final symlink),
 * overlay-private names (trusted.overlay.*, user.overlay.*) excluded, sorted
 * by name.  All zero when there are none.  *ret_private: an overlay xattr
 * that changes the entry's meaning (opaque, redirect, metacopy, whiteout)
 * is present, so ov_read_entry() is worth calling; copy-up bookkeeping
 * (origin, impure, ...) does not count.
 */
int diff_xattr_digest(struct diff_hasher *h, int dirfd, const char *name, uint8_t out[DIFF_HASH_SIZE],
		      bool *ret_private);
void diff_hash_hex(const uint8_t h[DIFF_HASH_SIZE], char out[2 * DIFF_HASH_SIZE + 1]);
bool diff_hash_is_zero(const uint8_t h[DIFF_HASH_SIZE]);

/* ---- Manifests ---- */

/*
 * One entry of a manifest.  path/target point into the manifest (mmap'd or
 * in memory) and are NUL-terminated; they stay valid while it lives.
 */
struct diff_entry {
	const char *path;
	size_t path_len;
	const char *target; /* symlink target, "" otherwise */
	size_t target_len;
	uint32_t mode, uid, gid, nlink;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint64_t rdev;
	uint8_t content[DIFF_HASH_SIZE]; /* regular files: XXH3-128 of the content */
	uint8_t xattrs[DIFF_HASH_SIZE];  /* digest of the xattrs (all zero: none) */
};

struct diff_manifest;

/*
 * Build the content manifest of the tree at tree_dir and write it atomically
 * to out_path.  Called when a base generation is created.
 */
int diff_manifest_build(const char *tree_dir, const char *out_path, struct lc_err *err);
/* Walk and hash a tree into an in-memory manifest (what build writes, and what verify compares). */
int diff_manifest_scan(int tree_fd, struct diff_manifest **ret, struct lc_err *err);
/* The same, reporting entries and bytes scanned through progress (total_entries: 0 if unknown). */
struct lc_progress;
int diff_manifest_scan_progress(int tree_fd, const struct lc_progress *progress, uint64_t total_entries,
				struct diff_manifest **ret, struct lc_err *err);
/*
 * The same, taking a regular file's content hash from known (when it has the
 * same path and size) instead of reading the file: for a tree made from the
 * tree known describes, such as an image just exported from a generation.
 */
int diff_manifest_scan_known(int tree_fd, const struct diff_manifest *known, const struct lc_progress *progress,
			     uint64_t total_entries, struct diff_manifest **ret, struct lc_err *err);
int diff_manifest_build_progress(const char *tree_dir, const char *out_path, const struct lc_progress *progress,
				 uint64_t total_entries, struct lc_err *err);
/* Serialize to path atomically (temp file, fsync, rename, fsync dir). */
int diff_manifest_write(const struct diff_manifest *m, const char *out_path, struct lc_err *err);
/*
 * mmap a manifest file and check it: header, version, sizes, whole-file
 * checksum, every record's bounds and the sort order.  A corrupt or
 * truncated file is -EBADMSG with the reason in err; never trusted.
 */
int diff_manifest_open(const char *path, struct diff_manifest **ret, struct lc_err *err);
/* The same checks on a buffer (for tests and fuzzing; the buffer must outlive the manifest). */
int diff_manifest_from_buffer(const void *data, size_t size, struct diff_manifest **ret, struct lc_err *err);
void diff_manifest_free(struct diff_manifest *m);
static inline void diff_manifest_freep(struct diff_manifest **m) { if (*m) diff_manifest_free(*m); }
#define _cleanup_manifest_ _cleanup_(diff_manifest_freep)

size_t diff_manifest_count(const struct diff_manifest *m);
void diff_manifest_get(const struct diff_manifest *m, size_t i, struct diff_entry *ret);
/* Index of path, or -1. */
ssize_t diff_manifest_find(const struct diff_manifest *m, const char *path, size_t len);
/*
 * The same within [begin, end), a range whose paths all start with the
 * first skip bytes of path (a dir's subtree, skip = its path + "/"):
 * only the rest is compared.
 */
ssize_t diff_manifest_find_range(const struct diff_manifest *m, size_t begin, size_t end, size_t skip, const char *path,
				 size_t len);
/* Entry i's path against (path, len), both known to share their first skip bytes: <0, 0, >0. */
int diff_manifest_cmp_at(const struct diff_manifest *m, size_t i, size_t skip, const char *path, size_t len);
/*
 * diff_manifest_subtree() searching only [begin, end), a range known to
 * hold it (the parent dir's subtree), fastest when it starts near begin.
 */
void diff_manifest_subtree_in(const struct diff_manifest *m, size_t begin, size_t end, const char *path, size_t len,
			      size_t *ret_begin, size_t *ret_end);
/* First index whose path is >= (path, len) in manifest order. */
size_t diff_manifest_lower_bound(const struct diff_manifest *m, const char *path, size_t len);
/*
 * The descendants of dir path occupy [*begin, *end): in byte order every
 * "dir/..." sorts between "dir/" and "dir0" ('0' follows '/').  For the root
 * ("") that is everything after the root entry.
 */
void diff_manifest_subtree(const struct diff_manifest *m, const char *path, size_t len, size_t *begin, size_t *end);

/*
 * Building a manifest from pieces (base generations: most entries inherited
 * from the previous generation's manifest, only changed files scanned).
 * new: an empty in-memory manifest; add: copy e (path and target too) in;
 * seal: sort, refuse duplicates (-EEXIST) and a missing root entry
 * (-EBADMSG); then it is usable like an opened one and writable.
 */
int diff_manifest_new(struct diff_manifest **ret);
int diff_manifest_add(struct diff_manifest *m, const struct diff_entry *e);
int diff_manifest_seal(struct diff_manifest *m, struct lc_err *err);
/*
 * Stat-derived fields, xattr digest, and content hash (regular file) or
 * target (symlink, stored in target_buf) of dirfd/name, whose lstat is st.
 * e->path is left to the caller.
 */
int diff_entry_scan(struct diff_hasher *h, int dirfd, const char *name, const struct stat *st,
		    struct diff_entry *e, char target_buf[PATH_MAX + 1], struct lc_err *err);

/* Byte order of paths used everywhere: memcmp, shorter first on a tie. */
int diff_path_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* ---- Comparing two manifests (base verify; refresh later) ---- */

enum {
	DIFF_CH_TYPE = 1 << 0,
	DIFF_CH_CONTENT = 1 << 1, /* content hash, size, symlink target or device number */
	DIFF_CH_MODE = 1 << 2,
	DIFF_CH_OWNER = 1 << 3,
	DIFF_CH_XATTRS = 1 << 4,
	DIFF_CH_MTIME = 1 << 5,   /* only reported by verify: not part of drift identity */
	DIFF_CH_NLINK = 1 << 6,   /* never set: generations share inodes, so link counts move */
};
/* What differs between two entries of the same path (DIFF_CH_* bits). */
unsigned diff_entry_changes(const struct diff_entry *a, const struct diff_entry *b, bool with_times);
/* Names of DIFF_CH_* bits: "type", "content", "mode", "owner", "xattrs", "mtime", "nlink". */
const char *diff_change_name(unsigned bit);

/*
 * Walk two manifests in order; cb gets (a, NULL) for paths only in a,
 * (NULL, b) for paths only in b, (a, b, changes) for paths in both that
 * differ.  A non-zero return from cb stops the walk and is returned.
 */
typedef int (*diff_manifest_cb)(const struct diff_entry *a, const struct diff_entry *b, unsigned changes,
				void *userdata);
int diff_manifest_compare(const struct diff_manifest *a, const struct diff_manifest *b, bool with_times,
			  diff_manifest_cb cb, void *userdata);

/* ---- Hash cache of a child's upper dir ---- */

/*
 * Keyed by (inode, size, mtime, ctime); directories by (inode, mtime,
 * ctime) with their name lists (diff/cache.c).  An entry is stored only when its
 * ctime is older than the start of the walk that hashed it minus a margin
 * (git's "racy" rule): a later write in the same timestamp tick could not be
 * told apart.  A cache from another file system, of another version, or
 * failing its checksum is ignored (empty), never trusted.
 */
struct diff_hash_cache;
/* Load from dirfd/name; missing or bad -> empty cache, *ret_status says which ("missing", "corrupt", ...). */
int diff_cache_load(int dirfd, const char *name, dev_t dev, struct diff_hash_cache **ret, const char **ret_status);
void diff_cache_free(struct diff_hash_cache *c);
/* Content hash and xattr digest of a file whose key is unchanged (setxattr moves ctime too). */
bool diff_cache_lookup(struct diff_hash_cache *c, const struct stat *st, uint8_t out[DIFF_HASH_SIZE],
		       uint8_t out_xattrs[DIFF_HASH_SIZE]);
/* Remember what this walk computed (kept for the next save). */
int diff_cache_remember(struct diff_hash_cache *c, const struct stat *st, const uint8_t h[DIFF_HASH_SIZE],
			const uint8_t xattrs[DIFF_HASH_SIZE]);
/* Write what this walk used (hits + new hashes) to dirfd/name atomically; nothing when unchanged. */
int diff_cache_save(struct diff_hash_cache *c, int dirfd, const char *name);
/* Number of entries loaded, hits and stores of this walk (for tests and --verbose). */
void diff_cache_stats(const struct diff_hash_cache *c, size_t *loaded, size_t *hits, size_t *stored);
/*
 * A directory whose key (inode, mtime, ctime) is unchanged: its xattr digest
 * and its names (*ret_n NUL-terminated names, *ret_len bytes, valid while
 * the cache lives), so the walk need not read it.  Only directories without
 * meaning-changing overlay xattrs may be remembered.
 */
bool diff_cache_lookup_dir(struct diff_hash_cache *c, const struct stat *st, uint8_t out_xattrs[DIFF_HASH_SIZE],
			   const char **ret_names, size_t *ret_len, size_t *ret_n);
int diff_cache_remember_dir(struct diff_hash_cache *c, const struct stat *st, const uint8_t xattrs[DIFF_HASH_SIZE],
			    const char *names, size_t names_len, size_t n_names);
void diff_cache_dir_stats(const struct diff_hash_cache *c, size_t *loaded, size_t *hits, size_t *stored);

/* ---- Classifying a child's upper dir against its base manifest ---- */

enum diff_class {
	DIFF_ADDED = 'A',
	DIFF_MODIFIED = 'M',
	DIFF_METADATA = 'm',
	DIFF_DELETED = 'D',
	DIFF_OPAQUE = 'O',
	DIFF_SAME = '=',
};

struct diff_change {
	size_t base_pos;       /* 0, or 1 + the base manifest index of this very path (orders the result cheaply) */
	char cls;              /* enum diff_class */
	unsigned changes;      /* DIFF_CH_* (M, m, and O: what differs from the base dir) */
	size_t path_off;       /* into diff_result.pool; NUL-terminated */
	size_t path_len;
	uint32_t mode;         /* the merged entry's mode (D: the base entry's) */
	uint64_t size;         /* st_size of the entry (D: the base's) */
	uint64_t disk_bytes;   /* blocks the upper entry uses (0 when not in upper) */
	bool in_upper;         /* the entry is in the upper dir (not only derived from the lower) */
	bool vacuumable;       /* '=' and removing it leaves the merged view unchanged */
	bool silent;           /* a directory that only holds changes: counted for vacuum, never reported */
	bool metacopy;         /* upper file holding only metadata (content in the lower) */
	bool redirect;         /* upper entry with an overlay redirect */
};

struct diff_class_total {
	uint64_t count, bytes;
};

struct diff_result {
	struct diff_change *v;
	size_t n, alloc;
	char *pool;
	size_t pool_len, pool_alloc;
	/* indexed by class character: totals['A'] ... */
	struct diff_class_total totals[128];
	uint64_t upper_entries;     /* every entry in the upper dir */
	uint64_t upper_bytes;       /* disk use of the upper dir (st_blocks) */
	uint64_t vacuum_bytes;      /* disk use vacuum would free */
	uint64_t vacuum_entries;
	uint64_t hashed_files, hashed_bytes, cache_hits;
	uint64_t dir_cache_hits;    /* dirs whose names came from the hash cache (not read) */
};

void diff_result_done(struct diff_result *r);
static inline const char *diff_change_path(const struct diff_result *r, const struct diff_change *c)
{
	return r->pool + c->path_off;
}
/* Does anything differ from the base (A, M, m, D or O)? */
bool diff_result_differs(const struct diff_result *r);

/*
 * Walk the upper dir upper_fd (read only, openat-relative, never the merged
 * view) and classify every entry against base.  cache may be NULL.  The
 * result is sorted by path.
 */
int diff_classify(int upper_fd, const struct diff_manifest *base, struct diff_hash_cache *cache,
		  struct diff_result *ret, struct lc_err *err);
/*
 * The same for an upper whose owners are stored shifted by shift_base (a
 * child in user-namespace mode, src/store/uidrange.h): IDs in
 * shift_base..shift_base+shift_count-1 count as 0..shift_count-1, so a
 * copy-up is no owner change.
 */
int diff_classify_shifted(int upper_fd, const struct diff_manifest *base, struct diff_hash_cache *cache,
			  uint32_t shift_base, uint32_t shift_count, struct diff_result *ret, struct lc_err *err);
/* uid/gid inside base..base+count-1 -> minus base (count 0: unchanged). */
void diff_entry_unshift(struct diff_entry *e, uint32_t base, uint32_t count);

/* ---- Vacuum ---- */

struct diff_vacuum_stats {
	uint64_t files, dirs, bytes;
};
/*
 * Remove the vacuumable '=' entries of r from upper_fd, then the silent
 * directories left empty by that (deepest first).  The caller holds the
 * child's lock and made sure nothing has the overlay mounted.  cb, when
 * not NULL, is told each path removed (before removal in dry_run).
 */
typedef void (*diff_vacuum_cb)(const char *path, size_t len, bool dir, uint64_t bytes, void *userdata);
int diff_vacuum(int upper_fd, const struct diff_result *r, bool dry_run, diff_vacuum_cb cb, void *userdata,
		struct diff_vacuum_stats *ret, struct lc_err *err);
