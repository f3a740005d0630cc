/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Classification of a hand-made upper dir against a base manifest; the hash cache; vacuum. */
#include <fcntl.h>
#include <seccomp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <xxhash.h>

#include "diff/diff.h"
#include "tests/unit/test.h"

static char tmpl[] = "/tmp/test-diff-classify.XXXXXX";
static char *dir;

static void put(const char *rel, const char *content, mode_t mode)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
		fchmod(fd, mode);
		close(fd);
	}
}

static void mk(const char *rel)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	CHECK(mkdir(p, 0755) == 0);
}

static void xattr(const char *rel, const char *k, const char *v)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	CHECK(lsetxattr(p, k, v, strlen(v), 0) == 0);
}

static int open_dir(const char *rel)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return open(p, O_RDONLY | O_DIRECTORY);
}

/* Class of path in r, or 0 (silent entries count as absent). */
static char class_of(const struct diff_result *r, const char *path)
{
	for (size_t i = 0; i < r->n; i++)
		if (!r->v[i].silent && STREQ(diff_change_path(r, &r->v[i]), path))
			return r->v[i].cls;
	return 0;
}

static struct diff_manifest *base;

static void setup(void)
{
	if (dir)
		return;
	dir = mkdtemp(tmpl);
	CHECK(dir != NULL);
	mk("base");
	mk("base/etc");
	put("base/etc/a", "aaaa", 0644);
	put("base/etc/b", "bbbb", 0644);
	put("base/etc/c", "cccc", 0644);
	mk("base/d1");
	put("base/d1/f", "ffff", 0644);
	mk("base/d1/sub");
	put("base/d1/sub/g", "gggg", 0644);
	put("base/file", "0123456789", 0644);
	mk("base/opq");
	put("base/opq/old", "old", 0644);
	int fd = open_dir("base");
	CHECK_INT(diff_manifest_scan(fd, &base, NULL), 0);
	close(fd);
}

TEST(classes_of_a_hand_made_upper)
{
	setup();
	mk("up");
	mk("up/etc");
	put("up/etc/a", "AAAA", 0644);          /* same size, other content */
	put("up/etc/b", "bbbb", 0644);          /* redundant */
	put("up/etc/new", "n", 0644);           /* added */
	put("up/etc/c", "", 0644);              /* xattr whiteout */
	xattr("up/etc/c", "user.overlay.whiteout", "");
	xattr("up/etc", "user.overlay.opaque", "x");
	/* d1 renamed to d2 with a relative redirect, d1 whited out (xattr form at the root) */
	mk("up/d2");
	xattr("up/d2", "user.overlay.redirect", "d1");
	put("up/d1", "", 0644);
	xattr("up/d1", "user.overlay.whiteout", "");
	xattr("up", "user.overlay.opaque", "x");
	/* metacopy: mode changed, content still the base's (upper is a sparse file) */
	put("up/file", "", 0600);
	char p[512];
	snprintf(p, sizeof(p), "%s/up/file", dir);
	CHECK(truncate(p, 10) == 0);
	xattr("up/file", "user.overlay.metacopy", "");
	/* opaque dir: hides the base's content */
	mk("up/opq");
	xattr("up/opq", "user.overlay.opaque", "y");
	put("up/opq/fresh", "x", 0644);
	/* an absolute redirect reaches the lower even below an opaque dir */
	mk("up/opq/abs");
	xattr("up/opq/abs", "user.overlay.redirect", "/d1");

	struct diff_result r;
	struct lc_err e = { "" };
	int ufd = open_dir("up");
	CHECK_INT(diff_classify(ufd, base, NULL, &r, &e), 0);
	CHECK_INT(class_of(&r, "etc/a"), 'M');
	CHECK_INT(class_of(&r, "etc/b"), '=');
	CHECK_INT(class_of(&r, "etc/new"), 'A');
	CHECK_INT(class_of(&r, "etc/c"), 'D');
	CHECK_INT(class_of(&r, "etc"), 0);     /* only holds changes */
	CHECK_INT(class_of(&r, "d2"), 'A');
	CHECK_INT(class_of(&r, "d2/f"), 'A');  /* shows through the redirect */
	CHECK_INT(class_of(&r, "d2/sub/g"), 'A');
	CHECK_INT(class_of(&r, "d1"), 'D');
	CHECK_INT(class_of(&r, "d1/sub/g"), 'D');
	CHECK_INT(class_of(&r, "file"), 'm');  /* metacopy: content from the lower, not the zeros */
	CHECK_INT(class_of(&r, "opq"), 'O');
	CHECK_INT(class_of(&r, "opq/old"), 'D');
	CHECK_INT(class_of(&r, "opq/fresh"), 'A');
	CHECK_INT(class_of(&r, "opq/abs"), 'A');
	CHECK_INT(class_of(&r, "opq/abs/f"), 'A');
	CHECK_INT(class_of(&r, "opq/abs/sub/g"), 'A');
	CHECK_INT(r.totals['D'].count, 6);
	CHECK(diff_result_differs(&r));
	CHECK_INT(r.hashed_files, 2);          /* etc/a and etc/b only: sizes equal the base's */
	/* sorted by path */
	for (size_t i = 1; i < r.n; i++)
		CHECK(diff_path_cmp(diff_change_path(&r, &r.v[i - 1]), r.v[i - 1].path_len, diff_change_path(&r, &r.v[i]),
				    r.v[i].path_len) <= 0);
	diff_result_done(&r);
	close(ufd);
}

