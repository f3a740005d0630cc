/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "src/basic/macro.h"
#include "src/basic/proctitle.h"

int lc_set_mm_pair(int opt_start, int opt_end, unsigned long start, unsigned long end)
{
	/* The kernel checks start <= end after each call: which goes first depends on the direction. */
	if (prctl(PR_SET_MM, opt_start, start, 0, 0) == 0 && prctl(PR_SET_MM, opt_end, end, 0, 0) == 0)
		return 0;
	if (prctl(PR_SET_MM, opt_end, end, 0, 0) == 0 && prctl(PR_SET_MM, opt_start, start, 0, 0) == 0)
		return 0;
	return -errno;
}

int lc_arg_env_area(unsigned long v[4])
{
	char buf[2048];
	_cleanup_close_ int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	/* After "pid (comm)" comes field 3; arg_start..env_end are fields 48-51. */
	for (int field = 2; p && field < 48; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3]) != 4 || v[0] > v[1] || v[2] > v[3])
		return -EIO;
	return 0;
}

int lc_set_cmdline(const char *title)
{
	size_t n = strlen(title) + 1;
	if (n > 4096)
		return -E2BIG;
	char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return -errno;
	memcpy(page, title, n);
	unsigned long a = (unsigned long)page;
	if (lc_set_mm_pair(PR_SET_MM_ARG_START, PR_SET_MM_ARG_END, a, a + n) == 0)
		return 0;
	munmap(page, 4096);
	/* Refused (no CAP_SYS_RESOURCE): the old area, which is our own stack's, takes the title. */
	unsigned long v[4];
	int r = lc_arg_env_area(v);
	if (r < 0 || v[1] - v[0] < 2)
		return r < 0 ? r : -ENOSPC;
	size_t size = v[1] - v[0];
	memset((void *)v[0], 0, size);
	memcpy((void *)v[0], title, n < size ? n : size - 1);
	return 0;
}
