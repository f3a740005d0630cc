/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dlopen() of libarchive on first use; see archive-dl.h for why. */
#define LC_ARCHIVE_DL_IMPL
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

#include "src/store/archive-dl.h"
#include "src/basic/macro.h"

#define LC_ARCHIVE_DEFINE(s) __typeof__(&s) sym_##s;
LC_ARCHIVE_SYMBOLS(LC_ARCHIVE_DEFINE)
#undef LC_ARCHIVE_DEFINE

int archive_dl_open(struct lc_err *err)
{
	static void *handle;
	if (handle)
		return 0;
	void *h = dlopen(LC_ARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		return lc_err_ret(err, -ENOPKG, "cannot load %s, which base import needs (apt-get install libarchive13): %s",
				  LC_ARCHIVE_SONAME, dlerror());
	}
#define LC_ARCHIVE_RESOLVE(s)                                                                           \
	if (!(sym_##s = (__typeof__(&s))dlsym(h, #s))) {                                                \
		dlclose(h);                                                                             \
		return lc_err_ret(err, -ENOPKG, "%s has no symbol %s (too old?)", LC_ARCHIVE_SONAME, #s); \
	}
	LC_ARCHIVE_SYMBOLS(LC_ARCHIVE_RESOLVE)
#undef LC_ARCHIVE_RESOLVE
	handle = h;
	return 0;
}
