/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Refresh: moving a child from generation O of its base onto generation B.
 *
 * Only the paths that differ between the two manifests are looked at (a
 * merge of two sorted lists, done once per (O, B) pair and shared by every
 * child on O), and only those paths and their parent dirs are read in the
 * child's upper dir.  The cost grows with what the update changed, not with
 * the base's size.
 *
 * Crash safety is a journal: the whole plan is decided first (a refusal
 * changes nothing), written to refresh/pending/journal, then carried out
 * step by step, each step a rename (or a metadata change whose old value was
 * saved first) that can be told done or not done afterwards.  child.conf
 * with Generation=B is the commit point; refresh_recover() rolls a
 * half-done refresh back from the journal, or finishes a committed one.
 */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>

#include "diff/diff.h"
#include "overlay/overlay.h"
#include "src/basic/fileio.h"
#include "src/store/refresh.h"

#define JOURNAL_MAGIC "layerctl-refresh 1"

/* ---- the test-only crash hook ---- */

/*
 * LAYERCTL_TEST_CRASH_AT=refresh:K (or undo:K, recover:K) kills this
 * process at the K-th crash point of that operation: the integration tests
 * use it to prove every intermediate state is recovered.  Read only when
 * the variable is set; never in normal use.
 */
static void crash_point(const char *op)
{
	static int counter[3];
	const char *v = getenv("LAYERCTL_TEST_CRASH_AT");
	if (!v)
		return;
	size_t n = strlen(op);
	int idx = op[0] == 'r' && op[2] == 'f' ? 0 : op[0] == 'u' ? 1 : 2;
	counter[idx]++;
	if (strncmp(v, op, n) == 0 && v[n] == ':' && atoi(v + n + 1) == counter[idx])
		kill(getpid(), SIGKILL);
}

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

static int open_gen_manifest(struct store *s, const char *base, unsigned gen, struct diff_manifest **ret, struct lc_err *err)
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
	if ((r = open_gen_manifest(s, base, from, &d->from, err)) < 0 ||
	    (r = open_gen_manifest(s, base, to, &d->to, err)) < 0) {
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

static int plan_path(struct planner *pl, const char *path, size_t len, const struct diff_entry *o,
		     const struct diff_entry *b)
{
	int r;

	if ((r = look_ancestors(pl, path, len)) < 0)
		return r;
	bool in_opaque = false, parent_x = false;
	if (pl->n_comps > 0) {
		const struct comp *k = &pl->comps[pl->n_comps - 1];
		if (k->kind == COMP_MISSING)
			return k->in_opaque ? plan_hidden(pl, path, b, true)
					    : add_item(pl->plan, RF_ABSENT, RF_KEEP, false, path, NULL);
		if (k->kind == COMP_HIDDEN && !k->in_opaque && hider_goes(pl, path, k->end))
			/* The whiteout or file that hid it is planned away: B's entry shows. */
			return add_item(pl->plan, RF_ABSENT, RF_KEEP, false, path, NULL);
		if (k->kind == COMP_HIDDEN)
			return plan_hidden(pl, path, b, k->in_opaque);
		in_opaque = k->in_opaque;
		parent_x = k->xwhiteouts;
	}

	struct upper_entry u;
	r = read_upper_entry(pl->h, pl->upper_fd, path, parent_x, o, b, &u, pl->err);
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

	if (o && diff_entry_changes(&u.e, o, false) == 0)
		return add_item(pl->plan, RF_STALE, RF_REMOVE, false, path, NULL);
	if (b && diff_entry_changes(&u.e, b, false) == 0)
		return add_item(pl->plan, RF_CONVERGED, RF_REMOVE, false, path, NULL);
	if (!b)
		return conflict(pl, path, NULL, true, "changed here, deleted in base");
	if (S_ISDIR(b->mode)) {
		/*
		 * An upper non-dir over B's dir hides the whole dir.  When the
		 * child replaced O's entry by another type itself, that is its
		 * choice (a conflict); when the base changed the type under the
		 * child's changed copy, refresh cannot keep both.
		 */
		if (!o || (o->mode & S_IFMT) != (u.e.mode & S_IFMT))
			return conflict(pl, path, b, true, "replaced by another type here, changed in base");
		if (pl->plan->policy == REFRESH_TAKE_BASE)
			return add_item(pl->plan, RF_CONFLICT, RF_REMOVE, false, path, "type clash, resolved to the base");
		return lc_err_ret(pl->err, -ENOTRECOVERABLE,
			    "/%s: type clash: the base made it a directory, the child's changed %s would hide it "
			    "(--take-base moves the child's version aside)", path,
			    S_ISLNK(u.st.st_mode) ? "symlink" : "file");
	}
	if (o && (u.e.mode & S_IFMT) == (o->mode & S_IFMT) && (b->mode & S_IFMT) == (o->mode & S_IFMT) &&
	    (S_ISREG(o->mode) || S_ISLNK(o->mode))) {
		unsigned c_o = diff_entry_changes(&u.e, o, false), o_b = diff_entry_changes(o, b, false);
		if (!(c_o & ~META_CHANGES) && (o_b & DIFF_CH_CONTENT))
			return add_item(pl->plan, RF_MERGED, RF_MERGE, false, path, NULL);
	}
	return conflict(pl, path, b, true,
			o ? "changed here and in base" : "added here and in base, differently");
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

/* ---- journal ---- */

enum step_kind { STEP_REMOVE, STEP_MERGE, STEP_DIR_META };
static const char *const step_names[] = { "remove", "merge", "dirmeta" };

struct step {
	enum step_kind kind;
	char *path;
};

struct journal {
	char *base;
	unsigned from, to;
	struct step *steps;
	size_t n;
};

static void journal_done(struct journal *j)
{
	for (size_t i = 0; i < j->n; i++)
		free(j->steps[i].path);
	free(j->steps);
	free(j->base);
	memset(j, 0, sizeof(*j));
}

/* A path on one line: bytes outside printable ASCII, and '\', as \xHH. */
static int put_path(FILE *f, const char *p)
{
	for (; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch <= 0x20 || ch >= 0x7f || ch == '\\')
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
	return 0;
}

static char *unescape_path(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;
	if (!out)
		return NULL;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] == 'x' && isxdigit((unsigned char)s[2]) && isxdigit((unsigned char)s[3])) {
			char hex[3] = { s[2], s[3], 0 };
			*o++ = (char)strtoul(hex, NULL, 16);
			s += 3;
		} else
			*o++ = *s;
	}
	*o = '\0';
	return out;
}

