/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libblkid, loaded on first use (src/basic/dlopen-lib.h).  Include this
 * instead of <blkid.h>; a blkid_*() call not in the list below needs its
 * name there and a #define line (the binary is not linked with -lblkid, so
 * a missing one fails to link, and test-dlopen checks the binary's NEEDED).
 * The list is the superblock probe API that identifying an image needs.
 */
#pragma once

#include <blkid.h>

#include "src/basic/dlopen-lib.h"

#define LC_BLKID_SONAME "libblkid.so.1"

#define LC_BLKID_SYMBOLS(X) \
	X(blkid_do_safeprobe) X(blkid_free_probe) X(blkid_new_probe_from_filename) \
	X(blkid_probe_enable_superblocks) X(blkid_probe_lookup_value) X(blkid_probe_set_superblocks_flags)

LC_BLKID_SYMBOLS(LC_DL_DECLARE)
extern struct lc_dl_lib lc_blkid_lib;

#ifndef LC_BLKID_DL_IMPL
#define blkid_do_safeprobe LC_DL_CALL(lc_blkid_lib, blkid_do_safeprobe)
#define blkid_free_probe LC_DL_CALL(lc_blkid_lib, blkid_free_probe)
#define blkid_new_probe_from_filename LC_DL_CALL(lc_blkid_lib, blkid_new_probe_from_filename)
#define blkid_probe_enable_superblocks LC_DL_CALL(lc_blkid_lib, blkid_probe_enable_superblocks)
#define blkid_probe_lookup_value LC_DL_CALL(lc_blkid_lib, blkid_probe_lookup_value)
#define blkid_probe_set_superblocks_flags LC_DL_CALL(lc_blkid_lib, blkid_probe_set_superblocks_flags)
#endif
