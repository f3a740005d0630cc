/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What /proc/PID/cmdline shows of this process. */
#pragma once

/*
 * What ps and /proc/PID/cmdline show becomes title: the kernel's argv area
 * is pointed at a fresh page holding it (PR_SET_MM, CAP_SYS_RESOURCE), or,
 * where that is refused, the old area is overwritten (title cut to its
 * length, the rest NULs): argv[] must not be used afterwards.  The
 * environment is not touched.  0 or -errno.
 */
int lc_set_cmdline(const char *title);

/* arg_start, arg_end, env_start, env_end of this process (/proc/self/stat). */
int lc_arg_env_area(unsigned long v[4]);

/* PR_SET_MM of a start/end pair, in whichever order the kernel's start <= end check allows. */
int lc_set_mm_pair(int opt_start, int opt_end, unsigned long start, unsigned long end);
