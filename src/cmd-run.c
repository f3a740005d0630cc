/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Runner commands: run, start, stop, exec, ps.  (stub) */
#include "src/commands.h"
#include "src/log.h"

static int not_yet(const char *what)
{
	log_error("%s: not implemented yet", what);
	return EXIT_FAIL;
}

int cmd_run(struct ctx *ctx, int argc, char **argv) { return not_yet("run"); }
int cmd_start(struct ctx *ctx, int argc, char **argv) { return not_yet("start"); }
int cmd_stop(struct ctx *ctx, int argc, char **argv) { return not_yet("stop"); }
int cmd_exec(struct ctx *ctx, int argc, char **argv) { return not_yet("exec"); }
int cmd_ps(struct ctx *ctx, int argc, char **argv) { return not_yet("ps"); }
int child_is_running(struct ctx *ctx, const char *name) { return 0; }
