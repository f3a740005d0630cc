/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Naming the file system a path lives on, for the storage check's messages:
 * "ext4 on /dev/vda2 (label root)".  libblkid knows the device and what is
 * on it; a file system without a block device (tmpfs, overlay, NFS) is
 * named by its mount table entry through libmount.
 */
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "src/basic/mount-dl.h"
#include "src/store/blkid-dl.h"
#include "src/store/store.h"

static void blkid_freep(char **p) { free(*p); }

static int describe_block_device(dev_t dev, char *buf, size_t size)
{
	_cleanup_(blkid_freep) char *devname = blkid_devno_to_devname(dev);
	if (!devname)
		return 0;
	/* NULL cache: read from the device itself, nothing written to /run/blkid. */
	_cleanup_(blkid_freep) char *type = blkid_get_tag_value(NULL, "TYPE", devname);
	_cleanup_(blkid_freep) char *label = blkid_get_tag_value(NULL, "LABEL", devname);
	snprintf(buf, size, "%s on %s%s%s%s", type ? type : "an unrecognised file system", devname,
		 label ? " (label " : "", label ? label : "", label ? ")" : "");
	return 1;
}

static int describe_mount(const char *path, char *buf, size_t size)
{
	struct libmnt_table *tb = mnt_new_table_from_file("/proc/self/mountinfo");
	if (!tb)
		return 0;
	struct libmnt_fs *fs = mnt_table_find_mountpoint(tb, path, MNT_ITER_BACKWARD);
	int r = 0;
	if (fs && mnt_fs_get_fstype(fs)) {
		snprintf(buf, size, "%s (%s, no block device)", mnt_fs_get_fstype(fs),
			 mnt_fs_get_source(fs) ? mnt_fs_get_source(fs) : "no source");
		r = 1;
	}
	mnt_unref_table(tb);
	return r;
}

int store_describe_fs(const char *path, char *buf, size_t size)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	if (major(st.st_dev) != 0 && describe_block_device(st.st_dev, buf, size))
		return 0;
	if (describe_mount(path, buf, size))
		return 0;
	snprintf(buf, size, "an unknown file system (device %u:%u)", major(st.st_dev), minor(st.st_dev));
	return 0;
}
