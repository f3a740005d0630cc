/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CLI-internal: what the generation commands (src/cmd-generation.c) share
 * with base diff (src/cmd-base-diff.c).  Errors are printed; the return
 * value is 0 or an exit code.
 */
#pragma once

#include <stdbool.h>

#include "src/cli.h"

/* Generation number argument: 1.., no sign, no junk; else a usage error "CMD: WHAT: ...". */
/* Has base b a generation g? */
bool cli_base_has_gen(const struct base_info *b, unsigned g);
/* The generation before gen: its recorded parent if it still exists, else the highest below it (0: none). */
unsigned cli_older_gen(struct store *s, const struct base_info *b, unsigned gen);
/* Open the store and load base NAME; prints "CMD NAME: why". */
int cli_load_base(struct ctx *ctx, const char *cmd, const char *name, struct base_info *b);
