/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libmount's symbol table for lc_dl_open (mount-dl.h). */
#define LC_MOUNT_DL_IMPL
#include "src/basic/mount-dl.h"

LC_MOUNT_SYMBOLS(LC_DL_DEFINE)

static const char *const names[] = { LC_MOUNT_SYMBOLS(LC_DL_NAME) };
static void **const slots[] = { LC_MOUNT_SYMBOLS(LC_DL_SLOT) };

struct lc_dl_lib lc_mount_lib = {
	.soname = LC_MOUNT_SONAME,
	.needed_for = "mounts and mount tables",
	.package = "libmount1",
	.names = names,
	.slots = slots,
	.n = ELEMENTSOF(names),
};
