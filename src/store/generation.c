/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Base generations: building generation M from the current one N by hard
 * links for everything unchanged, committing it atomically, switching and
 * removing generations, measuring what they hold.  See generation.h for the
 * layout and the commit protocol.
 *
 * Building a new tree (linking, merging a scratch upper, the import hook)
 * is generation-build.c; this file has the records, the sweep of
 * leftovers, the transaction, the commit, rollback, removal and disk use.
 */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>

#include "diff/diff.h"
#include "overlay/overlay.h"
#include "src/store/import.h"
#include "src/store/settings.h"
#include "src/store/generation-internal.h"

void gen_crash_point(unsigned step)
{
	const char *v = getenv("LAYERCTL_TEST_CRASH_AT");
	if (!v || strncmp(v, "gen-commit:", 11) != 0)
		return;
	if (strtoul(v + 11, NULL, 10) == step)
		raise(SIGKILL);
}

/* ---- records ---- */

void gen_record_done(struct gen_record *g)
{
	free(g->date);
	free(g->description);
	free(g->source);
	memset(g, 0, sizeof(*g));
}

static int base_fd_open(struct store *s, const char *base)
{
	_cleanup_free_ char *rel = NULL;
	if (asprintf(&rel, "bases/%s", base) < 0)
		return -ENOMEM;
	int fd = openat(s->root_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static uint64_t get_u64(const struct settings *c, const char *key)
{
	unsigned long v;
	return settings_get_uint(c, "Generation", key, &v) == 0 ? (uint64_t)v : UINT64_MAX;
}

int gen_record_load(struct store *s, const char *base, unsigned gen, struct gen_record *ret, struct lc_err *err)
{
	_cleanup_close_ int bfd = base_fd_open(s, base);
	_cleanup_settings_ struct settings *conf = NULL;
	char rel[64];
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->number = gen;
	ret->changed = ret->added = ret->removed = UINT64_MAX;
	if (bfd < 0)
		return bfd;
	snprintf(rel, sizeof(rel), "gens/%u/gen.conf", gen);
	r = settings_load(bfd, rel, &conf, err);
	if (r == -ENOENT) {
		/* An imported generation: its date is the base's. */
		_cleanup_settings_ struct settings *bc = NULL;
		if (settings_load(bfd, "base.conf", &bc, NULL) == 0) {
			const char *c = settings_get(bc, "Base", "Created");
			const char *src = settings_get(bc, "Base", "Source");
			ret->date = c ? strdup(c) : NULL;
			if (src && asprintf(&ret->source, "import %s", src) < 0)
				ret->source = NULL;
		}
		return 0;
	}
	if (r < 0)
		return r;
	unsigned long parent;
	if (settings_get_uint(conf, "Generation", "Parent", &parent) == 0 && parent <= UINT_MAX)
		ret->parent = (unsigned)parent;
	const char *d = settings_get(conf, "Generation", "Date");
	const char *desc = settings_get(conf, "Generation", "Description");
	const char *src = settings_get(conf, "Generation", "Source");
	ret->date = d ? strdup(d) : NULL;
	ret->description = desc ? strdup(desc) : NULL;
	ret->source = src ? strdup(src) : NULL;
	ret->changed = get_u64(conf, "Changed");
	ret->added = get_u64(conf, "Added");
	ret->removed = get_u64(conf, "Removed");
	return 0;
}

static unsigned conf_uint(const struct settings *c, const char *key, unsigned def)
{
	unsigned long v;
	if (settings_get_uint(c, "Base", key, &v) < 0 || v == 0 || v > UINT_MAX)
		return def;
	return (unsigned)v;
}

int gen_base_latest(struct store *s, const char *base, unsigned *latest, unsigned *previous)
{
	_cleanup_close_ int bfd = base_fd_open(s, base);
	_cleanup_settings_ struct settings *bc = NULL;
	if (bfd < 0)
		return bfd;
	int r = settings_load(bfd, "base.conf", &bc, NULL);
	if (r < 0)
		return r;
	unsigned cur = conf_uint(bc, "Current", 0);
	if (cur == 0)
		return -EBADMSG;
	/* Never below Current: whatever the file says, the current generation was committed. */
	if (latest) {
		*latest = conf_uint(bc, "Latest", cur);
		if (*latest < cur)
			*latest = cur;
	}
	if (previous)
		*previous = conf_uint(bc, "Previous", 0);
	return 0;
}

/* Rewrite base.conf with Current=cur (and Latest= when latest > 0), Previous= the old current. */
static int base_conf_switch(int bfd, unsigned cur, unsigned latest, struct lc_err *err)
{
	_cleanup_settings_ struct settings *bc = NULL;
	char v[16];
	int r = settings_load(bfd, "base.conf", &bc, err);
	if (r < 0)
		return r;
	unsigned old = conf_uint(bc, "Current", 0);
	if (old && old != cur) {
		snprintf(v, sizeof(v), "%u", old);
		if ((r = settings_set(bc, "Base", "Previous", v)) < 0)
			return r;
	}
	if (!settings_get(bc, "Base", "Latest")) {
		snprintf(v, sizeof(v), "%u", old);
		if ((r = settings_set(bc, "Base", "Latest", v)) < 0)
			return r;
	}
	snprintf(v, sizeof(v), "%u", cur);
	if ((r = settings_set(bc, "Base", "Current", v)) < 0)
		return r;
	if (latest) {
		snprintf(v, sizeof(v), "%u", latest);
		if ((r = settings_set(bc, "Base", "Latest", v)) < 0)
			return r;
	}
	if ((r = settings_save(bc, bfd, "base.conf")) < 0)
		return lc_err_ret(err, r, "base.conf: %s", strerror(-r));
	return 0;
}

/* ---- leftovers ---- */

static bool parse_gen(const char *name, unsigned *ret)
{
	char *end;
	if (!isdigit((unsigned char)name[0]) || name[0] == '0')
		return false;
	unsigned long g = strtoul(name, &end, 10);
	if (*end || g > UINT_MAX)
		return false;
	*ret = (unsigned)g;
	return true;
}

int gen_sweep_base(struct store *s, const char *base, bool caller_holds_lock)
{
	_cleanup_close_ int bfd = base_fd_open(s, base);
	_cleanup_close_ int lock = -1;
	unsigned latest = 0;
	int removed = 0;

	if (bfd < 0)
		return 0;
	_cleanup_close_ int gfd = -1;
	_cleanup_closedir_ DIR *d = NULL;
	if (lc_opendirat_with_fd(bfd, "gens", &gfd, &d) < 0)
		return 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		unsigned g;
		pid_t pid = store_leftover_pid(de->d_name);
		if (pid > 0) {
			/* A live owner is still building or removing it. */
			if (pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH)
				continue;
		} else if (parse_gen(de->d_name, &g)) {
			/* Renamed into place by a commit killed before base.conf said so. */
			if (latest == 0 && gen_base_latest(s, base, &latest, NULL) < 0)
				latest = UINT_MAX;
			if (g <= latest)
				continue;
			if (!caller_holds_lock && lock < 0) {
				/*
				 * Shared is enough: a commit holds it exclusively, so
				 * getting it at all means none is in progress (and
				 * child create, which holds it shared, may sweep).
				 */
				lock = store_lock(s, LOCK_BASE, base, LOCK_SH | LOCK_NB);
				if (lock < 0)
					return removed;
				/* Read again under the lock: a commit may have finished meanwhile. */
				if (gen_base_latest(s, base, &latest, NULL) < 0 || g <= latest)
					continue;
			}
		} else
			continue;
		if (rm_rf_at(gfd, de->d_name) == 0)
			removed++;
	}
	return removed;
}

/* ---- transactions ---- */

void gen_txn_done(struct gen_txn *t)
{
	if (t->tmp_name && !t->committed && t->gens_fd >= 0) {
		/* The scratch overlay lived in our own mount namespace: nothing is mounted here any more. */
		rm_rf_at(t->gens_fd, t->tmp_name);
	}
	if (t->gens_fd >= 0)
		close(t->gens_fd);
	if (t->tmp_fd >= 0)
		close(t->tmp_fd);
	diff_manifest_free(t->old);
	diff_manifest_free(t->built);
	free(t->base);
	free(t->tmp_name);
	free(t->tmp_path);
	memset(t, 0, sizeof(*t));
	t->gens_fd = t->tmp_fd = -1;
}

/* The highest number of a directory in gens/ (committed or not). */
static unsigned highest_gen_dir(int gens_fd)
{
	unsigned hi = 0, g;
	int dfd = openat(gens_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_closedir_ DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (parse_gen(de->d_name, &g) && g > hi)
			hi = g;
	return hi;
}

int gen_txn_begin(struct store *s, const char *base, struct gen_txn *t, struct lc_err *err)
{
	struct base_info b;
	struct lc_err e = { "" };
	unsigned latest;
	int r;

	memset(t, 0, sizeof(*t));
	t->gens_fd = t->tmp_fd = -1;
	t->s = s;
	if (!(t->base = strdup(base)))
		return -ENOMEM;
	gen_sweep_base(s, base, true);
	r = store_base_load(s, base, &b, err);
	if (r < 0)
		return r;
	t->from = b.current;
	base_info_done(&b);
	/* A new generation shares files with the current one by hard links: not with a read-only image. */
	if ((r = store_gen_is_image(s, base, t->from)) < 0)
		return lc_err_ret(err, r, "generation %u: %s", t->from, strerror(-r));
	t->from_image = r > 0;
	if ((r = gen_base_latest(s, base, &latest, NULL)) < 0)
		return lc_err_ret(err, r, "base.conf: %s", strerror(-r));
	_cleanup_close_ int bfd = base_fd_open(s, base);
	if (bfd < 0)
		return bfd;
	t->gens_fd = openat(bfd, "gens", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (t->gens_fd < 0)
		return lc_err_ret(err, -errno, "gens: %m");
	unsigned hi = highest_gen_dir(t->gens_fd);
	t->to = (hi > latest ? hi : latest) + 1;
	if (t->to == 0)
		return lc_err_ret(err, -EOVERFLOW, "no generation number left");

	_cleanup_free_ char *mpath = store_gen_manifest(s, base, t->from);
	if (!mpath)
		return -ENOMEM;
	r = diff_manifest_open(mpath, &t->old, &e);
	if (r < 0)
		return lc_err_ret(err, r, "manifest of generation %u (%s): %s", t->from, mpath,
			    r == -ENOENT ? "missing" : e.msg);

	if (asprintf(&t->tmp_name, ".new-%u@%d", t->to, (int)getpid()) < 0 ||
	    asprintf(&t->tmp_path, "%s/bases/%s/gens/%s", s->root, base, t->tmp_name) < 0)
		return -ENOMEM;
	/* Under the exclusive lock, one of our own name can only be a dead namesake's (a reused PID). */
	rm_rf_at(t->gens_fd, t->tmp_name);
	if (mkdirat(t->gens_fd, t->tmp_name, 0755) < 0)
		return lc_err_ret(err, -errno, "%s: %m", t->tmp_path);
	t->tmp_fd = openat(t->gens_fd, t->tmp_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (t->tmp_fd < 0)
		return lc_err_ret(err, -errno, "%s: %m", t->tmp_path);
	return 0;
}


/* ---- commit ---- */

static int write_gen_conf(struct gen_txn *t, const char *description, const char *source)
{
	_cleanup_settings_ struct settings *c = settings_new();
	char now[64], v[32];
	time_t tm = time(NULL);
	int r = 0;
	if (!c)
		return -ENOMEM;
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&tm));
	r = settings_set(c, "Generation", "Date", now);
	if (r == 0 && description)
		r = settings_set(c, "Generation", "Description", description);
	if (r == 0 && source)
		r = settings_set(c, "Generation", "Source", source);
	snprintf(v, sizeof(v), "%u", t->from);
	if (r == 0)
		r = settings_set(c, "Generation", "Parent", v);
	const struct { const char *k; uint64_t v; } counts[] = {
		{ "Changed", t->stats.changed }, { "Added", t->stats.added }, { "Removed", t->stats.removed },
		{ "Entries", t->stats.entries }, { "NewFiles", t->stats.new_files }, { "NewBytes", t->stats.new_bytes },
	};
	for (size_t i = 0; r == 0 && i < ELEMENTSOF(counts); i++) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)counts[i].v);
		r = settings_set(c, "Generation", counts[i].k, v);
	}
	return r < 0 ? r : settings_save(c, t->tmp_fd, "gen.conf");
}

