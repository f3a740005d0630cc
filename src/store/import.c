/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Filling a new base generation from a directory or a tarball, both through
 * libarchive: archive_read_disk (or archive_read) feeds entries to
 * archive_write_disk.  One code path for both sources means owners, modes,
 * times, hard links, device nodes, fifos, ACLs and xattrs are handled the same
 * way, by a library that has handled them for twenty years.
 */
#include <fcntl.h>
#include <search.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "src/basic/testhook.h"
#include "diff/diff.h"
#include "src/store/archive-dl.h"
#include "src/store/image.h"
#include "src/store/import.h"
#include "src/basic/macro.h"

static void archive_freep(struct archive **a) { if (*a) archive_free(*a); }
static void resolver_freep(struct archive_entry_linkresolver **r) { if (*r) archive_entry_linkresolver_free(*r); }
#define _cleanup_archive_ _cleanup_(archive_freep)

struct import {
	const char *dest;             /* the tree being filled */
	const char *source;
	struct import_stats *stats;
	const struct stat *skip;      /* a directory never to copy (the store), or NULL */
	struct stat dest_st;          /* the tree being filled: never copied into itself */
	import_file_hook hook;        /* directory imports: asked before each regular file */
	void *hook_data;
	struct lc_err *err;
	const struct lc_warn *warn;   /* metadata not restored, sockets skipped */
	const struct lc_progress *progress;
	uint64_t total_entries;       /* 0: unknown */
	struct diff_manifest *contents; /* directory imports: each copied file's hash, or NULL */
	struct diff_hasher *hasher;     /* with contents */
};

/* libarchive's "Unrecognized archive format" errno (ARCHIVE_ERRNO_FILE_FORMAT is private to it). */
#define LC_ARCHIVE_FORMAT_ERRNO EILSEQ
#define NOT_SOURCE                                                                                             \
	"not a directory, a supported archive (tar, optionally gzip, xz, zstd or bzip2 compressed) or a disk or " \
	"file system image libblkid recognises"

/* What to call an entry in messages: its path inside the tree, "./etc/x". */
static const char *shown(const struct import *im, const char *path)
{
	size_t n = strlen(im->dest);
	if (n > 0 && strncmp(path, im->dest, n) == 0 && (path[n] == '/' || path[n] == '\0'))
		return path[n] ? path + n + 1 : ".";
	return path;
}

static int fail(const struct import *im, struct archive *a, const char *what, const char *path)
{
	int e = archive_errno(a);
	const char *msg = archive_error_string(a);
	/* libarchive's text ("Write failed") does not always carry the errno's ("No space left"). */
	bool add_errno = msg && e > 0 && !strstr(msg, strerror(e));
	lc_err_set(im->err, "%s %s: %s%s%s%s", what, shown(im, path), msg ? msg : strerror(e > 0 ? e : EIO),
		   add_errno ? " (" : "", add_errno ? strerror(e) : "", add_errno ? ")" : "");
	return e > 0 ? -e : -EIO;
}

static int fail_msg(const struct import *im, int r, const char *path, const char *msg)
{
	return lc_err_ret(im->err, r, "%s: %s", shown(im, path), msg);
}

/*
 * libarchive reports "could not restore this ACL/xattr/owner" as a warning:
 * pass the first few on to the caller's callback (the CLI prints them).
 */
static void warn(const struct import *im, struct archive *a, const char *path, const char *why)
{
	if (im->stats->warnings++ < 5)
		lc_warn(im->warn, "%s: %s", shown(im, path),
			why ? why : archive_error_string(a) ? archive_error_string(a) : "metadata not fully restored");
	else if (im->stats->warnings == 6)
		lc_warn(im->warn, "(more warnings not shown)");
}

/*
 * The entry's path inside the tree: strip "./", leading "/", and the source
 * prefix for directory imports.  "" is the tree root itself.
 */
static const char *relative_name(const char *path, const char *strip_prefix)
{
	if (strip_prefix) {
		size_t n = strlen(strip_prefix);
		if (strncmp(path, strip_prefix, n) == 0)
			path += n;
	}
	for (;;) {
		if (path[0] == '/')
			path++;
		else if (path[0] == '.' && path[1] == '/')
			path += 2;
		else if (path[0] == '.' && path[1] == '\0')
			path++;
		else
			break;
	}
	return path;
}

