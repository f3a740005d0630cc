/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How a library reports progress on long work: a callback the CLI installs
 * (src/progress.c draws it on a terminal).  Libraries never print.  Called
 * often (per entry): the callback decides when to draw.
 */
#pragma once

#include <stdint.h>

struct lc_progress {
	/* done so far; totals 0 when unknown (may become known later) */
	void (*fn)(void *userdata, uint64_t entries, uint64_t bytes, uint64_t total_entries, uint64_t total_bytes);
	void *userdata;
	/* a new phase of the same work ("Hashing" after "Importing"): counts start again (may be NULL) */
	void (*phase)(void *userdata, const char *what);
};

static inline void lc_progress_report(const struct lc_progress *p, uint64_t entries, uint64_t bytes,
				      uint64_t total_entries, uint64_t total_bytes)
{
	if (p && p->fn)
		p->fn(p->userdata, entries, bytes, total_entries, total_bytes);
}

static inline void lc_progress_phase(const struct lc_progress *p, const char *what)
{
	if (p && p->phase)
		p->phase(p->userdata, what);
}
