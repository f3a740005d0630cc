/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Manifests: scan, write, mmap, lookup, corruption, odd names. */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <xxhash.h>

#include "diff/diff.h"
#include "tests/unit/test.h"

static char tmpl[] = "/tmp/test-diff-manifest.XXXXXX";
static char *dir;

static void write_file(int dfd, const char *name, const char *content)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
	close(fd);
}

/* A tree with names holding newline, tab, backslash and invalid UTF-8. */
static int make_tree(const char *path)
{
	CHECK(mkdir(path, 0755) == 0);
	int fd = open(path, O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	write_file(fd, "hello", "hello world\n");
	write_file(fd, "new\nline", "x");
	write_file(fd, "tab\there", "y");
	write_file(fd, "back\\slash", "z");
	write_file(fd, "bad\xff\xfe utf8", "w");
	CHECK(mkdirat(fd, "dir", 0700) == 0);
	CHECK(mkdirat(fd, "dir-x", 0755) == 0);
	write_file(fd, "dir/inner", "inner");
	CHECK(symlinkat("hello", fd, "link") == 0);
	CHECK(mkfifoat(fd, "fifo", 0600) == 0);
	return fd;
}

static void setup(void)
{
	if (!dir)
		dir = mkdtemp(tmpl);
	CHECK(dir != NULL);
}

static char *sub(const char *leaf)
{
	char *p;
	CHECK(asprintf(&p, "%s/%s", dir, leaf) > 0);
	return p;
}

TEST(scan_sorted_and_hashed)
{
	setup();
	_cleanup_free_ char *t = sub("t1");
	int fd = make_tree(t);
	struct diff_manifest *m = NULL;
	struct lc_err e = { "" };
	CHECK_INT(diff_manifest_scan(fd, &m, &e), 0);
	if (!m)
		return;
	CHECK_INT(diff_manifest_count(m), 11);
	struct diff_entry prev, cur;
	for (size_t i = 0; i < diff_manifest_count(m); i++) {
		diff_manifest_get(m, i, &cur);
		if (i > 0)
			CHECK(diff_path_cmp(prev.path, prev.path_len, cur.path, cur.path_len) < 0);
		prev = cur;
	}
	/* "dir" < "dir-x" < "dir/inner" in byte order ('-' < '/') */
	ssize_t a = diff_manifest_find(m, "dir", 3), b = diff_manifest_find(m, "dir-x", 5),
		c = diff_manifest_find(m, "dir/inner", 9);
	CHECK(a >= 0 && b > a && c > b);
	size_t begin, end;
	diff_manifest_subtree(m, "dir", 3, &begin, &end);
	CHECK_INT(begin, c);
	CHECK_INT(end, c + 1);

	ssize_t h = diff_manifest_find(m, "hello", 5);
	CHECK(h >= 0);
	diff_manifest_get(m, (size_t)h, &cur);
	XXH128_canonical_t want;
	XXH128_canonicalFromHash(&want, XXH3_128bits("hello world\n", 12));
	CHECK(memcmp(cur.content, want.digest, 16) == 0);
	CHECK_INT(cur.size, 12);
	ssize_t l = diff_manifest_find(m, "link", 4);
	CHECK(l >= 0);
	diff_manifest_get(m, (size_t)l, &cur);
	CHECK_STREQ(cur.target, "hello");
	CHECK(diff_manifest_find(m, "new\nline", 8) >= 0);
	CHECK(diff_manifest_find(m, "bad\xff\xfe utf8", 10) >= 0);
	CHECK(diff_manifest_find(m, "nope", 4) < 0);
	diff_manifest_get(m, 0, &cur);
	CHECK_INT(cur.path_len, 0);
	CHECK(S_ISDIR(cur.mode));
	diff_manifest_free(m);
	close(fd);
}

TEST(write_open_roundtrip)
{
	setup();
	_cleanup_free_ char *t = sub("t2"), *mf = sub("t2.manifest");
	int fd = make_tree(t);
	struct lc_err e = { "" };
	CHECK(setxattr(t, "user.test", "v", 1, 0) == 0 || errno == ENOTSUP);
	CHECK_INT(diff_manifest_build(t, mf, &e), 0);
	struct diff_manifest *disk = NULL, *mem = NULL;
	CHECK_INT(diff_manifest_open(mf, &disk, &e), 0);
	CHECK_INT(diff_manifest_scan(fd, &mem, &e), 0);
	if (!disk || !mem)
		return;
	CHECK_INT(diff_manifest_count(disk), diff_manifest_count(mem));
	for (size_t i = 0; i < diff_manifest_count(disk); i++) {
		struct diff_entry x, y;
		diff_manifest_get(disk, i, &x);
		diff_manifest_get(mem, i, &y);
		CHECK(x.path_len == y.path_len && memcmp(x.path, y.path, x.path_len) == 0);
		CHECK_INT(diff_entry_changes(&x, &y, true), 0);
	}
	diff_manifest_free(disk);
	diff_manifest_free(mem);
	close(fd);
}

static int count_cb(const struct diff_entry *a, const struct diff_entry *b, unsigned ch, void *u)
{
	int *n = u;
	n[a && b ? 0 : a ? 1 : 2]++;
	if (a && b)
		n[3] |= (int)ch;
	return 0;
}

TEST(compare_finds_edits)
{
	setup();
	_cleanup_free_ char *t = sub("t3");
	int fd = make_tree(t);
	struct diff_manifest *before = NULL, *after = NULL;
	CHECK_INT(diff_manifest_scan(fd, &before, NULL), 0);
	write_file(fd, "hello", "HELLO WORLD\n"); /* same size, other content */
	CHECK(fchmodat(fd, "dir", 0755, 0) == 0);
	CHECK(unlinkat(fd, "fifo", 0) == 0);
	write_file(fd, "added", "");
	CHECK_INT(diff_manifest_scan(fd, &after, NULL), 0);
	int n[4] = {};
	CHECK_INT(diff_manifest_compare(before, after, false, count_cb, n), 0);
	CHECK_INT(n[1], 1); /* fifo gone */
	CHECK_INT(n[2], 1); /* added */
	CHECK(n[0] >= 2);   /* hello content, dir mode (and the root's nlink/mtime with times) */
	CHECK(n[3] & DIFF_CH_CONTENT);
	CHECK(n[3] & DIFF_CH_MODE);
	diff_manifest_free(before);
	diff_manifest_free(after);
	close(fd);
}

TEST(corruption_detected)
{
	setup();
	_cleanup_free_ char *t = sub("t4"), *mf = sub("t4.manifest");
	int fd = make_tree(t);
	close(fd);
	struct lc_err e = { "" };
	CHECK_INT(diff_manifest_build(t, mf, &e), 0);
	int mfd = open(mf, O_RDONLY);
	struct stat st;
	CHECK(fstat(mfd, &st) == 0);
	char *buf = malloc((size_t)st.st_size);
	CHECK(read(mfd, buf, (size_t)st.st_size) == st.st_size);
	close(mfd);
	struct diff_manifest *m = NULL;
	CHECK_INT(diff_manifest_from_buffer(buf, (size_t)st.st_size, &m, &e), 0);
	diff_manifest_free(m);
	m = NULL;
	/* every single flipped byte is caught (header, records or pool) */
	for (off_t i = 0; i < st.st_size; i++) {
		buf[i] ^= 0x40;
		int r = diff_manifest_from_buffer(buf, (size_t)st.st_size, &m, &e);
		CHECK_INT(r, -EBADMSG);
		if (r == 0)
			diff_manifest_free(m);
		buf[i] ^= 0x40;
	}
	/* truncation */
	CHECK_INT(diff_manifest_from_buffer(buf, (size_t)st.st_size - 1, &m, &e), -EBADMSG);
	CHECK(strstr(e.msg, "truncated") != NULL);
	CHECK_INT(diff_manifest_from_buffer(buf, 10, &m, &e), -EBADMSG);
	/* a truncated file on disk */
	CHECK(truncate(mf, st.st_size / 2) == 0);
	CHECK_INT(diff_manifest_open(mf, &m, &e), -EBADMSG);
	free(buf);
}

TEST(xattr_digest_ignores_overlay_private)
{
	setup();
	_cleanup_free_ char *t = sub("t5");
	CHECK(mkdir(t, 0755) == 0);
	int fd = open(t, O_RDONLY | O_DIRECTORY);
	write_file(fd, "a", "1");
	write_file(fd, "b", "1");
	struct diff_hasher *h;
	CHECK_INT(diff_hasher_new(&h), 0);
	uint8_t da[16], db[16];
	bool priv;
	CHECK_INT(diff_xattr_digest(h, fd, "a", da, &priv), 0);
	CHECK(diff_hash_is_zero(da));
	CHECK(!priv);
	_cleanup_free_ char *pa = sub("t5/a"), *pb = sub("t5/b");
	/* user.* where the file system takes it, else trusted.* (root): never skipped. */
	const char *one = "user.one", *two = "user.two", *three = "user.three";
	if (setxattr(pa, one, "1", 1, 0) < 0) {
		one = "trusted.one", two = "trusted.two", three = "trusted.three";
		CHECK(setxattr(pa, one, "1", 1, 0) == 0);
	}
	CHECK(setxattr(pa, two, "2", 1, 0) == 0);
	CHECK(setxattr(pb, two, "2", 1, 0) == 0);
	CHECK(setxattr(pb, one, "1", 1, 0) == 0);
	CHECK(setxattr(pb, "trusted.overlay.origin", "x", 1, 0) == 0 || errno == EPERM);
	CHECK_INT(diff_xattr_digest(h, fd, "a", da, NULL), 0);
	CHECK_INT(diff_xattr_digest(h, fd, "b", db, &priv), 0);
	CHECK(!diff_hash_is_zero(da));   /* xattrs count: not the digest of none */
	CHECK(memcmp(da, db, 16) == 0); /* order of setting and overlay xattrs do not matter */
	uint8_t before[16];
	memcpy(before, db, 16);
	CHECK(setxattr(pb, two, "3", 1, 0) == 0);   /* a value */
	CHECK_INT(diff_xattr_digest(h, fd, "b", db, NULL), 0);
	CHECK(memcmp(da, db, 16) != 0);
	CHECK(setxattr(pb, two, "2", 1, 0) == 0);
	CHECK(setxattr(pb, three, "", 0, 0) == 0);   /* one more, empty */
	CHECK_INT(diff_xattr_digest(h, fd, "b", db, NULL), 0);
	CHECK(memcmp(before, db, 16) != 0);
	CHECK(removexattr(pb, three) == 0 && removexattr(pb, two) == 0);
	CHECK(setxattr(pb, three, "2", 1, 0) == 0);   /* the same value under another name */
	CHECK_INT(diff_xattr_digest(h, fd, "b", db, NULL), 0);
	CHECK(memcmp(before, db, 16) != 0);
	diff_hasher_free(h);
	close(fd);
}

/* Whatever build of XXH3 hashes (the library's, or the AVX2 one), the result is the library's. */
TEST(hash_matches_library_on_large_input)
{
	setup();
	size_t n = (1 << 20) + 17;
	unsigned char *data = malloc(n);
	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13);
	_cleanup_free_ char *p = sub("large");
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, data, n) == (ssize_t)n);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	struct diff_hasher *h;
	uint8_t got[16];
	uint64_t bytes;
	CHECK_INT(diff_hasher_new(&h), 0);
	CHECK_INT(diff_hash_fd(h, fd, got, &bytes), 0);
	CHECK_INT(bytes, n);
	XXH128_canonical_t want;
	XXH128_canonicalFromHash(&want, XXH3_128bits(data, n));
	CHECK(memcmp(got, want.digest, 16) == 0);
	diff_hasher_free(h);
	close(fd);
	free(data);
}

/* Hashing in pieces of any size (an import hashes what it copies, block by block) is the hash of the whole. */
TEST(hash_in_pieces_matches_whole)
{
	size_t n = (1 << 18) + 5;
	unsigned char *data = malloc(n);
	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)(i * 40503u >> 7);
	struct diff_hasher *h;
	uint8_t whole[16], pieces[16];
	CHECK_INT(diff_hasher_new(&h), 0);
	diff_hash_buffer(h, data, n, whole);
	const size_t steps[] = { 1, 63, 4096, 65536, 100000 };
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		diff_hash_begin(h);
		for (size_t off = 0; off < n; off += steps[k])
			diff_hash_update(h, data + off, off + steps[k] > n ? n - off : steps[k]);
		diff_hash_end(h, pieces);
		CHECK(memcmp(whole, pieces, 16) == 0);
	}
	XXH128_canonical_t want;
	XXH128_canonicalFromHash(&want, XXH3_128bits(data, n));
	CHECK(memcmp(whole, want.digest, 16) == 0);
	diff_hasher_free(h);
	free(data);
}

TEST(cleanup)
{
	if (dir) {
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		CHECK(system(cmd) == 0);
	}
}

TEST_MAIN()
