/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What diff/ does when memory or descriptors run out: fail with an errno,
 * never answer wrongly (a made-up checksum, an empty subtree, -1 as an errno).
 *
 * Failure injection lives here only: this test program defines its own
 * XXH3_createState() and malloc(), which the diff/ objects linked into it
 * call instead of xxHash's (compiled in, src/basic/xxhash.c: a weak symbol)
 * and libc's, and which fail while asked to.
 */
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "diff/diff.h"
#include "tests/unit/test.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif

static bool fail_xxh_state;

XXH3_state_t *lc_xxh3_create_state(void);   /* the real one (src/basic/xxhash.c) */

XXH3_state_t *XXH3_createState(void)
{
	if (fail_xxh_state)
		return NULL;
	return lc_xxh3_create_state();
}

#ifndef HAVE_ASAN
/* AddressSanitizer owns malloc: under it the malloc tests are skipped. */
static bool fail_malloc;
extern void *__libc_malloc(size_t size);

void *malloc(size_t size)
{
	if (fail_malloc) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_malloc(size);
}
#endif

static char tmpl[] = "/tmp/test-diff-alloc-failure.XXXXXX";
static char *dir;

static void put(const char *rel, const char *content)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
		close(fd);
	}
}

static void mk(const char *rel)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	CHECK(mkdir(p, 0755) == 0);
}

static int open_dir(const char *rel)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void setup(void)
{
	if (dir)
		return;
	dir = mkdtemp(tmpl);
	CHECK(dir != NULL);
}

TEST(manifest_write_fails_instead_of_a_bogus_checksum)
{
	setup();
	mk("t1");
	put("t1/a", "aaaa");
	int fd = open_dir("t1");
	struct diff_manifest *m = NULL, *back = NULL;
	struct lc_err e = { "" };
	char path[4096];
	snprintf(path, sizeof(path), "%s/t1.manifest", dir);
	CHECK_INT(diff_manifest_scan(fd, &m, &e), 0);
	if (!m)
		return;
	fail_xxh_state = true;
	CHECK_INT(diff_manifest_write(m, path, &e), -ENOMEM);
	fail_xxh_state = false;
	CHECK(access(path, F_OK) < 0 && errno == ENOENT); /* nothing written */
	CHECK_INT(diff_manifest_write(m, path, &e), 0);
	/* Opening checks the checksum: that too fails with ENOMEM, not "corrupt". */
	fail_xxh_state = true;
	CHECK_INT(diff_manifest_open(path, &back, &e), -ENOMEM);
	fail_xxh_state = false;
	CHECK_INT(diff_manifest_open(path, &back, &e), 0);
	diff_manifest_free(back);
	diff_manifest_free(m);
	close(fd);
}

TEST(subtree_lookup_needs_no_memory)
{
#ifdef HAVE_ASAN
	printf("  (malloc injection skipped under AddressSanitizer)\n");
#else
	setup();
	/* A directory path longer than any on-stack key buffer (> 512 bytes). */
	char rel[4096] = "t2";
	mk(rel);
	for (int level = 0; level < 3; level++) {
		size_t n = strlen(rel);
		rel[n++] = '/';
		memset(rel + n, 'a' + level, 200);
		rel[n + 200] = '\0';
		mk(rel);
	}
	char f[4200];
	snprintf(f, sizeof(f), "%s/file", rel);
	put(f, "x");
	snprintf(f, sizeof(f), "%s/file2", rel);
	put(f, "y");
	int fd = open_dir("t2");
	struct diff_manifest *m = NULL;
	CHECK_INT(diff_manifest_scan(fd, &m, NULL), 0);
	if (!m)
		return;
	/* Every entry's subtree, looked up with malloc failing, against a plain scan. */
	for (size_t i = 0; i < diff_manifest_count(m); i++) {
		struct diff_entry d, x;
		diff_manifest_get(m, i, &d);
		if (d.path_len == 0)
			continue;
		size_t want_begin = i + 1, want_end = i + 1;
		for (size_t j = i + 1; j < diff_manifest_count(m); j++) {
			diff_manifest_get(m, j, &x);
			if (x.path_len > d.path_len && memcmp(x.path, d.path, d.path_len) == 0 && x.path[d.path_len] == '/')
				want_end = j + 1;
		}
		size_t begin = 0, end = 0;
		fail_malloc = true;
		diff_manifest_subtree(m, d.path, d.path_len, &begin, &end);
		fail_malloc = false;
		CHECK_INT(begin, want_begin);
		CHECK_INT(end, want_end);
	}
	diff_manifest_free(m);
	close(fd);
#endif
}

TEST(vacuum_reports_the_real_errno_when_out_of_descriptors)
{
	setup();
	mk("base");
	put("base/same", "same");
	mk("up");
	put("up/same", "same"); /* a redundant copy at the top level */
	int bfd = open_dir("base"), ufd = open_dir("up");
	struct diff_manifest *m = NULL;
	struct diff_result r;
	struct diff_vacuum_stats st;
	struct lc_err e = { "" };
	CHECK_INT(diff_manifest_scan(bfd, &m, NULL), 0);
	if (!m)
		return;
	CHECK_INT(diff_classify(ufd, m, NULL, &r, NULL), 0);
	CHECK_INT(r.totals['='].count, 1);
	/* No descriptor number >= 3 allowed: duplicating the upper dir's fails (EINVAL from F_DUPFD). */
	struct rlimit old, low = { .rlim_cur = 3 };
	CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
	low.rlim_max = old.rlim_max;
	CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
	int k = diff_vacuum(ufd, &r, false, NULL, NULL, &st, &e);
	CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
	CHECK(k != -1); /* fcntl's -1 is not -EPERM */
	CHECK_INT(k, -EINVAL);
	CHECK(strstr(e.msg, "Operation not permitted") == NULL);
	CHECK(faccessat(ufd, "same", F_OK, 0) == 0);
	diff_result_done(&r);
	diff_manifest_free(m);
	close(ufd);
	close(bfd);
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
