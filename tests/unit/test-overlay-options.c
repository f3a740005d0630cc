/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* overlay/options.c: escaping of option values and full option strings. */
#include "tests/unit/test.h"
#include "overlay/overlay.h"

static void check_escape(const char *in, const char *want)
{
	char *out = NULL, *back = NULL;
	CHECK_INT(ov_escape_path(in, &out), 0);
	CHECK_STREQ(out, want);
	CHECK_INT(ov_unescape_path(out, &back), 0);
	CHECK_STREQ(back, in);
	free(out);
	free(back);
}

TEST(escape)
{
	check_escape("/plain/path", "/plain/path");
	check_escape("/a b", "/a b");
	check_escape("/a,b", "/a\\,b");
	check_escape("/a:b", "/a\\:b");
	check_escape("/a\\b", "/a\\\\b");
	check_escape("/t\tab/#/\xc3\xa9", "/t\tab/#/\xc3\xa9");
	check_escape("/a b,c:d\\", "/a b\\,c\\:d\\\\");
	char *out = NULL;
	CHECK_INT(ov_escape_path("/new\nline", &out), -EINVAL);
	CHECK_INT(ov_escape_path("", &out), -EINVAL);
	CHECK_INT(ov_unescape_path("dangling\\", &out), -EINVAL);
}

TEST(options_child)
{
	const char *lowers[] = { "/s/bases/b/gens/1/tree" };
	struct ov_layers l = { lowers, 1, "/s/children/c/upper", "/s/children/c/work", false };
	char *o = NULL;
	CHECK_INT(ov_build_options(&l, &o, NULL), 0);
	CHECK_STREQ(o, "lowerdir=/s/bases/b/gens/1/tree,upperdir=/s/children/c/upper,workdir=/s/children/c/work,"
		       "index=off,metacopy=off,redirect_dir=off");
	free(o);
}

TEST(options_volatile_scratch)
{
	const char *lowers[] = { "/l" };
	struct ov_layers l = { lowers, 1, "/u", "/w", true };
	char *o = NULL;
	CHECK_INT(ov_build_options(&l, &o, NULL), 0);
	CHECK_STREQ(o, "lowerdir=/l,upperdir=/u,workdir=/w,index=off,metacopy=off,redirect_dir=off,volatile");
	free(o);
}

TEST(options_escaped_and_stacked)
{
	const char *lowers[] = { "/x,y/top", "/p:q/bottom" };
	struct ov_layers l = { lowers, 2, "/u", "/w", false };
	char *o = NULL;
	CHECK_INT(ov_build_options(&l, &o, NULL), 0);
	CHECK_STREQ(o, "lowerdir=/x\\,y/top:/p\\:q/bottom,upperdir=/u,workdir=/w,index=off,metacopy=off,redirect_dir=off");
	free(o);
}

TEST(options_refused)
{
	const char *lowers[] = { "/a" };
	struct lc_err e = { "" };
	char *o = NULL;
	struct ov_layers ro1 = { lowers, 1, NULL, NULL, false };
	CHECK_INT(ov_build_options(&ro1, &o, &e), -EINVAL);
	CHECK(strstr(e.msg, "two lower"));
	struct ov_layers half = { lowers, 1, "/u", NULL, false };
	CHECK_INT(ov_build_options(&half, &o, &e), -EINVAL);
	/* longer than the kernel's one page */
	static char longpath[5000];
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	const char *lw[] = { longpath };
	struct ov_layers big = { lw, 1, "/u", "/w", false };
	CHECK_INT(ov_build_options(&big, &o, &e), -ENAMETOOLONG);
	CHECK(strstr(e.msg, "4095"));
}

TEST_MAIN()
