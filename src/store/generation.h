/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Base generations (DESIGN.md "Generations", docs/store.md): committing
 * generation M from the current one N plus a change (a new tree, or the
 * upper dir of a scratch overlay), per-generation records, switching the
 * current generation, and what a set of generations alone holds on disk.
 *
 *   bases/NAME/base.conf       [Base] Current=N Latest=M Previous=P ...
 *   bases/NAME/gens/N/tree/    the tree; never modified after its commit
 *   bases/NAME/gens/N/manifest
 *   bases/NAME/gens/N/gen.conf [Generation] Date= Description= Source=
 *                              Parent= Changed= Added= Removed=
 *   bases/NAME/gens/.new-M@PID/   a generation being built (tree/, and for
 *                              a command: upper/ work/ root/ of the scratch)
 *
 * A commit builds everything under .new-M@PID, syncs, renames it to gens/M
 * and then rewrites base.conf with Current=M Latest=M.  Latest is the
 * commit record: a gens/K with K > Latest is what a commit killed between
 * the two renames left; it is never listed and the next sweep removes it.
 *
 * Unchanged files of M are hard links to N's inodes (same content hash,
 * type, mode, owner, xattrs); changed ones are new inodes.  A shared inode
 * is never chmod'ed, chown'ed or written: a metadata change is a new copy.
 *
 * Library code: returns 0 or -errno with a one-line detail in err (a struct lc_err,
 * may be NULL); never prints.  Callers hold the base lock exclusively for
 * everything that changes a base (gen_txn_*, gen_set_current, gen_remove).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "src/store/store.h"

struct diff_manifest;

struct gen_record {
	unsigned number;
	unsigned parent;        /* 0: none (the import) */
	char *date;             /* ISO 8601 UTC */
	char *description;
	char *source;           /* "import DIR", "--from PATH", "-- CMD" */
	uint64_t changed, added, removed;  /* vs parent; -1 (UINT64_MAX) unknown */
};
void gen_record_done(struct gen_record *g);
/* Read gens/N/gen.conf (a generation without one, e.g. an imported gen 1, gets defaults). */
int gen_record_load(struct store *s, const char *base, unsigned gen, struct gen_record *ret, struct lc_err *err);

/* base.conf keys: the latest committed generation (default Current), the one current before. */
int gen_base_latest(struct store *s, const char *base, unsigned *latest, unsigned *previous);

struct gen_stats {
	uint64_t entries;       /* of the new manifest */
	uint64_t changed, added, removed;
	uint64_t linked;        /* files hard-linked to the previous generation */
	uint64_t new_files;     /* files written (copied or moved in) */
	uint64_t new_bytes;     /* their sizes */
	uint64_t hashed_files;  /* what was hashed */
};

/* A generation being built. */
struct lc_progress;
struct gen_txn {
	struct store *s;
	char *base;
	unsigned from;          /* the current generation it starts from */
	unsigned to;            /* the number it will get */
	int gens_fd;            /* bases/NAME/gens */
	int tmp_fd;             /* gens/.new-TO@PID */
	char *tmp_name;         /* ".new-TO@PID" */
	char *tmp_path;         /* absolute */
	struct diff_manifest *old;   /* manifest of `from` */
	struct diff_manifest *built; /* manifest of the new tree, once filled */
	struct gen_stats stats;
	bool committed;
	bool from_image;        /* `from` is an image generation: nothing can be linked to it */
	const struct lc_progress *progress; /* set by the caller: entries/bytes of a --from import */
};

/*
 * Start generation max(existing)+1 on top of the current one: sweeps this
 * base's leftovers first, opens the current manifest, makes the hidden
 * build dir.  The caller holds the base lock exclusively.
 */
int gen_txn_begin(struct store *s, const char *base, struct gen_txn *t, struct lc_err *err);
/* Remove the build dir unless committed; free everything. */
void gen_txn_done(struct gen_txn *t);
/*
 * Fill the new generation with the squashfs/EROFS image source itself
 * (`base update --from IMAGE --keep-image`): see store_gen_fill_from_image.
 */
struct store_image_fill;
int gen_txn_fill_from_image(struct gen_txn *t, const char *source, struct store_image_fill *fill, struct lc_err *err);

/*
 * New tree = the directory or tarball at source (imported by libarchive,
 * then every file identical to the current generation's is replaced by a
 * hard link to its inode; the manifest of those is inherited).
 */
int gen_txn_fill_from_source(struct gen_txn *t, const char *source, struct lc_err *err);

/*
 * Scratch overlay dirs for a command: tmp/upper (its root gets the current
 * tree root's owner, mode and xattrs), tmp/work, tmp/root.  Absolute paths.
 */
int gen_txn_scratch(struct gen_txn *t, char **upper, char **work, char **root, struct lc_err *err);
/*
 * New tree = current tree + the scratch upper (unmounted by now): files of
 * upper moved in (or linked to the old inode when identical), whiteouts and
 * opaque dirs applied, hard links for everything else.  Only the files in
 * upper are hashed.  Refuses redirect and metacopy entries (-EXDEV).
 */
int gen_txn_fill_from_upper(struct gen_txn *t, struct lc_err *err);

/* Write manifest and gen.conf, sync, rename into place, make it current. */
int gen_txn_commit(struct gen_txn *t, const char *description, const char *source, struct lc_err *err);

/* Make gen current (it must exist); Previous= becomes the old current. */
int gen_set_current(struct store *s, const char *base, unsigned gen, struct lc_err *err);

/* Remove generation gen (not current; the caller checked nobody needs it). */
int gen_remove(struct store *s, const char *base, unsigned gen, struct lc_err *err);

/*
 * Bytes (st_blocks) of every inode under the trees, manifests and records of
 * gens[] whose every link is inside that set: what removing them all frees.
 * For one generation: the disk it alone holds.
 */
int gen_disk_held(struct store *s, const char *base, const unsigned *gens, size_t n, uint64_t *ret_bytes,
		  struct lc_err *err);

/*
 * Remove what killed commits of this base left: gens/.new-*@PID whose PID
 * is gone, and gens/K above Latest (only when the base lock can be taken
 * right away (shared suffices), or the caller holds it: never under a commit
 * in progress).
 * Returns how many.
 */
int gen_sweep_base(struct store *s, const char *base, bool caller_holds_lock);

/*
 * Test-only fault injection: when $LAYERCTL_TEST_CRASH_AT is "gen-commit:K",
 * the process kills itself with SIGKILL at step K of a commit.
 */
void gen_crash_point(unsigned step);
