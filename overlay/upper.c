/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Decoding an overlay upper directory entry: whiteouts (0/0 char devices and
 * xattr whiteouts), opaque dirs, redirects, metacopy, origin.  Both xattr
 * namespaces are read: trusted.overlay.* (root mounts) and user.overlay.*
 * (userxattr mounts) — tools that read only one get wrong answers.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "overlay/overlay.h"

static const char *const prefixes[] = { "trusted.overlay.", "user.overlay." };

bool ov_xattr_is_private(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

/*
 * Read overlay xattr `suffix` ("opaque", "redirect", …) of dirfd/name in
 * either namespace.  Returns its length (value NUL-terminated in buf), or
 * -ENODATA when absent.  Uses /proc/self/fd so symlinks are not followed and
 * no path string is rebuilt (getxattr follows the magic link to the
 * entry itself, which was opened O_NOFOLLOW).
 */
static ssize_t get_ov_xattr(int fd, const char *suffix, char *buf, size_t size)
{
	char key[64], path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	for (size_t i = 0; i < ELEMENTSOF(prefixes); i++) {
		snprintf(key, sizeof(key), "%s%s", prefixes[i], suffix);
		ssize_t n = getxattr(path, key, buf, size - 1);
		if (n >= 0) {
			buf[n] = '\0';
			return n;
		}
		if (errno != ENODATA && errno != ENOTSUP && errno != EOPNOTSUPP)
			return -errno;
	}
	return -ENODATA;
}

int ov_read_entry(int dirfd, const char *name, const struct stat *st, struct ov_entry_info *ret)
{
	char buf[4096];
	ssize_t n;

	memset(ret, 0, sizeof(*ret));
	if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0)) {
		ret->kind = OV_ENTRY_WHITEOUT;
		return 0;
	}
	/* Symlinks and special files carry no overlay xattrs we act on. */
	if (!S_ISDIR(st->st_mode) && !S_ISREG(st->st_mode))
		return 0;

	_cleanup_close_ int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;

	if (S_ISREG(st->st_mode) && st->st_size == 0) {
		n = get_ov_xattr(fd, "whiteout", buf, sizeof(buf));
		if (n >= 0) {
			ret->kind = OV_ENTRY_WHITEOUT;
			return 0;
		}
		if (n != -ENODATA)
			return (int)n;
	}
	if (S_ISDIR(st->st_mode)) {
		n = get_ov_xattr(fd, "opaque", buf, sizeof(buf));
		if (n == 1 && buf[0] == 'y')
			ret->opaque = true;
		else if (n == 1 && buf[0] == 'x')
			ret->xwhiteouts = true;
		else if (n < 0 && n != -ENODATA)
			return (int)n;
	}
	if (S_ISREG(st->st_mode)) {
		n = get_ov_xattr(fd, "metacopy", buf, sizeof(buf));
		if (n >= 0)
			ret->metacopy = true;
		else if (n != -ENODATA)
			return (int)n;
	}
	n = get_ov_xattr(fd, "redirect", buf, sizeof(buf));
	if (n >= 0) {
		ret->redirect = strdup(buf);
		if (!ret->redirect)
			return -ENOMEM;
	} else if (n != -ENODATA)
		return (int)n;
	n = get_ov_xattr(fd, "origin", buf, sizeof(buf));
	ret->has_origin = n >= 0;
	return 0;
}

void ov_entry_info_done(struct ov_entry_info *info)
{
	free(info->redirect);
	info->redirect = NULL;
}
