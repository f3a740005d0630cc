/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "src/log.h"
#include "src/progress.h"

#define REDRAW_NS (250 * 1000 * 1000LL)

static long long ns_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);
}

static void mib(char *buf, size_t size, uint64_t bytes)
{
	snprintf(buf, size, "%.1f MiB", (double)bytes / (1024.0 * 1024.0));
}

static void draw(struct progress *p, const struct timespec *now)
{
	char line[256], done[32], total[32], rate[32];
	double secs = (double)ns_between(&p->start, now) / 1e9;
	long elapsed = (long)secs;
	size_t n = 0;

	mib(done, sizeof(done), p->bytes);
	mib(rate, sizeof(rate), secs > 0 ? (uint64_t)((double)p->bytes / secs) : 0);
	if (p->total_entries)
		n += snprintf(line + n, sizeof(line) - n, "%s: %llu of %llu %s", p->what,
			      (unsigned long long)p->entries, (unsigned long long)p->total_entries, p->unit);
	else
		n += snprintf(line + n, sizeof(line) - n, "%s: %llu %s", p->what, (unsigned long long)p->entries,
			      p->unit);
	if (p->count_only)
		snprintf(line + n, sizeof(line) - n, ", %ld:%02ld", elapsed / 60, elapsed % 60);
	else if (p->total_bytes) {
		mib(total, sizeof(total), p->total_bytes);
		n += snprintf(line + n, sizeof(line) - n, ", %s of %s (%d%%)", done, total,
			      (int)(p->bytes * 100 / p->total_bytes > 100 ? 100 : p->bytes * 100 / p->total_bytes));
	} else
		n += snprintf(line + n, sizeof(line) - n, ", %s", done);
	if (!p->count_only)
		snprintf(line + n, sizeof(line) - n, ", %s/s, %ld:%02ld", rate, elapsed / 60, elapsed % 60);
	/* Never wider than the terminal: a wrapped line cannot be redrawn in place. */
	struct winsize ws;
	size_t cols = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 ? ws.ws_col - 1 : 79;
	if (strlen(line) > cols)
		line[cols] = '\0';
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	p->drawn = p->ever_drawn = true;
	p->last = *now;
}

static void update(void *userdata, uint64_t entries, uint64_t bytes, uint64_t total_entries, uint64_t total_bytes)
{
	struct progress *p = userdata;
	struct timespec now;
	p->entries = entries;
	p->bytes = bytes;
	if (total_entries)
		p->total_entries = total_entries;
	if (total_bytes)
		p->total_bytes = total_bytes;
	clock_gettime(CLOCK_MONOTONIC, &now);
	/* The first report draws at once; then at most four times a second. */
	if (p->ever_drawn && ns_between(&p->last, &now) < REDRAW_NS)
		return;
	draw(p, &now);
}

/* The elapsed time keeps running: it is one command's work. */
static void phase(void *userdata, const char *what)
{
	struct progress *p = userdata;
	p->what = what;
	p->entries = p->bytes = p->total_entries = p->total_bytes = 0;
	p->ever_drawn = false; /* the phase's first report draws at once */
}

void progress_begin(struct progress *p, const char *what)
{
	*p = (struct progress){ .what = what, .unit = "entries" };
	p->enabled = !log_quiet && isatty(STDERR_FILENO);
	p->cb = (struct lc_progress){ p->enabled ? update : NULL, p, p->enabled ? phase : NULL };
	clock_gettime(CLOCK_MONOTONIC, &p->start);
}

void progress_clear(struct progress *p)
{
	if (p->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	p->drawn = false;
}

void progress_done(struct progress *p)
{
	if (p->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	p->drawn = false;
}
