/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* systemd-style INI settings files; see settings.h for the format. */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>

#include "src/store/settings.h"
#include "src/store/store.h"
#include "src/basic/macro.h"
#include "src/basic/fileio.h"
#include "src/basic/strutil.h"

enum line_type { LINE_RAW, LINE_SECTION, LINE_ASSIGN };

struct line {
	enum line_type type;
	char *section;  /* LINE_SECTION: its name; LINE_ASSIGN: the section it is in */
	char *key;      /* LINE_ASSIGN */
	char *value;    /* LINE_ASSIGN */
	char *raw;      /* LINE_RAW: comment or blank line, kept verbatim */
};

struct settings {
	struct line *lines;
	size_t n, cap;
};

struct settings *settings_new(void)
{
	return calloc(1, sizeof(struct settings));
}

void settings_free(struct settings *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->lines[i].section);
		free(s->lines[i].key);
		free(s->lines[i].value);
		free(s->lines[i].raw);
	}
	free(s->lines);
	free(s);
}

void settings_freep(struct settings **s)
{
	settings_free(*s);
}

static struct line *insert_line(struct settings *s, size_t at)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct line *l = realloc(s->lines, cap * sizeof(*l));
		if (!l)
			return NULL;
		s->lines = l;
		s->cap = cap;
	}
	memmove(&s->lines[at + 1], &s->lines[at], (s->n - at) * sizeof(*s->lines));
	s->n++;
	memset(&s->lines[at], 0, sizeof(*s->lines));
	return &s->lines[at];
}

static char *strip(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

static bool key_ok(const char *k)
{
	if (!*k)
		return false;
	for (; *k; k++)
		if (!lc_isalnum_ascii((unsigned char)*k) && *k != '_' && *k != '-' && *k != '.')
			return false;
	return true;
}

bool settings_value_ok(const char *v)
{
	return v && !strchr(v, '\n') && !strchr(v, '\r');
}

static int parse_fail(struct lc_err *err, const char *what, unsigned lineno, const char *why)
{
	return lc_err_ret(err, -EBADMSG, "%s:%u: %s", what, lineno, why);
}

int settings_parse(const char *text, size_t len, const char *what, struct settings **ret, struct lc_err *err)
{
	_cleanup_settings_ struct settings *s = settings_new();
	_cleanup_free_ char *copy = NULL;
	char *section = NULL;
	unsigned lineno = 0;

	if (!s)
		return -ENOMEM;
	if (memchr(text, '\0', len))
		return parse_fail(err, what, 1, "contains a NUL byte (binary file?)");
	if (!(copy = strndup(text, len)))
		return -ENOMEM;

	for (char *p = copy, *nl; p && *p; p = nl) {
		nl = strchr(p, '\n');
		if (nl)
			*nl++ = '\0';
		lineno++;
		char *t = strip(p);
		struct line *l = insert_line(s, s->n);
		if (!l)
			return -ENOMEM;
		if (*t == '\0' || *t == '#' || *t == ';') {
			l->type = LINE_RAW;
			if (!(l->raw = strdup(p)))
				return -ENOMEM;
		} else if (*t == '[') {
			size_t n = strlen(t);
			if (t[n - 1] != ']' || n < 3)
				return parse_fail(err, what, lineno, "malformed section header");
			t[n - 1] = '\0';
			if (!key_ok(t + 1))
				return parse_fail(err, what, lineno, "invalid section name");
			l->type = LINE_SECTION;
			if (!(l->section = strdup(t + 1)))
				return -ENOMEM;
			section = l->section;
		} else {
			char *eq = strchr(t, '=');
			if (!eq)
				return parse_fail(err, what, lineno, "expected KEY=VALUE, a [Section] or a comment");
			*eq = '\0';
			char *k = strip(t), *v = strip(eq + 1);
			if (!key_ok(k))
				return parse_fail(err, what, lineno, "invalid key name");
			if (!section)
				return parse_fail(err, what, lineno, "assignment outside of any [Section]");
			l->type = LINE_ASSIGN;
			if (!(l->section = strdup(section)) || !(l->key = strdup(k)) || !(l->value = strdup(v)))
				return -ENOMEM;
		}
	}
	*ret = TAKE_PTR(s);
	return 0;
}

int settings_load(int dirfd, const char *name, struct settings **ret, struct lc_err *err)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	return settings_load_fd(fd, name, ret, err);
}

int settings_load_fd(int fd, const char *name, struct settings **ret, struct lc_err *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return parse_fail(err, name, 0, "not a regular file");
	if (st.st_size > (1 << 20))
		return parse_fail(err, name, 0, "larger than 1 MiB");
	if ((r = lc_read_full_sized(fd, (size_t)st.st_size, &buf, &len)) < 0)
		return r;
	return settings_parse(buf, len, name, ret, err);
}

const char **settings_get_all(const struct settings *s, const char *section, const char *key, size_t *ret_n)
{
	size_t n = 0;
	const char **v = calloc(s->n + 1, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < s->n; i++) {
		const struct line *l = &s->lines[i];
		if (l->type != LINE_ASSIGN || strcmp(l->section, section) || strcmp(l->key, key))
			continue;
		if (l->value[0] == '\0')
			n = 0; /* "Key=" resets the list */
		else
			v[n++] = l->value;
	}
	v[n] = NULL;
	if (ret_n)
		*ret_n = n;
	return v;
}

