/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Bases: import (generation 1 from a directory or a tarball), the children
 * using a base, removal.  A new base is built under bases/.new-NAME@PID and
 * renamed into place once every file of it is durable; a removal renames it
 * to .trash-* first (docs/store.md).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "src/basic/fsutil.h"
#include "src/basic/testhook.h"
#include "src/store/checksum.h"
#include "src/store/store.h"
#include "src/store/import.h"
#include "diff/diff.h"

static int write_base_conf(int gen_parent_fd, const char *source, const char *description)
{
	_cleanup_settings_ struct settings *conf = settings_new();
	char now[64];
	time_t t = time(NULL);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	if (!conf)
		return -ENOMEM;
	int r = settings_set(conf, "Base", "Current", "1");
	if (r == 0)
		r = settings_set(conf, "Base", "Latest", "1");
	if (r == 0 && description)
		r = settings_set(conf, "Base", "Description", description);
	if (r == 0)
		r = settings_set(conf, "Base", "Source", source);
	if (r == 0)
		r = settings_set(conf, "Base", "Created", now);
	if (r < 0)
		return r;
	return settings_save(conf, gen_parent_fd, "base.conf");
}

struct mismatch {
	uint64_t n;
	char first[300];
};

static int note_mismatch(const struct diff_entry *a, const struct diff_entry *b, unsigned changes, void *userdata)
{
	struct mismatch *m = userdata;
	if (m->n++ > 0)
		return 0;
	const struct diff_entry *e = a ? a : b;
	char what[100] = "";
	for (unsigned bit = 1; bit <= DIFF_CH_NLINK; bit <<= 1)
		if (changes & bit)
			snprintf(what + strlen(what), sizeof(what) - strlen(what), "%s%s", what[0] ? "," : "",
				 diff_change_name(bit));
	snprintf(m->first, sizeof(m->first), "%s %.*s%s%s", a && b ? "changed" : a ? "missing" : "extra",
		 (int)(e->path_len > 200 ? 200 : e->path_len), e->path, what[0] ? ": " : "", what);
	return 0;
}

/*
 * The imported tree against the exporter's manifest.  Not times: squashfs
 * keeps seconds only, and an mtime is not part of a file's identity here.
 */
int store_check_manifest(const struct diff_manifest *got, const char *expect, struct lc_err *err)
{
	_cleanup_manifest_ struct diff_manifest *want = NULL;
	struct mismatch m = {};
	int r = diff_manifest_open(expect, &want, err);
	if (r < 0)
		return lc_err_ret(err, r, "--verify: %s: %s", expect, err && err->msg[0] ? err->msg : strerror(-r));
	diff_manifest_compare(want, got, false, note_mismatch, &m);
	if (m.n)
		return lc_err_ret(err, -EBADMSG, "--verify: the imported tree differs from %s in %llu entr%s (first: %s)",
				  expect, (unsigned long long)m.n, m.n == 1 ? "y" : "ies", m.first);
	return 0;
}

static int check_manifest(const char *manifest, const char *expect, struct lc_err *err)
{
	_cleanup_manifest_ struct diff_manifest *got = NULL;
	int r = diff_manifest_open(manifest, &got, err);
	return r < 0 ? r : store_check_manifest(got, expect, err);
}

