/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* FILE.xxh128: see checksum.h. */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "src/basic/fileio.h"
#include "src/store/checksum.h"

#define HEX_LEN (2 * DIFF_HASH_SIZE)
#define NOT_ONE "not a checksum file (a line per file: XXH3-128 in hex, two spaces, the name)"

char *checksum_path_for(const char *file)
{
	char *p = NULL;
	return asprintf(&p, "%s.xxh128", file) < 0 ? NULL : p;
}

/* A whole file through a read-only mapping: the page cache hashed in place (an image of GBs read once). */
static int hash_mapped(struct diff_hasher *h, int fd, uint8_t out[DIFF_HASH_SIZE])
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > SIZE_MAX)
		return -EINVAL;
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	(void)madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL | MADV_WILLNEED);
	diff_hash_buffer(h, p, (size_t)st.st_size, out);
	munmap(p, (size_t)st.st_size);
	return 0;
}

int checksum_fd(int fd, bool own, uint8_t out[DIFF_HASH_SIZE], struct lc_err *err)
{
	struct diff_hasher *h = NULL;
	int r = diff_hasher_new(&h);
	if (r < 0)
		return lc_err_ret(err, r, "out of memory");
	/*
	 * Mapped only when it is the store's own file: another's could be
	 * truncated under the mapping (SIGBUS).  Not mappable (a pipe, an
	 * empty file): read through.
	 */
	if (!own || hash_mapped(h, fd, out) < 0)
		r = lseek(fd, 0, SEEK_SET) < 0 ? -errno : diff_hash_fd(h, fd, out, NULL);
	diff_hasher_free(h);
	return r < 0 ? lc_err_ret(err, r, "read: %s", strerror(-r)) : 0;
}

int checksum_write_for(const char *file, const uint8_t sum[DIFF_HASH_SIZE], const uint8_t manifest[DIFF_HASH_SIZE],
		       struct lc_err *err)
{
	_cleanup_free_ char *dir = strdup(file), *name = NULL, *text = NULL;
	char hex[HEX_LEN + 1], mhex[HEX_LEN + 1] = "";
	if (!dir)
		return -ENOMEM;
	char *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : dir;
	diff_hash_hex(sum, hex);
	if (manifest)
		diff_hash_hex(manifest, mhex);
	/* Two spaces: xxhsum's (and sha256sum's) text-mode line. */
	int n = manifest ? asprintf(&text, "%s  %s\n%s  %s.manifest\n", hex, base, mhex, base)
			 : asprintf(&text, "%s  %s\n", hex, base);
	if (n < 0 || asprintf(&name, "%s.xxh128", base) < 0)
		return -ENOMEM;
	if (slash)
		*slash = '\0';
	_cleanup_close_ int dfd = open(slash ? (*dir ? dir : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return lc_err_ret(err, -errno, "%s: %m", slash ? dir : ".");
	int r = lc_write_atomic(dfd, name, text, strlen(text), 0644, true);
	return r < 0 ? lc_err_ret(err, r, "%s.xxh128: %s", file, strerror(-r)) : 0;
}

static int unhex(int c)
{
	return isdigit(c) ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* One line "HEX  NAME" (or xxhsum's binary mode "HEX *NAME") of len bytes without its newline. */
static bool parse_line(const char *line, size_t len, uint8_t out[DIFF_HASH_SIZE])
{
	if (len < HEX_LEN + 2 || line[HEX_LEN] != ' ')
		return false;
	for (size_t i = 0; i < DIFF_HASH_SIZE; i++) {
		int hi = unhex((unsigned char)line[2 * i]), lo = unhex((unsigned char)line[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

int checksum_read(const char *path, struct checksums *out, struct lc_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	*out = (struct checksums){};
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : lc_err_ret(err, -errno, "%s: %m", path);
	int r = lc_read_full(fd, &data, &len);
	if (r < 0)
		return lc_err_ret(err, r, "%s: %s", path, strerror(-r));
	/* Every line ends in a newline; one or two lines. */
	char *nl1 = len ? memchr(data, '\n', len) : NULL;
	if (!nl1 || data[len - 1] != '\n' || !parse_line(data, (size_t)(nl1 - data), out->file))
		return lc_err_ret(err, -EBADMSG, "%s: " NOT_ONE, path);
	char *second = nl1 + 1, *end = data + len;
	if (second == end)
		return 0;
	char *nl2 = memchr(second, '\n', (size_t)(end - second));
	if (nl2 + 1 != end || !parse_line(second, (size_t)(nl2 - second), out->manifest))
		return lc_err_ret(err, -EBADMSG, "%s: " NOT_ONE, path);
	out->has_manifest = true;
	return 0;
}

static int compare(const uint8_t want[DIFF_HASH_SIZE], const uint8_t got[DIFF_HASH_SIZE], const char *what,
		   const char *path, struct lc_err *err)
{
	char hw[HEX_LEN + 1], hg[HEX_LEN + 1];
	if (memcmp(want, got, DIFF_HASH_SIZE) == 0)
		return 0;
	diff_hash_hex(want, hw);
	diff_hash_hex(got, hg);
	return lc_err_ret(err, -EBADMSG, "--verify: %s has XXH3-128 %s, %s says %s", what, hg, path, hw);
}

int checksum_check_fd(int fd, bool own, const char *what, const char *path, struct lc_err *err)
{
	struct checksums want;
	uint8_t got[DIFF_HASH_SIZE];
	int r = checksum_read(path, &want, err);
	if (r < 0)
		return r;
	if ((r = checksum_fd(fd, own, got, err)) < 0)
		return lc_err_wrap(err, "%s", what), r;
	return compare(want.file, got, what, path, err);
}

int checksum_check_manifest(const char *manifest, const char *path, struct lc_err *err)
{
	struct checksums want;
	uint8_t got[DIFF_HASH_SIZE];
	int r = checksum_read(path, &want, err);
	if (r < 0 || !want.has_manifest)
		return r;
	_cleanup_close_ int fd = open(manifest, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return lc_err_ret(err, -errno, "%s: %m", manifest);
	if ((r = checksum_fd(fd, false, got, err)) < 0)
		return lc_err_wrap(err, "%s", manifest), r;
	r = compare(want.manifest, got, manifest, path, err);
	return r < 0 ? r : 1;
}
