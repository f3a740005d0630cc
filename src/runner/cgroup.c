/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The container's cgroups: one of its own in every cgroup hierarchy, v1 and
 * v2, joined before its cgroup namespace is made.
 *
 * Why: a cgroup namespace is rooted at the cgroups its creator sits in.  If
 * that is the root cgroup of a v1 hierarchy (layerctl started from a shell
 * in the root cgroups of a hybrid host), root in the container with
 * CAP_SYS_ADMIN mounts the hierarchy (`mount -t cgroup -o none,name=systemd`)
 * and finds `release_agent`, which the kernel shows only in a hierarchy's
 * real root and runs as root on the host when a cgroup empties.  From a
 * cgroup below the root, the container's mount shows that cgroup as its
 * root, and no `release_agent` file exists there.  (systemd-nspawn gets the
 * same from its machine scope; crun from its per-container cgroups.)
 *
 * Layout: OURS/layerctl/STORE/NAME in each hierarchy, where OURS is the
 * runner's own cgroup there, STORE the store's runtime id and NAME the
 * child (the run lock makes STORE/NAME unique).  Removed when it ends.
 *
 * The parent makes the directories and opens them; the container's first
 * process writes "0" to each v1 `tasks` file before unshare(CLONE_NEWCGROUP)
 * (clone3's CLONE_INTO_CGROUP places it in the v2 one), because
 * CLONE_INTO_CGROUP knows only v2 and moving a process after its namespace
 * exists would not move the namespace's root.
 */
#include <dirent.h>
#include <fcntl.h>
#include "src/basic/mount-dl.h"   /* libmount, loaded on first use */
#include <sys/mount.h>
#include <sys/stat.h>

#include "src/basic/statmount.h"
#include "src/runner/runner.h"

struct hierarchy {
	bool v2;
	char *controllers;   /* "cpu,cpuacct", "name=systemd", "" for v2 */
	char *own;           /* our cgroup, as /proc/self/cgroup says */
};

/* Does a cgroup mount carry every controller (or name=) of the hierarchy? */
static bool mount_has_controllers(struct libmnt_fs *fs, const char *controllers)
{
	_cleanup_free_ char *list = strdup(controllers);
	char *save = NULL;
	if (!list)
		return false;
	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		char *val = NULL;
		size_t vlen = 0;
		if (eq)
			*eq = '\0';
		if (mnt_fs_get_option(fs, tok, &val, &vlen) != 0)
			return false;
		if (eq && (!val || vlen != strlen(eq + 1) || strncmp(val, eq + 1, vlen) != 0))
			return false;
	}
	return true;
}

/* Our cgroup own seen through a mount at target of the tree's part root; NULL if it is not below root. */
static char *dir_through_mount(const char *target, const char *root, const char *own)
{
	char *dir;
	size_t rl = STREQ(root, "/") ? 0 : strlen(root);
	if (strncmp(own, root, rl) != 0 || (own[rl] != '/' && own[rl] != '\0'))
		return NULL;   /* a bind mount of another part of the tree */
	const char *below = own + rl;
	return asprintf(&dir, "%s%s", target, STREQ(below, "/") ? "" : below) < 0 ? NULL : dir;
}

/*
 * cgroup2 where systemd mounts it (unified and hybrid hosts), asked of the
 * kernel (src/basic/statmount.h): a plain `run` needs no mount table, and
 * so no libmount, at all.  Anything else: the mount table.
 */
