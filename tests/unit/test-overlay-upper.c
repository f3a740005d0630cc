/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Decoding upper dir entries: whiteouts, xattr whiteouts, opaque, redirect, metacopy. */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "overlay/overlay.h"
#include "tests/unit/test.h"

static char tmpl[] = "/tmp/test-overlay-upper.XXXXXX";
static char *dir;
static int dfd = -1;

static void setup(void)
{
	if (dir)
		return;
	dir = mkdtemp(tmpl);
	CHECK(dir != NULL);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0);
}

static int read_entry(const char *name, struct ov_entry_info *info)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return ov_read_entry(dfd, name, &st, info);
}

static void set(const char *name, const char *key, const char *value)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	CHECK(lsetxattr(p, key, value, strlen(value), 0) == 0);
}

TEST(private_names)
{
	CHECK(ov_xattr_is_private("trusted.overlay.opaque"));
	CHECK(ov_xattr_is_private("user.overlay.redirect"));
	CHECK(!ov_xattr_is_private("user.overlay"));
	CHECK(!ov_xattr_is_private("security.capability"));
	CHECK(!ov_xattr_is_private("trusted.overlayx"));
}

TEST(chardev_whiteout)
{
	struct ov_entry_info info;
	setup();
	if (mknodat(dfd, "wh", S_IFCHR | 0600, makedev(0, 0)) < 0) {
		CHECK(errno == EPERM); /* not root: nothing to test */
		return;
	}
	CHECK_INT(read_entry("wh", &info), 0);
	CHECK_INT(info.kind, OV_ENTRY_WHITEOUT);
	ov_entry_info_done(&info);
}

/* Kernel 6.18 hides a zero-size file with overlay.whiteout whatever its parent's mark. */
TEST(xattr_whiteout_with_or_without_marked_parent)
{
	struct ov_entry_info info;
	setup();
	close(openat(dfd, "xwh", O_CREAT | O_WRONLY, 0644));
	set("xwh", "user.overlay.whiteout", "");
	CHECK_INT(read_entry("xwh", &info), 0);
	CHECK_INT(info.kind, OV_ENTRY_WHITEOUT);
	ov_entry_info_done(&info);
	/* not zero-size: an ordinary file that happens to carry the xattr */
	int fd = openat(dfd, "xwh", O_WRONLY | O_APPEND);
	CHECK(write(fd, "x", 1) == 1);
	close(fd);
	CHECK_INT(read_entry("xwh", &info), 0);
	CHECK_INT(info.kind, OV_ENTRY_PLAIN);
	ov_entry_info_done(&info);
}

TEST(opaque_y_and_x)
{
	struct ov_entry_info info;
	setup();
	CHECK(mkdirat(dfd, "opq", 0755) == 0);
	CHECK(mkdirat(dfd, "xdir", 0755) == 0);
	set("opq", "user.overlay.opaque", "y");
	set("xdir", "user.overlay.opaque", "x");
	CHECK_INT(read_entry("opq", &info), 0);
	CHECK(info.opaque && !info.xwhiteouts);
	ov_entry_info_done(&info);
	CHECK_INT(read_entry("xdir", &info), 0);
	CHECK(!info.opaque && info.xwhiteouts);
	ov_entry_info_done(&info);
	if (lsetxattr(dir, "trusted.overlay.opaque", "y", 1, 0) == 0) { /* root: the trusted namespace too */
		CHECK(mkdirat(dfd, "topq", 0755) == 0);
		set("topq", "trusted.overlay.opaque", "y");
		CHECK_INT(read_entry("topq", &info), 0);
		CHECK(info.opaque);
		ov_entry_info_done(&info);
	}
}

TEST(redirect_metacopy_origin)
{
	struct ov_entry_info info;
	setup();
	CHECK(mkdirat(dfd, "moved", 0755) == 0);
	set("moved", "user.overlay.redirect", "/old/place");
	close(openat(dfd, "meta", O_CREAT | O_WRONLY, 0644));
	set("meta", "user.overlay.metacopy", "");
	set("meta", "user.overlay.origin", "handle");
	CHECK_INT(read_entry("moved", &info), 0);
	CHECK_STREQ(info.redirect, "/old/place");
	CHECK(!info.metacopy);
	ov_entry_info_done(&info);
	CHECK(info.redirect == NULL);
	CHECK_INT(read_entry("meta", &info), 0);
	CHECK(info.metacopy && info.has_origin && !info.redirect);
	CHECK_INT(info.kind, OV_ENTRY_PLAIN);
	ov_entry_info_done(&info);
}

TEST(plain_entries)
{
	struct ov_entry_info info;
	setup();
	CHECK(symlinkat("x", dfd, "sym") == 0);
	CHECK_INT(read_entry("sym", &info), 0);
	CHECK_INT(info.kind, OV_ENTRY_PLAIN);
	CHECK(!info.opaque && !info.redirect && !info.metacopy);
	ov_entry_info_done(&info);
}

TEST(cleanup)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

TEST_MAIN(T(private_names), T(chardev_whiteout), T(xattr_whiteout_with_or_without_marked_parent), T(opaque_y_and_x),
	  T(redirect_metacopy_origin), T(plain_entries), T(cleanup))
