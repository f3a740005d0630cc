/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Base generations, building the new tree inside a transaction: from a
 * source (imported, then every unchanged file replaced by a link to the
 * previous generation's inode) or from a scratch overlay's upper dir merged
 * onto links to the previous tree.  Either way the new manifest is built
 * alongside (see generation.c and generation.h).
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
#include "src/store/generation-internal.h"

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
	if (!b->t->from_image && !S_ISDIR(sb.st_mode) && sb.st_nlink > 1 && fstatat(b->old_root, b->path, &ost, AT_SYMLINK_NOFOLLOW) == 0 &&
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
	if (!b->t->from_image && old_entry(b, &oe) && linkable(&oe, &e)) {
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
	if (b->t->from_image)
		return 0;
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
		r = import_tree_progress(source, tree, fstat(t->s->root_fd, &store_st) == 0 ? &store_st : NULL,
					 link_if_unchanged, &b, t->progress, &ist, &t->s->warn, &e);
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

/* ---- from an image kept as it is ---- */

int gen_txn_fill_from_image(struct gen_txn *t, const char *source, struct store_image_fill *fill, struct lc_err *err)
{
	struct import_stats ist;
	_cleanup_free_ char *mpath = NULL;
	int r = store_gen_fill_from_image(source, t->tmp_path, fill, &ist, err);
	if (r < 0)
		return r;
	gen_crash_point(1);
	if (asprintf(&mpath, "%s/manifest", t->tmp_path) < 0)
		return -ENOMEM;
	struct lc_err e = { "" };
	if ((r = diff_manifest_open(mpath, &t->built, &e)) < 0)
		return lc_err_ret(err, r, "new manifest: %s", lc_err_msg(&e, r));
	/* Nothing shared with the previous generation: the image is the one new file. */
	t->stats.entries = diff_manifest_count(t->built);
	t->stats.new_files = 1;
	t->stats.new_bytes = ist.bytes;
	return diff_manifest_compare(t->old, t->built, false, count_cb, &t->stats);
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
	if (t->from_image)
		return lc_err_ret(err, -EOPNOTSUPP,
				  "generation %u is an image (--keep-image): a command cannot build on it; export it, "
				  "change the tree and update with --from, or update --from a new image",
				  t->from);
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
