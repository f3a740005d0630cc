/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * FILE.xxh128, the checksums `base export` writes beside what it wrote: a
 * line "HEX  NAME" for FILE and one for FILE.manifest, the XXH3-128 of each
 * in xxhsum's canonical hex, so `xxhsum -c FILE.xxh128` checks both too.
 * `base import --verify` checks FILE against it when it is there; an import
 * with --keep-image that finds both matching adopts FILE.manifest instead of
 * reading every file of the image (image-gen.c): the manifest line is what
 * ties that manifest to that image.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "diff/diff.h"
#include "src/basic/macro.h"

struct checksums {
	uint8_t file[DIFF_HASH_SIZE];
	uint8_t manifest[DIFF_HASH_SIZE];
	bool has_manifest;
};

/* "FILE.xxh128" (malloc'd) */
char *checksum_path_for(const char *file);
/* XXH3-128 of everything fd reads from its start; own: a file of the store's (hashed through a mapping). */
int checksum_fd(int fd, bool own, uint8_t out[DIFF_HASH_SIZE], struct lc_err *err);
/* Write FILE.xxh128 (atomically, durably): FILE's line, and FILE.manifest's when manifest is not NULL. */
int checksum_write_for(const char *file, const uint8_t sum[DIFF_HASH_SIZE], const uint8_t manifest[DIFF_HASH_SIZE],
		       struct lc_err *err);
/*
 * Read a checksum file: the first line is FILE's, a second FILE.manifest's
 * (names are not compared: the files may have been renamed since).
 * -ENOENT when there is none, -EBADMSG (err set) when it is not one.
 */
int checksum_read(const char *path, struct checksums *out, struct lc_err *err);
/* fd (named what in messages) against the first line of the checksum file path: 0, or -EBADMSG naming both sums. */
int checksum_check_fd(int fd, bool own, const char *what, const char *path, struct lc_err *err);
/* The manifest file against the second line: 1 equal, 0 when there is no such line, -EBADMSG when it differs. */
int checksum_check_manifest(const char *manifest, const char *path, struct lc_err *err);
