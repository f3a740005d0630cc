/*
 * Linked into a build compiled with -finstrument-functions by
 * tests/bench/startup-functions.sh: writes the offset (from the start of the
 * executable) of every function the process enters, once each, in the order
 * first entered, to the file $LAYERCTL_FUNC_TRACE.  Forked children share
 * the descriptor (O_APPEND) and their own copy of the table, so a function a
 * child enters again is written again: the script keeps the first.
 * This file itself is compiled without -finstrument-functions.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define NO_TRACE __attribute__((no_instrument_function))

void __cyg_profile_func_enter(void *fn, void *site) NO_TRACE;
void __cyg_profile_func_exit(void *fn, void *site) NO_TRACE;

extern char __executable_start[];

static void *seen[16384];
static int trace_fd = -2;

void __cyg_profile_func_enter(void *fn, void *site)
{
	(void)site;
	size_t h = ((uintptr_t)fn >> 4) % (sizeof(seen) / sizeof(*seen));
	while (seen[h] && seen[h] != fn)
		h = (h + 1) % (sizeof(seen) / sizeof(*seen));
	if (seen[h])
		return;
	seen[h] = fn;
	if (trace_fd == -2) {
		const char *path = getenv("LAYERCTL_FUNC_TRACE");
		trace_fd = path ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;
	}
	if (trace_fd >= 0) {
		char line[32];
		int n = snprintf(line, sizeof(line), "%#lx\n", (unsigned long)((char *)fn - __executable_start));
		if (write(trace_fd, line, (size_t)n) < 0)
			trace_fd = -1;
	}
}

void __cyg_profile_func_exit(void *fn, void *site)
{
	(void)fn;
	(void)site;
}
