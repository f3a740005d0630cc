/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* User-facing messages: "layerctl: CONTEXT: what went wrong" on stderr. */
#pragma once

#include <stdbool.h>
#include "src/basic/macro.h"

_printf_(1, 2) void log_error(const char *fmt, ...);
_printf_(1, 2) void log_warning(const char *fmt, ...);
_printf_(1, 2) void log_info(const char *fmt, ...);   /* stderr, unless --quiet */
_printf_(1, 2) void log_hint(const char *fmt, ...);   /* "hint: ..." on stderr */

/* log_error() and return `ret` (an exit code). */
#define log_fail(ret, ...) ({ __typeof__(ret) _r = (ret); log_error(__VA_ARGS__); _r; })

extern bool log_quiet;

/*
 * Format a message and escape its control characters (\n, \t, \xNN), so
 * a name or path holding a newline stays on the message's one line
 * (escape_message() in src/output.h).
 */
#include <stdarg.h>
#include <stddef.h>
void vformat_message(char *out, size_t size, const char *fmt, va_list ap) _printf_(3, 0);

/* Colour on stdout: a terminal, and NO_COLOR unset. */
bool use_color_stdout(void);

/* "entry" or "entries": the word for a count of n (messages say "1 file", "2 files"). */
#define PLURAL(n, one, many) ((n) == 1 ? (one) : (many))
