/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Refresh: move a child from its base generation O onto generation B,
 * deciding for every path that differs between the two manifests what the
 * child's upper dir (C) must do so the update shows through without losing
 * what the child changed (the table is in man/layerctl-refresh.1).
 *
 * Library code: returns 0 or -errno with a detail in err (a struct lc_err,
 * may be NULL), never prints.  The caller holds the base lock shared and the child lock
 * exclusively, and has unmounted the child's overlay (refresh_apply,
 * refresh_undo and refresh_recover change the upper dir).
 *
 * On disk, children/NAME/refresh/ holds:
 *   pending/   a refresh in progress: journal, undo/K (entries moved out
 *              of the upper), meta/K (a dir's old owner, mode, xattrs),
 *              base/PATH (B's version of each conflicting path)
 *   undoing/   a `refresh --undo` in progress (the same content)
 *   GEN/       the last committed refresh onto generation GEN: what
 *              `refresh --undo` puts back, and base/PATH for the admin
 * The commit point is child.conf: [Child] Generation=B UndoGeneration=O
 * written atomically.  refresh_recover() finishes or rolls back whatever a
 * crash left, from the journal, so a child is always fully on O (upper as
 * before) or fully on B.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/store/store.h"

struct diff_manifest;

/* The paths that differ between two generations of a base (from their manifests). */
struct refresh_delta;
int refresh_delta_load(struct store *s, const char *base, unsigned from, unsigned to, struct refresh_delta **ret,
		       struct lc_err *err);
void refresh_delta_free(struct refresh_delta *d);
size_t refresh_delta_count(const struct refresh_delta *d);

enum refresh_policy {
	REFRESH_DEFAULT,    /* conflicts: keep C, save B's version */
	REFRESH_KEEP_CHILD, /* conflicts: keep C, save nothing */
	REFRESH_TAKE_BASE,  /* conflicts: C moved to the save dir, B shows */
};

enum refresh_action {
	RF_KEEP,      /* leave the upper as it is */
	RF_REMOVE,    /* move the upper entry to the save dir */
	RF_MERGE,     /* B's content with C's metadata (C moved to the save dir) */
	RF_DIR_META,  /* give the upper dir B's owner, mode and xattrs (old ones saved) */
};

/* Reported classes; the others are only counted. */
enum {
	RF_STALE = 'S',
	RF_CONVERGED = '=',
	RF_MERGED = 'm',
	RF_CONFLICT = 'C',
	RF_ABSENT = '.',          /* no upper entry: B shows through */
	RF_WHITEOUT_DROPPED = 'w',/* a whiteout of a path B deleted too */
	RF_DIR_FOLLOWS = 'd',     /* a copied-up dir takes B's metadata */
	RF_CHILD_ONLY = 'k',      /* nothing of B at stake (child's own entry, base deleted what was hidden) */
};

struct refresh_item {
	char cls;
	enum refresh_action action;
	bool save_base;     /* copy B's version to refresh/GEN/base/PATH */
	bool dir;           /* the upper entry is a directory */
	char *path;         /* relative to the tree root, no leading '/' */
	const char *why;    /* conflicts: a static explanation */
};

struct refresh_plan {
	char *child, *base;
	unsigned from, to;
	enum refresh_policy policy;
	struct refresh_item *items; /* sorted by path */
	size_t n, alloc;
	size_t counts[128];         /* by class character */
};
void refresh_plan_done(struct refresh_plan *p);

/*
 * Decide what to do with each path of delta for child c (on generation
 * delta's "from").  Reads only those paths (and their parent dirs) in the
 * upper.  A type clash (a dir on one side, something else on the other,
 * that the child's changes keep) or an overlay redirect/metacopy xattr in
 * the upper is -ENOTRECOVERABLE / -EOPNOTSUPP with the path in err.
 */
int refresh_plan(struct store *s, const struct child_info *c, const struct refresh_delta *delta,
		 enum refresh_policy policy, struct refresh_plan *ret, struct lc_err *err);

/*
 * Carry out a plan: journal, moves to the save dir, commit (child.conf
 * Generation=B UndoGeneration=O), then drop the previous refresh's undo
 * data and point children/NAME/lower at the new tree.
 */
int refresh_apply(struct store *s, const struct child_info *c, const struct refresh_plan *plan, struct lc_err *err);

/* Where B's version of a conflicting path was saved (malloc'd absolute path). */
char *refresh_saved_path(const struct store *s, const char *child, unsigned gen, const char *path);

/*
 * Finish or roll back what an interrupted refresh or undo left.  Returns 0
 * when there was nothing, 1 rolled back (child on O), 2 finished (child on
 * B, or undone).  Caller holds the child lock.
 */
int refresh_recover(struct store *s, const char *child, struct lc_err *err);

/*
 * Put the child back on UndoGeneration with the upper as before its last
 * refresh.  Refused (-ESTALE, path in err) when a path refresh touched was
 * changed since, -ENOENT when there is nothing to undo.
 */
int refresh_undo(struct store *s, const char *child, struct lc_err *err);

/*
 * children/NAME/lower: a relative symlink to the child's generation tree,
 * which fstab entries and generator units name as lowerdir so they never
 * change when a refresh moves the child (the kernel resolves it at mount
 * time).  Replaced atomically.  _check: 0 right, -ENOENT missing, -ESTALE
 * pointing elsewhere.
 */
int refresh_link_lower(struct store *s, const char *child, const char *base, unsigned gen);
int refresh_check_lower(struct store *s, const char *child, const char *base, unsigned gen);

/* [Child] UndoGeneration= of a loaded child, 0 when none. */
unsigned refresh_undo_generation(const struct child_info *c);
