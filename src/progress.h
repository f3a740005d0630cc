/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A one-line progress display on stderr: "Importing: 12,345 entries, 234.5
 * MiB (45.6 MiB/s), 0:05", with "of TOTAL" and a percentage where the total
 * is known.  Only when stderr is a terminal and --quiet is not given; redrawn
 * in place at most four times a second; erased by progress_done().
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "src/basic/progress-cb.h"

struct progress {
	struct lc_progress cb;     /* hand &cb to the library */
	bool enabled;
	bool drawn;                /* on the screen now */
	bool ever_drawn;
	const char *what;
	const char *unit;          /* "entries" unless set after progress_begin(); */
	bool count_only;           /* no bytes: "3 of 100 children, elapsed" */
	struct timespec start, last;
	uint64_t entries, bytes, total_entries, total_bytes;
};

void progress_begin(struct progress *p, const char *what);
void progress_done(struct progress *p);
/* Erase the line before other output; the next report draws it again (at the usual rate). */
void progress_clear(struct progress *p);
