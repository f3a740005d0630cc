/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Automount commands: enable, disable, fstab.  (stub) */
#include "src/commands.h"
#include "src/log.h"

static int not_yet(const char *what)
{
	log_error("%s: not implemented yet", what);
	return EXIT_FAIL;
}

int cmd_enable(struct ctx *ctx, int argc, char **argv) { return not_yet("enable"); }
int cmd_disable(struct ctx *ctx, int argc, char **argv) { return not_yet("disable"); }
int cmd_fstab(struct ctx *ctx, int argc, char **argv) { return not_yet("fstab"); }
