/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/*
 * The strings joined, up to the NULL that ends the list: a malloc'd string,
 * or NULL (out of memory).  asprintf("%s%s…") without printf's machinery:
 * on the paths every short command takes, asprintf() and vasprintf() are two
 * more 64 KiB windows of libc's code faulted in at each start
 * (docs/benchmarks.md, "Code placement").
 */
char *lc_strjoin(const char *first, ...) __attribute__((sentinel));
/* v as 16 lowercase hex digits ("%016llx") into out[17]; returns out. */
char *lc_hex64(uint64_t v, char out[static 17]);
/*
 * ASCII letters and digits, whatever the locale: names and settings keys are
 * ASCII by rule, and libc's ctype table is one more page of its data touched
 * at each start.
 */
static inline bool lc_isdigit_ascii(unsigned char c)
{
	return c >= '0' && c <= '9';
}
static inline bool lc_isalnum_ascii(unsigned char c)
{
	return lc_isdigit_ascii(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}