static char *own_cgroup_dir_v2_fast(const struct hierarchy *h)
{
	static const char *const where[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	for (size_t i = 0; i < ELEMENTSOF(where); i++) {
		struct lc_mount_info m;
		char *dir = NULL;
		if (lc_statmount_path(where[i], false, &m) <= 0)
			continue;
		if (STREQ(m.fs_type, "cgroup2") && STREQ(m.mnt_point, where[i]))
			dir = dir_through_mount(where[i], m.mnt_root, h->own);
		lc_mount_info_done(&m);
		if (dir)
			return dir;
	}
	return NULL;
}

/* Host path of our own cgroup in hierarchy h: its mount point plus our path below the mount's root. */
static char *own_cgroup_dir(struct libmnt_table **tb, const struct hierarchy *h)
{
	struct libmnt_fs *fs;
	char *dir = h->v2 ? own_cgroup_dir_v2_fast(h) : NULL;
	if (dir)
		return dir;
	if (!*tb && !(*tb = mnt_new_table_from_file("/proc/self/mountinfo")))
		return NULL;   /* read on first need only */
	struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
	if (!it)
		return NULL;
	while (!dir && mnt_table_next_fs(*tb, it, &fs) == 0) {
		const char *type = mnt_fs_get_fstype(fs), *root = mnt_fs_get_root(fs);
		if (!type || !root || !STREQ(type, h->v2 ? "cgroup2" : "cgroup"))
			continue;
		if (!h->v2 && !mount_has_controllers(fs, h->controllers))
			continue;
		dir = dir_through_mount(mnt_fs_get_target(fs), root, h->own);
	}
	mnt_free_iter(it);
	return dir;
}

/*
 * A hierarchy that exists but is mounted nowhere (a named one whose last
 * mount went while cgroups were left in it) can still be mounted inside.
 * Reach it through a detached mount of our own (fsopen/fsmount: attached
 * nowhere, gone with its descriptor), rooted, like any mount from our
 * cgroup namespace, at our namespace's root.  *ret_fd stays open while the
 * returned "/proc/self/fd/N/OWN" path is in use.
 */
static char *own_cgroup_dir_detached(const struct hierarchy *h, int *ret_fd)
{
	_cleanup_close_ int fs = fsopen("cgroup", FSOPEN_CLOEXEC);
	_cleanup_free_ char *list = strdup(h->controllers);
	char *save = NULL, *dir = NULL;
	if (fs < 0 || !list || h->v2)
		return NULL;
	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq++ = '\0';
		if (fsconfig(fs, eq ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, tok, eq, 0) < 0)
			return NULL;
		if (eq && fsconfig(fs, FSCONFIG_SET_FLAG, "none", NULL, 0) < 0)
			return NULL;
	}
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return NULL;
	int mfd = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (mfd < 0)
		return NULL;
	if (asprintf(&dir, "/proc/self/fd/%d%s", mfd, STREQ(h->own, "/") ? "" : h->own) < 0) {
		close(mfd);
		return NULL;
	}
	*ret_fd = mfd;
	return dir;
}

/*
 * Is dir a hierarchy's real root?  /proc/self/cgroup cannot say (its paths
 * are relative to our own cgroup namespace), the kernel's files can:
 * release_agent exists only in a v1 root, cgroup.type in every v2 cgroup
 * but the root.
 */
static bool is_real_root(const char *dir, bool v2)
{
	_cleanup_free_ char *p = NULL;
	if (asprintf(&p, "%s/%s", dir, v2 ? "cgroup.type" : "release_agent") < 0)
		return true;
	bool exists = access(p, F_OK) == 0;
	return v2 ? !exists : exists;
}

/* cpuset v1 refuses tasks in a cgroup with empty cpus/mems: give a new one its parent's. */
static int copy_cpuset(const char *parent, const char *dir)
{
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		char src[PATH_MAX + 32], dst[PATH_MAX + 32], buf[4096];
		snprintf(src, sizeof(src), "%s/%s", parent, files[i]);
		snprintf(dst, sizeof(dst), "%s/%s", dir, files[i]);
		_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
		if (in < 0)
			return errno == ENOENT ? 0 : -errno;   /* not the cpuset hierarchy */
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		_cleanup_close_ int out = open(dst, O_WRONLY | O_CLOEXEC);
		if (out < 0)
			return -errno;
		if (n > 0 && write(out, buf, n) < 0)
			return -errno;
	}
	return 0;
}

/* mkdir below base, one level at a time (each new cpuset level needs its parent's cpus). */
static int make_levels(const char *base, const char *rel)
{
	char dir[PATH_MAX], parent[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", base);
	_cleanup_free_ char *copy = strdup(rel);
	char *save = NULL;
	if (!copy)
		return -ENOMEM;
	for (char *tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		snprintf(parent, sizeof(parent), "%s", dir);
		if (snprintf(dir, sizeof(dir), "%s/%s", parent, tok) >= (int)sizeof(dir))
			return -ENAMETOOLONG;
		if (mkdir(dir, 0755) == 0) {
			int r = copy_cpuset(parent, dir);
			if (r < 0)
				return r;
		} else if (errno != EEXIST)
			return -errno;
	}
	return 0;
}

/* rmdir a cgroup and those made below it, deepest first (cgroupfs holds only directories to remove). */
static int rmdir_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	if (d) {
		while ((de = readdir(d)))
			if (de->d_type == DT_DIR && !STREQ(de->d_name, ".") && !STREQ(de->d_name, "..")) {
				char sub[PATH_MAX];
				if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) < (int)sizeof(sub))
					rmdir_tree(sub);
			}
		closedir(d);
	}
	return rmdir(path) < 0 ? -errno : 0;
}