/*
 * Where libarchive writes an entry: relative to the tree, which is the
 * working directory while an import runs (see in_tree()); the root itself by
 * its full path, as libarchive refuses an empty or "." path.
 */
static int rewrite_path(struct archive_entry *e, const char *dest, const char *strip_prefix)
{
	_cleanup_free_ char *p = strdup(relative_name(archive_entry_pathname(e), strip_prefix));
	if (!p)
		return -ENOMEM;
	/* "dir/" from a tarball: libarchive's deferred time/ACL fixups want "dir" */
	for (size_t n = strlen(p); n > 0 && p[n - 1] == '/'; n--)
		p[n - 1] = '\0';
	archive_entry_copy_pathname(e, *p ? p : dest);
	const char *hl = archive_entry_hardlink(e);
	if (hl) {
		_cleanup_free_ char *h = strdup(relative_name(hl, strip_prefix));
		if (!h)
			return -ENOMEM;
		archive_entry_copy_hardlink(e, *h ? h : dest);
	}
	return 0;
}

/* Remember the tree root's times: its children are created after libarchive set them. */
static void note_root(struct import *im, struct archive_entry *e)
{
	struct import_stats *st = im->stats;
	if (!archive_entry_mtime_is_set(e))
		return;
	st->root_times_set = true;
	bool a = archive_entry_atime_is_set(e);
	st->root_times[0].tv_sec = a ? archive_entry_atime(e) : archive_entry_mtime(e);
	st->root_times[0].tv_nsec = a ? archive_entry_atime_nsec(e) : archive_entry_mtime_nsec(e);
	st->root_times[1].tv_sec = archive_entry_mtime(e);
	st->root_times[1].tv_nsec = archive_entry_mtime_nsec(e);
}

/*
 * Decide whether to write an entry at all.  Returns 1 to write, 0 to skip,
 * -errno to fail.  The root must stay a real directory (a hostile tarball's
 * "." symlink to "/" would make every child's lower layer the host's root);
 * sockets cannot be restored (libarchive would make them regular files).
 */
static int screen_entry(struct import *im, struct archive_entry *e)
{
	const char *path = archive_entry_pathname(e);
	mode_t type = archive_entry_filetype(e);
	if (strcmp(path, im->dest) == 0) {
		if (type != AE_IFDIR)
			return fail_msg(im, -EINVAL, path, "the root of the tree must be a directory");
		note_root(im, e);
	}
	if (type == AE_IFSOCK) {
		warn(im, NULL, path, "socket skipped (sockets are made by the programs that listen on them)");
		return 0;
	}
	return 1;
}

/*
 * What a hole reads as: hashed between data blocks, so the hash is the file's
 * as read back.  Not const: a const array of zeros is 64 KiB of .rodata in
 * the file, between the strings every command reads, and one more 64 KiB
 * window of the binary faulted in at every start (docs/benchmarks.md, "Code
 * placement"); in .bss it costs nothing until an import reads it.
 */
static uint8_t zeros[65536];

static void hash_zeros(struct diff_hasher *h, uint64_t n)
{
	for (size_t k; n > 0; n -= k) {
		k = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);
		diff_hash_update(h, zeros, k);
	}
}

/*
 * Copy an entry's data.  With h, also hash it as the written file will read:
 * the gaps between blocks (holes) as zeros, up to the entry's size, which
 * libarchive's writer keeps to (it truncates or extends the file to it).
 */
static int copy_data(struct import *im, struct archive *in, struct archive *out, const char *path,
		     struct diff_hasher *h, uint64_t size)
{
	const void *buf;
	size_t len;
	la_int64_t offset;
	uint64_t hashed = 0;
	for (;;) {
		int r = archive_read_data_block(in, &buf, &len, &offset);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return fail(im, in, "read", path);
		if (h && offset >= 0 && (uint64_t)offset >= hashed && (uint64_t)offset < size) {
			hash_zeros(h, (uint64_t)offset - hashed);
			size_t n = (uint64_t)offset + len > size ? (size_t)(size - (uint64_t)offset) : len;
			diff_hash_update(h, buf, n);
			hashed = (uint64_t)offset + n;
		}
		/* ARCHIVE_WARN here is a failed write(2) (ENOSPC, EIO): never a partial base. */
		if (archive_write_data_block(out, buf, len, offset) != ARCHIVE_OK)
			return fail(im, out, "write", path);
	}
	if (h)
		hash_zeros(h, size - hashed);
	return 0;
}

