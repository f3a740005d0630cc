/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Private to fstab-gen/: what fstab.c (the entries) and fstab-file.c (the file) share. */
#pragma once

#include "src/basic/macro.h"

/* Does libmount read the written temp file without complaint? (A last safety net.) */
int fg_verify_written(const char *tmp_path, const char *what, struct lc_err *err);
