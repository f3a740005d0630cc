/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fault injection for tests only: see src/basic/testhook.h. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "src/basic/testhook.h"

void test_hook(const char *point)
{
	const char *spec = getenv("LAYERCTL_TEST_HOOK");
	size_t n = strlen(point);
	if (!spec || strncmp(spec, point, n) != 0 || spec[n] != ':')
		return;
	const char *action = spec + n + 1;
	if (strcmp(action, "kill") == 0)
		raise(SIGKILL);
	else if (strncmp(action, "pause:", 6) == 0) {
		const char *file = action + 6;
		int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
		for (int i = 0; i < 6000 && access(file, F_OK) == 0; i++)
			nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	} else if (strncmp(action, "sleep:", 6) == 0) {
		long ms = strtol(action + 6, NULL, 10);
		if (ms > 0 && ms <= 60000)
			nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L }, NULL);
	}
}