/*
 * Steps in the order they are carried out: entries of a dir before the dir
 * (a dir can only be moved away empty), so non-dirs in path order first,
 * then dir steps deepest first.
 */
static int plan_steps(const struct refresh_plan *p, struct journal *j)
{
	j->steps = calloc(p->n + 1, sizeof(*j->steps));
	if (!j->steps)
		return -ENOMEM;
	for (int pass = 0; pass < 2; pass++)
		for (size_t k = 0; k < p->n; k++) {
			const struct refresh_item *it = &p->items[pass == 0 ? k : p->n - 1 - k];
			if (it->action == RF_KEEP || it->dir != (pass == 1))
				continue;
			struct step *st = &j->steps[j->n];
			st->kind = it->action == RF_REMOVE ? STEP_REMOVE : it->action == RF_MERGE ? STEP_MERGE : STEP_DIR_META;
			if (!(st->path = strdup(it->path)))
				return -ENOMEM;
			j->n++;
		}
	return 0;
}

static int write_journal(int dirfd, const struct journal *j)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "%s\nbase %s\nfrom %u\nto %u\n", JOURNAL_MAGIC, j->base, j->from, j->to);
	for (size_t i = 0; i < j->n; i++) {
		fprintf(f, "%s ", step_names[j->steps[i].kind]);
		put_path(f, j->steps[i].path);
		fputc('\n', f);
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	int r = lc_write_atomic(dirfd, "journal", buf, len, 0600, true);
	free(buf);
	return r;
}

static int read_journal(int dirfd, struct journal *j, struct lc_err *err)
{
	memset(j, 0, sizeof(*j));
	_cleanup_close_ int fd = openat(dirfd, "journal", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	_cleanup_fclose_ FILE *f = fdopen(fd, "r");
	if (!f)
		return -errno;
	fd = -1;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, r = 0;
	size_t alloc = 0;
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		char *sp = strchr(line, ' ');
		if (lineno == 1) {
			if (!STREQ(line, JOURNAL_MAGIC)) {
				r = -EBADMSG;
				break;
			}
			continue;
		}
		if (!sp) {
			r = -EBADMSG;
			break;
		}
		*sp = '\0';
		const char *v = sp + 1;
		if (STREQ(line, "base")) {
			free(j->base);
			j->base = strdup(v);
		} else if (STREQ(line, "from"))
			j->from = (unsigned)strtoul(v, NULL, 10);
		else if (STREQ(line, "to"))
			j->to = (unsigned)strtoul(v, NULL, 10);
		else {
			int kind = -1;
			for (int k = 0; k < 3; k++)
				if (STREQ(line, step_names[k]))
					kind = k;
			if (kind < 0) {
				r = -EBADMSG;
				break;
			}
			if (j->n == alloc) {
				alloc = alloc ? alloc * 2 : 64;
				struct step *nv = realloc(j->steps, alloc * sizeof(*nv));
				if (!nv) {
					r = -ENOMEM;
					break;
				}
				j->steps = nv;
			}
			j->steps[j->n].kind = (enum step_kind)kind;
			if (!(j->steps[j->n].path = unescape_path(v))) {
				r = -ENOMEM;
				break;
			}
			j->n++;
		}
	}
	free(line);
	if (r == 0 && (!j->base || !j->from || !j->to))
		r = -EBADMSG;
	if (r < 0) {
		journal_done(j);
		return r == -EBADMSG ? lc_err_ret(err, r, "refresh journal is corrupt (line %d)", lineno) : r;
	}
	return 0;
}

/* ---- copying entries and metadata ---- */

static int proc_path(char buf[PATH_MAX + 32], int dirfd, const char *path)
{
	int n = snprintf(buf, PATH_MAX + 32, "/proc/self/fd/%d/%s", dirfd, path);
	return n < 0 || n >= PATH_MAX + 32 ? -ENAMETOOLONG : 0;
}

/* Non-overlay xattr names of an entry (NUL-separated list in *ret). */
static ssize_t list_xattrs(const char *p, char **ret)
{
	*ret = NULL;
	for (;;) {
		ssize_t n = llistxattr(p, NULL, 0);
		if (n < 0)
			return errno == ENOTSUP || errno == EOPNOTSUPP ? 0 : -errno;
		if (n == 0)
			return 0;
		char *buf = malloc((size_t)n);
		if (!buf)
			return -ENOMEM;
		ssize_t m = llistxattr(p, buf, (size_t)n);
		if (m >= 0) {
			*ret = buf;
			return m;
		}
		free(buf);
		if (errno != ERANGE)
			return -errno;
	}
}

static bool name_in_list(const char *list, ssize_t n, const char *name)
{
	for (const char *x = list; x < list + n; x += strlen(x) + 1)
		if (STREQ(x, name))
			return true;
	return false;
}

/*
 * Give dst the owner, mode and xattrs of src (overlay's own xattrs on
 * either side left alone).  Owner first: chown clears set-id bits and file
 * capabilities, which the mode and xattrs then put back.
 */
