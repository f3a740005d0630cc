/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fstab-gen: entries, the merge into an fstab file, atomic writes, unit names. */
#include <fcntl.h>
#include "src/basic/mount-dl.h"   /* libmount, loaded on first use */
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fstab-gen/fstab-gen.h"
#include "tests/unit/test.h"

static char tmpdir[] = "/tmp/test-fstab.XXXXXX";

/* A child of a store at `store`, laid out as the real store does it. */
struct kid {
	char name[64], target[1024], lower[1024], upper[1024], work[1024];
	struct fg_child c;
};

static void make_kid(struct kid *k, const char *store, const char *name)
{
	snprintf(k->name, sizeof(k->name), "%s", name);
	snprintf(k->target, sizeof(k->target), "%s/children/%s/root", store, name);
	snprintf(k->lower, sizeof(k->lower), "%s/bases/b/gens/1/tree", store);
	snprintf(k->upper, sizeof(k->upper), "%s/children/%s/upper", store, name);
	snprintf(k->work, sizeof(k->work), "%s/children/%s/work", store, name);
	k->c = (struct fg_child){ .name = k->name, .store = store, .target = k->target, .lower = k->lower,
				  .upper = k->upper, .work = k->work };
}

static char *write_tmp(const char *name, const char *text)
{
	char *p;
	if (asprintf(&p, "%s/%s", tmpdir, name) < 0)
		abort();
	FILE *f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
	return p;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&buf, &cap, '\0', f);
	fclose(f);
	if (n < 0) {
		free(buf);
		return strdup("");
	}
	return buf;
}

/* Merge `text` with children; returns the new text (or NULL, with *r set).  No file: libmount parses the text. */
static char *merge(const char *text, const struct fg_child *c, size_t n, struct fg_report *rep, int *r)
{
	char *out = NULL;
	size_t len = 0;
	struct lc_err e = { "" };
	*r = fg_fstab_merge(text, strlen(text), "fstab", NULL, c, n, &out, &len, rep, &e);
	if (*r < 0)
		fprintf(stderr, "  merge: %s\n", e.msg);
	return out;
}

TEST(entry_options_plain)
{
	struct kid k;
	_cleanup_free_ char *o = NULL;
	make_kid(&k, "/var/lib/layerctl", "web");
	CHECK_INT(fg_entry_options(&k.c, &o, NULL), 0);
	CHECK_STREQ(o, "x-layerctl.child=web,noauto,nofail,x-systemd.automount,"
		       "x-systemd.requires-mounts-for=\"/var/lib/layerctl\","
		       "lowerdir=/var/lib/layerctl/bases/b/gens/1/tree,"
		       "upperdir=/var/lib/layerctl/children/web/upper,"
		       "workdir=/var/lib/layerctl/children/web/work,index=off,metacopy=off,redirect_dir=off");
}

/* Both quoting layers: overlay's backslashes inside, fstab's octal escapes outside. */
TEST(entry_line_two_layers)
{
	struct kid k;
	_cleanup_free_ char *line = NULL;
	make_kid(&k, "/srv/my st\tore,a:b\\c#d\xc3\xa9", "x");
	CHECK_INT(fg_entry_line(&k.c, &line, NULL), 0);
	CHECK(strstr(line, "overlay /srv/my\\040st\\011ore,a:b\\134c#d\xc3\xa9/children/x/root overlay ") == line);
	CHECK(strstr(line, "lowerdir=/srv/my\\040st\\011ore\\134,a\\134:b\\134\\134c#d\xc3\xa9/bases/b/gens/1/tree,"));
	CHECK(strstr(line, " 0 0\n"));
	CHECK(!strchr(line, ' ') || strchr(line, '\n') == line + strlen(line) - 1);

	/* libmount reads back exactly the options and mount point we meant. */
	_cleanup_free_ char *opts = NULL;
	CHECK_INT(fg_entry_options(&k.c, &opts, NULL), 0);
	_cleanup_free_ char *p = write_tmp("one", line);
	struct libmnt_table *tb = mnt_new_table();
	CHECK_INT(mnt_table_parse_fstab(tb, p), 0);
	struct libmnt_fs *fs = NULL;
	CHECK_INT(mnt_table_first_fs(tb, &fs), 0);
	if (fs) {
		CHECK_STREQ(mnt_fs_get_options(fs), opts);
		CHECK_STREQ(mnt_fs_get_target(fs), k.target);
	}
	mnt_unref_table(tb);
}

