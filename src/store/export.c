/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * base export: a tarball through libarchive (archive_read_disk feeding a pax
 * writer, the mirror of the import), or a squashfs/EROFS image.  Those two
 * have no library to write them, so mksquashfs and mkfs.erofs are run: the
 * one place layerctl runs a program.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "diff/diff.h"
#include "src/basic/fileio.h"
#include "src/store/archive-dl.h"
#include "src/store/checksum.h"
#include "src/store/export.h"
#include "src/store/image.h"

extern char **environ;

static void archive_freep(struct archive **a) { if (*a) archive_free(*a); }
static void resolver_freep(struct archive_entry_linkresolver **r) { if (*r) archive_entry_linkresolver_free(*r); }
#define _cleanup_archive_ _cleanup_(archive_freep)

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n > k && strcmp(s + n - k, suffix) == 0;
}

int export_format_from_name(const char *file, enum export_format *fmt, const char **filter)
{
	static const struct {
		const char *suffix;
		enum export_format fmt;
		const char *filter;
	} table[] = {
		{ ".tar", EXPORT_TAR, NULL },          { ".tar.gz", EXPORT_TAR, "gzip" },
		{ ".tgz", EXPORT_TAR, "gzip" },        { ".tar.xz", EXPORT_TAR, "xz" },
		{ ".txz", EXPORT_TAR, "xz" },          { ".tar.zst", EXPORT_TAR, "zstd" },
		{ ".tzst", EXPORT_TAR, "zstd" },       { ".tar.bz2", EXPORT_TAR, "bzip2" },
		{ ".tbz2", EXPORT_TAR, "bzip2" },      { ".squashfs", EXPORT_SQUASHFS, NULL },
		{ ".sqfs", EXPORT_SQUASHFS, NULL },    { ".erofs", EXPORT_EROFS, NULL },
	};
	for (size_t i = 0; i < ELEMENTSOF(table); i++)
		if (ends_with(file, table[i].suffix)) {
			*fmt = table[i].fmt;
			*filter = table[i].filter;
			return 0;
		}
	return -EINVAL;
}

static int archive_fail(struct archive *a, const char *what, struct lc_err *err)
{
	int e = archive_errno(a);
	return lc_err_ret(err, e > 0 ? -e : -EIO, "%s: %s", what,
			  archive_error_string(a) ? archive_error_string(a) : strerror(e > 0 ? e : EIO));
}

/* "etc/passwd" for TREE/etc/passwd, "." for the tree itself (its owner, mode and times go in too). */
static int rename_entry(struct archive_entry *e, const char *tree)
{
	const char *p = archive_entry_pathname(e);
	size_t n = strlen(tree);
	if (strncmp(p, tree, n) != 0)
		return -EINVAL;
	p += n;
	while (*p == '/')
		p++;
	archive_entry_copy_pathname(e, *p ? p : ".");
	return 0;
}

static int copy_body(struct archive *in, struct archive *out, const char *path, struct lc_err *err)
{
	char buf[1 << 16];
	for (;;) {
		la_ssize_t n = archive_read_data(in, buf, sizeof(buf));
		if (n == 0)
			return 0;
		if (n < 0)
			return archive_fail(in, path, err);
		if (archive_write_data(out, buf, (size_t)n) != n)
			return archive_fail(out, path, err);
	}
}

