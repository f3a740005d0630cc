/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Filling a new base generation from a directory or a tarball, both through
 * libarchive: archive_read_disk (or archive_read) feeds entries to
 * archive_write_disk.  One code path for both sources means owners, modes,
 * times, hard links, device nodes, fifos, ACLs and xattrs are handled the same
 * way, by a library that has handled them for twenty years.
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>

#include "src/import.h"
#include "overlay/macro.h"

static void archive_freep(struct archive **a) { if (*a) archive_free(*a); }
static void resolver_freep(struct archive_entry_linkresolver **r) { if (*r) archive_entry_linkresolver_free(*r); }
#define _cleanup_archive_ _cleanup_(archive_freep)

static int fail(char **err, struct archive *a, const char *what, const char *path)
{
	int e = archive_errno(a);
	if (err && asprintf(err, "%s%s%s: %s", what, path ? " " : "", path ? path : "",
			    archive_error_string(a) ? archive_error_string(a) : strerror(e ? e : EIO)) < 0)
		*err = NULL;
	return e > 0 ? -e : -EIO;
}

/*
 * The entry's path inside the tree: strip "./", leading "/", and the source
 * prefix for directory imports.  Returns NULL for the tree root itself ("").
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

static int rewrite_path(struct archive_entry *e, const char *dest, const char *strip_prefix)
{
	_cleanup_free_ char *p = NULL;
	const char *rel = relative_name(archive_entry_pathname(e), strip_prefix);
	if (asprintf(&p, "%s%s%s", dest, *rel ? "/" : "", rel) < 0)
		return -ENOMEM;
	/* "dir/" from a tarball: libarchive's deferred time/ACL fixups want "dir" */
	for (size_t n = strlen(p); n > 1 && p[n - 1] == '/'; n--)
		p[n - 1] = '\0';
	archive_entry_copy_pathname(e, p);
	const char *hl = archive_entry_hardlink(e);
	if (hl) {
		_cleanup_free_ char *h = NULL;
		if (asprintf(&h, "%s/%s", dest, relative_name(hl, strip_prefix)) < 0)
			return -ENOMEM;
		archive_entry_copy_hardlink(e, h);
	}
	return 0;
}

static int copy_data(struct archive *in, struct archive *out, char **err, const char *path)
{
	const void *buf;
	size_t size;
	la_int64_t offset;
	for (;;) {
		int r = archive_read_data_block(in, &buf, &size, &offset);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return fail(err, in, "read", path);
		if (archive_write_data_block(out, buf, size, offset) < ARCHIVE_WARN)
			return fail(err, out, "write", path);
	}
}

static struct archive *new_disk_writer(void)
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
						  ARCHIVE_EXTRACT_SPARSE);
	return w;
}

/* libarchive reports "could not restore this ACL/xattr/owner" as a warning: pass it on. */
static void note_warning(struct import_stats *st, struct archive *a, const char *path)
{
	if (st->warnings++ < 5)
		fprintf(stderr, "layerctl: warning: %s: %s\n", path,
			archive_error_string(a) ? archive_error_string(a) : "metadata not fully restored");
	else if (st->warnings == 6)
		fprintf(stderr, "layerctl: warning: (more warnings not shown)\n");
}

/* Remember the tree root's times: its children are created after libarchive set them. */
static void note_root(struct import_stats *st, struct archive_entry *e, const char *dest)
{
	if (strcmp(archive_entry_pathname(e), dest) != 0 || !archive_entry_mtime_is_set(e))
		return;
	st->root_times_set = true;
	st->root_times[0].tv_sec = archive_entry_atime_is_set(e) ? archive_entry_atime(e) : archive_entry_mtime(e);
	st->root_times[0].tv_nsec = archive_entry_atime_is_set(e) ? archive_entry_atime_nsec(e) : archive_entry_mtime_nsec(e);
	st->root_times[1].tv_sec = archive_entry_mtime(e);
	st->root_times[1].tv_nsec = archive_entry_mtime_nsec(e);
}

