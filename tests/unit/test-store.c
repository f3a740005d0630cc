/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Name validation, atomic writes and tree removal (src/store/store.c, src/basic/fsutil.c). */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "tests/unit/test.h"
#include "src/store/store.h"

TEST(names_accepted)
{
	const char *good[] = { "web", "a", "web-1", "web_1", "web.example.com", "A9", "x-", "1abc" };
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		CHECK_INT(name_validate(good[i], NULL), 0);
	char max[65];
	memset(max, 'a', 64);
	max[64] = '\0';
	CHECK_INT(name_validate(max, NULL), 0);
}

TEST(names_refused_with_reason)
{
	struct {
		const char *name, *why_part;
	} bad[] = {
		{ "", "empty" },
		{ ".hidden", "start" },
		{ "-x", "start" },
		{ "a b", "letters" },
		{ "a/b", "letters" },
		{ "a,b", "letters" },
		{ "a:b", "letters" },
		{ "caf\xc3\xa9", "letters" },
		{ "a\nb", "letters" },
		{ "a..b", "'..'" },
		{ "..", "start" },
		{ "x.", "end" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		const char *why = NULL;
		CHECK_INT(name_validate(bad[i].name, &why), -EINVAL);
		CHECK(why && strstr(why, bad[i].why_part));
	}
	char long_name[66];
	memset(long_name, 'a', 65);
	long_name[65] = '\0';
	const char *why = NULL;
	CHECK_INT(name_validate(long_name, &why), -EINVAL);
	CHECK(why && strstr(why, "64"));
}

static char *scratch_dir(void)
{
	char *t = strdup("/tmp/layerctl-unit.XXXXXX");
	return mkdtemp(t);
}

TEST(atomic_write_replaces_and_keeps_mode)
{
	char *dir = scratch_dir();
	CHECK(dir != NULL);
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK_INT(atomic_write_at(fd, "f", "one\n", 4, 0640), 0);
	CHECK_INT(atomic_write_at(fd, "f", "two\n", 4, 0640), 0);
	char buf[16] = "";
	int f = openat(fd, "f", O_RDONLY);
	CHECK_INT(read(f, buf, sizeof(buf)), 4);
	CHECK_STREQ(buf, "two\n");
	struct stat st;
	CHECK_INT(fstat(f, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0640);
	close(f);
	/* no temp files left behind */
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	CHECK_INT(n, 1);
	CHECK_INT(rm_rf_at(AT_FDCWD, dir), 0);
	close(fd);
	free(dir);
}

TEST(rm_rf_and_remove_atomically)
{
	char *dir = scratch_dir();
	char path[256];
	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	CHECK_INT(mkdir_p(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/a/b/c/file", dir);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	snprintf(path, sizeof(path), "%s/a/link", dir);
	CHECK_INT(symlink("/etc", path), 0); /* must be unlinked, not followed */
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK_INT(remove_atomically(fd, "a"), 0);
	CHECK(faccessat(fd, "a", F_OK, AT_SYMLINK_NOFOLLOW) < 0);
	CHECK(access("/etc/passwd", F_OK) == 0);
	CHECK_INT(remove_atomically(fd, "missing"), -ENOENT);
	close(fd);
	CHECK_INT(rm_rf_at(AT_FDCWD, dir), 0);
	free(dir);
}

TEST_MAIN()
