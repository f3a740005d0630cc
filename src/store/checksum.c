/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* FILE.xxh128: see checksum.h. */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>

#include "src/basic/fileio.h"
#include "src/store/checksum.h"

char *checksum_path_for(const char *file)
{
	char *p = NULL;
	return asprintf(&p, "%s.xxh128", file) < 0 ? NULL : p;
}

int checksum_fd(int fd, uint8_t out[DIFF_HASH_SIZE], struct lc_err *err)
{
	struct diff_hasher *h = NULL;
	int r = diff_hasher_new(&h);
	if (r < 0)
		return lc_err_ret(err, r, "out of memory");
	if (lseek(fd, 0, SEEK_SET) < 0)
		r = -errno;
	else
		r = diff_hash_fd(h, fd, out, NULL);
	diff_hasher_free(h);
	return r < 0 ? lc_err_ret(err, r, "read: %s", strerror(-r)) : 0;
}

int checksum_write_for(const char *file, const uint8_t sum[DIFF_HASH_SIZE], struct lc_err *err)
{
	_cleanup_free_ char *dir = strdup(file), *name = NULL, *line = NULL;
	char hex[2 * DIFF_HASH_SIZE + 1];
	if (!dir)
		return -ENOMEM;
	char *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : dir;
	diff_hash_hex(sum, hex);
	/* Two spaces: xxhsum's (and sha256sum's) text-mode line. */
	if (asprintf(&name, "%s.xxh128", base) < 0 || asprintf(&line, "%s  %s\n", hex, base) < 0)
		return -ENOMEM;
	if (slash)
		*slash = '\0';
	_cleanup_close_ int dfd = open(slash ? (*dir ? dir : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return lc_err_ret(err, -errno, "%s: %m", slash ? dir : ".");
	int r = lc_write_atomic(dfd, name, line, strlen(line), 0644, true);
	return r < 0 ? lc_err_ret(err, r, "%s.xxh128: %s", file, strerror(-r)) : 0;
}

static int unhex(int c)
{
	return isdigit(c) ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int checksum_read(const char *path, uint8_t out[DIFF_HASH_SIZE], struct lc_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : lc_err_ret(err, -errno, "%s: %m", path);
	int r = lc_read_full(fd, &data, &len);
	if (r < 0)
		return lc_err_ret(err, r, "%s: %s", path, strerror(-r));
	/* "HEX  NAME\n", one line; the name is not compared: the file may have been renamed since. */
	if (len < 2 * DIFF_HASH_SIZE + 3 || memchr(data, '\n', len) != data + len - 1 ||
	    data[2 * DIFF_HASH_SIZE] != ' ')
		return lc_err_ret(err, -EBADMSG, "%s: not a checksum file (one line: XXH3-128 in hex, two spaces, name)", path);
	for (size_t i = 0; i < DIFF_HASH_SIZE; i++) {
		int hi = unhex((unsigned char)data[2 * i]), lo = unhex((unsigned char)data[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return lc_err_ret(err, -EBADMSG, "%s: not a checksum file (one line: XXH3-128 in hex, two spaces, name)",
					  path);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int checksum_check_fd(int fd, const char *what, const char *path, struct lc_err *err)
{
	uint8_t want[DIFF_HASH_SIZE], got[DIFF_HASH_SIZE];
	char hw[2 * DIFF_HASH_SIZE + 1], hg[2 * DIFF_HASH_SIZE + 1];
	int r = checksum_read(path, want, err);
	if (r < 0)
		return r;
	if ((r = checksum_fd(fd, got, err)) < 0)
		return lc_err_wrap(err, "%s", what), r;
	if (memcmp(want, got, DIFF_HASH_SIZE) == 0)
		return 0;
	diff_hash_hex(want, hw);
	diff_hash_hex(got, hg);
	return lc_err_ret(err, -EBADMSG, "--verify: %s has XXH3-128 %s, %s says %s", what, hg, path, hw);
}
