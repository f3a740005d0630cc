/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * UID/GID ranges of children in user-namespace mode (src/store/uidrange.c)
 * and the shift of a child's upper dir between them (src/store/shift.c).
 *
 * child.conf keeps, besides the user's [Exec] PrivateUsers=:
 *   [Child] UIDRange=BASE:COUNT     the range `pick` chose; never changed
 *   [Child] UpperShift=BASE:COUNT   the upper's owners are stored shifted by
 *                                   BASE (absent: stored as the child sees them)
 *   [Child] UpperShiftTo=BASE:COUNT a shift in progress (absent when none);
 *                                   the next command finishes it
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "src/store/store.h"

/* nspawn's pick range (src/nspawn): away from devpts' signed gid= and the low system IDs. */
#define UID_RANGE_PICK_MIN UINT32_C(0x00080000)
#define UID_RANGE_PICK_MAX UINT32_C(0x6FFF0000)
#define UID_RANGE_SIZE     UINT32_C(0x10000)

struct uid_range {
	uint32_t base;
	uint32_t count;   /* 0: no range (IDs as they are) */
};

/* "BASE:COUNT" or "BASE" (COUNT 65536): -EINVAL unless 0 < COUNT and BASE+COUNT fits 32 bits. */
int uid_range_parse(const char *s, struct uid_range *ret);
bool uid_range_overlaps(struct uid_range a, struct uid_range b);
/* Attempt n of the ranges `pick` tries for name: a hash of it, 65536-aligned, inside the pick range. */
uint32_t uid_range_candidate(const char *name, unsigned attempt);
/* Does an /etc/subuid-style file (name:start:count lines) hand out an ID of r?  1/0 (missing file: 0)/-errno. */
int uid_range_in_subid_file(const char *path, struct uid_range r);

/*
 * The child's recorded range, picking one first if it has none: under the
 * store-wide locks/uid-ranges lock, the first candidate that overlaps no
 * other child's range (recorded or fixed), nothing in /etc/subuid and
 * /etc/subgid (subid_dir overrides /etc for tests when not NULL), and no
 * user or group in the host's databases; recorded in c->conf and saved.
 * The caller holds the child lock.
 */
int store_uid_range_pick(struct store *s, struct child_info *c, const char *subid_dir, struct uid_range *ret,
			 struct lc_err *err);

/* What the upper is stored shifted by ([Child] UpperShift=); count 0 when unshifted. */
int store_child_upper_shift(const struct child_info *c, struct uid_range *ret);

/*
 * Shift the owners of the child's upper dir from its current shift to `to`
 * (count 0: unshifted), offline: the caller holds the child lock and has
 * checked it is neither mounted nor running.  Crash-safe: UpperShiftTo= is
 * saved first and the walk is idempotent, so a killed shift is finished by
 * store_child_shift_finish().  progress (may be NULL) hears a line now and
 * then.  -EINVAL when a file's ID cannot be shifted (err names it).
 */
int store_child_shift_upper(struct store *s, struct child_info *c, struct uid_range to, const struct lc_warn *progress,
			    struct lc_err *err);
/* Finish a shift a killed command left (UpperShiftTo= present): 1 finished, 0 none pending. */
int store_child_shift_finish(struct store *s, struct child_info *c, const struct lc_warn *progress, struct lc_err *err);

/* Can the kernel and the store's file system mount an overlay with an idmapped lower?  Cached per boot. */
int store_check_idmapped_cached(struct store *s, struct lc_err *err);
/* A fresh upper dir (child reset) whose root got the base's owner: into the child's current shift. */
int store_child_shift_new_upper(const struct child_info *c, int upper_fd);