/* A tarball beside its FILE.xxh128 (base export wrote both): checked before a byte of it is imported. */
int store_check_source_checksum(const char *source, const char *checksum, struct lc_err *err)
{
	if (!checksum)
		return 0;
	_cleanup_close_ int fd = open(source, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return lc_err_ret(err, -errno, "%s: %m", source);
	return S_ISREG(st.st_mode) ? checksum_check_fd(fd, false, source, checksum, err) : 0;
}

/*
 * Copy a directory or tarball into tree, then scan it into the manifest (both
 * phases on the progress line).  A directory's files are hashed as they are
 * copied, so the scan reads only what the copy did not hash (a tarball's).
 */
static int import_and_scan(struct store *s, const char *source, const char *tree, const char *manifest,
			   const struct lc_progress *progress, struct import_stats *st, struct lc_err *err)
{
	struct stat store_st;
	_cleanup_(diff_manifest_freep) struct diff_manifest *contents = NULL, *m = NULL;
	int r = diff_manifest_new(&contents);
	if (r < 0)
		return lc_err_ret(err, r, "%s", strerror(-r));
	r = import_tree_contents(source, tree, fstat(s->root_fd, &store_st) == 0 ? &store_st : NULL, progress,
				 contents, st, &s->warn, err);
	if (r < 0)
		return err && err->msg[0] ? r : lc_err_ret(err, r, "%s", strerror(-r));
	lc_progress_phase(progress, "Hashing");
	_cleanup_close_ int fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		r = lc_err_ret(err, -errno, "%s: %m", tree);
	else if ((r = diff_manifest_scan_known(fd, contents, progress, st->entries, &m, err)) == 0)
		r = diff_manifest_write(m, manifest, err);
	if (r < 0) {
		if (err && !err->msg[0])
			lc_err_set(err, "%s", strerror(-r));
		lc_err_wrap(err, "manifest");
	}
	return r;
}

/* A tree is thousands of files: syncfs.  An image generation is a few: each fsynced (store_image_gen_sync). */
static int sync_new_base(int tmp_fd, bool keep_image)
{
	if (!keep_image)
		return syncfs(tmp_fd) < 0 ? -errno : 0;
	_cleanup_close_ int gen_fd = openat(tmp_fd, "gens/1", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_close_ int conf = openat(tmp_fd, "base.conf", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (gen_fd < 0 || conf < 0 || fsync(conf) < 0)
		return -errno;
	int r = store_image_gen_sync(gen_fd);
	if (r == 0)
		r = fsync_dir_at(tmp_fd, "gens");
	return r < 0 ? r : fsync(tmp_fd) < 0 ? -errno : 0;
}

/*
 * Fill the hidden directory tmp (tmp_rel below the store root) with
 * generation 1, its manifest and base.conf, make it durable, and rename it
 * to bases/NAME.
 */
static int fill_new_base(struct store *s, const char *name, const char *source, const char *description,
			 struct store_import_opts *o, const char *tmp_rel, const char *tmp,
			 struct import_stats *st, struct lc_err *err)
{
	_cleanup_free_ char *tree = NULL, *manifest = NULL, *final_rel = NULL;
	int r;

	if (asprintf(&tree, "%s/gens/1/tree", tmp) < 0 || asprintf(&manifest, "%s/gens/1/manifest", tmp) < 0 ||
	    asprintf(&final_rel, "bases/%s", name) < 0)
		return lc_err_ret(err, -ENOMEM, "out of memory");
	if (o->keep_image) {
		/* gens/1 holds the image, its mount point tree/ and the manifest. */
		_cleanup_free_ char *gen_dir = strndup(tree, strlen(tree) - strlen("/tree"));
		struct store_image_fill fill = { .progress = o->progress, .expect_checksum = o->expect_checksum,
						 .expect_manifest = o->expect_manifest };
		if (!gen_dir || (r = mkdir_p(gen_dir, 0755)) < 0)
			return lc_err_ret(err, gen_dir ? r : -ENOMEM, "mkdir %s: %s", tree, strerror(gen_dir ? -r : ENOMEM));
		r = store_gen_fill_from_image(source, gen_dir, &fill, st, err);
		if (r < 0)
			return err && err->msg[0] ? r : lc_err_ret(err, r, "%s", strerror(-r));
		o->adopted = fill.adopted;
	} else {
		if ((r = store_check_source_checksum(source, o->expect_checksum, err)) < 0)
			return r;
		if ((r = mkdir_p(tree, 0755)) < 0)
			return lc_err_ret(err, r, "mkdir %s: %s", tree, strerror(-r));
		if ((r = import_and_scan(s, source, tree, manifest, o->progress, st, err)) < 0)
			return r;
	}
	if (o->expect_manifest && !o->adopted && (r = check_manifest(manifest, o->expect_manifest, err)) < 0)
		return r;
	_cleanup_close_ int tmp_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tmp_fd < 0)
		return lc_err_ret(err, -errno, "%s: %m", tmp);
	if ((r = write_base_conf(tmp_fd, source, description)) < 0)
		return lc_err_ret(err, r, "base.conf: %s", strerror(-r));
	/* Every file of the tree durable before the rename makes it visible. */
	if ((r = sync_new_base(tmp_fd, o->keep_image)) < 0)
		return lc_err_ret(err, r, "sync: %s", strerror(-r));
	test_hook("import-before-rename");
	if (renameat2(s->root_fd, tmp_rel, s->root_fd, final_rel, RENAME_NOREPLACE) < 0)
		return lc_err_ret(err, -errno, "rename into place: %m");
	fsync_dir_at(s->root_fd, "bases");
	return 0;
}

/*
 * A source holding the store, or inside it (bases/, children/), would copy
 * the import's own temporary tree into itself forever.
 */
static int check_source_outside(struct store *s, const char *source, struct lc_err *err)
{
	int r = store_overlaps(s, source);
	if (r < 0)
		return lc_err_ret(err, r, "source %s: %s", source, strerror(-r));
	if (r == STORE_HOLDS_PATH)
		return lc_err_ret(err, -EINVAL, "source %s is inside the store %s", source, s->root);
	if (r == PATH_HOLDS_STORE)
		return lc_err_ret(err, -EINVAL, "source %s contains the store %s", source, s->root);
	return 0;
}

int store_base_import(struct store *s, const char *name, const char *source, const char *description,
		      const struct lc_warn *progress, struct import_stats *st, struct lc_err *err)
{
	return store_base_import_opts(s, name, source, description, &(struct store_import_opts){}, progress, st, err);
}

int store_base_import_opts(struct store *s, const char *name, const char *source, const char *description,
			   struct store_import_opts *o, const struct lc_warn *progress, struct import_stats *st,
			   struct lc_err *err)
{
	const char *why;
	int r;

	if (name_validate(name, &why) < 0)
		return lc_err_ret(err, -EINVAL, "base name '%s': %s", name, why);
	if (description && !settings_value_ok(description))
		return lc_err_ret(err, -EINVAL, "the description must be one line");
	if (source[0] != '/' || !settings_value_ok(source))
		return lc_err_ret(err, -EINVAL, "source path %s must be absolute and one line", source);
	if ((r = check_source_outside(s, source, err)) < 0)
		return r;

	_cleanup_close_ int lock = store_lock(s, LOCK_BASE, name, LOCK_EX);
	if (lock < 0)
		return lc_err_ret(err, lock, "lock: %s", strerror(-lock));
	_cleanup_free_ char *final = store_base_dir(s, name);
	if (!final)
		return -ENOMEM;
	if (access(final, F_OK) == 0)
		return lc_err_ret(err, -EEXIST, "a base of that name already exists");
	store_sweep(s);

	/* Build everything under a hidden name, then rename it into place in one step. */
	_cleanup_free_ char *tmp_rel = NULL, *tmp = NULL;
	if (asprintf(&tmp_rel, "bases/.new-%s@%d", name, (int)getpid()) < 0 ||
	    asprintf(&tmp, "%s/%s", s->root, tmp_rel) < 0)
		return lc_err_ret(err, -ENOMEM, "out of memory");
	lc_warn(progress, "Importing %s into base %s ...", source, name);
	r = fill_new_base(s, name, source, description, o, tmp_rel, tmp, st, err);
	if (r < 0)
		rm_rf_at(s->root_fd, tmp_rel);
	return r;
}

int store_children_of(struct store *s, const char *base, char ***ret, size_t *ret_n, bool *corrupt)
{
	char **all = NULL;
	size_t n = 0, k = 0;
	int r = store_list_children(s, &all, &n);
	if (r < 0)
		return r;
	char **v = calloc(n + 1, sizeof(*v));
	if (!v) {
		strv_free(all);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct child_info c;
		if (store_child_load(s, all[i], &c, NULL) < 0) {
			if (corrupt)
				*corrupt = true;
			continue;
		}
		if (strcmp(c.base, base) == 0)
			v[k++] = strdup(all[i]);
		child_info_done(&c);
	}
	strv_free(all);
	*ret = v;
	*ret_n = k;
	return 0;
}

/* Refuse while a child uses the base, or while some child.conf cannot tell. */
static int check_base_unused(struct store *s, const char *name, struct lc_err *err)
{
	char **kids = NULL;
	size_t nk = 0;
	bool corrupt = false;
	int r = store_children_of(s, name, &kids, &nk, &corrupt);
	if (r < 0)
		return lc_err_ret(err, r, "%s", strerror(-r));
	if (nk > 0)
		lc_err_set(err, "in use by %zu child%s (%s%s); remove them first", nk, nk == 1 ? "" : "ren", kids[0],
			   nk > 1 ? ", ..." : "");
	strv_free(kids);
	if (nk > 0)
		return -EBUSY;
	if (corrupt)
		return lc_err_ret(err, -EBADMSG,
				  "some child.conf cannot be read, so it is unknown whether a child uses this base (see "
				  "'layerctl child list'; a broken child can be removed with 'layerctl child rm')");
	return 0;
}

int store_base_remove(struct store *s, const char *name, struct lc_err *err)
{
	_cleanup_free_ char *rel = NULL;
	const char *why;
	int r;

	if (name_validate(name, &why) < 0)
		return lc_err_ret(err, -EINVAL, "base name '%s': %s", name, why);
	/* Exclusive: child create holds it shared while it adds a child of this base. */
	_cleanup_close_ int lock = store_lock(s, LOCK_BASE, name, LOCK_EX);
	if (lock < 0)
		return lc_err_ret(err, lock, "lock: %s", strerror(-lock));
	if (asprintf(&rel, "bases/%s", name) < 0)
		return -ENOMEM;
	if (faccessat(s->root_fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return lc_err_ret(err, -ENOENT, "no such base");
	store_sweep(s);
	if ((r = check_base_unused(s, name, err)) < 0)
		return r;
	/* An image generation no child uses any more may still be mounted: never remove through a mount. */
	struct base_info b;
	if (store_base_load(s, name, &b, NULL) == 0) {
		r = 0;
		for (size_t i = 0; i < b.n_gens && r == 0; i++)
			r = store_gen_image_release_all(s, name, b.gens[i], err);
		base_info_done(&b);
		if (r < 0)
			return r;
	}
	r = remove_atomically(s->root_fd, rel);
	if (r < 0)
		return lc_err_ret(err, r, "%s", strerror(-r));
	return r;
}