TEST(entry_refuses_what_libmount_would_mangle)
{
	struct kid k;
	_cleanup_free_ char *o = NULL;
	struct lc_err e = { "" };
	/* ",loop=..." in a path: libmount's splitter takes it for its own loop= option. */
	make_kid(&k, "/srv/a,loop=b", "x");
	CHECK_INT(fg_entry_options(&k.c, &o, &e), -EINVAL);
	CHECK(strstr(e.msg, "child x"));
	/* A '"' cannot be quoted in x-systemd.requires-mounts-for=. */
	make_kid(&k, "/srv/a\"b", "x");
	CHECK_INT(fg_entry_options(&k.c, &o, NULL), -EINVAL);
	make_kid(&k, "/srv/a\nb", "x");
	CHECK_INT(fg_entry_options(&k.c, &o, NULL), -EINVAL);
	/* A plain comma is fine. */
	make_kid(&k, "/srv/a,b", "x");
	CHECK_INT(fg_entry_options(&k.c, &o, NULL), 0);
	free(o);
	o = NULL;
	/* ",ro" mid-path is harmless: the piece libmount sees is "ro/children/...". */
	make_kid(&k, "/srv/a,ro", "x");
	CHECK_INT(fg_entry_options(&k.c, &o, NULL), 0);
}

static const char hand_written[] =
	"# /etc/fstab: static file system information.\n"
	"#\n"
	"UUID=1234-abcd   /               ext4    errors=remount-ro 0       1\n"
	"\n"
	"   # indented comment with trailing space \n"
	"/dev/sdb1\t/srv\\040data\txfs\tdefaults,nofail\t0 2\n"
	"tmpfs /tmp tmpfs    mode=1777   0 0\n";

TEST(merge_adds_and_keeps_foreign_lines)
{
	struct kid a, b;
	struct fg_report rep;
	int r;
	make_kid(&a, "/srv/st", "alpha");
	make_kid(&b, "/srv/st", "beta");
	struct fg_child c[] = { a.c, b.c };
	_cleanup_free_ char *out = merge(hand_written, c, 2, &rep, &r);
	CHECK_INT(r, 0);
	CHECK_INT(rep.n_changes, 2);
	CHECK_INT(rep.n_entries, 2);
	CHECK(out && strncmp(out, hand_written, strlen(hand_written)) == 0);
	_cleanup_free_ char *la = NULL, *lb = NULL;
	fg_entry_line(&a.c, &la, NULL);
	fg_entry_line(&b.c, &lb, NULL);
	CHECK(out && strstr(out, la) == out + strlen(hand_written));
	CHECK(out && strstr(out, lb) == out + strlen(hand_written) + strlen(la));
	fg_report_done(&rep);

	/* A second run changes nothing. */
	_cleanup_free_ char *again = merge(out, c, 2, &rep, &r);
	CHECK_INT(r, 0);
	CHECK_INT(rep.n_changes, 0);
	CHECK_STREQ(again, out);
	fg_report_done(&rep);
}

