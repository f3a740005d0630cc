/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writing a generation's tree out: a tarball through libarchive (compressed
 * by the name's suffix) or a squashfs/EROFS image through mksquashfs or
 * mkfs.erofs, plus FILE.manifest, the generation's manifest, so that
 * `base import --verify` on another host can check what it got.
 */
#pragma once

#include "src/basic/macro.h"
#include "src/basic/progress-cb.h"
#include "src/store/import.h"

enum export_format { EXPORT_TAR, EXPORT_SQUASHFS, EXPORT_EROFS };

/*
 * What the file name asks for: .tar, .tar.gz/.tgz, .tar.xz/.txz,
 * .tar.zst/.tzst, .tar.bz2/.tbz2, .squashfs/.sqfs, .erofs.  0 with *fmt and
 * *filter (libarchive's filter name, NULL for none) set, -EINVAL otherwise.
 */
int export_format_from_name(const char *file, enum export_format *fmt, const char **filter);

/*
 * Write tree to file and manifest_path's content to FILE.manifest, both
 * through a temporary renamed into place (a failure leaves neither half
 * written).  stats counts the entries and bytes written (tarballs).
 */
int export_tree(const char *tree, const char *manifest_path, const char *file, const struct lc_progress *progress,
		struct import_stats *stats, struct lc_err *err);
