/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The root partition choice of src/store/image.c (Discoverable Partitions Specification). */
#include "src/store/export.h"
#include "src/store/image.h"
#include "tests/unit/test.h"

#define ROOT_X86_64 "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"
#define LINUX_FS "0fc63daf-8483-4772-8e79-3d69d8477de4"
#define ESP "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
#define MiB (1024ull * 1024)

static const uint64_t disk = 100 * MiB;

TEST(root_type_wins_over_an_earlier_linux_fs)
{
	struct image_part p[] = {
		{ 1, 1 * MiB, 8 * MiB, ESP, "vfat" },
		{ 2, 9 * MiB, 20 * MiB, LINUX_FS, "ext4" },
		{ 3, 29 * MiB, 20 * MiB, ROOT_X86_64, "xfs" },
	};
	struct lc_err e = { "" };
	CHECK_INT(image_choose_partition(p, 3, ROOT_X86_64, disk, &e), 2);
}

TEST(root_type_matched_in_any_case)
{
	struct image_part p[] = { { 1, 1 * MiB, 8 * MiB, "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", "ext4" } };
	CHECK_INT(image_choose_partition(p, 1, ROOT_X86_64, disk, NULL), 0);
}

TEST(only_linux_fs_without_root_type)
{
	struct image_part p[] = {
		{ 1, 1 * MiB, 8 * MiB, ESP, "vfat" },
		{ 2, 9 * MiB, 20 * MiB, "0x82", "swap" },
		{ 3, 29 * MiB, 20 * MiB, LINUX_FS, "squashfs" },
	};
	CHECK_INT(image_choose_partition(p, 3, ROOT_X86_64, disk, NULL), 2);
	/* An architecture without a known root type still takes the only Linux file system. */
	CHECK_INT(image_choose_partition(p, 3, NULL, disk, NULL), 2);
}

TEST(two_linux_fs_refused_with_the_list)
{
	struct image_part p[] = {
		{ 1, 1 * MiB, 8 * MiB, "0x83", "ext4" },
		{ 2, 9 * MiB, 20 * MiB, "0x83", "btrfs" },
	};
	struct lc_err e = { "" };
	CHECK_INT(image_choose_partition(p, 2, ROOT_X86_64, disk, &e), -EINVAL);
	CHECK(strstr(e.msg, "several partitions hold a Linux file system") != NULL);
	CHECK(strstr(e.msg, "1 (ext4, type 0x83, 8 MiB), 2 (btrfs, type 0x83, 20 MiB)") != NULL);
}

TEST(two_root_types_refused)
{
	struct image_part p[] = {
		{ 1, 1 * MiB, 8 * MiB, ROOT_X86_64, "ext4" },
		{ 2, 9 * MiB, 20 * MiB, ROOT_X86_64, "ext4" },
	};
	struct lc_err e = { "" };
	CHECK_INT(image_choose_partition(p, 2, ROOT_X86_64, disk, &e), -EINVAL);
	CHECK(strstr(e.msg, "2 partitions have this architecture's root type") != NULL);
}

TEST(no_linux_fs_refused)
{
	struct image_part p[] = { { 1, 1 * MiB, 8 * MiB, ESP, "vfat" }, { 2, 9 * MiB, 8 * MiB, LINUX_FS, "" } };
	struct lc_err e = { "" };
	CHECK_INT(image_choose_partition(p, 2, ROOT_X86_64, disk, &e), -EINVAL);
	CHECK(strstr(e.msg, "no partition holds a Linux root file system") != NULL);
	CHECK(strstr(e.msg, "2 (no file system recognised") != NULL);
	CHECK_INT(image_choose_partition(p, 0, ROOT_X86_64, disk, &e), -EINVAL);
	CHECK(strstr(e.msg, "partitions: none") != NULL);
}

