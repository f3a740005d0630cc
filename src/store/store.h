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

#include "src/basic/fsutil.h"
#include "src/store/settings.h"

#define STORE_DEFAULT_ROOT "/var/lib/layerctl"
#define STORE_DEFAULT_RUNTIME "/run/layerctl"
#define NAME_MAX_LEN 64

struct store {
	char *root;      /* canonical absolute path */
	char *runtime;   /* runtime dir for this store (pids, logs, sockets) */
	int root_fd;
	/* Warnings of operations that succeeded (import's metadata notes); the CLI installs it. */
	struct lc_warn warn;
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
/*
 * The child lock for run: when a lingerer holds it (linger.c), borrow its
 * lock and its overlay instead of waiting.  Returns the lock fd; *ret_mnt
 * is the borrowed overlay's unattached original (clone it) and *ret_conn
 * the connection to keep until the run is over, both -1 when the lock was
 * taken the ordinary way.
 */
int store_lock_child_or_borrow(struct store *s, const char *name, int *ret_mnt, int *ret_conn);
/* Store-wide lock (held shared by every command that changes state, exclusive by gc-like sweeps). */
int store_lock_global(struct store *s, int op);

/*
 * A run's overlay kept for the next runs (linger.c).  The lingerer listens
 * on RUNTIME/linger/NAME.sock (listen: a socket fd, -ENAMETOOLONG when the
 * runtime path is too long for one) and serves until asked to quit or
 * timeout_ms after its last borrower hung up (serve returns 0 then).
 * release asks a lingerer to go now, present whether one is there.  borrow gets its lock and mount
 * (own_lock_fd: our descriptor of the same lock file, to check) and returns
 * the connection; alive says whether the lingerer is still there; end hangs
 * up (quit: asks it to go, and waits until it went).
 */
int store_linger_listen(struct store *s, const char *name);
void store_linger_unlisten(struct store *s, const char *name);
int store_linger_serve(int sock, int lock_fd, int mnt_fd, unsigned timeout_ms);
void store_linger_release(struct store *s, const char *name);
/* Is a lingerer of this child there (status)?  Connects and hangs up. */
bool store_linger_present(struct store *s, const char *name);
int store_linger_borrow(struct store *s, const char *name, int own_lock_fd, int *ret_lock, int *ret_mnt);
bool store_linger_alive(int conn);
void store_linger_end(int conn, bool quit);

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

/* -ENOENT when missing; -EBADMSG (with err) when the settings file is corrupt. */
int store_base_load(struct store *s, const char *name, struct base_info *ret, struct lc_err *err);
int store_child_load(struct store *s, const char *name, struct child_info *ret, struct lc_err *err);
/*
 * Do the base and generation a child names exist?  -ENOENT with err saying
 * which ("no base named X", "base X has no generation N"), 0 when both do.
 */
int store_child_check_base(struct store *s, const struct child_info *c, struct lc_err *err);
/* Atomically rewrite children/NAME/child.conf (caller holds the child lock). */
int store_child_save_conf(struct store *s, const char *name, const struct settings *conf);

/*
 * In-progress and trash entries are named ".new-NAME@PID" and
 * ".trash-NAME@PID.NSEC" ('@' cannot occur in a name).  Remove those under
 * bases/ and children/ whose PID is gone: what a killed import, create or
 * rm left behind.  bases/ is read whole; children/ only at the first sweep
 * since boot (RUNTIME/swept), and after that only its in-flight records.
 * Returns how many were removed.
 */
int store_sweep(struct store *s);
/*
 * Record the leftover a create or rm is about to risk in children/
 * (RUNTIME/inflight/LEFTOVER) before it can exist; drop the record once it
 * cannot any more.  0 (a record that could not be written makes the next
 * sweep read children/ whole), or -errno when not even that could be
 * arranged.
 */
int store_inflight_begin(struct store *s, const char *leftover);
void store_inflight_end(struct store *s, const char *leftover);
/* The PID in a ".new-NAME@PID" or ".trash-NAME@PID.NSEC" entry name; 0 if the name is neither. */
pid_t store_leftover_pid(const char *entry);

/*
 * Is path inside the store (STORE_HOLDS_PATH; the store root itself
 * counts), or does it hold the store (PATH_HOLDS_STORE)?  0 when neither,
 * or -errno.  Compared by device and inode of every ancestor, so no
 * spelling of a path (symlinks, bind mounts, "//") escapes it.
 */
enum { STORE_HOLDS_PATH = 1, PATH_HOLDS_STORE = 2 };
int store_overlaps(const struct store *s, const char *path);

/* Sorted names of bases / children (dot-entries skipped). */
int store_list_bases(struct store *s, char ***ret, size_t *n);
int store_list_children(struct store *s, char ***ret, size_t *n);

/* Overlay of a child: mounted at children/NAME/root? 1/0/-errno */
int store_child_is_mounted(struct store *s, const struct child_info *c);
/*
 * Mount / unmount a child's overlay (caller holds the child lock).  Mount
 * checks the store's file system can hold an upper first.  Both are no-ops
 * when already in the wanted state: return 1 then, 0 when they acted.
 */
int store_child_mount(struct store *s, const struct child_info *c, struct lc_err *err);
/*
 * The same checks, but the overlay is made as a detached mount (fd returned,
 * O_CLOEXEC) for the caller to attach where it wants — run: in the
 * container's mount namespace only.  The caller has checked that nothing is
 * mounted at the child's root.  -EOPNOTSUPP: an upper stored shifted
 * (idmapped lower), or a kernel or store path that needs mount(2) (overlay.h).
 */
int store_child_mount_detached(struct store *s, const struct child_info *c, struct lc_err *err);
/*
 * Generations kept as images (image-gen.c, base import --keep-image):
 * gens/N/image loop-mounted read-only on gens/N/tree while children use it.
 * is_image: 1/0.  mount: mount it unless it is (0 for a plain generation).
 * release: unmount it when no child of it is mounted any more (1 unmounted).
 * open_root: a descriptor of its root through a private mount (no mount
 * table entry).  fill_from_image: copy the image into gen_dir/image, make
 * gen_dir/tree its mount point, write gen_dir/manifest.
 */
struct import_stats;
struct lc_progress;
int store_gen_is_image(struct store *s, const char *base, unsigned gen);
int store_gen_image_mount(struct store *s, const char *base, unsigned gen, struct lc_err *err);
int store_gen_image_release(struct store *s, const char *base, unsigned gen, struct lc_err *err);
int store_gen_image_open_root(struct store *s, const char *base, unsigned gen, struct lc_err *err);
/* Before removing the generation: release, and -EBUSY (err set) when the image stays mounted. */
int store_gen_image_release_all(struct store *s, const char *base, unsigned gen, struct lc_err *err);
/*
 * expect_checksum (FILE.xxh128, may be NULL) is checked against the stored
 * copy; when it matches and expect_manifest is set, that manifest is the
 * generation's (adopted = true) and nothing in the image is read.  Else
 * every file is hashed through a private mount.
 */
struct store_image_fill {
	const struct lc_progress *progress;
	const char *expect_checksum;
	const char *expect_manifest;
	bool adopted; /* out */
};
int store_gen_fill_from_image(const char *source, const char *gen_dir, struct store_image_fill *o,
			      struct import_stats *st, struct lc_err *err);
/*
 * Make an image generation's directory durable file by file: its image,
 * manifest, gen.conf, tree/ and itself.  Not syncfs(), which would also wait
 * for every other writer's dirty data on the store's file system.
 */
int store_image_gen_sync(int gen_fd);
/* "ext4 on /dev/vda2 (label root)": the file system path is on, for messages (storage-name.c). */
int store_describe_fs(const char *path, char *buf, size_t size);
int store_child_umount(struct store *s, const struct child_info *c, struct lc_err *err);

/*
 * Children (src/store/child.c).  Each returns 0 or -errno with err saying
 * what went wrong (without the child's name: the caller adds it).
 *
 * Create NAME from BASE's current generation (*ret_gen): takes the base
 * lock shared and the child lock itself; -EEXIST when NAME exists, -ENOENT
 * when BASE does not.
 */
int store_child_create(struct store *s, const char *name, const char *base, const char *description,
		       unsigned *ret_gen, struct lc_err *err);
/*
 * Empty the child's upper (and work) dir.  Reset and remove need the caller
 * to hold the child lock and to have checked the child is neither mounted
 * nor running (running state belongs to the runner).  Reset warns through
 * warn when the old upper dir cannot be fully deleted.
 */
int store_child_reset(struct store *s, const struct child_info *c, const struct lc_warn *warn, struct lc_err *err);
/* 0 removed, 1 removed but its trash could not be fully deleted (the next sweep retries). */
int store_child_remove(struct store *s, const char *name, struct lc_err *err);
/* children/NAME present (even with a broken child.conf)?  1/0/-errno */
int store_child_exists(struct store *s, const char *name);

/*
 * Bases (src/store/base.c).  Import source (an absolute, canonical path: a
 * directory or a tarball) as generation 1 of a new base NAME under the
 * base lock; progress (may be NULL) hears "Importing …" once the lock is
 * held.  -EEXIST when NAME exists, -EINVAL when source overlaps the store.
 */
struct import_stats;
int store_base_import(struct store *s, const char *name, const char *source, const char *description,
		      const struct lc_warn *progress, struct import_stats *st, struct lc_err *err);
/*
 * The same with options: expect_manifest refuses (nothing created) when the
 * imported tree's manifest differs from that file (`base export`'s
 * FILE.manifest) in anything but times (`base import --verify`);
 * keep_image makes generation 1 the squashfs/EROFS image itself
 * (`--keep-image`, store_gen_fill_from_image).
 */
struct lc_progress;
struct diff_manifest;
/* --verify: got differs from the manifest file expect in nothing but times?  0, or -EBADMSG naming the first entry. */
int store_check_manifest(const struct diff_manifest *got, const char *expect, struct lc_err *err);
/* --verify of a regular file source against its FILE.xxh128 (checksum; NULL: nothing to check). */
int store_check_source_checksum(const char *source, const char *checksum, struct lc_err *err);
struct store_import_opts {
	const char *expect_manifest;
	const char *expect_checksum; /* FILE.xxh128 (base export), checked when set */
	bool keep_image;
	bool adopted;                /* out: --keep-image took expect_manifest (the checksum matched) */
	const struct lc_progress *progress; /* entries and bytes copied (NULL: none) */
};
int store_base_import_opts(struct store *s, const char *name, const char *source, const char *description,
			   struct store_import_opts *o, const struct lc_warn *progress, struct import_stats *st,
			   struct lc_err *err);
/*
 * Remove base NAME under its lock: -ENOENT, -EBUSY while a child uses it,
 * -EBADMSG when some child.conf cannot be read (a user of it may hide
 * there).  0 removed, 1 removed but trash remains.
 */
int store_base_remove(struct store *s, const char *name, struct lc_err *err);
/* Names of the children of base (any generation); *corrupt set when some child.conf cannot be read. */
int store_children_of(struct store *s, const char *base, char ***ret, size_t *ret_n, bool *corrupt);
