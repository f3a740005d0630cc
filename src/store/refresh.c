/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Refresh: moving a child from generation O of its base onto generation B.
 *
 * Only the paths that differ between the two manifests are looked at (a
 * merge of two sorted lists, done once per (O, B) pair and shared by every
 * child on O), and only those paths and their parent dirs are read in the
 * child's upper dir.  The cost grows with what the update changed, not with
 * the base's size.
 *
 * Crash safety is a journal: the whole plan is decided first (a refusal
 * changes nothing), written to refresh/pending/journal, then carried out
 * step by step, each step a rename (or a metadata change whose old value was
 * saved first) that can be told done or not done afterwards.  child.conf
 * with Generation=B is the commit point; refresh_recover() rolls a
 * half-done refresh back from the journal, or finishes a committed one.
 *
 * The files: refresh-plan.c decides (the delta, the upper dir, the plan),
 * refresh-journal.c writes and reads the journal and copies entries, and
 * this file carries the plan out (save dir, steps, child.conf, apply,
 * recovery, undo).
 */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>

#include "diff/diff.h"
#include "overlay/overlay.h"
#include "src/basic/fileio.h"
#include "src/store/refresh-internal.h"

/* ---- the test-only crash hook ---- */

/*
 * LAYERCTL_TEST_CRASH_AT=refresh:K (or undo:K, recover:K) kills this
 * process at the K-th crash point of that operation: the integration tests
 * use it to prove every intermediate state is recovered.  Read only when
 * the variable is set; never in normal use.
 */
static void crash_point(const char *op)
{
	static int counter[3];
	const char *v = getenv("LAYERCTL_TEST_CRASH_AT");
	if (!v)
		return;
	size_t n = strlen(op);
	int idx = op[0] == 'r' && op[2] == 'f' ? 0 : op[0] == 'u' ? 1 : 2;
	counter[idx]++;
	if (strncmp(v, op, n) == 0 && v[n] == ':' && atoi(v + n + 1) == counter[idx])
		kill(getpid(), SIGKILL);
}

/* ---- the save dir ---- */

struct save_dirs {
	int child_fd, refresh_fd, work_fd, undo_fd, meta_fd, base_fd, upper_fd, tree_fd;
};

#define SAVE_DIRS_INIT { -1, -1, -1, -1, -1, -1, -1, -1 }

