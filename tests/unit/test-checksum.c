/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* FILE.xxh128 (src/store/checksum.c): written, read back, refused when it is not one. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "src/basic/fileio.h"
#include "src/store/checksum.h"
#include "tests/unit/test.h"

static char dir[] = "/tmp/test-checksum.XXXXXX";

static char *at(const char *name)
{
	static char p[4][256];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
	return p[k];
}

static void put(const char *name, const char *text)
{
	FILE *f = fopen(at(name), "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void sum_of(const char *name, uint8_t out[DIFF_HASH_SIZE])
{
	int fd = open(at(name), O_RDONLY | O_CLOEXEC);
	CHECK_INT(checksum_fd(fd, false, out, NULL), 0);
	uint8_t mapped[DIFF_HASH_SIZE];
	CHECK_INT(checksum_fd(fd, true, mapped, NULL), 0);
	CHECK(memcmp(out, mapped, DIFF_HASH_SIZE) == 0);
	close(fd);
}

TEST(setup)
{
	CHECK(mkdtemp(dir) != NULL);
}

/* The canonical XXH3-128 of "hello\n" and "manifest\n" as xxhsum -H2 prints them (xxhash 0.8). */
TEST(written_lines_are_xxhsums)
{
	put("f", "hello\n");
	put("f.manifest", "manifest\n");
	uint8_t sum[DIFF_HASH_SIZE], msum[DIFF_HASH_SIZE];
	sum_of("f", sum);
	sum_of("f.manifest", msum);
	CHECK_INT(checksum_write_for(at("f"), sum, msum, NULL), 0);
	int cfd = open(at("f.xxh128"), O_RDONLY | O_CLOEXEC);
	char *data = NULL;
	size_t len = 0;
	CHECK_INT(lc_read_full(cfd, &data, &len), 0);
	close(cfd);
	CHECK(data && strncmp(data, "6bba86c7e069f56d5a10b435f1c8e49c  f\n", 36) == 0);
	CHECK_INT((int)len, 36 + 32 + 2 + 10 + 1);
	free(data);
	/* What was written reads back, and both files match it. */
	struct checksums back;
	CHECK_INT(checksum_read(at("f.xxh128"), &back, NULL), 0);
	CHECK(back.has_manifest);
	CHECK(memcmp(sum, back.file, DIFF_HASH_SIZE) == 0);
	CHECK(memcmp(msum, back.manifest, DIFF_HASH_SIZE) == 0);
	int fd = open(at("f"), O_RDONLY | O_CLOEXEC);
	CHECK_INT(checksum_check_fd(fd, true, "f", at("f.xxh128"), NULL), 0);
	close(fd);
	CHECK_INT(checksum_check_manifest(at("f.manifest"), at("f.xxh128"), NULL), 1);
}

TEST(mismatch_names_both_sums)
{
	put("g", "other\n");
	struct lc_err e = { "" };
	int fd = open(at("g"), O_RDONLY | O_CLOEXEC);
	CHECK_INT(checksum_check_fd(fd, false, "g", at("f.xxh128"), &e), -EBADMSG);
	CHECK(strstr(e.msg, "--verify: g has XXH3-128 ") != NULL);
	CHECK(strstr(e.msg, "f.xxh128 says 6bba86c7e069f56d5a10b435f1c8e49c") != NULL);
	close(fd);
	/* A manifest other than the one the checksums name (a stale one beside a new image). */
	put("f.manifest", "stale\n");
	CHECK_INT(checksum_check_manifest(at("f.manifest"), at("f.xxh128"), &e), -EBADMSG);
	CHECK(strstr(e.msg, "f.manifest has XXH3-128 ") != NULL);
}

TEST(one_line_has_no_manifest)
{
	uint8_t sum[DIFF_HASH_SIZE];
	sum_of("f", sum);
	CHECK_INT(checksum_write_for(at("f"), sum, NULL, NULL), 0);
	struct checksums back;
	CHECK_INT(checksum_read(at("f.xxh128"), &back, NULL), 0);
	CHECK(!back.has_manifest);
	CHECK_INT(checksum_check_manifest(at("f.manifest"), at("f.xxh128"), NULL), 0);
}

TEST(not_a_checksum_file_is_refused)
{
	static const char *const bad[] = {
		"",                                          /* empty */
		"garbage\n",                                 /* short */
		"0123456789abcdef0123456789abcdeg  f\n",     /* not hex */
		"0123456789abcdef0123456789abcdef  f\nx\n",  /* a second line that is none */
		"0123456789abcdef0123456789abcdef  f",       /* no newline */
		"0123456789abcdef0123456789abcdef  f\n0123456789abcdef0123456789abcdef  g\n0123456789abcdef0123456789abcdef  h\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct checksums out;
		struct lc_err e = { "" };
		put("bad.xxh128", bad[i]);
		CHECK_INT(checksum_read(at("bad.xxh128"), &out, &e), -EBADMSG);
		CHECK(strstr(e.msg, "not a checksum file") != NULL);
	}
	/* xxhsum's binary-mode line "HEX *NAME" is one too. */
	put("bin.xxh128", "0123456789abcdef0123456789abcdef *f\n");
	struct checksums out;
	CHECK_INT(checksum_read(at("bin.xxh128"), &out, NULL), 0);
	CHECK_INT(checksum_read(at("none.xxh128"), &out, NULL), -ENOENT);
}

TEST(cleanup)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
}

TEST_MAIN()
