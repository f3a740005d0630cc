/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Name validation, atomic writes and tree removal (src/store/store.c,
 * src/basic/fsutil.c); the store API without the CLI: base import and
 * removal, child create, reset and remove, and their error details.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "tests/unit/test.h"
#include "src/store/store.h"
#include "src/store/import.h"
#include "src/basic/fileio.h"

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

/* ---- the store API ---- */

struct fixture {
	char *dir;          /* scratch: src/, store/, run/ */
	char src[256];
	struct store s;
};

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

static void fixture_init(struct fixture *f)
{
	char root[300], run[300];
	memset(f, 0, sizeof(*f));
	f->dir = scratch_dir();
	snprintf(f->src, sizeof(f->src), "%s/src", f->dir);
	snprintf(root, sizeof(root), "%s/store", f->dir);
	snprintf(run, sizeof(run), "%s/run", f->dir);
	char etc[300], file[320];
	snprintf(etc, sizeof(etc), "%s/etc", f->src);
	CHECK_INT(mkdir_p(etc, 0755), 0);
	snprintf(file, sizeof(file), "%s/hostname", etc);
	write_file(file, "base\n");
	CHECK_INT(store_open(&f->s, root, run, true), 0);
}

static void fixture_done(struct fixture *f)
{
	store_close(&f->s);
	CHECK_INT(rm_rf_at(AT_FDCWD, f->dir), 0);
	free(f->dir);
}

static void import_base(struct fixture *f, const char *name)
{
	struct import_stats st;
	struct lc_err e = { "" };
	int r = store_base_import(&f->s, name, f->src, "test base", NULL, &st, &e);
	if (r < 0)
		fprintf(stderr, "  import: %s\n", lc_err_msg(&e, r));
	CHECK_INT(r, 0);
	CHECK(st.entries >= 3); /* ., etc, etc/hostname */
}

/* Entries in children/NAME/upper (0: empty). */
static int count_upper(struct fixture *f, const char *child)
{
	char rel[128];
	snprintf(rel, sizeof(rel), "children/%s/upper", child);
	int fd = openat(f->s.root_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)))
		n += !STREQ(de->d_name, ".") && !STREQ(de->d_name, "..");
	closedir(d);
	return n;
}

TEST(store_base_import_and_child_lifecycle)
{
	struct fixture f;
	struct lc_err e = { "" };
	unsigned gen = 0;
	fixture_init(&f);
	import_base(&f, "bb");

	CHECK_INT(store_child_create(&f.s, "c", "bb", "first", &gen, &e), 0);
	CHECK_INT(gen, 1);
	CHECK_INT(store_child_exists(&f.s, "c"), 1);
	struct child_info c;
	CHECK_INT(store_child_load(&f.s, "c", &c, &e), 0);
	CHECK_STREQ(c.base, "bb");
	CHECK_INT(c.gen, 1);
	CHECK_INT(count_upper(&f, "c"), 0);

	/* Reset throws away what the child changed. */
	CHECK(mkdirat(f.s.root_fd, "children/c/upper/etc", 0755) == 0);
	CHECK_INT(count_upper(&f, "c"), 1);
	int lock = store_lock(&f.s, LOCK_CHILD, "c", LOCK_EX);
	CHECK(lock >= 0);
	CHECK_INT(store_child_reset(&f.s, &c, NULL, &e), 0);
	CHECK_INT(count_upper(&f, "c"), 0);
	child_info_done(&c);

	/* A base with a child stays; the child goes, then the base. */
	char **kids = NULL;
	size_t nk = 0;
	CHECK_INT(store_children_of(&f.s, "bb", &kids, &nk, NULL), 0);
	CHECK_INT(nk, 1);
	CHECK_STREQ(kids[0], "c");
	strv_free(kids);
	e.msg[0] = '\0';
	CHECK_INT(store_base_remove(&f.s, "bb", &e), -EBUSY);
	CHECK_STREQ(e.msg, "in use by 1 child (c); remove them first");
	CHECK_INT(store_child_remove(&f.s, "c", &e), 0);
	close(lock);
	CHECK_INT(store_child_exists(&f.s, "c"), 0);
	CHECK_INT(store_base_remove(&f.s, "bb", &e), 0);
	CHECK(faccessat(f.s.root_fd, "bases/bb", F_OK, AT_SYMLINK_NOFOLLOW) < 0);
	fixture_done(&f);
}

