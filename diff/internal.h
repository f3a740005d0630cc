/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers shared by the files of diff/ (not part of its public interface). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diff/diff.h"

/* "/proc/self/fd/N/" + a name of at most 255 bytes. */
#define NAME_MAX_PROC 320

/* A growable byte buffer: the path of the current walk position, pools. */
struct dbuf {
	char *p;
	size_t len, alloc;
};
int dbuf_reserve(struct dbuf *b, size_t extra);
int dbuf_append(struct dbuf *b, const void *data, size_t n);
void dbuf_done(struct dbuf *b);

/* Fill e from an lstat result (the parts a stat gives; hashes untouched). */
void diff_entry_from_stat(struct diff_entry *e, const struct stat *st);

/* XXH3-128 built for AVX2 (diff/xxh-avx2.c); use only when available() says so. */
bool diff_xxh_avx2_available(void);
void *diff_xxh_avx2_new(void);
void diff_xxh_avx2_free(void *s);
void diff_xxh_avx2_reset(void *s);
void diff_xxh_avx2_update(void *s, const void *data, size_t len);
void diff_xxh_avx2_digest(void *s, uint8_t out[DIFF_HASH_SIZE]);
