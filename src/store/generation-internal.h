/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private to src/store/generation*.c: the small directory helpers both
 * the tree builder and the disk-use walk need.  The API is generation.h.
 */
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdbool.h>

#include "src/store/generation.h"

static inline DIR *open_dir_stream(int fd)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* own offset */
	if (dfd < 0)
		return NULL;
	DIR *d = fdopendir(dfd);
	if (!d)
		close(dfd);
	return d;
}

static inline bool dot_or_dotdot(const char *n)
{
	return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'));
}

static inline int open_subdir(int dirfd, const char *name)
{
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}
