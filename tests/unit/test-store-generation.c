/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Base generations (src/store/generation.c): commit from a tree and from an upper, sweep, disk use. */
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include "tests/unit/test.h"
#include "diff/diff.h"
#include "src/store/settings.h"
#include "src/store/store.h"
#include "src/store/generation.h"

static char dir[64];
static struct store st;

static void write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		abort();
	}
	fputs(content, f);
	fclose(f);
}

static char *read_file(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* dir/rel[suffix], in one of a few rotating buffers. */
static char *P2(const char *rel, const char *suffix)
{
	static char bufs[4][1024];
	static int k;
	char *b = bufs[k++ % 4];
	snprintf(b, 1024, "%s/%s%s", dir, rel, suffix);
	return b;
}
#define P(rel) P2(rel, "")

static ino_t ino(const char *path)
{
	struct stat s;
	return lstat(path, &s) == 0 ? s.st_ino : 0;
}

/* A store with base b, generation 1: etc/{a,b,c}, var/keep, lnk -> a. */
static void setup(void)
{
	strcpy(dir, "/tmp/layerctl-unit-gen.XXXXXX");
	if (!mkdtemp(dir))
		abort();
	if (store_open(&st, dir, NULL, true) < 0)
		abort();
	mkdir_p(P("bases/b/gens/1/tree/etc"), 0755);
	mkdir_p(P("bases/b/gens/1/tree/var"), 0755);
	write_file(P("bases/b/gens/1/tree/etc/a"), "alpha\n");
	write_file(P("bases/b/gens/1/tree/etc/b"), "beta\n");
	write_file(P("bases/b/gens/1/tree/etc/c"), "gamma\n");
	write_file(P("bases/b/gens/1/tree/var/keep"), "keep\n");
	if (symlink("etc/a", P("bases/b/gens/1/tree/lnk")) < 0)
		abort();
	write_file(P("bases/b/base.conf"), "[Base]\nCurrent=1\n");
	struct lc_err e = { "" };
	if (diff_manifest_build(P("bases/b/gens/1/tree"), P("bases/b/gens/1/manifest"), &e) < 0)
		abort();
}

static void teardown(void)
{
	store_close(&st);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "  could not remove %s\n", dir);
}

static const char *conf_get(const char *key)
{
	static char v[64];
	struct settings *c = NULL;
	int fd = open(P("bases/b"), O_RDONLY | O_DIRECTORY);
	v[0] = '\0';
	if (settings_load(fd, "base.conf", &c, NULL) == 0) {
		const char *x = settings_get(c, "Base", key);
		snprintf(v, sizeof(v), "%s", x ? x : "");
		settings_free(c);
	}
	close(fd);
	return v;
}

