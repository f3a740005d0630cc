/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers every command shares (src/cli.c): the one name check, the one way
 * to open a child for a command, the store's warning printer.  They print
 * their own error and return an exit code (0 when all is well).
 */
#pragma once

#include "src/commands.h"

struct diff_manifest;

/*
 * Is NAME a valid KIND ("child", "base") name?  Else print
 * "CMD: KIND name 'NAME': why" (without "CMD: " when cmd is NULL) and
 * return EXIT_FAIL.
 */
int cli_check_name(const char *cmd, const char *kind, const char *name);

enum {
	CLI_CHILD_LOCK = 1 << 0,     /* take the child lock exclusively, then load ("lock, then load") */
	CLI_CHILD_IDLE = 1 << 1,     /* refuse while running or mounted (rm, reset) */
	CLI_CHILD_MANIFEST = 1 << 2, /* also open its base manifest, its dir and its upper dir (diff, audit, vacuum) */
	CLI_CHILD_ANY_CONF = 1 << 3, /* a child.conf that cannot be read is no obstacle (rm, umount): conf_error says why */
};

struct child_handle {
	struct child_info c;         /* with CLI_CHILD_ANY_CONF and a broken child.conf: only c.name */
	int lock_fd;                 /* -1 without CLI_CHILD_LOCK */
	bool conf_broken;
	struct lc_err conf_error;
	/* CLI_CHILD_MANIFEST: */
	struct diff_manifest *base;
	char *manifest_path;
	int child_fd, upper_fd;
};
/* Releases everything, the lock last. */
void child_handle_done(struct child_handle *h);

/*
 * Validate NAME, open the store, then per flags lock, load child.conf, check
 * it is idle, open its manifest.  Errors print "CMD NAME: why".  Returns 0,
 * or an exit code with *ret released.
 */
int cli_open_child(struct ctx *ctx, const char *cmd, const char *name, unsigned flags, struct child_handle *ret);

/* The store's warning callback: "layerctl: warning: [PREFIX: ]MSG"; userdata is a const char * prefix or NULL. */
void cli_print_warning(void *userdata, const char *msg);
/* Progress for an lc_warn-shaped callback: log_info (silenced by --quiet). */
void cli_print_info(void *userdata, const char *msg);

/*
 * Sorted names of every base (bases) or child, for the commands that look at
 * all of them (lists, audit, mount --all): a store that does not exist yet
 * is an empty one and is not created.  0 or an exit code after printing.
 */
int cli_list_store(struct ctx *ctx, const char *cmd, bool bases, char ***ret, size_t *ret_n);

/* A command's table entry (src/main.c): a command, or a family ("base", "child") with its own table. */
struct cli_verb {
	const char *name;
	int (*fn)(struct ctx *ctx, int argc, char **argv);
	const struct cli_verb *sub;  /* NULL-name-terminated */
	const char *help;            /* the family's help text */
};
const struct cli_verb *cli_find_verb(const struct cli_verb *table, const char *word);
/* Run argv[1] of family (argv[0]): help, usage errors, then the subcommand with argv + 1. */
int cli_dispatch_family(struct ctx *ctx, const struct cli_verb *family, int argc, char **argv);

/* A generation number argument (1.., no sign, no junk) of option WHAT; a usage error otherwise. */
int cli_parse_gen_arg(const char *cmd, const char *what, const char *arg, unsigned *ret);

/*
 * --verify's files beside the SOURCE the user named (not beside a symlink's
 * target): SOURCE.manifest, which must exist, and SOURCE.xxh128, checked when
 * it exists (older exports have none).  0, or an exit code after printing.
 */
struct verify_files {
	char *manifest, *checksum;
	bool adopted; /* --keep-image took the manifest */
};
int verify_files_find(const char *cmd, const char *name, bool verify, const char *src_arg, struct verify_files *vf);
void verify_files_done(struct verify_files *vf);
