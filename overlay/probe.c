/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Kernel and storage feature probing for overlayfs. */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#include "overlay/overlay.h"
#include "src/basic/fsutil.h"

#define OVERLAYFS_MAGIC 0x794c7630
#define NFS_MAGIC 0x6969
#define FUSE_MAGIC 0x65735546

static bool proc_filesystems_has(const char *fstype)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/filesystems", "re");
	char line[256];
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		char *tab = strrchr(line, '\t');
		char *name = tab ? tab + 1 : line;
		name[strcspn(name, "\n")] = '\0';
		if (strcmp(name, fstype) == 0)
			return true;
	}
	return false;
}

int ov_kernel_supported(struct lc_err *err)
{
	if (proc_filesystems_has("overlay"))
		return 0;
	/* Not registered yet: fsopen() makes the kernel load the module on demand. */
	int fd = (int)syscall(SYS_fsopen, "overlay", 0);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno == ENOSYS && proc_filesystems_has("overlay"))
		return 0;
	return lc_err_ret(err, -ENODEV,
			  "this kernel has no overlayfs (modprobe overlay, or CONFIG_OVERLAY_FS)");
}

/* Does readdir in dirfd report a real type for `name`?  (XFS ftype=0 does not.) */
static int has_d_type(int dirfd, const char *name)
{
	_cleanup_closedir_ DIR *d = NULL;
	int r = lc_opendirat(dirfd, ".", 0, &d);
	if (r < 0)
		return r;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, name) == 0)
			return de->d_type != DT_UNKNOWN;
	return -ENOENT;
}

static int probe_in(int probe_fd, struct lc_err *err, const char *dir)
{
	unlinkat(probe_fd, "f", 0); /* left by a probe that was killed, under a reused pid */
	int fd = openat(probe_fd, "f", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return lc_err_ret(err, -errno, "%s: cannot create a probe file: %s", dir, strerror(errno));
	close(fd);
	int r = has_d_type(probe_fd, "f");
	if (r < 0)
		return lc_err_ret(err, r, "%s: cannot read back a probe file: %s", dir, strerror(-r));
	if (r == 0)
		return lc_err_ret(err, -EOPNOTSUPP,
				  "%s: file system does not report d_type (xfs with ftype=0?); overlayfs needs it for its upper dir",
				  dir);
	if (fsetxattr(probe_fd, "trusted.overlay.layerctl-probe", "y", 1, 0) < 0) {
		int e = errno;
		if (e == ENOTSUP)
			return lc_err_ret(err, -EOPNOTSUPP,
					  "%s: file system does not support trusted.* xattrs; overlayfs needs them for its upper dir",
					  dir);
		return lc_err_ret(err, -e, "%s: cannot set a trusted.* xattr (%s); overlayfs needs them", dir,
				  strerror(e));
	}
	return 0;
}

int ov_check_upper_fs(const char *dir, struct lc_err *err)
{
	struct statfs sfs;
	char name[64];
	int r;

	if (statfs(dir, &sfs) < 0)
		return lc_err_ret(err, -errno, "%s: %s", dir, strerror(errno));
	if (sfs.f_type == OVERLAYFS_MAGIC)
		return lc_err_ret(err, -EOPNOTSUPP,
				  "%s is on an overlayfs, which cannot hold an overlay upper dir; put the store on a plain file system (--root)",
				  dir);
	if (sfs.f_type == NFS_MAGIC || sfs.f_type == FUSE_MAGIC)
		return lc_err_ret(err, -EOPNOTSUPP,
				  "%s is on %s, which cannot hold an overlay upper dir; put the store on a local file system (--root)",
				  dir, sfs.f_type == NFS_MAGIC ? "NFS" : "FUSE");

	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return lc_err_ret(err, -errno, "%s: %s", dir, strerror(errno));
	snprintf(name, sizeof(name), ".layerctl-probe-%d", (int)getpid());
	if (mkdirat(dfd, name, 0700) < 0 && errno != EEXIST)
		return lc_err_ret(err, -errno, "%s: cannot create a probe dir: %s", dir, strerror(errno));
	int pfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (pfd < 0) {
		r = lc_err_ret(err, -errno, "%s: %s", dir, strerror(errno));
	} else {
		r = probe_in(pfd, err, dir);
		unlinkat(pfd, "f", 0);
		close(pfd);
	}
	unlinkat(dfd, name, AT_REMOVEDIR);
	return r;
}
