/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * FILE.xxh128, the checksum `base export` writes beside what it wrote: one
 * line "HEX  NAME", the XXH3-128 of the file in xxhsum's canonical hex, so
 * `xxhsum -c FILE.xxh128` checks it too.  `base import --verify` checks it
 * when it is there; an import with --keep-image that finds it matching adopts
 * FILE.manifest instead of reading every file of the image (image-gen.c).
 */
#pragma once

#include <stdint.h>

#include "diff/diff.h"
#include "src/basic/macro.h"

/* "FILE.xxh128" (malloc'd) */
char *checksum_path_for(const char *file);
/* XXH3-128 of everything fd reads from its start. */
int checksum_fd(int fd, uint8_t out[DIFF_HASH_SIZE], struct lc_err *err);
/* Write FILE.xxh128 for file (atomically, durably) holding sum. */
int checksum_write_for(const char *file, const uint8_t sum[DIFF_HASH_SIZE], struct lc_err *err);
/* Read a checksum file: -ENOENT when there is none, -EBADMSG (err set) when it is not one line "HEX  NAME". */
int checksum_read(const char *path, uint8_t out[DIFF_HASH_SIZE], struct lc_err *err);
/* Check fd against the checksum file at path: 0 equal, -EBADMSG (err names both sums) when not. */
int checksum_check_fd(int fd, const char *what, const char *path, struct lc_err *err);
