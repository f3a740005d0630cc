/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libmnl's symbol table for lc_dl_open (mnl-dl.h). */
#define LC_MNL_DL_IMPL
#include "src/runner/mnl-dl.h"

LC_MNL_SYMBOLS(LC_DL_DEFINE)

static const char *const names[] = { LC_MNL_SYMBOLS(LC_DL_NAME) };
static void **const slots[] = { LC_MNL_SYMBOLS(LC_DL_SLOT) };

struct lc_dl_lib lc_mnl_lib = {
	.soname = LC_MNL_SONAME,
	.needed_for = "private networks (netlink)",
	.package = "libmnl0",
	.names = names,
	.slots = slots,
	.n = ELEMENTSOF(names),
};
