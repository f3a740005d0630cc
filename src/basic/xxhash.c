/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libxxhash, compiled into layerctl from its own header (the library's
 * documented XXH_IMPLEMENTATION mode) instead of linked as libxxhash.so.0.
 *
 * Every layerctl start paid the dynamic loader for a library that only
 * `diff`, `audit`, `base import/verify` and a rebuild of the seccomp cache
 * call; its code is small (~20 KiB) and pure (no state, no I/O), so a
 * private copy costs nothing while the shared one cost every command a
 * mapping and its relocations (docs/benchmarks.md).  The hashes are the same
 * bit for bit: XXH3 is a stable format, and test-diff-manifest checks known
 * digests.  The header still comes from libxxhash-dev through pkg-config.
 */
#define XXH_STATIC_LINKING_ONLY
#define XXH_IMPLEMENTATION
/*
 * XXH3_createState is the one allocation diff/ makes through xxHash: the
 * unit test test-diff-alloc-failure replaces it (it used to interpose the
 * shared library's).  So the library's own is built under another name and
 * the public one is a weak wrapper that a test program's definition wins over.
 */
#define XXH3_createState lc_xxh3_create_state
#include <xxhash.h>
#undef XXH3_createState

XXH3_state_t *lc_xxh3_create_state(void);
__attribute__((weak)) XXH3_state_t *XXH3_createState(void);
XXH3_state_t *XXH3_createState(void)
{
	return lc_xxh3_create_state();
}
