/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* User-namespace mode: PrivateUsers= parsing, UID range parsing, picking and its checks. */
#include <fcntl.h>
#include <sys/stat.h>

#include "src/basic/fsutil.h"
#include "src/runner/runner.h"
#include "src/store/store.h"
#include "src/store/uidrange.h"
#include "tests/unit/test.h"

TEST(private_users_values)
{
	enum private_users m;
	uint32_t b = 0, n = 0;
	CHECK_INT(runner_private_users_parse("no", &m, &b, &n), 0);
	CHECK_INT(m, PRIVATE_USERS_NO);
	CHECK_INT(runner_private_users_parse("false", &m, &b, &n), 0);
	CHECK_INT(m, PRIVATE_USERS_NO);
	CHECK_INT(runner_private_users_parse("pick", &m, &b, &n), 0);
	CHECK_INT(m, PRIVATE_USERS_PICK);
	CHECK_INT(runner_private_users_parse("yes", &m, &b, &n), 0);
	CHECK_INT(m, PRIVATE_USERS_PICK);
	CHECK_INT(runner_private_users_parse("1879048192", &m, &b, &n), 0);
	CHECK_INT(m, PRIVATE_USERS_FIXED);
	CHECK_INT(b, 1879048192);
	CHECK_INT(n, 65536);
	CHECK_INT(runner_private_users_parse("700000:1000", &m, &b, &n), 0);
	CHECK_INT(b, 700000);
	CHECK_INT(n, 1000);
	/* "0" is a boolean (no), as in systemd; as a base 0 would map root to the host's root. */
	CHECK_INT(runner_private_users_parse("0", &m, &b, &n), 0);
	CHECK_INT(m, PRIVATE_USERS_NO);
	/* Past 2^32-1 does not exist; junk. */
	const char *bad[] = { "0:65536", "4294967295", "4294901760:65536", "1:0", "-5", "+5", "5:", "5:x",
			      "pick2", "", "5:-1", "99999999999999999999" };
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		CHECK_INT(runner_private_users_parse(bad[i], &m, &b, &n), -EINVAL);
}

TEST(private_users_key_in_child_conf)
{
	const char *text = "[Exec]\nPrivateUsers=524288:65536\n";
	struct settings *s = NULL;
	struct run_config c = { .log_fd = -1 };
	struct lc_err e = { "" };
	CHECK_INT(settings_parse(text, strlen(text), "t", &s, &e), 0);
	CHECK_INT(runner_config_from_settings(&c, s, &e), 0);
	CHECK_INT(c.private_users, PRIVATE_USERS_FIXED);
	CHECK_INT(c.uid_base, 524288);
	CHECK(runner_config_userns(&c));
	settings_free(s);
	text = "[Exec]\nPrivateUsers=sometimes\n";
	CHECK_INT(settings_parse(text, strlen(text), "t", &s, &e), 0);
	CHECK_INT(runner_config_from_settings(&c, s, &e), -EINVAL);
	CHECK(strstr(e.msg, "Exec.PrivateUsers=sometimes") != NULL);
	settings_free(s);
	runner_config_done(&c);
	/* pick without a range yet: no user namespace until the store gave one. */
	struct run_config p = { .private_users = PRIVATE_USERS_PICK };
	CHECK(!runner_config_userns(&p));
}

TEST(uid_range_parse_and_overlap)
{
	struct uid_range r;
	CHECK_INT(uid_range_parse("524288:65536", &r), 0);
	CHECK_INT(r.base, 524288);
	CHECK_INT(r.count, 65536);
	CHECK_INT(uid_range_parse("524288", &r), 0);
	CHECK_INT(r.count, 65536);
	CHECK_INT(uid_range_parse("1:0", &r), -EINVAL);
	CHECK_INT(uid_range_parse("4294967295:1", &r), -EINVAL);
	CHECK_INT(uid_range_parse("x", &r), -EINVAL);
	CHECK_INT(uid_range_parse(NULL, &r), -EINVAL);
	struct uid_range a = { 100, 10 }, b = { 109, 5 }, c = { 110, 5 }, none = { 0, 0 };
	CHECK(uid_range_overlaps(a, b));
	CHECK(uid_range_overlaps(b, a));
	CHECK(!uid_range_overlaps(a, c));
	CHECK(!uid_range_overlaps(a, none));
	CHECK(uid_range_overlaps((struct uid_range){ 0, 65536 }, (struct uid_range){ 65535, 1 }));
}

TEST(uid_range_candidates_are_aligned_inside_the_pick_range_and_stable)
{
	uint32_t first = uid_range_candidate("web", 0);
	CHECK_INT(first, uid_range_candidate("web", 0));
	bool differ = false;
	for (unsigned i = 0; i < 200; i++) {
		uint32_t v = uid_range_candidate("web", i);
		CHECK(v >= UID_RANGE_PICK_MIN);
		CHECK((uint64_t)v + UID_RANGE_SIZE <= UID_RANGE_PICK_MAX);
		CHECK_INT(v % UID_RANGE_SIZE, 0);
		differ |= i > 0 && v != first;
	}
	CHECK(differ);
	CHECK(uid_range_candidate("web", 0) != uid_range_candidate("db", 0));
}

static char *scratch_dir(void)
{
	char *t = strdup("/tmp/layerctl-unit.XXXXXX");
	return mkdtemp(t);
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char p[400];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "we");
	CHECK(f != NULL);
	fputs(text, f);
	fclose(f);
}

