/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "src/basic/strutil.h"

char *lc_strjoin(const char *first, ...)
{
	va_list ap;
	size_t len = 0;
	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		len += strlen(s);
	va_end(ap);
	char *out = malloc(len + 1), *p = out;
	if (!out)
		return NULL;
	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		p = stpcpy(p, s);
	va_end(ap);
	return out;
}

char *lc_hex64(uint64_t v, char out[static 17])
{
	for (int i = 15; i >= 0; i--, v >>= 4)
		out[i] = "0123456789abcdef"[v & 15];
	out[16] = '\0';
	return out;
}
