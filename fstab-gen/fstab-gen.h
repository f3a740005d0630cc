/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fstab-gen/ — fstab entries for children (through libmount's table API) and
 * the systemd generator that writes .mount/.automount units instead.
 * Never prints, never exits; returns 0 or -errno (detail in struct lc_err).
 *
 * An entry layerctl owns looks like this (one line; fields mangled by
 * libmount, i.e. ' ' -> \040, '\' -> \134, ...):
 *
 *   overlay TARGET overlay x-layerctl.child=NAME,noauto,nofail,
 *     x-systemd.automount,x-systemd.requires-mounts-for="STORE",
 *     lowerdir=L,upperdir=U,workdir=W,index=off,metacopy=off,redirect_dir=off 0 0
 *
 * Ownership is the x-layerctl.child= option and nothing else: every other
 * line of the file is carried over byte for byte.
 *
 * nofail: a child is never worth a failed boot.  Without it systemd makes
 * the .automount a requirement of local-fs.target, and wherever autofs is
 * missing (containers, kernels without CONFIG_AUTOFS_FS) the boot ends in
 * emergency mode.  The generator's units follow the same rule (wants/).
 *
 * Options of an owned entry are either layerctl's (the list above, all
 * required with layerctl's values, in any order) or the user's (see
 * fg_is_user_option): a user's option is never a difference and survives
 * an update of the entry.  Anything else is a difference.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "overlay/overlay.h"

/* The option that marks an fstab entry as layerctl's. */
#define FG_OWNER_OPTION "x-layerctl.child"

/* Everything an entry is built from: plain (unescaped) absolute paths. */
struct fg_child {
	const char *name;   /* child name (hostname rules; checked by the caller) */
	const char *store;  /* store root: x-systemd.requires-mounts-for= */
	const char *target; /* where the overlay is mounted (children/NAME/root) */
	const char *lower;  /* the base generation's tree */
	const char *upper;
	const char *work;
	/*
	 * A generation kept as an image (base import --keep-image): the image
	 * file, its file system type and the directory it is mounted on (the
	 * generation's tree), or NULL.  Only the generator can express it: a
	 * mount unit of its own that the child's unit requires.
	 */
	const char *image;
	const char *image_type;
	const char *image_dir;
};

/*
 * The overlay options alone (what the kernel gets): ov_build_options() for
 * the child's one lower, upper and work dir.
 */
int fg_overlay_options(const struct fg_child *c, char **ret, struct lc_err *err);

/*
 * Options a user may add to an owned entry (name without "=value"):
 * x-systemd.device-timeout, x-systemd.mount-timeout, x-systemd.idle-timeout,
 * and every x-* option outside the namespaces that change whether, when or
 * what is mounted (x-systemd.*, x-initrd.*, x-mount.*, x-layerctl.*), such
 * as x-gvfs-hide.  nofail is layerctl's own (always written, required).
 */
bool fg_is_user_option(const char *name, size_t len);

/*
 * The full option field of the child's fstab entry (owner marker, noauto,
 * nofail, x-systemd.automount, x-systemd.requires-mounts-for= and the
 * overlay options).  Checked with libmount's own option splitter: if libmount would
 * hand the kernel anything but exactly the overlay options (a path piece after
 * an escaped ',' that libmount takes for a mount option such as "ro"), the
 * entry is refused with -EINVAL rather than written and mounted wrong.
 */
int fg_entry_options(const struct fg_child *c, char **ret, struct lc_err *err);

/* The child's entry as one fstab line ending in '\n', formatted by libmount. */
int fg_entry_line(const struct fg_child *c, char **ret, struct lc_err *err);

/* ---- Bringing an fstab file in line ---- */

/*
 * An fstab read once: one open(), read to the end through that descriptor,
 * which is then closed; its directory stays locked until fg_fstab_close().
 * Everything compared or merged afterwards is that text, never the file
 * again (libmount parses a copy of it in memory).
 */
struct fg_fstab;

/*
 * Open, lock (flock on the directory: exclusive when for_write, else shared)
 * and read path.  A missing file reads as empty.  A symlinked path is
 * resolved (its target is what a write replaces).
 */
int fg_fstab_open(const char *path, bool for_write, struct fg_fstab **ret, struct lc_err *err);
void fg_fstab_close(struct fg_fstab *f);

enum fg_change_kind {
	FG_ADD,       /* an enabled child has no entry: appended */
	FG_UPDATE,    /* the child's entry differs: replaced in place */
	FG_REMOVE,    /* an entry of a child that is gone or not enabled */
	FG_DUPLICATE, /* a second entry of the same child: removed */
};

struct fg_change {
	enum fg_change_kind kind;
	char *child;       /* the x-layerctl.child= value */
	unsigned line;     /* 1-based line in the old file (0 for FG_ADD) */
	char *detail;      /* what differs (FG_UPDATE), or NULL */
};

struct fg_report {
	struct fg_change *changes;
	size_t n_changes;
	size_t n_entries;  /* owned entries in the result */
	bool created;      /* the file did not exist (and was created by a write) */
};
void fg_report_done(struct fg_report *r);

enum {
	FG_SYNC_DRY_RUN = 1 << 0, /* only compute the report (--check) */
};

/*
 * Make the fstab at path hold exactly one entry per element of children
 * (sorted by the caller; names unique) and no other layerctl entry of this
 * store.  scope: the store's children directory ("STORE/children"); an
 * entry carrying x-layerctl.child= whose mount point is not below it
 * belongs to another store and is left alone like any foreign line (NULL:
 * every x-layerctl.child= entry is ours).
 *
 * libmount parses and validates the whole file first: any line it cannot
 * parse makes this fail with -EBADMSG ("PATH:LINE: ...") before anything is
 * written.  Lines that are not layerctl entries are copied verbatim; an
 * entry that already matches stays verbatim too; a changed one is replaced
 * at its place; new ones are appended.  The new text is parsed again by
 * libmount before it replaces the file.
 *
 * Locking: flock(LOCK_EX) on the file's directory, so two layerctl writers
 * of the same file serialise without leaving a lock file behind; an edit by
 * another program between our read and our rename is detected (inode, size,
 * mtime) and fails with -EAGAIN.  The write is a temp file in the same
 * directory with the old file's mode and owner, fsync, rename, fsync of the
 * directory.  A symlinked path is resolved and its target replaced.  A
 * missing file is created (mode 0644) unless FG_SYNC_DRY_RUN.
 */
int fg_fstab_sync(const char *path, const char *scope, const struct fg_child *children, size_t n,
		  unsigned flags, struct fg_report *ret, struct lc_err *err);

/*
 * fg_fstab_sync on a file already opened and read by fg_fstab_open: the
 * comparison is made on the text read there.  Without FG_SYNC_DRY_RUN the
 * result replaces the file, unless the file changed since it was read
 * (-EAGAIN).  fg_fstab_sync is fg_fstab_open + this + fg_fstab_close.
 */
int fg_fstab_apply(struct fg_fstab *f, const char *scope, const struct fg_child *children, size_t n,
		   unsigned flags, struct fg_report *ret, struct lc_err *err);

/*
 * The same merge on text in memory, without locking or writing: text is the
 * old file content (what: its name for messages).  libmount parses the text
 * itself, from a copy in memory.  For tests and for fg_fstab_apply.
 */
int fg_fstab_merge(const char *text, size_t len, const char *what, const char *scope,
		   const struct fg_child *children, size_t n, char **ret_text, size_t *ret_len,
		   struct fg_report *ret, struct lc_err *err);

/* ---- systemd generator ---- */

/*
 * The unit name of a mount point, as `systemd-escape --path --suffix=SUFFIX`
 * makes it: "/" -> "-", bytes outside [A-Za-z0-9:_.] and a leading '.' ->
 * \xNN.  -EINVAL for a relative path or one with "." or ".." components,
 * -ENAMETOOLONG over systemd's 255-byte limit.
 */
int fg_unit_name_from_path(const char *path, const char *suffix, char **ret);

struct fg_gen_report {
	char **in_fstab;   /* children whose mount point has an fstab line: systemd-fstab-generator's */
	size_t n_in_fstab;
	char **skipped;    /* children whose unit already existed in the directory */
	size_t n_skipped;
	size_t n_written;
};
void fg_gen_report_done(struct fg_gen_report *r);

/*
 * Write NAME.mount and NAME.automount for each child into dir (a generator's
 * "normal" output directory) and link the .automount from
 * local-fs.target.wants/, as systemd-fstab-generator does for an fstab line
 * with noauto,nofail,x-systemd.automount.
 *
 * A child whose mount point has a line in the fstab at fstab_path (read
 * through libmount; NULL: none is read; a missing file has no lines) is
 * systemd-fstab-generator's to write: it gets no units here and is reported
 * in in_fstab, so the two generators never write the same unit, whichever
 * runs first.  A unit that already exists in dir anyway is left alone and
 * reported as skipped.  An fstab that exists but cannot be read is an error
 * returned after the units were written (systemd-fstab-generator cannot
 * read it either, so nothing collides).
 */
int fg_generate(const char *dir, const char *fstab_path, const struct fg_child *children, size_t n,
		struct fg_gen_report *ret, struct lc_err *err);