TEST(root_type_without_a_root_fs_refused)
{
	/* The typed partition is the root even when it holds vfat: never fall back to another. */
	struct image_part p[] = {
		{ 1, 1 * MiB, 8 * MiB, ROOT_X86_64, "vfat" },
		{ 2, 9 * MiB, 20 * MiB, LINUX_FS, "ext4" },
	};
	struct lc_err e = { "" };
	CHECK_INT(image_choose_partition(p, 2, ROOT_X86_64, disk, &e), -EINVAL);
	CHECK(strstr(e.msg, "root partition 1 holds vfat") != NULL);
}

TEST(partition_past_the_end_refused)
{
	struct image_part p[] = {
		{ 1, 1 * MiB, 8 * MiB, ESP, "vfat" },
		{ 2, 9 * MiB, 92 * MiB, ROOT_X86_64, "" },
	};
	struct lc_err e = { "" };
	CHECK_INT(image_choose_partition(p, 2, ROOT_X86_64, disk, &e), -EINVAL);
	CHECK(strstr(e.msg, "partition 2 ends at byte 105906176, past the end of the image (104857600 bytes)") != NULL);
	/* Ending exactly at the end is fine; an offset beyond it (no overflow of offset + size) is not. */
	p[1].size = 91 * MiB;
	strcpy(p[1].fstype, "ext4");
	CHECK_INT(image_choose_partition(p, 2, ROOT_X86_64, disk, NULL), 1);
	p[1].offset = UINT64_MAX - 10;
	p[1].size = 20;
	CHECK_INT(image_choose_partition(p, 2, ROOT_X86_64, disk, NULL), -EINVAL);
}

TEST(root_fstypes)
{
	CHECK(image_fstype_is_root("ext4"));
	CHECK(image_fstype_is_root("xfs"));
	CHECK(image_fstype_is_root("btrfs"));
	CHECK(image_fstype_is_root("squashfs"));
	CHECK(image_fstype_is_root("erofs"));
	CHECK(!image_fstype_is_root("vfat"));
	CHECK(!image_fstype_is_root("swap"));
	CHECK(!image_fstype_is_root(""));
	CHECK(!image_fstype_is_root(NULL));
#if defined(__x86_64__)
	CHECK_STREQ(image_root_type(), ROOT_X86_64);
#endif
}

TEST(export_format_by_suffix)
{
	enum export_format f;
	const char *filter;
	CHECK_INT(export_format_from_name("/x/a.tar", &f, &filter), 0);
	CHECK_INT(f, EXPORT_TAR);
	CHECK(filter == NULL);
	CHECK_INT(export_format_from_name("a.tar.zst", &f, &filter), 0);
	CHECK_STREQ(filter, "zstd");
	CHECK_INT(export_format_from_name("a.tgz", &f, &filter), 0);
	CHECK_STREQ(filter, "gzip");
	CHECK_INT(export_format_from_name("a.tar.xz", &f, &filter), 0);
	CHECK_STREQ(filter, "xz");
	CHECK_INT(export_format_from_name("a.tar.bz2", &f, &filter), 0);
	CHECK_STREQ(filter, "bzip2");
	CHECK_INT(export_format_from_name("a.squashfs", &f, &filter), 0);
	CHECK_INT(f, EXPORT_SQUASHFS);
	CHECK_INT(export_format_from_name("a.sqfs", &f, &filter), 0);
	CHECK_INT(f, EXPORT_SQUASHFS);
	CHECK_INT(export_format_from_name("a.erofs", &f, &filter), 0);
	CHECK_INT(f, EXPORT_EROFS);
	/* A bare suffix is no name; unknown ones are refused. */
	CHECK_INT(export_format_from_name(".tar", &f, &filter), -EINVAL);
	CHECK_INT(export_format_from_name("a.zip", &f, &filter), -EINVAL);
	CHECK_INT(export_format_from_name("a.tar.gz.part", &f, &filter), -EINVAL);
}

TEST_MAIN()
