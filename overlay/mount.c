/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Mounting, unmounting and finding overlays, through libmount (is-it-mounted asks the kernel first). */
#include "src/basic/mount-dl.h"   /* libmount, loaded on first use */
#include <stdbool.h>
#include <string.h>

#include "overlay/overlay.h"
#include "src/basic/statmount.h"
#include "src/basic/strutil.h"

static void cxt_freep(struct libmnt_context **c) { mnt_free_context(*c); }
static void table_freep(struct libmnt_table **t) { mnt_unref_table(*t); }
static void iter_freep(struct libmnt_iter **i) { mnt_free_iter(*i); }
#define _cleanup_cxt_ _cleanup_(cxt_freep)
#define _cleanup_table_ _cleanup_(table_freep)
#define _cleanup_iter_ _cleanup_(iter_freep)

/* errno of a failed mnt_context_{u,}mount(), and libmount's own words for it. */
static int context_error(struct libmnt_context *cxt, int rc, const char *what, struct lc_err *err)
{
	char buf[BUFSIZ] = "";
	int e = 0;

	if (mnt_context_syscall_called(cxt))
		e = mnt_context_get_syscall_errno(cxt);
	else if (rc < 0)
		e = -rc;
	if (e <= 0)
		e = EIO;
	mnt_context_get_excode(cxt, rc, buf, sizeof(buf));
	if (buf[0])
		lc_err_set(err, "%s: %s", what, buf);
	else
		lc_err_set(err, "%s: %s", what, strerror(e));
	return -e;
}

/*
 * libmount splits the option string at every ',' (it does not know overlay's
 * "\,") and keeps for itself what it reads as a VFS flag or a userspace
 * option: a store at "/srv/a,loop=b" would lose "loop=b/..." from upperdir=
 * and the kernel would answer with a misleading error.  Ask libmount's own
 * splitter first and name the word it would take.
 */
static int check_libmount_keeps_options(const char *opts, struct lc_err *err)
{
	_cleanup_free_ char *user = NULL, *vfs = NULL, *fs = NULL;
	int r = mnt_split_optstr(opts, &user, &vfs, &fs, 0, 0);
	if (r < 0)
		return lc_err_ret(err, r < 0 ? r : -EINVAL, "libmount cannot split the overlay's options");
	if (!user && !vfs && fs && strcmp(fs, opts) == 0)
		return 0;
	const char *taken = vfs ? vfs : user ? user : "";
	return lc_err_ret(err, -EINVAL,
			  "a store path holds ',' followed by a word libmount reads as a mount option ('%.*s'); "
			  "rename the store directory",
			  (int)strcspn(taken, ","), taken);
}

/* The libmount way: one option string through a mount context (kernels or paths fsconfig cannot take). */
static int mount_by_libmount(const struct ov_layers *layers, const char *target, struct lc_err *err)
{
	_cleanup_free_ char *opts = NULL;
	_cleanup_cxt_ struct libmnt_context *cxt = NULL;
	int r, rc;

	r = ov_build_options(layers, &opts, err);
	if (r < 0)
		return r;
	r = check_libmount_keeps_options(opts, err);
	if (r < 0)
		return r;
	cxt = mnt_new_context();
	if (!cxt)
		return -ENOMEM;
	/*
	 * No /sbin/mount.overlay helper, no fstab lookup: exactly this mount.
	 * Paths are already canonical, and canonicalising again would only
	 * follow symlinks the store does not contain.
	 */
	if (mnt_context_disable_helpers(cxt, 1) < 0 ||
	    mnt_context_disable_canonicalize(cxt, 1) < 0 ||
	    mnt_context_set_fstype(cxt, "overlay") < 0 ||
	    mnt_context_set_source(cxt, "overlay") < 0 ||
	    mnt_context_set_target(cxt, target) < 0 ||
	    mnt_context_set_options(cxt, opts) < 0)
		return lc_err_ret(err, -ENOMEM, "mount %s: cannot set up the mount context", target);

	rc = mnt_context_mount(cxt);
	if (rc != 0)
		return context_error(cxt, rc, "mount overlay", err);
	return 0;
}

