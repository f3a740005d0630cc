/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * XXH3-128 compiled for AVX2, chosen at run time when the CPU has it.
 *
 * Distribution builds of libxxhash are compiled for the baseline x86-64 CPU
 * (SSE2), which hashes at about a third of the speed xxhsum reaches.  The
 * library's own header-only mode (XXH_INLINE_ALL) lets us compile the very
 * same code for AVX2 in this one file; everything else keeps calling the
 * shared library.  The results are identical (XXH3 is defined bit for bit
 * whatever the vector unit); test-diff-manifest checks it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diff/internal.h"

/* clang ignores "#pragma GCC target" for the intrinsics headers: baseline there. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC target("avx2")
#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_AVX2
#include <xxhash.h>

/*
 * Asked of glibc, which read the CPU's features when it started anyway.
 * __builtin_cpu_supports() would link libgcc's __cpu_indicator_init, a
 * constructor that runs a dozen CPUID instructions in *every* layerctl
 * start (`run` and `--version` included), and CPUID traps to the
 * hypervisor in a VM: 3% of a `run`'s cycles (docs/benchmarks.md).
 */
#if __has_include(<sys/platform/x86.h>)
#include <sys/platform/x86.h>
bool diff_xxh_avx2_available(void)
{
	return CPU_FEATURE_ACTIVE(AVX2);
}
#else
bool diff_xxh_avx2_available(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2");
}
#endif

void *diff_xxh_avx2_new(void)
{
	return XXH3_createState();
}

void diff_xxh_avx2_free(void *s)
{
	XXH3_freeState(s);
}

void diff_xxh_avx2_reset(void *s)
{
	XXH3_128bits_reset(s);
}

void diff_xxh_avx2_update(void *s, const void *data, size_t len)
{
	XXH3_128bits_update(s, data, len);
}

void diff_xxh_avx2_digest(void *s, uint8_t out[DIFF_HASH_SIZE])
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(s));
	memcpy(out, c.digest, DIFF_HASH_SIZE);
}
#pragma GCC pop_options
#else
bool diff_xxh_avx2_available(void) { return false; }
void *diff_xxh_avx2_new(void) { return NULL; }
void diff_xxh_avx2_free(void *s) {}
void diff_xxh_avx2_reset(void *s) {}
void diff_xxh_avx2_update(void *s, const void *data, size_t len) {}
void diff_xxh_avx2_digest(void *s, uint8_t out[DIFF_HASH_SIZE]) {}
#endif
