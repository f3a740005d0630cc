/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dlopen() of optional-at-start libraries: see dlopen-lib.h. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "src/basic/dlopen-lib.h"

static bool forbidden;

void lc_dl_forbid(void)
{
	forbidden = true;
}

int lc_dl_open(struct lc_dl_lib *lib, struct lc_err *err)
{
	if (lib->handle)
		return 0;
	if (forbidden)
		return lc_err_ret(err, -ENOPKG, "%s (%s) was not loaded before entering the container", lib->soname,
				  lib->needed_for);
	void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return lc_err_ret(err, -ENOPKG, "cannot load %s, needed for %s (apt-get install %s): %s", lib->soname,
				  lib->needed_for, lib->package, dlerror());
	for (size_t i = 0; i < lib->n; i++)
		if (!(*lib->slots[i] = dlsym(h, lib->names[i]))) {
			/* Keep no half-resolved table: a later call would jump to NULL. */
			for (size_t k = 0; k < i; k++)
				*lib->slots[k] = NULL;
			dlclose(h);
			return lc_err_ret(err, -ENOPKG, "%s has no symbol %s (too old?), needed for %s", lib->soname,
					  lib->names[i], lib->needed_for);
		}
	lib->handle = h;
	return 0;
}

void lc_dl_load_or_die(struct lc_dl_lib *lib)
{
	struct lc_err err = { "" };
	lc_dl_open(lib, &err);
	fprintf(stderr, "layerctl: %s\n", err.msg[0] ? err.msg : lib->soname);
	_exit(EXIT_FAILURE);
}