/* Record a copied file's content hash for the manifest scan (import_tree_contents). */
static int note_contents(struct import *im, const char *path, uint64_t size)
{
	struct diff_entry de = { .path = path, .path_len = strlen(path), .target = "", .mode = S_IFREG, .size = size };
	diff_hash_end(im->hasher, de.content);
	return diff_manifest_add(im->contents, &de);
}

/*
 * zero_holes: make holes of zero-filled blocks (ARCHIVE_EXTRACT_SPARSE), for
 * tarballs.  A directory's reader already reports its files' holes (SEEK_HOLE)
 * as gaps between data blocks, which the writer keeps without the flag; with
 * it, libarchive would also write every block as its own 4 KiB write(2) and
 * skip each zero run inside one, leaving the kernel to zero the rest of the
 * page: ~10 writes per file of a Debian tree and a fifth of the import's CPU.
 */
static struct archive *new_disk_writer(bool zero_holes)
{
	struct archive *w = archive_write_disk_new();
	if (!w)
		return NULL;
	/*
	 * Numeric owners as stored (no name lookup: an image's uids are its own),
	 * and refuse ".." and writes through symlinks so a hostile tarball
	 * cannot escape the tree.
	 */
	archive_write_disk_set_options(w, ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
						  ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL |
						  ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
						  (zero_holes ? ARCHIVE_EXTRACT_SPARSE : 0));
	return w;
}

/* Write one entry (header + data); `in` is where its data comes from. */
static int write_entry(struct import *im, struct archive *in, struct archive *out, struct archive_entry *e)
{
	_cleanup_free_ char *path = strdup(archive_entry_pathname(e));
	int k;
	if (!path)
		return -ENOMEM;
	k = screen_entry(im, e);
	if (k <= 0)
		return k;
	k = archive_write_header(out, e);
	if (k < ARCHIVE_WARN)
		return fail(im, out, "create", path);
	if (k == ARCHIVE_WARN)
		warn(im, out, path, NULL);
	/* Only a directory's paths are unique (a tar may hold one twice) and final. */
	bool hash = im->contents && archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e);
	uint64_t size = archive_entry_size(e) > 0 ? (uint64_t)archive_entry_size(e) : 0;
	if (hash)
		diff_hash_begin(im->hasher);
	if (size > 0 && !archive_entry_hardlink(e)) {
		int r = copy_data(im, in, out, path, hash ? im->hasher : NULL, size);
		if (r < 0)
			return r;
	}
	k = archive_write_finish_entry(out);
	if (k < ARCHIVE_WARN)
		return fail(im, out, "finish", path);
	if (k == ARCHIVE_WARN)
		warn(im, out, path, NULL);
	if (hash && (k = note_contents(im, path, size)) < 0)
		return k;
	im->stats->entries++;
	im->stats->bytes += (uint64_t)archive_entry_size(e);
	lc_progress_report(im->progress, im->stats->entries, im->stats->bytes, im->total_entries, 0);
	return 0;
}

