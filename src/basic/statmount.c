/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* statx() + statmount(): see statmount.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/types.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "src/basic/statmount.h"

/*
 * The kernel's ABI (include/uapi/linux/mount.h, Linux 6.8 and 6.11), which
 * the distribution's headers may predate: only the fields up to mnt_point
 * are used, the kernel writes the rest into the room after them.
 */
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif
#ifndef __NR_statmount
#define __NR_statmount 457   /* the same number on every architecture */
#endif
#define LC_STATMOUNT_MNT_ROOT 0x08U
#define LC_STATMOUNT_MNT_POINT 0x10U
#define LC_STATMOUNT_FS_TYPE 0x20U
#define LC_STATMOUNT_MNT_OPTS 0x80U

struct lc_mnt_id_req {
	__u32 size;
	__u32 spare;
	__u64 mnt_id;
	__u64 param;
};

struct lc_statmount {
	__u32 size;
	__u32 mnt_opts;
	__u64 mask;
	__u32 sb_dev_major, sb_dev_minor;
	__u64 sb_magic;
	__u32 sb_flags;
	__u32 fs_type;
	__u64 mnt_id, mnt_parent_id;
	__u32 mnt_id_old, mnt_parent_id_old;
	__u64 mnt_attr, mnt_propagation, mnt_peer_group, mnt_master, propagate_from;
	__u32 mnt_root;
	__u32 mnt_point;
	__u64 spare2[50];
	char str[];   /* the strings' offsets count from here: byte 512, in every kernel */
};
_Static_assert(sizeof(struct lc_statmount) == 512, "struct statmount is 512 bytes before its strings");

void lc_mount_info_done(struct lc_mount_info *m)
{
	free(m->buf);
	*m = (struct lc_mount_info){ 0 };
}

/* A string of the reply: its offset must lie inside what the kernel wrote. */
static const char *reply_str(const struct lc_statmount *sm, size_t room, __u32 off)
{
	if (off >= room || !memchr(sm->str + off, '\0', room - off))
		return NULL;
	return sm->str + off;
}

int lc_statmount_path(const char *path, bool want_opts, struct lc_mount_info *ret)
{
	struct statx stx;
	*ret = (struct lc_mount_info){ 0 };
	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID_UNIQUE, &stx) < 0)
		return errno == ENOSYS ? -EOPNOTSUPP : -errno;
	if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) || !(stx.stx_mask & STATX_MNT_ID_UNIQUE))
		return -EOPNOTSUPP;
	if (!(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
		return 0;

	__u64 want = LC_STATMOUNT_FS_TYPE | LC_STATMOUNT_MNT_ROOT | LC_STATMOUNT_MNT_POINT |
		     (want_opts ? LC_STATMOUNT_MNT_OPTS : 0);
	struct lc_mnt_id_req req = { .size = sizeof(req), .mnt_id = stx.stx_mnt_id, .param = want };
	/*
	 * 4 KiB first: an overlay's options are a few hundred bytes, and a
	 * bigger first buffer is a heap page more touched at every start.  Not
	 * calloc: the kernel writes the header and the strings.
	 */
	for (size_t len = 4096; len <= 1024 * 1024; len *= 4) {
		struct lc_statmount *sm = malloc(len);
		if (!sm)
			return -ENOMEM;
		if (syscall(__NR_statmount, &req, sm, len, 0) < 0) {
			int e = errno;
			free(sm);
			if (e == EOVERFLOW)
				continue;   /* the options did not fit: a bigger buffer */
			return e == ENOSYS || e == EINVAL || e == EPERM ? -EOPNOTSUPP : -e;
		}
		/* What the kernel wrote: the header and the strings (the rest of the buffer is not initialized). */
		if (sm->size < sizeof(*sm) || sm->size > len) {
			free(sm);
			return -EOPNOTSUPP;
		}
		size_t room = sm->size - sizeof(*sm);
		ret->buf = (char *)sm;
		if ((sm->mask & want) != want || !(ret->fs_type = reply_str(sm, room, sm->fs_type)) ||
		    !(ret->mnt_root = reply_str(sm, room, sm->mnt_root)) ||
		    !(ret->mnt_point = reply_str(sm, room, sm->mnt_point)) ||
		    (want_opts && !(ret->mnt_opts = reply_str(sm, room, sm->mnt_opts)))) {
			lc_mount_info_done(ret);
			return -EOPNOTSUPP;   /* an older kernel without the options, say */
		}
		return 1;
	}
	return -EOPNOTSUPP;
}
