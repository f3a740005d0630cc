/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The refresh engine (src/store/refresh*.c) on a store built by hand, with
 * no overlay mounted: the upper dir holds what a copy-up, an edit, a
 * whiteout would have left.  Planning, applying, undoing, a type clash.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "tests/unit/test.h"
#include "diff/diff.h"
#include "src/store/store.h"
#include "src/store/refresh.h"

static char root[256];

static void put(const char *dir, const char *path, const char *content, mode_t mode)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s/%s", dir, path);
	for (char *s = strchr(p + strlen(dir) + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, 0755) == 0)
			chmod(p, 0755);
		*s = '/';
	}
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
	fchmod(fd, mode);
	close(fd);
}

static char *slurp(const char *dir, const char *path)
{
	static char buf[256];
	char p[1024];
	snprintf(p, sizeof(p), "%s/%s", dir, path);
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

static bool exists(const char *dir, const char *path)
{
	char p[1024];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, path);
	return lstat(p, &st) == 0;
}

static void make_gen(const char *files[][2], size_t n, unsigned gen)
{
	char tree[512], manifest[512];
	snprintf(tree, sizeof(tree), "%s/bases/b/gens/%u/tree", root, gen);
	snprintf(manifest, sizeof(manifest), "%s/bases/b/gens/%u/manifest", root, gen);
	CHECK_INT(mkdir_p(tree, 0755), 0);
	chmod(tree, 0755);
	for (size_t i = 0; i < n; i++)
		put(tree, files[i][0], files[i][1], 0644);
	struct lc_err e = { "" };
	CHECK_INT(diff_manifest_build(tree, manifest, &e), 0);
}

static char upper[600], child[512];

/* Generation 1 and 2 of base b, child c on 1 with an upper holding one entry per table row. */
static void setup(struct store *s)
{
	static const char *g1[][2] = { { "etc/a", "a1" }, { "etc/b", "b1" }, { "etc/c", "c1" }, { "etc/d", "d1" },
				       { "etc/w", "w1" }, { "etc/x", "x1" }, { "opt/o/one", "one" } };
	static const char *g2[][2] = { { "etc/a", "a2" }, { "etc/b", "b2" }, { "etc/c", "c2" }, { "etc/d", "d2" },
				       { "etc/x", "x2" }, { "opt/o/one", "one" }, { "opt/o/two", "two" } };
	snprintf(root, sizeof(root), "/tmp/layerctl-unit-refresh.XXXXXX");
	CHECK(mkdtemp(root) != NULL);
	char run[300];
	snprintf(run, sizeof(run), "%s/run", root);
	CHECK_INT(store_open(s, root, run, true), 0);
	make_gen(g1, sizeof(g1) / sizeof(*g1), 1);
	make_gen(g2, sizeof(g2) / sizeof(*g2), 2);
	put(root, "bases/b/base.conf", "[Base]\nCurrent=2\n", 0644);
	snprintf(child, sizeof(child), "%s/children/c", root);
	snprintf(upper, sizeof(upper), "%s/upper", child);
	CHECK_INT(mkdir_p(upper, 0755), 0);
	chmod(upper, 0755);
	put(child, "child.conf", "[Child]\nBase=b\nGeneration=1\n", 0644);
	put(upper, "etc/a", "a1", 0644);     /* S: a copy-up never changed */
	put(upper, "etc/b", "b2", 0644);     /* =: already the new content */
	put(upper, "etc/c", "mine", 0644);   /* C: changed here and in base */
	put(upper, "etc/d", "d1", 0600);     /* m: only the mode changed */
	char w[700];
	snprintf(w, sizeof(w), "%s/etc/w", upper);
	CHECK_INT(mknod(w, S_IFCHR | 0600, makedev(0, 0)), 0); /* whiteout of a file B deleted */
	put(upper, "opt/o/own", "own", 0644);
}

static void teardown(struct store *s)
{
	store_close(s);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CHECK_INT(system(cmd), 0);
}

static char class_of(const struct refresh_plan *p, const char *path)
{
	for (size_t i = 0; i < p->n; i++)
		if (STREQ(p->items[i].path, path))
			return p->items[i].cls;
	return 0;
}

static struct child_info load_child(struct store *s)
{
	struct child_info c;
	CHECK_INT(store_child_load(s, "c", &c, NULL), 0);
	return c;
}

