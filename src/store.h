/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The store: a directory tree holding bases and children (DESIGN.md, "The
 * store"), the locks that serialise changes to it, and atomic file updates.
 *
 *   bases/NAME/base.conf            [Base] Current=N Latest=M Previous=P Description=…
 *   bases/NAME/gens/N/tree/         generation N (read-only lower layer; its files
 *                                   are hard links shared with other generations)
 *   bases/NAME/gens/N/manifest      content manifest of that tree
 *   bases/NAME/gens/N/gen.conf      [Generation] Date= Description= Source= Parent= counts
 *   bases/NAME/gens/.new-M@PID/     generation M being built (src/store/generation.h);
 *                                   a gens/K with K > Latest is a killed commit's leftover
 *   children/NAME/child.conf        [Child] Base=NAME Generation=N + run settings
 *   children/NAME/upper/ work/ root/
 *   locks/base.NAME, locks/child.NAME   flock(2) targets
 *
 * Entries whose names start with '.' under bases/ and children/ are
 * in-progress or trash (".new-*", ".trash-*") and are never listed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/file.h>

#include "src/settings.h"

#define STORE_DEFAULT_ROOT "/var/lib/layerctl"
#define STORE_DEFAULT_RUNTIME "/run/layerctl"
#define NAME_MAX_LEN 64

struct store {
	char *root;      /* canonical absolute path */
	char *runtime;   /* runtime dir for this store (pids, logs, sockets) */
	int root_fd;
};

/*
 * Open the store at root (NULL: $LAYERCTL_ROOT or the default).  With create,
 * make the directory skeleton if missing.  Runtime dir: runtime, else
 * $LAYERCTL_RUNTIME_DIR, else /run/layerctl — plus "/stores/<hash of root>"
 * when the store is not the default one, so two stores never share state.
 */
int store_open(struct store *s, const char *root, const char *runtime, bool create);
void store_close(struct store *s);

/* Hostname rules, <= 64 bytes.  On failure *why says which rule broke. */
int name_validate(const char *name, const char **why);

/*
 * Lock order, to stay deadlock-free: a base's lock before any child's lock,
 * and never two children at once.
 */
enum lock_kind { LOCK_BASE, LOCK_CHILD };
/*
 * flock(2) locks/base.NAME or locks/child.NAME; op is LOCK_SH or LOCK_EX,
 * optionally | LOCK_NB.  Returns an fd to close (releases), or -errno
 * (-EWOULDBLOCK when busy with LOCK_NB).
 */
int store_lock(struct store *s, enum lock_kind kind, const char *name, int op);
/* Store-wide lock (held shared by every command that changes state, exclusive by gc-like sweeps). */
int store_lock_global(struct store *s, int op);

/* Paths (malloc'd, absolute). */
char *store_base_dir(const struct store *s, const char *base);
char *store_gen_dir(const struct store *s, const char *base, unsigned gen);
char *store_gen_tree(const struct store *s, const char *base, unsigned gen);
char *store_gen_manifest(const struct store *s, const char *base, unsigned gen);
char *store_child_dir(const struct store *s, const char *child);
char *store_child_path(const struct store *s, const char *child, const char *leaf); /* upper, work, root, child.conf */

struct base_info {
	char *name;
	unsigned current;       /* current generation */
	char *description;
	char *source;           /* what it was imported from */
	unsigned *gens;         /* generations present, ascending */
	size_t n_gens;
	struct settings *conf;
};
void base_info_done(struct base_info *b);

struct child_info {
	char *name;
	char *base;
	unsigned gen;
	struct settings *conf;  /* whole child.conf: [Child] plus run settings */
};
void child_info_done(struct child_info *c);

/* -ENOENT when missing; -EBADMSG (with *err) when the settings file is corrupt. */
int store_base_load(struct store *s, const char *name, struct base_info *ret, char **err);
int store_child_load(struct store *s, const char *name, struct child_info *ret, char **err);
/* Atomically rewrite children/NAME/child.conf (caller holds the child lock). */
int store_child_save_conf(struct store *s, const char *name, const struct settings *conf);

/*
 * In-progress and trash entries are named ".new-NAME@PID" and
 * ".trash-NAME@PID.NSEC" ('@' cannot occur in a name).  Remove those under
 * bases/ and children/ whose PID is gone: what a killed import, create or
 * rm left behind.  Returns how many were removed.
 */
int store_sweep(struct store *s);

/* Sorted names of bases / children (dot-entries skipped). */
int store_list_bases(struct store *s, char ***ret, size_t *n);
int store_list_children(struct store *s, char ***ret, size_t *n);
void strv_free(char **v);

/* Overlay of a child: mounted at children/NAME/root? 1/0/-errno */
int store_child_is_mounted(struct store *s, const struct child_info *c);
/*
 * Mount / unmount a child's overlay (caller holds the child lock).  Mount
 * checks the store's file system can hold an upper first.  Both are no-ops
 * when already in the wanted state: return 1 then, 0 when they acted.
 */
int store_child_mount(struct store *s, const struct child_info *c, char **err);
int store_child_umount(struct store *s, const struct child_info *c, char **err);

/* ---- file helpers ---- */

/* Write dirfd/name atomically: temp file, fsync, rename, fsync dir. */
int atomic_write_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode);
/* Remove a tree without following symlinks or crossing mounts (-EBUSY on a mount point). */
int rm_rf_at(int dirfd, const char *name);
/* Rename dirfd/name to a hidden trash name, fsync, then remove it. */
int remove_atomically(int dirfd, const char *name);
int fsync_dir_at(int dirfd, const char *name);
/* mkdir -p of an absolute or dirfd-relative path. */
int mkdir_p(const char *path, mode_t mode);
