/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shifting the owners of a child's upper dir when it goes into or out of
 * user-namespace mode (uidrange.h).  Only the upper: the base's tree is
 * shared and reaches the container through an idmapped mount instead.
 *
 * Crash safety: UpperShiftTo=TO is saved in child.conf before the walk.
 * The walk moves only IDs inside FROM to TO and the two ranges never
 * overlap (a switch between overlapping ranges goes through "unshifted"),
 * so running it again after a kill moves what is left and touches nothing
 * twice; then UpperShift=TO is saved and UpperShiftTo= dropped.
 *
 * chown(2) clears set-user/group-ID bits and file capabilities: both are
 * put back.  The IDs inside POSIX ACLs move too; those inside namespaced
 * file capabilities (a v3 security.capability's root ID) do not.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>

#include "src/basic/idshift.h"
#include "src/store/uidrange.h"

struct walk {
	struct uid_range from, to;
	const struct lc_warn *progress;
	struct lc_err *err;
	unsigned long long files;
	time_t last;
	char path[PATH_MAX];   /* of the entry being looked at, for messages */
};

/* An ID on disk after the shift; -1 when it stays (outside FROM). */
static int64_t shifted(const struct walk *w, uint32_t id)
{
	uint64_t from = w->from.count ? w->from.base : 0, count = w->from.count ? w->from.count : w->to.count;
	if (id < from || id >= from + count)
		return -1;
	return (int64_t)(id - from) + (w->to.count ? w->to.base : 0);
}

/* The IDs inside POSIX ACLs move with the owners (the kernel stores them as the owners are). */
static int shift_acls(struct walk *w, int dirfd, const char *name, const struct stat *st)
{
	if (S_ISLNK(st->st_mode))
		return 0;
	_cleanup_close_ int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	char proc[64], buf[4096];
	if (fd < 0)
		return lc_err_ret(w->err, -errno, "%s: %s", w->path, strerror(errno));
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	uint32_t from = w->from.count ? w->from.base : 0, to = w->to.count ? w->to.base : 0;
	uint32_t count = w->from.count ? w->from.count : w->to.count;
	for (const char *const *x = (const char *const[]){ LC_ACL_ACCESS, LC_ACL_DEFAULT, NULL }; *x; x++) {
		ssize_t n = getxattr(proc, *x, buf, sizeof(buf));
		if (n < 0 && (errno == ENODATA || errno == EOPNOTSUPP))
			continue;
		if (n < 0)
			return lc_err_ret(w->err, -errno, "%s: %s: %s", w->path, *x, strerror(errno));
		int moved = lc_posix_acl_shift(buf, (size_t)n, from, count, to);
		if (moved < 0)
			return lc_err_ret(w->err, -EINVAL, "%s: %s: not a POSIX ACL", w->path, *x);
		if (moved > 0 && setxattr(proc, *x, buf, (size_t)n, XATTR_REPLACE) < 0)
			return lc_err_ret(w->err, -errno, "%s: %s: %s", w->path, *x, strerror(errno));
	}
	return 0;
}

static int shift_one(struct walk *w, int dirfd, const char *name, const struct stat *st)
{
	int64_t uid = shifted(w, st->st_uid), gid = shifted(w, st->st_gid);
	int r = shift_acls(w, dirfd, name, st);
	if (r < 0)
		return r;
	if (uid < 0 && gid < 0)
		return 0;
	char caps[512];
	ssize_t ncaps = -1;
	_cleanup_close_ int fd = -1;
	if (S_ISREG(st->st_mode)) {
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return lc_err_ret(w->err, -errno, "%s: %s", w->path, strerror(errno));
		ncaps = fgetxattr(fd, "security.capability", caps, sizeof(caps));
	}
	if (fchownat(dirfd, name, uid < 0 ? (uid_t)-1 : (uid_t)uid, gid < 0 ? (gid_t)-1 : (gid_t)gid,
		     AT_SYMLINK_NOFOLLOW) < 0)
		return lc_err_ret(w->err, -errno, "chown %s: %s", w->path, strerror(errno));
	/* The kernel dropped these with the chown. */
	if (fd >= 0 && (st->st_mode & (S_ISUID | S_ISGID)) && fchmod(fd, st->st_mode & 07777) < 0)
		return lc_err_ret(w->err, -errno, "chmod %s: %s", w->path, strerror(errno));
	if (fd >= 0 && ncaps > 0 && fsetxattr(fd, "security.capability", caps, ncaps, 0) < 0)
		return lc_err_ret(w->err, -errno, "%s: file capabilities: %s", w->path, strerror(errno));
	return 0;
}

static void tell_progress(struct walk *w)
{
	w->files++;
	time_t now = time(NULL);
	if (w->progress && now != w->last && (w->files % 256) == 0) {
		w->last = now;
		lc_warn(w->progress, "shifting owners: %llu files so far", w->files);
	}
}

static int walk_dir(struct walk *w, int dirfd, size_t plen)
{
	int dfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	_cleanup_closedir_ DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	int r;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return lc_err_ret(w->err, -errno, "%s: %s", w->path, strerror(errno));
	}
	while ((errno = 0, de = readdir(d))) {
		if (STREQ(de->d_name, ".") || STREQ(de->d_name, ".."))
			continue;
		if (snprintf(w->path + plen, sizeof(w->path) - plen, "/%s", de->d_name) >= (int)(sizeof(w->path) - plen))
			return lc_err_ret(w->err, -ENAMETOOLONG, "%s: path too long", w->path);
		struct stat st;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return lc_err_ret(w->err, -errno, "%s: %s", w->path, strerror(errno));
		if ((r = shift_one(w, dirfd, de->d_name, &st)) < 0)
			return r;
		tell_progress(w);
		if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				return lc_err_ret(w->err, -errno, "%s: %s", w->path, strerror(errno));
			size_t l = strlen(w->path);
			if ((r = walk_dir(w, sub, l)) < 0)
				return r;
		}
		w->path[plen] = '\0';
	}
	if (errno)
		return lc_err_ret(w->err, -errno, "%s: %s", w->path, strerror(errno));
	return 0;
}