const char **settings_section_keys(const struct settings *s, const char *section)
{
	size_t n = 0;
	const char **v = calloc(s->n + 1, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (s->lines[i].type == LINE_ASSIGN && !strcmp(s->lines[i].section, section))
			v[n++] = s->lines[i].key;
	v[n] = NULL;
	return v;
}

const char *settings_get(const struct settings *s, const char *section, const char *key)
{
	const char *found = NULL;
	for (size_t i = 0; i < s->n; i++) {
		const struct line *l = &s->lines[i];
		if (l->type == LINE_ASSIGN && !strcmp(l->section, section) && !strcmp(l->key, key))
			found = l->value[0] ? l->value : NULL;
	}
	return found;
}

int settings_value_bool(const char *v)
{
	static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
	static const char *const no[] = { "0", "no", "n", "false", "f", "off" };
	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		if (!strcasecmp(v, yes[i]))
			return 1;
		if (!strcasecmp(v, no[i]))
			return 0;
	}
	return -EINVAL;
}

int settings_get_bool(const struct settings *s, const char *section, const char *key, bool def)
{
	const char *v = settings_get(s, section, key);
	return v ? settings_value_bool(v) : def;
}

int settings_get_uint(const struct settings *s, const char *section, const char *key, unsigned long *ret)
{
	const char *v = settings_get(s, section, key);
	unsigned long n = 0;
	if (!v)
		return -ENOENT;
	if (!*v)
		return -EINVAL;
	/* Digits only (no sign, no blank), no overflow: what strtoul would check, without its locale tables. */
	for (const char *p = v; *p; p++) {
		if (!lc_isdigit_ascii((unsigned char)*p))
			return -EINVAL;
		unsigned d = (unsigned)(*p - '0');
		if (n > (ULONG_MAX - d) / 10)
			return -EINVAL;
		n = n * 10 + d;
	}
	*ret = n;
	return 0;
}

static void drop_line(struct settings *s, size_t i)
{
	free(s->lines[i].section);
	free(s->lines[i].key);
	free(s->lines[i].value);
	free(s->lines[i].raw);
	memmove(&s->lines[i], &s->lines[i + 1], (s->n - i - 1) * sizeof(*s->lines));
	s->n--;
}

/* Index after the last line of [section]; creates the section at the end if missing. */
static int section_end(struct settings *s, const char *section, size_t *ret)
{
	size_t end = 0;
	bool found = false, in = false;
	for (size_t i = 0; i < s->n; i++) {
		const struct line *l = &s->lines[i];
		if (l->type == LINE_SECTION)
			in = !strcmp(l->section, section);
		if (in) {
			found = true;
			/* blank lines and comments trailing a section belong to the next one */
			if (l->type != LINE_RAW)
				end = i + 1;
		}
	}
	if (!found) {
		size_t at = s->n;
		if (at > 0) {
			struct line *blank = insert_line(s, at++);
			if (!blank || !(blank->raw = strdup("")))
				return -ENOMEM;
			blank->type = LINE_RAW;
		}
		struct line *l = insert_line(s, at);
		if (!l || !(l->section = strdup(section)))
			return -ENOMEM;
		l->type = LINE_SECTION;
		end = at + 1;
	}
	*ret = end;
	return 0;
}

int settings_add(struct settings *s, const char *section, const char *key, const char *value)
{
	size_t at;
	int r;
	if (!key_ok(section) || !key_ok(key) || !settings_value_ok(value))
		return -EINVAL;
	r = section_end(s, section, &at);
	if (r < 0)
		return r;
	struct line *l = insert_line(s, at);
	if (!l)
		return -ENOMEM;
	l->type = LINE_ASSIGN;
	if (!(l->section = strdup(section)) || !(l->key = strdup(key)) || !(l->value = strdup(value)))
		return -ENOMEM;
	return 0;
}

int settings_set(struct settings *s, const char *section, const char *key, const char *value)
{
	bool replaced = false;
	if (value && !settings_value_ok(value))
		return -EINVAL;
	/* Keep the key where it stands (first assignment); drop any repeats. */
	for (size_t i = 0; i < s->n;) {
		struct line *l = &s->lines[i];
		if (l->type != LINE_ASSIGN || strcmp(l->section, section) || strcmp(l->key, key)) {
			i++;
			continue;
		}
		if (value && !replaced) {
			char *v = strdup(value);
			if (!v)
				return -ENOMEM;
			free(l->value);
			l->value = v;
			replaced = true;
			i++;
		} else
			drop_line(s, i);
	}
	return value && !replaced ? settings_add(s, section, key, value) : 0;
}

char *settings_to_string(const struct settings *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	for (size_t i = 0; i < s->n; i++) {
		const struct line *l = &s->lines[i];
		switch (l->type) {
		case LINE_RAW: fprintf(f, "%s\n", l->raw); break;
		case LINE_SECTION: fprintf(f, "[%s]\n", l->section); break;
		case LINE_ASSIGN: fprintf(f, "%s=%s\n", l->key, l->value); break;
		}
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

int settings_save(const struct settings *s, int dirfd, const char *name)
{
	_cleanup_free_ char *text = settings_to_string(s);
	if (!text)
		return -ENOMEM;
	return atomic_write_at(dirfd, name, text, strlen(text), 0644);
}