TEST(plan_apply_undo)
{
	struct store s;
	struct refresh_delta *d = NULL;
	struct refresh_plan p;
	struct lc_err err = { "" };
	setup(&s);
	struct child_info c = load_child(&s);
	CHECK_INT(refresh_delta_load(&s, "b", 1, 2, &d, &err), 0);
	CHECK_INT(refresh_plan(&s, &c, d, REFRESH_DEFAULT, &p, &err), 0);
	CHECK_INT(class_of(&p, "etc/a"), RF_STALE);
	CHECK_INT(class_of(&p, "etc/b"), RF_CONVERGED);
	CHECK_INT(class_of(&p, "etc/c"), RF_CONFLICT);
	CHECK_INT(class_of(&p, "etc/d"), RF_MERGED);
	CHECK_INT(class_of(&p, "etc/w"), RF_WHITEOUT_DROPPED);
	CHECK_INT(class_of(&p, "etc/x"), RF_ABSENT);
	CHECK_INT(class_of(&p, "opt/o/two"), RF_ABSENT);

	CHECK_INT(refresh_apply(&s, &c, &p, &err), 0);
	CHECK(!exists(upper, "etc/a"));
	CHECK(!exists(upper, "etc/b"));
	CHECK(!exists(upper, "etc/w"));
	CHECK_STREQ(slurp(upper, "etc/c"), "mine");
	CHECK_STREQ(slurp(upper, "etc/d"), "d2");
	struct stat st;
	char dpath[700];
	snprintf(dpath, sizeof(dpath), "%s/etc/d", upper);
	CHECK(stat(dpath, &st) == 0 && (st.st_mode & 07777) == 0600);
	CHECK_STREQ(slurp(child, "refresh/2/base/etc/c"), "c2");
	char *saved = refresh_saved_path(&s, "c", 2, "etc/c");
	CHECK(saved && strstr(saved, "/children/c/refresh/2/base/etc/c"));
	free(saved);
	child_info_done(&c);
	c = load_child(&s);
	CHECK_INT(c.gen, 2);
	CHECK_INT(refresh_undo_generation(&c), 1);
	CHECK_INT(refresh_check_lower(&s, "c", "b", 2), 0);
	CHECK_INT(refresh_check_lower(&s, "c", "b", 1), -ESTALE);

	CHECK_INT(refresh_recover(&s, "c", &err), 0); /* nothing pending */
	CHECK_INT(refresh_undo(&s, "c", &err), 0);
	CHECK_STREQ(slurp(upper, "etc/a"), "a1");
	CHECK_STREQ(slurp(upper, "etc/b"), "b2");
	CHECK_STREQ(slurp(upper, "etc/d"), "d1");
	CHECK(lstat(dpath, &st) == 0 && (st.st_mode & 07777) == 0600);
	snprintf(dpath, sizeof(dpath), "%s/etc/w", upper);
	CHECK(lstat(dpath, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
	CHECK(!exists(child, "refresh/2"));
	child_info_done(&c);
	c = load_child(&s);
	CHECK_INT(c.gen, 1);
	CHECK_INT(refresh_undo_generation(&c), 0);
	CHECK_INT(refresh_undo(&s, "c", &err), -ENOENT);

	refresh_plan_done(&p);
	refresh_delta_free(d);
	child_info_done(&c);
	teardown(&s);
}

TEST(take_base_and_keep_child)
{
	struct store s;
	struct refresh_delta *d = NULL;
	struct refresh_plan p;
	struct lc_err err = { "" };
	setup(&s);
	struct child_info c = load_child(&s);
	CHECK_INT(refresh_delta_load(&s, "b", 1, 2, &d, &err), 0);
	CHECK_INT(refresh_plan(&s, &c, d, REFRESH_KEEP_CHILD, &p, &err), 0);
	for (size_t i = 0; i < p.n; i++)
		CHECK(!p.items[i].save_base);
	refresh_plan_done(&p);
	CHECK_INT(refresh_plan(&s, &c, d, REFRESH_TAKE_BASE, &p, &err), 0);
	CHECK_INT(refresh_apply(&s, &c, &p, &err), 0);
	CHECK(!exists(upper, "etc/c"));           /* the base's c2 shows */
	refresh_plan_done(&p);
	refresh_delta_free(d);
	child_info_done(&c);
	teardown(&s);
}

TEST(type_clash_refused_with_the_path)
{
	struct store s;
	struct refresh_delta *d = NULL;
	struct refresh_plan p;
	struct lc_err err = { "" };
	setup(&s);
	/* Generation 3: /opt/o became a symlink; the child has its own file in /opt/o. */
	char tree[512], manifest[512];
	snprintf(tree, sizeof(tree), "%s/bases/b/gens/3/tree", root);
	snprintf(manifest, sizeof(manifest), "%s/bases/b/gens/3/manifest", root);
	CHECK_INT(mkdir_p(tree, 0755), 0);
	chmod(tree, 0755);
	put(tree, "etc/a", "a1", 0644);
	char link[600];
	snprintf(link, sizeof(link), "%s/opt", tree);
	mkdir(link, 0755);
	chmod(link, 0755);
	snprintf(link, sizeof(link), "%s/opt/o", tree);
	CHECK_INT(symlink("../srv", link), 0);
	struct lc_err e = { "" };
	CHECK_INT(diff_manifest_build(tree, manifest, &e), 0);
	struct child_info c = load_child(&s);
	CHECK_INT(refresh_delta_load(&s, "b", 1, 3, &d, &err), 0);
	CHECK_INT(refresh_plan(&s, &c, d, REFRESH_DEFAULT, &p, &err), -ENOTRECOVERABLE);
	CHECK(strstr(err.msg, "/opt/o") && strstr(err.msg, "type clash"));
	CHECK_STREQ(slurp(upper, "opt/o/own"), "own");
	refresh_delta_free(d);
	child_info_done(&c);
	teardown(&s);
}

TEST_MAIN()