/*
 * Make and open the container's cgroup in one hierarchy.  A leftover of a
 * container that was killed with its runner goes first: a new container
 * must not inherit cgroups (and settings) made inside the old one.
 */
static int make_one(struct cgroups *cg, const char *own_dir, const char *rel, bool v2, const char *ctrls)
{
	_cleanup_free_ char *dir = NULL, *procs = NULL;
	int r = 0;
	if (asprintf(&dir, "%s/%s", own_dir, rel) < 0)
		return -ENOMEM;
	rmdir_tree(dir);
	/* A concurrent run's cleanup may remove the shared parents between our mkdirs: retry. */
	for (int i = 0; i < 3; i++)
		if ((r = make_levels(own_dir, rel)) != -ENOENT)
			break;
	if (r < 0)
		return r;
	int fd;
	if (v2)
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else {
		/*
		 * `tasks`, not cgroup.procs: "0" there moves only the calling
		 * thread — all of a process that has one — and the kernel then
		 * skips the global cgroup_threadgroup_rwsem, whose write side
		 * waits for an RCU grace period (~20 ms on an idle machine; see
		 * docs/runner.md, "Resource limits").
		 */
		if (asprintf(&procs, "%s/tasks", dir) < 0)
			return -ENOMEM;
		fd = open(procs, O_WRONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		r = -errno;
		rmdir(dir);
		return r;
	}
	if (v2) {
		cg->v2_fd = fd;
		cg->v2_path = strdup(dir);
	} else
		cg->procs[cg->n_procs++] = fd;
	cg->ctrls[cg->n] = strdup(v2 ? "" : ctrls);
	cg->dirs[cg->n++] = TAKE_PTR(dir);
	return 0;
}

static const char *const cg_v2_names[] = { "memory", "cpu", "pids", "io" };   /* CG_* bit order */

/* The CG_* controllers cgroup2 offers at dir (its cgroup.controllers). */
static unsigned v2_available(const char *dir)
{
	_cleanup_free_ char *p = NULL;
	char buf[512];
	unsigned m = 0;
	if (asprintf(&p, "%s/cgroup.controllers", dir) < 0)
		return 0;
	_cleanup_fclose_ FILE *f = fopen(p, "re");
	if (!f || !fgets(buf, sizeof(buf), f))
		return 0;
	for (char *save = NULL, *tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		for (size_t i = 0; i < ELEMENTSOF(cg_v2_names); i++)
			if (STREQ(tok, cg_v2_names[i]))
				m |= 1u << i;
	return m;
}

/* Does a v1 hierarchy's list ("cpu,cpuacct") carry the v1 controller of one of the CG_* bits in want? */
static bool v1_has_wanted(const char *controllers, unsigned want)
{
	static const char *const v1_names[] = { "memory", "cpu", "pids", "blkio" };
	_cleanup_free_ char *list = strdup(controllers);
	char *save = NULL;
	for (char *tok = list ? strtok_r(list, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save))
		for (size_t i = 0; i < ELEMENTSOF(v1_names); i++)
			if ((want & (1u << i)) && STREQ(tok, v1_names[i]))
				return true;
	return false;
}

/*
 * cgroup2's "no internal processes" rule: a controller is enabled for a
 * cgroup's children in its subtree_control, which a non-root cgroup holding
 * processes refuses (EBUSY).  So top-down, from our own cgroup to the
 * leaf's parent, none of which holds a process but (possibly) ours.
 */
int runner_cgroup_delegate(const char *dir, const char *rel, unsigned ctrls, struct lc_err *err)
{
	char line[128] = "", path[PATH_MAX];
	for (size_t i = 0; i < ELEMENTSOF(cg_v2_names); i++)
		if (ctrls & (1u << i))
			snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s+%s", *line ? " " : "", cg_v2_names[i]);
	_cleanup_free_ char *copy = strdup(rel);
	if (!copy)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s", dir);
	char *save = NULL, *tok = strtok_r(copy, "/", &save);
	while (tok) {
		char *next = strtok_r(NULL, "/", &save);
		_cleanup_free_ char *file = NULL;
		if (asprintf(&file, "%s/cgroup.subtree_control", path) < 0)
			return -ENOMEM;
		_cleanup_close_ int fd = open(file, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, line, strlen(line)) < 0)
			return lc_err_ret(err, -errno, "cgroup2 %s: enabling %s: %s%s", path, line, strerror(errno),
					  errno == EBUSY ? " (it holds processes: the no-internal-processes rule; run layerctl "
							   "from a cgroup of its own)" : "");
		if (!next)
			break;   /* the leaf itself enables nothing */
		size_t l = strlen(path);
		snprintf(path + l, sizeof(path) - l, "/%s", tok);
		tok = next;
	}
	return 0;
}

static void hierarchies_free(struct hierarchy *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(h[i].controllers);
		free(h[i].own);
	}
	free(h);
}

