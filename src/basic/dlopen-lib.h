/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared libraries loaded with dlopen() the first time a command needs
 * them, instead of by the dynamic loader at every start (docs/benchmarks.md,
 * "Where the time goes": libmount alone brings libblkid, libselinux and
 * libpcre2 and made `layerctl --version` cost 1.8 process starts).
 *
 * One library = one X-macro list of the symbols layerctl calls (see
 * src/basic/mount-dl.h for the pattern; archive-dl.h predates it): each
 * symbol gets a pointer sym_NAME typed by the library's own prototype, and
 * in the files that include the list's header NAME(...) calls through it,
 * loading the library first if needed, so call sites stay as they were.
 *
 *   lc_dl_open(lib, err)   load it and resolve every symbol: 0, or -ENOPKG
 *                          with a one-line reason (soname, what needs it,
 *                          the package) — for paths that can report it;
 *   lc_dl_need(lib)        the same for a call through a pointer: on
 *                          failure it prints that line and exits 1, exactly
 *                          what the dynamic loader did before, only now in
 *                          the commands that use the library;
 *   lc_dl_forbid()         from now on nothing is loaded: the runner calls
 *                          it in a container's processes, whose root is the
 *                          container's (a library found there must never
 *                          run with the runner's privileges).  The runner
 *                          loads what its children need before clone().
 *
 * The soname is fixed per library (like the SONAME of a link): a new ABI
 * is a new soname, and tests/integration/test-dlopen.sh checks that each
 * one here matches the installed -dev package's.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "src/basic/macro.h"

struct lc_dl_lib {
	const char *soname;          /* "libmount.so.1" */
	const char *needed_for;      /* "mounts and mount tables" */
	const char *package;         /* "libmount1": what to install */
	const char *const *names;    /* the symbols ... */
	void **const *slots;         /* ... and where their addresses go */
	size_t n;
	void *handle;                /* set once every symbol is resolved */
};

int lc_dl_open(struct lc_dl_lib *lib, struct lc_err *err);
_Noreturn void lc_dl_load_or_die(struct lc_dl_lib *lib);
void lc_dl_forbid(void);

static inline void lc_dl_need(struct lc_dl_lib *lib)
{
	if (__builtin_expect(!lib->handle, 0) && lc_dl_open(lib, NULL) < 0)
		lc_dl_load_or_die(lib);
}

/* For the per-library lists. */
#define LC_DL_DECLARE(s) extern __typeof__(&s) sym_##s;
#define LC_DL_DEFINE(s) __typeof__(&s) sym_##s;
#define LC_DL_NAME(s) #s,
#define LC_DL_SLOT(s) (void **)&sym_##s,
/* NAME(...) in a user of the list: the pointer, once the library is in. */
#define LC_DL_CALL(lib, s) (*(lc_dl_need(&(lib)), sym_##s))
