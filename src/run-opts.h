/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CLI-internal (src/run-opts.c), shared by the runner commands run and
 * start (src/cmd-run.c) and exec (src/cmd-machine.c): the run config of a
 * command is the child's child.conf with the command-line options on top.
 * Like every CLI helper these print their own error and return an exit code
 * (0 when all is well).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "src/cli.h"
#include "src/runner/runner.h"

/* Options given on the command line, applied on top of child.conf. */
struct run_opts {
	bool boot;
	const char *user, *chdir, *hostname, *console, *resolv_conf;
	bool private_network;
	const char *private_users;   /* --private-users=, checked */
	uint64_t caps_add, caps_drop;
	struct run_config lists;   /* only env, binds, tmpfs, net used */
	char **properties;         /* --property KEY=VALUE (argv strings; the array is ours: run_opts_done) */
	size_t n_properties;
	struct run_limits limits;  /* the same, parsed (to check them early) */
	const char *limits_mode;   /* --limits strict|best-effort, or NULL */
};

/* Free what run_opts_parse allocated. */
void run_opts_done(struct run_opts *o);
/* Split argv at the first "--": options before, the command after.  Returns the new argc. */
int run_opts_split_command(int argc, char **argv, char ***cmd);
/*
 * The options of run (exec_only: of exec, which refuses those of run only)
 * into *o; help is the text --help prints.  0, -1 after printing the help,
 * or an exit code after printing.
 */
int run_opts_parse(const char *cmd, int argc, char **argv, struct run_opts *o, bool exec_only, const char *help);
/* --property ARG (property) or --limits ARG into o: 0 or an exit code after printing. */
int run_opts_parse_limit_opt(const char *cmd, bool property, const char *arg, struct run_opts *o);
/* Apply o (and the command cmdv, if any) on top of the child.conf settings in c. */
int run_opts_apply(const char *cmd, struct run_config *c, struct run_opts *o, char **cmdv);
/* Load child NAME and its child.conf settings into *ci and c (no lock taken). */
int run_opts_load_child(struct ctx *ctx, const char *cmd, const char *name, struct child_info *ci, struct run_config *c);
/*
 * User-namespace mode (src/run-userns.c): resolve PrivateUsers=pick to the
 * child's recorded range and bring the upper's owners to the mode asked
 * (shifted once, offline).  The caller holds the child lock.
 */
int run_opts_prepare_userns(struct ctx *ctx, const char *cmd, struct child_info *ci, struct run_config *c);
/*
 * refresh/undo of a user-namespace child (src/run-userns.c): its upper
 * shifted back before (1 when it was shifted, *saved its range), to saved
 * again after.  Print their errors.
 */
/* Does the child use (PrivateUsers= other than no) or store (a shifted upper) user-namespace mode? */
bool run_opts_child_in_userns_mode(const struct child_info *ci);
struct uid_range;
int cli_userns_unshift(struct ctx *ctx, const char *cmd, struct child_info *c, struct uid_range *saved);
int cli_userns_reshift(struct ctx *ctx, const char *cmd, const char *name, struct uid_range saved);
/* Refuse a runtime dir that someone other than root could change (missing is fine). */
int run_opts_check_runtime_dir(struct ctx *ctx, const char *cmd, const char *name);
