/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Which file systems need fewer fsyncs for a new directory: see durable.h. */
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "src/basic/durable.h"
#include "src/basic/macro.h"

/*
 * ext2, ext3 and ext4 share one magic number, and ext4 may run without a
 * journal (mkfs.ext4 -O ^has_journal).  The ext4 driver shows each of its
 * file systems in /sys/fs/ext4/DEV, whose journal_task names the journal's
 * thread or says "<none>".  Anything unexpected: false.
 */
static bool ext4_with_journal(int fd)
{
	struct stat st;
	char link[64], target[PATH_MAX], path[PATH_MAX + 64], task[32] = "";
	if (fstat(fd, &st) < 0)
		return false;
	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	const char *dev = strrchr(target, '/');
	dev = dev ? dev + 1 : target;
	snprintf(path, sizeof(path), "/sys/fs/ext4/%s/journal_task", dev);
	_cleanup_close_ int tfd = open(path, O_RDONLY | O_CLOEXEC);
	if (tfd < 0)
		return false;
	n = read(tfd, task, sizeof(task) - 1);
	if (n <= 0)
		return false;
	task[n] = '\0';
	return strncmp(task, "<none>", 6) != 0;
}

bool fsync_new_file_covers_new_dir(int dirfd)
{
	struct statfs sfs;
	if (fstatfs(dirfd, &sfs) < 0)
		return false;
	if (sfs.f_type == XFS_SUPER_MAGIC)
		return true;
	return sfs.f_type == EXT4_SUPER_MAGIC && ext4_with_journal(dirfd);
}
