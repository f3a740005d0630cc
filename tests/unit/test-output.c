/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one escaper (src/output.c): names and paths for output, messages for stderr. */
#include <sys/stat.h>

#include "tests/unit/test.h"
#include "src/output.h"

static char *escaped_name(const char *s, size_t n)
{
	static char buf[256];
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	output_escaped(f, s, n);
	fclose(f);
	return buf;
}

TEST(names_escape_backslash_controls_and_bad_utf8)
{
	CHECK_STREQ(escaped_name("etc/passwd", 10), "etc/passwd");
	CHECK_STREQ(escaped_name("a\\b", 3), "a\\\\b");
	CHECK_STREQ(escaped_name("a\nb\tc\rd", 7), "a\\nb\\tc\\x0dd");
	CHECK_STREQ(escaped_name("caf\xc3\xa9", 5), "caf\xc3\xa9");
	CHECK_STREQ(escaped_name("x\xff" "y\x7f", 4), "x\\xffy\\x7f");
	CHECK_STREQ(escaped_name("\xc3", 1), "\\xc3"); /* a cut UTF-8 sequence */
}

TEST(messages_stay_on_one_line)
{
	char out[64];
	escape_message(out, sizeof(out), "name 'a\nb'\r\x01 \\ \xff");
	CHECK_STREQ(out, "name 'a\\nb'\\r\\x01 \\ \xff");
	/* Truncated on a character boundary, never mid-escape. */
	char small[8];
	escape_message(small, sizeof(small), "\n\n\n\n");
	CHECK_STREQ(small, "\\n\\n");
}

TEST(json_paths_carry_exact_bytes)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct json j;
	json_init(&j, f);
	json_begin_object(&j);
	json_kv_path(&j, "path", "a\xff", 2);
	json_end_object(&j);
	json_done(&j);
	fclose(f);
	CHECK(strstr(text, "\"path_hex\": \"2f61ff\"") != NULL);
	free(text);
}

TEST(types_and_bytes)
{
	char b[32];
	CHECK_STREQ(output_type_name(S_IFLNK | 0777), "symlink");
	CHECK_INT(output_type_char(S_IFDIR | 0755), 'd');
	output_format_bytes(512, b, sizeof(b));
	CHECK_STREQ(b, "512 B");
	output_format_bytes(1536 * 1024, b, sizeof(b));
	CHECK_STREQ(b, "1.5 MiB");
}

TEST_MAIN()
