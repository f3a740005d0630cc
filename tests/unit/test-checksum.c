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

static void put(const char *name, const char *text)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static int open_in(const char *name)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return open(p, O_RDONLY | O_CLOEXEC);
}

TEST(setup)
{
	CHECK(mkdtemp(dir) != NULL);
}

/* The canonical XXH3-128 of "hello\n" as xxhsum -H2 prints it. */
TEST(written_line_is_xxhsums)
{
	put("f", "hello\n");
	uint8_t sum[DIFF_HASH_SIZE];
	int fd = open_in("f");
	CHECK_INT(checksum_fd(fd, sum, NULL), 0);
	char file[256];
	snprintf(file, sizeof(file), "%s/f", dir);
	CHECK_INT(checksum_write_for(file, sum, NULL), 0);
	int cfd = open_in("f.xxh128");
	char *data = NULL;
	size_t len = 0;
	CHECK_INT(lc_read_full(cfd, &data, &len), 0);
	/* xxhsum -H2's line for the same content (xxhash 0.8). */
	CHECK_STREQ(data, "6bba86c7e069f56d5a10b435f1c8e49c  f\n");
	/* What was written reads back, and the file matches it. */
	uint8_t back[DIFF_HASH_SIZE];
	snprintf(file, sizeof(file), "%s/f.xxh128", dir);
	CHECK_INT(checksum_read(file, back, NULL), 0);
	CHECK(memcmp(sum, back, DIFF_HASH_SIZE) == 0);
	CHECK_INT(checksum_check_fd(fd, "f", file, NULL), 0);
	free(data);
	close(cfd);
	close(fd);
}

TEST(mismatch_names_both_sums)
{
	put("g", "other\n");
	char file[256];
	snprintf(file, sizeof(file), "%s/f.xxh128", dir);
	struct lc_err e = { "" };
	int fd = open_in("g");
	CHECK_INT(checksum_check_fd(fd, "g", file, &e), -EBADMSG);
	CHECK(strstr(e.msg, "--verify: g has XXH3-128 ") != NULL);
	CHECK(strstr(e.msg, " says ") != NULL);
	close(fd);
}

TEST(not_a_checksum_file_is_refused)
{
	static const char *const bad[] = {
		"",                                          /* empty */
		"garbage\n",                                 /* short */
		"0123456789abcdef0123456789abcdeg  f\n",     /* not hex */
		"0123456789abcdef0123456789abcdef f\n",      /* one space: still one, the name is "f" after it */
		"0123456789abcdef0123456789abcdef  f\nx\n",  /* two lines */
		"0123456789abcdef0123456789abcdef  f",       /* no newline */
	};
	char file[256];
	snprintf(file, sizeof(file), "%s/bad.xxh128", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t out[DIFF_HASH_SIZE];
		struct lc_err e = { "" };
		put("bad.xxh128", bad[i]);
		int r = checksum_read(file, out, &e);
		if (i == 3) {
			CHECK_INT(r, 0); /* xxhsum's binary-mode line "HEX *NAME" and text-mode share the first space */
			continue;
		}
		CHECK_INT(r, -EBADMSG);
		CHECK(strstr(e.msg, "not a checksum file") != NULL);
	}
	snprintf(file, sizeof(file), "%s/none.xxh128", dir);
	uint8_t out[DIFF_HASH_SIZE];
	CHECK_INT(checksum_read(file, out, NULL), -ENOENT);
}

TEST(cleanup)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
}

TEST_MAIN()
