/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fstab-gen/ — fstab entries for children (through libmount's table API) and
 * the systemd generator that writes .mount/.automount units instead.
 * Never prints, never exits; returns 0 or -errno (detail in struct lc_err).
 *
 * An entry layerctl owns looks like this (one line; fields mangled by
 * libmount, i.e. ' ' -> \040, '\' -> \134, ...):
 *
 *   overlay TARGET overlay x-layerctl.child=NAME,noauto,x-systemd.automount,
 *     x-systemd.requires-mounts-for="STORE",lowerdir=L,upperdir=U,workdir=W,
 *     index=off,metacopy=off,redirect_dir=off 0 0
 *
 * Ownership is the x-layerctl.child= option and nothing else: every other
 * line of the file is carried over byte for byte.
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
};

/*
 * The overlay options alone (what the kernel gets): ov_build_options() for
 * the child's one lower, upper and work dir.
 */
int fg_overlay_options(const struct fg_child *c, char **ret, struct lc_err *err);

/*
 * The full option field of the child's fstab entry (owner marker, noauto,
 * x-systemd.automount, x-systemd.requires-mounts-for= and the overlay
 * options).  Checked with libmount's own option splitter: if libmount would
 * hand the kernel anything but exactly the overlay options (a path piece after
 * an escaped ',' that libmount takes for a mount option such as "ro"), the
 * entry is refused with -EINVAL rather than written and mounted wrong.
 */
int fg_entry_options(const struct fg_child *c, char **ret, struct lc_err *err);

/* The child's entry as one fstab line ending in '\n', formatted by libmount. */
int fg_entry_line(const struct fg_child *c, char **ret, struct lc_err *err);

/* ---- Bringing an fstab file in line ---- */

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
 * The same merge on text in memory, without locking or writing: text is the
 * old file content, parsed by libmount from the file at parse_path (which
 * must hold exactly text).  For tests and for fg_fstab_sync.
 */
int fg_fstab_merge(const char *text, size_t len, const char *parse_path, const char *what, const char *scope,
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
	char **skipped;    /* children whose unit already existed (fstab has them?) */
	size_t n_skipped;
	size_t n_written;
};
void fg_gen_report_done(struct fg_gen_report *r);

/*
 * Write NAME.mount and NAME.automount for each child into dir (a generator's
 * "normal" output directory) and link the .automount from
 * local-fs.target.requires/, as systemd-fstab-generator does for an fstab
 * line with x-systemd.automount.  A unit that already exists in dir (written
 * by systemd-fstab-generator for an /etc/fstab line) is left alone and
 * reported as skipped.
 */
int fg_generate(const char *dir, const struct fg_child *children, size_t n, struct fg_gen_report *ret,
		struct lc_err *err);
