/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The store: layout, names, locks, loading base and child records, mounts. */
#include <ctype.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <xxhash.h>

#include "src/basic/strutil.h"
#include "src/store/uidrange.h"

#include "src/store/store.h"
#include "src/store/refresh.h"
#include "src/store/generation.h"
#include "overlay/overlay.h"

int name_validate(const char *name, const char **why)
{
	const char *dummy;
	size_t n = strlen(name);
	if (!why)
		why = &dummy;
	if (n == 0)
		return *why = "must not be empty", -EINVAL;
	if (n > NAME_MAX_LEN)
		return *why = "must be at most 64 bytes", -EINVAL;
	if (name[0] == '.' || name[0] == '-')
		return *why = "must not start with '.' or '-'", -EINVAL;
	for (const char *p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (!(lc_isalnum_ascii(c) || c == '-' || c == '_' || c == '.'))
			return *why = "may only hold ASCII letters, digits, '-', '_' and '.'", -EINVAL;
		if (c == '.' && p[1] == '.')
			return *why = "must not hold '..' (an empty hostname label)", -EINVAL;
	}
	if (name[n - 1] == '.')
		return *why = "must not end with '.'", -EINVAL;
	return 0;
}

static char *path_join(const char *a, const char *b, const char *c, const char *d)
{
	return lc_strjoin(a, "/", b, c ? "/" : "", c ? c : "", d ? "/" : "", d ? d : "", NULL);
}

static int make_runtime_path(struct store *s, const char *runtime)
{
	const char *base = runtime;
	if (!base || !*base)
		base = getenv("LAYERCTL_RUNTIME_DIR");
	if (!base || !*base)
		base = STORE_DEFAULT_RUNTIME;
	if (strcmp(s->root, STORE_DEFAULT_ROOT) == 0 || (runtime && *runtime)) {
		s->runtime = strdup(base);
		return s->runtime ? 0 : -ENOMEM;
	}
	/* A non-default store without its own runtime dir: keep it apart from others. */
	char hex[17];
	s->runtime = lc_strjoin(base, "/stores/", lc_hex64(XXH3_64bits(s->root, strlen(s->root)), hex), NULL);
	return s->runtime ? 0 : -ENOMEM;
}

int store_open(struct store *s, const char *root, const char *runtime, bool create)
{
	char real[PATH_MAX];
	int r;

	memset(s, 0, sizeof(*s));
	s->root_fd = -1;
	if (!root || !*root)
		root = getenv("LAYERCTL_ROOT");
	if (!root || !*root)
		root = STORE_DEFAULT_ROOT;
	/*
	 * A newline cannot be carried by mountinfo or fstab; libmount takes '"'
	 * for quoting when it splits mount options.  Refuse both up front.
	 */
	if (strchr(root, '\n') || strchr(root, '"'))
		return -EINVAL;
	if (create) {
		r = mkdir_p(root, 0700);
		if (r < 0)
			return r;
	}
	if (!realpath(root, real))
		return -errno;
	if (!(s->root = strdup(real)))
		return -ENOMEM;
	s->root_fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0) {
		r = -errno;
		store_close(s);
		return r;
	}
	if (create)
		for (const char *const *d = (const char *const[]){ "bases", "children", "locks", NULL }; *d; d++)
			if (mkdirat(s->root_fd, *d, 0755) < 0 && errno != EEXIST) {
				r = -errno;
				store_close(s);
				return r;
			}
	r = make_runtime_path(s, runtime);
	if (r < 0)
		store_close(s);
	return r;
}

void store_close(struct store *s)
{
	if (s->root_fd >= 0)
		close(s->root_fd);
	free(s->root);
	free(s->runtime);
	memset(s, 0, sizeof(*s));
	s->root_fd = -1;
}

static int open_lock_file(struct store *s, const char *file)
{
	if (mkdirat(s->root_fd, "locks", 0755) < 0 && errno != EEXIST)
		return -errno;
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "locks/%s", file) < 0)
		return -ENOMEM;
	int fd = openat(s->root_fd, path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	return fd < 0 ? -errno : fd;
}

