/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libblkid's symbol table for lc_dl_open (blkid-dl.h). */
#define LC_BLKID_DL_IMPL
#include "src/store/blkid-dl.h"

LC_BLKID_SYMBOLS(LC_DL_DEFINE)

static const char *const names[] = { LC_BLKID_SYMBOLS(LC_DL_NAME) };
static void **const slots[] = { LC_BLKID_SYMBOLS(LC_DL_SLOT) };

struct lc_dl_lib lc_blkid_lib = {
	.soname = LC_BLKID_SONAME,
	.needed_for = "identifying file system images",
	.package = "libblkid1",
	.names = names,
	.slots = slots,
	.n = ELEMENTSOF(names),
};
