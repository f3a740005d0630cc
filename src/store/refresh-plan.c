/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Refresh, the plan: the delta between two generations' manifests and, for
 * each path in it, what the child's upper dir holds and what to do with it.
 * Nothing here changes the store (see refresh.c for the whole picture).
 */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>

#include "diff/diff.h"
#include "overlay/overlay.h"
#include "src/basic/fileio.h"
#include "src/store/refresh-internal.h"
#include "src/store/uidrange.h"

/* ---- the delta between two generations ---- */

struct delta_pair {
	ssize_t o, b; /* index in the O / B manifest, -1 when absent */
};

struct refresh_delta {
	struct diff_manifest *from, *to;
	struct delta_pair *v;
	size_t n, alloc;
	char *base;
	unsigned from_gen, to_gen;
};

void refresh_delta_free(struct refresh_delta *d)
{
	if (!d)
		return;
	if (d->from)
		diff_manifest_free(d->from);
	if (d->to)
		diff_manifest_free(d->to);
	free(d->v);
	free(d->base);
	free(d);
}

size_t refresh_delta_count(const struct refresh_delta *d)
{
	return d->n;
}

static int delta_cb(const struct diff_entry *a, const struct diff_entry *b, unsigned changes, void *userdata)
{
	struct refresh_delta *d = userdata;
	if (d->n == d->alloc) {
		size_t na = d->alloc ? d->alloc * 2 : 256;
		struct delta_pair *v = realloc(d->v, na * sizeof(*v));
		if (!v)
			return -ENOMEM;
		d->v = v;
		d->alloc = na;
	}
	const struct diff_entry *e = a ? a : b;
	ssize_t o = a ? diff_manifest_find(d->from, e->path, e->path_len) : -1;
	ssize_t bi = b ? diff_manifest_find(d->to, e->path, e->path_len) : -1;
	d->v[d->n++] = (struct delta_pair){ o, bi };
	return 0;
}

int refresh_open_gen_manifest(struct store *s, const char *base, unsigned gen, struct diff_manifest **ret, struct lc_err *err)
{
	_cleanup_free_ char *path = store_gen_manifest(s, base, gen);
	struct lc_err e = { "" };
	if (!path)
		return -ENOMEM;
	int r = diff_manifest_open(path, ret, &e);
	if (r == -ENOENT)
		return lc_err_ret(err, r, "base %s has no generation %u (%s missing)", base, gen, path);
	if (r < 0)
		return lc_err_ret(err, r, "manifest of base %s generation %u: %s", base, gen, e.msg[0] ? e.msg : strerror(-r));
	return 0;
}

int refresh_delta_load(struct store *s, const char *base, unsigned from, unsigned to, struct refresh_delta **ret,
		       struct lc_err *err)
{
	struct refresh_delta *d = calloc(1, sizeof(*d));
	int r;
	if (!d || !(d->base = strdup(base))) {
		free(d);
		return -ENOMEM;
	}
	d->from_gen = from;
	d->to_gen = to;
	if ((r = refresh_open_gen_manifest(s, base, from, &d->from, err)) < 0 ||
	    (r = refresh_open_gen_manifest(s, base, to, &d->to, err)) < 0) {
		refresh_delta_free(d);
		return r;
	}
	/* mtime is never part of identity: with_times = false. */
	r = diff_manifest_compare(d->from, d->to, false, delta_cb, d);
	if (r < 0) {
		refresh_delta_free(d);
		return lc_err_ret(err, r, "comparing generations %u and %u: %s", from, to, strerror(-r));
	}
	*ret = d;
	return 0;
}

/* ---- looking at the upper dir ---- */

enum comp_kind {
	COMP_DIR,     /* a plain (or opaque) dir in upper */
	COMP_MISSING, /* not in upper: the lower shows through from here */
	COMP_HIDDEN,  /* a whiteout or a non-dir: hides the base below it */
};

struct comp {
	size_t end;       /* the component is path[0..end) */
	enum comp_kind kind;
	bool opaque, xwhiteouts, in_opaque; /* in_opaque: this or an ancestor is opaque */
};