static int finish_tree(struct import *im, struct archive *out)
{
	struct import_stats *st = im->stats;
	struct stat root;
	int k = archive_write_close(out);
	if (k < ARCHIVE_WARN)
		return fail(im, out, "finish", im->dest);
	if (k == ARCHIVE_WARN)
		warn(im, out, im->dest, NULL);
	if (lstat(im->dest, &root) < 0 || !S_ISDIR(root.st_mode))
		return fail_msg(im, -EINVAL, im->dest, "the root of the tree is no longer a directory");
	if (st->root_times_set && utimensat(AT_FDCWD, im->dest, st->root_times, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

static bool entry_is(struct archive_entry *e, const struct stat *st)
{
	return archive_entry_dev(e) == st->st_dev && archive_entry_ino64(e) == (la_int64_t)st->st_ino;
}

/*
 * The store itself, or the tree being filled, reached inside the source (say,
 * through a bind mount): copying either would copy the copy, forever.
 */
static const char *skipped_dir(const struct import *im, struct archive_entry *e)
{
	if (archive_entry_filetype(e) != AE_IFDIR)
		return NULL;
	if (im->skip && entry_is(e, im->skip))
		return "the store itself: skipped";
	if (entry_is(e, &im->dest_st))
		return "the tree this import is filling: skipped";
	return NULL;
}

static int import_from_dir(struct import *im)
{
	_cleanup_archive_ struct archive *in = archive_read_disk_new();
	_cleanup_archive_ struct archive *out = new_disk_writer(false);
	_cleanup_(resolver_freep) struct archive_entry_linkresolver *links = archive_entry_linkresolver_new();
	struct archive_entry *e = NULL;
	int r = 0;

	if (!in || !out || !links)
		return -ENOMEM;
	/* Store a hard link's body once, later names as links to it. */
	archive_entry_linkresolver_set_strategy(links, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	archive_read_disk_set_symlink_physical(in);
	/*
	 * Stay on the source's file system: a chroot with /proc or /dev mounted
	 * must not pull the host's into the base.
	 */
	archive_read_disk_set_behavior(in, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS | ARCHIVE_READDISK_NO_FFLAGS);
	if (archive_read_disk_open(in, im->source) != ARCHIVE_OK)
		return fail(im, in, "open", im->source);

	for (;;) {
		e = archive_entry_new();
		if (!e)
			return -ENOMEM;
		int k = archive_read_next_header2(in, e);
		if (k == ARCHIVE_EOF)
			break;
		if (k < ARCHIVE_WARN) {
			r = fail(im, in, "read", archive_entry_pathname(e) ? archive_entry_pathname(e) : im->source);
			break;
		}
		const char *skip_why = skipped_dir(im, e);
		if (skip_why) {
			warn(im, NULL, archive_entry_pathname(e), skip_why);
			archive_entry_free(e);
			continue;
		}
		if (archive_read_disk_can_descend(in))
			archive_read_disk_descend(in);
		_cleanup_free_ char *src_path = im->hook ? strdup(archive_entry_pathname(e)) : NULL;
		if (im->hook && !src_path) {
			r = -ENOMEM;
			break;
		}
		if ((r = rewrite_path(e, im->dest, im->source)) < 0)
			break;
		struct archive_entry *spare = NULL;
		archive_entry_linkify(links, &e, &spare);
		int placed = 0;
		if (e && im->hook && archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e)) {
			placed = im->hook(relative_name(src_path, im->source), src_path, archive_entry_pathname(e),
					  im->hook_data);
			if (placed < 0)
				r = fail_msg(im, placed, archive_entry_pathname(e), strerror(-placed));
			else if (placed > 0) {
				im->stats->entries++;
				lc_progress_report(im->progress, im->stats->entries, im->stats->bytes, im->total_entries, 0);
			}
		}
		if (e && placed == 0)
			r = write_entry(im, in, out, e);
		archive_entry_free(e);
		e = NULL;
		if (spare)
			archive_entry_free(spare);
		if (r < 0)
			break;
	}
	archive_entry_free(e);
	return r < 0 ? r : finish_tree(im, out);
}

/* A path a tar has already written, and the size it was counted with. */
struct seen_path {
	uint64_t size;
	char path[];
};

static int seen_cmp(const void *a, const void *b)
{
	return strcmp(((const struct seen_path *)a)->path, ((const struct seen_path *)b)->path);
}

static void seen_freep(void **root)
{
	tdestroy(*root, free);
}

/*
 * A tar may hold one path twice (appended updates: the last one wins on
 * disk), so count each path once, with the size of its last member.
 */
static int count_once(void **seen, struct import_stats *st, struct archive_entry *e)
{
	const char *path = archive_entry_pathname(e);
	uint64_t size = (uint64_t)archive_entry_size(e);
	struct seen_path *s = malloc(sizeof(*s) + strlen(path) + 1);
	if (!s)
		return -ENOMEM;
	strcpy(s->path, path);
	s->size = size;
	struct seen_path **found = tsearch(s, seen, seen_cmp);
	if (!found) {
		free(s);
		return -ENOMEM;
	}
	if (*found != s) {
		st->entries--;
		st->bytes -= (*found)->size;
		(*found)->size = size;
		free(s);
	}
	return 0;
}

static int import_from_tar(struct import *im)
{
	_cleanup_archive_ struct archive *in = archive_read_new();
	_cleanup_archive_ struct archive *out = new_disk_writer(true);
	struct archive_entry *e;
	_cleanup_(seen_freep) void *seen = NULL;
	int r = 0;

	if (!in || !out)
		return -ENOMEM;
	archive_read_support_filter_all(in);
	archive_read_support_format_tar(in);
	if (archive_read_open_filename(in, im->source, 1 << 16) != ARCHIVE_OK)
		return archive_errno(in) == LC_ARCHIVE_FORMAT_ERRNO ? fail_msg(im, -EINVAL, im->source, NOT_SOURCE)
								    : fail(im, in, "open", im->source);
	for (;;) {
		int k = archive_read_next_header(in, &e);
		if (k == ARCHIVE_EOF && im->stats->entries == 0)
			return fail_msg(im, -EINVAL, im->source,
					"holds no entries: an empty archive, or zeros where an image's signature should be");
		if (k == ARCHIVE_EOF)
			break;
		if (k < ARCHIVE_WARN)
			return im->stats->entries == 0 && archive_errno(in) == LC_ARCHIVE_FORMAT_ERRNO
				       ? fail_msg(im, -EINVAL, im->source, NOT_SOURCE)
				       : fail(im, in, "read", im->source);
		if ((r = rewrite_path(e, im->dest, NULL)) < 0)
			return r;
		uint64_t entries = im->stats->entries;
		if ((r = write_entry(im, in, out, e)) < 0)
			return r;
		if (im->stats->entries != entries && (r = count_once(&seen, im->stats, e)) < 0)
			return r;
	}
	return finish_tree(im, out);
}

/*
 * An image's tree goes through the directory import, read through a
 * descriptor of its read-only mount (image_open_root: in no mount table, gone
 * when the descriptor is closed or the process killed).  The mount point is a
 * hidden directory next to dest, inside the import's own temporary directory.
 */
static int import_from_image(struct import *im, const struct image_info *img)
{
	_cleanup_free_ char *workdir = strdup(im->dest);
	char root[64];
	if (!workdir)
		return -ENOMEM;
	char *slash = strrchr(workdir, '/');
	if (slash && slash != workdir)
		*slash = '\0';
	_cleanup_close_ int fd = image_open_root(im->source, img, workdir, im->err);
	if (fd < 0)
		return fd;
	test_hook("image-import");
	/* The file system knows how many inodes it holds: the total, for the progress line. */
	struct statfs sfs;
	if (fstatfs(fd, &sfs) == 0 && sfs.f_files > sfs.f_ffree)
		im->total_entries = sfs.f_files - sfs.f_ffree;
	/* "/.": the magic link itself would be read as a symlink (physical mode). */
	snprintf(root, sizeof(root), "/proc/self/fd/%d/.", fd);
	const char *image = im->source;
	im->source = root;
	int r = import_from_dir(im);
	im->source = image;
	return r;
}

/* A regular file: 1 when libblkid finds an importable image (*img set), 0 when not, -errno. */
static int probe_image(const char *source, const struct stat *st, struct image_info *img, struct lc_err *err)
{
	if (st->st_size == 0)
		return lc_err_ret(err, -EINVAL, "%s: empty file (0 bytes): not an archive or an image", source);
	return image_probe(source, img, err);
}

/*
 * Make the tree being filled the working directory; returns a descriptor of
 * the old one to go back to, or -errno.  Why: with
 * ARCHIVE_EXTRACT_SECURE_SYMLINKS, libarchive checks every component of every
 * path it writes, from the first, with a stat, an open and a close each; a
 * path relative to the tree skips the store's own prefix
 * (/var/lib/layerctl/bases/.new-NAME@PID/gens/1/tree), whose directories this
 * import's caller created and locked: 21 of ~55 syscalls per entry.  libarchive's directory
 * reader returns to the working directory it found at open after each entry,
 * so it is entered before the reader opens.
 */
static int enter_tree(const char *dest)
{
	int old = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (old < 0)
		return -errno;
	if (chdir(dest) < 0) {
		int r = -errno;
		close(old);
		return r;
	}
	return old;
}

int import_tree(const char *source, const char *dest, const struct stat *skip, struct import_stats *stats,
		const struct lc_warn *warn, struct lc_err *err)
{
	return import_tree_hooked(source, dest, skip, NULL, NULL, stats, warn, err);
}

int import_tree_hooked(const char *source, const char *dest, const struct stat *skip, import_file_hook hook,
		       void *userdata, struct import_stats *stats, const struct lc_warn *warn, struct lc_err *err)
{
	return import_tree_progress(source, dest, skip, hook, userdata, NULL, stats, warn, err);
}

static int import_run(struct import *im)
{
	const char *source = im->source, *dest = im->dest;
	struct lc_err *err = im->err;
	struct stat st;
	int r;
	memset(im->stats, 0, sizeof(*im->stats));
	/* Both are used after the import has entered the tree (enter_tree). */
	if (source[0] != '/' || dest[0] != '/')
		return lc_err_ret(err, -EINVAL, "%s: source and tree must be absolute paths", source);
	if ((r = archive_dl_open(err)) < 0)
		return r;
	if (stat(source, &st) < 0 || stat(dest, &im->dest_st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return fail_msg(im, -EINVAL, source, NOT_SOURCE);
	struct image_info img;
	int is_image = 0;
	if (S_ISREG(st.st_mode) && (is_image = probe_image(source, &st, &img, err)) < 0)
		return is_image;
	if (S_ISREG(st.st_mode) && !is_image)
		im->contents = NULL; /* a tar may hold a path twice: its files are hashed by the scan */
	_cleanup_close_ int cwd = enter_tree(dest);
	if (cwd < 0)
		return lc_err_ret(err, cwd, "%s: %s", dest, strerror(-cwd));
	r = S_ISDIR(st.st_mode) ? import_from_dir(im) : is_image ? import_from_image(im, &img) : import_from_tar(im);
	/* Back where the caller was: a descriptor of a directory cannot fail to be entered. */
	if (fchdir(cwd) < 0 && r == 0)
		r = -errno;
	return r;
}

int import_tree_progress(const char *source, const char *dest, const struct stat *skip, import_file_hook hook,
			 void *userdata, const struct lc_progress *progress, struct import_stats *stats,
			 const struct lc_warn *warn, struct lc_err *err)
{
	struct import im = { .dest = dest, .source = source, .stats = stats, .skip = skip, .hook = hook,
			     .hook_data = userdata, .err = err, .warn = warn, .progress = progress };
	return import_run(&im);
}

int import_tree_contents(const char *source, const char *dest, const struct stat *skip,
			 const struct lc_progress *progress, struct diff_manifest *contents, struct import_stats *stats,
			 const struct lc_warn *warn, struct lc_err *err)
{
	struct import im = { .dest = dest, .source = source, .stats = stats, .skip = skip, .err = err, .warn = warn,
			     .progress = progress, .contents = contents };
	int r = diff_hasher_new(&im.hasher);
	if (r < 0)
		return r;
	r = import_run(&im);
	diff_hasher_free(im.hasher);
	if (r < 0)
		return r;
	/* The tree's root, which a manifest must hold to be sealed. */
	struct diff_entry root = { .path = "", .target = "", .mode = S_IFDIR };
	struct lc_err e = { "" };
	if ((r = diff_manifest_add(contents, &root)) < 0 || (r = diff_manifest_seal(contents, &e)) < 0)
		return lc_err_ret(err, r, "%s: %s", dest, lc_err_msg(&e, r));
	return 0;
}

int import_check_source(const char *source, struct lc_err *err)
{
	struct import im = { .dest = "", .source = source, .err = err };
	struct stat st;
	struct archive_entry *e;
	int r;
	if (stat(source, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return 0;
	if (!S_ISREG(st.st_mode))
		return fail_msg(&im, -EINVAL, source, NOT_SOURCE);
	struct image_info img;
	if ((r = probe_image(source, &st, &img, err)) != 0)
		return r < 0 ? r : 0;
	if ((r = archive_dl_open(err)) < 0)
		return r;
	_cleanup_archive_ struct archive *in = archive_read_new();
	if (!in)
		return -ENOMEM;
	archive_read_support_filter_all(in);
	archive_read_support_format_tar(in);
	if (archive_read_open_filename(in, source, 1 << 16) != ARCHIVE_OK)
		return archive_errno(in) == LC_ARCHIVE_FORMAT_ERRNO ? fail_msg(&im, -EINVAL, source, NOT_SOURCE)
								     : fail(&im, in, "open", source);
	int k = archive_read_next_header(in, &e);
	/* A tar of nothing, or zeros read as its end (an image whose signature is gone): no base to make. */
	if (k == ARCHIVE_EOF)
		return fail_msg(&im, -EINVAL, source,
				"holds no entries: an empty archive, or zeros where an image's signature should be");
	if (k >= ARCHIVE_WARN)
		return 0;
	if (archive_errno(in) == LC_ARCHIVE_FORMAT_ERRNO)
		return fail_msg(&im, -EINVAL, source, NOT_SOURCE);
	return fail(&im, in, "read", source);
}
