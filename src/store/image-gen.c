/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Generations kept as images (`base import --keep-image`): gens/N/image is a
 * squashfs or EROFS file, gens/N/tree an empty directory it is loop-mounted
 * on, read-only, while a child needs it.  Mounted and unmounted under
 * locks/image.BASE.N; whether it is mounted, and whether a child still uses
 * it, is read from the kernel's mount table every time (docs/store.md).
 */
#include <fcntl.h>
#include <stdio.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "src/basic/mount-dl.h"
#include "diff/diff.h"
#include "overlay/overlay.h"
#include "src/basic/fileio.h"
#include "src/basic/fsutil.h"
#include "src/basic/testhook.h"
#include "src/store/checksum.h"
#include "src/store/image.h"
#include "src/store/import.h"
#include "src/store/store.h"

static void cxt_freep(struct libmnt_context **c) { mnt_free_context(*c); }
static void table_freep(struct libmnt_table **t) { mnt_unref_table(*t); }

static char *gen_file(const struct store *s, const char *base, unsigned gen, const char *what)
{
	_cleanup_free_ char *dir = store_gen_dir(s, base, gen);
	char *p = NULL;
	if (!dir || asprintf(&p, "%s/%s", dir, what) < 0)
		return NULL;
	return p;
}

int store_gen_is_image(struct store *s, const char *base, unsigned gen)
{
	char rel[NAME_MAX_LEN + 64];
	snprintf(rel, sizeof(rel), "bases/%s/gens/%u/image", base, gen);
	if (faccessat(s->root_fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	return errno == ENOENT ? 0 : -errno;
}

/* locks/image.BASE.N: one mount or release of the image at a time. */
static int image_lock(struct store *s, const char *base, unsigned gen)
{
	char rel[NAME_MAX_LEN + 64];
	snprintf(rel, sizeof(rel), "locks/image.%s.%u", base, gen);
	if (mkdirat(s->root_fd, "locks", 0755) < 0 && errno != EEXIST)
		return -errno;
	int fd = openat(s->root_fd, rel, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			int r = -errno;
			close(fd);
			return r;
		}
	return fd;
}

/* 1 when the image is mounted on tree, 0 when nothing is, -EBUSY when something else is. */
static int image_mounted(const char *tree)
{
	_cleanup_(table_freep) struct libmnt_table *tb = mnt_new_table_from_file("/proc/self/mountinfo");
	if (!tb)
		return -errno ? -errno : -ENOMEM;
	struct libmnt_fs *fs = mnt_table_find_target(tb, tree, MNT_ITER_BACKWARD);
	if (!fs)
		return 0;
	const char *type = mnt_fs_get_fstype(fs);
	return type && (strcmp(type, "squashfs") == 0 || strcmp(type, "erofs") == 0) ? 1 : -EBUSY;
}

static int mount_on_tree(const char *image, const char *tree, struct lc_err *err)
{
	struct image_info img;
	int r = image_probe(image, &img, err);
	if (r == 0 || (r > 0 && (img.partno || (strcmp(img.fstype, "squashfs") && strcmp(img.fstype, "erofs")))))
		return lc_err_ret(err, -EINVAL, "%s is no longer a squashfs or EROFS image", image);
	if (r < 0)
		return r;
	_cleanup_(cxt_freep) struct libmnt_context *cxt = mnt_new_context();
	char why[BUFSIZ] = "";
	/*
	 * Read-only through a read-only loop device libmount sets up with
	 * autoclear: it goes with the last unmount.  No utab entry (it would
	 * outlive a reboot's /run no better than the mount).
	 */
	if (!cxt || mnt_context_disable_helpers(cxt, 1) < 0 || mnt_context_disable_mtab(cxt, 1) < 0 ||
	    mnt_context_set_fstype(cxt, img.fstype) < 0 || mnt_context_set_source(cxt, image) < 0 ||
	    mnt_context_set_target(cxt, tree) < 0 || mnt_context_set_options(cxt, "ro,loop") < 0)
		return lc_err_ret(err, -ENOMEM, "cannot set up the mount context");
	int rc = mnt_context_mount(cxt);
	if (rc == 0)
		return 0;
	r = mnt_context_syscall_called(cxt) ? -mnt_context_get_syscall_errno(cxt) : rc < 0 ? rc : -EIO;
	mnt_context_get_excode(cxt, rc, why, sizeof(why));
	return lc_err_ret(err, r < 0 ? r : -EIO, "mount the image %s: %s", image, why[0] ? why : strerror(r < 0 ? -r : EIO));
}

int store_gen_image_mount(struct store *s, const char *base, unsigned gen, struct lc_err *err)
{
	int r = store_gen_is_image(s, base, gen);
	if (r <= 0)
		return r;
	_cleanup_free_ char *image = gen_file(s, base, gen, "image"), *tree = gen_file(s, base, gen, "tree");
	if (!image || !tree)
		return -ENOMEM;
	_cleanup_close_ int lock = image_lock(s, base, gen);
	if (lock < 0)
		return lc_err_ret(err, lock, "image lock: %s", strerror(-lock));
	r = image_mounted(tree);
	if (r == -EBUSY)
		return lc_err_ret(err, r, "something other than the generation's image is mounted at %s", tree);
	if (r != 0)
		return r < 0 ? lc_err_ret(err, r, "mount table: %s", strerror(-r)) : 0;
	return mount_on_tree(image, tree, err);
}

/* Is some child on base generation gen mounted (its overlay in this namespace's mount table)? */
static int gen_in_use(struct store *s, const char *base, unsigned gen)
{
	char **kids = NULL;
	size_t n = 0;
	int used = 0;
	int r = store_children_of(s, base, &kids, &n, NULL);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && !used; i++) {
		struct child_info c;
		if (store_child_load(s, kids[i], &c, NULL) < 0)
			continue;
		if (c.gen == gen) {
			_cleanup_free_ char *root = store_child_path(s, c.name, "root");
			_cleanup_free_ char *upper = store_child_path(s, c.name, "upper");
			used = root && upper && ov_is_mounted(root, upper) > 0;
		}
		child_info_done(&c);
	}
	strv_free(kids);
	return used;
}

int store_gen_image_release(struct store *s, const char *base, unsigned gen, struct lc_err *err)
{
	int r = store_gen_is_image(s, base, gen);
	if (r <= 0)
		return r;
	_cleanup_free_ char *tree = gen_file(s, base, gen, "tree");
	if (!tree)
		return -ENOMEM;
	_cleanup_close_ int lock = image_lock(s, base, gen);
	if (lock < 0)
		return lc_err_ret(err, lock, "image lock: %s", strerror(-lock));
	if (image_mounted(tree) != 1)
		return 0;
	if ((r = gen_in_use(s, base, gen)) != 0)
		return r < 0 ? r : 0;
	_cleanup_(cxt_freep) struct libmnt_context *cxt = mnt_new_context();
	if (!cxt || mnt_context_disable_helpers(cxt, 1) < 0 || mnt_context_disable_mtab(cxt, 1) < 0 ||
	    mnt_context_set_target(cxt, tree) < 0)
		return -ENOMEM;
	/* Busy (a shell inside it, a running `run` of an old mount): left for the next release. */
	if (mnt_context_umount(cxt) != 0)
		return 0;
	return 1;
}

int store_gen_image_release_all(struct store *s, const char *base, unsigned gen, struct lc_err *err)
{
	int r = store_gen_image_release(s, base, gen, err);
	if (r <= 0 && (r < 0 || store_gen_is_image(s, base, gen) <= 0))
		return r;
	_cleanup_free_ char *tree = gen_file(s, base, gen, "tree");
	if (!tree)
		return -ENOMEM;
	/* Still mounted: a child of it is mounted, or the unmount was refused (busy). */
	if (image_mounted(tree) == 1)
		return lc_err_ret(err, -EBUSY, "the image of generation %u is still mounted at %s (in use)", gen, tree);
	return 0;
}

int store_gen_image_open_root(struct store *s, const char *base, unsigned gen, struct lc_err *err)
{
	_cleanup_free_ char *image = gen_file(s, base, gen, "image"), *dir = store_gen_dir(s, base, gen);
	struct image_info img;
	if (!image || !dir)
		return -ENOMEM;
	int r = image_probe(image, &img, err);
	if (r == 0)
		return lc_err_ret(err, -EINVAL, "%s is no longer an image", image);
	if (r < 0)
		return r;
	return image_open_root(image, &img, dir, err);
}

/* ---- filling a generation from an image file ---- */

static int copy_file(const char *src, int dirfd, const char *name, struct lc_err *err)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return lc_err_ret(err, -errno, "%s: %m", src);
	_cleanup_close_ int out = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
	if (out < 0)
		return lc_err_ret(err, -errno, "%s: %m", name);
	/* A reflink where the file system shares blocks, else the kernel copies. */
	if (ioctl(out, FICLONE, in) == 0)
		return 0;
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (n == 0)
			return 0;
		if (n < 0)
			return lc_err_ret(err, -errno, "copy %s into the store: %m", src);
	}
}