static int walk_upper(struct store *s, const struct child_info *c, struct uid_range from, struct uid_range to,
		      const struct lc_warn *progress, struct lc_err *err)
{
	_cleanup_free_ char *rel = NULL;
	struct walk w = { .from = from, .to = to, .progress = progress, .err = err };
	if (asprintf(&rel, "children/%s/upper", c->name) < 0)
		return -ENOMEM;
	_cleanup_close_ int fd = openat(s->root_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return lc_err_ret(err, -errno, "%s: %s", rel, strerror(errno));
	snprintf(w.path, sizeof(w.path), "%s/%s", s->root, rel);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* The upper dir itself: the container's "/" has its owner. */
	int64_t uid = shifted(&w, st.st_uid), gid = shifted(&w, st.st_gid);
	if ((uid >= 0 || gid >= 0) &&
	    fchown(fd, uid < 0 ? (uid_t)-1 : (uid_t)uid, gid < 0 ? (gid_t)-1 : (gid_t)gid) < 0)
		return lc_err_ret(err, -errno, "chown %s: %s", w.path, strerror(errno));
	int r = shift_acls(&w, fd, ".", &st);
	if (r == 0)
		r = walk_dir(&w, fd, strlen(w.path));
	if (r == 0 && progress && w.files >= 256)
		lc_warn(progress, "shifted owners of %llu files", w.files);
	return r;
}

static int format_range(char *buf, size_t len, struct uid_range r)
{
	return snprintf(buf, len, "%" PRIu32 ":%" PRIu32, r.base, r.count);
}

/* One step between two non-overlapping shifts, marker first. */
static int shift_step(struct store *s, struct child_info *c, struct uid_range from, struct uid_range to,
		      const struct lc_warn *progress, struct lc_err *err)
{
	char val[32];
	int r;
	format_range(val, sizeof(val), to.count ? to : (struct uid_range){ 0, 0 });
	if ((r = settings_set(c->conf, "Child", "UpperShiftTo", val)) < 0 ||
	    (r = store_child_save_conf(s, c->name, c->conf)) < 0)
		return lc_err_ret(err, r, "child.conf: %s", strerror(-r));
	if ((r = walk_upper(s, c, from, to, progress, err)) < 0)
		return r;
	if ((r = settings_set(c->conf, "Child", "UpperShift", to.count ? val : NULL)) < 0 ||
	    (r = settings_set(c->conf, "Child", "UpperShiftTo", NULL)) < 0 ||
	    (r = store_child_save_conf(s, c->name, c->conf)) < 0)
		return lc_err_ret(err, r, "child.conf: %s", strerror(-r));
	return 0;
}

/* The IDs a shift occupies on disk: its range, or 0..COUNT-1 unshifted. */
static struct uid_range on_disk(struct uid_range shift, uint32_t count)
{
	return shift.count ? shift : (struct uid_range){ 0, count };
}

int store_child_shift_upper(struct store *s, struct child_info *c, struct uid_range to, const struct lc_warn *progress,
			    struct lc_err *err)
{
	struct uid_range from;
	int r = store_child_shift_finish(s, c, progress, err);
	if (r < 0)
		return r;
	if ((r = store_child_upper_shift(c, &from)) < 0)
		return lc_err_ret(err, r, "child.conf: Child.UpperShift= is not BASE:COUNT");
	if (from.base == to.base && from.count == to.count)
		return 0;
	uint32_t count = from.count > to.count ? from.count : to.count;
	if (to.count && uid_range_overlaps(to, (struct uid_range){ 0, to.count }))
		return lc_err_ret(err, -EINVAL, "range %" PRIu32 ":%" PRIu32 " overlaps the IDs 0..%" PRIu32
				  " it maps (files could not be told apart)", to.base, to.count, to.count - 1);
	/* Between two overlapping ranges: through "unshifted", each step then is unambiguous. */
	if (from.count && to.count && uid_range_overlaps(on_disk(from, count), on_disk(to, count))) {
		if ((r = shift_step(s, c, from, (struct uid_range){ 0, 0 }, progress, err)) < 0)
			return r;
		from = (struct uid_range){ 0, 0 };
	}
	return shift_step(s, c, from, to, progress, err);
}

int store_child_shift_finish(struct store *s, struct child_info *c, const struct lc_warn *progress, struct lc_err *err)
{
	const char *pending = settings_get(c->conf, "Child", "UpperShiftTo");
	struct uid_range from, to;
	if (!pending)
		return 0;
	if (uid_range_parse(pending, &to) < 0)
		to = (struct uid_range){ 0, 0 };   /* "0:0": towards unshifted */
	if (store_child_upper_shift(c, &from) < 0)
		return lc_err_ret(err, -EBADMSG, "child.conf: Child.UpperShift= is not BASE:COUNT");
	lc_warn(progress, "finishing an interrupted shift of the upper dir's owners");
	int r = shift_step(s, c, from, to, progress, err);
	return r < 0 ? r : 1;
}

int store_child_shift_new_upper(const struct child_info *c, int upper_fd)
{
	struct uid_range shift;
	struct stat st;
	if (store_child_upper_shift(c, &shift) < 0)
		return -EBADMSG;
	if (!shift.count)
		return 0;
	if (fstat(upper_fd, &st) < 0)
		return -errno;
	struct walk w = { .from = { 0, 0 }, .to = shift };
	int64_t uid = shifted(&w, st.st_uid), gid = shifted(&w, st.st_gid);
	if ((uid >= 0 || gid >= 0) &&
	    fchown(upper_fd, uid < 0 ? (uid_t)-1 : (uid_t)uid, gid < 0 ? (gid_t)-1 : (gid_t)gid) < 0)
		return -errno;
	/* chown dropped set-group-ID on the directory, if the base's root had it. */
	if ((st.st_mode & S_ISGID) && fchmod(upper_fd, st.st_mode & 07777) < 0)
		return -errno;
	return 0;
}
