/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A streaming JSON writer for --json output.  Commas and nesting are tracked
 * here so callers only say what comes next.  Strings are escaped per RFC 8259;
 * bytes that are not valid UTF-8 are written as \u00XX (Latin-1 code points)
 * so every file name survives as a JSON string — see json_string_bytes() for
 * names that must round-trip exactly.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct json {
	FILE *f;
	int depth;
	bool need_comma[64];
	bool after_key;
	bool pretty;
};

void json_init(struct json *j, FILE *f);
void json_begin_object(struct json *j);
void json_end_object(struct json *j);
void json_begin_array(struct json *j);
void json_end_array(struct json *j);
void json_key(struct json *j, const char *key);
void json_string(struct json *j, const char *s);       /* NULL -> null */
void json_string_len(struct json *j, const char *s, size_t n);
void json_int(struct json *j, int64_t v);
void json_uint(struct json *j, uint64_t v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
size_t json_utf8_seq_len(const unsigned char *s, size_t n);

/* Finish the document with a newline. */
void json_done(struct json *j);

/* key + value shortcuts */
void json_kv_string(struct json *j, const char *key, const char *v);
void json_kv_int(struct json *j, const char *key, int64_t v);
void json_kv_uint(struct json *j, const char *key, uint64_t v);
void json_kv_bool(struct json *j, const char *key, bool v);
