/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Output helpers every command shares (src/output.c): names and paths on
 * one line, the same names in JSON, file types, byte counts, and the
 * escaping of messages.  The CLI only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "src/json.h"

/* Valid UTF-8 (json.h's rules)? */
bool output_utf8_valid(const char *s, size_t n);
/* A name on one line: \\ \n \t and \xHH for control bytes and bytes that are not UTF-8. */
void output_escaped(FILE *f, const char *s, size_t n);
/* "/" + the escaped store-relative path. */
void output_path(FILE *f, const char *path, size_t len);
/*
 * JSON "key": the bytes as a string, bytes that are not UTF-8 as U+00XX
 * (what json.h does); when that happens "key_hex" carries the exact bytes.
 */
void json_kv_bytes(struct json *j, const char *key, const char *s, size_t n);
/* json_kv_bytes of "/" + path. */
void json_kv_path(struct json *j, const char *key, const char *path, size_t len);
/* "file", "dir", "symlink"…, and the one-letter form ('f', 'd', 'l'…), of a st_mode. */
const char *output_type_name(uint32_t mode);
char output_type_char(uint32_t mode);
/* "512 B", "1.5 MiB". */
void output_format_bytes(uint64_t b, char *buf, size_t size);
/* A list command's output (base list, child list, audit): a JSON array, or a text table. */
struct output_list {
	bool json;
	struct json j;
};
/* Start it; true when the caller prints its text header. */
bool output_list_begin(struct output_list *l, bool json);
/* Close the JSON array, or say `none` on stderr (unless --quiet) when the table had no rows. */
void output_list_end(struct output_list *l, size_t n, const char *none);

/*
 * A message on one line: \n \t \r and \xNN for the other control
 * characters, so a name or path holding a newline cannot split a message
 * (or forge a second one).
 */
void escape_message(char *out, size_t size, const char *in);
