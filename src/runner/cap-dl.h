/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libcap, loaded on first use (src/basic/dlopen-lib.h).  Only the runner
 * calls it (capability names, the container's bounding and ambient sets);
 * linked, its constructor probed the kernel's capabilities with six prctl()
 * calls in every layerctl start.  Include this instead of
 * <sys/capability.h> (whose CAP_IS_SUPPORTED and CAP_AMBIENT_SUPPORTED
 * call cap_get_bound and cap_get_ambient).  The container's own processes
 * cannot load it (their root is the container's):
 * runner_clone_into_namespaces loads it first.
 */
#pragma once

#include <sys/capability.h>

#include "src/basic/dlopen-lib.h"

#define LC_CAP_SONAME "libcap.so.2"

#define LC_CAP_SYMBOLS(X) \
	X(cap_drop_bound) X(cap_free) X(cap_from_name) X(cap_get_ambient) X(cap_get_bound) \
	X(cap_get_proc) X(cap_max_bits) X(cap_reset_ambient) X(cap_set_flag) X(cap_set_proc)

LC_CAP_SYMBOLS(LC_DL_DECLARE)
extern struct lc_dl_lib lc_cap_lib;

#ifndef LC_CAP_DL_IMPL
#define cap_drop_bound LC_DL_CALL(lc_cap_lib, cap_drop_bound)
#define cap_free LC_DL_CALL(lc_cap_lib, cap_free)
#define cap_get_ambient LC_DL_CALL(lc_cap_lib, cap_get_ambient)
#define cap_get_bound LC_DL_CALL(lc_cap_lib, cap_get_bound)
#define cap_from_name LC_DL_CALL(lc_cap_lib, cap_from_name)
#define cap_get_proc LC_DL_CALL(lc_cap_lib, cap_get_proc)
#define cap_max_bits LC_DL_CALL(lc_cap_lib, cap_max_bits)
#define cap_reset_ambient LC_DL_CALL(lc_cap_lib, cap_reset_ambient)
#define cap_set_flag LC_DL_CALL(lc_cap_lib, cap_set_flag)
#define cap_set_proc LC_DL_CALL(lc_cap_lib, cap_set_proc)
#endif