static int write_tar(const char *tree, const char *out_path, const char *filter, const struct lc_progress *progress,
		     uint64_t total, struct import_stats *st, struct lc_err *err)
{
	_cleanup_archive_ struct archive *in = archive_read_disk_new();
	_cleanup_archive_ struct archive *out = archive_write_new();
	_cleanup_(resolver_freep) struct archive_entry_linkresolver *links = archive_entry_linkresolver_new();
	int r = 0;

	if (!in || !out || !links)
		return -ENOMEM;
	archive_entry_linkresolver_set_strategy(links, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	archive_read_disk_set_symlink_physical(in);
	archive_read_disk_set_behavior(in, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS | ARCHIVE_READDISK_NO_FFLAGS);
	/* pax: long names, nanosecond times, xattrs and ACLs; numeric owners only (no name lookup). */
	if (archive_write_set_format_pax_restricted(out) != ARCHIVE_OK ||
	    (filter && archive_write_add_filter_by_name(out, filter) != ARCHIVE_OK))
		return archive_fail(out, filter ? filter : "pax", err);
	if (archive_write_open_filename(out, out_path) != ARCHIVE_OK)
		return archive_fail(out, out_path, err);
	if (archive_read_disk_open(in, tree) != ARCHIVE_OK)
		return archive_fail(in, tree, err);
	for (;;) {
		struct archive_entry *e = archive_entry_new(), *spare = NULL;
		if (!e)
			return -ENOMEM;
		int k = archive_read_next_header2(in, e);
		if (k == ARCHIVE_EOF) {
			archive_entry_free(e);
			break;
		}
		if (k < ARCHIVE_WARN || (archive_read_disk_can_descend(in) && archive_read_disk_descend(in) != ARCHIVE_OK)) {
			archive_entry_free(e);
			return archive_fail(in, tree, err);
		}
		_cleanup_free_ char *path = strdup(archive_entry_pathname(e));
		if (!path || rename_entry(e, tree) < 0) {
			archive_entry_free(e);
			return -ENOMEM;
		}
		archive_entry_linkify(links, &e, &spare);
		if (e) {
			if (archive_write_header(out, e) < ARCHIVE_WARN)
				r = archive_fail(out, path, err);
			else if (archive_entry_size(e) > 0 && !archive_entry_hardlink(e))
				r = copy_body(in, out, path, err);
			st->entries++;
			st->bytes += (uint64_t)archive_entry_size(e);
			lc_progress_report(progress, st->entries, st->bytes, total, 0);
			archive_entry_free(e);
		}
		if (spare)
			archive_entry_free(spare);
		if (r < 0)
			return r;
	}
	if (archive_write_close(out) != ARCHIVE_OK)
		return archive_fail(out, out_path, err);
	return 0;
}

/* Run argv (stdout dropped, stderr kept for the message); 0 when it exits 0. */
static int run_program(char *const argv[], struct lc_err *err)
{
	int pipefd[2];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return lc_err_ret(err, -errno, "pipe: %m");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
	int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (r != 0) {
		close(pipefd[0]);
		return lc_err_ret(err, -r, "cannot run %s (%s)%s", argv[0], strerror(r),
				  r == ENOENT ? ": install squashfs-tools / erofs-utils" : "");
	}
	_cleanup_free_ char *out = NULL;
	size_t len = 0;
	lc_read_full(pipefd[0], &out, &len);
	close(pipefd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return lc_err_ret(err, -errno, "waitpid: %m");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	/* Its last line is what went wrong. */
	const char *last = "";
	if (out) {
		while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
			out[--len] = '\0';
		char *nl = strrchr(out, '\n');
		last = nl ? nl + 1 : out;
	}
	if (WIFEXITED(status))
		return lc_err_ret(err, -EIO, "%s failed (exit %d)%s%s", argv[0], WEXITSTATUS(status), *last ? ": " : "",
				  last);
	return lc_err_ret(err, -EINTR, "%s was killed by signal %d", argv[0], WTERMSIG(status));
}

static int write_image(const char *tree, const char *out_path, enum export_format fmt, struct lc_err *err)
{
	if (fmt == EXPORT_SQUASHFS) {
		/* Owners, modes, xattrs as they are; the default compressor every squashfs kernel reads. */
		char *const argv[] = { "mksquashfs", (char *)tree, (char *)out_path, "-noappend", "-quiet",
				       "-no-progress", NULL };
		return run_program(argv, err);
	}
	char *const argv[] = { "mkfs.erofs", "--quiet", (char *)out_path, (char *)tree, NULL };
	return run_program(argv, err);
}

static int copy_manifest(const char *manifest_path, const char *file, struct lc_err *err)
{
	_cleanup_free_ char *data = NULL, *dir = strdup(file), *name = NULL;
	size_t len;
	_cleanup_close_ int in = open(manifest_path, O_RDONLY | O_CLOEXEC);
	if (!dir)
		return -ENOMEM;
	if (in < 0)
		return lc_err_ret(err, -errno, "manifest %s: %m", manifest_path);
	int r = lc_read_full(in, &data, &len);
	if (r < 0)
		return lc_err_ret(err, r, "manifest %s: %s", manifest_path, strerror(-r));
	char *slash = strrchr(dir, '/');
	if (asprintf(&name, "%s.manifest", slash ? slash + 1 : file) < 0)
		return -ENOMEM;
	if (slash)
		*slash = '\0';
	_cleanup_close_ int dfd = open(slash ? (*dir ? dir : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return lc_err_ret(err, -errno, "%s: %m", dir);
	r = lc_write_atomic(dfd, name, data, len, 0644, true);
	if (r < 0)
		return lc_err_ret(err, r, "%s.manifest: %s", file, strerror(-r));
	return 0;
}

/* Entries in the manifest: the total for the progress line (0 when it cannot be read). */
static uint64_t manifest_entries(const char *path)
{
	_cleanup_manifest_ struct diff_manifest *m = NULL;
	return diff_manifest_open(path, &m, NULL) == 0 ? diff_manifest_count(m) : 0;
}

/*
 * FILE.manifest of an image: what the image holds as the kernel shows it
 * (squashfs keeps whole seconds, file systems differ in what they keep of
 * a directory's size...), walked through a private mount of the new image.
 * The contents are the generation's, just written: their hashes come from
 * its manifest, so nothing is read back.  An import that finds the image
 * matching FILE.xxh128 takes this manifest as it is.
 */
static int write_image_manifest(const char *image, const char *manifest_path, const char *file,
				const struct lc_progress *progress, struct lc_err *err)
{
	_cleanup_manifest_ struct diff_manifest *known = NULL, *m = NULL;
	_cleanup_free_ char *dir = strdup(image), *out = NULL;
	struct image_info img;
	int r = diff_manifest_open(manifest_path, &known, err);
	if (r < 0)
		return r;
	if (!dir || asprintf(&out, "%s.manifest", file) < 0)
		return -ENOMEM;
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if ((r = image_probe(image, &img, err)) <= 0)
		return r < 0 ? r : lc_err_ret(err, -EIO, "%s: the new image is not recognised", image);
	_cleanup_close_ int root = image_open_root(image, &img, slash ? (*dir ? dir : "/") : ".", err);
	if (root < 0)
		return root;
	lc_progress_phase(progress, "Describing");
	if ((r = diff_manifest_scan_known(root, known, progress, diff_manifest_count(known), &m, err)) < 0)
		return r;
	return diff_manifest_write(m, out, err);
}

/* FILE.xxh128: what was written (the temporary, before it takes the name) and FILE.manifest. */
static int write_checksum(const char *tmp, const char *file, struct lc_err *err)
{
	uint8_t sum[DIFF_HASH_SIZE], msum[DIFF_HASH_SIZE];
	_cleanup_free_ char *mpath = NULL;
	if (asprintf(&mpath, "%s.manifest", file) < 0)
		return -ENOMEM;
	_cleanup_close_ int fd = open(tmp, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int mfd = open(mpath, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || mfd < 0)
		return lc_err_ret(err, -errno, "%s: %m", fd < 0 ? tmp : mpath);
	int r = checksum_fd(fd, true, sum, err);
	if (r == 0)
		r = checksum_fd(mfd, false, msum, err);
	return r < 0 ? r : checksum_write_for(file, sum, msum, err);
}

int export_tree(const char *tree, const char *manifest_path, const char *file, const struct lc_progress *progress,
		struct import_stats *stats, struct lc_err *err)
{
	enum export_format fmt;
	const char *filter;
	_cleanup_free_ char *tmp = NULL;
	int r;

	memset(stats, 0, sizeof(*stats));
	if (export_format_from_name(file, &fmt, &filter) < 0)
		return lc_err_ret(err, -EINVAL,
				  "%s: the name must end in .tar, .tar.gz, .tar.xz, .tar.zst, .tar.bz2, .squashfs or .erofs",
				  file);
	/* Beside the target, hidden: renamed over it once complete, removed on failure. */
	const char *slash = strrchr(file, '/');
	if (asprintf(&tmp, "%.*s.%s.tmp-%d", slash ? (int)(slash - file + 1) : 0, file, slash ? slash + 1 : file,
		     (int)getpid()) < 0)
		return -ENOMEM;
	if (fmt == EXPORT_TAR) {
		if ((r = archive_dl_open(err)) < 0)
			return r;
		r = write_tar(tree, tmp, filter, progress, manifest_entries(manifest_path), stats, err);
	} else
		r = write_image(tree, tmp, fmt, err);
	if (r == 0) {
		_cleanup_close_ int fd = open(tmp, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fsync(fd) < 0)
			r = lc_err_ret(err, -errno, "%s: %m", tmp);
	}
	if (r == 0)
		r = fmt == EXPORT_TAR ? copy_manifest(manifest_path, file, err)
				      : write_image_manifest(tmp, manifest_path, file, progress, err);
	if (r == 0)
		r = write_checksum(tmp, file, err);
	if (r == 0 && rename(tmp, file) < 0)
		r = lc_err_ret(err, -errno, "rename to %s: %m", file);
	if (r < 0)
		unlink(tmp);
	return r;
}