/* The mount point carries the image root's owner, mode and times: child create copies them without a mount. */
static int make_tree_dir(int gen_fd, uid_t uid, gid_t gid, mode_t mode, struct timespec mtime, struct lc_err *err)
{
	if (mkdirat(gen_fd, "tree", 0755) < 0)
		return lc_err_ret(err, -errno, "tree: %m");
	_cleanup_close_ int t = openat(gen_fd, "tree", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct timespec times[2] = { mtime, mtime };
	if (t < 0 || fchown(t, uid, gid) < 0 || fchmod(t, mode & 07777) < 0 || futimens(t, times) < 0)
		return lc_err_ret(err, -errno, "tree: %m");
	return 0;
}

static int check_image_kind(const char *source, struct image_info *img, struct lc_err *err)
{
	int r = image_probe(source, img, err);
	if (r < 0)
		return r;
	if (r == 0 || img->partno || (strcmp(img->fstype, "squashfs") && strcmp(img->fstype, "erofs")))
		return lc_err_ret(err, -EINVAL, "--keep-image needs a squashfs or EROFS file system image; %s is %s%s%s",
				  source, r == 0 ? "not an image" : img->partno ? "a disk image (" : "",
				  r == 0 ? "" : img->partno ? img->pttype : img->fstype, r && img->partno ? ")" : "");
	return 0;
}

/*
 * The exporter's manifest as this generation's: the stored copy of the image
 * matched FILE.xxh128, so it is byte for byte the image `base export` made
 * and described in FILE.manifest.  Nothing of the image is read or mounted:
 * `base verify` re-hashes every file through it.
 */
static int adopt_manifest(int gen_fd, const char *expect, struct import_stats *st, struct lc_err *err)
{
	_cleanup_manifest_ struct diff_manifest *m = NULL;
	struct lc_err e = { "" };
	int r = diff_manifest_open(expect, &m, &e);
	if (r < 0)
		return lc_err_ret(err, r, "--verify: %s: %s", expect, lc_err_msg(&e, r));
	struct diff_entry root;
	if (diff_manifest_count(m) == 0 || (diff_manifest_get(m, 0, &root), root.path_len != 0) || !S_ISDIR(root.mode))
		return lc_err_ret(err, -EBADMSG, "--verify: %s has no root directory entry", expect);
	_cleanup_close_ int in = open(expect, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (in < 0 || (r = lc_read_full(in, &data, &len)) < 0)
		return lc_err_ret(err, in < 0 ? -errno : r, "--verify: %s: %s", expect, strerror(in < 0 ? errno : -r));
	if ((r = lc_write_atomic(gen_fd, "manifest", data, len, 0644, false)) < 0)
		return lc_err_ret(err, r, "manifest: %s", strerror(-r));
	st->entries = diff_manifest_count(m);
	return make_tree_dir(gen_fd, root.uid, root.gid, root.mode,
			     (struct timespec){ .tv_sec = root.mtime_sec, .tv_nsec = root.mtime_nsec }, err);
}

/* The manifest and the root's metadata through a private mount of the stored copy: every file read. */
static int scan_image(const char *gen_dir, int gen_fd, const struct image_info *img,
		      const struct lc_progress *progress, struct import_stats *st, struct lc_err *err)
{
	_cleanup_free_ char *image = NULL, *manifest = NULL;
	struct stat rst;
	int r;
	if (asprintf(&image, "%s/image", gen_dir) < 0 || asprintf(&manifest, "%s/manifest", gen_dir) < 0)
		return -ENOMEM;
	_cleanup_close_ int root = image_open_root(image, img, gen_dir, err);
	if (root < 0)
		return root;
	if (fstat(root, &rst) < 0)
		return lc_err_ret(err, -errno, "image root: %m");
	if ((r = make_tree_dir(gen_fd, rst.st_uid, rst.st_gid, rst.st_mode, rst.st_mtim, err)) < 0)
		return r;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d/.", root);
	struct statfs sfs;
	uint64_t total = fstatfs(root, &sfs) == 0 && sfs.f_files > sfs.f_ffree ? sfs.f_files - sfs.f_ffree : 0;
	if ((r = diff_manifest_build_progress(path, manifest, progress, total, err)) < 0)
		return err && err->msg[0] ? r : lc_err_ret(err, r, "manifest: %s", strerror(-r));
	_cleanup_manifest_ struct diff_manifest *m = NULL;
	if (diff_manifest_open(manifest, &m, NULL) == 0)
		st->entries = diff_manifest_count(m);
	return 0;
}

int store_gen_fill_from_image(const char *source, const char *gen_dir, struct store_image_fill *o,
			      struct import_stats *st, struct lc_err *err)
{
	struct image_info img;
	struct stat sst;
	int r = check_image_kind(source, &img, err);
	if (r < 0)
		return r;
	_cleanup_close_ int gen_fd = open(gen_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (gen_fd < 0 || stat(source, &sst) < 0)
		return lc_err_ret(err, -errno, "%s: %m", gen_fd < 0 ? gen_dir : source);
	if ((r = copy_file(source, gen_fd, "image", err)) < 0)
		return r;
	memset(st, 0, sizeof(*st));
	st->bytes = (uint64_t)sst.st_size;
	/* The stored copy is what is checked: what children will mount. */
	if (o->expect_checksum) {
		_cleanup_close_ int fd = openat(gen_fd, "image", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return lc_err_ret(err, -errno, "image: %m");
		if ((r = checksum_check_fd(fd, true, source, o->expect_checksum, err)) < 0)
			return r;
		/* Adopted only when the checksum file also names this very manifest (not a stale one beside a new image). */
		if (o->expect_manifest && (r = checksum_check_manifest(o->expect_manifest, o->expect_checksum, err)) != 0) {
			if (r < 0)
				return r;
			test_hook("image-adopt-manifest");
			o->adopted = true;
			return adopt_manifest(gen_fd, o->expect_manifest, st, err);
		}
	}
	return scan_image(gen_dir, gen_fd, &img, o->progress, st, err);
}

int store_image_gen_sync(int gen_fd)
{
	static const char *const files[] = { "image", "manifest", "gen.conf" };
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		_cleanup_close_ int fd = openat(gen_fd, files[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 && errno == ENOENT)
			continue; /* gen.conf: generation 1 has none */
		if (fd < 0 || fsync(fd) < 0)
			return -errno;
	}
	int r = fsync_dir_at(gen_fd, "tree");
	return r < 0 ? r : fsync(gen_fd) < 0 ? -errno : 0;
}