TEST(vacuum_removes_redundant_and_emptied_dirs)
{
	setup();
	mk("up2");
	mk("up2/d1");
	mk("up2/d1/sub");
	put("up2/d1/sub/g", "gggg", 0644); /* redundant */
	put("up2/d1/f", "ffff", 0600);     /* mode differs: kept */
	mk("up2/etc");
	put("up2/etc/b", "bbbb", 0644);    /* redundant, and etc then empty */
	int ufd = open_dir("up2");
	struct diff_result r;
	struct diff_vacuum_stats st;
	CHECK_INT(diff_classify(ufd, base, NULL, &r, NULL), 0);
	CHECK_INT(diff_vacuum(ufd, &r, true, NULL, NULL, &st, NULL), 0);
	CHECK_INT(st.files, 2);
	CHECK_INT(st.dirs, 2); /* d1/sub and etc */
	CHECK(faccessat(ufd, "etc/b", F_OK, 0) == 0); /* dry run */
	CHECK_INT(diff_vacuum(ufd, &r, false, NULL, NULL, &st, NULL), 0);
	CHECK_INT(st.files, 2);
	CHECK_INT(st.dirs, 2);
	CHECK(faccessat(ufd, "etc", F_OK, AT_SYMLINK_NOFOLLOW) < 0);
	CHECK(faccessat(ufd, "d1/sub", F_OK, AT_SYMLINK_NOFOLLOW) < 0);
	CHECK(faccessat(ufd, "d1/f", F_OK, AT_SYMLINK_NOFOLLOW) == 0);
	diff_result_done(&r);
	CHECK_INT(diff_classify(ufd, base, NULL, &r, NULL), 0);
	CHECK_INT(r.totals['='].count, 0);
	CHECK_INT(class_of(&r, "d1/f"), 'm');
	diff_result_done(&r);
	close(ufd);
}

TEST(hash_cache_roundtrip_racy_and_corrupt)
{
	setup();
	mk("cache");
	put("cache/f", "content", 0644);
	int cfd = open_dir("cache");
	struct stat st;
	CHECK(fstatat(cfd, "f", &st, 0) == 0);
	uint8_t h[DIFF_HASH_SIZE] = { 1, 2, 3 }, out[DIFF_HASH_SIZE], outx[DIFF_HASH_SIZE];
	struct diff_hash_cache *c;
	const char *status;

	/* just written: racy, so not stored */
	CHECK_INT(diff_cache_load(cfd, "hc", st.st_dev, &c, &status), 0);
	CHECK_STREQ(status, "missing");
	CHECK_INT(diff_cache_remember(c, &st, h, h), 0);
	CHECK_INT(diff_cache_save(c, cfd, "hc"), 0);
	size_t stored;
	diff_cache_stats(c, NULL, NULL, &stored);
	CHECK_INT(stored, 0);
	diff_cache_free(c);

	/* an old ctime is settled: stored, then found */
	struct stat old = st;
	old.st_ctim.tv_sec -= 100;
	CHECK_INT(diff_cache_load(cfd, "hc", st.st_dev, &c, &status), 0);
	CHECK_INT(diff_cache_remember(c, &old, h, h), 0);
	CHECK_INT(diff_cache_save(c, cfd, "hc"), 0);
	diff_cache_free(c);
	CHECK_INT(diff_cache_load(cfd, "hc", st.st_dev, &c, &status), 0);
	CHECK_STREQ(status, "loaded");
	CHECK(diff_cache_lookup(c, &old, out, outx));
	CHECK(memcmp(out, h, sizeof(h)) == 0);
	CHECK(memcmp(outx, h, sizeof(h)) == 0);
	struct stat changed = old;
	changed.st_size++;
	CHECK(!diff_cache_lookup(c, &changed, out, outx));
	changed = old;
	changed.st_ctim.tv_nsec ^= 1;
	CHECK(!diff_cache_lookup(c, &changed, out, outx));
	diff_cache_free(c);

	/* another file system: not trusted */
	CHECK_INT(diff_cache_load(cfd, "hc", st.st_dev + 1, &c, &status), 0);
	CHECK_STREQ(status, "stale");
	CHECK(!diff_cache_lookup(c, &old, out, outx));
	diff_cache_free(c);

	/* one flipped byte: corrupt, ignored */
	int fd = openat(cfd, "hc", O_RDWR);
	char byte;
	CHECK(pread(fd, &byte, 1, 60) == 1);
	byte ^= 1;
	CHECK(pwrite(fd, &byte, 1, 60) == 1);
	close(fd);
	CHECK_INT(diff_cache_load(cfd, "hc", st.st_dev, &c, &status), 0);
	CHECK_STREQ(status, "corrupt");
	CHECK(!diff_cache_lookup(c, &old, out, outx));
	diff_cache_free(c);
	close(cfd);
}

