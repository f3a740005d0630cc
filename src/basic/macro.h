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

/*
 * Sets the detail and returns r (a negative errno), for one-line error exits.
 * r is evaluated first: formatting may change errno, and r is often -errno.
 */
#define lc_err_ret(e, r, ...) ({ __typeof__(r) _lc_r = (r); lc_err_set((e), __VA_ARGS__); _lc_r; })

/* What to print for a failure r: the detail when there is one, else errno's text. */
static inline const char *lc_err_msg(const struct lc_err *e, int r)
{
	return e && e->msg[0] ? e->msg : strerror(r < 0 ? -r : r);
}

/*
 * Adds context in front of the detail a callee left: "DETAIL" becomes
 * "CONTEXT: DETAIL" (or just "CONTEXT" when there was none).
 */
_printf_(2, 3)
static inline void lc_err_wrap(struct lc_err *e, const char *fmt, ...)
{
	if (!e)
		return;
	char ctx[sizeof(e->msg)], old[sizeof(e->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	/* Truncation is fine (a long detail loses its tail), so build it by hand. */
	size_t n = strnlen(ctx, sizeof(e->msg) - 1);
	memcpy(e->msg, ctx, n);
	if (old[0] && n + 2 < sizeof(e->msg)) {
		memcpy(e->msg + n, ": ", 2);
		n += 2;
		size_t k = strnlen(old, sizeof(e->msg) - 1 - n);
		memcpy(e->msg + n, old, k);
		n += k;
	}
	e->msg[n] = '\0';
}

/*
 * Warnings: something went wrong but the operation succeeded.  Libraries
 * never print; they call the callback the CLI installed (NULL: dropped).
 */
struct lc_warn {
	void (*fn)(void *userdata, const char *msg);
	void *userdata;
};

_printf_(2, 3)
static inline void lc_warn(const struct lc_warn *w, const char *fmt, ...)
{
	if (!w || !w->fn)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	w->fn(w->userdata, msg);
}
