/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one atomic file writer of the project: temp file next to the target,
 * write, fchmod, [fsync], rename, [fsync dir]; and the one read-it-all and
 * write-it-all loop.  src/basic/ is the bottom of the include graph, so every
 * library (diff/: manifests, hash cache; fstab-gen/: fstab; src/store/:
 * settings files) shares them.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

#include "src/basic/fileio.h"
#include "src/basic/macro.h"

int lc_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int lc_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode, bool durable)
{
	char tmp[NAME_MAX + 1];
	struct timespec ts;
	int r = 0;

	if (strlen(name) > NAME_MAX - 40)
		return -ENAMETOOLONG;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(tmp, sizeof(tmp), ".#%s.%d.%lx", name, (int)getpid(), (unsigned long)ts.tv_nsec);
	_cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	r = lc_write_all(fd, data, len);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && durable && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	if (!durable)
		return 0;
	return fsync(dirfd) < 0 && errno != EINVAL && errno != EBADF ? -errno : 0;
}

/* size_hint 0: unknown, 16 KiB first and reads of at least 4 KiB. */
static int read_full(int fd, size_t size_hint, char **ret, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (size_hint ? len == cap : cap - len < 4096) {
			cap = cap ? cap * 2 : size_hint ? size_hint : 16384;
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		ssize_t k = read(fd, buf + len, cap - len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			free(buf);
			return r;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

int lc_read_full(int fd, char **ret, size_t *ret_len)
{
	return read_full(fd, 0, ret, ret_len);
}

int lc_read_full_sized(int fd, size_t size_hint, char **ret, size_t *ret_len)
{
	/* One byte more than the size: the read that returns 0 needs room to be asked. */
	return read_full(fd, size_hint + 1, ret, ret_len);
}
