/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Settings files (base.conf, child.conf): systemd-style INI.
 *
 *   # comment            ; comment
 *   [Section]
 *   Key=value            (whitespace around '=' and at the ends is trimmed)
 *
 * Keys may repeat (Bind=, Environment=): all values are kept in order; an
 * empty assignment "Key=" resets the list, as in systemd unit files.  Comments
 * and blank lines survive a load/save cycle.  A line that is none of the above
 * makes the load fail with "FILE:LINE: why" — a corrupt settings file is never
 * half-trusted.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "src/basic/macro.h"

struct settings;

/* Load dirfd/name.  -ENOENT if missing; -EBADMSG with *err = "name:LINE: why". */
int settings_load(int dirfd, const char *name, struct settings **ret, struct lc_err *err);
/* The same from an open fd; name is for messages. */
int settings_load_fd(int fd, const char *name, struct settings **ret, struct lc_err *err);
/* Parse from memory (unit tests, fuzzing). `what` names the source in errors. */
int settings_parse(const char *text, size_t len, const char *what, struct settings **ret, struct lc_err *err);
struct settings *settings_new(void);
void settings_free(struct settings *s);
void settings_freep(struct settings **s);
#define _cleanup_settings_ __attribute__((cleanup(settings_freep)))

/* Last value of Section/Key after resets, or NULL. */
const char *settings_get(const struct settings *s, const char *section, const char *key);
/* All values of Section/Key after the last reset (NULL-terminated array, free the array only). */
const char **settings_get_all(const struct settings *s, const char *section, const char *key, size_t *n);
/* The key of every assignment in Section, in file order, repeats included (NULL-terminated array, free the array only). */
const char **settings_section_keys(const struct settings *s, const char *section);
/* Boolean per systemd (yes/no/true/false/on/off/1/0); def when unset; -EINVAL when unparsable. */
int settings_get_bool(const struct settings *s, const char *section, const char *key, bool def);
/* "yes"/"no" and systemd's other spellings: 1, 0, or -EINVAL. */
int settings_value_bool(const char *v);
/* Unsigned integer; -EINVAL when unparsable, -ENOENT when unset. */
int settings_get_uint(const struct settings *s, const char *section, const char *key, unsigned long *ret);

/* Replace every assignment of Section/Key with one (value NULL removes the key). */
int settings_set(struct settings *s, const char *section, const char *key, const char *value);
/* Append another value to a multi-valued key. */
int settings_add(struct settings *s, const char *section, const char *key, const char *value);

/* Serialise; the result ends with a newline. */
char *settings_to_string(const struct settings *s);
/* Atomic write (temp + fsync + rename + fsync dir). */
int settings_save(const struct settings *s, int dirfd, const char *name);

/* Values may not hold newlines or NUL; keys are [A-Za-z0-9_.-]+. */
bool settings_value_ok(const char *v);
