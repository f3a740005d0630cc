/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Children of a base: create, reset and remove (docs/store.md).  Every
 * change is atomic: a new child is built under children/.new-NAME@PID and
 * renamed into place, a reset swaps in a fresh upper dir with one
 * RENAME_EXCHANGE, a removal renames the child to .trash-* first.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "src/basic/durable.h"
#include "src/basic/fileio.h"
#include "src/basic/testhook.h"
#include "src/store/store.h"
#include "src/store/uidrange.h"
#include "overlay/overlay.h"

/* The tree root's xattrs (ACLs, security labels…), overlay's own excepted. */
static int copy_root_xattrs(const char *tree, int upper_fd)
{
	char names[65536], value[65536];
	ssize_t n = llistxattr(tree, names, sizeof(names));
	if (n < 0)
		return errno == ENOTSUP ? 0 : -errno;
	for (char *name = names; name < names + n; name += strlen(name) + 1) {
		if (ov_xattr_is_private(name))
			continue;
		ssize_t v = lgetxattr(tree, name, value, sizeof(value));
		if (v < 0)
			return -errno;
		if (fsetxattr(upper_fd, name, value, (size_t)v, 0) < 0)
			return -errno;
	}
	return 0;
}

/*
 * The overlay's root directory is the upper dir's root inode, so the merged
 * "/" shows the upper dir's owner, mode, xattrs and times: give it the base
 * tree's (lstat: the tree root is always a real directory).
 */
