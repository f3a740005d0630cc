/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libseccomp, loaded on first use (src/basic/dlopen-lib.h): only when the
 * syscall filter is built, i.e. when the cached program in the runtime dir
 * is missing or stale (seccomp.c); a `run` that finds the cache never
 * loads it.  Include this instead of <seccomp.h>.
 */
#pragma once

#include <seccomp.h>

#include "src/basic/dlopen-lib.h"

#define LC_SECCOMP_SONAME "libseccomp.so.2"

#define LC_SECCOMP_SYMBOLS(X) \
	X(seccomp_arch_add) X(seccomp_arch_native) X(seccomp_attr_set) X(seccomp_export_bpf) \
	X(seccomp_init) X(seccomp_load) X(seccomp_release) X(seccomp_rule_add_array) \
	X(seccomp_syscall_resolve_name)

LC_SECCOMP_SYMBOLS(LC_DL_DECLARE)
extern struct lc_dl_lib lc_seccomp_lib;

#ifndef LC_SECCOMP_DL_IMPL
#define seccomp_arch_add LC_DL_CALL(lc_seccomp_lib, seccomp_arch_add)
#define seccomp_arch_native LC_DL_CALL(lc_seccomp_lib, seccomp_arch_native)
#define seccomp_attr_set LC_DL_CALL(lc_seccomp_lib, seccomp_attr_set)
#define seccomp_export_bpf LC_DL_CALL(lc_seccomp_lib, seccomp_export_bpf)
#define seccomp_init LC_DL_CALL(lc_seccomp_lib, seccomp_init)
#define seccomp_load LC_DL_CALL(lc_seccomp_lib, seccomp_load)
#define seccomp_release LC_DL_CALL(lc_seccomp_lib, seccomp_release)
#define seccomp_rule_add_array LC_DL_CALL(lc_seccomp_lib, seccomp_rule_add_array)
#define seccomp_syscall_resolve_name LC_DL_CALL(lc_seccomp_lib, seccomp_syscall_resolve_name)
#endif