int gen_txn_commit(struct gen_txn *t, const char *description, const char *source, struct lc_err *err)
{
	struct lc_err e = { "" };
	char num[16];
	int r;

	if (!t->built)
		return lc_err_ret(err, -EINVAL, "nothing built");
	/* The scratch overlay's dirs are not part of the generation. */
	for (const char *const *d = (const char *const[]){ "upper", "work", "root", NULL }; *d; d++)
		if ((r = rm_rf_at(t->tmp_fd, *d)) < 0)
			return lc_err_ret(err, r, "%s/%s: remove: %s", t->tmp_path, *d, strerror(-r));
	_cleanup_free_ char *mpath = NULL;
	if (asprintf(&mpath, "%s/manifest", t->tmp_path) < 0)
		return -ENOMEM;
	if ((r = diff_manifest_write(t->built, mpath, &e)) < 0)
		return lc_err_ret(err, r, "manifest: %s", e.msg);
	gen_crash_point(3);
	if ((r = write_gen_conf(t, description, source)) < 0)
		return lc_err_ret(err, r, "gen.conf: %s", strerror(-r));
	/* Every file of the tree durable before the rename makes it visible (an image: its few files). */
	r = faccessat(t->tmp_fd, "image", F_OK, AT_SYMLINK_NOFOLLOW) == 0 ? store_image_gen_sync(t->tmp_fd)
		: syncfs(t->tmp_fd) < 0 ? -errno : 0;
	if (r < 0)
		return lc_err_ret(err, r, "sync: %s", strerror(-r));
	gen_crash_point(4);
	snprintf(num, sizeof(num), "%u", t->to);
	if (renameat2(t->gens_fd, t->tmp_name, t->gens_fd, num, RENAME_NOREPLACE) < 0)
		return lc_err_ret(err, -errno, "rename %s to gens/%s: %m", t->tmp_name, num);
	if (fsync(t->gens_fd) < 0)
		return lc_err_ret(err, -errno, "fsync gens: %m");
	gen_crash_point(5);
	_cleanup_close_ int bfd = base_fd_open(t->s, t->base);
	if (bfd < 0 || (r = base_conf_switch(bfd, t->to, t->to, err)) < 0) {
		/* Not committed: take the renamed dir back out of sight. */
		rm_rf_at(t->gens_fd, num);
		return bfd < 0 ? lc_err_ret(err, bfd, "base dir: %s", strerror(-bfd)) : r;
	}
	t->committed = true;
	gen_crash_point(6);
	return 0;
}

