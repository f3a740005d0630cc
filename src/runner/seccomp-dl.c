/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libseccomp's symbol table for lc_dl_open (seccomp-dl.h). */
#define LC_SECCOMP_DL_IMPL
#include "src/runner/seccomp-dl.h"

LC_SECCOMP_SYMBOLS(LC_DL_DEFINE)

static const char *const names[] = { LC_SECCOMP_SYMBOLS(LC_DL_NAME) };
static void **const slots[] = { LC_SECCOMP_SYMBOLS(LC_DL_SLOT) };

struct lc_dl_lib lc_seccomp_lib = {
	.soname = LC_SECCOMP_SONAME,
	.needed_for = "building the syscall filter",
	.package = "libseccomp2",
	.names = names,
	.slots = slots,
	.n = ELEMENTSOF(names),
};
