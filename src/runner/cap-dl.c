/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libcap's symbol table for lc_dl_open (cap-dl.h). */
#define LC_CAP_DL_IMPL
#include "src/runner/cap-dl.h"

LC_CAP_SYMBOLS(LC_DL_DEFINE)

static const char *const names[] = { LC_CAP_SYMBOLS(LC_DL_NAME) };
static void **const slots[] = { LC_CAP_SYMBOLS(LC_DL_SLOT) };

struct lc_dl_lib lc_cap_lib = {
	.soname = LC_CAP_SONAME,
	.needed_for = "capability sets",
	.package = "libcap2",
	.names = names,
	.slots = slots,
	.n = ELEMENTSOF(names),
};