static int finish_tree(struct archive *out, const char *dest, struct import_stats *st, char **err)
{
	int k = archive_write_close(out);
	if (k < ARCHIVE_WARN)
		return fail(err, out, "finish", dest);
	if (k == ARCHIVE_WARN)
		note_warning(st, out, dest);
	if (st->root_times_set && utimensat(AT_FDCWD, dest, st->root_times, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

/* Write one entry (header + data); `in` is where its data comes from. */
static int write_entry(struct archive *in, struct archive *out, struct archive_entry *e,
		       struct import_stats *st, char **err)
{
	_cleanup_free_ char *path = strdup(archive_entry_pathname(e));
	int k;
	if (!path)
		return -ENOMEM;
	k = archive_write_header(out, e);
	if (k < ARCHIVE_WARN)
		return fail(err, out, "create", path);
	if (k == ARCHIVE_WARN)
		note_warning(st, out, path);
	if (archive_entry_size(e) > 0 && !archive_entry_hardlink(e)) {
		int r = copy_data(in, out, err, path);
		if (r < 0)
			return r;
	}
	k = archive_write_finish_entry(out);
	if (k < ARCHIVE_WARN)
		return fail(err, out, "finish", path);
	if (k == ARCHIVE_WARN)
		note_warning(st, out, path);
	st->entries++;
	st->bytes += (uint64_t)archive_entry_size(e);
	return 0;
}

static int import_from_dir(const char *source, const char *dest, struct import_stats *st, char **err)
{
	_cleanup_archive_ struct archive *in = archive_read_disk_new();
	_cleanup_archive_ struct archive *out = new_disk_writer();
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
	if (archive_read_disk_open(in, source) != ARCHIVE_OK)
		return fail(err, in, "open", source);

	for (;;) {
		e = archive_entry_new();
		if (!e)
			return -ENOMEM;
		int k = archive_read_next_header2(in, e);
		if (k == ARCHIVE_EOF)
			break;
		if (k < ARCHIVE_WARN) {
			r = fail(err, in, "read", archive_entry_pathname(e));
			break;
		}
		if (archive_read_disk_can_descend(in))
			archive_read_disk_descend(in);
		if ((r = rewrite_path(e, dest, source)) < 0)
			break;
		note_root(st, e, dest);
		struct archive_entry *spare = NULL;
		archive_entry_linkify(links, &e, &spare);
		if (e)
			r = write_entry(in, out, e, st, err);
		archive_entry_free(e);
		e = NULL;
		if (spare)
			archive_entry_free(spare);
		if (r < 0)
			break;
	}
	archive_entry_free(e);
	return r < 0 ? r : finish_tree(out, dest, st, err);
}

static int import_from_tar(const char *source, const char *dest, struct import_stats *st, char **err)
{
	_cleanup_archive_ struct archive *in = archive_read_new();
	_cleanup_archive_ struct archive *out = new_disk_writer();
	struct archive_entry *e;
	int r = 0;

	if (!in || !out)
		return -ENOMEM;
	archive_read_support_filter_all(in);
	archive_read_support_format_tar(in);
	if (archive_read_open_filename(in, source, 1 << 16) != ARCHIVE_OK)
		return fail(err, in, "open", source);
	for (;;) {
		int k = archive_read_next_header(in, &e);
		if (k == ARCHIVE_EOF)
			break;
		if (k < ARCHIVE_WARN)
			return fail(err, in, "read", source);
		if ((r = rewrite_path(e, dest, NULL)) < 0)
			return r;
		note_root(st, e, dest);
		if ((r = write_entry(in, out, e, st, err)) < 0)
			return r;
	}
	return finish_tree(out, dest, st, err);
}

int import_tree(const char *source, const char *dest, struct import_stats *stats, char **err)
{
	struct stat st;
	memset(stats, 0, sizeof(*stats));
	if (stat(source, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return import_from_dir(source, dest, stats, err);
	if (S_ISREG(st.st_mode))
		return import_from_tar(source, dest, stats, err);
	return -EINVAL;
}
