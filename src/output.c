/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "src/basic/macro.h"
#include "src/log.h"
#include "src/output.h"

bool output_utf8_valid(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t l = json_utf8_seq_len((const unsigned char *)s + i, n - i);
		if (!l)
			return false;
		i += l;
	}
	return true;
}

/*
 * The one escaper of names, paths and messages.  Writes the escaped form of
 * the character at p (at most 4 bytes plus NUL) to out and returns how many
 * input bytes it stands for.  Names (for_name) also escape '\\' (so the
 * output reads back unambiguously) and bytes that are not UTF-8; messages
 * keep both as they are and spell \r.
 */
static size_t escape_one(const unsigned char *p, size_t n, bool for_name, char out[8])
{
	unsigned char c = p[0];
	if (c == '\n' || c == '\t' || (c == '\r' && !for_name) || (c == '\\' && for_name)) {
		out[0] = '\\';
		out[1] = c == '\n' ? 'n' : c == '\t' ? 't' : c == '\r' ? 'r' : '\\';
		out[2] = '\0';
		return 1;
	}
	if (c < 0x20 || c == 0x7f) {
		snprintf(out, 8, "\\x%02x", c);
		return 1;
	}
	size_t l = c < 0x80 || !for_name ? 1 : json_utf8_seq_len(p, n);
	if (l == 0) {
		snprintf(out, 8, "\\x%02x", c);
		return 1;
	}
	memcpy(out, p, l);
	out[l] = '\0';
	return l;
}

void output_escaped(FILE *f, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t plain = 0;
	while (plain < n && p[plain] >= 0x20 && p[plain] < 0x7f && p[plain] != '\\')
		plain++;
	if (plain == n) { /* the usual name: printable ASCII, one write */
		fwrite(s, 1, n, f);
		return;
	}
	char buf[8];
	for (size_t i = 0; i < n;) {
		i += escape_one(p + i, n - i, true, buf);
		fputs(buf, f);
	}
}

void escape_message(char *out, size_t size, const char *in)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t n = strlen(in), o = 0;
	char buf[8];
	for (size_t i = 0; i < n && o + 5 < size;) {
		i += escape_one(p + i, n - i, false, buf);
		size_t l = strlen(buf);
		memcpy(out + o, buf, l);
		o += l;
	}
	out[o] = '\0';
}

void output_path(FILE *f, const char *path, size_t len)
{
	fputc('/', f);
	output_escaped(f, path, len);
}

void json_kv_bytes(struct json *j, const char *key, const char *s, size_t n)
{
	json_key(j, key);
	json_string_len(j, s, n);
	if (output_utf8_valid(s, n))
		return;
	_cleanup_free_ char *hex = malloc(2 * n + 1);
	if (!hex)
		return;
	for (size_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)s[i]);
	hex[2 * n] = '\0';
	char k[64];
	snprintf(k, sizeof(k), "%s_hex", key);
	json_kv_string(j, k, hex);
}

void json_kv_path(struct json *j, const char *key, const char *path, size_t len)
{
	_cleanup_free_ char *full = malloc(len + 2);
	if (!full)
		return;
	full[0] = '/';
	memcpy(full + 1, path, len);
	full[len + 1] = '\0';
	json_kv_bytes(j, key, full, len + 1);
}

const char *output_type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "symlink";
	case S_IFCHR: return "char";
	case S_IFBLK: return "block";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	}
	return "unknown";
}

char output_type_char(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return 'f';
	case S_IFDIR: return 'd';
	case S_IFLNK: return 'l';
	case S_IFCHR: return 'c';
	case S_IFBLK: return 'b';
	case S_IFIFO: return 'p';
	case S_IFSOCK: return 's';
	}
	return '?';
}

void output_format_bytes(uint64_t b, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	size_t u = 0;
	while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%" PRIu64 " B", b);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
}

bool output_list_begin(struct output_list *l, bool json)
{
	l->json = json;
	if (!json)
		return true;
	json_init(&l->j, stdout);
	json_begin_array(&l->j);
	return false;
}

void output_list_end(struct output_list *l, size_t n, const char *none)
{
	if (l->json) {
		json_end_array(&l->j);
		json_done(&l->j);
	} else if (n == 0 && !log_quiet)
		fprintf(stderr, "%s\n", none);
}
