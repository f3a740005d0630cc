/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mount at a path, asked of the kernel with statx() + statmount()
 * (Linux 6.8; the options need 6.11) instead of by reading all of
 * /proc/self/mountinfo with libmount.  `run`, `child list` and `ps` ask
 * about one or two mounts; loading libmount (and libblkid, libselinux and
 * libpcre2 with it) and parsing every mount line for that cost more than
 * a third of a `run` (docs/benchmarks.md).  Older kernels: -EOPNOTSUPP,
 * and the caller asks libmount as before.
 */
#pragma once

#include <stdbool.h>

struct lc_mount_info {
	char *buf;              /* owns the strings below */
	const char *fs_type;    /* "overlay", "cgroup2" */
	const char *mnt_root;   /* root of the mount in its file system ("/") */
	const char *mnt_point;  /* where it is mounted, as mountinfo would show it unescaped */
	const char *mnt_opts;   /* the file system's options (NULL unless asked for), kernel-escaped */
};

/*
 * 1 and *ret filled: path (not followed if a symlink) is the root of the
 * top-most mount there; 0: it is not a mount root; -EOPNOTSUPP: this kernel
 * cannot tell this way; else -errno (-ENOENT: no such path).
 */
int lc_statmount_path(const char *path, bool want_opts, struct lc_mount_info *ret);
void lc_mount_info_done(struct lc_mount_info *m);