/*
 * A child lock held by a lingering overlay (linger.c) is asked for at once
 * rather than waited for (up to LAYERCTL_RUN_LINGER seconds).  Costs
 * nothing when the lock is free: the first try is the only one.
 */
static bool try_then_ask_lingerer(struct store *s, int fd, int op, const char *child)
{
	if (flock(fd, op | LOCK_NB) == 0)
		return true;
	if (errno == EWOULDBLOCK)
		store_linger_release(s, child);
	return false;
}

static int lock_file(struct store *s, const char *file, int op, const char *child)
{
	int fd = open_lock_file(s, file);
	if (fd < 0)
		return fd;
	if (child && !(op & LOCK_NB) && try_then_ask_lingerer(s, fd, op, child))
		return fd;
	while (flock(fd, op) < 0) {
		if (errno == EINTR)
			continue;
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int store_lock(struct store *s, enum lock_kind kind, const char *name, int op)
{
	char file[NAME_MAX_LEN + 16];
	if (name_validate(name, NULL) < 0)
		return -EINVAL;
	snprintf(file, sizeof(file), "%s.%s", kind == LOCK_BASE ? "base" : "child", name);
	int fd = lock_file(s, file, op, kind == LOCK_CHILD ? name : NULL);
	/*
	 * Whoever next holds a child exclusively finishes or rolls back what a
	 * killed refresh left (src/store/refresh.c): every command then sees
	 * the child fully on one generation.  Two stats when there is nothing.
	 */
	if (fd >= 0 && kind == LOCK_CHILD && (op & LOCK_EX)) {
		int r = refresh_recover(s, name, NULL);
		if (r < 0) {
			close(fd);
			return r;
		}
	}
	return fd;
}

int store_lock_child_or_borrow(struct store *s, const char *name, int *ret_mnt, int *ret_conn)
{
	char file[NAME_MAX_LEN + 16];
	*ret_mnt = *ret_conn = -1;
	if (name_validate(name, NULL) < 0)
		return -EINVAL;
	snprintf(file, sizeof(file), "child.%s", name);
	int fd = open_lock_file(s, file);
	if (fd < 0)
		return fd;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int lock = -1;
		int conn = errno == EWOULDBLOCK ? store_linger_borrow(s, name, fd, &lock, ret_mnt) : -1;
		close(fd);
		if (conn < 0)
			return store_lock(s, LOCK_CHILD, name, LOCK_EX);
		/* The lingerer held the child since the last run: nothing for refresh_recover to find. */
		*ret_conn = conn;
		return lock;
	}
	int r = refresh_recover(s, name, NULL);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int store_lock_global(struct store *s, int op)
{
	return lock_file(s, "store", op, NULL);
}

char *store_base_dir(const struct store *s, const char *base)
{
	return path_join(s->root, "bases", base, NULL);
}

char *store_gen_dir(const struct store *s, const char *base, unsigned gen)
{
	char g[32];
	snprintf(g, sizeof(g), "gens/%u", gen);
	return path_join(s->root, "bases", base, g);
}

char *store_gen_tree(const struct store *s, const char *base, unsigned gen)
{
	char g[40];
	snprintf(g, sizeof(g), "gens/%u/tree", gen);
	return path_join(s->root, "bases", base, g);
}

char *store_gen_manifest(const struct store *s, const char *base, unsigned gen)
{
	char g[40];
	snprintf(g, sizeof(g), "gens/%u/manifest", gen);
	return path_join(s->root, "bases", base, g);
}

char *store_child_dir(const struct store *s, const char *child)
{
	return path_join(s->root, "children", child, NULL);
}

char *store_child_path(const struct store *s, const char *child, const char *leaf)
{
	return path_join(s->root, "children", child, leaf);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Valid names of directories in root/sub, sorted; skips in-progress and trash entries. */
static int list_dir(struct store *s, const char *sub, char ***ret, size_t *ret_n)
{
	char **v = calloc(1, sizeof(*v));
	size_t n = 0;
	struct lc_dirents d;
	const char *name;
	if (!v)
		return -ENOMEM;
	int r = lc_dirents_open(&d, s->root_fd, sub);
	if (r == -ENOENT) {
		*ret = v;
		*ret_n = 0;
		return 0;
	}
	if (r < 0) {
		free(v);
		return r;
	}
	while ((r = lc_dirents_next(&d, &name)) > 0) {
		if (name_validate(name, NULL) < 0)
			continue;
		char **nv = realloc(v, (n + 2) * sizeof(*v));
		if (!nv || !(nv[n] = strdup(name))) {
			v = nv ? nv : v;
			r = -ENOMEM;
			break;
		}
		v = nv;
		v[++n] = NULL;
	}
	lc_dirents_close(&d);
	if (r < 0) {
		strv_free(v);
		return r;
	}
	qsort(v, n, sizeof(*v), cmp_str);
	*ret = v;
	*ret_n = n;
	return 0;
}

int store_list_bases(struct store *s, char ***ret, size_t *n)
{
	return list_dir(s, "bases", ret, n);
}

int store_list_children(struct store *s, char ***ret, size_t *n)
{
	return list_dir(s, "children", ret, n);
}

void base_info_done(struct base_info *b)
{
	free(b->name);
	free(b->description);
	free(b->source);
	free(b->gens);
	settings_free(b->conf);
	memset(b, 0, sizeof(*b));
}

void child_info_done(struct child_info *c)
{
	free(c->name);
	free(c->base);
	settings_free(c->conf);
	memset(c, 0, sizeof(*c));
}

static int cmp_uint(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return x < y ? -1 : x > y;
}

static int list_gens(int base_fd, unsigned **ret, size_t *ret_n)
{
	_cleanup_closedir_ DIR *d = NULL;
	unsigned *v = NULL;
	size_t n = 0;
	int r = lc_opendirat(base_fd, "gens", 0, &d);
	if (r < 0)
		return r;
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		unsigned long g = strtoul(de->d_name, &end, 10);
		if (*end || g == 0 || g > UINT_MAX)
			continue;
		unsigned *nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			free(v);
			return -ENOMEM;
		}
		v = nv;
		v[n++] = (unsigned)g;
	}
	qsort(v, n, sizeof(*v), cmp_uint);
	*ret = v;
	*ret_n = n;
	return 0;
}

/* A settings file that is there but says nothing usable. */
#define set_err(err, ...) lc_err_ret((err), -EBADMSG, __VA_ARGS__)

int store_base_load(struct store *s, const char *name, struct base_info *ret, struct lc_err *err)
{
	_cleanup_free_ char *sub = NULL;
	unsigned long cur;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (name_validate(name, NULL) < 0)
		return -EINVAL;
	if (asprintf(&sub, "bases/%s", name) < 0)
		return -ENOMEM;
	_cleanup_close_ int fd = openat(s->root_fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = settings_load(fd, "base.conf", &ret->conf, err);
	if (r < 0) {
		if (r == -ENOENT)
			return set_err(err, "base.conf: missing");
		return r;
	}
	r = settings_get_uint(ret->conf, "Base", "Current", &cur);
	if (r < 0 || cur == 0 || cur > UINT_MAX) {
		base_info_done(ret);
		return set_err(err, "base.conf: [Base] Current= %s", r == -ENOENT ? "is missing" : "is not a generation number");
	}
	ret->current = (unsigned)cur;
	r = list_gens(fd, &ret->gens, &ret->n_gens);
	if (r < 0) {
		base_info_done(ret);
		return r;
	}
	/*
	 * Latest= is the commit record of generations (src/store/generation.h):
	 * a directory above it is what a killed commit left, not a generation.
	 */
	unsigned long latest;
	if (settings_get_uint(ret->conf, "Base", "Latest", &latest) < 0 || latest < cur)
		latest = cur;
	while (ret->n_gens > 0 && ret->gens[ret->n_gens - 1] > latest)
		ret->n_gens--;
	bool current_present = false;
	for (size_t i = 0; i < ret->n_gens; i++)
		current_present |= ret->gens[i] == ret->current;
	if (!current_present) {
		unsigned cur_gen = ret->current;
		base_info_done(ret);
		return set_err(err, "base.conf: [Base] Current=%u names a generation that does not exist (no gens/%u)",
			       cur_gen, cur_gen);
	}
	const char *desc = settings_get(ret->conf, "Base", "Description");
	const char *src = settings_get(ret->conf, "Base", "Source");
	ret->name = strdup(name);
	ret->description = desc ? strdup(desc) : NULL;
	ret->source = src ? strdup(src) : NULL;
	if (!ret->name) {
		base_info_done(ret);
		return -ENOMEM;
	}
	return 0;
}

int store_child_load(struct store *s, const char *name, struct child_info *ret, struct lc_err *err)
{
	_cleanup_free_ char *sub = NULL;
	unsigned long gen;
	const char *why;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (name_validate(name, NULL) < 0)
		return -EINVAL;
	if (!(sub = lc_strjoin("children/", name, "/child.conf", NULL)))
		return -ENOMEM;
	/*
	 * One open of children/NAME/child.conf, no symlink followed; when that
	 * fails, the walk below tells which component is missing or wrong.
	 */
	_cleanup_close_ int conf_fd = lc_open_nofollow(s->root_fd, sub, O_RDONLY);
	if (conf_fd >= 0)
		r = settings_load_fd(conf_fd, "child.conf", &ret->conf, err);
	else {
		sub[strlen(sub) - strlen("/child.conf")] = '\0';
		_cleanup_close_ int fd = openat(s->root_fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return errno == ELOOP || errno == ENOTDIR ? set_err(err, "%s is not a directory (symlinks are refused inside the store)", sub) : -errno;
		r = settings_load(fd, "child.conf", &ret->conf, err);
	}
	if (r < 0)
		return r == -ENOENT ? set_err(err, "child.conf: missing") : r;
	const char *base = settings_get(ret->conf, "Child", "Base");
	if (!base || name_validate(base, &why) < 0) {
		child_info_done(ret);
		return set_err(err, "child.conf: [Child] Base= %s", base ? "is not a valid base name" : "is missing");
	}
	r = settings_get_uint(ret->conf, "Child", "Generation", &gen);
	if (r < 0 || gen == 0 || gen > UINT_MAX) {
		child_info_done(ret);
		return set_err(err, "child.conf: [Child] Generation= %s", r == -ENOENT ? "is missing" : "is not a generation number");
	}
	ret->gen = (unsigned)gen;
	ret->name = strdup(name);
	ret->base = strdup(base);
	if (!ret->name || !ret->base) {
		child_info_done(ret);
		return -ENOMEM;
	}
	return 0;
}

int store_child_check_base(struct store *s, const struct child_info *c, struct lc_err *err)
{
	_cleanup_free_ char *rel = NULL;
	if (asprintf(&rel, "bases/%s", c->base) < 0)
		return -ENOMEM;
	if (faccessat(s->root_fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		int r = -errno;
		if (r == -ENOENT)
			lc_err_set(err, "no base named %s (child.conf: [Child] Base=%s)", c->base, c->base);
		return r;
	}
	free(rel);
	rel = NULL;
	if (asprintf(&rel, "bases/%s/gens/%u", c->base, c->gen) < 0)
		return -ENOMEM;
	if (faccessat(s->root_fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		int r = -errno;
		if (r == -ENOENT)
			lc_err_set(err, "base %s has no generation %u (child.conf: [Child] Generation=%u)", c->base, c->gen,
				   c->gen);
		return r;
	}
	return 0;
}

int store_child_save_conf(struct store *s, const char *name, const struct settings *conf)
{
	_cleanup_free_ char *sub = NULL;
	if (asprintf(&sub, "children/%s", name) < 0)
		return -ENOMEM;
	_cleanup_close_ int fd = openat(s->root_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return settings_save(conf, fd, "child.conf");
}

int store_child_is_mounted(struct store *s, const struct child_info *c)
{
	_cleanup_free_ char *target = store_child_path(s, c->name, "root");
	_cleanup_free_ char *upper = store_child_path(s, c->name, "upper");
	if (!target || !upper)
		return -ENOMEM;
	return ov_is_mounted(target, upper);
}

/*
 * Every path component from the store root down to each leaf must be a real
 * directory: mount state is matched by path string against the kernel's mount
 * table, and a symlink anywhere would make a mounted child look unmounted.
 */
static int check_real_dirs(struct store *s, const char *const *rels, struct lc_err *err)
{
	for (; *rels; rels++) {
		_cleanup_free_ char *p = strdup(*rels);
		if (!p)
			return -ENOMEM;
		for (char *slash = p;; slash++) {
			slash = strchr(slash, '/');
			if (slash)
				*slash = '\0';
			struct stat st;
			if (fstatat(s->root_fd, p, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				int r = -errno;
				return lc_err_ret(err, r, "%s/%s: %s", s->root, p, strerror(-r));
			}
			if (!S_ISDIR(st.st_mode)) {
				return lc_err_ret(err, -ENOTDIR,
						  "%s/%s is not a directory (symlinks are refused inside the store)", s->root, p);
			}
			if (!slash)
				break;
			*slash = '/';
		}
	}
	return 0;
}

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U /* Linux 6.8 */
#endif

/*
 * What names one file system for the probe cache: its type, its device
 * number and f_fsid.  Anonymous device numbers (tmpfs, overlayfs, btrfs
 * subvolumes) are handed out again once freed, but a file system of another
 * type in the old one's place has another key, and one of the same type
 * answers the probe the same way.  Not the mount's ID: `run` mounts in a
 * private mount namespace whose copies of the store's mount have IDs of
 * their own, which made every run probe again and leave one more mark.
 * Returns 1 with a key.
 */
static int probe_cache_key(const char *dir, char *key, size_t size)
{
	struct statfs sfs;
	struct stat st;
	if (statfs(dir, &sfs) < 0 || stat(dir, &st) < 0)
		return -errno;
	snprintf(key, size, "%lx-%x:%x-%x%08x", (unsigned long)sfs.f_type, major(st.st_dev), minor(st.st_dev),
		 (unsigned)sfs.f_fsid.__val[0], (unsigned)sfs.f_fsid.__val[1]);
	return 1;
}

/*
 * The storage probe (a scratch dir, file, readdir and trusted.* xattr in the
 * store) costs about half a millisecond — a tenth of a whole `run`.  Its
 * answer only changes with the file system, so a success is remembered in
 * the runtime dir (a tmpfs: forgotten at reboot) per mounted file system
 * (probe_cache_key).
 */
/* The storage check, its refusal naming the file system (libblkid: type, device, label). */
static int check_upper_fs(const char *dir, struct lc_err *e)
{
	char fs[256], msg[sizeof(e->msg)];
	int r = ov_check_upper_fs(dir, e);
	if (r < 0 && e && e->msg[0] && store_describe_fs(dir, fs, sizeof(fs)) == 0) {
		snprintf(msg, sizeof(msg), "%s", e->msg);
		lc_err_set(e, "%s (the store is on %s)", msg, fs);
	}
	return r;
}

static int check_fs_cached(struct store *s, const char *dir, const char *what,
			   int (*probe)(const char *dir, struct lc_err *e), struct lc_err *e)
{
	char key[96];
	_cleanup_free_ char *mark = NULL;
	int r = probe_cache_key(dir, key, sizeof(key));
	if (r < 0)
		return r;
	if (r == 0)
		return probe(dir, e);
	if (asprintf(&mark, "%s/%s/%s", s->runtime, what, key) < 0)
		return -ENOMEM;
	if (access(mark, F_OK) == 0)
		return 0;
	r = probe(dir, e);
	if (r < 0)
		return r;
	char *slash = strrchr(mark, '/');
	*slash = '\0';
	if (mkdir_p(mark, 0755) == 0) {
		*slash = '/';
		int fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
	}
	return 0;
}

static int check_upper_fs_cached(struct store *s, const char *dir, struct lc_err *e)
{
	return check_fs_cached(s, dir, "upper-fs-ok", check_upper_fs, e);
}

/* User-namespace mode: can the kernel and the store's file system idmap a lower?  Remembered like the above. */
int store_check_idmapped_cached(struct store *s, struct lc_err *e)
{
	/*
	 * Also once per process: run asks before it makes its private mount
	 * namespace, where the store's mount has a new ID, so the file cache
	 * (keyed by it) would miss and probe again.
	 */
	static bool ok;
	if (ok)
		return 0;
	int r = check_fs_cached(s, s->root, "idmap-ok", ov_check_idmapped, e);
	ok = r == 0;
	return r;
}

/*
 * The child's overlay, mounted at its root dir (detached_fd NULL: returns 1
 * when it is mounted there already) or made as a detached mount whose fd is
 * put in *detached_fd.
 */
static int child_mount(struct store *s, const struct child_info *c, int *detached_fd, struct lc_err *err)
{
	_cleanup_free_ char *tree = store_gen_tree(s, c->base, c->gen);
	_cleanup_free_ char *upper = store_child_path(s, c->name, "upper");
	_cleanup_free_ char *work = store_child_path(s, c->name, "work");
	_cleanup_free_ char *target = store_child_path(s, c->name, "root");
	_cleanup_free_ char *dir = store_child_dir(s, c->name);
	_cleanup_free_ char *rel_tree = NULL, *rel_upper = NULL, *rel_work = NULL, *rel_root = NULL;
	int r;

	if (!tree || !upper || !work || !target || !dir)
		return -ENOMEM;
	if (asprintf(&rel_tree, "bases/%s/gens/%u/tree", c->base, c->gen) < 0 ||
	    asprintf(&rel_upper, "children/%s/upper", c->name) < 0 || asprintf(&rel_work, "children/%s/work", c->name) < 0 ||
	    asprintf(&rel_root, "children/%s/root", c->name) < 0)
		return -ENOMEM;
	r = check_real_dirs(s, (const char *const[]){ rel_upper, rel_work, rel_root, NULL }, err);
	if (r < 0)
		return r;
	r = check_real_dirs(s, (const char *const[]){ rel_tree, NULL }, err);
	if (r < 0) {
		/* A missing base or generation says so instead of naming a path. */
		if (r == -ENOENT) {
			int k = store_child_check_base(s, c, err);
			if (k < 0)
				return k;
		}
		return r;
	}
	/* Detached, it is attached where the caller knows nothing is (run: in the container's namespace). */
	r = detached_fd ? 0 : ov_is_mounted(target, upper);
	if (r == -EBUSY) {
		return lc_err_ret(err, r, "something other than this child's overlay is mounted at %s", target);
	}
	if (r != 0)
		return r < 0 ? r : 1;
	/* A shift of the upper's owners a killed command left is finished first (shift.c). */
	if ((r = store_child_shift_finish(s, (struct child_info *)c, &s->warn, err)) < 0)
		return r;
	r = ov_kernel_supported(err);
	if (r == 0)
		r = check_upper_fs_cached(s, dir, err);
	struct uid_range shift;
	if (r == 0 && (r = store_child_upper_shift(c, &shift)) < 0)
		lc_err_set(err, "child.conf: Child.UpperShift= is not BASE:COUNT");
	if (r == 0 && shift.count)
		r = store_check_idmapped_cached(s, err);
	/* An image generation (--keep-image) is mounted on its tree first (image-gen.c). */
	if (r == 0)
		r = store_gen_image_mount(s, c->base, c->gen, err);
	if (r == 0) {
		const char *lowers[] = { tree };
		struct ov_layers l = { .lowers = lowers, .n_lowers = 1, .upper = upper, .work = work };
		/* An upper stored shifted sees the lower through the same shift (uidrange.h). */
		if (!detached_fd)
			r = shift.count ? ov_mount_idmapped(&l, target, shift.base, shift.count, err) : ov_mount(&l, target, err);
		else if (shift.count)
			r = lc_err_ret(err, -EOPNOTSUPP, "a detached overlay with an idmapped lower is not made here");
		else if ((r = ov_mount_detached(&l, err)) >= 0) {
			*detached_fd = r;
			r = 0;
		}
		if (r < 0)
			store_gen_image_release(s, c->base, c->gen, NULL);
	}
	return r;
}

int store_child_mount(struct store *s, const struct child_info *c, struct lc_err *err)
{
	return child_mount(s, c, NULL, err);
}

int store_child_mount_detached(struct store *s, const struct child_info *c, struct lc_err *err)
{
	int fd = -1;
	int r = child_mount(s, c, &fd, err);
	return r < 0 ? r : fd;
}

int store_child_umount(struct store *s, const struct child_info *c, struct lc_err *err)
{
	_cleanup_free_ char *target = store_child_path(s, c->name, "root");
	_cleanup_free_ char *upper = store_child_path(s, c->name, "upper");
	if (!target || !upper)
		return -ENOMEM;
	/* Never unmount what is not this child's overlay. */
	int r = ov_is_mounted(target, upper);
	if (r == -EBUSY) {
		return lc_err_ret(err, r, "something other than this child's overlay is mounted at %s; not touching it", target);
	}
	if (r <= 0)
		return r < 0 ? r : 1;
	r = ov_umount(target, err);
	/* The last child of an image generation unmounts the image. */
	if (r == 0)
		store_gen_image_release(s, c->base, c->gen, NULL);
	return r;
}

/* PID in ".new-NAME@PID" / ".trash-NAME@PID.NSEC", or 0 if the name is not ours. */
pid_t store_leftover_pid(const char *entry)
{
	if (strncmp(entry, ".new-", 5) != 0 && strncmp(entry, ".trash-", 7) != 0)
		return 0;
	const char *at = strrchr(entry, '@');
	if (!at || !isdigit((unsigned char)at[1]))
		return 0;
	char *end;
	long pid = strtol(at + 1, &end, 10);
	if ((*end != '\0' && *end != '.') || pid <= 0 || pid > INT_MAX)
		return 0;
	return (pid_t)pid;
}

/* A leftover whose owner is gone: not ours (pid 0), being made or removed (alive), or garbage. */
static bool owner_gone(pid_t pid)
{
	return pid > 0 && pid != getpid() && kill(pid, 0) < 0 && errno == ESRCH;
}

/* Every leftover in root/sub whose owner is gone (reads the whole directory). */
static int sweep_dir(struct store *s, const char *sub)
{
	int removed = 0;
	_cleanup_close_ int fd = -1;
	_cleanup_closedir_ DIR *d = NULL;
	if (lc_opendirat_with_fd(s->root_fd, sub, &fd, &d) < 0)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (owner_gone(store_leftover_pid(de->d_name)) && rm_rf_at(fd, de->d_name) == 0)
			removed++;
	return removed;
}

/*
 * In-flight records: children/ may hold thousands of entries, and reading
 * it whole at every create and rm made both cost O(children).  A create or
 * an rm records the leftover it may leave (RUNTIME/inflight/LEFTOVER)
 * before that can exist, and drops the record once it cannot any more.  A
 * killed command leaves its record behind (the runtime dir outlives it); a
 * reboot empties the runtime dir, RUNTIME/swept with it, and the first
 * sweep after it reads children/ whole again.  The leftovers stay next to
 * their entries (a rename within one directory), so nothing about their
 * atomicity changes.
 */
static char *runtime_file(struct store *s, const char *leaf)
{
	char *p;
	return asprintf(&p, "%s/%s", s->runtime, leaf) < 0 ? NULL : p;
}

/* children/ must be read whole by the next sweep (a record that could not be written). */
static int forget_swept(struct store *s)
{
	_cleanup_free_ char *stamp = runtime_file(s, "swept");
	if (!stamp)
		return -ENOMEM;
	/* Asked first: unlink() on a read-only file system fails even for a name that is not there. */
	if (access(stamp, F_OK) < 0 && errno == ENOENT)
		return 0;
	return unlink(stamp) < 0 && errno != ENOENT ? -errno : 0;
}

int store_inflight_begin(struct store *s, const char *leftover)
{
	_cleanup_free_ char *dir = runtime_file(s, "inflight"), *path = NULL;
	if (!dir || asprintf(&path, "%s/%s", dir, leftover) < 0)
		return -ENOMEM;
	int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT && mkdir_p(dir, 0755) == 0)
		fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	int r = -errno;
	/* No record: then no stamp either, and the next sweep reads children/ whole. */
	return forget_swept(s) == 0 ? 0 : r;
}

void store_inflight_end(struct store *s, const char *leftover)
{
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/inflight/%s", s->runtime, leftover) >= 0)
		unlink(path);
}

/* The recorded leftovers in children/ whose owner is gone. */
static int sweep_recorded(struct store *s)
{
	_cleanup_free_ char *dir = runtime_file(s, "inflight");
	_cleanup_closedir_ DIR *d = dir ? opendir(dir) : NULL;
	int removed = 0;
	if (!d)
		return 0;
	_cleanup_close_ int cfd = -1;
	struct dirent *de;
	while ((de = readdir(d))) {
		pid_t pid = store_leftover_pid(de->d_name);
		/* Only a leftover's name is acted on (a file name: never a path); anything else is dropped. */
		if (pid == 0) {
			if (de->d_name[0] != '.')
				unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if (!owner_gone(pid))
			continue;
		if (cfd < 0 && (cfd = openat(s->root_fd, "children", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			break;
		/* Still there after (a mount inside, an immutable file): the record stays, a later sweep retries. */
		bool there = faccessat(cfd, de->d_name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
		if (there && rm_rf_at(cfd, de->d_name) < 0)
			continue;
		removed += there;
		unlinkat(dirfd(d), de->d_name, 0);
	}
	return removed;
}

int store_sweep(struct store *s)
{
	/* bases/ holds few entries: read whole every time. */
	int removed = sweep_dir(s, "bases");
	_cleanup_free_ char *stamp = runtime_file(s, "swept");
	if (stamp && access(stamp, F_OK) == 0)
		removed += sweep_recorded(s);
	else {
		/* The first sweep since boot (or since a record could not be written): children/ whole. */
		removed += sweep_dir(s, "children");
		removed += sweep_recorded(s);
		if (stamp) {
			int fd = open(stamp, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
			if (fd < 0 && errno == ENOENT && mkdir_p(s->runtime, 0755) == 0)
				fd = open(stamp, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
			if (fd >= 0)
				close(fd);
		}
	}
	/* What killed generation commits left inside each base. */
	char **bases = NULL;
	size_t n = 0;
	if (store_list_bases(s, &bases, &n) == 0)
		for (size_t i = 0; i < n; i++)
			removed += gen_sweep_base(s, bases[i], false);
	strv_free(bases);
	return removed;
}

static bool same_inode(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/*
 * Is `target` the directory `fd` or one of its ancestors?  Walks ".." on
 * descriptors (device + inode, never path strings: symlinks, "//", bind
 * mounts of the same directory all compare right).  Takes ownership of fd.
 */
static int dir_has_ancestor(int fd, const struct stat *target)
{
	for (;;) {
		struct stat st, up_st;
		if (fstat(fd, &st) < 0) {
			int r = -errno;
			close(fd);
			return r;
		}
		if (same_inode(&st, target)) {
			close(fd);
			return 1;
		}
		int up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(fd);
		if (up < 0)
			return -errno;
		if (fstat(up, &up_st) < 0 || same_inode(&up_st, &st)) { /* "/" is its own parent */
			close(up);
			return 0;
		}
		fd = up;
	}
}

int store_overlaps(const struct store *s, const char *path)
{
	struct stat path_st, root_st;
	if (stat(path, &path_st) < 0 || fstat(s->root_fd, &root_st) < 0)
		return -errno;
	/* A file (a tarball) is inside the store when its directory is. */
	_cleanup_free_ char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	int dir = open(S_ISDIR(path_st.st_mode) ? path : dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -errno;
	int r = dir_has_ancestor(dir, &root_st);
	if (r != 0)
		return r < 0 ? r : STORE_HOLDS_PATH;
	if (!S_ISDIR(path_st.st_mode))
		return 0; /* a file holds nothing */
	int root = fcntl(s->root_fd, F_DUPFD_CLOEXEC, 0);
	if (root < 0)
		return -errno;
	r = dir_has_ancestor(root, &path_st);
	return r <= 0 ? r : PATH_HOLDS_STORE;
}
