/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Small helpers every layer of layerctl uses: cleanup attributes and the
 * error-detail record libraries fill in.  src/basic/ is the bottom of the
 * include graph: every module may include it, and it includes nothing of ours.
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

static inline void lc_freep(void *p) { free(*(void **)p); }
static inline void lc_closep(int *fd) { if (*fd >= 0) { int e = errno; close(*fd); errno = e; } }
static inline void lc_fclosep(FILE **f) { if (*f) fclose(*f); }
static inline void lc_closedirp(DIR **d) { if (*d) closedir(*d); }

#define _cleanup_free_ _cleanup_(lc_freep)
#define _cleanup_close_ _cleanup_(lc_closep)
#define _cleanup_fclose_ _cleanup_(lc_fclosep)
#define _cleanup_closedir_ _cleanup_(lc_closedirp)

/* Hand a cleanup-managed pointer/fd to someone else. */
#define TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define STREQ(a, b) (strcmp((a), (b)) == 0)

/*
 * Libraries return 0 or -errno; when they know more than errno can say (which
 * path, which line, which rule) they write it here.  Callers may pass NULL.
 */
struct lc_err {
	char msg[512];
};

_printf_(2, 3)
static inline void lc_err_set(struct lc_err *e, const char *fmt, ...)
{
	if (!e)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

/* Sets the detail and returns r (a negative errno), for one-line error exits. */
#define lc_err_ret(e, r, ...) ({ lc_err_set((e), __VA_ARGS__); (r); })
