/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every command is `int cmd_X(struct ctx *ctx, int argc, char **argv)`:
 * argv[0] is the command word ("import", "mount", …), options follow; the
 * return value is the exit code (0 ok, 1 failure, 2 usage, 3 diff found).
 */
#pragma once

#include <stdbool.h>
#include "src/store/store.h"

struct json;

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_DIFFERS = 3,
};

struct ctx {
	const char *root_arg;     /* --root, or NULL */
	const char *runtime_arg;  /* --runtime-dir, or NULL */
	struct store store;
	bool store_open;
};

/*
 * The store and usage-error helpers below are in src/cli.c (with the rest
 * of what commands share, src/cli.h).
 *
 * Open the store once (create: make the skeleton) and install the warning
 * printer.  Returns 0 or an exit code after printing.
 */
int ctx_store(struct ctx *ctx, bool create);
/*
 * For commands that only look at every base or child (lists, audit, ps,
 * umount --all): a store that does not exist yet is an empty one (*empty
 * set, exit 0 with nothing to show), and is not created.
 */
int ctx_store_or_empty(struct ctx *ctx, bool *empty);

/* Print "layerctl CMD: MESSAGE" (one line) and return EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * After getopt_long returned '?': print "layerctl CMD: unknown option '--x'"
 * or "... option '--x' requires an argument" (one line) and return EXIT_USAGE.
 */
int option_error(const char *cmd, int argc, char **argv, const char *optstring);
/*
 * Between min and max words after the options (argv[optind..])?  Else a
 * usage error naming the first extra word, or saying `needs`.  0 or EXIT_USAGE.
 */
int check_arg_count(const char *cmd, int argc, char **argv, int min, int max, const char *needs);

/* src/cmd-base.c (and cmd-base-manifest.c): the "base" family */
extern const char base_help[];
int cmd_base_import(struct ctx *ctx, int argc, char **argv);
int cmd_base_list(struct ctx *ctx, int argc, char **argv);
int cmd_base_show(struct ctx *ctx, int argc, char **argv);
int cmd_base_rm(struct ctx *ctx, int argc, char **argv);
int cmd_base_manifest(struct ctx *ctx, int argc, char **argv);
int cmd_base_verify(struct ctx *ctx, int argc, char **argv);
int cmd_base_export(struct ctx *ctx, int argc, char **argv);
/* src/cmd-generation.c: generations of a base */
int cmd_base_update(struct ctx *ctx, int argc, char **argv);
int cmd_base_rollback(struct ctx *ctx, int argc, char **argv);
int cmd_base_gc(struct ctx *ctx, int argc, char **argv);
/* src/cmd-base-diff.c: what changed between two generations */
int cmd_base_diff(struct ctx *ctx, int argc, char **argv);
/* The generation table of base show (j: inside its JSON object; NULL: text). */
void base_show_generations(struct store *s, const struct base_info *b, struct json *j);
/* src/cmd-child.c: the "child" family */
extern const char child_help[];
int cmd_child_create(struct ctx *ctx, int argc, char **argv);
int cmd_child_list(struct ctx *ctx, int argc, char **argv);
int cmd_child_show(struct ctx *ctx, int argc, char **argv);
int cmd_child_rm(struct ctx *ctx, int argc, char **argv);
int cmd_child_reset(struct ctx *ctx, int argc, char **argv);
/* src/cmd-mount.c */
int cmd_mount(struct ctx *ctx, int argc, char **argv);
int cmd_umount(struct ctx *ctx, int argc, char **argv);
/* src/cmd-diff.c: drift engine */
int cmd_diff(struct ctx *ctx, int argc, char **argv);
int cmd_audit(struct ctx *ctx, int argc, char **argv);
int cmd_vacuum(struct ctx *ctx, int argc, char **argv);
/* src/cmd-fstab.c */
int cmd_enable(struct ctx *ctx, int argc, char **argv);
int cmd_disable(struct ctx *ctx, int argc, char **argv);
int cmd_fstab(struct ctx *ctx, int argc, char **argv);
/* src/cmd-refresh.c: move children onto another generation of their base */
int cmd_refresh(struct ctx *ctx, int argc, char **argv);
/* src/cmd-run.c: the namespace runner (options of run, start, exec and their run config: src/run-opts.c) */
int cmd_run(struct ctx *ctx, int argc, char **argv);
int cmd_start(struct ctx *ctx, int argc, char **argv);
/* src/cmd-machine.c: acting on started children */
int cmd_stop(struct ctx *ctx, int argc, char **argv);
int cmd_exec(struct ctx *ctx, int argc, char **argv);
int cmd_ps(struct ctx *ctx, int argc, char **argv);
/* src/cmd-status.c: status, set-property */
int cmd_status(struct ctx *ctx, int argc, char **argv);
int cmd_set_property(struct ctx *ctx, int argc, char **argv);
/* src/cmd-logs.c: logs, login, shell */
int cmd_logs(struct ctx *ctx, int argc, char **argv);
int cmd_login(struct ctx *ctx, int argc, char **argv);
int cmd_shell(struct ctx *ctx, int argc, char **argv);
extern const char net_help[];
int cmd_net_gc(struct ctx *ctx, int argc, char **argv);

/*
 * Hook for a running container: is child NAME running (its runtime state
 * says so and the process is alive)?  child rm/reset and umount refuse then.
 * Implemented with stop, exec and ps (src/cmd-machine.c); 1 running, 0 not.
 */
int child_is_running(struct ctx *ctx, const char *name);