static bool in_children(struct fixture *f, const char *name)
{
	char rel[300];
	snprintf(rel, sizeof(rel), "children/%s", name);
	return faccessat(f->s.root_fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

static void make_leftover(struct fixture *f, const char *name)
{
	char rel[300];
	snprintf(rel, sizeof(rel), "children/%s", name);
	CHECK(mkdirat(f->s.root_fd, rel, 0755) == 0);
	snprintf(rel, sizeof(rel), "children/%s/upper", name);
	CHECK(mkdirat(f->s.root_fd, rel, 0755) == 0);
}

/* children/ is read whole once per boot (RUNTIME/swept); after that the sweep goes by records. */
TEST(sweep_of_children_goes_by_records)
{
	struct fixture f;
	char path[400], own[64];
	fixture_init(&f);
	import_base(&f, "bb");
	snprintf(path, sizeof(path), "%s/swept", f.s.runtime);
	CHECK(access(path, F_OK) == 0);   /* the import swept */
	CHECK(unlink(path) == 0);          /* as after a reboot */

	/* The first sweep reads children/ whole: a dead owner's leftover goes, and the stamp is made. */
	make_leftover(&f, ".new-a@999999999");
	CHECK_INT(store_sweep(&f.s), 1);
	CHECK(!in_children(&f, ".new-a@999999999"));
	CHECK(access(path, F_OK) == 0);

	/* Then only what was recorded: an unrecorded leftover stays, a recorded one goes with its record. */
	make_leftover(&f, ".new-b@999999999");
	make_leftover(&f, ".trash-c@999999999.1f");
	CHECK_INT(store_inflight_begin(&f.s, ".trash-c@999999999.1f"), 0);
	CHECK_INT(store_sweep(&f.s), 1);
	CHECK(in_children(&f, ".new-b@999999999"));
	CHECK(!in_children(&f, ".trash-c@999999999.1f"));
	snprintf(path, sizeof(path), "%s/inflight/.trash-c@999999999.1f", f.s.runtime);
	CHECK(access(path, F_OK) < 0);

	/* A live owner's leftover and record stay; a record of no leftover goes; a name not a leftover's goes. */
	snprintf(own, sizeof(own), ".new-d@%d", (int)getppid());
	make_leftover(&f, own);
	CHECK_INT(store_inflight_begin(&f.s, own), 0);
	CHECK_INT(store_inflight_begin(&f.s, ".new-e@999999999"), 0);
	CHECK_INT(store_inflight_begin(&f.s, "junk"), 0);
	CHECK_INT(store_sweep(&f.s), 0);
	CHECK(in_children(&f, own));
	snprintf(path, sizeof(path), "%s/inflight/%s", f.s.runtime, own);
	CHECK(access(path, F_OK) == 0);
	snprintf(path, sizeof(path), "%s/inflight/.new-e@999999999", f.s.runtime);
	CHECK(access(path, F_OK) < 0);
	snprintf(path, sizeof(path), "%s/inflight/junk", f.s.runtime);
	CHECK(access(path, F_OK) < 0);
	store_inflight_end(&f.s, own);
	snprintf(path, sizeof(path), "%s/inflight/%s", f.s.runtime, own);
	CHECK(access(path, F_OK) < 0);

	/* The runtime dir emptied (a reboot): children/ whole again. */
	snprintf(path, sizeof(path), "%s/swept", f.s.runtime);
	CHECK(unlink(path) == 0);
	CHECK_INT(store_sweep(&f.s), 1);
	CHECK(!in_children(&f, ".new-b@999999999"));
	CHECK(access(path, F_OK) == 0);

	/* A create and an rm leave no record behind. */
	struct lc_err e = { "" };
	CHECK_INT(store_child_create(&f.s, "c", "bb", NULL, NULL, &e), 0);
	CHECK_INT(store_child_remove(&f.s, "c", &e), 0);
	snprintf(path, sizeof(path), "%s/inflight", f.s.runtime);
	DIR *d = opendir(path);
	CHECK(d != NULL);
	size_t records = 0;
	for (struct dirent *de; d && (de = readdir(d));)
		records += de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."));
	if (d)
		closedir(d);
	CHECK_INT(records, 0);
	fixture_done(&f);
}

TEST(store_errors_carry_their_detail)
{
	struct fixture f;
	struct lc_err e = { "" };
	struct import_stats st;
	fixture_init(&f);
	import_base(&f, "bb");

	CHECK_INT(store_base_import(&f.s, "bb", f.src, NULL, NULL, &st, &e), -EEXIST);
	CHECK_STREQ(e.msg, "a base of that name already exists");
	CHECK_INT(store_base_import(&f.s, "x", f.s.root, NULL, NULL, &st, &e), -EINVAL);
	CHECK(strstr(e.msg, "is inside the store") != NULL);
	CHECK_INT(store_base_import(&f.s, "bad/name", f.src, NULL, NULL, &st, &e), -EINVAL);
	CHECK(strncmp(e.msg, "base name 'bad/name': ", 22) == 0);

	CHECK_INT(store_child_create(&f.s, "c", "nosuch", NULL, NULL, &e), -ENOENT);
	CHECK_STREQ(e.msg, "no base named nosuch");
	CHECK_INT(store_child_create(&f.s, "c", "bb", "two\nlines", NULL, &e), -EINVAL);
	CHECK_INT(store_child_exists(&f.s, "c"), 0);
	CHECK_INT(store_child_create(&f.s, "c", "bb", NULL, NULL, &e), 0);
	CHECK_INT(store_child_create(&f.s, "c", "bb", NULL, NULL, &e), -EEXIST);
	CHECK_STREQ(e.msg, "a child of that name already exists");

	/* A broken child.conf: its line in the detail, and a base remove that cannot know refuses. */
	int cfd = openat(f.s.root_fd, "children/c", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK_INT(lc_write_atomic(cfd, "child.conf", "[Child\n", 7, 0644, true), 0);
	close(cfd);
	struct child_info c;
	CHECK_INT(store_child_load(&f.s, "c", &c, &e), -EBADMSG);
	CHECK_STREQ(e.msg, "child.conf:1: malformed section header");
	CHECK_INT(store_child_exists(&f.s, "c"), 1);
	bool corrupt = false;
	char **kids = NULL;
	size_t nk = 0;
	CHECK_INT(store_children_of(&f.s, "bb", &kids, &nk, &corrupt), 0);
	CHECK(corrupt);
	CHECK_INT(nk, 0);
	strv_free(kids);
	CHECK_INT(store_base_remove(&f.s, "bb", &e), -EBADMSG);
	CHECK(strstr(e.msg, "unknown whether a child uses this base") != NULL);
	CHECK_INT(store_base_remove(&f.s, "nosuch", &e), -ENOENT);
	CHECK_STREQ(e.msg, "no such base");
	fixture_done(&f);
}

struct warnings {
	int n;
	char last[256];
};

static void collect_warning(void *userdata, const char *msg)
{
	struct warnings *w = userdata;
	w->n++;
	snprintf(w->last, sizeof(w->last), "%s", msg);
}

/* Import warnings reach the callback the caller installed (the library never prints). */
TEST(store_import_warns_through_callback)
{
	struct fixture f;
	struct warnings w = {};
	struct import_stats st;
	struct lc_err e = { "" };
	fixture_init(&f);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.90s/sock", f.src);
	int sfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(sfd >= 0 && bind(sfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	f.s.warn = (struct lc_warn){ collect_warning, &w };
	CHECK_INT(store_base_import(&f.s, "bb", f.src, NULL, NULL, &st, &e), 0);
	CHECK_INT(w.n, 1);
	CHECK(strncmp(w.last, "sock: socket skipped", 20) == 0);
	close(sfd);
	fixture_done(&f);
}

TEST_MAIN()
