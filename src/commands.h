/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every command is `int cmd_X(struct ctx *ctx, int argc, char **argv)`:
 * argv[0] is the command word ("import", "mount", …), options follow; the
 * return value is the exit code (0 ok, 1 failure, 2 usage, 3 diff found).
 */
#pragma once

#include <stdbool.h>
#include "src/store.h"

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

/* Open the store once (create: make the skeleton).  Returns 0 or an exit code after printing. */
int ctx_store(struct ctx *ctx, bool create);

/* Is argv[i] -h/--help?  Commands call print_help_for() with their text. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Validate NAME, take its child lock exclusively, then load child.conf under
 * the lock, printing "CMD NAME: why" on failure (src/cmd-child.c).  Returns
 * the lock fd (close it to unlock; free *c with child_info_done) or -exit code.
 */
int lock_and_load_child(struct ctx *ctx, const char *cmd, const char *name, struct child_info *c);

/* src/cmd-base.c */
int cmd_base(struct ctx *ctx, int argc, char **argv);
/* src/cmd-child.c */
int cmd_child(struct ctx *ctx, int argc, char **argv);
/* src/cmd-mount.c */
int cmd_mount(struct ctx *ctx, int argc, char **argv);
int cmd_umount(struct ctx *ctx, int argc, char **argv);
/* src/cmd-diff.c: drift engine */
int cmd_diff(struct ctx *ctx, int argc, char **argv);
int cmd_audit(struct ctx *ctx, int argc, char **argv);
int cmd_vacuum(struct ctx *ctx, int argc, char **argv);
int cmd_base_manifest(struct ctx *ctx, int argc, char **argv);
int cmd_base_verify(struct ctx *ctx, int argc, char **argv);
/* src/cmd-fstab.c */
int cmd_enable(struct ctx *ctx, int argc, char **argv);
int cmd_disable(struct ctx *ctx, int argc, char **argv);
int cmd_fstab(struct ctx *ctx, int argc, char **argv);
/* src/cmd-refresh.c: move children onto another generation of their base */
int cmd_refresh(struct ctx *ctx, int argc, char **argv);
/* src/cmd-run.c: namespace runner */
int cmd_run(struct ctx *ctx, int argc, char **argv);
int cmd_start(struct ctx *ctx, int argc, char **argv);
int cmd_stop(struct ctx *ctx, int argc, char **argv);
int cmd_exec(struct ctx *ctx, int argc, char **argv);
int cmd_ps(struct ctx *ctx, int argc, char **argv);

/*
 * Hook for a running container: is child NAME running (its runtime state
 * says so and the process is alive)?  child rm/reset and umount refuse then.
 * Implemented by the runner (src/cmd-run.c); 1 running, 0 not.
 */
int child_is_running(struct ctx *ctx, const char *name);