/* Flip nothing but field bytes of a saved hash cache, then give it a valid checksum again (the layout of diff/cache.c). */
static void patch_and_reseal(int dirfd, const char *name, size_t off, const void *bytes, size_t n)
{
	int fd = openat(dirfd, name, O_RDWR);
	struct stat st;
	CHECK(fd >= 0 && fstat(fd, &st) == 0);
	char *buf = malloc((size_t)st.st_size);
	CHECK(pread(fd, buf, (size_t)st.st_size, 0) == st.st_size);
	memcpy(buf + off, bytes, n);
	/* the checksum (header bytes 48..63) is XXH3-128 of the file with those bytes zeroed */
	memset(buf + 48, 0, 16);
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits(buf, (size_t)st.st_size));
	memcpy(buf + 48, c.digest, 16);
	CHECK(pwrite(fd, buf, (size_t)st.st_size, 0) == st.st_size);
	free(buf);
	close(fd);
}

TEST(dir_cache_roundtrip_racy_and_checked)
{
	setup();
	mk("dcache");
	int cfd = open_dir("dcache");
	struct stat st, after;
	CHECK(fstat(cfd, &st) == 0);
	uint8_t x[DIFF_HASH_SIZE] = { 7, 8, 9 }, outx[DIFF_HASH_SIZE];
	static const char names[] = "a\0bb\0";
	const char *got;
	size_t len, n, stored;
	struct diff_hash_cache *c;
	const char *status;

	/* a dir changed just now: racy, not stored */
	CHECK_INT(diff_cache_load(cfd, "hc", st.st_dev, &c, &status), 0);
	CHECK_INT(diff_cache_remember_dir(c, &st, x, names, sizeof(names) - 1, 2), 0);
	CHECK_INT(diff_cache_save(c, cfd, "hc"), 0);
	diff_cache_dir_stats(c, NULL, NULL, &stored);
	CHECK_INT(stored, 0);
	diff_cache_free(c);

	/* settled: stored, then found with its names and xattr digest */
	struct stat old = st;
	old.st_ctim.tv_sec -= 100;
	old.st_mtim.tv_sec -= 100;
	CHECK_INT(diff_cache_load(cfd, "hc", st.st_dev, &c, &status), 0);
	CHECK_INT(diff_cache_remember_dir(c, &old, x, names, sizeof(names) - 1, 2), 0);
	CHECK_INT(diff_cache_save(c, cfd, "hc"), 0);
	diff_cache_free(c);
	CHECK_INT(diff_cache_load(cfd, "hc", st.st_dev, &c, &status), 0);
	CHECK_STREQ(status, "loaded");
	CHECK(diff_cache_lookup_dir(c, &old, outx, &got, &len, &n));
	CHECK_INT(len, sizeof(names) - 1);
	CHECK_INT(n, 2);
	CHECK(memcmp(got, names, sizeof(names) - 1) == 0);
	CHECK(memcmp(outx, x, sizeof(x)) == 0);
	/* any part of the key moved: a miss */
	struct stat changed = old;
	changed.st_ctim.tv_nsec ^= 1;
	CHECK(!diff_cache_lookup_dir(c, &changed, outx, &got, &len, &n));
	changed = old;
	changed.st_mtim.tv_nsec ^= 1;
	CHECK(!diff_cache_lookup_dir(c, &changed, outx, &got, &len, &n));
	changed = old;
	changed.st_ino++;
	CHECK(!diff_cache_lookup_dir(c, &changed, outx, &got, &len, &n));
	/* every entry used again and nothing new: the file is not rewritten */
	CHECK(fstatat(cfd, "hc", &st, 0) == 0);
	CHECK_INT(diff_cache_save(c, cfd, "hc"), 0);
	CHECK(fstatat(cfd, "hc", &after, 0) == 0);
	CHECK_INT(after.st_ino, st.st_ino);
	diff_cache_free(c);

	/* a name list that does not match its record, even under a valid checksum: corrupt, ignored */
	const size_t rec = 64; /* the header; no file records, one dir record */
	uint32_t three = 3;
	patch_and_reseal(cfd, "hc", rec + 44, &three, sizeof(three)); /* n_names */
	CHECK_INT(diff_cache_load(cfd, "hc", st.st_dev, &c, &status), 0);
	CHECK_STREQ(status, "corrupt");
	CHECK(!diff_cache_lookup_dir(c, &old, outx, &got, &len, &n));
	diff_cache_free(c);
	uint32_t two = 2;
	patch_and_reseal(cfd, "hc", rec + 44, &two, sizeof(two));
	CHECK_INT(diff_cache_load(cfd, "hc", st.st_dev, &c, &status), 0);
	CHECK_STREQ(status, "loaded");
	diff_cache_free(c);
	patch_and_reseal(cfd, "hc", rec + 64 + 2, "/", 1); /* "bb" -> "/b": a name with a slash */
	CHECK_INT(diff_cache_load(cfd, "hc", st.st_dev, &c, &status), 0);
	CHECK_STREQ(status, "corrupt");
	diff_cache_free(c);
	patch_and_reseal(cfd, "hc", rec + 64 + 2, "b", 1);
	uint64_t far = 1u << 20;
	patch_and_reseal(cfd, "hc", rec + 32, &far, sizeof(far)); /* names_off past the pool */
	CHECK_INT(diff_cache_load(cfd, "hc", st.st_dev, &c, &status), 0);
	CHECK_STREQ(status, "corrupt");
	diff_cache_free(c);
	/* another file system: not trusted */
	uint64_t zero = 0;
	patch_and_reseal(cfd, "hc", rec + 32, &zero, sizeof(zero));
	CHECK_INT(diff_cache_load(cfd, "hc", st.st_dev + 1, &c, &status), 0);
	CHECK_STREQ(status, "stale");
	CHECK(!diff_cache_lookup_dir(c, &old, outx, &got, &len, &n));
	diff_cache_free(c);
	close(cfd);
}

