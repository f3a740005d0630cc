/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* (stub until the drift engine lands) */
#include "diff/diff.h"

int diff_manifest_build(const char *tree_dir, const char *out_path, struct lc_err *err)
{
	return 0;
}