TEST(subid_file_overlap)
{
	char *dir = scratch_dir();
	char p[400];
	write_text(dir, "subuid", "# comment\nalice:100000:65536\nbogus line\nbob:1879048192:65536\n");
	snprintf(p, sizeof(p), "%s/subuid", dir);
	CHECK_INT(uid_range_in_subid_file(p, (struct uid_range){ 165535, 10 }), 1);
	CHECK_INT(uid_range_in_subid_file(p, (struct uid_range){ 165536, 10 }), 0);
	CHECK_INT(uid_range_in_subid_file(p, (struct uid_range){ 1879048192 + 65535, 1 }), 1);
	snprintf(p, sizeof(p), "%s/missing", dir);
	CHECK_INT(uid_range_in_subid_file(p, (struct uid_range){ 0, 10 }), 0);
	CHECK_INT(rm_rf_at(AT_FDCWD, dir), 0);
	free(dir);
}

/* A store with children a and b (no base needed: pick reads only child.conf). */
static void make_child(struct store *s, const char *name, const char *conf)
{
	char rel[128];
	snprintf(rel, sizeof(rel), "children/%s", name);
	CHECK_INT(mkdirat(s->root_fd, rel, 0755), 0);
	int fd = openat(s->root_fd, rel, O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	close(fd);
	char dir[400];
	snprintf(dir, sizeof(dir), "%s/%s", s->root, rel);
	write_text(dir, "child.conf", conf);
}

static void load_child(struct store *s, const char *name, struct child_info *ci)
{
	struct lc_err e = { "" };
	int r = store_child_load(s, name, ci, &e);
	if (r < 0)
		fprintf(stderr, "  load %s: %s\n", name, lc_err_msg(&e, r));
	CHECK_INT(r, 0);
}

TEST(pick_records_a_range_that_avoids_others_and_subids)
{
	char *dir = scratch_dir(), root[300], run[300], subid[300];
	struct store s;
	struct lc_err e = { "" };
	snprintf(root, sizeof(root), "%s/store", dir);
	snprintf(run, sizeof(run), "%s/run", dir);
	snprintf(subid, sizeof(subid), "%s/etc", dir);
	CHECK_INT(mkdir(subid, 0755), 0);
	CHECK_INT(store_open(&s, root, run, true), 0);

	/* Alone: the first candidate of its name, recorded. */
	struct child_info a = {}, a2 = {};
	struct uid_range r1, r2;
	make_child(&s, "a", "[Child]\nBase=bb\nGeneration=1\n");
	load_child(&s, "a", &a);
	CHECK_INT(store_uid_range_pick(&s, &a, subid, &r1, &e), 0);
	CHECK_INT(r1.base, uid_range_candidate("a", 0));
	CHECK_INT(r1.count, 65536);
	load_child(&s, "a", &a2);
	CHECK_STREQ(settings_get(a2.conf, "Child", "UIDRange") ? "set" : "unset", "set");
	/* Recorded: asked again, the same, even if something else now claims it. */
	char line[64];
	snprintf(line, sizeof(line), "x:%u:65536\n", r1.base);
	write_text(subid, "subgid", line);
	CHECK_INT(store_uid_range_pick(&s, &a2, subid, &r2, &e), 0);
	CHECK_INT(r2.base, r1.base);

	/* A child named like a's first candidate's claimant: b's first candidate taken by a's fixed range. */
	char conf[200];
	snprintf(conf, sizeof(conf), "[Child]\nBase=bb\nGeneration=1\n[Exec]\nPrivateUsers=%u:65536\n",
		 uid_range_candidate("b", 0));
	make_child(&s, "fixed", conf);
	struct child_info b = {};
	make_child(&s, "b", "[Child]\nBase=bb\nGeneration=1\n");
	load_child(&s, "b", &b);
	CHECK_INT(store_uid_range_pick(&s, &b, subid, &r2, &e), 0);
	CHECK(r2.base != uid_range_candidate("b", 0));
	CHECK(!uid_range_overlaps(r2, r1));

	/* /etc/subgid hands out c's first candidate: c gets another. */
	snprintf(line, sizeof(line), "y:%u:1\n", uid_range_candidate("c", 0) + 100);
	write_text(subid, "subgid", line);
	struct child_info c = {};
	make_child(&s, "c", "[Child]\nBase=bb\nGeneration=1\n");
	load_child(&s, "c", &c);
	CHECK_INT(store_uid_range_pick(&s, &c, subid, &r2, &e), 0);
	CHECK(r2.base != uid_range_candidate("c", 0));

	/* Another child's recorded range: d's first candidate written into a's conf... by a second d. */
	snprintf(conf, sizeof(conf), "[Child]\nBase=bb\nGeneration=1\nUIDRange=%u:65536\n", uid_range_candidate("d", 0));
	make_child(&s, "e", conf);
	struct child_info d = {};
	make_child(&s, "d", "[Child]\nBase=bb\nGeneration=1\n");
	load_child(&s, "d", &d);
	CHECK_INT(store_uid_range_pick(&s, &d, subid, &r2, &e), 0);
	CHECK(r2.base != uid_range_candidate("d", 0));

	child_info_done(&a);
	child_info_done(&a2);
	child_info_done(&b);
	child_info_done(&c);
	child_info_done(&d);
	store_close(&s);
	CHECK_INT(rm_rf_at(AT_FDCWD, dir), 0);
	free(dir);
}

TEST_MAIN()