static int copy_root_attributes(const char *tree, int upper_fd)
{
	struct stat st;
	int r;
	if (lstat(tree, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (fchown(upper_fd, st.st_uid, st.st_gid) < 0 || fchmod(upper_fd, st.st_mode & 07777) < 0)
		return -errno;
	if ((r = copy_root_xattrs(tree, upper_fd)) < 0)
		return r;
	struct timespec ts[2] = { st.st_atim, st.st_mtim };
	return futimens(upper_fd, ts) < 0 ? -errno : 0;
}

/* Make dir/upper, dir/work and dir/root (dir: fd of the new child dir). */
static int make_child_dirs(int dirfd, const char *tree)
{
	if (mkdirat(dirfd, "upper", 0755) < 0 || mkdirat(dirfd, "work", 0700) < 0 || mkdirat(dirfd, "root", 0755) < 0)
		return -errno;
	_cleanup_close_ int ufd = openat(dirfd, "upper", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ufd < 0)
		return -errno;
	return copy_root_attributes(tree, ufd);
}

static struct settings *new_child_conf(const char *base, unsigned gen, const char *description)
{
	char g[32];
	snprintf(g, sizeof(g), "%u", gen);
	struct settings *conf = settings_new();
	if (!conf || settings_set(conf, "Child", "Base", base) < 0 || settings_set(conf, "Child", "Generation", g) < 0 ||
	    (description && settings_set(conf, "Child", "Description", description) < 0)) {
		settings_free(conf);
		return NULL;
	}
	return conf;
}

/*
 * child.conf, written in place: the new child's directory is invisible until
 * its rename, so the file needs no temp name of its own (atomic_write_at's
 * rename and second directory fsync bought nothing here).  Its fsync makes
 * its contents durable before the rename can publish them.
 */
static int write_child_conf(int dfd, const struct settings *conf)
{
	_cleanup_free_ char *text = settings_to_string(conf);
	if (!text)
		return -ENOMEM;
	_cleanup_close_ int fd = openat(dfd, "child.conf", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int r = lc_write_all(fd, text, strlen(text));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	return r;
}

/*
 * Everything in the new child's directory durable before the rename, with
 * as few fsyncs as the file system allows (src/basic/durable.h,
 * docs/durability.md): on ext4 with a journal and xfs, child.conf's fsync
 * (the last change in the directory) commits the journal with the mkdirs
 * and attributes before it.  Elsewhere each new directory is fsynced too:
 * on an ext4 without a journal a crash otherwise lost the empty
 * directories' blocks (e2fsck then "salvaged" upper, work and root).
 */
static int make_child_durable(int dfd, const struct settings *conf)
{
	bool one_commit = fsync_new_file_covers_new_dir(dfd);
	int r;
	for (const char *const *d = (const char *const[]){ "upper", "work", "root", NULL }; !one_commit && *d; d++)
		if ((r = fsync_dir_at(dfd, *d)) < 0)
			return r;
	if ((r = write_child_conf(dfd, conf)) < 0)
		return r;
	if (one_commit)
		return 0;
	return fsync(dfd) < 0 ? -errno : 0;
}

/* Build the child under tmp_rel (upper, work, root, child.conf), durable; then rename it to final_rel. */
static int build_child(struct store *s, const char *tmp_rel, const char *final_rel, const char *tree,
		       const struct settings *conf, struct lc_err *err)
{
	int r;
	if (mkdirat(s->root_fd, tmp_rel, 0755) < 0)
		return lc_err_ret(err, -errno, "mkdir %s/%s: %m", s->root, tmp_rel);
	_cleanup_close_ int dfd = openat(s->root_fd, tmp_rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || (r = make_child_dirs(dfd, tree)) < 0 || (r = make_child_durable(dfd, conf)) < 0) {
		r = dfd < 0 ? -errno : r;
		rm_rf_at(s->root_fd, tmp_rel);
		return lc_err_ret(err, r, "setting up %s/%s (base tree %s): %s", s->root, final_rel, tree, strerror(-r));
	}
	test_hook("create-before-rename");
	/* NOREPLACE: if another create won (it cannot while we hold the lock), we fail cleanly. */
	if (renameat2(s->root_fd, tmp_rel, s->root_fd, final_rel, RENAME_NOREPLACE) < 0) {
		r = -errno;
		rm_rf_at(s->root_fd, tmp_rel);
		return lc_err_ret(err, r, "%s", r == -EEXIST ? "a child of that name already exists" : strerror(-r));
	}
	fsync_dir_at(s->root_fd, "children");
	return 0;
}

int store_child_create(struct store *s, const char *name, const char *base, const char *description,
		       unsigned *ret_gen, struct lc_err *err)
{
	_cleanup_free_ char *tmp_rel = NULL, *final_rel = NULL, *tree = NULL;
	struct base_info b;
	const char *why;
	int r;

	if (name_validate(name, &why) < 0)
		return lc_err_ret(err, -EINVAL, "child name '%s': %s", name, why);
	if (name_validate(base, &why) < 0)
		return lc_err_ret(err, -EINVAL, "base name '%s': %s", base, why);
	if (description && !settings_value_ok(description))
		return lc_err_ret(err, -EINVAL, "the description must be one line");
	/*
	 * Base lock shared (the base stays while we add a child of it), then the
	 * child lock (one create of NAME at a time) — base before child, the
	 * store's lock order.
	 */
	_cleanup_close_ int block = store_lock(s, LOCK_BASE, base, LOCK_SH);
	_cleanup_close_ int clock = block >= 0 ? store_lock(s, LOCK_CHILD, name, LOCK_EX) : -1;
	if (clock < 0 || block < 0)
		return lc_err_ret(err, block < 0 ? block : clock, "lock: %s", strerror(-(block < 0 ? block : clock)));
	if (asprintf(&final_rel, "children/%s", name) < 0 ||
	    asprintf(&tmp_rel, "children/.new-%s@%d", name, (int)getpid()) < 0)
		return -ENOMEM;
	if (faccessat(s->root_fd, final_rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return lc_err_ret(err, -EEXIST, "a child of that name already exists");
	r = store_base_load(s, base, &b, err);
	if (r == -ENOENT)
		return lc_err_ret(err, r, "no base named %s", base);
	if (r < 0) {
		if (!err || !err->msg[0])
			lc_err_set(err, "%s", strerror(-r));
		lc_err_wrap(err, "base %s", base);
		return r;
	}
	unsigned gen = b.current;
	tree = store_gen_tree(s, base, gen);
	base_info_done(&b);
	_cleanup_settings_ struct settings *conf = new_child_conf(base, gen, description);
	if (!tree || !conf)
		return lc_err_ret(err, -ENOMEM, "out of memory");

	store_sweep(s);
	const char *leftover = tmp_rel + strlen("children/");
	if ((r = store_inflight_begin(s, leftover)) < 0)
		return lc_err_ret(err, r, "recording the create under %s: %s", s->runtime, strerror(-r));
	r = build_child(s, tmp_rel, final_rel, tree, conf, err);
	/* Renamed into place or removed: nothing left to sweep (else the record stays for a later sweep). */
	if (faccessat(s->root_fd, tmp_rel, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
		store_inflight_end(s, leftover);
	if (r < 0)
		return r;
	if (ret_gen)
		*ret_gen = gen;
	return 0;
}

int store_child_reset(struct store *s, const struct child_info *c, const struct lc_warn *warn, struct lc_err *err)
{
	_cleanup_free_ char *dir_rel = NULL, *tree = store_gen_tree(s, c->base, c->gen);
	int r;

	if (!tree || asprintf(&dir_rel, "children/%s", c->name) < 0)
		return -ENOMEM;
	_cleanup_close_ int dfd = openat(s->root_fd, dir_rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return lc_err_ret(err, -errno, "%s/%s: %m", s->root, dir_rel);

	/* A fresh upper, swapped in with one atomic RENAME_EXCHANGE; then drop the old one. */
	rm_rf_at(dfd, ".upper-new");
	if (mkdirat(dfd, ".upper-new", 0755) < 0)
		return lc_err_ret(err, -errno, "mkdir: %m");
	_cleanup_close_ int ufd = openat(dfd, ".upper-new", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* A user-namespace child's upper is stored in its range, the fresh one too (uidrange.h). */
	if (ufd < 0 || (r = copy_root_attributes(tree, ufd)) < 0 || (r = store_child_shift_new_upper(c, ufd)) < 0 ||
	    fsync(ufd) < 0) {
		r = ufd < 0 || r == 0 ? -errno : r;
		rm_rf_at(dfd, ".upper-new");
		return lc_err_ret(err, r, "%s", strerror(-r));
	}
	if (renameat2(dfd, ".upper-new", dfd, "upper", RENAME_EXCHANGE) < 0) {
		r = -errno;
		rm_rf_at(dfd, ".upper-new");
		return lc_err_ret(err, r, "swap upper dir: %s", strerror(-r));
	}
	fsync(dfd);
	if ((r = rm_rf_at(dfd, ".upper-new")) < 0)
		lc_warn(warn, "removing the old upper dir: %s", strerror(-r));
	/* The work dir is the kernel's scratch space; empty it too. */
	_cleanup_close_ int wfd = openat(dfd, "work", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (wfd >= 0) {
		rm_rf_at(wfd, "work");
		rm_rf_at(wfd, "index");
	}
	return 0;
}

int store_child_remove(struct store *s, const char *name, struct lc_err *err)
{
	_cleanup_free_ char *rel = NULL;
	if (name_validate(name, NULL) < 0)
		return lc_err_ret(err, -EINVAL, "child name '%s' is not valid", name);
	store_sweep(s);
	if (asprintf(&rel, "children/%s", name) < 0)
		return -ENOMEM;
	struct child_info c;
	bool known = store_child_load(s, name, &c, NULL) == 0;
	char trash[TRASH_NAME_MAX];
	trash_name(name, trash);
	int r = store_inflight_begin(s, trash);
	if (r < 0) {
		if (known)
			child_info_done(&c);
		return lc_err_ret(err, r, "recording the removal under %s: %s", s->runtime, strerror(-r));
	}
	r = remove_atomically_as(s->root_fd, rel, trash);
	/* 1: the trash could not be deleted whole, and the record stays for a later sweep. */
	if (r != 1)
		store_inflight_end(s, trash);
	/* An image generation left mounted for runs (image-gen.c) goes with its last child. */
	if (known && r >= 0)
		store_gen_image_release(s, c.base, c.gen, NULL);
	if (known)
		child_info_done(&c);
	if (r < 0)
		return lc_err_ret(err, r, "%s", strerror(-r));
	return r;
}

int store_child_exists(struct store *s, const char *name)
{
	_cleanup_free_ char *rel = NULL;
	if (asprintf(&rel, "children/%s", name) < 0)
		return -ENOMEM;
	return faccessat(s->root_fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ? 1 : errno == ENOENT ? 0 : -errno;
}
