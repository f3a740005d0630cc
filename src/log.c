/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "src/log.h"
#include "src/output.h"

bool log_quiet;

void vformat_message(char *out, size_t size, const char *fmt, va_list ap)
{
	char raw[4096];
	vsnprintf(raw, sizeof(raw), fmt, ap);
	escape_message(out, size, raw);
}

/*
 * One fprintf per message so lines from concurrent commands don't
 * interleave, and control characters escaped so a name or path holding a
 * newline cannot split a message (or forge a second one).
 */
_printf_(2, 0) static void log_v(const char *prefix, const char *fmt, va_list ap)
{
	char buf[8192];
	vformat_message(buf, sizeof(buf), fmt, ap);
	fprintf(stderr, "layerctl: %s%s\n", prefix, buf);
}

void log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_v("", fmt, ap);
	va_end(ap);
}

void log_warning(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_v("warning: ", fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	if (log_quiet)
		return;
	char buf[8192];
	va_list ap;
	va_start(ap, fmt);
	vformat_message(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", buf);
}

void log_hint(const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	va_start(ap, fmt);
	vformat_message(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "hint: %s\n", buf);
}

bool use_color_stdout(void)
{
	const char *nc = getenv("NO_COLOR");
	if (nc && *nc)
		return false;
	return isatty(STDOUT_FILENO);
}