/* /proc/self/cgroup: every hierarchy the kernel has, mounted or not. */
static int read_hierarchies(struct hierarchy **ret, size_t *ret_n)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
	_cleanup_free_ char *line = NULL;
	size_t len = 0, n = 0;
	struct hierarchy *h = NULL;
	if (!f)
		return -errno;
	while (getline(&line, &len, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		struct hierarchy *nh = realloc(h, (n + 1) * sizeof(*h));
		if (!nh) {
			hierarchies_free(h, n);
			return -ENOMEM;
		}
		h = nh;
		*c2 = '\0';
		h[n] = (struct hierarchy){ .v2 = strncmp(line, "0:", 2) == 0 && !c1[1],
					   .controllers = strdup(c1 + 1), .own = strdup(c2 + 1) };
		n++;
		if (!h[n - 1].controllers || !h[n - 1].own) {
			hierarchies_free(h, n);
			return -ENOMEM;
		}
	}
	*ret = h;
	*ret_n = n;
	return 0;
}

/* One slot per hierarchy, at most, in each of cg's arrays. */
static int alloc_cgroups(struct cgroups *cg, size_t n)
{
	cg->dirs = calloc(n + 1, sizeof(char *));
	cg->procs = calloc(n + 1, sizeof(int));
	cg->mounts = calloc(n + 1, sizeof(int));
	cg->ctrls = calloc(n + 1, sizeof(char *));
	if (!cg->dirs || !cg->procs || !cg->mounts || !cg->ctrls)
		return -ENOMEM;
	return 0;
}

/* The CG_* bits of want that cgroup2 does not offer here: those come from v1. */
static unsigned want_from_v1(struct libmnt_table **tb, const struct hierarchy *h, size_t n, unsigned want)
{
	unsigned want_v1 = want;
	/* cgroup2 first: what it offers needs no v1 hierarchy. */
	for (size_t i = 0; want && i < n; i++)
		if (h[i].v2) {
			_cleanup_free_ char *own_dir = own_cgroup_dir(tb, &h[i]);
			if (own_dir)
				want_v1 &= ~v2_available(own_dir);
		}
	return want_v1;
}

/*
 * The container's cgroup in hierarchy h: 0 when made, skipped, or failed
 * harmlessly (the reason left in err); -errno when the container must not
 * start.
 */
static int make_in_hierarchy(struct cgroups *cg, struct libmnt_table **tb, const struct hierarchy *h, const char *rel,
			     bool must_leave_root, unsigned want, unsigned want_v1, struct lc_err *err)
{
	const char *what = h->v2 ? "cgroup2" : h->controllers;
	/* A limit on a v1-only controller: the container joins that hierarchy, plain command or not. */
	bool wanted = !h->v2 && v1_has_wanted(h->controllers, want_v1);
	int r;
	/*
	 * Entering a v1 cgroup costs a migration (~10 ms here: the kernel
	 * waits for an RCU grace period).  Without CAP_SYS_ADMIN (and no
	 * user namespace, which the filter denies) nothing inside can mount
	 * a hierarchy, so a plain command skips v1 and keeps its speed.
	 */
	if (!h->v2 && !must_leave_root && !wanted)
		return 0;
	_cleanup_free_ char *own_dir = own_cgroup_dir(tb, h);
	int mfd = -1;
	if (!own_dir)
		own_dir = own_cgroup_dir_detached(h, &mfd);
	r = own_dir ? make_one(cg, own_dir, rel, h->v2, h->controllers) : -ENOENT;
	if (r >= 0 && h->v2 && (want & ~want_v1)) {
		/* Limits that go to cgroup2: their controllers enabled down to the leaf, else it is an error. */
		if ((r = runner_cgroup_delegate(own_dir, rel, want & ~want_v1, err)) < 0) {
			if (mfd >= 0)   /* the cgroup made through it is removed through it */
				cg->mounts[cg->n_mounts++] = mfd;
			return r;
		}
		cg->v2_enabled = want & ~want_v1;
	}
	if (mfd >= 0) {
		if (r >= 0)
			cg->mounts[cg->n_mounts++] = mfd;   /* its path is in cg->dirs */
		else
			close(mfd);
	}
	if (r >= 0)
		return 0;
	if (own_dir)
		lc_err_set(err, "cgroup %s: %s/%s: %s", what, own_dir, rel, strerror(-r));
	else
		lc_err_set(err, "cgroup %s: not mounted", what);
	/*
	 * Without a cgroup of its own here the container's namespace
	 * would be rooted where we are: harmless below a root, an
	 * escape at a v1 root for a holder of CAP_SYS_ADMIN (and a view
	 * of every host cgroup at the v2 root).  Unreachable: cannot tell.
	 */
	if (must_leave_root && (!own_dir || is_real_root(own_dir, h->v2)))
		return r;
	return 0;
}

