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
	X(blkid_devno_to_devname) X(blkid_do_safeprobe) X(blkid_free_probe) X(blkid_get_tag_value) \
	X(blkid_new_probe) X(blkid_new_probe_from_filename) X(blkid_partition_get_partno) \
	X(blkid_partition_get_size) X(blkid_partition_get_start) X(blkid_partition_get_type) \
	X(blkid_partition_get_type_string) X(blkid_partition_is_extended) X(blkid_partlist_get_partition) \
	X(blkid_partlist_numof_partitions) X(blkid_probe_enable_partitions) \
	X(blkid_probe_enable_superblocks) X(blkid_probe_get_partitions) X(blkid_probe_lookup_value) \
	X(blkid_probe_set_device) X(blkid_probe_set_superblocks_flags)

LC_BLKID_SYMBOLS(LC_DL_DECLARE)
extern struct lc_dl_lib lc_blkid_lib;

#ifndef LC_BLKID_DL_IMPL
#define blkid_devno_to_devname LC_DL_CALL(lc_blkid_lib, blkid_devno_to_devname)
#define blkid_do_safeprobe LC_DL_CALL(lc_blkid_lib, blkid_do_safeprobe)
#define blkid_free_probe LC_DL_CALL(lc_blkid_lib, blkid_free_probe)
#define blkid_get_tag_value LC_DL_CALL(lc_blkid_lib, blkid_get_tag_value)
#define blkid_new_probe LC_DL_CALL(lc_blkid_lib, blkid_new_probe)
#define blkid_new_probe_from_filename LC_DL_CALL(lc_blkid_lib, blkid_new_probe_from_filename)
#define blkid_partition_get_partno LC_DL_CALL(lc_blkid_lib, blkid_partition_get_partno)
#define blkid_partition_get_size LC_DL_CALL(lc_blkid_lib, blkid_partition_get_size)
#define blkid_partition_get_start LC_DL_CALL(lc_blkid_lib, blkid_partition_get_start)
#define blkid_partition_get_type LC_DL_CALL(lc_blkid_lib, blkid_partition_get_type)
#define blkid_partition_get_type_string LC_DL_CALL(lc_blkid_lib, blkid_partition_get_type_string)
#define blkid_partition_is_extended LC_DL_CALL(lc_blkid_lib, blkid_partition_is_extended)
#define blkid_partlist_get_partition LC_DL_CALL(lc_blkid_lib, blkid_partlist_get_partition)
#define blkid_partlist_numof_partitions LC_DL_CALL(lc_blkid_lib, blkid_partlist_numof_partitions)
#define blkid_probe_enable_partitions LC_DL_CALL(lc_blkid_lib, blkid_probe_enable_partitions)
#define blkid_probe_enable_superblocks LC_DL_CALL(lc_blkid_lib, blkid_probe_enable_superblocks)
#define blkid_probe_get_partitions LC_DL_CALL(lc_blkid_lib, blkid_probe_get_partitions)
#define blkid_probe_lookup_value LC_DL_CALL(lc_blkid_lib, blkid_probe_lookup_value)
#define blkid_probe_set_device LC_DL_CALL(lc_blkid_lib, blkid_probe_set_device)
#define blkid_probe_set_superblocks_flags LC_DL_CALL(lc_blkid_lib, blkid_probe_set_superblocks_flags)
#endif