TEST(merge_updates_in_place_and_removes)
{
	struct kid a, b, old_a;
	struct fg_report rep;
	int r;
	make_kid(&a, "/srv/st", "alpha");
	make_kid(&b, "/srv/st", "beta");
	make_kid(&old_a, "/srv/old", "alpha");
	_cleanup_free_ char *la_old = NULL, *lb = NULL, *la = NULL, *text = NULL;
	fg_entry_line(&old_a.c, &la_old, NULL);
	fg_entry_line(&b.c, &lb, NULL);
	fg_entry_line(&a.c, &la, NULL);
	CHECK(asprintf(&text, "# head\n%s# middle\n%s%s# tail\n", la_old, lb, lb) > 0);

	/* alpha moved (update in place), beta is no longer wanted (removed, twice). */
	struct fg_child c[] = { a.c };
	_cleanup_free_ char *out = merge(text, c, 1, &rep, &r);
	CHECK_INT(r, 0);
	_cleanup_free_ char *expect = NULL;
	CHECK(asprintf(&expect, "# head\n%s# middle\n# tail\n", la) > 0);
	CHECK_STREQ(out, expect);
	CHECK_INT(rep.n_changes, 3);
	if (rep.n_changes == 3) {
		CHECK_INT(rep.changes[0].kind, FG_UPDATE);
		CHECK_INT(rep.changes[0].line, 2);
		CHECK_STREQ(rep.changes[0].detail, "mount point");
		CHECK_INT(rep.changes[1].kind, FG_REMOVE);
		CHECK_INT(rep.changes[1].line, 4);
		CHECK_STREQ(rep.changes[1].child, "beta");
	}
	fg_report_done(&rep);

	/* The same child twice: the second is a duplicate. */
	struct fg_child cb[] = { b.c };
	_cleanup_free_ char *out2 = merge(text, cb, 1, &rep, &r);
	CHECK_INT(r, 0);
	CHECK(out2 && strstr(out2, lb) && !strstr(strstr(out2, lb) + strlen(lb), "x-layerctl.child=beta"));
	CHECK_INT(rep.n_changes, 2);
	if (rep.n_changes == 2) {
		CHECK_INT(rep.changes[0].kind, FG_REMOVE);
		CHECK_INT(rep.changes[1].kind, FG_DUPLICATE);
		CHECK_INT(rep.changes[1].line, 5);
	}
	fg_report_done(&rep);
}

/* An owned entry differing only in spacing is the same entry: left as the admin wrote it. */
TEST(merge_keeps_equivalent_owned_line_verbatim)
{
	struct kid a;
	struct fg_report rep;
	int r;
	make_kid(&a, "/srv/st", "alpha");
	_cleanup_free_ char *opts = NULL, *text = NULL;
	fg_entry_options(&a.c, &opts, NULL);
	CHECK(asprintf(&text, "overlay\t\t%s   overlay %s\t0\t0\n", a.target, opts) > 0);
	struct fg_child c[] = { a.c };
	_cleanup_free_ char *out = merge(text, c, 1, &rep, &r);
	CHECK_INT(r, 0);
	CHECK_INT(rep.n_changes, 0);
	CHECK_STREQ(out, text);
	fg_report_done(&rep);
}

/* Another store's entries carry the marker too, but are not ours to touch. */
TEST(merge_leaves_other_stores_alone)
{
	struct kid mine, other;
	struct fg_report rep;
	make_kid(&mine, "/srv/st", "alpha");
	make_kid(&other, "/srv/stother", "alpha");
	_cleanup_free_ char *lo = NULL, *lm = NULL, *text = NULL, *out = NULL;
	fg_entry_line(&other.c, &lo, NULL);
	fg_entry_line(&mine.c, &lm, NULL);
	CHECK(asprintf(&text, "# x\n%s", lo) > 0);
	size_t len;
	struct fg_child c[] = { mine.c };
	CHECK_INT(fg_fstab_merge(text, strlen(text), "F", "/srv/st/children", c, 1, &out, &len, &rep, NULL), 0);
	CHECK_INT(rep.n_changes, 1);
	if (rep.n_changes == 1)
		CHECK_INT(rep.changes[0].kind, FG_ADD);
	_cleanup_free_ char *expect = NULL;
	CHECK(asprintf(&expect, "%s%s", text, lm) > 0);
	CHECK_STREQ(out, expect);
	fg_report_done(&rep);
}

TEST(merge_without_final_newline)
{
	struct kid a;
	struct fg_report rep;
	int r;
	make_kid(&a, "/srv/st", "alpha");
	struct fg_child c[] = { a.c };
	_cleanup_free_ char *la = NULL;
	fg_entry_line(&a.c, &la, NULL);
	static const char *inputs[] = { "/dev/a / ext4 defaults 0 1", "/dev/a / ext4 defaults 0 1\n# last",
					"# only a comment", "" };
	for (size_t i = 0; i < ELEMENTSOF(inputs); i++) {
		_cleanup_free_ char *out = merge(inputs[i], c, 1, &rep, &r), *expect = NULL;
		CHECK_INT(r, 0);
		CHECK(asprintf(&expect, "%s%s%s", inputs[i], *inputs[i] ? "\n" : "", la) > 0);
		CHECK_STREQ(out, expect);
		fg_report_done(&rep);
	}
}

