/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Vacuum: remove the upper copies that are identical to the base (content,
 * type, mode, owner, xattrs), then the directories that only held such
 * copies and that the base has too.  The merged view is the same before and
 * after; the upper dir just stops shadowing the base for those paths, so a
 * later base update shows through.
 *
 * Entries come from a diff_classify() made under the same exclusive child
 * lock with the overlay unmounted.  Each removal resolves its parent with
 * openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_XDEV), so a path can
 * never lead outside the upper dir.
 */
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>

#include "diff/diff.h"
#include "diff/internal.h"
#include "src/basic/fsutil.h"
#include "src/basic/testhook.h"

/* Entries in dir path (0 on error: then it is never considered empty... unless it is). */
static long count_entries(int upper_fd, const char *path)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, upper_fd, *path ? path : ".", &how, sizeof(how));
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	long n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (!STREQ(de->d_name, ".") && !STREQ(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Index of the change whose path is the parent of change i, or -1. */
static ssize_t parent_index(const struct diff_result *r, size_t i)
{
	const char *p = diff_change_path(r, &r->v[i]);
	const char *slash = memrchr(p, '/', r->v[i].path_len);
	size_t plen = slash ? (size_t)(slash - p) : 0;
	if (!slash)
		return -1; /* the upper root is never removed */
	size_t lo = 0, hi = r->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct diff_change *c = &r->v[mid];
		if (diff_path_cmp(diff_change_path(r, c), c->path_len, p, plen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* The same path can appear twice (a D of the base next to the upper entry): want the upper dir. */
	for (size_t k = lo; k < r->n && diff_path_cmp(diff_change_path(r, &r->v[k]), r->v[k].path_len, p, plen) == 0; k++)
		if (r->v[k].in_upper && S_ISDIR(r->v[k].mode))
			return (ssize_t)k;
	return -1;
}

int diff_vacuum(int upper_fd, const struct diff_result *r, bool dry_run, diff_vacuum_cb cb, void *userdata,
		struct diff_vacuum_stats *ret, struct lc_err *err)
{
	_cleanup_free_ long *removed_children = calloc(r->n ? r->n : 1, sizeof(long));
	int k = 0;

	memset(ret, 0, sizeof(*ret));
	if (!removed_children)
		return -ENOMEM;
	test_hook("vacuum-before-remove");
	/* Files first. */
	for (size_t i = 0; i < r->n; i++) {
		const struct diff_change *c = &r->v[i];
		if (!c->vacuumable || c->cls != DIFF_SAME || S_ISDIR(c->mode))
			continue;
		const char *path = diff_change_path(r, c), *name;
		if (!dry_run) {
			int fd = lc_open_parent_beneath(upper_fd, path, c->path_len, &name);
			if (fd < 0)
				return lc_err_ret(err, fd, "/%s: %s", path, strerror(-fd));
			k = unlinkat(fd, name, 0) < 0 ? -errno : 0;
			close(fd);
			if (k < 0)
				return lc_err_ret(err, k, "/%s: unlink: %s", path, strerror(-k));
		}
		if (cb)
			cb(path, c->path_len, false, c->disk_bytes, userdata);
		ret->files++;
		ret->bytes += c->disk_bytes;
		ssize_t p = parent_index(r, i);
		if (p >= 0)
			removed_children[p]++;
	}
	/* Then directories, deepest first: a descendant always sorts after its ancestor. */
	for (size_t i = r->n; i-- > 0;) {
		const struct diff_change *c = &r->v[i];
		if (!c->vacuumable || !c->silent || !S_ISDIR(c->mode) || c->path_len == 0)
			continue;
		const char *path = diff_change_path(r, c), *name;
		long n = count_entries(upper_fd, path);
		if (n < 0 || (dry_run ? n != removed_children[i] : n != 0))
			continue;
		if (!dry_run) {
			int fd = lc_open_parent_beneath(upper_fd, path, c->path_len, &name);
			if (fd < 0)
				return lc_err_ret(err, fd, "/%s: %s", path, strerror(-fd));
			k = unlinkat(fd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
			close(fd);
			if (k == -ENOTEMPTY || k == -EEXIST)
				continue;
			if (k < 0)
				return lc_err_ret(err, k, "/%s: rmdir: %s", path, strerror(-k));
		}
		if (cb)
			cb(path, c->path_len, true, c->disk_bytes, userdata);
		ret->dirs++;
		ret->bytes += c->disk_bytes;
		ssize_t p = parent_index(r, i);
		if (p >= 0)
			removed_children[p]++;
	}
	return 0;
}