static int copy_meta(int src_dirfd, const char *src, int dst_dirfd, const char *dst)
{
	char sp[PATH_MAX + 32], dp[PATH_MAX + 32];
	struct stat st;
	int r;
	struct stat dst_st;
	if (fstatat(src_dirfd, src, &st, AT_SYMLINK_NOFOLLOW) < 0 || fstatat(dst_dirfd, dst, &dst_st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	/* fchmodat() follows a final symlink: never let one stand where a file or dir was. */
	if (S_ISLNK(dst_st.st_mode) != S_ISLNK(st.st_mode))
		return -ELOOP;
	if (fchownat(dst_dirfd, dst, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISLNK(st.st_mode) && fchmodat(dst_dirfd, dst, st.st_mode & 07777, 0) < 0)
		return -errno;
	if ((r = proc_path(sp, src_dirfd, src)) < 0 || (r = proc_path(dp, dst_dirfd, dst)) < 0)
		return r;
	_cleanup_free_ char *sl = NULL, *dl = NULL;
	ssize_t sn = list_xattrs(sp, &sl), dn = list_xattrs(dp, &dl);
	if (sn < 0 || dn < 0)
		return (int)(sn < 0 ? sn : dn);
	for (const char *x = dl; dl && x < dl + dn; x += strlen(x) + 1)
		if (!ov_xattr_is_private(x) && !name_in_list(sl, sn, x) && lremovexattr(dp, x) < 0 && errno != ENODATA)
			return -errno;
	for (const char *x = sl; sl && x < sl + sn; x += strlen(x) + 1) {
		if (ov_xattr_is_private(x))
			continue;
		ssize_t vn = lgetxattr(sp, x, NULL, 0);
		if (vn < 0)
			return -errno;
		_cleanup_free_ char *v = malloc((size_t)vn + 1);
		if (!v)
			return -ENOMEM;
		vn = lgetxattr(sp, x, v, (size_t)vn);
		if (vn < 0)
			return -errno;
		if (lsetxattr(dp, x, v, (size_t)vn, 0) < 0)
			return -errno;
	}
	return 0;
}

static int copy_content(int from_fd, int to_fd)
{
	for (;;) {
		ssize_t n = copy_file_range(from_fd, NULL, to_fd, NULL, 1 << 30, 0);
		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
			return -errno;
		break;
	}
	char buf[65536];
	for (;;) {
		ssize_t n = read(from_fd, buf, sizeof(buf));
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(to_fd, buf + off, (size_t)(n - off));
			if (w < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			off += w;
		}
	}
}

/*
 * Copy the regular file or symlink src (in the B tree) to dst_dirfd/dst,
 * which must not exist, with mode 0600 (the caller sets the metadata).
 */
static int copy_entry(int src_dirfd, const char *src, int dst_dirfd, const char *dst)
{
	struct stat st;
	if (fstatat(src_dirfd, src, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX + 1];
		ssize_t n = readlinkat(src_dirfd, src, target, sizeof(target) - 1);
		if (n < 0)
			return -errno;
		target[n] = '\0';
		return symlinkat(target, dst_dirfd, dst) < 0 ? -errno : 0;
	}
	if (!S_ISREG(st.st_mode))
		return -EOPNOTSUPP;
	_cleanup_close_ int in = openat(src_dirfd, src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (in < 0)
		return -errno;
	_cleanup_close_ int out = openat(dst_dirfd, dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	int r = copy_content(in, out);
	if (r < 0)
		return r;
	struct timespec ts[2] = { st.st_atim, st.st_mtim };
	return futimens(out, ts) < 0 ? -errno : 0;
}

/* mkdir -p of the parent dirs of path below dirfd. */
static int make_parents(int dirfd, const char *path)
{
	_cleanup_free_ char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdirat(dirfd, p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return 0;
}

/* ---- the save dir ---- */

struct save_dirs {
	int child_fd, refresh_fd, work_fd, undo_fd, meta_fd, base_fd, upper_fd, tree_fd;
};

#define SAVE_DIRS_INIT { -1, -1, -1, -1, -1, -1, -1, -1 }

static void save_dirs_close(struct save_dirs *d)
{
	int *fds[] = { &d->child_fd, &d->refresh_fd, &d->work_fd, &d->undo_fd, &d->meta_fd, &d->base_fd, &d->upper_fd,
		       &d->tree_fd };
	for (size_t i = 0; i < ELEMENTSOF(fds); i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
}

static int open_dir_at(int dirfd, const char *name, bool create)
{
	if (create && mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int open_child_dirs(struct store *s, const char *child, struct save_dirs *d, struct lc_err *err)
{
	_cleanup_free_ char *rel = NULL;
	*d = (struct save_dirs)SAVE_DIRS_INIT;
	if (asprintf(&rel, "children/%s", child) < 0)
		return -ENOMEM;
	d->child_fd = openat(s->root_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d->child_fd < 0)
		return lc_err_ret(err, -errno, "%s/%s: %m", s->root, rel);
	d->upper_fd = openat(d->child_fd, "upper", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d->upper_fd < 0)
		return lc_err_ret(err, -errno, "%s/%s/upper: %m", s->root, rel);
	return 0;
}

/* Open (creating with create) the work dir `name` below refresh/ and its undo, meta, base subdirs. */
static int open_work(struct save_dirs *d, const char *name, bool create)
{
	int r;
	if (d->refresh_fd < 0 && (d->refresh_fd = open_dir_at(d->child_fd, "refresh", create)) < 0)
		return d->refresh_fd;
	if ((r = open_dir_at(d->refresh_fd, name, create)) < 0)
		return r;
	d->work_fd = r;
	if ((r = open_dir_at(d->work_fd, "undo", true)) < 0)
		return r;
	d->undo_fd = r;
	if ((r = open_dir_at(d->work_fd, "meta", true)) < 0)
		return r;
	d->meta_fd = r;
	if ((r = open_dir_at(d->work_fd, "base", true)) < 0)
		return r;
	d->base_fd = r;
	return 0;
}

static int open_tree(struct store *s, struct save_dirs *d, const char *base, unsigned gen)
{
	_cleanup_free_ char *tree = store_gen_tree(s, base, gen);
	if (!tree)
		return -ENOMEM;
	d->tree_fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return d->tree_fd < 0 ? -errno : 0;
}

static bool exists_at(int dirfd, const char *name)
{
	struct stat st;
	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* ---- steps ---- */

/* fsync a regular file (a symlink's content is its inode: the dir fsync covers it). */
static int fsync_file_at(int dirfd, const char *name)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? 0 : -errno;
	return fsync(fd) < 0 ? -errno : 0;
}

static int do_step(struct save_dirs *d, size_t k, const struct step *st, struct lc_err *err)
{
	char key[32], tmp[40];
	int r;
	snprintf(key, sizeof(key), "%zu", k);
	snprintf(tmp, sizeof(tmp), "tmp-%zu", k);
	const char *name;
	_cleanup_close_ int pfd = lc_open_parent_beneath(d->upper_fd, st->path, strlen(st->path), &name);
	if (pfd < 0)
		return lc_err_ret(err, pfd, "upper dir: the directory of /%s: %s", st->path, strerror(-pfd));
	switch (st->kind) {
	case STEP_REMOVE:
		if (renameat2(pfd, name, d->undo_fd, key, RENAME_NOREPLACE) < 0)
			return lc_err_ret(err, -errno, "moving /%s to the save dir: %m", st->path);
		crash_point("refresh");
		return 0;
	case STEP_MERGE:
		if (renameat2(pfd, name, d->undo_fd, key, RENAME_NOREPLACE) < 0)
			return lc_err_ret(err, -errno, "moving /%s to the save dir: %m", st->path);
		crash_point("refresh");
		if ((r = copy_entry(d->tree_fd, st->path, d->work_fd, tmp)) < 0 ||
		    (r = copy_meta(d->undo_fd, key, d->work_fd, tmp)) < 0 || (r = fsync_file_at(d->work_fd, tmp)) < 0)
			return lc_err_ret(err, r, "/%s: the base's content with the child's metadata: %s", st->path, strerror(-r));
		crash_point("refresh");
		if (renameat2(d->work_fd, tmp, pfd, name, RENAME_NOREPLACE) < 0)
			return lc_err_ret(err, -errno, "/%s: putting the merged file in place: %m", st->path);
		crash_point("refresh");
		return 0;
	case STEP_DIR_META: {
		char ktmp[40];
		snprintf(ktmp, sizeof(ktmp), "%zu.tmp", k);
		if (mkdirat(d->meta_fd, ktmp, 0700) < 0 && errno != EEXIST)
			return lc_err_ret(err, -errno, "/%s: saving the dir's metadata: %m", st->path);
		if ((r = copy_meta(pfd, name, d->meta_fd, ktmp)) < 0)
			return lc_err_ret(err, r, "/%s: saving the dir's metadata: %s", st->path, strerror(-r));
		if (renameat(d->meta_fd, ktmp, d->meta_fd, key) < 0)
			return lc_err_ret(err, -errno, "/%s: saving the dir's metadata: %m", st->path);
		crash_point("refresh");
		if ((r = copy_meta(d->tree_fd, st->path, pfd, name)) < 0)
			return lc_err_ret(err, r, "/%s: giving the dir the base's metadata: %s", st->path, strerror(-r));
		crash_point("refresh");
		return 0;
	}
	}
	return -EINVAL;
}

/*
 * An entry put back that carries overlay.origin (a copy-up) needs its
 * parent marked overlay.impure, as the copy-up did: the kernel drops that
 * mark from a dir it finds without such entries (after the refresh moved
 * them out), and without it readdir's d_ino stops matching stat's st_ino.
 */
static void mark_parent_impure(int parent_fd, const char *name)
{
	static const char *const ns[] = { "trusted.overlay.", "user.overlay." };
	char p[PATH_MAX + 32], parent[64], key[64];
	if (proc_path(p, parent_fd, name) < 0)
		return;
	snprintf(parent, sizeof(parent), "/proc/self/fd/%d", parent_fd);
	for (size_t i = 0; i < ELEMENTSOF(ns); i++) {
		snprintf(key, sizeof(key), "%sorigin", ns[i]);
		if (lgetxattr(p, key, NULL, 0) < 0)
			continue;
		snprintf(key, sizeof(key), "%simpure", ns[i]);
		(void)lsetxattr(parent, key, "y", 1, 0);
	}
}

/* Undo step k if it was done (or half done); harmless when it was not. */
static int undo_step(struct save_dirs *d, size_t k, const struct step *st, const char *op, struct lc_err *err)
{
	char key[32], tmp[40];
	int r;
	snprintf(key, sizeof(key), "%zu", k);
	snprintf(tmp, sizeof(tmp), "tmp-%zu", k);
	const char *name;
	_cleanup_close_ int pfd = lc_open_parent_beneath(d->upper_fd, st->path, strlen(st->path), &name);
	if (pfd < 0)
		return lc_err_ret(err, pfd, "upper dir: the directory of /%s: %s", st->path, strerror(-pfd));
	switch (st->kind) {
	case STEP_REMOVE:
		if (exists_at(d->undo_fd, key)) {
			if (renameat2(d->undo_fd, key, pfd, name, RENAME_NOREPLACE) < 0)
				return lc_err_ret(err, -errno, "putting /%s back: %m", st->path);
			mark_parent_impure(pfd, name);
		}
		break;
	case STEP_MERGE:
		if (unlinkat(d->work_fd, tmp, 0) < 0 && errno != ENOENT)
			return lc_err_ret(err, -errno, "/%s: removing a temporary: %m", st->path);
		/* One rename replaces the merged file (if it got there) by the child's. */
		if (exists_at(d->undo_fd, key)) {
			if (renameat(d->undo_fd, key, pfd, name) < 0)
				return lc_err_ret(err, -errno, "putting /%s back: %m", st->path);
			mark_parent_impure(pfd, name);
		}
		break;
	case STEP_DIR_META:
		if (exists_at(d->meta_fd, key) && (r = copy_meta(d->meta_fd, key, pfd, name)) < 0)
			return lc_err_ret(err, r, "/%s: restoring the dir's metadata: %s", st->path, strerror(-r));
		break;
	}
	crash_point(op);
	return 0;
}

static int undo_steps(struct save_dirs *d, const struct journal *j, const char *op, struct lc_err *err)
{
	for (size_t k = j->n; k-- > 0;) {
		int r = undo_step(d, k, &j->steps[k], op, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- child.conf ---- */

static int conf_generations(struct save_dirs *d, struct settings **ret, unsigned *gen, unsigned *undo, struct lc_err *err)
{
	unsigned long v;
	int r = settings_load(d->child_fd, "child.conf", ret, err);
	if (r < 0)
		return r;
	*gen = settings_get_uint(*ret, "Child", "Generation", &v) == 0 ? (unsigned)v : 0;
	*undo = settings_get_uint(*ret, "Child", "UndoGeneration", &v) == 0 ? (unsigned)v : 0;
	return 0;
}

/* The commit point: child.conf written atomically with the new generation(s). */
static int conf_commit(struct save_dirs *d, unsigned gen, unsigned undo, struct lc_err *err)
{
	_cleanup_(settings_freep) struct settings *conf = NULL;
	unsigned cur, cur_undo;
	char g[16], u[16];
	int r = conf_generations(d, &conf, &cur, &cur_undo, err);
	if (r < 0)
		return r;
	snprintf(g, sizeof(g), "%u", gen);
	snprintf(u, sizeof(u), "%u", undo);
	if ((r = settings_set(conf, "Child", "Generation", g)) < 0 ||
	    (r = settings_set(conf, "Child", "UndoGeneration", undo ? u : NULL)) < 0)
		return r;
	if ((r = settings_save(conf, d->child_fd, "child.conf")) < 0)
		return lc_err_ret(err, r, "writing child.conf: %s", strerror(-r));
	return 0;
}

unsigned refresh_undo_generation(const struct child_info *c)
{
	unsigned long v;
	return c->conf && settings_get_uint(c->conf, "Child", "UndoGeneration", &v) == 0 ? (unsigned)v : 0;
}

/* ---- the lower link (fstab entries name it) ---- */

static int link_lower_at(int child_fd, const char *base, unsigned gen)
{
	_cleanup_free_ char *target = NULL;
	if (asprintf(&target, "../../bases/%s/gens/%u/tree", base, gen) < 0)
		return -ENOMEM;
	(void)unlinkat(child_fd, ".lower.new", 0);
	if (symlinkat(target, child_fd, ".lower.new") < 0)
		return -errno;
	if (renameat(child_fd, ".lower.new", child_fd, "lower") < 0) {
		int r = -errno;
		(void)unlinkat(child_fd, ".lower.new", 0);
		return r;
	}
	return fsync_dir_at(child_fd, ".");
}

int refresh_link_lower(struct store *s, const char *child, const char *base, unsigned gen)
{
	_cleanup_free_ char *rel = NULL;
	if (asprintf(&rel, "children/%s", child) < 0)
		return -ENOMEM;
	_cleanup_close_ int fd = openat(s->root_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return link_lower_at(fd, base, gen);
}

int refresh_check_lower(struct store *s, const char *child, const char *base, unsigned gen)
{
	_cleanup_free_ char *rel = NULL, *want = NULL;
	char have[PATH_MAX];
	if (asprintf(&rel, "children/%s/lower", child) < 0 || asprintf(&want, "../../bases/%s/gens/%u/tree", base, gen) < 0)
		return -ENOMEM;
	ssize_t n = readlinkat(s->root_fd, rel, have, sizeof(have) - 1);
	if (n < 0)
		return errno == EINVAL ? -ESTALE : -errno;
	have[n] = '\0';
	return STREQ(have, want) ? 0 : -ESTALE;
}

/* ---- apply ---- */

char *refresh_saved_path(const struct store *s, const char *child, unsigned gen, const char *path)
{
	char *p;
	if (asprintf(&p, "%s/children/%s/refresh/%u/base/%s", s->root, child, gen, path) < 0)
		return NULL;
	return p;
}

/* B's versions of the conflicting paths, for the admin (not part of undo). */
static int save_base_versions(struct save_dirs *d, const struct refresh_plan *p, struct lc_err *err)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct refresh_item *it = &p->items[i];
		struct stat st;
		int r;
		if (!it->save_base)
			continue;
		if (fstatat(d->tree_fd, it->path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
			continue;
		if ((r = make_parents(d->base_fd, it->path)) < 0 || (r = copy_entry(d->tree_fd, it->path, d->base_fd, it->path)) < 0)
			return lc_err_ret(err, r, "saving the base's version of /%s: %s", it->path, strerror(-r));
		if (!S_ISLNK(st.st_mode) && fchmodat(d->base_fd, it->path, st.st_mode & 0777, 0) < 0)
			return lc_err_ret(err, -errno, "saving the base's version of /%s: %m", it->path);
	}
	return 0;
}

static bool is_number(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/*
 * After the commit: the previous refresh's undo data is superseded (only the
 * last refresh can be undone), the work dir becomes refresh/GEN, and the
 * lower link follows the new generation.  Every step may be repeated.
 */
static int finalize(struct save_dirs *d, const char *work, const char *base, unsigned to, const char *op, struct lc_err *err)
{
	char gen[16];
	int r;
	snprintf(gen, sizeof(gen), "%u", to);
	int dfd = dup(d->refresh_fd);
	if (dfd < 0)
		return -errno;
	DIR *dir = fdopendir(dfd);
	if (!dir) {
		close(dfd);
		return -errno;
	}
	struct dirent *de;
	while ((de = readdir(dir)))
		if (is_number(de->d_name) && (r = rm_rf_at(d->refresh_fd, de->d_name)) < 0 && r != -ENOENT) {
			closedir(dir);
			return lc_err_ret(err, r, "removing the previous refresh's saved files: %s", strerror(-r));
		}
	closedir(dir);
	crash_point(op);
	if (work && renameat(d->refresh_fd, work, d->refresh_fd, gen) < 0 && errno != ENOENT)
		return lc_err_ret(err, -errno, "refresh dir: %m");
	crash_point(op);
	if ((r = link_lower_at(d->child_fd, base, to)) < 0)
		return lc_err_ret(err, r, "children/.../lower link: %s", strerror(-r));
	return 0;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int fsync_at(int dirfd, const char *path)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	return fsync(fd) < 0 ? -errno : 0;
}

/*
 * Make the steps durable before the commit: every upper dir a step renamed
 * in or out of (and every dir whose metadata changed), and the save dirs.
 * Not syncfs(): its cost grows with every inode the file system has cached,
 * i.e. with the size of the bases, which refresh must not.
 */
static int sync_touched(struct save_dirs *d, const struct journal *j)
{
	_cleanup_free_ char **dirs = calloc(2 * j->n + 1, sizeof(*dirs));
	size_t n = 0;
	int r = 0;
	if (!dirs)
		return -ENOMEM;
	for (size_t k = 0; k < j->n; k++) {
		const char *path = j->steps[k].path, *slash = strrchr(path, '/');
		if (!(dirs[n++] = slash ? strndup(path, (size_t)(slash - path)) : strdup(".")))
			r = -ENOMEM;
		if (r == 0 && j->steps[k].kind == STEP_DIR_META && !(dirs[n++] = strdup(path)))
			r = -ENOMEM;
	}
	if (r == 0)
		qsort(dirs, n, sizeof(*dirs), cmp_strp);
	for (size_t i = 0; r == 0 && i < n; i++)
		if (i == 0 || !STREQ(dirs[i], dirs[i - 1]))
			r = fsync_at(d->upper_fd, dirs[i]);
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
	if (r == 0 && (fsync(d->undo_fd) < 0 || fsync(d->meta_fd) < 0 || fsync(d->work_fd) < 0))
		r = -errno;
	return r;
}

int refresh_apply(struct store *s, const struct child_info *c, const struct refresh_plan *p, struct lc_err *err)
{
	_cleanup_(save_dirs_close) struct save_dirs d = SAVE_DIRS_INIT;
	struct journal j = {};
	int r;

	if ((r = open_child_dirs(s, c->name, &d, err)) < 0)
		return r;
	if ((r = open_tree(s, &d, c->base, p->to)) < 0)
		return lc_err_ret(err, r, "base %s generation %u: tree: %s", c->base, p->to, strerror(-r));
	if (d.refresh_fd < 0 && (d.refresh_fd = open_dir_at(d.child_fd, "refresh", true)) < 0)
		return lc_err_ret(err, d.refresh_fd, "refresh dir: %s", strerror(-d.refresh_fd));
	if (exists_at(d.refresh_fd, "pending") || exists_at(d.refresh_fd, "undoing"))
		return lc_err_ret(err, -EBUSY, "an interrupted refresh is pending (run the command again to recover it)");
	if ((r = open_work(&d, "pending", true)) < 0)
		return lc_err_ret(err, r, "refresh/pending: %s", strerror(-r));
	crash_point("refresh");
	j.from = p->from;
	j.to = p->to;
	if (!(j.base = strdup(c->base)) || (r = plan_steps(p, &j)) < 0) {
		journal_done(&j);
		return -ENOMEM;
	}
	r = write_journal(d.work_fd, &j);
	if (r < 0) {
		journal_done(&j);
		(void)rm_rf_at(d.refresh_fd, "pending");
		return lc_err_ret(err, r, "writing the refresh journal: %s", strerror(-r));
	}
	crash_point("refresh");
	if ((r = save_base_versions(&d, p, err)) < 0)
		goto rollback;
	crash_point("refresh");
	for (size_t k = 0; k < j.n; k++)
		if ((r = do_step(&d, k, &j.steps[k], err)) < 0)
			goto rollback;
	/* The moves must be on disk before child.conf says they happened. */
	if ((r = sync_touched(&d, &j)) < 0) {
		r = lc_err_ret(err, r, "fsync: %s", strerror(-r));
		goto rollback;
	}
	crash_point("refresh");
	if ((r = conf_commit(&d, p->to, p->from, err)) < 0)
		goto rollback;
	crash_point("refresh");
	r = finalize(&d, "pending", c->base, p->to, "refresh", err);
	journal_done(&j);
	return r;

rollback: {
		int k = undo_steps(&d, &j, "rollback", NULL);
		if (k == 0)
			(void)rm_rf_at(d.refresh_fd, "pending");
		journal_done(&j);
		return r;
	}
}

/* ---- recovery and undo ---- */

static int recover_work(struct save_dirs *d, const char *work, bool undoing, struct lc_err *err)
{
	struct journal j;
	_cleanup_(settings_freep) struct settings *conf = NULL;
	unsigned gen, undo;
	int r;

	if ((r = open_work(d, work, false)) < 0)
		return lc_err_ret(err, r, "refresh/%s: %s", work, strerror(-r));
	r = read_journal(d->work_fd, &j, err);
	if (r == -ENOENT && !undoing) {
		/* Killed before the journal was written: nothing was touched. */
		if ((r = rm_rf_at(d->refresh_fd, work)) < 0)
			return lc_err_ret(err, r, "removing refresh/%s: %s", work, strerror(-r));
		return 1;
	}
	if (r < 0)
		return r == -EBADMSG ? r : lc_err_ret(err, r, "refresh/%s/journal: %s", work, strerror(-r));
	if ((r = conf_generations(d, &conf, &gen, &undo, err)) < 0)
		goto out;
	if (!undoing && gen == j.to && undo == j.from) {
		/* Committed: finish. */
		r = finalize(d, work, j.base, j.to, "recover", err);
		r = r < 0 ? r : 2;
	} else if (!undoing && gen == j.from) {
		if ((r = undo_steps(d, &j, "recover", err)) == 0 && (r = rm_rf_at(d->refresh_fd, work)) == 0)
			r = 1;
	} else if (undoing && gen == j.to) {
		/* An undo was under way: carry it through (every step is idempotent). */
		if ((r = undo_steps(d, &j, "recover", err)) == 0 && (r = syncfs(d->upper_fd) < 0 ? -errno : 0) == 0 &&
		    (r = conf_commit(d, j.from, 0, err)) == 0 && (r = rm_rf_at(d->refresh_fd, work)) == 0 &&
		    (r = link_lower_at(d->child_fd, j.base, j.from)) == 0)
			r = 2;
	} else if (undoing && gen == j.from) {
		if ((r = rm_rf_at(d->refresh_fd, work)) == 0 && (r = link_lower_at(d->child_fd, j.base, j.from)) == 0)
			r = 2;
	} else
		r = lc_err_ret(err, -EBADMSG, "refresh/%s/journal (generation %u to %u) does not match child.conf "
			 "(Generation=%u); fix by hand", work, j.from, j.to, gen);
out:
	journal_done(&j);
	return r;
}

int refresh_recover(struct store *s, const char *child, struct lc_err *err)
{
	_cleanup_(save_dirs_close) struct save_dirs d = SAVE_DIRS_INIT;
	_cleanup_free_ char *rel = NULL;
	struct stat st;
	int r;

	/* The common case costs two failed stats. */
	if (asprintf(&rel, "children/%s/refresh/pending", child) < 0)
		return -ENOMEM;
	bool pending = fstatat(s->root_fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
	strcpy(rel + strlen(rel) - strlen("pending"), "undoing");
	bool undoing = !pending && fstatat(s->root_fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!pending && !undoing)
		return 0;
	if ((r = open_child_dirs(s, child, &d, err)) < 0)
		return r;
	if ((d.refresh_fd = open_dir_at(d.child_fd, "refresh", false)) < 0)
		return d.refresh_fd;
	if (pending) {
		/* The base tree is not needed to roll back: undo only renames and restores saved metadata. */
		return recover_work(&d, "pending", false, err);
	}
	return recover_work(&d, "undoing", true, err);
}

/* Is path's parent dir in the upper now, or put back by an earlier undo step (a dir refresh removed)? */
static bool parent_comes_back(struct save_dirs *d, const struct journal *j, const char *path)
{
	const char *slash = strrchr(path, '/');
	struct stat st;
	if (!slash)
		return true;
	_cleanup_free_ char *parent = strndup(path, (size_t)(slash - path));
	if (!parent)
		return false;
	const char *name;
	_cleanup_close_ int pfd = lc_open_parent_beneath(d->upper_fd, path, strlen(path), &name);
	if (pfd >= 0)
		return true; /* resolved beneath the upper without a symlink: a real dir */
	if (fstatat(d->upper_fd, parent, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return false; /* there, but reached through a symlink or not a dir */
	for (size_t k = 0; k < j->n; k++)
		if (j->steps[k].kind == STEP_REMOVE && STREQ(j->steps[k].path, parent))
			return parent_comes_back(d, j, parent);
	return false;
}

/* Has the child changed a path refresh touched since?  (Then undo would lose that.) */
static int check_unchanged(struct store *s, struct save_dirs *d, const struct journal *j, struct lc_err *err)
{
	_cleanup_manifest_ struct diff_manifest *m = NULL;
	struct diff_hasher *h = NULL;
	int r = open_gen_manifest(s, j->base, j->to, &m, err);
	if (r < 0)
		return r;
	if ((r = diff_hasher_new(&h)) < 0)
		return r;
	for (size_t k = 0; r == 0 && k < j->n; k++) {
		const struct step *st = &j->steps[k];
		struct stat now, saved;
		char key[32];
		snprintf(key, sizeof(key), "%zu", k);
		const char *name;
		_cleanup_close_ int pfd = lc_open_parent_beneath(d->upper_fd, st->path, strlen(st->path), &name);
		bool present = pfd >= 0 && fstatat(pfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0;
		if (st->kind == STEP_REMOVE && present)
			r = lc_err_ret(err, -ESTALE, "/%s was created again in the child since the refresh", st->path);
		else if (st->kind != STEP_DIR_META && !parent_comes_back(d, j, st->path))
			/* (child reset, or the child removed the dir): there is nowhere to put it back */
			r = lc_err_ret(err, -ESTALE, "the directory of /%s was removed from the child since the refresh", st->path);
		else if (st->kind == STEP_DIR_META && (!present || !S_ISDIR(now.st_mode)))
			r = lc_err_ret(err, -ESTALE, "/%s is no longer a directory in the child", st->path);
		else if (st->kind == STEP_MERGE) {
			ssize_t bi = diff_manifest_find(m, st->path, strlen(st->path));
			struct diff_entry b;
			uint8_t hash[DIFF_HASH_SIZE] = {};
			if (!present || bi < 0 || fstatat(d->undo_fd, key, &saved, AT_SYMLINK_NOFOLLOW) < 0) {
				r = lc_err_ret(err, -ESTALE, "/%s was removed from the child since the refresh", st->path);
				break;
			}
			diff_manifest_get(m, (size_t)bi, &b);
			bool same = (now.st_mode & S_IFMT) == (b.mode & S_IFMT) && now.st_uid == saved.st_uid &&
				    now.st_gid == saved.st_gid && (S_ISLNK(now.st_mode) || now.st_mode == saved.st_mode);
			if (same && S_ISREG(now.st_mode)) {
				_cleanup_close_ int fd = openat(pfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
				same = fd >= 0 && (uint64_t)now.st_size == b.size && diff_hash_fd(h, fd, hash, NULL) == 0 &&
				       memcmp(hash, b.content, DIFF_HASH_SIZE) == 0;
			}
			if (!same)
				r = lc_err_ret(err, -ESTALE, "/%s was changed in the child since the refresh", st->path);
		}
	}
	diff_hasher_free(h);
	return r;
}

/*
 * Undo every step, last first.  Should one fail (an I/O error, an immutable
 * dir), the steps already undone are done again, in order, and the work dir
 * renamed back: the child stays fully on the refreshed generation rather
 * than half way, which the next lock would try to finish again and again.
 */
static int undo_steps_or_redo(struct store *s, struct save_dirs *d, const struct journal *j, const char *work,
			      struct lc_err *err)
{
	size_t k = j->n;
	int r = 0;
	while (k-- > 0)
		if ((r = undo_step(d, k, &j->steps[k], "undo", err)) < 0)
			break;
	if (r == 0)
		return 0;
	if (open_tree(s, d, j->base, j->to) < 0)
		return r;
	if (j->steps[k].kind == STEP_DIR_META) {
		/* Its metadata may be half restored: give it B's again (meta/K keeps the original). */
		const char *name;
		_cleanup_close_ int pfd = lc_open_parent_beneath(d->upper_fd, j->steps[k].path, strlen(j->steps[k].path), &name);
		if (pfd < 0 || copy_meta(d->tree_fd, j->steps[k].path, pfd, name) < 0)
			return r;
	}
	for (size_t i = k + 1; i < j->n; i++) {
		if (do_step(d, i, &j->steps[i], NULL) < 0)
			return r;
	}
	if (renameat(d->refresh_fd, "undoing", d->refresh_fd, work) < 0)
		return r;
	return r;
}

int refresh_undo(struct store *s, const char *child, struct lc_err *err)
{
	_cleanup_(save_dirs_close) struct save_dirs d = SAVE_DIRS_INIT;
	_cleanup_(settings_freep) struct settings *conf = NULL;
	_cleanup_free_ char *tree = NULL;
	struct journal j = {};
	unsigned gen, undo;
	char work[16];
	int r;

	if ((r = open_child_dirs(s, child, &d, err)) < 0)
		return r;
	if ((r = conf_generations(&d, &conf, &gen, &undo, err)) < 0)
		return r;
	if (!undo)
		return lc_err_ret(err, -ENOENT, "nothing to undo (no refresh since the last undo)");
	snprintf(work, sizeof(work), "%u", gen);
	if ((d.refresh_fd = open_dir_at(d.child_fd, "refresh", false)) < 0 || open_work(&d, work, false) < 0)
		return lc_err_ret(err, -ENOENT, "the saved files of the last refresh (refresh/%s) are missing", work);
	if ((r = read_journal(d.work_fd, &j, err)) < 0)
		return r == -EBADMSG ? r : lc_err_ret(err, r, "refresh/%s/journal: %s", work, strerror(-r));
	if (j.from != undo || j.to != gen) {
		r = lc_err_ret(err, -EBADMSG, "refresh/%s/journal is of generation %u to %u, child.conf says %u to %u", work, j.from,
			 j.to, undo, gen);
		goto out;
	}
	tree = store_gen_tree(s, j.base, undo);
	struct stat st;
	if (!tree || stat(tree, &st) < 0) {
		r = lc_err_ret(err, -ENOENT, "base %s no longer has generation %u", j.base, undo);
		goto out;
	}
	if ((r = check_unchanged(s, &d, &j, err)) < 0)
		goto out;
	if (renameat(d.refresh_fd, work, d.refresh_fd, "undoing") < 0) {
		r = lc_err_ret(err, -errno, "refresh dir: %m");
		goto out;
	}
	crash_point("undo");
	if ((r = undo_steps_or_redo(s, &d, &j, work, err)) < 0)
		goto out;
	if (syncfs(d.upper_fd) < 0) {
		r = lc_err_ret(err, -errno, "syncfs: %m");
		goto out;
	}
	if ((r = conf_commit(&d, undo, 0, err)) < 0)
		goto out;
	crash_point("undo");
	if ((r = rm_rf_at(d.refresh_fd, "undoing")) < 0) {
		r = lc_err_ret(err, r, "removing refresh/undoing: %s", strerror(-r));
		goto out;
	}
	crash_point("undo");
	if ((r = link_lower_at(d.child_fd, j.base, undo)) < 0)
		r = lc_err_ret(err, r, "children/%s/lower link: %s", child, strerror(-r));
out:
	journal_done(&j);
	return r;
}