TEST(merge_refuses_unparsable_line)
{
	struct fg_report rep;
	struct lc_err e = { "" };
	int r;
	static const char text[] = "/dev/a / ext4 defaults 0 1\nthis-line-is-broken\n";
	char *out = NULL;
	size_t len;
	r = fg_fstab_merge(text, strlen(text), "F", NULL, NULL, 0, &out, &len, &rep, &e);
	CHECK_INT(r, -EBADMSG);
	CHECK(strstr(e.msg, "F:2: "));
	CHECK(!out);
}

TEST(sync_writes_atomically_keeping_mode_and_owner)
{
	struct kid a;
	struct fg_report rep;
	struct lc_err e = { "" };
	struct stat before, after;
	make_kid(&a, "/srv/st", "alpha");
	struct fg_child c[] = { a.c };
	_cleanup_free_ char *p = write_tmp("fstab", hand_written);
	_cleanup_free_ char *link = NULL;
	CHECK(asprintf(&link, "%s/fstab-link", tmpdir) > 0);
	CHECK_INT(symlink("fstab", link), 0);
	CHECK_INT(chmod(p, 0640), 0);
	CHECK_INT(chown(p, 1234, 5678), 0);
	CHECK_INT(stat(p, &before), 0);

	/* --check: reports, writes nothing. */
	CHECK_INT(fg_fstab_sync(link, "/srv/st/children", c, 1, FG_SYNC_DRY_RUN, &rep, &e), 0);
	CHECK_INT(rep.n_changes, 1);
	fg_report_done(&rep);
	CHECK_INT(stat(p, &after), 0);
	CHECK(after.st_ino == before.st_ino);

	/* --write through the symlink: the target is replaced, the link stays. */
	CHECK_INT(fg_fstab_sync(link, "/srv/st/children", c, 1, 0, &rep, &e), 0);
	CHECK_INT(rep.n_changes, 1);
	fg_report_done(&rep);
	struct stat lst;
	CHECK_INT(lstat(link, &lst), 0);
	CHECK(S_ISLNK(lst.st_mode));
	CHECK_INT(stat(p, &after), 0);
	CHECK(after.st_ino != before.st_ino);
	CHECK_INT(after.st_mode & 07777, 0640);
	CHECK_INT(after.st_uid, 1234);
	CHECK_INT(after.st_gid, 5678);
	_cleanup_free_ char *text = slurp(p), *la = NULL;
	fg_entry_line(&a.c, &la, NULL);
	CHECK(text && strncmp(text, hand_written, strlen(hand_written)) == 0 && STREQ(text + strlen(hand_written), la));

	/* Nothing to do: the file is not even rewritten. */
	CHECK_INT(fg_fstab_sync(p, "/srv/st/children", c, 1, 0, &rep, &e), 0);
	CHECK_INT(rep.n_changes, 0);
	fg_report_done(&rep);
	CHECK_INT(stat(p, &before), 0);
	CHECK(after.st_ino == before.st_ino);

	/* No temp files left behind. */
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		CHECK(!strstr(de->d_name, ".layerctl-"));
	if (d)
		closedir(d);
}

TEST(sync_broken_file_is_not_touched)
{
	struct kid a;
	struct fg_report rep;
	struct lc_err e = { "" };
	struct stat before, after;
	make_kid(&a, "/srv/st", "alpha");
	struct fg_child c[] = { a.c };
	static const char text[] = "# ok\n/dev/a / ext4 defaults 0 1\n/dev/b\n";
	_cleanup_free_ char *p = write_tmp("fstab-broken", text);
	CHECK_INT(stat(p, &before), 0);
	CHECK_INT(fg_fstab_sync(p, "/srv/st/children", c, 1, 0, &rep, &e), -EBADMSG);
	CHECK(strstr(e.msg, ":3: libmount cannot parse"));
	CHECK_INT(stat(p, &after), 0);
	CHECK(after.st_ino == before.st_ino);
	_cleanup_free_ char *now = slurp(p);
	CHECK_STREQ(now, text);
}

