/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Base generations: building generation M from the current one N by hard
 * links for everything unchanged, committing it atomically, switching and
 * removing generations, measuring what they hold.  See generation.h for the
 * layout and the commit protocol.
 */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>

#include "diff/diff.h"
#include "overlay/overlay.h"
#include "src/store/import.h"
#include "src/store/settings.h"
#include "src/store/generation.h"

void gen_crash_point(unsigned step)
{
	const char *v = getenv("LAYERCTL_TEST_CRASH_AT");
	if (!v || strncmp(v, "gen-commit:", 11) != 0)
		return;
	if (strtoul(v + 11, NULL, 10) == step)
		raise(SIGKILL);
}

/* ---- records ---- */

void gen_record_done(struct gen_record *g)
{
	free(g->date);
	free(g->description);
	free(g->source);
	memset(g, 0, sizeof(*g));
}

static int base_fd_open(struct store *s, const char *base)
{
	_cleanup_free_ char *rel = NULL;
	if (asprintf(&rel, "bases/%s", base) < 0)
		return -ENOMEM;
	int fd = openat(s->root_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static uint64_t get_u64(const struct settings *c, const char *key)
{
	unsigned long v;
	return settings_get_uint(c, "Generation", key, &v) == 0 ? (uint64_t)v : UINT64_MAX;
}

int gen_record_load(struct store *s, const char *base, unsigned gen, struct gen_record *ret, struct lc_err *err)
{
	_cleanup_close_ int bfd = base_fd_open(s, base);
	_cleanup_settings_ struct settings *conf = NULL;
	char rel[64];
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->number = gen;
	ret->changed = ret->added = ret->removed = UINT64_MAX;
	if (bfd < 0)
		return bfd;
	snprintf(rel, sizeof(rel), "gens/%u/gen.conf", gen);
	r = settings_load(bfd, rel, &conf, err);
	if (r == -ENOENT) {
		/* An imported generation: its date is the base's. */
		_cleanup_settings_ struct settings *bc = NULL;
		if (settings_load(bfd, "base.conf", &bc, NULL) == 0) {
			const char *c = settings_get(bc, "Base", "Created");
			const char *src = settings_get(bc, "Base", "Source");
			ret->date = c ? strdup(c) : NULL;
			if (src && asprintf(&ret->source, "import %s", src) < 0)
				ret->source = NULL;
		}
		return 0;
	}
	if (r < 0)
		return r;
	unsigned long parent;
	if (settings_get_uint(conf, "Generation", "Parent", &parent) == 0 && parent <= UINT_MAX)
		ret->parent = (unsigned)parent;
	const char *d = settings_get(conf, "Generation", "Date");
	const char *desc = settings_get(conf, "Generation", "Description");
	const char *src = settings_get(conf, "Generation", "Source");
	ret->date = d ? strdup(d) : NULL;
	ret->description = desc ? strdup(desc) : NULL;
	ret->source = src ? strdup(src) : NULL;
	ret->changed = get_u64(conf, "Changed");
	ret->added = get_u64(conf, "Added");
	ret->removed = get_u64(conf, "Removed");
	return 0;
}

static unsigned conf_uint(const struct settings *c, const char *key, unsigned def)
{
	unsigned long v;
	if (settings_get_uint(c, "Base", key, &v) < 0 || v == 0 || v > UINT_MAX)
		return def;
	return (unsigned)v;
}

int gen_base_latest(struct store *s, const char *base, unsigned *latest, unsigned *previous)
{
	_cleanup_close_ int bfd = base_fd_open(s, base);
	_cleanup_settings_ struct settings *bc = NULL;
	if (bfd < 0)
		return bfd;
	int r = settings_load(bfd, "base.conf", &bc, NULL);
	if (r < 0)
		return r;
	unsigned cur = conf_uint(bc, "Current", 0);
	if (cur == 0)
		return -EBADMSG;
	/* Never below Current: whatever the file says, the current generation was committed. */
	if (latest) {
		*latest = conf_uint(bc, "Latest", cur);
		if (*latest < cur)
			*latest = cur;
	}
	if (previous)
		*previous = conf_uint(bc, "Previous", 0);
	return 0;
}

/* Rewrite base.conf with Current=cur (and Latest= when latest > 0), Previous= the old current. */
static int base_conf_switch(int bfd, unsigned cur, unsigned latest, struct lc_err *err)
{
	_cleanup_settings_ struct settings *bc = NULL;
	char v[16];
	int r = settings_load(bfd, "base.conf", &bc, err);
	if (r < 0)
		return r;
	unsigned old = conf_uint(bc, "Current", 0);
	if (old && old != cur) {
		snprintf(v, sizeof(v), "%u", old);
		if ((r = settings_set(bc, "Base", "Previous", v)) < 0)
			return r;
	}
	if (!settings_get(bc, "Base", "Latest")) {
		snprintf(v, sizeof(v), "%u", old);
		if ((r = settings_set(bc, "Base", "Latest", v)) < 0)
			return r;
	}
	snprintf(v, sizeof(v), "%u", cur);
	if ((r = settings_set(bc, "Base", "Current", v)) < 0)
		return r;
	if (latest) {
		snprintf(v, sizeof(v), "%u", latest);
		if ((r = settings_set(bc, "Base", "Latest", v)) < 0)
			return r;
	}
	if ((r = settings_save(bc, bfd, "base.conf")) < 0)
		return lc_err_ret(err, r, "base.conf: %s", strerror(-r));
	return 0;
}

/* ---- leftovers ---- */

static bool parse_gen(const char *name, unsigned *ret)
{
	char *end;
	if (!isdigit((unsigned char)name[0]) || name[0] == '0')
		return false;
	unsigned long g = strtoul(name, &end, 10);
	if (*end || g > UINT_MAX)
		return false;
	*ret = (unsigned)g;
	return true;
}

int gen_sweep_base(struct store *s, const char *base, bool caller_holds_lock)
{
	_cleanup_close_ int bfd = base_fd_open(s, base);
	_cleanup_close_ int lock = -1;
	unsigned latest = 0;
	int removed = 0;

	if (bfd < 0)
		return 0;
	_cleanup_close_ int gfd = openat(bfd, "gens", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (gfd < 0)
		return 0;
	int dfd = dup(gfd);
	_cleanup_closedir_ DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		unsigned g;
		pid_t pid = store_leftover_pid(de->d_name);
		if (pid > 0) {
			/* A live owner is still building or removing it. */
			if (pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH)
				continue;
		} else if (parse_gen(de->d_name, &g)) {
			/* Renamed into place by a commit killed before base.conf said so. */
			if (latest == 0 && gen_base_latest(s, base, &latest, NULL) < 0)
				latest = UINT_MAX;
			if (g <= latest)
				continue;
			if (!caller_holds_lock && lock < 0) {
				/*
				 * Shared is enough: a commit holds it exclusively, so
				 * getting it at all means none is in progress (and
				 * child create, which holds it shared, may sweep).
				 */
				lock = store_lock(s, LOCK_BASE, base, LOCK_SH | LOCK_NB);
				if (lock < 0)
					return removed;
				/* Read again under the lock: a commit may have finished meanwhile. */
				if (gen_base_latest(s, base, &latest, NULL) < 0 || g <= latest)
					continue;
			}
		} else
			continue;
		if (rm_rf_at(gfd, de->d_name) == 0)
			removed++;
	}
	return removed;
}

/* ---- transactions ---- */

void gen_txn_done(struct gen_txn *t)
{
	if (t->tmp_name && !t->committed && t->gens_fd >= 0) {
		/* The scratch overlay lived in our own mount namespace: nothing is mounted here any more. */
		rm_rf_at(t->gens_fd, t->tmp_name);
	}
	if (t->gens_fd >= 0)
		close(t->gens_fd);
	if (t->tmp_fd >= 0)
		close(t->tmp_fd);
	diff_manifest_free(t->old);
	diff_manifest_free(t->built);
	free(t->base);
	free(t->tmp_name);
	free(t->tmp_path);
	memset(t, 0, sizeof(*t));
	t->gens_fd = t->tmp_fd = -1;
}

/* The highest number of a directory in gens/ (committed or not). */
static unsigned highest_gen_dir(int gens_fd)
{
	unsigned hi = 0, g;
	int dfd = openat(gens_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_closedir_ DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (parse_gen(de->d_name, &g) && g > hi)
			hi = g;
	return hi;
}

int gen_txn_begin(struct store *s, const char *base, struct gen_txn *t, struct lc_err *err)
{
	struct base_info b;
	struct lc_err e = { "" };
	unsigned latest;
	int r;

	memset(t, 0, sizeof(*t));
	t->gens_fd = t->tmp_fd = -1;
	t->s = s;
	if (!(t->base = strdup(base)))
		return -ENOMEM;
	gen_sweep_base(s, base, true);
	r = store_base_load(s, base, &b, err);
	if (r < 0)
		return r;
	t->from = b.current;
	base_info_done(&b);
	if ((r = gen_base_latest(s, base, &latest, NULL)) < 0)
		return lc_err_ret(err, r, "base.conf: %s", strerror(-r));
	_cleanup_close_ int bfd = base_fd_open(s, base);
	if (bfd < 0)
		return bfd;
	t->gens_fd = openat(bfd, "gens", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (t->gens_fd < 0)
		return lc_err_ret(err, -errno, "gens: %m");
	unsigned hi = highest_gen_dir(t->gens_fd);
	t->to = (hi > latest ? hi : latest) + 1;
	if (t->to == 0)
		return lc_err_ret(err, -EOVERFLOW, "no generation number left");

	_cleanup_free_ char *mpath = store_gen_manifest(s, base, t->from);
	if (!mpath)
		return -ENOMEM;
	r = diff_manifest_open(mpath, &t->old, &e);
	if (r < 0)
		return lc_err_ret(err, r, "manifest of generation %u (%s): %s", t->from, mpath,
			    r == -ENOENT ? "missing" : e.msg);

	if (asprintf(&t->tmp_name, ".new-%u@%d", t->to, (int)getpid()) < 0 ||
	    asprintf(&t->tmp_path, "%s/bases/%s/gens/%s", s->root, base, t->tmp_name) < 0)
		return -ENOMEM;
	/* Under the exclusive lock, one of our own name can only be a dead namesake's (a reused PID). */
	rm_rf_at(t->gens_fd, t->tmp_name);
	if (mkdirat(t->gens_fd, t->tmp_name, 0755) < 0)
		return lc_err_ret(err, -errno, "%s: %m", t->tmp_path);
	t->tmp_fd = openat(t->gens_fd, t->tmp_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (t->tmp_fd < 0)
		return lc_err_ret(err, -errno, "%s: %m", t->tmp_path);
	return 0;
}

/* ---- building a tree ---- */

struct build {
	struct gen_txn *t;
	int old_root;                 /* gens/FROM/tree */
	struct diff_hasher *h;
	char *path;                   /* current path inside the tree, no leading '/' */
	size_t len, alloc;
	char target[PATH_MAX + 1];
	struct lc_err *err;
	size_t done, crash_after;
};

static int path_push(struct build *b, const char *name, size_t *saved)
{
	size_t nl = strlen(name);
	*saved = b->len;
	if (b->len + nl + 2 > b->alloc) {
		size_t na = b->alloc ? b->alloc : 256;
		while (na < b->len + nl + 2)
			na *= 2;
		char *p = realloc(b->path, na);
		if (!p)
			return -ENOMEM;
		b->path = p;
		b->alloc = na;
	}
	if (b->len)
		b->path[b->len++] = '/';
	memcpy(b->path + b->len, name, nl + 1);
	b->len += nl;
	return 0;
}

static void path_pop(struct build *b, size_t saved)
{
	b->len = saved;
	if (b->path)
		b->path[saved] = '\0';
}

static const char *shown(const struct build *b)
{
	return b->len ? b->path : "";
}

static void progress(struct build *b)
{
	if (++b->done == b->crash_after)
		gen_crash_point(2);
}

/* The previous generation's entry at the current path, if any. */
static bool old_entry(struct build *b, struct diff_entry *oe)
{
	ssize_t i = diff_manifest_find(b->t->old, b->path ? b->path : "", b->len);
	if (i < 0)
		return false;
	diff_manifest_get(b->t->old, (size_t)i, oe);
	return true;
}

/* Same identity (content, type, target, mode, owner, xattrs) and worth a link. */
static bool linkable(const struct diff_entry *oe, const struct diff_entry *e)
{
	return (S_ISREG(e->mode) || S_ISLNK(e->mode)) && diff_entry_changes(oe, e, false) == 0;
}

static int add_entry(struct build *b, struct diff_entry *e)
{
	e->path = b->path ? b->path : "";
	e->path_len = b->len;
	int r = diff_manifest_add(b->t->built, e);
	return r < 0 ? lc_err_ret(b->err, r, "/%s: %s", shown(b), strerror(-r)) : 0;
}

/* Replace dirfd/name by a hard link to the previous generation's inode at the same path. */
static int replace_by_old_link(struct build *b, int dirfd, const char *name)
{
	char tmp[64];
	snprintf(tmp, sizeof(tmp), ".#layerctl-link.%d", (int)getpid());
	if (linkat(b->old_root, b->path, dirfd, tmp, 0) < 0)
		return -errno;
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		int r = -errno;
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	return 0;
}

static DIR *open_dir_stream(int fd)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* own offset */
	if (dfd < 0)
		return NULL;
	DIR *d = fdopendir(dfd);
	if (!d)
		close(dfd);
	return d;
}

static bool dot_or_dotdot(const char *n)
{
	return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'));
}

/* ---- from a source tree: import, then link what did not change ---- */

static int dedupe_dir(struct build *b, int dirfd);

static int dedupe_entry(struct build *b, int dirfd, const char *name)
{
	struct gen_stats *st = &b->t->stats;
	struct diff_entry e, oe;
	struct stat sb;
	int r;

	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return lc_err_ret(b->err, -errno, "/%s: stat: %m", shown(b));
	/* Already the old inode (the import's hook linked it): its entry is inherited, nothing read. */
	struct stat ost;
	if (!S_ISDIR(sb.st_mode) && sb.st_nlink > 1 && fstatat(b->old_root, b->path, &ost, AT_SYMLINK_NOFOLLOW) == 0 &&
	    ost.st_ino == sb.st_ino && ost.st_dev == sb.st_dev && old_entry(b, &oe)) {
		progress(b);
		st->linked++;
		return add_entry(b, &oe);
	}
	struct lc_err le = { "" };
	if ((r = diff_entry_scan(b->h, dirfd, name, &sb, &e, b->target, &le)) < 0)
		return lc_err_ret(b->err, r, "/%s: %s", shown(b), le.msg);
	if (S_ISREG(sb.st_mode))
		st->hashed_files++;
	progress(b);
	if (S_ISDIR(sb.st_mode)) {
		if ((r = add_entry(b, &e)) < 0)
			return r;
		_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return lc_err_ret(b->err, -errno, "/%s: open: %m", shown(b));
		if ((r = dedupe_dir(b, fd)) < 0)
			return r;
		/* Links replaced inside moved its mtime: put the imported one back. */
		struct timespec ts[2] = { sb.st_atim, sb.st_mtim };
		if (futimens(fd, ts) < 0)
			return lc_err_ret(b->err, -errno, "/%s: set times: %m", shown(b));
		return 0;
	}
	if (old_entry(b, &oe) && linkable(&oe, &e)) {
		r = replace_by_old_link(b, dirfd, name);
		if (r == 0) {
			st->linked++;
			return add_entry(b, &oe);
		}
		if (r != -EMLINK) /* too many links to that inode: keep the copy */
			return lc_err_ret(b->err, r, "/%s: link to the previous generation: %s", shown(b), strerror(-r));
	}
	if (!S_ISDIR(sb.st_mode)) {
		st->new_files++;
		st->new_bytes += S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
	}
	return add_entry(b, &e);
}

static int dedupe_dir(struct build *b, int dirfd)
{
	_cleanup_closedir_ DIR *d = open_dir_stream(dirfd);
	if (!d)
		return lc_err_ret(b->err, -errno, "/%s: open: %m", shown(b));
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno)
				return lc_err_ret(b->err, -errno, "/%s: readdir: %m", shown(b));
			return 0;
		}
		if (dot_or_dotdot(de->d_name))
			continue;
		size_t saved;
		int r = path_push(b, de->d_name, &saved);
		if (r == 0)
			r = dedupe_entry(b, dirfd, de->d_name);
		path_pop(b, saved);
		if (r < 0)
			return r;
	}
}

static int build_init(struct build *b, struct gen_txn *t, struct lc_err *err)
{
	memset(b, 0, sizeof(*b));
	b->t = t;
	b->err = err;
	b->crash_after = diff_manifest_count(t->old) / 2 + 1;
	_cleanup_free_ char *old_tree = store_gen_tree(t->s, t->base, t->from);
	if (!old_tree)
		return -ENOMEM;
	b->old_root = open(old_tree, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (b->old_root < 0)
		return lc_err_ret(err, -errno, "generation %u tree %s: %m", t->from, old_tree);
	int r = diff_hasher_new(&b->h);
	if (r == 0)
		r = diff_manifest_new(&t->built);
	if (r == 0)
		r = path_push(b, "", &(size_t){ 0 });
	b->len = 0;
	return r;
}

static void build_done(struct build *b)
{
	if (b->old_root >= 0)
		close(b->old_root);
	diff_hasher_free(b->h);
	free(b->path);
}

static int count_cb(const struct diff_entry *a, const struct diff_entry *b, unsigned changes, void *userdata)
{
	struct gen_stats *st = userdata;
	if (a && b)
		st->changed++;
	else if (a)
		st->removed++;
	else
		st->added++;
	return 0;
}

static int seal_and_count(struct gen_txn *t, struct lc_err *err)
{
	struct lc_err e = { "" };
	int r = diff_manifest_seal(t->built, &e);
	if (r < 0)
		return lc_err_ret(err, r, "new manifest: %s", e.msg);
	t->stats.entries = diff_manifest_count(t->built);
	t->stats.changed = t->stats.added = t->stats.removed = 0;
	return diff_manifest_compare(t->old, t->built, false, count_cb, &t->stats);
}

/*
 * Asked by a directory import before it copies a file: when the source file
 * is the old file at the same path (size, mode and owner first, then content
 * and xattrs), link the old inode there instead, and nothing is copied.
 */
static int link_if_unchanged(const char *rel, const char *src, const char *dest, void *userdata)
{
	struct build *b = userdata;
	struct diff_entry oe, e;
	struct lc_err le;
	struct stat st;
	ssize_t i = diff_manifest_find(b->t->old, rel, strlen(rel));
	if (i < 0)
		return 0;
	diff_manifest_get(b->t->old, (size_t)i, &oe);
	if (!S_ISREG(oe.mode) || lstat(src, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != oe.size ||
	    st.st_mode != oe.mode || st.st_uid != oe.uid || st.st_gid != oe.gid)
		return 0;
	/* A file that cannot be read is the import's to report. */
	if (diff_entry_scan(b->h, AT_FDCWD, src, &st, &e, b->target, &le) < 0)
		return 0;
	b->t->stats.hashed_files++;
	if (diff_entry_changes(&oe, &e, false) != 0)
		return 0;
	if (linkat(b->old_root, rel, AT_FDCWD, dest, 0) < 0)
		return errno == EMLINK ? 0 : -errno;
	return 1;
}

int gen_txn_fill_from_source(struct gen_txn *t, const char *source, struct lc_err *err)
{
	struct build b;
	struct import_stats ist;
	struct stat store_st;
	int r;

	if (mkdirat(t->tmp_fd, "tree", 0755) < 0)
		return lc_err_ret(err, -errno, "%s/tree: %m", t->tmp_path);
	_cleanup_free_ char *tree = NULL;
	if (asprintf(&tree, "%s/tree", t->tmp_path) < 0)
		return -ENOMEM;
	r = build_init(&b, t, err);
	if (r == 0) {
		struct lc_err e = { "" };
		r = import_tree_hooked(source, tree, fstat(t->s->root_fd, &store_st) == 0 ? &store_st : NULL,
				       link_if_unchanged, &b, &ist, &t->s->warn, &e);
		if (r < 0)
			lc_err_set(err, "%s: %s", source, lc_err_msg(&e, r));
	}
	if (r == 0)
		gen_crash_point(1);
	if (r == 0) {
		_cleanup_close_ int fd = openat(t->tmp_fd, "tree", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			r = lc_err_ret(err, -errno, "%s: %m", tree);
		else
			r = dedupe_entry(&b, fd, ".");
	}
	build_done(&b);
	if (r < 0)
		return r;
	return seal_and_count(t, err);
}

/* ---- from a scratch overlay's upper dir ---- */

/* Owner, mode, xattrs (overlay's own excepted) and times of directory src onto dst. */
static int copy_dir_meta(int src, int dst, bool times)
{
	struct stat st;
	if (fstat(src, &st) < 0)
		return -errno;
	if (fchown(dst, st.st_uid, st.st_gid) < 0 || fchmod(dst, st.st_mode & 07777) < 0)
		return -errno;
	ssize_t n = flistxattr(src, NULL, 0);
	if (n < 0)
		return errno == ENOTSUP ? 0 : -errno;
	if (n > 0) {
		_cleanup_free_ char *names = malloc((size_t)n);
		if (!names)
			return -ENOMEM;
		n = flistxattr(src, names, (size_t)n);
		if (n < 0)
			return -errno;
		for (char *x = names; x < names + n; x += strlen(x) + 1) {
			if (ov_xattr_is_private(x))
				continue;
			ssize_t vl = fgetxattr(src, x, NULL, 0);
			if (vl < 0)
				continue;
			_cleanup_free_ char *v = malloc((size_t)vl + 1);
			if (!v)
				return -ENOMEM;
			vl = fgetxattr(src, x, v, (size_t)vl);
			if (vl < 0)
				continue;
			if (fsetxattr(dst, x, v, (size_t)vl, 0) < 0)
				return -errno;
		}
	}
	if (times) {
		struct timespec ts[2] = { st.st_atim, st.st_mtim };
		if (futimens(dst, ts) < 0)
			return -errno;
	}
	return 0;
}

/*
 * A file moved out of an upper dir keeps overlay's bookkeeping (origin, ...):
 * drop it.  Through /proc/self/fd of an O_PATH descriptor, which resolves to
 * the entry itself even for a symlink (the plain l*xattr calls would act on
 * the /proc magic link instead).
 */
static int strip_overlay_xattrs(int dirfd, const char *name)
{
	char proc[64];
	_cleanup_close_ int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ssize_t n = listxattr(proc, NULL, 0);
	if (n <= 0)
		return n < 0 && errno != ENOTSUP ? -errno : 0;
	_cleanup_free_ char *names = malloc((size_t)n);
	if (!names)
		return -ENOMEM;
	n = listxattr(proc, names, (size_t)n);
	if (n < 0)
		return -errno;
	for (char *x = names; x < names + n; x += strlen(x) + 1)
		if (ov_xattr_is_private(x) && removexattr(proc, x) < 0 && errno != ENODATA)
			return -errno;
	return 0;
}

static int merge_dir(struct build *b, int old_fd, int upper_fd, int new_fd, bool xwhiteouts);

static int open_subdir(int dirfd, const char *name)
{
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* An entry of the old tree the upper does not touch: a link, or a directory rebuilt around links. */
static int merge_old_entry(struct build *b, int old_fd, int new_fd, const char *name, unsigned char d_type)
{
	struct diff_entry oe;
	struct stat st = { .st_mode = d_type == DT_DIR ? S_IFDIR : S_IFREG };
	int r;

	/* readdir's type spares a stat per file, the bulk of a big tree's entries. */
	bool have = old_entry(b, &oe);
	if ((d_type == DT_UNKNOWN || !have) && fstatat(old_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return lc_err_ret(b->err, -errno, "generation %u: /%s: %m", b->t->from, shown(b));
	progress(b);
	if (!S_ISDIR(st.st_mode)) {
		if (linkat(old_fd, name, new_fd, name, 0) < 0)
			return lc_err_ret(b->err, -errno, "/%s: link to the previous generation: %m", shown(b));
		b->t->stats.linked++;
	} else {
		if (mkdirat(new_fd, name, 0700) < 0)
			return lc_err_ret(b->err, -errno, "/%s: mkdir: %m", shown(b));
		_cleanup_close_ int ofd = open_subdir(old_fd, name);
		_cleanup_close_ int nfd = open_subdir(new_fd, name);
		if (ofd < 0 || nfd < 0)
			return lc_err_ret(b->err, -errno, "/%s: open: %m", shown(b));
		if ((r = merge_dir(b, ofd, -1, nfd, false)) < 0)
			return r;
		if ((r = copy_dir_meta(ofd, nfd, true)) < 0)
			return lc_err_ret(b->err, r, "/%s: copy metadata: %s", shown(b), strerror(-r));
	}
	if (have)
		return add_entry(b, &oe);
	/* The old tree holds what its manifest does not: describe what is really there. */
	struct lc_err le = { "" };
	struct diff_entry e;
	if ((r = diff_entry_scan(b->h, new_fd, name, &st, &e, b->target, &le)) < 0)
		return lc_err_ret(b->err, r, "/%s: %s", shown(b), le.msg);
	return add_entry(b, &e);
}

/*
 * /dev and /proc are made by the runner as mount points when the base has
 * none; left empty in the scratch upper, they are not the command's change.
 */
static bool runner_mount_point(struct build *b, int upper_fd, const char *name, const struct stat *sb)
{
	struct diff_entry oe;
	if (!S_ISDIR(sb->st_mode) || (!STREQ(b->path, "dev") && !STREQ(b->path, "proc")) || old_entry(b, &oe))
		return false;
	_cleanup_closedir_ DIR *d = NULL;
	int fd = open_subdir(upper_fd, name);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (!dot_or_dotdot(de->d_name))
			return false;
	return true;
}

static int merge_upper_entry(struct build *b, int old_fd, int upper_fd, int new_fd, const char *name, bool xwh)
{
	struct gen_stats *st = &b->t->stats;
	struct ov_entry_info info = {};
	struct diff_entry e, oe;
	struct lc_err le = { "" };
	struct stat sb;
	int r;

	if (fstatat(upper_fd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return lc_err_ret(b->err, -errno, "scratch upper: /%s: %m", shown(b));
	if ((r = ov_read_entry(upper_fd, name, &sb, &info)) < 0)
		return lc_err_ret(b->err, r, "scratch upper: /%s: %s", shown(b), strerror(-r));
	bool redirect = info.redirect != NULL, metacopy = info.metacopy, opaque = info.opaque;
	bool whiteout = info.kind == OV_ENTRY_WHITEOUT, child_xwh = info.xwhiteouts;
	ov_entry_info_done(&info);
	if (redirect || metacopy)
		return lc_err_ret(b->err, -EXDEV, "scratch upper: /%s: holds an overlay %s xattr, which a plain tree cannot express",
			    shown(b), redirect ? "redirect" : "metacopy");
	progress(b);
	if (whiteout || runner_mount_point(b, upper_fd, name, &sb))
		return 0;
	if (S_ISDIR(sb.st_mode)) {
		if (mkdirat(new_fd, name, 0700) < 0)
			return lc_err_ret(b->err, -errno, "/%s: mkdir: %m", shown(b));
		_cleanup_close_ int ufd = open_subdir(upper_fd, name);
		_cleanup_close_ int nfd = open_subdir(new_fd, name);
		/* Merged with the old dir unless opaque (or the old entry is no directory). */
		_cleanup_close_ int ofd = old_fd >= 0 && !opaque ? open_subdir(old_fd, name) : -1;
		if (ufd < 0 || nfd < 0)
			return lc_err_ret(b->err, -errno, "/%s: open: %m", shown(b));
		if ((r = merge_dir(b, ofd, ufd, nfd, child_xwh)) < 0)
			return r;
		if ((r = copy_dir_meta(ufd, nfd, true)) < 0)
			return lc_err_ret(b->err, r, "/%s: copy metadata: %s", shown(b), strerror(-r));
		if (fstat(nfd, &sb) < 0)
			return lc_err_ret(b->err, -errno, "/%s: stat: %m", shown(b));
		if ((r = diff_entry_scan(b->h, nfd, ".", &sb, &e, b->target, &le)) < 0)
			return lc_err_ret(b->err, r, "/%s: %s", shown(b), le.msg);
		return add_entry(b, &e);
	}
	if ((r = diff_entry_scan(b->h, upper_fd, name, &sb, &e, b->target, &le)) < 0)
		return lc_err_ret(b->err, r, "scratch upper: /%s: %s", shown(b), le.msg);
	if (S_ISREG(sb.st_mode))
		st->hashed_files++;
	/* A copy-up that changed nothing (touch, a rewrite of the same bytes): keep the old inode. */
	if (old_entry(b, &oe) && linkable(&oe, &e)) {
		if (linkat(b->old_root, b->path, new_fd, name, 0) == 0) {
			st->linked++;
			return add_entry(b, &oe);
		}
		if (errno != EMLINK)
			return lc_err_ret(b->err, -errno, "/%s: link to the previous generation: %m", shown(b));
	}
	if ((r = strip_overlay_xattrs(upper_fd, name)) < 0)
		return lc_err_ret(b->err, r, "scratch upper: /%s: removing overlay xattrs: %s", shown(b), strerror(-r));
	if (renameat(upper_fd, name, new_fd, name) < 0)
		return lc_err_ret(b->err, -errno, "/%s: move into the new tree: %m", shown(b));
	st->new_files++;
	st->new_bytes += S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
	return add_entry(b, &e);
}

/*
 * new = old merged with upper, the way overlayfs shows it: every name of
 * old the upper does not hold is linked (or rebuilt, for a directory); then
 * every name of upper is applied (a whiteout drops the name, a directory
 * merges with old's unless opaque, anything else replaces it).  Old names
 * first: the upper's files are moved out as they are applied.
 */
static int merge_dir(struct build *b, int old_fd, int upper_fd, int new_fd, bool xwhiteouts)
{
	for (int pass = 0; pass < 2; pass++) {
		int src = pass == 0 ? old_fd : upper_fd;
		if (src < 0)
			continue;
		_cleanup_closedir_ DIR *d = open_dir_stream(src);
		if (!d)
			return lc_err_ret(b->err, -errno, "/%s: open: %m", shown(b));
		for (;;) {
			errno = 0;
			struct dirent *de = readdir(d);
			if (!de) {
				if (errno)
					return lc_err_ret(b->err, -errno, "/%s: readdir: %m", shown(b));
				break;
			}
			if (dot_or_dotdot(de->d_name))
				continue;
			struct stat st;
			if (pass == 0 && upper_fd >= 0 && fstatat(upper_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
				continue;
			size_t saved;
			int r = path_push(b, de->d_name, &saved);
			if (r == 0)
				r = pass == 0 ? merge_old_entry(b, old_fd, new_fd, de->d_name, de->d_type)
					      : merge_upper_entry(b, old_fd, upper_fd, new_fd, de->d_name, xwhiteouts);
			path_pop(b, saved);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int gen_txn_scratch(struct gen_txn *t, char **upper, char **work, char **root, struct lc_err *err)
{
	static const char *const dirs[] = { "upper", "work", "root" };
	char **out[] = { upper, work, root };
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		if (mkdirat(t->tmp_fd, dirs[i], 0755) < 0)
			return lc_err_ret(err, -errno, "%s/%s: %m", t->tmp_path, dirs[i]);
		if (asprintf(out[i], "%s/%s", t->tmp_path, dirs[i]) < 0)
			return -ENOMEM;
	}
	/* The upper's root dir is the merged root's: give it the tree root's metadata. */
	_cleanup_free_ char *old_tree = store_gen_tree(t->s, t->base, t->from);
	_cleanup_close_ int ofd = old_tree ? open(old_tree, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
	_cleanup_close_ int ufd = openat(t->tmp_fd, "upper", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (ofd < 0 || ufd < 0)
		return lc_err_ret(err, -errno, "generation %u tree: %m", t->from);
	int r = copy_dir_meta(ofd, ufd, false);
	if (r < 0)
		return lc_err_ret(err, r, "scratch upper: copy the root's metadata: %s", strerror(-r));
	return 0;
}

int gen_txn_fill_from_upper(struct gen_txn *t, struct lc_err *err)
{
	struct build b;
	struct stat sb;
	int r;

	if (mkdirat(t->tmp_fd, "tree", 0700) < 0)
		return lc_err_ret(err, -errno, "%s/tree: %m", t->tmp_path);
	gen_crash_point(1);
	r = build_init(&b, t, err);
	_cleanup_close_ int ufd = openat(t->tmp_fd, "upper", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_close_ int nfd = openat(t->tmp_fd, "tree", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (r == 0 && (ufd < 0 || nfd < 0))
		r = lc_err_ret(err, -errno, "%s: %m", t->tmp_path);
	if (r == 0)
		r = merge_dir(&b, b.old_root, ufd, nfd, false);
	if (r == 0 && (r = copy_dir_meta(ufd, nfd, true)) < 0)
		lc_err_set(err, "/: copy metadata: %s", strerror(-r));
	if (r == 0 && fstat(nfd, &sb) < 0)
		r = lc_err_ret(err, -errno, "/: stat: %m");
	if (r == 0) {
		struct diff_entry e;
		struct lc_err le = { "" };
		b.len = 0;
		b.path[0] = '\0';
		r = diff_entry_scan(b.h, nfd, ".", &sb, &e, b.target, &le);
		if (r < 0)
			lc_err_set(err, "/: %s", le.msg);
		else
			r = add_entry(&b, &e);
	}
	build_done(&b);
	if (r < 0)
		return r;
	return seal_and_count(t, err);
}

/* ---- commit ---- */

static int write_gen_conf(struct gen_txn *t, const char *description, const char *source)
{
	_cleanup_settings_ struct settings *c = settings_new();
	char now[64], v[32];
	time_t tm = time(NULL);
	int r = 0;
	if (!c)
		return -ENOMEM;
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&tm));
	r = settings_set(c, "Generation", "Date", now);
	if (r == 0 && description)
		r = settings_set(c, "Generation", "Description", description);
	if (r == 0 && source)
		r = settings_set(c, "Generation", "Source", source);
	snprintf(v, sizeof(v), "%u", t->from);
	if (r == 0)
		r = settings_set(c, "Generation", "Parent", v);
	const struct { const char *k; uint64_t v; } counts[] = {
		{ "Changed", t->stats.changed }, { "Added", t->stats.added }, { "Removed", t->stats.removed },
		{ "Entries", t->stats.entries }, { "NewFiles", t->stats.new_files }, { "NewBytes", t->stats.new_bytes },
	};
	for (size_t i = 0; r == 0 && i < ELEMENTSOF(counts); i++) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)counts[i].v);
		r = settings_set(c, "Generation", counts[i].k, v);
	}
	return r < 0 ? r : settings_save(c, t->tmp_fd, "gen.conf");
}

int gen_txn_commit(struct gen_txn *t, const char *description, const char *source, struct lc_err *err)
{
	struct lc_err e = { "" };
	char num[16];
	int r;

	if (!t->built)
		return lc_err_ret(err, -EINVAL, "nothing built");
	/* The scratch overlay's dirs are not part of the generation. */
	for (const char *const *d = (const char *const[]){ "upper", "work", "root", NULL }; *d; d++)
		if ((r = rm_rf_at(t->tmp_fd, *d)) < 0)
			return lc_err_ret(err, r, "%s/%s: remove: %s", t->tmp_path, *d, strerror(-r));
	_cleanup_free_ char *mpath = NULL;
	if (asprintf(&mpath, "%s/manifest", t->tmp_path) < 0)
		return -ENOMEM;
	if ((r = diff_manifest_write(t->built, mpath, &e)) < 0)
		return lc_err_ret(err, r, "manifest: %s", e.msg);
	gen_crash_point(3);
	if ((r = write_gen_conf(t, description, source)) < 0)
		return lc_err_ret(err, r, "gen.conf: %s", strerror(-r));
	/* Every file of the tree durable before the rename makes it visible. */
	if (syncfs(t->tmp_fd) < 0)
		return lc_err_ret(err, -errno, "syncfs: %m");
	gen_crash_point(4);
	snprintf(num, sizeof(num), "%u", t->to);
	if (renameat2(t->gens_fd, t->tmp_name, t->gens_fd, num, RENAME_NOREPLACE) < 0)
		return lc_err_ret(err, -errno, "rename %s to gens/%s: %m", t->tmp_name, num);
	if (fsync(t->gens_fd) < 0)
		return lc_err_ret(err, -errno, "fsync gens: %m");
	gen_crash_point(5);
	_cleanup_close_ int bfd = base_fd_open(t->s, t->base);
	if (bfd < 0 || (r = base_conf_switch(bfd, t->to, t->to, err)) < 0) {
		/* Not committed: take the renamed dir back out of sight. */
		rm_rf_at(t->gens_fd, num);
		return bfd < 0 ? lc_err_ret(err, bfd, "base dir: %s", strerror(-bfd)) : r;
	}
	t->committed = true;
	gen_crash_point(6);
	return 0;
}

/* ---- current generation, removal ---- */

static int gen_exists(struct store *s, const char *base, unsigned gen)
{
	_cleanup_free_ char *tree = store_gen_tree(s, base, gen);
	struct stat st;
	if (!tree)
		return -ENOMEM;
	if (lstat(tree, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int gen_set_current(struct store *s, const char *base, unsigned gen, struct lc_err *err)
{
	unsigned latest;
	int r = gen_base_latest(s, base, &latest, NULL);
	if (r < 0)
		return lc_err_ret(err, r, "base.conf: %s", strerror(-r));
	if (gen > latest || (r = gen_exists(s, base, gen)) < 0)
		return lc_err_ret(err, -ENOENT, "no generation %u", gen);
	_cleanup_close_ int bfd = base_fd_open(s, base);
	if (bfd < 0)
		return bfd;
	return base_conf_switch(bfd, gen, 0, err);
}

int gen_remove(struct store *s, const char *base, unsigned gen, struct lc_err *err)
{
	_cleanup_free_ char *rel = NULL;
	if (asprintf(&rel, "bases/%s/gens/%u", base, gen) < 0)
		return -ENOMEM;
	int r = remove_atomically(s->root_fd, rel);
	return r < 0 ? lc_err_ret(err, r, "remove generation %u: %s", gen, strerror(-r)) : 0;
}

/* ---- disk use ---- */

/* inode -> links seen, for inodes with more than one link (open addressing). */
struct inode_slot {
	uint64_t ino;           /* 0: empty */
	uint32_t seen, nlink;
	uint64_t bytes;
};
struct inode_map {
	struct inode_slot *v;
	size_t n, cap;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static int imap_add(struct inode_map *m, const struct stat *st)
{
	if (2 * (m->n + 1) > m->cap) {
		size_t nc = m->cap ? 2 * m->cap : 4096;
		struct inode_slot *nv = calloc(nc, sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		for (size_t i = 0; i < m->cap; i++)
			if (m->v[i].ino) {
				size_t k = mix(m->v[i].ino) & (nc - 1);
				while (nv[k].ino)
					k = (k + 1) & (nc - 1);
				nv[k] = m->v[i];
			}
		free(m->v);
		m->v = nv;
		m->cap = nc;
	}
	uint64_t ino = (uint64_t)st->st_ino ? (uint64_t)st->st_ino : UINT64_MAX;
	size_t k = mix(ino) & (m->cap - 1);
	while (m->v[k].ino && m->v[k].ino != ino)
		k = (k + 1) & (m->cap - 1);
	if (!m->v[k].ino) {
		m->v[k] = (struct inode_slot){ .ino = ino, .nlink = (uint32_t)st->st_nlink,
					       .bytes = (uint64_t)st->st_blocks * 512 };
		m->n++;
	}
	m->v[k].seen++;
	return 0;
}

/* Add everything below dirfd: directories and single-link inodes count at once. */
static int held_walk(int dirfd, struct inode_map *m, uint64_t *bytes)
{
	_cleanup_closedir_ DIR *d = open_dir_stream(dirfd);
	if (!d)
		return -errno;
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		if (dot_or_dotdot(de->d_name))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (S_ISDIR(st.st_mode)) {
			*bytes += (uint64_t)st.st_blocks * 512;
			_cleanup_close_ int fd = open_subdir(dirfd, de->d_name);
			if (fd < 0)
				return -errno;
			int r = held_walk(fd, m, bytes);
			if (r < 0)
				return r;
		} else if (st.st_nlink <= 1)
			*bytes += (uint64_t)st.st_blocks * 512;
		else {
			int r = imap_add(m, &st);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int gen_disk_held(struct store *s, const char *base, const unsigned *gens, size_t n, uint64_t *ret_bytes,
		  struct lc_err *err)
{
	struct inode_map m = {};
	uint64_t bytes = 0;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		_cleanup_free_ char *dir = store_gen_dir(s, base, gens[i]);
		_cleanup_close_ int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
		if (fd < 0) {
			r = lc_err_ret(err, dir ? -errno : -ENOMEM, "generation %u: %m", gens[i]);
			break;
		}
		struct stat st;
		if (fstat(fd, &st) == 0)
			bytes += (uint64_t)st.st_blocks * 512;
		if ((r = held_walk(fd, &m, &bytes)) < 0)
			lc_err_set(err, "generation %u: %s", gens[i], strerror(-r));
	}
	for (size_t i = 0; i < m.cap; i++)
		if (m.v[i].ino && m.v[i].seen >= m.v[i].nlink)
			bytes += m.v[i].bytes;
	free(m.v);
	if (r == 0)
		*ret_bytes = bytes;
	return r;
}
