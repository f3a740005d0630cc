/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* src/basic/: the error detail, warnings, file helpers. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/basic/fileio.h"
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

/* More entries than one getdents64 call returns, none lost or doubled; "." and ".." never. */
TEST(dirents_list_every_name_once)
{
	char dir[] = "/tmp/layerctl-basic.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	enum { N = 600 }; /* ~40 bytes a record: several reads of a 4 KiB buffer */
	static bool seen[N];
	for (int i = 0; i < N; i++) {
		char name[64];
		snprintf(name, sizeof(name), "entry-with-a-longish-name-%04d", i);
		CHECK(mkdirat(fd, name, 0755) == 0);
	}
	struct lc_dirents d;
	const char *name;
	int r, n = 0;
	CHECK_INT(lc_dirents_open(&d, fd, "."), 0);
	while ((r = lc_dirents_next(&d, &name)) > 0) {
		int i;
		CHECK(sscanf(name, "entry-with-a-longish-name-%04d", &i) == 1 && i >= 0 && i < N);
		CHECK(!seen[i]);
		seen[i] = true;
		n++;
	}
	CHECK_INT(r, 0);
	CHECK_INT(n, N);
	CHECK_INT(lc_dirents_next(&d, &name), 0);
	lc_dirents_close(&d);
	CHECK_INT(lc_dirents_open(&d, fd, "no-such-dir"), -ENOENT);
	for (int i = 0; i < N; i++) {
		char name2[64];
		snprintf(name2, sizeof(name2), "entry-with-a-longish-name-%04d", i);
		CHECK(unlinkat(fd, name2, AT_REMOVEDIR) == 0);
	}
	CHECK_INT(rmdir(dir), 0);
}

/* One open, no symlink followed at any component, the last one included. */
TEST(open_nofollow_refuses_a_symlink_anywhere)
{
	char dir[] = "/tmp/layerctl-basic.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(mkdirat(fd, "real", 0755) == 0);
	_cleanup_close_ int f = openat(fd, "real/file", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	CHECK(f >= 0);
	CHECK(symlinkat("real", fd, "link") == 0);
	CHECK(symlinkat("file", fd, "real/flink") == 0);
	int ok = lc_open_nofollow(fd, "real/file", O_RDONLY);
	CHECK(ok >= 0);
	close(ok);
	CHECK_INT(lc_open_nofollow(fd, "link/file", O_RDONLY), -ELOOP);
	CHECK_INT(lc_open_nofollow(fd, "real/flink", O_RDONLY), -ELOOP);
	CHECK_INT(lc_open_nofollow(fd, "real/none", O_RDONLY), -ENOENT);
	CHECK(unlinkat(fd, "real/flink", 0) == 0 && unlinkat(fd, "link", 0) == 0 && unlinkat(fd, "real/file", 0) == 0);
	CHECK(unlinkat(fd, "real", AT_REMOVEDIR) == 0);
	CHECK_INT(rmdir(dir), 0);
}

/* A size hint that is wrong either way still reads the whole file. */
TEST(read_full_sized_reads_all_whatever_the_hint)
{
	char path[] = "/tmp/layerctl-basic.XXXXXX";
	int w = mkostemp(path, O_CLOEXEC);
	CHECK(w >= 0);
	char data[10000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('a' + i % 26);
	CHECK_INT(lc_write_all(w, data, sizeof(data)), 0);
	close(w);
	const size_t hints[] = { 0, 1, 100, sizeof(data) - 1, sizeof(data), sizeof(data) + 1, 65536 };
	for (size_t k = 0; k < ELEMENTSOF(hints); k++) {
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
		_cleanup_free_ char *buf = NULL;
		size_t len = 0;
		CHECK_INT(lc_read_full_sized(fd, hints[k], &buf, &len), 0);
		CHECK(len == sizeof(data));
		CHECK(memcmp(buf, data, len) == 0 && buf[len] == '\0');
	}
	CHECK_INT(unlink(path), 0);
}

TEST_MAIN()
