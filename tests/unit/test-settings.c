/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Settings files: parsing, multi-valued keys, round trips, corrupt input. */
#include "tests/unit/test.h"
#include "src/store/settings.h"

static struct settings *parse(const char *text)
{
	struct settings *s = NULL;
	struct lc_err err = { "" };
	int r = settings_parse(text, strlen(text), "test.conf", &s, &err);
	if (r < 0)
		fprintf(stderr, "  parse failed: %s\n", err.msg[0] ? err.msg : "?");
	return s;
}

TEST(get_values)
{
	struct settings *s = parse("# comment\n[Child]\nBase = deb \nGeneration=3\n\n[Exec]\nBoot=yes\n");
	CHECK(s != NULL);
	CHECK_STREQ(settings_get(s, "Child", "Base"), "deb");
	unsigned long g = 0;
	CHECK_INT(settings_get_uint(s, "Child", "Generation", &g), 0);
	CHECK_INT(g, 3);
	CHECK_INT(settings_get_bool(s, "Exec", "Boot", false), 1);
	CHECK_INT(settings_get_bool(s, "Exec", "Missing", true), 1);
	CHECK(settings_get(s, "Exec", "Base") == NULL);
	settings_free(s);
}

/* Digits only, no sign or blank, no overflow: every other value is refused, not wrapped. */
TEST(uint_values_and_refusals)
{
	static const struct { const char *v; int r; unsigned long n; } cases[] = {
		{ "0", 0, 0 }, { "42", 0, 42 }, { "007", 0, 7 },
		{ "18446744073709551615", 0, 18446744073709551615UL },
		{ "18446744073709551616", -EINVAL, 0 }, { "99999999999999999999", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 }, { "-1", -EINVAL, 0 }, { "1x", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 }, { "1 2", -EINVAL, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct settings *s = settings_new();
		CHECK(s != NULL);
		CHECK_INT(settings_set(s, "Child", "Generation", cases[i].v), 0);
		unsigned long n = 12345;
		CHECK_INT(settings_get_uint(s, "Child", "Generation", &n), cases[i].r);
		CHECK(n == (cases[i].r == 0 ? cases[i].n : 12345UL));
		settings_free(s);
	}
	struct settings *s = settings_new();
	unsigned long n;
	CHECK_INT(settings_get_uint(s, "Child", "Generation", &n), -ENOENT);
	settings_free(s);
}

TEST(multi_values_and_reset)
{
	struct settings *s = parse("[Files]\nBind=/a\nBind=/b\nBind=\nBind=/c\nBind=/d\n");
	size_t n = 0;
	const char **v = settings_get_all(s, "Files", "Bind", &n);
	CHECK_INT(n, 2);
	CHECK_STREQ(v[0], "/c");
	CHECK_STREQ(v[1], "/d");
	CHECK(v[2] == NULL);
	free(v);
	settings_free(s);
}

TEST(set_preserves_comments_and_order)
{
	const char *text = "# keep me\n[Child]\nBase=deb\n; and me\nGeneration=1\n\n[Exec]\nBoot=no\n";
	struct settings *s = parse(text);
	CHECK_INT(settings_set(s, "Child", "Generation", "2"), 0);
	CHECK_INT(settings_set(s, "Child", "Automount", "yes"), 0);
	CHECK_INT(settings_set(s, "Network", "Private", "yes"), 0);
	char *out = settings_to_string(s);
	CHECK_STREQ(out, "# keep me\n[Child]\nBase=deb\n; and me\nGeneration=2\nAutomount=yes\n\n[Exec]\nBoot=no\n\n"
			 "[Network]\nPrivate=yes\n");
	/* and it parses back to the same */
	struct settings *again = parse(out);
	char *out2 = settings_to_string(again);
	CHECK_STREQ(out2, out);
	free(out);
	free(out2);
	settings_free(again);
	CHECK_INT(settings_set(s, "Child", "Automount", NULL), 0);
	CHECK(settings_get(s, "Child", "Automount") == NULL);
	settings_free(s);
}

TEST(corrupt_files_refused_with_line)
{
	const char *bad[] = { "Base=x\n", "[Child\nBase=x\n", "[Child]\njust words\n", "[Child]\nBa se=x\n",
			      "[Ch ild]\n", "[Child]\n=x\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct settings *s = NULL;
		struct lc_err err = { "" };
		CHECK_INT(settings_parse(bad[i], strlen(bad[i]), "c.conf", &s, &err), -EBADMSG);
		CHECK(strncmp(err.msg, "c.conf:", 7) == 0);
		CHECK(s == NULL);
	}
	struct settings *s = NULL;
	struct lc_err err = { "" };
	CHECK_INT(settings_parse("[A]\nB=c\0d\n", 9, "bin.conf", &s, &err), -EBADMSG);
	CHECK(strstr(err.msg, "NUL") != NULL);
}

TEST(values_with_odd_characters)
{
	struct settings *s = settings_new();
	CHECK_INT(settings_set(s, "Files", "Bind", "/a b,c:d\\e#f;g=h"), 0);
	CHECK_INT(settings_set(s, "Files", "Bind", "bad\nvalue"), -EINVAL);
	char *out = settings_to_string(s);
	struct settings *again = parse(out);
	CHECK_STREQ(settings_get(again, "Files", "Bind"), "/a b,c:d\\e#f;g=h");
	free(out);
	settings_free(again);
	settings_free(s);
}

TEST_MAIN()
