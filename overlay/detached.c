/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An overlay as a detached mount, through the kernel's mount API (fsopen,
 * fsconfig, fsmount; Linux 5.2) rather than libmount's mount(2).
 *
 * Why: each path reaches the kernel as one fsconfig() value, so there is no
 * option string for libmount to split at its commas (mount.c has to check
 * that it would not) and no 4095-byte page to fit in; the kernel's own
 * words come back from the context when it refuses; and loading libmount
 * (with libblkid, libselinux and libpcre2) cost `run` of an unmounted child
 * more than the mount itself (docs/benchmarks.md).  A detached mount is also
 * what `run` wants: attached in the container's mount namespace only, with
 * no private namespace of run's own to copy first (docs/runner.md).
 *
 * Values keep overlay's escaping (options.c): overlayfs unescapes
 * upperdir=, workdir= and every lowerdir= entry however they arrive.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "overlay/overlay.h"

/* fsconfig() copies a string value with strndup_user(value, 256). */
#define FSCONFIG_STRING_MAX 255

/* -EOPNOTSUPP: this value has to go the old way (see overlay.h). */
static int set_string(int fs, const char *key, const char *value)
{
	if (strlen(value) > FSCONFIG_STRING_MAX)
		return -EOPNOTSUPP;
	if (fsconfig(fs, FSCONFIG_SET_STRING, key, value, 0) == 0)
		return 0;
	/* Before 6.5 overlay took one legacy option string, which refuses a value holding ','. */
	if (errno == EINVAL && strchr(value, ','))
		return -EOPNOTSUPP;
	return -errno;
}

/* The kernel's reason from the context's log ("e overlayfs: ..."), or strerror. */
static int kernel_error(int fs, int r, const char *what, struct lc_err *err)
{
	char msg[256];
	ssize_t n = read(fs, msg, sizeof(msg) - 1);
	if (n > 2 && msg[1] == ' ') {
		msg[n] = '\0';
		msg[strcspn(msg, "\n")] = '\0';
		return lc_err_ret(err, r, "%s: %s", what, msg + 2);
	}
	return lc_err_ret(err, r, "%s: %s", what, strerror(-r));
}

/* "L1:L2:..." with each entry escaped. */
static int lowerdir_value(const struct ov_layers *l, char **ret)
{
	char *buf = NULL;
	size_t len = 0;
	int r = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < l->n_lowers && r == 0; i++) {
		_cleanup_free_ char *esc = NULL;
		if ((r = ov_escape_path(l->lowers[i], &esc)) == 0)
			fprintf(f, "%s%s", i ? ":" : "", esc);
	}
	if (fclose(f) != 0)
		r = -ENOMEM;
	if (r < 0)
		free(buf);
	else
		*ret = buf;
	return r;
}

int ov_mount_detached(const struct ov_layers *l, struct lc_err *err)
{
	_cleanup_free_ char *lower = NULL, *upper = NULL, *work = NULL;
	int r;

	if ((r = ov_check_layers(l, err)) < 0)
		return r;
	if ((r = lowerdir_value(l, &lower)) < 0)
		return lc_err_ret(err, r, "a lower layer is not a usable overlay path (newline?)");
	if (l->upper && ((r = ov_escape_path(l->upper, &upper)) < 0 || (r = ov_escape_path(l->work, &work)) < 0))
		return lc_err_ret(err, r, "upper or work dir: not a usable overlay path (newline?)");
	_cleanup_close_ int fs = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0) {
		if (errno == ENOSYS)
			return -EOPNOTSUPP;
		if (errno == ENODEV)
			return lc_err_ret(err, -ENODEV, "this kernel has no overlayfs (modprobe overlay, or CONFIG_OVERLAY_FS)");
		return lc_err_ret(err, -errno, "fsopen overlay: %s", strerror(errno));
	}
	const struct { const char *key, *value; } opts[] = {
		{ "source", "overlay" }, { "lowerdir", lower }, { "upperdir", upper }, { "workdir", work },
		/* Always explicit, whatever the module defaults: see OVERLAYFS-NOTES.md. */
		{ "index", "off" }, { "metacopy", "off" }, { "redirect_dir", "off" },
	};
	for (size_t i = 0; i < ELEMENTSOF(opts); i++) {
		if (!opts[i].value)
			continue;   /* no upper: a read-only overlay */
		r = set_string(fs, opts[i].key, opts[i].value);
		if (r == -EOPNOTSUPP)
			return r;
		if (r < 0)
			return kernel_error(fs, r, "mount overlay", err);
	}
	if (l->volatile_upper && l->upper && fsconfig(fs, FSCONFIG_SET_FLAG, "volatile", NULL, 0) < 0)
		return kernel_error(fs, -errno, "mount overlay", err);
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return kernel_error(fs, -errno, "mount overlay", err);
	int m = fsmount(fs, FSMOUNT_CLOEXEC, 0);
	if (m < 0)
		return kernel_error(fs, -errno, "mount overlay", err);
	return m;
}