TEST(sync_creates_missing_file)
{
	struct kid a;
	struct fg_report rep;
	struct lc_err e = { "" };
	make_kid(&a, "/srv/st", "alpha");
	struct fg_child c[] = { a.c };
	_cleanup_free_ char *p = NULL;
	CHECK(asprintf(&p, "%s/new-fstab", tmpdir) > 0);
	CHECK_INT(fg_fstab_sync(p, "/srv/st/children", c, 1, FG_SYNC_DRY_RUN, &rep, &e), 0);
	CHECK(access(p, F_OK) < 0);
	fg_report_done(&rep);
	CHECK_INT(fg_fstab_sync(p, "/srv/st/children", c, 1, 0, &rep, &e), 0);
	CHECK(rep.created);
	fg_report_done(&rep);
	struct stat st;
	CHECK_INT(stat(p, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0644);
}

/* systemd-escape --path --suffix=mount, straight from systemd. */
static char *systemd_escape(const char *path)
{
	int pfd[2];
	if (pipe(pfd) < 0)
		return NULL;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		execlp("systemd-escape", "systemd-escape", "--path", "--suffix=mount", "--", path, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	char buf[2048];
	size_t n = 0;
	ssize_t k;
	while (n < sizeof(buf) - 1 && (k = read(pfd[0], buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)k;
	close(pfd[0]);
	int status;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return NULL;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return strdup(buf);
}

TEST(unit_names_match_systemd_escape)
{
	static const char *paths[] = {
		"/", "/srv", "/var/lib/layerctl/children/web/root", "/srv/my store/x", "/srv/a,b:c\\d",
		"/srv/.hidden/x", "/srv/x/.dot", "/srv/tab\there", "/srv/h#sh%pct", "/srv/\xc3\xa9t\xc3\xa9",
		"/srv/dash-name/_u_", "//double//slash/", "/srv/a~b+c=d@e",
	};
	if (access("/usr/bin/systemd-escape", X_OK) < 0 && access("/bin/systemd-escape", X_OK) < 0) {
		fprintf(stderr, "  systemd-escape not installed\n");
		CHECK(false);
		return;
	}
	for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
		_cleanup_free_ char *ours = NULL, *theirs = systemd_escape(paths[i]);
		CHECK_INT(fg_unit_name_from_path(paths[i], "mount", &ours), 0);
		CHECK_STREQ(ours, theirs);
	}
	char *x;
	CHECK_INT(fg_unit_name_from_path("relative/path", "mount", &x), -EINVAL);
	CHECK_INT(fg_unit_name_from_path("/a/../b", "mount", &x), -EINVAL);
	char longp[400];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	CHECK_INT(fg_unit_name_from_path(longp, "mount", &x), -ENAMETOOLONG);
}

TEST(generator_writes_units)
{
	struct kid a;
	struct fg_gen_report rep;
	struct lc_err e = { "" };
	make_kid(&a, "/srv/my store%", "alpha");
	_cleanup_free_ char *dir = NULL;
	CHECK(asprintf(&dir, "%s/gen", tmpdir) > 0);
	CHECK_INT(mkdir(dir, 0755), 0);
	struct fg_child c[] = { a.c };
	CHECK_INT(fg_generate(dir, NULL, c, 1, &rep, &e), 0);
	CHECK_INT(rep.n_written, 1);
	fg_gen_report_done(&rep);
	_cleanup_free_ char *name = NULL, *path = NULL, *text = NULL, *apath = NULL, *atext = NULL, *lpath = NULL;
	_cleanup_free_ char *rpath = NULL;
	CHECK_INT(fg_unit_name_from_path(a.target, "mount", &name), 0);
	CHECK(asprintf(&path, "%s/%s", dir, name) > 0);
	text = slurp(path);
	CHECK(text && strstr(text, "\nWhere=/srv/my store%%/children/alpha/root\n"));
	CHECK(text && strstr(text, "\nRequiresMountsFor=\"/srv/my store%%\"\n"));
	CHECK(text && strstr(text, "\nOptions=lowerdir=/srv/my store%%/bases/b/gens/1/tree,"));
	/* As systemd-fstab-generator does for nofail: not ordered before local-fs.target. */
	CHECK(text && !strstr(text, "local-fs.target"));
	CHECK(asprintf(&apath, "%s/%.*s.automount", dir, (int)(strlen(name) - 6), name) > 0);
	atext = slurp(apath);
	CHECK(atext && strstr(atext, "[Automount]\nWhere=/srv/my store%%/children/alpha/root\n"));
	/* Wanted, not required, by local-fs.target: a failed automount never fails the boot. */
	CHECK(asprintf(&lpath, "%s/local-fs.target.wants/%.*s.automount", dir, (int)(strlen(name) - 6), name) > 0);
	char target[512] = "";
	CHECK(readlink(lpath, target, sizeof(target) - 1) > 0);
	CHECK(strncmp(target, "../", 3) == 0);
	CHECK(asprintf(&rpath, "%s/local-fs.target.requires", dir) > 0);
	CHECK(access(rpath, F_OK) < 0);

	/* A unit already there (from /etc/fstab) is left alone. */
	CHECK_INT(fg_generate(dir, NULL, c, 1, &rep, &e), 0);
	CHECK_INT(rep.n_written, 0);
	CHECK_INT(rep.n_skipped, 1);
	fg_gen_report_done(&rep);
}

/* A child whose mount point is in the fstab is systemd-fstab-generator's: no units from us. */
TEST(generator_skips_children_in_fstab)
{
	struct kid a, b, c3;
	struct fg_gen_report rep;
	struct lc_err e = { "" };
	make_kid(&a, "/srv/st", "alpha");
	make_kid(&b, "/srv/st", "beta");
	make_kid(&c3, "/srv/st", "gamma");
	_cleanup_free_ char *la = NULL, *text = NULL, *dir = NULL, *fstab = NULL;
	CHECK_INT(fg_entry_line(&a.c, &la, NULL), 0);
	/* alpha: an owned line; gamma: a hand-written line for its mount point, spelled "//". */
	CHECK(asprintf(&text, "# x\n/dev/sda1 / ext4 defaults 0 1\nbroken-line\n%s"
			      "overlay /srv/st/children//gamma/root/ overlay noauto 0 0\n/dev/sdb none swap sw 0 0\n",
		       la) > 0);
	fstab = write_tmp("gen-fstab", text);
	CHECK(asprintf(&dir, "%s/gen-skip", tmpdir) > 0);
	CHECK_INT(mkdir(dir, 0755), 0);
	struct fg_child c[] = { a.c, b.c, c3.c };
	CHECK_INT(fg_generate(dir, fstab, c, 3, &rep, &e), 0);
	CHECK_INT(rep.n_written, 1);
	CHECK_INT(rep.n_skipped, 0);
	CHECK_INT(rep.n_in_fstab, 2);
	if (rep.n_in_fstab == 2) {
		CHECK_STREQ(rep.in_fstab[0], "alpha");
		CHECK_STREQ(rep.in_fstab[1], "gamma");
	}
	fg_gen_report_done(&rep);
	_cleanup_free_ char *ua = NULL, *ub = NULL, *pa = NULL, *pb = NULL;
	fg_unit_name_from_path(a.target, "mount", &ua);
	fg_unit_name_from_path(b.target, "mount", &ub);
	CHECK(asprintf(&pa, "%s/%s", dir, ua) > 0 && asprintf(&pb, "%s/%s", dir, ub) > 0);
	CHECK(access(pa, F_OK) < 0);
	CHECK_INT(access(pb, F_OK), 0);

	/* A missing fstab has no lines: everyone gets units. */
	_cleanup_free_ char *dir2 = NULL, *none = NULL;
	CHECK(asprintf(&dir2, "%s/gen-nofstab", tmpdir) > 0 && asprintf(&none, "%s/no-such-fstab", tmpdir) > 0);
	CHECK_INT(mkdir(dir2, 0755), 0);
	CHECK_INT(fg_generate(dir2, none, c, 3, &rep, &e), 0);
	CHECK_INT(rep.n_written, 3);
	fg_gen_report_done(&rep);
}

/* Options a user adds to an owned entry: not a difference, and kept when the entry is replaced. */
TEST(merge_keeps_user_options)
{
	struct kid a;
	struct fg_report rep;
	int r;
	make_kid(&a, "/srv/st", "alpha");
	struct fg_child c[] = { a.c };
	_cleanup_free_ char *out = NULL;
	/* Ours in another order (nofail first), the user's before, among and after them. */
	static const char text[] =
		"overlay /srv/st/children/alpha/root overlay x-systemd.idle-timeout=60,nofail,x-layerctl.child=alpha,"
		"noauto,x-systemd.automount,x-systemd.requires-mounts-for=\"/srv/st\",x-gvfs-hide,"
		"lowerdir=/srv/st/bases/b/gens/1/tree,upperdir=/srv/st/children/alpha/upper,"
		"workdir=/srv/st/children/alpha/work,index=off,metacopy=off,redirect_dir=off,"
		"x-systemd.device-timeout=5s,x-systemd.mount-timeout=\"1\\040min\" 0 0\n";
	out = merge(text, c, 1, &rep, &r);
	CHECK_INT(r, 0);
	CHECK_INT(rep.n_changes, 0);
	CHECK_STREQ(out, text);
	fg_report_done(&rep);

	/* Anything else is a difference, named. */
	static const struct {
		const char *from, *to, *detail;
	} edits[] = {
		{ "nofail,", "", "options: nofail is missing or has another value" },
		{ "x-gvfs-hide", "x-gvfs-hide,x-systemd.requires=foo.mount",
		  "options: x-systemd.requires is not layerctl's nor the user's" },
		{ "x-gvfs-hide", "x-gvfs-hide,ro", "options: ro is not layerctl's nor the user's" },
		{ "x-gvfs-hide", "x-gvfs-hide,x-initrd.mount", "options: x-initrd.mount is not layerctl's nor the user's" },
		{ "x-gvfs-hide", "x-gvfs-hide,x-mount.mkdir", "options: x-mount.mkdir is not layerctl's nor the user's" },
		{ "redirect_dir=off", "redirect_dir=on", "overlay options" },
		{ "x-layerctl.child=alpha,noauto,", "x-layerctl.child=alpha,", "options: noauto is missing or has another value" },
		{ "requires-mounts-for=\"/srv/st\"", "requires-mounts-for=/srv/st",
		  "options: x-systemd.requires-mounts-for is missing or has another value" },
	};
	for (size_t i = 0; i < ELEMENTSOF(edits); i++) {
		_cleanup_free_ char *t = strdup(text), *o = NULL;
		char *at = strstr(t, edits[i].from);
		CHECK(at);
		if (!at)
			continue;
		_cleanup_free_ char *edited = NULL;
		CHECK(asprintf(&edited, "%.*s%s%s", (int)(at - t), t, edits[i].to, at + strlen(edits[i].from)) > 0);
		o = merge(edited, c, 1, &rep, &r);
		CHECK_INT(r, 0);
		CHECK_INT(rep.n_changes, 1);
		if (rep.n_changes == 1) {
			CHECK_INT(rep.changes[0].kind, FG_UPDATE);
			CHECK_STREQ(rep.changes[0].detail, edits[i].detail);
		}
		fg_report_done(&rep);
		/* The replacement keeps the user's options, in their order, and is in line. */
		CHECK(o && strstr(o, ",x-systemd.idle-timeout=60,x-gvfs-hide,x-systemd.device-timeout=5s,"
				     "x-systemd.mount-timeout=\"1\\040min\",lowerdir="));
		CHECK(o && strstr(o, "noauto,nofail,x-systemd.automount,"));
		_cleanup_free_ char *again = o ? merge(o, c, 1, &rep, &r) : NULL;
		CHECK_INT(rep.n_changes, 0);
		CHECK_STREQ(again, o);
		fg_report_done(&rep);
	}
}

/* An entry written before nofail existed is brought in line (nofail added). */
TEST(merge_adds_nofail_to_old_entries)
{
	struct kid a;
	struct fg_report rep;
	int r;
	make_kid(&a, "/srv/st", "alpha");
	struct fg_child c[] = { a.c };
	_cleanup_free_ char *line = NULL, *text = NULL, *out = NULL;
	CHECK_INT(fg_entry_line(&a.c, &line, NULL), 0);
	char *nf = strstr(line, "nofail,");
	CHECK(nf);
	if (!nf)
		return;
	CHECK(asprintf(&text, "%.*s%s", (int)(nf - line), line, nf + strlen("nofail,")) > 0);
	out = merge(text, c, 1, &rep, &r);
	CHECK_INT(rep.n_changes, 1);
	if (rep.n_changes == 1)
		CHECK_STREQ(rep.changes[0].detail, "options: nofail is missing or has another value");
	CHECK_STREQ(out, line);
	fg_report_done(&rep);
}

/*
 * libmount is told the text is an fstab: a first entry that starts with two
 * numbers is not taken for mountinfo (which mnt_table_parse_stream() would
 * guess, silently dropping the lines).
 */
TEST(merge_first_entry_starting_with_numbers)
{
	struct kid a;
	struct fg_report rep;
	int r;
	make_kid(&a, "/srv/st", "alpha");
	struct fg_child c[] = { a.c };
	static const char text[] = "# numbers\n1 2 3 4 5 6\n/dev/a /b ext4 defaults 0 0\n";
	_cleanup_free_ char *la = NULL, *expect = NULL;
	fg_entry_line(&a.c, &la, NULL);
	_cleanup_free_ char *out = merge(text, c, 1, &rep, &r);
	CHECK_INT(r, 0);
	CHECK(asprintf(&expect, "%s%s", text, la) > 0);
	CHECK_STREQ(out, expect);
	fg_report_done(&rep);
}

static void replace_file(const char *path, const char *text)
{
	_cleanup_free_ char *tmp = NULL;
	CHECK(asprintf(&tmp, "%s.new", path) > 0);
	FILE *f = fopen(tmp, "w");
	fputs(text, f);
	fclose(f);
	CHECK_INT(rename(tmp, path), 0);
}

/*
 * Issue 8 item 18: what is compared is the text read once by fg_fstab_open,
 * not the file as it is later.  Between the read and the comparison the
 * file is replaced (rename) or rewritten in place with a version that
 * already holds alpha's entry: the comparison must still be of the text
 * without it (one missing entry), and a write must refuse.
 */
TEST(check_compares_the_text_it_read)
{
	struct kid a;
	struct fg_report rep;
	struct lc_err e = { "" };
	make_kid(&a, "/srv/st", "alpha");
	struct fg_child c[] = { a.c };
	_cleanup_free_ char *la = NULL, *in_line = NULL;
	fg_entry_line(&a.c, &la, NULL);
	CHECK(asprintf(&in_line, "%s%s", hand_written, la) > 0);

	for (int in_place = 0; in_place <= 1; in_place++) {
		_cleanup_free_ char *p = write_tmp("fstab-read-once", hand_written);
		struct fg_fstab *f = NULL;
		CHECK_INT(fg_fstab_open(p, false, &f, &e), 0);
		if (!f)
			return;
		if (in_place) {
			FILE *w = fopen(p, "r+");
			fputs(in_line, w);
			fclose(w);
		} else
			replace_file(p, in_line);
		/* The file now is in line: a fresh check says so. */
		CHECK_INT(fg_fstab_sync(p, "/srv/st/children", c, 1, FG_SYNC_DRY_RUN, &rep, &e), 0);
		CHECK_INT(rep.n_changes, 0);
		fg_report_done(&rep);
		/* The one opened before compares what it read: alpha's entry is missing. */
		CHECK_INT(fg_fstab_apply(f, "/srv/st/children", c, 1, FG_SYNC_DRY_RUN, &rep, &e), 0);
		CHECK_INT(rep.n_changes, 1);
		if (rep.n_changes == 1)
			CHECK_INT(rep.changes[0].kind, FG_ADD);
		CHECK_INT(rep.n_entries, 1);
		fg_report_done(&rep);
		fg_fstab_close(f);

		/* --write: the same, and the changed file is not overwritten. */
		if (!in_place) {
			replace_file(p, hand_written);
			CHECK_INT(fg_fstab_open(p, true, &f, &e), 0);
			if (!f)
				return;
			replace_file(p, in_line);
			CHECK_INT(fg_fstab_apply(f, "/srv/st/children", c, 1, 0, &rep, &e), -EAGAIN);
			fg_fstab_close(f);
			_cleanup_free_ char *now = slurp(p);
			CHECK_STREQ(now, in_line);
		}
	}
}

static void setup(void) __attribute__((constructor));
static void setup(void)
{
	if (!mkdtemp(tmpdir))
		abort();
}

static void teardown(void) __attribute__((destructor));
static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

TEST_MAIN()