TEST(commit_from_tree_links_unchanged_files)
{
	setup();
	char src[128];
	snprintf(src, sizeof(src), "%s/src", dir);
	mkdir_p(P("src/etc"), 0755);
	mkdir_p(P("src/var"), 0755);
	write_file(P("src/etc/a"), "alpha\n");          /* same */
	write_file(P("src/etc/b"), "BETA\n");           /* content */
	write_file(P("src/etc/c"), "gamma\n");
	chmod(P("src/etc/c"), 0600);                    /* metadata only */
	write_file(P("src/etc/new"), "new\n");          /* added; var/keep removed */
	symlink("etc/a", P("src/lnk"));

	struct gen_txn t;
	struct lc_err err = { "" };
	CHECK_INT(gen_txn_begin(&st, "b", &t, &err), 0);
	CHECK_INT(t.from, 1);
	CHECK_INT(t.to, 2);
	CHECK_INT(gen_txn_fill_from_source(&t, src, &err), 0);
	CHECK_INT(gen_txn_commit(&t, "two", "--from src", &err), 0);
	CHECK_INT(t.stats.changed, 2);
	CHECK_INT(t.stats.added, 1);
	CHECK_INT(t.stats.removed, 1);
	CHECK_INT(t.stats.linked, 2);           /* etc/a and lnk */
	gen_txn_done(&t);

	CHECK_STREQ(conf_get("Current"), "2");
	CHECK_STREQ(conf_get("Latest"), "2");
	CHECK_STREQ(conf_get("Previous"), "1");
	CHECK(ino(P("bases/b/gens/2/tree/etc/a")) == ino(P("bases/b/gens/1/tree/etc/a")));
	CHECK(ino(P("bases/b/gens/2/tree/etc/b")) != ino(P("bases/b/gens/1/tree/etc/b")));
	CHECK(ino(P("bases/b/gens/2/tree/etc/c")) != ino(P("bases/b/gens/1/tree/etc/c")));
	struct stat s;
	CHECK(stat(P("bases/b/gens/1/tree/etc/c"), &s) == 0 && (s.st_mode & 07777) == 0644);
	CHECK(access(P("bases/b/gens/2/tree/var/keep"), F_OK) < 0);
	/* nothing but the generations is left in gens/ */
	CHECK(access(P("bases/b/gens/2/manifest"), F_OK) == 0);
	CHECK(access(P("bases/b/gens/2/gen.conf"), F_OK) == 0);

	struct gen_record rec;
	CHECK_INT(gen_record_load(&st, "b", 2, &rec, NULL), 0);
	CHECK_INT(rec.parent, 1);
	CHECK_STREQ(rec.description, "two");
	CHECK_INT(rec.changed, 2);
	gen_record_done(&rec);
	CHECK_INT(gen_record_load(&st, "b", 1, &rec, NULL), 0);
	CHECK_INT(rec.parent, 0);
	CHECK(rec.changed == UINT64_MAX);
	gen_record_done(&rec);

	/* the manifest of generation 2 matches its tree (inherited entries included) */
	struct diff_manifest *stored = NULL, *now = NULL;
	struct lc_err e = { "" };
	CHECK_INT(diff_manifest_open(P("bases/b/gens/2/manifest"), &stored, &e), 0);
	int fd = open(P("bases/b/gens/2/tree"), O_RDONLY | O_DIRECTORY);
	CHECK_INT(diff_manifest_scan(fd, &now, &e), 0);
	close(fd);
	size_t diffs = 0;
	for (size_t i = 0; stored && now && i < diff_manifest_count(stored); i++) {
		struct diff_entry x, y;
		diff_manifest_get(stored, i, &x);
		if (i >= diff_manifest_count(now)) {
			diffs++;
			continue;
		}
		diff_manifest_get(now, i, &y);
		diffs += diff_path_cmp(x.path, x.path_len, y.path, y.path_len) != 0 || diff_entry_changes(&x, &y, true);
	}
	CHECK_INT(diffs, 0);
	CHECK_INT(diff_manifest_count(stored), diff_manifest_count(now));
	diff_manifest_free(stored);
	diff_manifest_free(now);
	teardown();
}

TEST(commit_from_upper_applies_whiteouts_opaque_dirs_and_relinks)
{
	setup();
	struct gen_txn t;
	struct lc_err err = { "" };
	char *upper = NULL, *work = NULL, *root = NULL;
	CHECK_INT(gen_txn_begin(&st, "b", &t, &err), 0);
	CHECK_INT(gen_txn_scratch(&t, &upper, &work, &root, &err), 0);
	char p[512];
	snprintf(p, sizeof(p), "%s/etc", upper);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/etc/a", upper);
	write_file(p, "alpha\n");                             /* a copy-up that changed nothing */
	snprintf(p, sizeof(p), "%s/etc/b", upper);
	write_file(p, "changed\n");
	snprintf(p, sizeof(p), "%s/etc/c", upper);
	CHECK_INT(mknod(p, S_IFCHR | 0, makedev(0, 0)), 0);     /* whiteout */
	snprintf(p, sizeof(p), "%s/var", upper);
	mkdir(p, 0755);
	CHECK_INT(setxattr(p, "trusted.overlay.opaque", "y", 1, 0), 0);
	snprintf(p, sizeof(p), "%s/var/fresh", upper);
	write_file(p, "fresh\n");
	CHECK_INT(setxattr(p, "trusted.overlay.origin", "x", 1, 0), 0);

	CHECK_INT(gen_txn_fill_from_upper(&t, &err), 0);
	CHECK_INT(gen_txn_commit(&t, NULL, "-- test", &err), 0);
	CHECK_INT(t.stats.changed, 1);   /* etc/b */
	CHECK_INT(t.stats.added, 1);     /* var/fresh */
	CHECK_INT(t.stats.removed, 2);   /* etc/c, var/keep */
	gen_txn_done(&t);

	CHECK(ino(P("bases/b/gens/2/tree/etc/a")) == ino(P("bases/b/gens/1/tree/etc/a")));
	CHECK_STREQ(read_file(P("bases/b/gens/2/tree/etc/b")), "changed\n");
	CHECK_STREQ(read_file(P("bases/b/gens/1/tree/etc/b")), "beta\n");
	CHECK(access(P("bases/b/gens/2/tree/etc/c"), F_OK) < 0);
	CHECK(access(P("bases/b/gens/2/tree/var/keep"), F_OK) < 0);
	CHECK_STREQ(read_file(P("bases/b/gens/2/tree/var/fresh")), "fresh\n");
	CHECK(getxattr(P("bases/b/gens/2/tree/var/fresh"), "trusted.overlay.origin", NULL, 0) < 0);
	CHECK(getxattr(P("bases/b/gens/2/tree/var"), "trusted.overlay.opaque", NULL, 0) < 0);
	CHECK(ino(P("bases/b/gens/2/tree/lnk")) == ino(P("bases/b/gens/1/tree/lnk")));
	/* the scratch dirs are gone */
	CHECK(access(P("bases/b/gens/2/upper"), F_OK) < 0);
	CHECK(access(P("bases/b/gens/2/work"), F_OK) < 0);
	free(upper);
	free(work);
	free(root);
	teardown();
}