int ov_mount(const struct ov_layers *layers, const char *target, struct lc_err *err)
{
	int m = ov_mount_detached(layers, err);
	if (m == -EOPNOTSUPP)
		return mount_by_libmount(layers, target, err);
	if (m < 0)
		return m;
	int r = 0;
	if (move_mount(m, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		r = lc_err_ret(err, -errno, "mount overlay on %s: %s", target, strerror(errno));
	close(m);
	return r;
}

int ov_umount(const char *target, struct lc_err *err)
{
	_cleanup_cxt_ struct libmnt_context *cxt = NULL;
	int r, rc;

	r = ov_is_mounted(target, NULL);
	if (r < 0)
		return lc_err_ret(err, r, "cannot read the mount table: %s", strerror(-r));
	if (r == 0)
		return 1;
	cxt = mnt_new_context();
	if (!cxt)
		return -ENOMEM;
	if (mnt_context_disable_helpers(cxt, 1) < 0 ||
	    mnt_context_disable_canonicalize(cxt, 1) < 0 ||
	    mnt_context_set_target(cxt, target) < 0)
		return -ENOMEM;
	rc = mnt_context_umount(cxt);
	if (rc != 0)
		return context_error(cxt, rc, "umount", err);
	return 0;
}

static int read_mountinfo(struct libmnt_table **ret)
{
	struct libmnt_table *tb = mnt_new_table_from_file("/proc/self/mountinfo");
	if (!tb)
		return errno ? -errno : -EIO;
	*ret = tb;
	return 0;
}

/*
 * How the kernel prints a path option in mountinfo (seq_show_option escapes
 * ", \t\n\\" in a value as octal; '=' only in a name), so "upperdir=" can be
 * matched without parsing it.
 */
static char *kernel_shown_path(const char *path)
{
	char *out = malloc(strlen(path) * 4 + 1), *o = out;
	if (!out)
		return NULL;
	for (const char *p = path; *p; p++) {
		if (strchr(", \t\n\\", *p))
			o += sprintf(o, "\\%03o", (unsigned char)*p);
		else
			*o++ = *p;
	}
	*o = '\0';
	return out;
}

/* Does the option list opts hold exactly the option `want` (between commas)? */
static bool optstr_has(const char *opts, const char *want)
{
	size_t n = strlen(want);
	/* From option start to option start (not strstr: one more page of libc's code at each `child list`). */
	for (const char *p = opts;; p++) {
		if (strncmp(p, want, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
		if (!(p = strchr(p, ',')))
			return false;
	}
}

/*
 * Is this overlay's upperdir= `upper`?  The kernel shows the value as it was
 * given (overlay-escaped: "\," and "\:"), octal-mangled on top, which
 * libmount undoes.  libmount's option parser does not know overlay's
 * backslash escapes (it would split "a\,b" at the comma), so the whole
 * option is matched in the option string instead; the still-mangled form is
 * accepted too, in case a libmount version leaves it.
 */
static bool opts_have_upper(const char *opts, const char *upper)
{
	_cleanup_free_ char *esc = NULL, *opt = NULL, *shown = NULL;

	if (!opts || ov_escape_path(upper, &esc) < 0)
		return false;
	if (!(opt = lc_strjoin("upperdir=", esc, NULL)))
		return false;
	if (optstr_has(opts, opt))
		return true;
	shown = kernel_shown_path(esc);
	free(opt);
	opt = NULL;
	return shown && (opt = lc_strjoin("upperdir=", shown, NULL)) && optstr_has(opts, opt);
}

static bool fs_has_upper(struct libmnt_fs *fs, const char *upper)
{
	return opts_have_upper(mnt_fs_get_fs_options(fs), upper);
}

static int is_mounted_by_mountinfo(const char *target, const char *upper)
{
	_cleanup_table_ struct libmnt_table *tb = NULL;
	_cleanup_iter_ struct libmnt_iter *it = mnt_new_iter(MNT_ITER_BACKWARD);
	struct libmnt_fs *fs;
	int r;

	if (!it)
		return -ENOMEM;
	r = read_mountinfo(&tb);
	if (r < 0)
		return r;
	/* Backward: the top-most mount at a path is the one that counts. */
	while (mnt_table_next_fs(tb, it, &fs) == 0) {
		const char *t = mnt_fs_get_target(fs);
		if (!t || strcmp(t, target) != 0)
			continue;
		const char *type = mnt_fs_get_fstype(fs);
		if (!type || strcmp(type, "overlay") != 0)
			return -EBUSY;
		if (upper && !fs_has_upper(fs, upper))
			return -EBUSY;
		return 1;
	}
	return 0;
}

/*
 * The kernel is asked about the one mount at target first (statmount.h):
 * what libmount would find as the top-most mount there, without loading
 * it and parsing every mount.  A kernel that cannot answer, or a target
 * the kernel names differently (a symlink on the way), goes the old way.
 */
int ov_is_mounted(const char *target, const char *upper)
{
	struct lc_mount_info m;
	int r = lc_statmount_path(target, upper != NULL, &m);
	if (r == 0 || r == -ENOENT)
		return 0;   /* not a mount point (or no such dir): nothing mounted there */
	if (r > 0 && STREQ(m.mnt_point, target)) {
		if (!STREQ(m.fs_type, "overlay"))
			r = -EBUSY;
		else if (upper && !opts_have_upper(m.mnt_opts, upper))
			r = -EBUSY;
		else
			r = 1;
		lc_mount_info_done(&m);
		return r;
	}
	lc_mount_info_done(&m);
	return is_mounted_by_mountinfo(target, upper);
}

int ov_list_mounts_below(const char *prefix, char ***ret_targets, size_t *ret_n)
{
	_cleanup_table_ struct libmnt_table *tb = NULL;
	_cleanup_iter_ struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
	struct libmnt_fs *fs;
	char **v = NULL;
	size_t n = 0, plen = strlen(prefix);
	int r;

	if (!it)
		return -ENOMEM;
	r = read_mountinfo(&tb);
	if (r < 0)
		return r;
	while (mnt_table_next_fs(tb, it, &fs) == 0) {
		const char *t = mnt_fs_get_target(fs), *type = mnt_fs_get_fstype(fs);
		if (!t || !type || strcmp(type, "overlay") != 0)
			continue;
		if (strncmp(t, prefix, plen) != 0 || (t[plen] != '/' && t[plen] != '\0'))
			continue;
		char **nv = realloc(v, (n + 2) * sizeof(*v));
		if (!nv)
			goto oom;
		v = nv;
		if (!(v[n] = strdup(t)))
			goto oom;
		v[++n] = NULL;
	}
	*ret_targets = v;
	*ret_n = n;
	return 0;
oom:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return -ENOMEM;
}
