/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dlopen() of libarchive on first use; see archive-dl.h for why. */
#define LC_ARCHIVE_DL_IMPL
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

#include "src/store/archive-dl.h"

#define LC_ARCHIVE_DEFINE(s) __typeof__(&s) sym_##s;
LC_ARCHIVE_SYMBOLS(LC_ARCHIVE_DEFINE)
#undef LC_ARCHIVE_DEFINE

int archive_dl_open(char **err)
{
	static void *handle;
	if (handle)
		return 0;
	void *h = dlopen(LC_ARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		if (err && asprintf(err, "cannot load %s, which base import needs (apt-get install libarchive13): %s",
				    LC_ARCHIVE_SONAME, dlerror()) < 0)
			*err = NULL;
		return -ENOPKG;
	}
#define LC_ARCHIVE_RESOLVE(s)                                                                           \
	if (!(sym_##s = (__typeof__(&s))dlsym(h, #s))) {                                                \
		if (err && asprintf(err, "%s has no symbol %s (too old?)", LC_ARCHIVE_SONAME, #s) < 0)  \
			*err = NULL;                                                                    \
		dlclose(h);                                                                             \
		return -ENOPKG;                                                                         \
	}
	LC_ARCHIVE_SYMBOLS(LC_ARCHIVE_RESOLVE)
#undef LC_ARCHIVE_RESOLVE
	handle = h;
	return 0;
}