TEST(redirect_in_upper_is_refused_and_nothing_stays)
{
	setup();
	struct gen_txn t;
	struct lc_err err = { "" };
	char *upper = NULL, *work = NULL, *root = NULL;
	CHECK_INT(gen_txn_begin(&st, "b", &t, &err), 0);
	CHECK_INT(gen_txn_scratch(&t, &upper, &work, &root, &err), 0);
	char p[512];
	snprintf(p, sizeof(p), "%s/moved", upper);
	mkdir(p, 0755);
	CHECK_INT(setxattr(p, "trusted.overlay.redirect", "/etc", 4, 0), 0);
	CHECK_INT(gen_txn_fill_from_upper(&t, &err), -EXDEV);
	CHECK(strstr(err.msg, "redirect") && strstr(err.msg, "/moved"));
	gen_txn_done(&t);
	/* the build dir is gone: gens/ holds generation 1 only */
	DIR *d = opendir(P("bases/b/gens"));
	struct dirent *de;
	int n = 0;
	while (d && (de = readdir(d)))
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	if (d)
		closedir(d);
	CHECK_INT(n, 1);
	CHECK_STREQ(conf_get("Current"), "1");
	free(upper);
	free(work);
	free(root);
	teardown();
}

TEST(sweep_removes_dead_builds_and_uncommitted_generations)
{
	setup();
	mkdir_p(P("bases/b/gens/.new-7@999999999/tree"), 0755);   /* no such pid */
	char own[64];
	snprintf(own, sizeof(own), ".new-8@%d", (int)getpid());
	mkdir_p(P2("bases/b/gens/", own), 0755);                     /* alive: ours */
	mkdir_p(P("bases/b/gens/9/tree"), 0755);                  /* above Latest */
	struct base_info b;
	CHECK_INT(store_base_load(&st, "b", &b, NULL), 0);
	CHECK_INT(b.n_gens, 1);                                        /* 9 is not listed */
	base_info_done(&b);
	CHECK_INT(gen_sweep_base(&st, "b", false), 2);
	CHECK(access(P("bases/b/gens/.new-7@999999999"), F_OK) < 0);
	CHECK(access(P("bases/b/gens/9"), F_OK) < 0);
	CHECK(access(P2("bases/b/gens/", own), F_OK) == 0);
	CHECK(access(P("bases/b/gens/1/tree/etc/a"), F_OK) == 0);
	/* while a commit holds the base lock, gens/K above Latest is left alone */
	mkdir_p(P("bases/b/gens/9/tree"), 0755);
	int lock = store_lock(&st, LOCK_BASE, "b", LOCK_EX);
	CHECK(lock >= 0);
	pid_t pid = fork();
	if (pid == 0)
		_exit(gen_sweep_base(&st, "b", false));
	int status = -1;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(access(P("bases/b/gens/9"), F_OK) == 0);
	close(lock);
	teardown();
}

