/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* src/basic/: the error detail, warnings, file helpers. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/basic/fsutil.h"
#include "src/basic/macro.h"
#include "src/basic/statmount.h"
#include "tests/unit/test.h"

TEST(err_ret_takes_the_value_before_formatting)
{
	struct lc_err err = { "" };
	/* The format argument's evaluation changes errno; the result must not. */
	errno = ENOENT;
	int r = lc_err_ret(&err, -errno, "step %d", (errno = EPERM, 1));
	CHECK_INT(r, -ENOENT);
	CHECK_STREQ(err.msg, "step 1");
	CHECK_INT(lc_err_ret((struct lc_err *)NULL, -EINVAL, "ignored"), -EINVAL);
}

TEST(err_wrap_adds_context)
{
	struct lc_err err = { "" };
	lc_err_wrap(&err, "outer");
	CHECK_STREQ(err.msg, "outer");
	lc_err_set(&err, "line %u: bad key", 3u);
	lc_err_wrap(&err, "child.conf");
	lc_err_wrap(&err, "child %s", "web");
	CHECK_STREQ(err.msg, "child web: child.conf: line 3: bad key");
	lc_err_wrap(NULL, "no crash");
}

static void collect(void *userdata, const char *msg)
{
	snprintf(userdata, 64, "%s", msg);
}

TEST(warnings_go_to_the_callback)
{
	char got[64] = "";
	struct lc_warn w = { collect, got };
	lc_warn(&w, "left %d behind", 2);
	CHECK_STREQ(got, "left 2 behind");
	lc_warn(NULL, "dropped");
	struct lc_warn none = { 0 };
	lc_warn(&none, "dropped");
}

TEST(remove_atomically_and_mkdir_p)
{
	char dir[] = "/tmp/layerctl-basic.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	_cleanup_free_ char *deep = NULL;
	CHECK(asprintf(&deep, "%s/a/b/c", dir) > 0);
	CHECK_INT(mkdir_p(deep, 0755), 0);
	CHECK_INT(mkdir_p(deep, 0755), 0);
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK_INT(remove_atomically(fd, "a"), 0);
	CHECK(faccessat(fd, "a", F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
	CHECK_INT(remove_atomically(fd, "a"), -ENOENT);
	CHECK_INT(rmdir(dir), 0);
}

/* A tmpfs of our own, asked about with statmount: the kernel's strings, within what it wrote. */
TEST(statmount_names_a_mount_and_only_a_mount)
{
	if (geteuid() != 0)
		return;
	char dir[] = "/tmp/test-basic-statmount.XXXXXX", sub[64];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	CHECK_INT(mkdir(sub, 0755), 0);
	struct lc_mount_info m;
	int r = lc_statmount_path(sub, true, &m);
	if (r == -EOPNOTSUPP) {   /* a kernel before 6.11: the callers ask libmount */
		rmdir(sub);
		rmdir(dir);
		return;
	}
	CHECK_INT(r, 0);   /* a plain directory is no mount root */
	CHECK_INT(mount("tmpfs", sub, "tmpfs", 0, "size=1m,mode=0711"), 0);
	CHECK_INT(lc_statmount_path(sub, true, &m), 1);
	CHECK_STREQ(m.fs_type, "tmpfs");
	CHECK_STREQ(m.mnt_point, sub);
	CHECK_STREQ(m.mnt_root, "/");
	CHECK(m.mnt_opts && strstr(m.mnt_opts, "mode=711"));
	lc_mount_info_done(&m);
	CHECK_INT(lc_statmount_path(sub, false, &m), 1);
	CHECK(m.mnt_opts == NULL);
	lc_mount_info_done(&m);
	CHECK_INT(umount(sub), 0);
	CHECK_INT(lc_statmount_path(sub, false, &m), 0);
	CHECK_INT(rmdir(sub), 0);
	CHECK_INT(lc_statmount_path(sub, false, &m), -ENOENT);
	CHECK_INT(rmdir(dir), 0);
}

TEST_MAIN()