/*
 * Without the *xattrat() calls (old kernel: ENOSYS; a container's seccomp
 * profile: EPERM) the digest comes from the /proc fallback, identical.
 */
static void digest_in_child(int err, const char *file_dir, uint8_t out[DIFF_HASH_SIZE])
{
	int pfd[2];
	CHECK(pipe(pfd) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
		if (err) {
			seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), 464, 0); /* getxattrat */
			seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), 465, 0); /* listxattrat */
			if (seccomp_load(ctx) < 0)
				_exit(2);
		}
		struct diff_hasher *h;
		uint8_t d[DIFF_HASH_SIZE];
		int fd = open(file_dir, O_RDONLY | O_DIRECTORY);
		if (diff_hasher_new(&h) < 0 || diff_xattr_digest(h, fd, "f", d, NULL) < 0)
			_exit(1);
		_exit(write(pfd[1], d, sizeof(d)) == (ssize_t)sizeof(d) ? 0 : 1);
	}
	close(pfd[1]);
	CHECK(read(pfd[0], out, DIFF_HASH_SIZE) == DIFF_HASH_SIZE);
	close(pfd[0]);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(xattr_digest_without_xattrat_syscalls)
{
	setup();
	mk("nox");
	put("nox/f", "x", 0644);
	xattr("nox/f", "user.a", "1");
	xattr("nox/f", "user.b", "2");
	char p[512];
	snprintf(p, sizeof(p), "%s/nox", dir);
	uint8_t normal[DIFF_HASH_SIZE], nosys[DIFF_HASH_SIZE], eperm[DIFF_HASH_SIZE];
	digest_in_child(0, p, normal);
	digest_in_child(ENOSYS, p, nosys);
	digest_in_child(EPERM, p, eperm);
	CHECK(!diff_hash_is_zero(normal));
	CHECK(memcmp(normal, nosys, DIFF_HASH_SIZE) == 0);
	CHECK(memcmp(normal, eperm, DIFF_HASH_SIZE) == 0);
}

TEST(cleanup)
{
	char cmd[256];
	diff_manifest_free(base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

TEST_MAIN()
