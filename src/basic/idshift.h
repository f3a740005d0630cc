/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Moving user and group IDs between ranges (src/basic/idshift.c): a child
 * in user-namespace mode stores its upper's owners, and the IDs inside its
 * POSIX ACLs, shifted by its range's base (src/store/uidrange.h).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The xattr names that hold POSIX ACLs (IDs inside their values). */
#define LC_ACL_ACCESS  "system.posix_acl_access"
#define LC_ACL_DEFAULT "system.posix_acl_default"

/*
 * In the kernel's xattr form of a POSIX ACL (a version header, then tag,
 * perm, id entries), move the IDs of user and group entries that lie in
 * from..from+count-1 to to..: id - from + to.  Returns how many moved, or
 * -EINVAL for a value that is not such an ACL.
 */
int lc_posix_acl_shift(void *value, size_t len, uint32_t from, uint32_t count, uint32_t to);
