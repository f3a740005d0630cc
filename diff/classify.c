/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Classifying a child's upper dir against its base manifest.
 *
 * One openat-relative walk of the upper dir; every upper entry is looked up
 * in the (mmap'd) base manifest by binary search.  Only the upper is read:
 * an upper dir that merges with the base dir of the same path (the usual
 * case) shows every other name of that dir unchanged, so nothing of the
 * base is visited.  Three things make the merged dir differ from "upper over
 * the same base dir", and only then are the base's names of that dir
 * enumerated (from the manifest, never from disk):
 *
 *  - an opaque dir (overlay.opaque=y), or any dir below one: nothing of the
 *    lower shows through, so every base name missing from upper is deleted;
 *  - a dir with overlay.redirect: its lower content comes from another
 *    path, so each lower name is compared with the base at the new path;
 *  - an upper dir where the base has no dir.
 *
 * Content is hashed only for upper regular files of the same size as their
 * base file, through the per-child hash cache when one is given.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/sysmacros.h>

#include "diff/diff.h"
#include "diff/internal.h"

enum lower_kind {
	LOWER_SAME,  /* the base dir of the same path */
	LOWER_NONE,  /* nothing shows through */
	LOWER_OTHER, /* the base dir at another path (a redirect) */
};

struct lower {
	enum lower_kind kind;
	const char *path; /* LOWER_OTHER: base path (no leading '/') */
	size_t len;
};

struct walk {
	const struct diff_manifest *base;
	struct diff_hash_cache *cache;
	struct diff_hasher *h;
	struct diff_result *res;
	struct lc_err *err;
	struct dbuf path;    /* merged path of the entry at hand */
	struct dbuf scratch; /* paths built while comparing base subtrees */
	char target[PATH_MAX + 1];
	uint32_t shift_base, shift_count; /* owners stored shifted (user-namespace child): subtract */
	/* The base subtree of the dir being walked: its entries' lookups search only there. */
	size_t range_begin, range_end, range_skip;
	size_t cursor; /* where the last lookup in it ended: names in order find their entries just after */
};

/* Where a dir's names come from, and whether to remember them in the cache. */
struct dir_source {
	const char *names; /* cached: n NUL-terminated names, len bytes (the dir is not read) */
	size_t len, n;
	const struct stat *st;  /* remember: the dir's stat taken before reading it */
	const uint8_t *xattrs;  /* remember: its xattr digest */
};

/* An upper stored shifted (uidrange.h) shows owners as the child sees them. */
static void unshift(const struct walk *w, struct diff_entry *e)
{
	diff_entry_unshift(e, w->shift_base, w->shift_count);
}

void diff_result_done(struct diff_result *r)
{
	free(r->v);
	free(r->pool);
	memset(r, 0, sizeof(*r));
}

bool diff_result_differs(const struct diff_result *r)
{
	return r->totals[DIFF_ADDED].count || r->totals[DIFF_MODIFIED].count || r->totals[DIFF_METADATA].count ||
	       r->totals[DIFF_DELETED].count || r->totals[DIFF_OPAQUE].count;
}

struct emit {
	size_t base_pos; /* manifest index + 1 of the entry's path, 0: unknown (see diff_change) */
	char cls;
	unsigned changes;
	uint32_t mode;
	uint64_t size, disk_bytes;
	bool in_upper, vacuumable, silent, metacopy, redirect;
};

static int emit(struct walk *w, const char *path, size_t len, const struct emit *e)
{
	struct diff_result *r = w->res;
	if (r->n == r->alloc) {
		size_t na = r->alloc ? r->alloc * 2 : 256;
		struct diff_change *v = realloc(r->v, na * sizeof(*v));
		if (!v)
			return -ENOMEM;
		r->v = v;
		r->alloc = na;
	}
	if (r->pool_len + len + 1 > r->pool_alloc) {
		size_t na = r->pool_alloc ? r->pool_alloc : 4096;
		while (na < r->pool_len + len + 1)
			na *= 2;
		char *p = realloc(r->pool, na);
		if (!p)
			return -ENOMEM;
		r->pool = p;
		r->pool_alloc = na;
	}
	struct diff_change *c = &r->v[r->n++];
	*c = (struct diff_change){
		.base_pos = e->base_pos,
		.cls = e->cls,
		.changes = e->changes,
		.path_off = r->pool_len,
		.path_len = len,
		.mode = e->mode,
		.size = e->size,
		.disk_bytes = e->disk_bytes,
		.in_upper = e->in_upper,
		.vacuumable = e->vacuumable,
		.silent = e->silent,
		.metacopy = e->metacopy,
		.redirect = e->redirect,
	};
	memcpy(r->pool + r->pool_len, path, len);
	r->pool[r->pool_len + len] = '\0';
	r->pool_len += len + 1;
	if (!e->silent) {
		r->totals[(unsigned char)e->cls].count++;
		r->totals[(unsigned char)e->cls].bytes += e->size;
	}
	if (e->vacuumable && !S_ISDIR(e->mode)) {
		r->vacuum_entries++;
		r->vacuum_bytes += e->disk_bytes;
	}
	return 0;
}

/*
 * Room for n changes and their paths before the walk: a cache that knows
 * the upper's entries spares the doublings' copies (a realloc of hundreds
 * of KiB copies it and faults in its new pages).  Room not used is never
 * touched, so a generous guess costs only address space.
 */
static int reserve(struct diff_result *r, size_t n, size_t pool_bytes)
{
	if (n > r->alloc) {
		struct diff_change *v = realloc(r->v, n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		r->v = v;
		r->alloc = n;
	}
	if (pool_bytes > r->pool_alloc) {
		char *p = realloc(r->pool, pool_bytes);
		if (!p)
			return -ENOMEM;
		r->pool = p;
		r->pool_alloc = pool_bytes;
	}
	return 0;
}

static int emit_base(struct walk *w, char cls, unsigned changes, const struct diff_entry *b)
{
	return emit(w, b->path, b->path_len, &(struct emit){ .cls = cls, .changes = changes, .mode = b->mode, .size = b->size });
}

/* Base entry idx and everything below it are hidden: deleted. */
static int emit_deleted_subtree(struct walk *w, size_t idx)
{
	struct diff_entry b;
	size_t begin, end;
	int r;
	diff_manifest_get(w->base, idx, &b);
	if ((r = emit_base(w, DIFF_DELETED, 0, &b)) < 0)
		return r;
	if (!S_ISDIR(b.mode))
		return 0;
	diff_manifest_subtree(w->base, b.path, b.path_len, &begin, &end);
	for (size_t i = begin; i < end; i++) {
		diff_manifest_get(w->base, i, &b);
		if ((r = emit_base(w, DIFF_DELETED, 0, &b)) < 0)
			return r;
	}
	return 0;
}

static bool find_entry(const struct diff_manifest *m, const char *path, size_t len, struct diff_entry *ret)
{
	ssize_t i = diff_manifest_find(m, path, len);
	if (i < 0)
		return false;
	diff_manifest_get(m, (size_t)i, ret);
	return true;
}

/* Build prefix + "/" + rest in w->scratch (prefix "" is the root). */
static int scratch_join(struct walk *w, const char *prefix, size_t plen, const char *rest, size_t rlen)
{
	w->scratch.len = 0;
	int r = dbuf_reserve(&w->scratch, plen + rlen + 2);
	if (r < 0)
		return r;
	memcpy(w->scratch.p, prefix, plen);
	w->scratch.len = plen;
	if (plen && rlen)
		w->scratch.p[w->scratch.len++] = '/';
	memcpy(w->scratch.p + w->scratch.len, rest, rlen);
	w->scratch.len += rlen;
	w->scratch.p[w->scratch.len] = '\0';
	return 0;
}

/* Class of an entry present in both, from its DIFF_CH_* bits. */
static char class_of(unsigned ch)
{
	if (ch & (DIFF_CH_TYPE | DIFF_CH_CONTENT))
		return DIFF_MODIFIED;
	if (ch)
		return DIFF_METADATA;
	return DIFF_SAME;
}

/* Drift identity: content, type, mode, owner, xattrs; directories have no content, mtime never counts. */
static unsigned drift_changes(const struct diff_entry *merged, const struct diff_entry *base)
{
	return diff_entry_changes(merged, base, false);
}

/*
 * The lower entry lidx shows through, unchanged by upper, at merged path
 * (mp, mlen) (a redirected dir's content): compare it and its subtree with
 * the base at the merged path.  None of it is in upper.
 */
static int compare_lower_subtree(struct walk *w, size_t lidx, const char *mp, size_t mlen)
{
	struct diff_entry l, b;
	size_t begin, end;
	int r;
	_cleanup_free_ char *mpath = strndup(mp, mlen);
	if (!mpath)
		return -ENOMEM;

	diff_manifest_get(w->base, lidx, &l);
	const char *lpath = l.path;
	size_t llen = l.path_len;
	/* Every lower path lpath/rest shows at mpath/rest. */
	diff_manifest_subtree(w->base, lpath, llen, &begin, &end);
	for (size_t i = lidx; i < end; i = i == lidx ? begin : i + 1) {
		diff_manifest_get(w->base, i, &l);
		const char *rest = l.path + llen + (i == lidx ? 0 : 1);
		size_t rlen = l.path_len - (size_t)(rest - l.path);
		if ((r = scratch_join(w, mpath, mlen, rest, rlen)) < 0)
			return r;
		struct emit e = { .mode = l.mode, .size = l.size };
		if (!find_entry(w->base, w->scratch.p, w->scratch.len, &b))
			e.cls = DIFF_ADDED;
		else {
			e.changes = drift_changes(&l, &b);
			e.cls = class_of(e.changes);
			if (e.cls == DIFF_SAME)
				continue;
		}
		if ((r = emit(w, w->scratch.p, w->scratch.len, &e)) < 0)
			return r;
	}
	/* Base paths below mpath with no lower counterpart are hidden. */
	diff_manifest_subtree(w->base, mpath, mlen, &begin, &end);
	for (size_t i = begin; i < end; i++) {
		diff_manifest_get(w->base, i, &b);
		const char *rest = b.path + mlen + 1;
		if ((r = scratch_join(w, lpath, llen, rest, b.path_len - mlen - 1)) < 0)
			return r;
		if (diff_manifest_find(w->base, w->scratch.p, w->scratch.len) < 0 &&
		    (r = emit_base(w, DIFF_DELETED, 0, &b)) < 0)
			return r;
	}
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool has_name(char **names, size_t n, const char *name)
{
	return bsearch(&name, names, n, sizeof(*names), cmp_name) != NULL;
}

/*
 * The merged dir at w->path does not simply overlay the base dir of the same
 * path: account for the base names upper does not mention (deleted, or
 * replaced by the lower dir's entry of that name).
 */
static int merge_dir_names(struct walk *w, const struct lower *lo, char **names, size_t n)
{
	const struct diff_manifest *m = w->base;
	_cleanup_free_ char *p = strndup(w->path.p, w->path.len);
	size_t plen = w->path.len, begin, end;
	struct diff_entry e;
	int r;

	if (!p)
		return -ENOMEM;
	qsort(names, n, sizeof(*names), cmp_name);
	/*
	 * Direct children of the base dir.  Their subtrees interleave with
	 * siblings in byte order ("a/x" sorts after "a-b"), so scan the range
	 * and skip deeper paths; this runs only for opaque or redirected dirs.
	 */
	diff_manifest_subtree(m, p, plen, &begin, &end);
	for (size_t i = begin; i < end; i++) {
		diff_manifest_get(m, i, &e);
		const char *name = e.path + (plen ? plen + 1 : 0);
		if (strchr(name, '/'))
			continue;
		bool in_lower = false;
		if (lo->kind == LOWER_OTHER) {
			if ((r = scratch_join(w, lo->path, lo->len, name, strlen(name))) < 0)
				return r;
			in_lower = diff_manifest_find(m, w->scratch.p, w->scratch.len) >= 0;
		}
		if (!has_name(names, n, name) && !in_lower && (r = emit_deleted_subtree(w, i)) < 0)
			return r;
	}
	if (lo->kind != LOWER_OTHER)
		return 0;
	/* Names of the lower dir that upper does not mention show through. */
	_cleanup_free_ char *lp = strndup(lo->path, lo->len);
	if (!lp)
		return -ENOMEM;
	diff_manifest_subtree(m, lp, lo->len, &begin, &end);
	for (size_t i = begin; i < end; i++) {
		diff_manifest_get(m, i, &e);
		const char *name = e.path + (lo->len ? lo->len + 1 : 0);
		if (strchr(name, '/') || has_name(names, n, name))
			continue;
		_cleanup_free_ char *mp = NULL;
		if (asprintf(&mp, "%s%s%s", p, plen ? "/" : "", name) < 0)
			return -ENOMEM;
		if ((r = compare_lower_subtree(w, i, mp, strlen(mp))) < 0)
			return r;
	}
	return 0;
}

/*
 * Where the lower content of upper entry `name` (in a dir whose lower is
 * parent) is: its redirect when it has one (absolute: from the layer root;
 * relative: a name in the parent's lower dir), else the same name in the
 * parent's lower dir.  kind NONE when nothing is below.
 */
static int lower_of(struct walk *w, const struct lower *parent, const char *name, const char *redirect,
		    struct lower *ret, char **ret_buf)
{
	const char *ppath = parent->kind == LOWER_OTHER ? parent->path : w->path.p;
	size_t plen = parent->kind == LOWER_OTHER ? parent->len : w->path.len;
	/* w->path holds the entry itself here: strip "/name" to get the parent's path */
	if (parent->kind != LOWER_OTHER) {
		size_t nl = strlen(name);
		plen = w->path.len >= nl + 1 ? w->path.len - nl - 1 : 0;
	}
	*ret_buf = NULL;
	/*
	 * Below an opaque dir nothing of the lower is looked up, except through
	 * an absolute redirect, which the kernel resolves from the layer root.
	 */
	if (redirect && redirect[0] != '/' && parent->kind == LOWER_NONE)
		redirect = NULL;
	if (redirect) {
		if (redirect[0] == '/') {
			while (*redirect == '/')
				redirect++;
			*ret_buf = strdup(redirect);
		} else if (asprintf(ret_buf, "%.*s%s%s", (int)plen, ppath, plen ? "/" : "", redirect) < 0)
			*ret_buf = NULL;
		if (!*ret_buf)
			return -ENOMEM;
		*ret = (struct lower){ LOWER_OTHER, *ret_buf, strlen(*ret_buf) };
	} else if (parent->kind == LOWER_NONE) {
		*ret = (struct lower){ LOWER_NONE, NULL, 0 };
		return 0;
	} else if (parent->kind == LOWER_SAME) {
		*ret = (struct lower){ LOWER_SAME, NULL, 0 };
		return 0;
	} else {
		if (asprintf(ret_buf, "%.*s%s%s", (int)plen, ppath, plen ? "/" : "", name) < 0)
			return -ENOMEM;
		*ret = (struct lower){ LOWER_OTHER, *ret_buf, strlen(*ret_buf) };
	}
	/* A redirect back to the entry's own path is the same as none. */
	if (ret->len == w->path.len && memcmp(ret->path, w->path.p, ret->len) == 0)
		*ret = (struct lower){ LOWER_SAME, NULL, 0 };
	return 0;
}

/* Base entry of a lower position, if it exists. */
static bool lower_entry(struct walk *w, const struct lower *lo, struct diff_entry *ret)
{
	if (lo->kind == LOWER_NONE)
		return false;
	if (lo->kind == LOWER_SAME)
		return find_entry(w->base, w->path.p, w->path.len, ret);
	return find_entry(w->base, lo->path, lo->len, ret);
}

/* Base entry at the merged path of the entry at hand (a child of the dir being walked). */
static bool find_in_dir(struct walk *w, struct diff_entry *ret, size_t *ret_pos)
{
	/*
	 * Names in byte order (a cached dir's) find their entries in order:
	 * look from the cursor forward, widening the step; a name before the
	 * cursor (readdir order) searches the part before it.  Either way the
	 * answer is the binary search's: only where it starts differs.
	 */
	size_t lo = w->cursor, hi = w->range_end, step = 1;
	int c = lo < hi ? diff_manifest_cmp_at(w->base, lo, w->range_skip, w->path.p, w->path.len) : 1;
	if (c > 0) {
		hi = lo;
		lo = w->range_begin;
	} else if (c < 0) {
		lo++;
		while (lo + step < hi &&
		       diff_manifest_cmp_at(w->base, lo + step, w->range_skip, w->path.p, w->path.len) < 0) {
			lo += step + 1;
			step *= 2;
		}
		if (lo + step < hi)
			hi = lo + step + 1;
	}
	ssize_t i = diff_manifest_find_range(w->base, lo, hi, w->range_skip, w->path.p, w->path.len);
	if (i < 0) {
		w->cursor = lo < w->range_end ? lo : w->range_end;
		return false;
	}
	w->cursor = (size_t)i;
	diff_manifest_get(w->base, (size_t)i, ret);
	*ret_pos = (size_t)i + 1;
	return true;
}

/* Hash an upper file; remember it (with its xattr digest) in the cache when that is safe. */
static int hash_upper_file(struct walk *w, int dfd, const char *name, const struct stat *st,
			   uint8_t out[DIFF_HASH_SIZE], const uint8_t xattrs[DIFF_HASH_SIZE], bool cacheable)
{
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return lc_err_ret(w->err, -errno, "/%s: open: %m", w->path.p);
	uint64_t bytes;
	int r = diff_hash_fd(w->h, fd, out, &bytes);
	if (r < 0)
		return lc_err_ret(w->err, r, "/%s: read: %s", w->path.p, strerror(-r));
	w->res->hashed_files++;
	w->res->hashed_bytes += bytes;
	if (w->cache && cacheable && bytes == (uint64_t)st->st_size)
		return diff_cache_remember(w->cache, st, out, xattrs);
	return 0;
}

static int walk_dir(struct walk *w, int owned_fd, const struct lower *lo, bool plain, const struct dir_source *src);

/* One upper entry (w->path is its merged path). */
/* One upper entry being classified, and what was learnt about it so far. */
struct upper_entry {
	int dfd;
	const char *name;
	struct stat st;
	struct diff_entry u;      /* the upper entry as a manifest entry */
	struct diff_entry b;      /* the base entry at the same path (if have_base) */
	bool have_base, cached, private;
	size_t base_pos;          /* manifest index + 1 of b */
	bool cached_dir;          /* a dir whose names and xattr digest came from the cache */
	const char *dir_names;
	size_t dir_names_len, dir_n;
	struct ov_entry_info info;
};

static void upper_entry_done(struct upper_entry *x)
{
	ov_entry_info_done(&x->info);
}

/*
 * stat the entry, take its hashes from the cache when it may, and decode its
 * overlay xattrs.  1: go on; 0: the entry vanished (a running child).
 */
static int read_upper_entry(struct walk *w, struct upper_entry *x)
{
	int r;
	/*
	 * A mounted, running child may remove entries under us: what vanished
	 * between readdir and here is simply not there (ENOENT below).
	 */
	if (fstatat(x->dfd, x->name, &x->st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : lc_err_ret(w->err, -errno, "/%s: stat: %m", w->path.p);
	w->res->upper_entries++;
	w->res->upper_bytes += (uint64_t)x->st.st_blocks * 512;
	x->have_base = find_in_dir(w, &x->b, &x->base_pos);

	/*
	 * A file of the base file's size would be hashed: the cache may know
	 * both its hash and its xattr digest (only entries without overlay
	 * xattrs that matter are ever stored).
	 */
	x->cached = w->cache && S_ISREG(x->st.st_mode) && x->have_base && S_ISREG(x->b.mode) &&
		    (uint64_t)x->st.st_size == x->b.size &&
		    diff_cache_lookup(w->cache, &x->st, x->u.content, x->u.xattrs);
	if (x->cached)
		w->res->cache_hits++;
	/* An unchanged dir: same names, same xattrs (only dirs without overlay xattrs that matter are stored). */
	x->cached_dir = w->cache && S_ISDIR(x->st.st_mode) &&
			diff_cache_lookup_dir(w->cache, &x->st, x->u.xattrs, &x->dir_names, &x->dir_names_len, &x->dir_n);
	if (x->cached_dir) {
		w->res->dir_cache_hits++;
		return 1;
	}

	if (S_ISCHR(x->st.st_mode) && x->st.st_rdev == makedev(0, 0)) {
		x->info.kind = OV_ENTRY_WHITEOUT;
		return 1;
	}
	if (x->cached)
		return 1;
	r = diff_xattr_digest(w->h, x->dfd, x->name, x->u.xattrs, &x->private);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return lc_err_ret(w->err, r, "/%s: xattrs: %s", w->path.p, strerror(-r));
	if (x->private && (r = ov_read_entry(x->dfd, x->name, &x->st, &x->info)) < 0)
		return lc_err_ret(w->err, r, "/%s: overlay xattrs: %s", w->path.p, strerror(-r));
	return 1;
}

/* A directory in the upper: classify it, then walk into it. */
static int classify_upper_dir(struct walk *w, struct upper_entry *x, struct lower *lo, struct emit *e,
			      bool parent_plain)
{
	struct diff_entry ld;
	int r;

	/* Lower shows through only when the lower entry is a dir and this one is not opaque. */
	bool have_lower;
	if (lo->kind == LOWER_SAME) { /* the base entry at this path: already looked up */
		have_lower = x->have_base;
		ld = x->b;
	} else
		have_lower = lower_entry(w, lo, &ld);
	if (x->info.opaque || !have_lower || !S_ISDIR(ld.mode))
		*lo = (struct lower){ LOWER_NONE, NULL, 0 };
	if (!x->have_base)
		e->cls = DIFF_ADDED;
	else {
		e->changes = drift_changes(&x->u, &x->b);
		if (x->info.opaque && !(e->changes & DIFF_CH_TYPE))
			e->cls = DIFF_OPAQUE;
		else {
			e->cls = class_of(e->changes);
			e->silent = e->cls == DIFF_SAME;
			e->vacuumable = e->silent && parent_plain && lo->kind == LOWER_SAME && !x->info.redirect &&
					!x->info.xwhiteouts && w->path.len > 0;
		}
	}
	if ((r = emit(w, w->path.p, w->path.len, e)) < 0)
		return r;
	struct dir_source src = {};
	if (x->cached_dir)
		src = (struct dir_source){ .names = x->dir_names, .len = x->dir_names_len, .n = x->dir_n };
	else if (w->cache && !x->private)
		src = (struct dir_source){ .st = &x->st, .xattrs = x->u.xattrs };
	/* A cached dir is not read: O_PATH is all its entries' *at() calls need. */
	int fd = openat(x->dfd, x->name,
			(x->cached_dir ? O_PATH : O_RDONLY) | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : lc_err_ret(w->err, -errno, "/%s: open: %m", w->path.p);
	bool plain = parent_plain && lo->kind == LOWER_SAME && !x->info.redirect;
	return walk_dir(w, fd, lo, plain, &src);
}

/* The upper replaced a base entry by one of another type: a base dir's content is gone with it. */
static int emit_type_change(struct walk *w, const struct upper_entry *x, struct emit *e)
{
	int r;
	e->cls = DIFF_MODIFIED;
	e->changes = DIFF_CH_TYPE;
	if ((r = emit(w, w->path.p, w->path.len, e)) < 0)
		return r;
	if (!S_ISDIR(x->b.mode))
		return 0;
	size_t begin, end;
	diff_manifest_subtree(w->base, x->b.path, x->b.path_len, &begin, &end);
	for (size_t i = begin; i < end; i++) {
		struct diff_entry d;
		diff_manifest_get(w->base, i, &d);
		if ((r = emit_base(w, DIFF_DELETED, 0, &d)) < 0)
			return r;
	}
	return 0;
}

/* The content hash of an upper regular file, read only when it can matter.  0, or -ENOENT: vanished. */
static int upper_file_content(struct walk *w, struct upper_entry *x, const struct lower *lo, struct emit *e)
{
	struct diff_entry src;
	if (x->info.metacopy) {
		/* Metadata only: the content is the lower file's (at its redirect, if any). */
		if (lower_entry(w, lo, &src) && S_ISREG(src.mode)) {
			memcpy(x->u.content, src.content, DIFF_HASH_SIZE);
			x->u.size = src.size;
			e->size = src.size;
			return 0;
		}
		return hash_upper_file(w, x->dfd, x->name, &x->st, x->u.content, x->u.xattrs, false);
	}
	if (x->u.size == x->b.size)
		return x->cached ? 0 : hash_upper_file(w, x->dfd, x->name, &x->st, x->u.content, x->u.xattrs, !x->private);
	memset(x->u.content, 0, DIFF_HASH_SIZE); /* sizes differ: no need to read it */
	return 0;
}

/* A file, symlink or special file in the upper. */
static int classify_upper_leaf(struct walk *w, struct upper_entry *x, const struct lower *lo,
			       const struct lower *parent_lo, bool parent_plain, struct emit *e)
{
	int r;
	if (S_ISLNK(x->st.st_mode)) {
		ssize_t n = readlinkat(x->dfd, x->name, w->target, sizeof(w->target) - 1);
		if (n < 0)
			return errno == ENOENT ? 0 : lc_err_ret(w->err, -errno, "/%s: readlink: %m", w->path.p);
		w->target[n] = '\0';
		x->u.target = w->target;
		x->u.target_len = (size_t)n;
	} else
		x->u.target = "";

	if (!x->have_base) {
		e->cls = DIFF_ADDED;
		return emit(w, w->path.p, w->path.len, e);
	}
	if ((x->b.mode & S_IFMT) != (x->st.st_mode & S_IFMT))
		return emit_type_change(w, x, e);
	if (S_ISREG(x->st.st_mode) && (r = upper_file_content(w, x, lo, e)) < 0)
		return r == -ENOENT ? 0 : r;
	e->changes = drift_changes(&x->u, &x->b);
	e->cls = class_of(e->changes);
	/* A hard-linked copy is not removed: the other names would lose their link. */
	e->vacuumable = e->cls == DIFF_SAME && parent_plain && parent_lo->kind == LOWER_SAME && !x->info.redirect &&
			x->st.st_nlink == 1;
	return emit(w, w->path.p, w->path.len, e);
}

static int walk_entry(struct walk *w, int dfd, const char *name, const struct lower *parent_lo, bool parent_plain)
{
	_cleanup_(upper_entry_done) struct upper_entry x = { .dfd = dfd, .name = name };
	int r = read_upper_entry(w, &x);
	if (r <= 0)
		return r;
	if (x.info.kind == OV_ENTRY_WHITEOUT) {
		/* A whiteout of a name the base lacks (e.g. after a redirect) hides nothing there. */
		if (!x.have_base)
			return 0;
		return emit_deleted_subtree(w, (size_t)diff_manifest_find(w->base, w->path.p, w->path.len));
	}

	diff_entry_from_stat(&x.u, &x.st);
	unshift(w, &x.u);
	struct lower lo;
	_cleanup_free_ char *lo_buf = NULL;
	if ((r = lower_of(w, parent_lo, name, x.info.redirect, &lo, &lo_buf)) < 0)
		return r;
	struct emit e = { .base_pos = x.base_pos, .mode = x.st.st_mode, .size = x.u.size, .disk_bytes = (uint64_t)x.st.st_blocks * 512,
			  .in_upper = true, .metacopy = x.info.metacopy, .redirect = x.info.redirect != NULL };
	if (S_ISDIR(x.st.st_mode))
		return classify_upper_dir(w, &x, &lo, &e, parent_plain);
	return classify_upper_leaf(w, &x, &lo, parent_lo, parent_plain, &e);
}

/* The names of a dir: from readdir, or from the cache's list (src->names). */
struct dir_iter {
	DIR *d;
	const char *next, *end;
};

/* NULL at the end (errno set on a readdir error). */
static const char *dir_next(struct dir_iter *it)
{
	if (!it->d) {
		if (it->next >= it->end)
			return NULL;
		const char *name = it->next;
		it->next += strlen(name) + 1;
		return name;
	}
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(it->d);
		if (!de)
			return NULL;
		if (!STREQ(de->d_name, ".") && !STREQ(de->d_name, ".."))
			return de->d_name;
	}
}

static _Thread_local const char *name_sort_pool;

static int cmp_name_off(const void *a, const void *b)
{
	return strcmp(name_sort_pool + *(const size_t *)a, name_sort_pool + *(const size_t *)b);
}

/*
 * Remember a dir's names in the cache, in byte order: the next walk then
 * looks their base entries up in order (find_in_dir).  offs is reordered.
 */
static int remember_names(struct walk *w, const struct dir_source *src, const struct dbuf *pool, size_t *offs, size_t n)
{
	name_sort_pool = pool->p;
	if (n > 1)
		qsort(offs, n, sizeof(*offs), cmp_name_off);
	_cleanup_free_ char *sorted = malloc(pool->len ? pool->len : 1);
	if (!sorted)
		return -ENOMEM;
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(pool->p + offs[i]) + 1;
		memcpy(sorted + len, pool->p + offs[i], l);
		len += l;
	}
	return diff_cache_remember_dir(w->cache, src->st, src->xattrs, sorted, len, n);
}

/* Walk the dir open at owned_fd (closed here, whatever happens). */
static int walk_dir(struct walk *w, int owned_fd, const struct lower *lo, bool plain, const struct dir_source *src)
{
	size_t saved = w->path.len;
	size_t saved_range[4] = { w->range_begin, w->range_end, w->range_skip, w->cursor };
	bool remember = src->st != NULL;
	bool collect = lo->kind != LOWER_SAME || remember;
	_cleanup_free_ char **names = NULL;
	struct dbuf name_pool = {};
	size_t n_names = 0, alloc_names = 0;
	_cleanup_free_ size_t *offs = NULL;
	struct dir_iter it = {};
	int dfd = owned_fd, r = 0;

	if (src->names) {
		it.next = src->names;
		it.end = src->names + src->len;
	} else {
		it.d = fdopendir(owned_fd);
		if (!it.d) {
			close(owned_fd);
			return -errno;
		}
		dfd = dirfd(it.d);
	}
	/* Every base path below this dir is in its subtree (inside its parent's): lookups of its entries search only there. */
	/*
	 * Every parent entry before the parent's cursor sorts before this dir
	 * (find_in_dir just looked it up), so its subtree starts at or after it.
	 */
	if (saved)
		diff_manifest_subtree_in(w->base, w->cursor > w->range_begin ? w->cursor : w->range_begin, w->range_end,
					 w->path.p, saved, &w->range_begin, &w->range_end);
	else
		diff_manifest_subtree(w->base, w->path.p, saved, &w->range_begin, &w->range_end);
	w->range_skip = saved ? saved + 1 : 0;
	w->cursor = w->range_begin;
	for (;;) {
		const char *name = dir_next(&it);
		if (!name) {
			if (it.d && errno)
				r = lc_err_ret(w->err, -errno, "/%s: readdir: %m", w->path.p);
			break;
		}
		size_t nl = strlen(name);
		w->path.len = saved;
		if ((r = dbuf_reserve(&w->path, nl + 2)) < 0)
			break;
		if (saved)
			w->path.p[w->path.len++] = '/';
		memcpy(w->path.p + w->path.len, name, nl + 1);
		w->path.len += nl;
		if (collect) {
			if (n_names == alloc_names) {
				alloc_names = alloc_names ? alloc_names * 2 : 64;
				size_t *no = realloc(offs, alloc_names * sizeof(*no));
				if (!no) {
					r = -ENOMEM;
					break;
				}
				offs = no;
			}
			offs[n_names++] = name_pool.len;
			if ((r = dbuf_append(&name_pool, name, nl + 1)) < 0)
				break;
		}
		if ((r = walk_entry(w, dfd, name, lo, plain)) < 0)
			break;
	}
	w->path.len = saved;
	w->path.p[saved] = '\0';
	w->range_begin = saved_range[0];
	w->range_end = saved_range[1];
	w->range_skip = saved_range[2];
	w->cursor = saved_range[3];
	/* Read whole and without error: the names can serve the next walk (diff_cache_save applies the racy rule). */
	if (r == 0 && collect && lo->kind != LOWER_SAME) {
		names = malloc((n_names + 1) * sizeof(*names));
		if (!names)
			r = -ENOMEM;
		for (size_t i = 0; r == 0 && i < n_names; i++)
			names[i] = name_pool.p + offs[i];
		if (r == 0)
			r = merge_dir_names(w, lo, names, n_names);
	}
	if (r == 0 && remember)
		r = remember_names(w, src, &name_pool, offs, n_names);
	dbuf_done(&name_pool);
	if (it.d)
		closedir(it.d);
	else
		close(owned_fd);
	return r;
}

static _Thread_local const char *sort_pool;

static int change_cmp(const void *a, const void *b)
{
	const struct diff_change *x = a, *y = b;
	/* Both in the base manifest, which is sorted in path order: their indices compare the same, cheaper. */
	int c = x->base_pos && y->base_pos ? (x->base_pos > y->base_pos) - (x->base_pos < y->base_pos)
					    : diff_path_cmp(sort_pool + x->path_off, x->path_len,
							    sort_pool + y->path_off, y->path_len);
	if (c)
		return c;
	/* The same path twice (a type change hiding a base subtree is not one of them): keep it stable. */
	return x->cls - y->cls;
}

int diff_classify(int upper_fd, const struct diff_manifest *base, struct diff_hash_cache *cache,
		  struct diff_result *ret, struct lc_err *err)
{
	return diff_classify_shifted(upper_fd, base, cache, 0, 0, ret, err);
}

int diff_classify_shifted(int upper_fd, const struct diff_manifest *base, struct diff_hash_cache *cache,
			  uint32_t shift_base, uint32_t shift_count, struct diff_result *ret, struct lc_err *err)
{
	struct walk w = { .base = base, .cache = cache, .res = ret, .err = err, .shift_base = shift_base,
			  .shift_count = shift_count };
	struct stat st;
	struct diff_entry u = {}, b;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (cache) {
		size_t files = 0, dirs = 0;
		diff_cache_stats(cache, &files, NULL, NULL);
		diff_cache_dir_stats(cache, &dirs, NULL, NULL);
		/* Each entry at most once, plus what appeared since; paths of 64 bytes on average, at a guess. */
		size_t n = files + dirs + 64;
		if ((r = reserve(ret, n, n * 64)) < 0) {
			diff_result_done(ret);
			return r;
		}
	}
	if ((r = diff_hasher_new(&w.h)) < 0) {
		diff_result_done(ret);
		return r;
	}
	diff_hasher_set_unshift(w.h, shift_base, shift_count);
	if ((r = dbuf_reserve(&w.path, 256)) < 0)
		goto out;
	w.path.p[0] = '\0';
	if (fstat(upper_fd, &st) < 0) {
		r = lc_err_ret(err, -errno, "upper dir: %m");
		goto out;
	}
	/* The root: its mode, owner and xattrs are what the merged "/" shows. */
	diff_entry_from_stat(&u, &st);
	unshift(&w, &u);
	struct dir_source src = {};
	bool private = false;
	if (cache && diff_cache_lookup_dir(cache, &st, u.xattrs, &src.names, &src.len, &src.n))
		ret->dir_cache_hits++;
	else if ((r = diff_xattr_digest(w.h, upper_fd, ".", u.xattrs, &private)) < 0) {
		lc_err_set(err, "upper dir: xattrs: %s", strerror(-r));
		goto out;
	} else if (cache && !private)
		src = (struct dir_source){ .st = &st, .xattrs = u.xattrs };
	if (find_entry(base, "", 0, &b)) {
		unsigned ch = drift_changes(&u, &b);
		if (ch && (r = emit(&w, "", 0, &(struct emit){ .cls = class_of(ch), .changes = ch, .mode = st.st_mode,
						      .in_upper = true })) < 0)
			goto out;
	}
	struct lower same = { LOWER_SAME, NULL, 0 };
	/* Our own open file description: reading the caller's fd would move its offset. */
	int root_fd = openat(upper_fd, ".", (src.names ? O_PATH : O_RDONLY) | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		r = lc_err_ret(err, -errno, "upper dir: %m");
		goto out;
	}
	if ((r = walk_dir(&w, root_fd, &same, true, &src)) < 0)
		goto out;
	sort_pool = ret->pool;
	if (ret->n)
		qsort(ret->v, ret->n, sizeof(*ret->v), change_cmp);
out:
	diff_hasher_free(w.h);
	dbuf_done(&w.path);
	dbuf_done(&w.scratch);
	if (r < 0)
		diff_result_done(ret);
	return r;
}
