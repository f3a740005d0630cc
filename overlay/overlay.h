/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * overlay/ — everything layerctl knows about overlayfs: option strings and
 * their escaping, mounting and unmounting through libmount, kernel and
 * storage feature probing, and decoding what an upper directory encodes.
 *
 * Never prints, never exits: every function returns 0 (or a documented
 * positive value) or -errno, with an optional detail in struct lc_err.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "src/basic/macro.h"

/* The kernel's legacy mount(2) data page; longer option strings fail. */
#define OV_OPTIONS_MAX 4095

/* A layer stack: lowers[0] is the top-most lower layer. */
struct ov_layers {
	const char *const *lowers;
	size_t n_lowers;
	const char *upper; /* NULL: read-only overlay (needs >= 2 lowers) */
	const char *work;
	/*
	 * Add "volatile": no fsync of copied-up files.  Only for an upper that
	 * is thrown away after a crash (a base update's scratch, synced as a
	 * whole when committed); the next mount of that work dir is refused.
	 */
	bool volatile_upper;
};

/*
 * Escape a path for use as an overlay option value: '\', ',' and ':' get a
 * backslash (the kernel unescapes lowerdir=, upperdir= and workdir=).
 * Paths holding a newline are refused (-EINVAL): mountinfo could not
 * represent them unambiguously and fstab cannot carry them.
 */
int ov_escape_path(const char *path, char **ret);

/* Reverse of ov_escape_path (used by tests and by fstab-gen --check). */
int ov_unescape_path(const char *escaped, char **ret);

/*
 * The full option string layerctl mounts children with:
 *   lowerdir=L1:L2,upperdir=U,workdir=W,index=off,metacopy=off,redirect_dir=off
 * (index/metacopy/redirect_dir are always off: lowers change at refresh).
 * -ENAMETOOLONG when the result exceeds OV_OPTIONS_MAX.
 */
int ov_build_options(const struct ov_layers *layers, char **ret, struct lc_err *err);

/* The layer stack's own rules (>= 1 lower, upper and work together, <= 500 lowers). */
int ov_check_layers(const struct ov_layers *layers, struct lc_err *err);

/*
 * The overlay as a detached mount (fsopen/fsconfig/fsmount, overlay/detached.c):
 * an O_CLOEXEC mount fd to move_mount() somewhere, seen by nobody until then.
 * -EOPNOTSUPP (err untouched): this kernel or these paths need mount(2) with
 * one option string instead (no fsopen; a value over 255 bytes; a comma in a
 * path on a kernel before 6.5) — ov_mount() then goes through libmount.
 */
int ov_mount_detached(const struct ov_layers *layers, struct lc_err *err);

/* Mount an overlay at target: detached then moved there, or through a libmount context. */
int ov_mount(const struct ov_layers *layers, const char *target, struct lc_err *err);

/*
 * Unmount the overlay at target through a libmount context.  Returns 0 when
 * unmounted, 1 when nothing was mounted there (not an error).
 */
int ov_umount(const char *target, struct lc_err *err);

/*
 * Is an overlay mounted exactly at target (a canonical absolute path)?
 * Read from the kernel's mount table (/proc/self/mountinfo) via libmount.
 * Returns 1 mounted, 0 not, -errno on failure.  If upper is not NULL, the
 * overlay must also use that upper dir (so another overlay at the same place
 * is not mistaken for ours): returns -EBUSY when something else is there.
 */
int ov_is_mounted(const char *target, const char *upper);

/* List of targets of overlay mounts at or below prefix (for cleanup/listing). */
int ov_list_mounts_below(const char *prefix, char ***ret_targets, size_t *ret_n);

/* Is overlayfs available in this kernel (loaded or loadable)? */
int ov_kernel_supported(struct lc_err *err);

/*
 * Can dir's file system hold an overlay upper/work dir?  Refuses (-EOPNOTSUPP
 * with a reason in err) an overlayfs, a file system without d_type support,
 * and one without trusted.* xattrs.  Probes by creating (and removing) a
 * scratch entry inside dir.
 */
int ov_check_upper_fs(const char *dir, struct lc_err *err);

/* ---- Idmapped lower layer, for user-namespace children (overlay/idmap.c) ---- */

#include <stdint.h>
#include <sys/types.h>

/* Write "0 base count" to pid's uid_map and gid_map (setgroups stays allowed). */
int ov_write_id_maps(pid_t pid, uint32_t base, uint32_t count);
/* A descriptor of a throw-away user namespace mapping 0..count-1 to base..base+count-1. */
int ov_userns_open(uint32_t base, uint32_t count);
/* A detached clone of the mount at path, idmapped that way: owners on disk read shifted by base. */
int ov_idmapped_clone(const char *path, uint32_t base, uint32_t count);
/* Mount an overlay at target whose one lower is an idmapped clone (new mount API). */
int ov_mount_idmapped(const struct ov_layers *layers, const char *target, uint32_t base, uint32_t count,
		      struct lc_err *err);
/* Can the kernel and dir's file system do that?  Probes with scratch dirs inside dir. */
int ov_check_idmapped(const char *dir, struct lc_err *err);

/* ---- What an upper directory encodes (see OVERLAYFS-NOTES.md) ---- */

enum ov_entry_kind {
	OV_ENTRY_PLAIN = 0,     /* an ordinary upper entry */
	OV_ENTRY_WHITEOUT,      /* 0/0 char device, or xattr whiteout */
};

struct ov_entry_info {
	enum ov_entry_kind kind;
	bool opaque;          /* dir with overlay.opaque="y": hides the lower dir */
	bool xwhiteouts;      /* dir with overlay.opaque="x": holds xattr whiteouts */
	bool metacopy;        /* file with overlay.metacopy: content is in the lower */
	char *redirect;       /* overlay.redirect value, or NULL; caller frees */
	bool has_origin;      /* overlay.origin present (a copy-up) */
};

/*
 * Decode the upper entry `name` in directory fd dirfd, whose lstat is st.
 * Reads both trusted.overlay.* and user.overlay.* (userxattr mounts).
 * A zero-size regular file with overlay.whiteout is a whiteout whether or
 * not its parent carries overlay.opaque="x": kernel 6.18 answers ENOENT for
 * it either way (the mark only makes readdir hide the name too), so what the
 * mounted child shows is "deleted".
 */
int ov_read_entry(int dirfd, const char *name, const struct stat *st, struct ov_entry_info *ret);
void ov_entry_info_done(struct ov_entry_info *info);

/* True for overlay-private xattr names (trusted.overlay.*, user.overlay.*). */
bool ov_xattr_is_private(const char *name);