TEST(set_current_and_errors)
{
	setup();
	struct lc_err err = { "" };
	mkdir_p(P("bases/b/gens/2/tree"), 0755);
	write_file(P("bases/b/base.conf"), "[Base]\nCurrent=2\nLatest=2\n");
	CHECK_INT(gen_set_current(&st, "b", 1, &err), 0);
	CHECK_STREQ(conf_get("Current"), "1");
	CHECK_STREQ(conf_get("Previous"), "2");
	CHECK_STREQ(conf_get("Latest"), "2");
	CHECK_INT(gen_set_current(&st, "b", 5, &err), -ENOENT);
	CHECK(strstr(err.msg, "no generation 5"));
	mkdir_p(P("bases/b/gens/3/tree"), 0755);               /* above Latest: not a generation */
	CHECK_INT(gen_set_current(&st, "b", 3, &err), -ENOENT);
	teardown();
}

TEST(disk_held_counts_only_inodes_whose_last_link_goes)
{
	setup();
	mkdir_p(P("bases/b/gens/2/tree"), 0755);
	char big[8192];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_file(P("bases/b/gens/1/tree/shared"), big);
	CHECK_INT(link(P("bases/b/gens/1/tree/shared"), P("bases/b/gens/2/tree/shared")), 0);
	write_file(P("bases/b/gens/2/tree/own"), big);
	uint64_t one = 0, two = 0, both = 0;
	unsigned g1 = 1, g2 = 2, g12[] = { 1, 2 };
	struct lc_err err = { "" };
	CHECK_INT(gen_disk_held(&st, "b", &g1, 1, &one, &err), 0);
	CHECK_INT(gen_disk_held(&st, "b", &g2, 1, &two, &err), 0);
	CHECK_INT(gen_disk_held(&st, "b", g12, 2, &both, &err), 0);
	struct stat s;
	stat(P("bases/b/gens/1/tree/shared"), &s);
	uint64_t shared = (uint64_t)s.st_blocks * 512;
	CHECK(shared >= 8192);
	/* the shared file counts only when both generations go */
	CHECK(both == one + two + shared);
	CHECK(two >= 8192);
	teardown();
}

TEST(manifest_builder_sorts_and_refuses_duplicates)
{
	struct diff_manifest *m = NULL;
	struct lc_err e = { "" };
	struct diff_entry root = { .path = "", .target = "", .mode = S_IFDIR | 0755 };
	struct diff_entry b = { .path = "b", .path_len = 1, .target = "", .mode = S_IFREG | 0644, .size = 3 };
	struct diff_entry a = { .path = "a", .path_len = 1, .target = "t", .target_len = 1, .mode = S_IFLNK | 0777 };
	CHECK_INT(diff_manifest_new(&m), 0);
	CHECK_INT(diff_manifest_add(m, &b), 0);
	CHECK_INT(diff_manifest_add(m, &a), 0);
	CHECK_INT(diff_manifest_seal(m, &e), -EBADMSG);       /* no root entry */
	CHECK_INT(diff_manifest_add(m, &root), 0);
	CHECK_INT(diff_manifest_seal(m, &e), 0);
	CHECK_INT(diff_manifest_count(m), 3);
	struct diff_entry x;
	diff_manifest_get(m, 1, &x);
	CHECK_STREQ(x.path, "a");
	CHECK_STREQ(x.target, "t");
	CHECK_INT(diff_manifest_find(m, "b", 1), 2);
	CHECK_INT(diff_manifest_add(m, &a), 0);
	CHECK_INT(diff_manifest_seal(m, &e), -EEXIST);
	CHECK(strstr(e.msg, "/a"));
	diff_manifest_free(m);
}

TEST(crash_point_is_inert_without_the_variable)
{
	unsetenv("LAYERCTL_TEST_CRASH_AT");
	gen_crash_point(1);
	setenv("LAYERCTL_TEST_CRASH_AT", "gen-commit:3", 1);
	gen_crash_point(2);
	unsetenv("LAYERCTL_TEST_CRASH_AT");
	CHECK(1);
}

TEST_MAIN()
