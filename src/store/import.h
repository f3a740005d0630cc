/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "src/basic/macro.h"
#include "src/basic/progress-cb.h"

struct import_stats {
	uint64_t entries;
	uint64_t bytes;
	uint64_t warnings;          /* metadata libarchive could not restore */
	bool root_times_set;
	struct timespec root_times[2];
};

/*
 * Copy a directory tree, or extract a tarball (.tar, .tar.gz, .tar.xz,
 * .tar.zst, … whatever libarchive's filters read), into dest, an existing
 * empty directory.  Both paths are absolute: the import runs with dest as the
 * working directory (restored before it returns), which makes libarchive's
 * per-entry symlink check start at the tree, not at "/".  Owners (numeric), modes, times, hard links, symlinks,
 * device nodes, fifos, ACLs and xattrs are kept; sockets are skipped with a
 * warning.  A directory whose (dev, ino) is *skip (the store) is not copied.
 * On failure err says which entry (by its path in the tree) and why.
 * Metadata that could not be restored, and skipped sockets, are reported
 * through warn (the first five; NULL drops them).
 */
int import_tree(const char *source, const char *dest, const struct stat *skip, struct import_stats *stats,
		const struct lc_warn *warn, struct lc_err *err);

/*
 * Can source be imported at all: a directory, or a file libarchive reads as
 * a tar?  Checked before anything is created.  -EINVAL with err set otherwise.
 */
/*
 * import_tree_progress (no hook) that also hashes each regular file of a
 * directory or image import while copying it, into contents (an empty
 * manifest from diff_manifest_new(); sealed on success): path, size and
 * content hash, for diff_manifest_scan_known(), so the manifest scan need not
 * read the tree again.  A tarball's files are left to the scan.
 */
struct diff_manifest;
int import_tree_contents(const char *source, const char *dest, const struct stat *skip,
			 const struct lc_progress *progress, struct diff_manifest *contents, struct import_stats *stats,
			 const struct lc_warn *warn, struct lc_err *err);

int import_check_source(const char *source, struct lc_err *err);

/*
 * A directory import that asks before copying each regular file (not the
 * second name of a hard link): hook gets the file's path relative to the
 * tree ("etc/passwd"), its source path and the destination path, and returns
 * 1 when it put the file in place itself (it is then not copied), 0 to have
 * it copied, or -errno to fail.  Tarballs are imported without asking.
 */
typedef int (*import_file_hook)(const char *rel, const char *src_path, const char *dest_path, void *userdata);
int import_tree_hooked(const char *source, const char *dest, const struct stat *skip, import_file_hook hook,
		       void *userdata, struct import_stats *stats, const struct lc_warn *warn, struct lc_err *err);

/* import_tree_hooked that also reports entries and bytes done through progress (NULL: none). */
int import_tree_progress(const char *source, const char *dest, const struct stat *skip, import_file_hook hook,
			 void *userdata, const struct lc_progress *progress, struct import_stats *stats,
			 const struct lc_warn *warn, struct lc_err *err);
