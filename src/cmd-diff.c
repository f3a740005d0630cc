/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Drift commands: diff, audit, vacuum, base manifest, base verify.  (stub) */
#include "src/commands.h"
#include "src/log.h"

static int not_yet(const char *what)
{
	log_error("%s: not implemented yet", what);
	return EXIT_FAIL;
}

int cmd_diff(struct ctx *ctx, int argc, char **argv) { return not_yet("diff"); }
int cmd_audit(struct ctx *ctx, int argc, char **argv) { return not_yet("audit"); }
int cmd_vacuum(struct ctx *ctx, int argc, char **argv) { return not_yet("vacuum"); }
int cmd_base_manifest(struct ctx *ctx, int argc, char **argv) { return not_yet("base manifest"); }
int cmd_base_verify(struct ctx *ctx, int argc, char **argv) { return not_yet("base verify"); }