struct planner {
	struct store *store;
	const struct child_info *c;
	const struct refresh_delta *d;
	struct refresh_plan *plan;
	struct lc_err *err;
	int upper_fd;
	struct diff_hasher *h;
	struct comp *comps;  /* ancestors of the previous path, top down */
	size_t n_comps, alloc_comps;
	char *prev;          /* the previous path (the comps cache key) */
	size_t prev_len;
	struct uid_range shift; /* the upper's owners are stored shifted (user-namespace child) */
};

static int check_overlay_xattrs(struct planner *pl, const char *path, const struct ov_entry_info *info)
{
	if (info->redirect)
		return lc_err_ret(pl->err, -EOPNOTSUPP,
			    "/%s carries an overlay redirect xattr; overlayfs cannot switch the lower layer under it "
			    "(children are mounted with redirect_dir=off: was this upper made elsewhere?)", path);
	if (info->metacopy)
		return lc_err_ret(pl->err, -EOPNOTSUPP,
			    "/%s carries an overlay metacopy xattr: its content is in the old generation, which "
			    "refresh replaces", path);
	return 0;
}

/* Work out the component path[0..end) below the component before it. */
static int look_component(struct planner *pl, const char *path, size_t end, struct comp *ret)
{
	_cleanup_free_ char *p = strndup(path, end);
	struct stat st;
	bool in_opaque = pl->n_comps > 0 && pl->comps[pl->n_comps - 1].in_opaque;
	int r;

	if (!p)
		return -ENOMEM;
	*ret = (struct comp){ .end = end, .in_opaque = in_opaque };
	if (fstatat(pl->upper_fd, p, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return lc_err_ret(pl->err, -errno, "upper dir: /%s: %m", p);
		ret->kind = COMP_MISSING;
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		ret->kind = COMP_HIDDEN;
		return 0;
	}
	_cleanup_(ov_entry_info_done) struct ov_entry_info info = {};
	if ((r = ov_read_entry(pl->upper_fd, p, &st, &info)) < 0)
		return lc_err_ret(pl->err, r, "upper dir: /%s: overlay xattrs: %s", p, strerror(-r));
	if ((r = check_overlay_xattrs(pl, p, &info)) < 0)
		return r;
	ret->kind = COMP_DIR;
	ret->opaque = info.opaque;
	ret->xwhiteouts = info.xwhiteouts;
	ret->in_opaque = in_opaque || info.opaque;
	return 0;
}

/*
 * Resolve the ancestors of path (len bytes) in upper, reusing what the
 * previous path shared with it (paths arrive sorted).  On return the last
 * element of pl->comps is the first non-dir ancestor, or the parent.
 */
static int look_ancestors(struct planner *pl, const char *path, size_t len)
{
	/* Keep the cached components that are prefixes of this path. */
	while (pl->n_comps > 0) {
		const struct comp *k = &pl->comps[pl->n_comps - 1];
		if (k->end < len && path[k->end] == '/' && k->end <= pl->prev_len && memcmp(path, pl->prev, k->end) == 0)
			break;
		pl->n_comps--;
	}
	free(pl->prev);
	if (!(pl->prev = strndup(path, len)))
		return -ENOMEM;
	pl->prev_len = len;
	if (pl->n_comps > 0 && pl->comps[pl->n_comps - 1].kind != COMP_DIR)
		return 0;
	size_t start = pl->n_comps ? pl->comps[pl->n_comps - 1].end + 1 : 0;
	for (size_t i = start; i < len; i++) {
		if (path[i] != '/')
			continue;
		if (pl->n_comps == pl->alloc_comps) {
			size_t na = pl->alloc_comps ? pl->alloc_comps * 2 : 16;
			struct comp *v = realloc(pl->comps, na * sizeof(*v));
			if (!v)
				return -ENOMEM;
			pl->comps = v;
			pl->alloc_comps = na;
		}
		struct comp k;
		int r = look_component(pl, path, i, &k);
		if (r < 0)
			return r;
		pl->comps[pl->n_comps++] = k;
		if (k.kind != COMP_DIR)
			break;
	}
	return 0;
}

/* The identity of an upper entry, as a manifest would record it. */
struct upper_entry {
	struct stat st;
	bool whiteout, opaque;
	struct diff_entry e;
	char target[PATH_MAX + 1];
};

static void entry_from_stat(struct diff_entry *e, const struct stat *st)
{
	e->mode = st->st_mode;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->nlink = (uint32_t)st->st_nlink;
	e->size = S_ISREG(st->st_mode) || S_ISLNK(st->st_mode) ? (uint64_t)st->st_size : 0;
	e->rdev = S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ? (uint64_t)st->st_rdev : 0;
	e->mtime_sec = st->st_mtim.tv_sec;
	e->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
}

/*
 * Read upper/path: 0 found (filled), -ENOENT when absent.  Content is hashed
 * only when it could equal the O or B version (same size).
 */
static int read_upper_entry(struct diff_hasher *h, int upper_fd, const char *path, bool parent_x,
			    const struct diff_entry *o, const struct diff_entry *b, struct upper_entry *u, struct lc_err *err)
{
	bool private = false;
	int r;

	memset(u, 0, sizeof(*u));
	if (fstatat(upper_fd, path, &u->st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? -ENOENT : lc_err_ret(err, -errno, "upper dir: /%s: %m", path);
	entry_from_stat(&u->e, &u->st);
	u->e.path = path;
	u->e.path_len = strlen(path);
	u->e.target = "";
	if (S_ISCHR(u->st.st_mode) && u->st.st_rdev == makedev(0, 0)) {
		u->whiteout = true;
		return 0;
	}
	if ((r = diff_xattr_digest(h, upper_fd, path, u->e.xattrs, &private)) < 0)
		return lc_err_ret(err, r, "upper dir: /%s: xattrs: %s", path, strerror(-r));
	if (private) {
		_cleanup_(ov_entry_info_done) struct ov_entry_info info = {};
		if ((r = ov_read_entry(upper_fd, path, &u->st, &info)) < 0)
			return lc_err_ret(err, r, "upper dir: /%s: overlay xattrs: %s", path, strerror(-r));
		if (info.redirect || info.metacopy)
			return lc_err_ret(err, -EOPNOTSUPP, "/%s carries an overlay %s xattr; overlayfs cannot switch the lower "
				    "layer under it (children are mounted with redirect_dir=off,metacopy=off: was this "
				    "upper made elsewhere?)", path, info.redirect ? "redirect" : "metacopy");
		u->whiteout = info.kind == OV_ENTRY_WHITEOUT;
		u->opaque = info.opaque;
		if (u->whiteout)
			return 0;
	}
	if (S_ISLNK(u->st.st_mode)) {
		ssize_t n = readlinkat(upper_fd, path, u->target, sizeof(u->target) - 1);
		if (n < 0)
			return lc_err_ret(err, -errno, "upper dir: /%s: readlink: %m", path);
		u->target[n] = '\0';
		u->e.target = u->target;
		u->e.target_len = (size_t)n;
		u->e.size = (uint64_t)n;
	} else if (S_ISREG(u->st.st_mode) &&
		   ((o && S_ISREG(o->mode) && o->size == u->e.size) || (b && S_ISREG(b->mode) && b->size == u->e.size))) {
		_cleanup_close_ int fd = openat(upper_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return lc_err_ret(err, -errno, "upper dir: /%s: open: %m", path);
		if ((r = diff_hash_fd(h, fd, u->e.content, NULL)) < 0)
			return lc_err_ret(err, r, "upper dir: /%s: read: %s", path, strerror(-r));
	}
	return 0;
}

/* ---- the plan ---- */

void refresh_plan_done(struct refresh_plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->items[i].path);
	free(p->items);
	free(p->child);
	free(p->base);
	memset(p, 0, sizeof(*p));
}

static int add_item(struct refresh_plan *p, char cls, enum refresh_action a, bool save_base, const char *path,
		    const char *why)
{
	if (p->n == p->alloc) {
		size_t na = p->alloc ? p->alloc * 2 : 64;
		struct refresh_item *v = realloc(p->items, na * sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->items = v;
		p->alloc = na;
	}
	char *dup = strdup(path);
	if (!dup)
		return -ENOMEM;
	p->items[p->n++] = (struct refresh_item){ .cls = cls, .action = a, .save_base = save_base, .path = dup, .why = why };
	p->counts[(unsigned char)cls]++;
	return 0;
}

#define META_CHANGES (DIFF_CH_MODE | DIFF_CH_OWNER | DIFF_CH_XATTRS)

static bool is_dir(const struct diff_entry *e)
{
	return e && S_ISDIR(e->mode);
}

/* A conflict, resolved by policy: keep C (saving B's version unless keep-child), or take B. */
static int conflict(struct planner *pl, const char *path, const struct diff_entry *b, bool removable, const char *why)
{
	enum refresh_policy pol = pl->plan->policy;
	if (pol == REFRESH_TAKE_BASE && removable)
		return add_item(pl->plan, RF_CONFLICT, RF_REMOVE, false, path, why);
	bool save = pol == REFRESH_DEFAULT && b && !S_ISDIR(b->mode);
	return add_item(pl->plan, RF_CONFLICT, RF_KEEP, save, path, why);
}

/* A path whose upper entry is missing under a dir that hides the base (whiteout, non-dir, opaque). */
static int plan_hidden(struct planner *pl, const char *path, const struct diff_entry *b, bool by_opaque)
{
	if (!b)
		return add_item(pl->plan, RF_CHILD_ONLY, RF_KEEP, false, path, NULL);
	return conflict(pl, path, b, false,
			by_opaque ? "hidden by an opaque dir of the child (the base added or changed it)"
				  : "deleted here (a parent dir), changed in base");
}

static struct refresh_item *find_item(struct refresh_plan *p, const char *path);

/* Is the upper entry path[0..len) (a whiteout or non-dir hiding what is below) planned for removal? */
static bool hider_goes(struct planner *pl, const char *path, size_t len)
{
	_cleanup_free_ char *p = strndup(path, len);
	const struct refresh_item *it = p ? find_item(pl->plan, p) : NULL;
	return it && it->action == RF_REMOVE;
}

/* An upper dir (not below an opaque one); whether a copy-up may go is decided once its content is planned. */
static int plan_dir(struct planner *pl, const char *path, const struct diff_entry *o, const struct diff_entry *b,
		    const struct upper_entry *u)
{
	if (is_dir(b)) {
		/*
		 * Opaque or not, a dir whose owner, mode and xattrs are O's takes
		 * B's (what the merged view shows is all that counts); an opaque
		 * dir's hidden entries are reported one by one below it.
		 */
		unsigned c_o = is_dir(o) ? diff_entry_changes(&u->e, o, false) : DIFF_CH_TYPE;
		unsigned c_b = diff_entry_changes(&u->e, b, false);
		if (c_b == 0)
			return add_item(pl->plan, RF_CONVERGED, RF_KEEP, false, path, NULL);
		if (c_o == 0)
			return add_item(pl->plan, RF_DIR_FOLLOWS, RF_DIR_META, false, path, NULL);
		return add_item(pl->plan, RF_CONFLICT, RF_KEEP, false, path, "dir owner/mode/xattrs changed here and in base");
	}
	/* B has no dir here: decided in finish_dirs(). */
	return add_item(pl->plan, 0, RF_KEEP, false, path, NULL);
}

/* What plan_by_ancestors returns when the ancestors leave the path to be planned (planning returns 0 or -errno). */
#define PLAN_GO_ON 1

/*
 * A path below a missing or hiding ancestor is decided by that ancestor;
 * else PLAN_GO_ON, with whether it lies in an opaque dir and whether its
 * parent has xwhiteouts (both read from the nearest ancestor).
 */
static int plan_by_ancestors(struct planner *pl, const char *path, size_t len, const struct diff_entry *b,
			     bool *in_opaque, bool *parent_x)
{
	int r;

	if ((r = look_ancestors(pl, path, len)) < 0)
		return r;
	if (pl->n_comps == 0)
		return PLAN_GO_ON;
	const struct comp *k = &pl->comps[pl->n_comps - 1];
	if (k->kind == COMP_MISSING)
		return k->in_opaque ? plan_hidden(pl, path, b, true)
				    : add_item(pl->plan, RF_ABSENT, RF_KEEP, false, path, NULL);
	if (k->kind == COMP_HIDDEN && !k->in_opaque && hider_goes(pl, path, k->end))
		/* The whiteout or file that hid it is planned away: B's entry shows. */
		return add_item(pl->plan, RF_ABSENT, RF_KEEP, false, path, NULL);
	if (k->kind == COMP_HIDDEN)
		return plan_hidden(pl, path, b, k->in_opaque);
	*in_opaque = k->in_opaque;
	*parent_x = k->xwhiteouts;
	return PLAN_GO_ON;
}

/* An upper non-dir over B's dir. */
static int plan_nondir_over_dir(struct planner *pl, const char *path, const struct diff_entry *o,
				const struct diff_entry *b, const struct upper_entry *u)
{
	/*
	 * An upper non-dir over B's dir hides the whole dir.  When the
	 * child replaced O's entry by another type itself, that is its
	 * choice (a conflict); when the base changed the type under the
	 * child's changed copy, refresh cannot keep both.
	 */
	if (!o || (o->mode & S_IFMT) != (u->e.mode & S_IFMT))
		return conflict(pl, path, b, true, "replaced by another type here, changed in base");
	if (pl->plan->policy == REFRESH_TAKE_BASE)
		return add_item(pl->plan, RF_CONFLICT, RF_REMOVE, false, path, "type clash, resolved to the base");
	return lc_err_ret(pl->err, -ENOTRECOVERABLE,
		    "/%s: type clash: the base made it a directory, the child's changed %s would hide it "
		    "(--take-base moves the child's version aside)", path,
		    S_ISLNK(u->st.st_mode) ? "symlink" : "file");
}

/* An upper non-dir, not a whiteout, not below an opaque dir: compared with O's and B's entries. */
static int plan_nondir(struct planner *pl, const char *path, const struct diff_entry *o, const struct diff_entry *b,
		       const struct upper_entry *u)
{
	if (o && diff_entry_changes(&u->e, o, false) == 0)
		return add_item(pl->plan, RF_STALE, RF_REMOVE, false, path, NULL);
	if (b && diff_entry_changes(&u->e, b, false) == 0)
		return add_item(pl->plan, RF_CONVERGED, RF_REMOVE, false, path, NULL);
	if (!b)
		return conflict(pl, path, NULL, true, "changed here, deleted in base");
	if (S_ISDIR(b->mode))
		return plan_nondir_over_dir(pl, path, o, b, u);
	if (o && (u->e.mode & S_IFMT) == (o->mode & S_IFMT) && (b->mode & S_IFMT) == (o->mode & S_IFMT) &&
	    (S_ISREG(o->mode) || S_ISLNK(o->mode))) {
		unsigned c_o = diff_entry_changes(&u->e, o, false), o_b = diff_entry_changes(o, b, false);
		if (!(c_o & ~META_CHANGES) && (o_b & DIFF_CH_CONTENT))
			return add_item(pl->plan, RF_MERGED, RF_MERGE, false, path, NULL);
	}
	return conflict(pl, path, b, true,
			o ? "changed here and in base" : "added here and in base, differently");
}

static int plan_path(struct planner *pl, const char *path, size_t len, const struct diff_entry *o,
		     const struct diff_entry *b)
{
	bool in_opaque = false, parent_x = false;
	int r;

	if ((r = plan_by_ancestors(pl, path, len, b, &in_opaque, &parent_x)) != PLAN_GO_ON)
		return r;

	struct upper_entry u;
	r = read_upper_entry(pl->h, pl->upper_fd, path, parent_x, o, b, &u, pl->err);
	if (r == 0)
		diff_entry_unshift(&u.e, pl->shift.base, pl->shift.count);
	if (r == -ENOENT)
		return in_opaque ? plan_hidden(pl, path, b, true) : add_item(pl->plan, RF_ABSENT, RF_KEEP, false, path, NULL);
	if (r < 0)
		return r;

	if (u.whiteout) {
		if (!b)
			return add_item(pl->plan, RF_WHITEOUT_DROPPED, RF_REMOVE, false, path, NULL);
		return conflict(pl, path, b, true, "deleted here, changed in base");
	}
	/* Below an opaque dir the child's entries are its own: nothing of the base shows through them. */
	if (in_opaque) {
		if (!b)
			return add_item(pl->plan, RF_CHILD_ONLY, RF_KEEP, false, path, NULL);
		return add_item(pl->plan, RF_CONFLICT, RF_KEEP, pl->plan->policy == REFRESH_DEFAULT && !is_dir(b), path,
				"the child's own entry in an opaque dir; the base added or changed it");
	}

	if (S_ISDIR(u.st.st_mode)) {
		if ((r = plan_dir(pl, path, o, b, &u)) == 0)
			pl->plan->items[pl->plan->n - 1].dir = true;
		return r;
	}
	return plan_nondir(pl, path, o, b, &u);
}

static int cmp_item_path(const void *key, const void *elem)
{
	const struct refresh_item *it = elem;
	return strcmp(key, it->path);
}

/* The item of path, when the plan has one (items are in manifest byte order == strcmp order). */
static struct refresh_item *find_item(struct refresh_plan *p, const char *path)
{
	return p->n ? bsearch(path, p->items, p->n, sizeof(*p->items), cmp_item_path) : NULL;
}

/* Will the upper dir at path be empty once the plan's removals are done? */
static int dir_empties(struct planner *pl, const char *path, bool *ret)
{
	int fd = openat(pl->upper_fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return lc_err_ret(pl->err, -errno, "upper dir: /%s: %m", path);
	_cleanup_closedir_ DIR *dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -errno;
	}
	struct dirent *de;
	*ret = true;
	while ((de = readdir(dir))) {
		if (STREQ(de->d_name, ".") || STREQ(de->d_name, ".."))
			continue;
		_cleanup_free_ char *child = NULL;
		if (asprintf(&child, "%s/%s", path, de->d_name) < 0)
			return -ENOMEM;
		struct refresh_item *it = find_item(pl->plan, child);
		if (!it || it->action != RF_REMOVE) {
			*ret = false;
			break;
		}
	}
	return 0;
}

/*
 * Upper dirs where B has no dir (deleted, or made a file or symlink): a
 * copy-up (metadata as O's) that holds nothing once its content is planned
 * away goes too; one that keeps content stays where B deleted the dir, and
 * is a type clash where B put a non-dir (it would hide it).  Deepest first,
 * so a parent sees its sub dirs' decisions.
 */
static int finish_dirs(struct planner *pl)
{
	const struct refresh_delta *d = pl->d;
	for (size_t i = pl->plan->n; i-- > 0;) {
		struct refresh_item *it = &pl->plan->items[i];
		if (it->cls != 0)
			continue;
		ssize_t oi = diff_manifest_find(d->from, it->path, strlen(it->path));
		ssize_t bi = diff_manifest_find(d->to, it->path, strlen(it->path));
		struct diff_entry o, b, ue = {};
		struct stat st;
		bool empties;
		int r;
		if (fstatat(pl->upper_fd, it->path, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return lc_err_ret(pl->err, -errno, "upper dir: /%s: %m", it->path);
		entry_from_stat(&ue, &st);
		diff_entry_unshift(&ue, pl->shift.base, pl->shift.count);
		if ((r = diff_xattr_digest(pl->h, pl->upper_fd, it->path, ue.xattrs, NULL)) < 0)
			return lc_err_ret(pl->err, r, "upper dir: /%s: xattrs: %s", it->path, strerror(-r));
		if (oi >= 0)
			diff_manifest_get(d->from, (size_t)oi, &o);
		if (bi >= 0)
			diff_manifest_get(d->to, (size_t)bi, &b);
		if ((r = dir_empties(pl, it->path, &empties)) < 0)
			return r;
		/* An opaque dir is the child's own (it emptied O's), never a copy-up. */
		_cleanup_(ov_entry_info_done) struct ov_entry_info info = {};
		if ((r = ov_read_entry(pl->upper_fd, it->path, &st, &info)) < 0)
			return lc_err_ret(pl->err, r, "upper dir: /%s: overlay xattrs: %s", it->path, strerror(-r));
		bool copy_up = oi >= 0 && S_ISDIR(o.mode) && !info.opaque && diff_entry_changes(&ue, &o, false) == 0;
		pl->plan->counts[0]--;
		if (empties && copy_up) {
			it->cls = RF_STALE;
			it->action = RF_REMOVE;
		} else if (bi < 0) {
			it->cls = RF_CONFLICT;
			it->why = "the child keeps entries in a dir the base deleted";
		} else if (oi < 0 || !S_ISDIR(o.mode)) {
			it->cls = RF_CONFLICT;
			it->why = "made a dir here, the base put something else there";
			it->save_base = pl->plan->policy == REFRESH_DEFAULT;
		} else if (empties && pl->plan->policy == REFRESH_TAKE_BASE) {
			it->cls = RF_CONFLICT;
			it->action = RF_REMOVE;
			it->why = "type clash, resolved to the base";
		} else
			return lc_err_ret(pl->err, -ENOTRECOVERABLE,
				    "/%s: type clash: the base made it a %s, the child has %s in it; refresh would hide "
				    "the base's version (nothing changed)", it->path,
				    S_ISLNK(b.mode) ? "symlink" : "file", empties ? "changed the dir" : "files");
		pl->plan->counts[(unsigned char)it->cls]++;
	}
	return 0;
}

int refresh_plan(struct store *s, const struct child_info *c, const struct refresh_delta *d,
		 enum refresh_policy policy, struct refresh_plan *ret, struct lc_err *err)
{
	struct planner pl = { .store = s, .c = c, .d = d, .plan = ret, .err = err, .upper_fd = -1 };
	_cleanup_free_ char *rel = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->policy = policy;
	ret->from = d->from_gen;
	ret->to = d->to_gen;
	if (!(ret->child = strdup(c->name)) || !(ret->base = strdup(c->base)))
		return -ENOMEM;
	if (asprintf(&rel, "children/%s/upper", c->name) < 0)
		return -ENOMEM;
	pl.upper_fd = openat(s->root_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pl.upper_fd < 0)
		return lc_err_ret(err, -errno, "%s/%s: %m", s->root, rel);
	if ((r = diff_hasher_new(&pl.h)) < 0)
		goto out;
	if ((r = store_child_upper_shift(c, &pl.shift)) < 0) {
		lc_err_set(err, "child.conf: Child.UpperShift= is not BASE:COUNT");
		goto out;
	}
	diff_hasher_set_unshift(pl.h, pl.shift.base, pl.shift.count);
	for (size_t i = 0; i < d->n; i++) {
		struct diff_entry o, b;
		const struct diff_entry *op = NULL, *bp = NULL;
		if (d->v[i].o >= 0) {
			diff_manifest_get(d->from, (size_t)d->v[i].o, &o);
			op = &o;
		}
		if (d->v[i].b >= 0) {
			diff_manifest_get(d->to, (size_t)d->v[i].b, &b);
			bp = &b;
		}
		const struct diff_entry *e = op ? op : bp;
		if (e->path_len == 0) {
			/* The root: the upper dir's root is the merged "/", set at create; keep it. */
			continue;
		}
		if ((r = plan_path(&pl, e->path, e->path_len, op, bp)) < 0)
			goto out;
	}
	r = finish_dirs(&pl);
out:
	if (pl.upper_fd >= 0)
		close(pl.upper_fd);
	diff_hasher_free(pl.h);
	free(pl.comps);
	free(pl.prev);
	if (r < 0)
		refresh_plan_done(ret);
	return r;
}