/* ---- current generation, removal ---- */

static int gen_exists(struct store *s, const char *base, unsigned gen)
{
	_cleanup_free_ char *tree = store_gen_tree(s, base, gen);
	struct stat st;
	if (!tree)
		return -ENOMEM;
	if (lstat(tree, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int gen_set_current(struct store *s, const char *base, unsigned gen, struct lc_err *err)
{
	unsigned latest;
	int r = gen_base_latest(s, base, &latest, NULL);
	if (r < 0)
		return lc_err_ret(err, r, "base.conf: %s", strerror(-r));
	if (gen > latest || (r = gen_exists(s, base, gen)) < 0)
		return lc_err_ret(err, -ENOENT, "no generation %u", gen);
	_cleanup_close_ int bfd = base_fd_open(s, base);
	if (bfd < 0)
		return bfd;
	return base_conf_switch(bfd, gen, 0, err);
}

int gen_remove(struct store *s, const char *base, unsigned gen, struct lc_err *err)
{
	_cleanup_free_ char *rel = NULL;
	if (asprintf(&rel, "bases/%s/gens/%u", base, gen) < 0)
		return -ENOMEM;
	/* An image no child uses may still be mounted (run leaves it): never remove through a mount. */
	int r = store_gen_image_release_all(s, base, gen, err);
	if (r < 0)
		return r;
	r = remove_atomically(s->root_fd, rel);
	return r < 0 ? lc_err_ret(err, r, "remove generation %u: %s", gen, strerror(-r)) : 0;
}

/* ---- disk use ---- */

/* inode -> links seen, for inodes with more than one link (open addressing). */
struct inode_slot {
	uint64_t ino;           /* 0: empty */
	uint32_t seen, nlink;
	uint64_t bytes;
};
struct inode_map {
	struct inode_slot *v;
	size_t n, cap;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static int imap_add(struct inode_map *m, const struct stat *st)
{
	if (2 * (m->n + 1) > m->cap) {
		size_t nc = m->cap ? 2 * m->cap : 4096;
		struct inode_slot *nv = calloc(nc, sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		for (size_t i = 0; i < m->cap; i++)
			if (m->v[i].ino) {
				size_t k = mix(m->v[i].ino) & (nc - 1);
				while (nv[k].ino)
					k = (k + 1) & (nc - 1);
				nv[k] = m->v[i];
			}
		free(m->v);
		m->v = nv;
		m->cap = nc;
	}
	uint64_t ino = (uint64_t)st->st_ino ? (uint64_t)st->st_ino : UINT64_MAX;
	size_t k = mix(ino) & (m->cap - 1);
	while (m->v[k].ino && m->v[k].ino != ino)
		k = (k + 1) & (m->cap - 1);
	if (!m->v[k].ino) {
		m->v[k] = (struct inode_slot){ .ino = ino, .nlink = (uint32_t)st->st_nlink,
					       .bytes = (uint64_t)st->st_blocks * 512 };
		m->n++;
	}
	m->v[k].seen++;
	return 0;
}

/*
 * Add everything below dirfd: directories and single-link inodes count at once.
 * Never into another file system (an image generation's tree is its image,
 * mounted: the image file is what the store holds).
 */
static int held_walk(int dirfd, dev_t dev, struct inode_map *m, uint64_t *bytes)
{
	_cleanup_closedir_ DIR *d = open_dir_stream(dirfd);
	if (!d)
		return -errno;
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		if (dot_or_dotdot(de->d_name))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (S_ISDIR(st.st_mode)) {
			if (st.st_dev != dev)
				continue;
			*bytes += (uint64_t)st.st_blocks * 512;
			_cleanup_close_ int fd = open_subdir(dirfd, de->d_name);
			if (fd < 0)
				return -errno;
			int r = held_walk(fd, dev, m, bytes);
			if (r < 0)
				return r;
		} else if (st.st_nlink <= 1)
			*bytes += (uint64_t)st.st_blocks * 512;
		else {
			int r = imap_add(m, &st);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int gen_disk_held(struct store *s, const char *base, const unsigned *gens, size_t n, uint64_t *ret_bytes,
		  struct lc_err *err)
{
	struct inode_map m = {};
	uint64_t bytes = 0;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		_cleanup_free_ char *dir = store_gen_dir(s, base, gens[i]);
		_cleanup_close_ int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
		if (fd < 0) {
			r = lc_err_ret(err, dir ? -errno : -ENOMEM, "generation %u: %m", gens[i]);
			break;
		}
		struct stat st;
		if (fstat(fd, &st) < 0) {
			r = lc_err_ret(err, -errno, "generation %u: %m", gens[i]);
			break;
		}
		bytes += (uint64_t)st.st_blocks * 512;
		if ((r = held_walk(fd, st.st_dev, &m, &bytes)) < 0)
			lc_err_set(err, "generation %u: %s", gens[i], strerror(-r));
	}
	for (size_t i = 0; i < m.cap; i++)
		if (m.v[i].ino && m.v[i].seen >= m.v[i].nlink)
			bytes += m.v[i].bytes;
	free(m.v);
	if (r == 0)
		*ret_bytes = bytes;
	return r;
}