static void save_dirs_close(struct save_dirs *d)
{
	int *fds[] = { &d->child_fd, &d->refresh_fd, &d->work_fd, &d->undo_fd, &d->meta_fd, &d->base_fd, &d->upper_fd,
		       &d->tree_fd };
	for (size_t i = 0; i < ELEMENTSOF(fds); i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
}

static int open_dir_at(int dirfd, const char *name, bool create)
{
	if (create && mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int open_child_dirs(struct store *s, const char *child, struct save_dirs *d, struct lc_err *err)
{
	_cleanup_free_ char *rel = NULL;
	*d = (struct save_dirs)SAVE_DIRS_INIT;
	if (asprintf(&rel, "children/%s", child) < 0)
		return -ENOMEM;
	d->child_fd = openat(s->root_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d->child_fd < 0)
		return lc_err_ret(err, -errno, "%s/%s: %m", s->root, rel);
	d->upper_fd = openat(d->child_fd, "upper", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d->upper_fd < 0)
		return lc_err_ret(err, -errno, "%s/%s/upper: %m", s->root, rel);
	return 0;
}

/* Open (creating with create) the work dir `name` below refresh/ and its undo, meta, base subdirs. */
static int open_work(struct save_dirs *d, const char *name, bool create)
{
	int r;
	if (d->refresh_fd < 0 && (d->refresh_fd = open_dir_at(d->child_fd, "refresh", create)) < 0)
		return d->refresh_fd;
	if ((r = open_dir_at(d->refresh_fd, name, create)) < 0)
		return r;
	d->work_fd = r;
	if ((r = open_dir_at(d->work_fd, "undo", true)) < 0)
		return r;
	d->undo_fd = r;
	if ((r = open_dir_at(d->work_fd, "meta", true)) < 0)
		return r;
	d->meta_fd = r;
	if ((r = open_dir_at(d->work_fd, "base", true)) < 0)
		return r;
	d->base_fd = r;
	return 0;
}

static int open_tree(struct store *s, struct save_dirs *d, const char *base, unsigned gen)
{
	/* An image generation's tree is a mount point: its files through a private mount of the image. */
	int r = store_gen_is_image(s, base, gen);
	if (r > 0) {
		d->tree_fd = store_gen_image_open_root(s, base, gen, NULL);
		return d->tree_fd < 0 ? d->tree_fd : 0;
	}
	_cleanup_free_ char *tree = store_gen_tree(s, base, gen);
	if (!tree)
		return -ENOMEM;
	d->tree_fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return d->tree_fd < 0 ? -errno : 0;
}

static bool exists_at(int dirfd, const char *name)
{
	struct stat st;
	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* ---- steps ---- */

/* fsync a regular file (a symlink's content is its inode: the dir fsync covers it). */
static int fsync_file_at(int dirfd, const char *name)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? 0 : -errno;
	return fsync(fd) < 0 ? -errno : 0;
}

static int do_step(struct save_dirs *d, size_t k, const struct step *st, struct lc_err *err)
{
	char key[32], tmp[40];
	int r;
	snprintf(key, sizeof(key), "%zu", k);
	snprintf(tmp, sizeof(tmp), "tmp-%zu", k);
	const char *name;
	_cleanup_close_ int pfd = lc_open_parent_beneath(d->upper_fd, st->path, strlen(st->path), &name);
	if (pfd < 0)
		return lc_err_ret(err, pfd, "upper dir: the directory of /%s: %s", st->path, strerror(-pfd));
	switch (st->kind) {
	case STEP_REMOVE:
		if (renameat2(pfd, name, d->undo_fd, key, RENAME_NOREPLACE) < 0)
			return lc_err_ret(err, -errno, "moving /%s to the save dir: %m", st->path);
		crash_point("refresh");
		return 0;
	case STEP_MERGE:
		if (renameat2(pfd, name, d->undo_fd, key, RENAME_NOREPLACE) < 0)
			return lc_err_ret(err, -errno, "moving /%s to the save dir: %m", st->path);
		crash_point("refresh");
		if ((r = refresh_copy_entry(d->tree_fd, st->path, d->work_fd, tmp)) < 0 ||
		    (r = refresh_copy_meta(d->undo_fd, key, d->work_fd, tmp)) < 0 || (r = fsync_file_at(d->work_fd, tmp)) < 0)
			return lc_err_ret(err, r, "/%s: the base's content with the child's metadata: %s", st->path, strerror(-r));
		crash_point("refresh");
		if (renameat2(d->work_fd, tmp, pfd, name, RENAME_NOREPLACE) < 0)
			return lc_err_ret(err, -errno, "/%s: putting the merged file in place: %m", st->path);
		crash_point("refresh");
		return 0;
	case STEP_DIR_META: {
		char ktmp[40];
		snprintf(ktmp, sizeof(ktmp), "%zu.tmp", k);
		if (mkdirat(d->meta_fd, ktmp, 0700) < 0 && errno != EEXIST)
			return lc_err_ret(err, -errno, "/%s: saving the dir's metadata: %m", st->path);
		if ((r = refresh_copy_meta(pfd, name, d->meta_fd, ktmp)) < 0)
			return lc_err_ret(err, r, "/%s: saving the dir's metadata: %s", st->path, strerror(-r));
		if (renameat(d->meta_fd, ktmp, d->meta_fd, key) < 0)
			return lc_err_ret(err, -errno, "/%s: saving the dir's metadata: %m", st->path);
		crash_point("refresh");
		if ((r = refresh_copy_meta(d->tree_fd, st->path, pfd, name)) < 0)
			return lc_err_ret(err, r, "/%s: giving the dir the base's metadata: %s", st->path, strerror(-r));
		crash_point("refresh");
		return 0;
	}
	}
	return -EINVAL;
}

/*
 * An entry put back that carries overlay.origin (a copy-up) needs its
 * parent marked overlay.impure, as the copy-up did: the kernel drops that
 * mark from a dir it finds without such entries (after the refresh moved
 * them out), and without it readdir's d_ino stops matching stat's st_ino.
 */
static void mark_parent_impure(int parent_fd, const char *name)
{
	static const char *const ns[] = { "trusted.overlay.", "user.overlay." };
	char p[PATH_MAX + 32], parent[64], key[64];
	if (refresh_proc_path(p, parent_fd, name) < 0)
		return;
	snprintf(parent, sizeof(parent), "/proc/self/fd/%d", parent_fd);
	for (size_t i = 0; i < ELEMENTSOF(ns); i++) {
		snprintf(key, sizeof(key), "%sorigin", ns[i]);
		if (lgetxattr(p, key, NULL, 0) < 0)
			continue;
		snprintf(key, sizeof(key), "%simpure", ns[i]);
		(void)lsetxattr(parent, key, "y", 1, 0);
	}
}

/* Undo step k if it was done (or half done); harmless when it was not. */
static int undo_step(struct save_dirs *d, size_t k, const struct step *st, const char *op, struct lc_err *err)
{
	char key[32], tmp[40];
	int r;
	snprintf(key, sizeof(key), "%zu", k);
	snprintf(tmp, sizeof(tmp), "tmp-%zu", k);
	const char *name;
	_cleanup_close_ int pfd = lc_open_parent_beneath(d->upper_fd, st->path, strlen(st->path), &name);
	if (pfd < 0)
		return lc_err_ret(err, pfd, "upper dir: the directory of /%s: %s", st->path, strerror(-pfd));
	switch (st->kind) {
	case STEP_REMOVE:
		if (exists_at(d->undo_fd, key)) {
			if (renameat2(d->undo_fd, key, pfd, name, RENAME_NOREPLACE) < 0)
				return lc_err_ret(err, -errno, "putting /%s back: %m", st->path);
			mark_parent_impure(pfd, name);
		}
		break;
	case STEP_MERGE:
		if (unlinkat(d->work_fd, tmp, 0) < 0 && errno != ENOENT)
			return lc_err_ret(err, -errno, "/%s: removing a temporary: %m", st->path);
		/* One rename replaces the merged file (if it got there) by the child's. */
		if (exists_at(d->undo_fd, key)) {
			if (renameat(d->undo_fd, key, pfd, name) < 0)
				return lc_err_ret(err, -errno, "putting /%s back: %m", st->path);
			mark_parent_impure(pfd, name);
		}
		break;
	case STEP_DIR_META:
		if (exists_at(d->meta_fd, key) && (r = refresh_copy_meta(d->meta_fd, key, pfd, name)) < 0)
			return lc_err_ret(err, r, "/%s: restoring the dir's metadata: %s", st->path, strerror(-r));
		break;
	}
	crash_point(op);
	return 0;
}

static int undo_steps(struct save_dirs *d, const struct journal *j, const char *op, struct lc_err *err)
{
	for (size_t k = j->n; k-- > 0;) {
		int r = undo_step(d, k, &j->steps[k], op, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- child.conf ---- */

static int conf_generations(struct save_dirs *d, struct settings **ret, unsigned *gen, unsigned *undo, struct lc_err *err)
{
	unsigned long v;
	int r = settings_load(d->child_fd, "child.conf", ret, err);
	if (r < 0)
		return r;
	*gen = settings_get_uint(*ret, "Child", "Generation", &v) == 0 ? (unsigned)v : 0;
	*undo = settings_get_uint(*ret, "Child", "UndoGeneration", &v) == 0 ? (unsigned)v : 0;
	return 0;
}

/* The commit point: child.conf written atomically with the new generation(s). */
static int conf_commit(struct save_dirs *d, unsigned gen, unsigned undo, struct lc_err *err)
{
	_cleanup_(settings_freep) struct settings *conf = NULL;
	unsigned cur, cur_undo;
	char g[16], u[16];
	int r = conf_generations(d, &conf, &cur, &cur_undo, err);
	if (r < 0)
		return r;
	snprintf(g, sizeof(g), "%u", gen);
	snprintf(u, sizeof(u), "%u", undo);
	if ((r = settings_set(conf, "Child", "Generation", g)) < 0 ||
	    (r = settings_set(conf, "Child", "UndoGeneration", undo ? u : NULL)) < 0)
		return r;
	if ((r = settings_save(conf, d->child_fd, "child.conf")) < 0)
		return lc_err_ret(err, r, "writing child.conf: %s", strerror(-r));
	return 0;
}

unsigned refresh_undo_generation(const struct child_info *c)
{
	unsigned long v;
	return c->conf && settings_get_uint(c->conf, "Child", "UndoGeneration", &v) == 0 ? (unsigned)v : 0;
}

/* ---- the lower link (fstab entries name it) ---- */

static int link_lower_at(int child_fd, const char *base, unsigned gen)
{
	_cleanup_free_ char *target = NULL;
	if (asprintf(&target, "../../bases/%s/gens/%u/tree", base, gen) < 0)
		return -ENOMEM;
	(void)unlinkat(child_fd, ".lower.new", 0);
	if (symlinkat(target, child_fd, ".lower.new") < 0)
		return -errno;
	if (renameat(child_fd, ".lower.new", child_fd, "lower") < 0) {
		int r = -errno;
		(void)unlinkat(child_fd, ".lower.new", 0);
		return r;
	}
	return fsync_dir_at(child_fd, ".");
}

int refresh_link_lower(struct store *s, const char *child, const char *base, unsigned gen)
{
	_cleanup_free_ char *rel = NULL;
	if (asprintf(&rel, "children/%s", child) < 0)
		return -ENOMEM;
	_cleanup_close_ int fd = openat(s->root_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return link_lower_at(fd, base, gen);
}

int refresh_check_lower(struct store *s, const char *child, const char *base, unsigned gen)
{
	_cleanup_free_ char *rel = NULL, *want = NULL;
	char have[PATH_MAX];
	if (asprintf(&rel, "children/%s/lower", child) < 0 || asprintf(&want, "../../bases/%s/gens/%u/tree", base, gen) < 0)
		return -ENOMEM;
	ssize_t n = readlinkat(s->root_fd, rel, have, sizeof(have) - 1);
	if (n < 0)
		return errno == EINVAL ? -ESTALE : -errno;
	have[n] = '\0';
	return STREQ(have, want) ? 0 : -ESTALE;
}

/* ---- apply ---- */

char *refresh_saved_path(const struct store *s, const char *child, unsigned gen, const char *path)
{
	char *p;
	if (asprintf(&p, "%s/children/%s/refresh/%u/base/%s", s->root, child, gen, path) < 0)
		return NULL;
	return p;
}

/* B's versions of the conflicting paths, for the admin (not part of undo). */
static int save_base_versions(struct save_dirs *d, const struct refresh_plan *p, struct lc_err *err)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct refresh_item *it = &p->items[i];
		struct stat st;
		int r;
		if (!it->save_base)
			continue;
		if (fstatat(d->tree_fd, it->path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
			continue;
		if ((r = refresh_make_parents(d->base_fd, it->path)) < 0 || (r = refresh_copy_entry(d->tree_fd, it->path, d->base_fd, it->path)) < 0)
			return lc_err_ret(err, r, "saving the base's version of /%s: %s", it->path, strerror(-r));
		if (!S_ISLNK(st.st_mode) && fchmodat(d->base_fd, it->path, st.st_mode & 0777, 0) < 0)
			return lc_err_ret(err, -errno, "saving the base's version of /%s: %m", it->path);
	}
	return 0;
}

static bool is_number(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/*
 * After the commit: the previous refresh's undo data is superseded (only the
 * last refresh can be undone), the work dir becomes refresh/GEN, and the
 * lower link follows the new generation.  Every step may be repeated.
 */
static int finalize(struct save_dirs *d, const char *work, const char *base, unsigned to, const char *op, struct lc_err *err)
{
	char gen[16];
	int r;
	snprintf(gen, sizeof(gen), "%u", to);
	int dfd = dup(d->refresh_fd);
	if (dfd < 0)
		return -errno;
	DIR *dir = fdopendir(dfd);
	if (!dir) {
		close(dfd);
		return -errno;
	}
	struct dirent *de;
	while ((de = readdir(dir)))
		if (is_number(de->d_name) && (r = rm_rf_at(d->refresh_fd, de->d_name)) < 0 && r != -ENOENT) {
			closedir(dir);
			return lc_err_ret(err, r, "removing the previous refresh's saved files: %s", strerror(-r));
		}
	closedir(dir);
	crash_point(op);
	if (work && renameat(d->refresh_fd, work, d->refresh_fd, gen) < 0 && errno != ENOENT)
		return lc_err_ret(err, -errno, "refresh dir: %m");
	crash_point(op);
	if ((r = link_lower_at(d->child_fd, base, to)) < 0)
		return lc_err_ret(err, r, "children/.../lower link: %s", strerror(-r));
	return 0;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int fsync_at(int dirfd, const char *path)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	return fsync(fd) < 0 ? -errno : 0;
}

/*
 * Make the steps durable before the commit: every upper dir a step renamed
 * in or out of (and every dir whose metadata changed), and the save dirs.
 * Not syncfs(): its cost grows with every inode the file system has cached,
 * i.e. with the size of the bases, which refresh must not.
 */
static int sync_touched(struct save_dirs *d, const struct journal *j)
{
	_cleanup_free_ char **dirs = calloc(2 * j->n + 1, sizeof(*dirs));
	size_t n = 0;
	int r = 0;
	if (!dirs)
		return -ENOMEM;
	for (size_t k = 0; k < j->n; k++) {
		const char *path = j->steps[k].path, *slash = strrchr(path, '/');
		if (!(dirs[n++] = slash ? strndup(path, (size_t)(slash - path)) : strdup(".")))
			r = -ENOMEM;
		if (r == 0 && j->steps[k].kind == STEP_DIR_META && !(dirs[n++] = strdup(path)))
			r = -ENOMEM;
	}
	if (r == 0)
		qsort(dirs, n, sizeof(*dirs), cmp_strp);
	for (size_t i = 0; r == 0 && i < n; i++)
		if (i == 0 || !STREQ(dirs[i], dirs[i - 1]))
			r = fsync_at(d->upper_fd, dirs[i]);
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
	if (r == 0 && (fsync(d->undo_fd) < 0 || fsync(d->meta_fd) < 0 || fsync(d->work_fd) < 0))
		r = -errno;
	return r;
}

int refresh_apply(struct store *s, const struct child_info *c, const struct refresh_plan *p, struct lc_err *err)
{
	_cleanup_(save_dirs_close) struct save_dirs d = SAVE_DIRS_INIT;
	struct journal j = {};
	int r;

	if ((r = open_child_dirs(s, c->name, &d, err)) < 0)
		return r;
	if ((r = open_tree(s, &d, c->base, p->to)) < 0)
		return lc_err_ret(err, r, "base %s generation %u: tree: %s", c->base, p->to, strerror(-r));
	if (d.refresh_fd < 0 && (d.refresh_fd = open_dir_at(d.child_fd, "refresh", true)) < 0)
		return lc_err_ret(err, d.refresh_fd, "refresh dir: %s", strerror(-d.refresh_fd));
	if (exists_at(d.refresh_fd, "pending") || exists_at(d.refresh_fd, "undoing"))
		return lc_err_ret(err, -EBUSY, "an interrupted refresh is pending (run the command again to recover it)");
	if ((r = open_work(&d, "pending", true)) < 0)
		return lc_err_ret(err, r, "refresh/pending: %s", strerror(-r));
	crash_point("refresh");
	j.from = p->from;
	j.to = p->to;
	if (!(j.base = strdup(c->base)) || (r = refresh_plan_steps(p, &j)) < 0) {
		refresh_journal_done(&j);
		return -ENOMEM;
	}
	r = refresh_write_journal(d.work_fd, &j);
	if (r < 0) {
		refresh_journal_done(&j);
		(void)rm_rf_at(d.refresh_fd, "pending");
		return lc_err_ret(err, r, "writing the refresh journal: %s", strerror(-r));
	}
	crash_point("refresh");
	if ((r = save_base_versions(&d, p, err)) < 0)
		goto rollback;
	crash_point("refresh");
	for (size_t k = 0; k < j.n; k++)
		if ((r = do_step(&d, k, &j.steps[k], err)) < 0)
			goto rollback;
	/* The moves must be on disk before child.conf says they happened. */
	if ((r = sync_touched(&d, &j)) < 0) {
		r = lc_err_ret(err, r, "fsync: %s", strerror(-r));
		goto rollback;
	}
	crash_point("refresh");
	if ((r = conf_commit(&d, p->to, p->from, err)) < 0)
		goto rollback;
	crash_point("refresh");
	r = finalize(&d, "pending", c->base, p->to, "refresh", err);
	refresh_journal_done(&j);
	return r;

rollback: {
		int k = undo_steps(&d, &j, "rollback", NULL);
		if (k == 0)
			(void)rm_rf_at(d.refresh_fd, "pending");
		refresh_journal_done(&j);
		return r;
	}
}

/* ---- recovery and undo ---- */

static int recover_work(struct save_dirs *d, const char *work, bool undoing, struct lc_err *err)
{
	struct journal j;
	_cleanup_(settings_freep) struct settings *conf = NULL;
	unsigned gen, undo;
	int r;

	if ((r = open_work(d, work, false)) < 0)
		return lc_err_ret(err, r, "refresh/%s: %s", work, strerror(-r));
	r = refresh_read_journal(d->work_fd, &j, err);
	if (r == -ENOENT && !undoing) {
		/* Killed before the journal was written: nothing was touched. */
		if ((r = rm_rf_at(d->refresh_fd, work)) < 0)
			return lc_err_ret(err, r, "removing refresh/%s: %s", work, strerror(-r));
		return 1;
	}
	if (r < 0)
		return r == -EBADMSG ? r : lc_err_ret(err, r, "refresh/%s/journal: %s", work, strerror(-r));
	if ((r = conf_generations(d, &conf, &gen, &undo, err)) < 0)
		goto out;
	if (!undoing && gen == j.to && undo == j.from) {
		/* Committed: finish. */
		r = finalize(d, work, j.base, j.to, "recover", err);
		r = r < 0 ? r : 2;
	} else if (!undoing && gen == j.from) {
		if ((r = undo_steps(d, &j, "recover", err)) == 0 && (r = rm_rf_at(d->refresh_fd, work)) == 0)
			r = 1;
	} else if (undoing && gen == j.to) {
		/* An undo was under way: carry it through (every step is idempotent). */
		if ((r = undo_steps(d, &j, "recover", err)) == 0 && (r = syncfs(d->upper_fd) < 0 ? -errno : 0) == 0 &&
		    (r = conf_commit(d, j.from, 0, err)) == 0 && (r = rm_rf_at(d->refresh_fd, work)) == 0 &&
		    (r = link_lower_at(d->child_fd, j.base, j.from)) == 0)
			r = 2;
	} else if (undoing && gen == j.from) {
		if ((r = rm_rf_at(d->refresh_fd, work)) == 0 && (r = link_lower_at(d->child_fd, j.base, j.from)) == 0)
			r = 2;
	} else
		r = lc_err_ret(err, -EBADMSG, "refresh/%s/journal (generation %u to %u) does not match child.conf "
			 "(Generation=%u); fix by hand", work, j.from, j.to, gen);
out:
	refresh_journal_done(&j);
	return r;
}

int refresh_recover(struct store *s, const char *child, struct lc_err *err)
{
	_cleanup_(save_dirs_close) struct save_dirs d = SAVE_DIRS_INIT;
	_cleanup_free_ char *rel = NULL;
	struct stat st;
	int r;

	/* The common case costs two failed stats. */
	if (asprintf(&rel, "children/%s/refresh/pending", child) < 0)
		return -ENOMEM;
	bool pending = fstatat(s->root_fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
	strcpy(rel + strlen(rel) - strlen("pending"), "undoing");
	bool undoing = !pending && fstatat(s->root_fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!pending && !undoing)
		return 0;
	if ((r = open_child_dirs(s, child, &d, err)) < 0)
		return r;
	if ((d.refresh_fd = open_dir_at(d.child_fd, "refresh", false)) < 0)
		return d.refresh_fd;
	if (pending) {
		/* The base tree is not needed to roll back: undo only renames and restores saved metadata. */
		return recover_work(&d, "pending", false, err);
	}
	return recover_work(&d, "undoing", true, err);
}

/* Is path's parent dir in the upper now, or put back by an earlier undo step (a dir refresh removed)? */
static bool parent_comes_back(struct save_dirs *d, const struct journal *j, const char *path)
{
	const char *slash = strrchr(path, '/');
	struct stat st;
	if (!slash)
		return true;
	_cleanup_free_ char *parent = strndup(path, (size_t)(slash - path));
	if (!parent)
		return false;
	const char *name;
	_cleanup_close_ int pfd = lc_open_parent_beneath(d->upper_fd, path, strlen(path), &name);
	if (pfd >= 0)
		return true; /* resolved beneath the upper without a symlink: a real dir */
	if (fstatat(d->upper_fd, parent, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return false; /* there, but reached through a symlink or not a dir */
	for (size_t k = 0; k < j->n; k++)
		if (j->steps[k].kind == STEP_REMOVE && STREQ(j->steps[k].path, parent))
			return parent_comes_back(d, j, parent);
	return false;
}

/* Has the child changed a path refresh touched since?  (Then undo would lose that.) */
static int check_unchanged(struct store *s, struct save_dirs *d, const struct journal *j, struct lc_err *err)
{
	_cleanup_manifest_ struct diff_manifest *m = NULL;
	struct diff_hasher *h = NULL;
	int r = refresh_open_gen_manifest(s, j->base, j->to, &m, err);
	if (r < 0)
		return r;
	if ((r = diff_hasher_new(&h)) < 0)
		return r;
	for (size_t k = 0; r == 0 && k < j->n; k++) {
		const struct step *st = &j->steps[k];
		struct stat now, saved;
		char key[32];
		snprintf(key, sizeof(key), "%zu", k);
		const char *name;
		_cleanup_close_ int pfd = lc_open_parent_beneath(d->upper_fd, st->path, strlen(st->path), &name);
		bool present = pfd >= 0 && fstatat(pfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0;
		if (st->kind == STEP_REMOVE && present)
			r = lc_err_ret(err, -ESTALE, "/%s was created again in the child since the refresh", st->path);
		else if (st->kind != STEP_DIR_META && !parent_comes_back(d, j, st->path))
			/* (child reset, or the child removed the dir): there is nowhere to put it back */
			r = lc_err_ret(err, -ESTALE, "the directory of /%s was removed from the child since the refresh", st->path);
		else if (st->kind == STEP_DIR_META && (!present || !S_ISDIR(now.st_mode)))
			r = lc_err_ret(err, -ESTALE, "/%s is no longer a directory in the child", st->path);
		else if (st->kind == STEP_MERGE) {
			ssize_t bi = diff_manifest_find(m, st->path, strlen(st->path));
			struct diff_entry b;
			uint8_t hash[DIFF_HASH_SIZE] = {};
			if (!present || bi < 0 || fstatat(d->undo_fd, key, &saved, AT_SYMLINK_NOFOLLOW) < 0) {
				r = lc_err_ret(err, -ESTALE, "/%s was removed from the child since the refresh", st->path);
				break;
			}
			diff_manifest_get(m, (size_t)bi, &b);
			bool same = (now.st_mode & S_IFMT) == (b.mode & S_IFMT) && now.st_uid == saved.st_uid &&
				    now.st_gid == saved.st_gid && (S_ISLNK(now.st_mode) || now.st_mode == saved.st_mode);
			if (same && S_ISREG(now.st_mode)) {
				_cleanup_close_ int fd = openat(pfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
				same = fd >= 0 && (uint64_t)now.st_size == b.size && diff_hash_fd(h, fd, hash, NULL) == 0 &&
				       memcmp(hash, b.content, DIFF_HASH_SIZE) == 0;
			}
			if (!same)
				r = lc_err_ret(err, -ESTALE, "/%s was changed in the child since the refresh", st->path);
		}
	}
	diff_hasher_free(h);
	return r;
}

/*
 * Undo every step, last first.  Should one fail (an I/O error, an immutable
 * dir), the steps already undone are done again, in order, and the work dir
 * renamed back: the child stays fully on the refreshed generation rather
 * than half way, which the next lock would try to finish again and again.
 */
static int undo_steps_or_redo(struct store *s, struct save_dirs *d, const struct journal *j, const char *work,
			      struct lc_err *err)
{
	size_t k = j->n;
	int r = 0;
	while (k-- > 0)
		if ((r = undo_step(d, k, &j->steps[k], "undo", err)) < 0)
			break;
	if (r == 0)
		return 0;
	if (open_tree(s, d, j->base, j->to) < 0)
		return r;
	if (j->steps[k].kind == STEP_DIR_META) {
		/* Its metadata may be half restored: give it B's again (meta/K keeps the original). */
		const char *name;
		_cleanup_close_ int pfd = lc_open_parent_beneath(d->upper_fd, j->steps[k].path, strlen(j->steps[k].path), &name);
		if (pfd < 0 || refresh_copy_meta(d->tree_fd, j->steps[k].path, pfd, name) < 0)
			return r;
	}
	for (size_t i = k + 1; i < j->n; i++) {
		if (do_step(d, i, &j->steps[i], NULL) < 0)
			return r;
	}
	if (renameat(d->refresh_fd, "undoing", d->refresh_fd, work) < 0)
		return r;
	return r;
}

int refresh_undo(struct store *s, const char *child, struct lc_err *err)
{
	_cleanup_(save_dirs_close) struct save_dirs d = SAVE_DIRS_INIT;
	_cleanup_(settings_freep) struct settings *conf = NULL;
	_cleanup_free_ char *tree = NULL;
	struct journal j = {};
	unsigned gen, undo;
	char work[16];
	int r;

	if ((r = open_child_dirs(s, child, &d, err)) < 0)
		return r;
	if ((r = conf_generations(&d, &conf, &gen, &undo, err)) < 0)
		return r;
	if (!undo)
		return lc_err_ret(err, -ENOENT, "nothing to undo (no refresh since the last undo)");
	snprintf(work, sizeof(work), "%u", gen);
	if ((d.refresh_fd = open_dir_at(d.child_fd, "refresh", false)) < 0 || open_work(&d, work, false) < 0)
		return lc_err_ret(err, -ENOENT, "the saved files of the last refresh (refresh/%s) are missing", work);
	if ((r = refresh_read_journal(d.work_fd, &j, err)) < 0)
		return r == -EBADMSG ? r : lc_err_ret(err, r, "refresh/%s/journal: %s", work, strerror(-r));
	if (j.from != undo || j.to != gen) {
		r = lc_err_ret(err, -EBADMSG, "refresh/%s/journal is of generation %u to %u, child.conf says %u to %u", work, j.from,
			 j.to, undo, gen);
		goto out;
	}
	tree = store_gen_tree(s, j.base, undo);
	struct stat st;
	if (!tree || stat(tree, &st) < 0) {
		r = lc_err_ret(err, -ENOENT, "base %s no longer has generation %u", j.base, undo);
		goto out;
	}
	if ((r = check_unchanged(s, &d, &j, err)) < 0)
		goto out;
	if (renameat(d.refresh_fd, work, d.refresh_fd, "undoing") < 0) {
		r = lc_err_ret(err, -errno, "refresh dir: %m");
		goto out;
	}
	crash_point("undo");
	if ((r = undo_steps_or_redo(s, &d, &j, work, err)) < 0)
		goto out;
	if (syncfs(d.upper_fd) < 0) {
		r = lc_err_ret(err, -errno, "syncfs: %m");
		goto out;
	}
	if ((r = conf_commit(&d, undo, 0, err)) < 0)
		goto out;
	crash_point("undo");
	if ((r = rm_rf_at(d.refresh_fd, "undoing")) < 0) {
		r = lc_err_ret(err, r, "removing refresh/undoing: %s", strerror(-r));
		goto out;
	}
	crash_point("undo");
	if ((r = link_lower_at(d.child_fd, j.base, undo)) < 0)
		r = lc_err_ret(err, r, "children/%s/lower link: %s", child, strerror(-r));
out:
	refresh_journal_done(&j);
	return r;
}