int runner_cgroups_make(const char *store_id, const char *name, bool must_leave_root, unsigned want, struct cgroups *cg,
			struct lc_err *err)
{
	_cleanup_free_ char *rel = NULL;
	struct hierarchy *h = NULL;
	size_t n = 0;
	int r;

	*cg = (struct cgroups){ .v2_fd = -1 };
	if (asprintf(&rel, "layerctl/%s/%s", store_id, name) < 0)
		return -ENOMEM;
	if ((r = read_hierarchies(&h, &n)) < 0) {
		lc_err_set(err, "/proc/self/cgroup: %s", strerror(-r));
		return must_leave_root ? r : 0;
	}
	struct libmnt_table *tb = NULL;   /* the mount table, read by own_cgroup_dir if it needs it */
	if ((r = alloc_cgroups(cg, n)) < 0)
		goto out;
	unsigned want_v1 = want_from_v1(&tb, h, n, want);   /* what cgroup2 does not offer: from v1 */
	for (size_t i = 0; i < n; i++)
		if ((r = make_in_hierarchy(cg, &tb, &h[i], rel, must_leave_root, want, want_v1, err)) < 0)
			goto out;
	r = 0;
out:
	if (tb)
		mnt_unref_table(tb);
	hierarchies_free(h, n);
	if (r < 0)
		runner_cgroups_remove(cg);
	return r;
}

int runner_cgroups_join(const struct cgroups *cg)
{
	int r = 0;
	for (size_t i = 0; i < cg->n_procs; i++)
		if (r == 0 && write(cg->procs[i], "0", 1) < 0)
			r = -errno;
	/* Nothing of this stays in the container: a detached mount is a view of a hierarchy's root. */
	for (size_t i = 0; i < cg->n_procs; i++)
		close(cg->procs[i]);
	for (size_t i = 0; i < cg->n_mounts; i++)
		close(cg->mounts[i]);
	if (cg->v2_fd >= 0)
		close(cg->v2_fd);
	return r;
}

void runner_cgroups_close(struct cgroups *cg)
{
	for (size_t i = 0; i < cg->n_procs; i++)
		close(cg->procs[i]);
	cg->n_procs = 0;
	if (cg->v2_fd >= 0)
		close(cg->v2_fd);
	cg->v2_fd = -1;
}

void runner_cgroups_remove(struct cgroups *cg)
{
	runner_cgroups_close(cg);
	for (size_t i = 0; i < cg->n; i++) {
		/*
		 * The last processes may take a moment to leave after PID 1 is
		 * reaped: retry, briefly at first (usually gone within ~1 ms), up
		 * to ~5 s (a loaded machine; a cgroup left behind is only removed
		 * by the child's next run).
		 */
		useconds_t wait = 100;
		for (int k = 0; k < 60 && rmdir_tree(cg->dirs[i]) == -EBUSY; k++) {
			usleep(wait);
			wait = wait < 100000 ? wait * 2 : wait;
		}
		/* STORE and layerctl go with the last container using them (ENOTEMPTY/EBUSY otherwise). */
		char *slash;
		for (int up = 0; up < 2 && (slash = strrchr(cg->dirs[i], '/')); up++) {
			*slash = '\0';
			if (rmdir(cg->dirs[i]) < 0)
				break;
		}
		free(cg->dirs[i]);
		if (cg->ctrls)
			free(cg->ctrls[i]);
	}
	for (size_t i = 0; i < cg->n_mounts; i++)
		close(cg->mounts[i]);
	free(cg->ctrls);
	free(cg->dirs);
	free(cg->procs);
	free(cg->mounts);
	free(cg->v2_path);
	*cg = (struct cgroups){ .v2_fd = -1 };
}
