/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * layerctl — bases, children, overlays, drift and a namespace runner.
 * This file only finds the command (one table of every command word) and
 * hands it its arguments; what commands share is in src/cli.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "src/cli.h"
#include "src/log.h"

#ifndef LAYERCTL_VERSION
#define LAYERCTL_VERSION "0.1"
#endif

static const char main_help[] =
"Usage: layerctl [--root DIR] [--runtime-dir DIR] COMMAND [ARGS...]\n"
"\n"
"Bases (read-only trees) and children (overlay containers on a base).\n"
"\n"
"Bases:\n"
"  base import NAME SOURCE   import a directory or tarball as generation 1\n"
"  base list [--json]        list bases\n"
"  base show NAME [--json]   show one base\n"
"  base rm NAME              remove a base no child uses\n"
"  base manifest NAME        print a generation's content manifest\n"
"  base verify NAME          re-hash a base and compare with its manifest\n"
"Children:\n"
"  child create NAME --base BASE   create a child (two directories, no copy)\n"
"  child list [--json]       list children\n"
"  child show NAME [--json]  show one child\n"
"  child rm NAME             remove an unmounted child\n"
"  child reset NAME          empty an unmounted child's upper dir\n"
"Overlays:\n"
"  mount CHILD|--all         mount overlays at children/NAME/root\n"
"  umount CHILD|--all        unmount them\n"
"Drift:\n"
"  diff CHILD                what a child changed relative to its base\n"
"  audit                     drift of every child\n"
"  vacuum CHILD              remove copies identical to the base\n"
"Generations:\n"
"  refresh CHILD...|--base NAME|--all   move children onto the base's current\n"
"                            generation (refresh --undo CHILD: back again)\n"
"Automount:\n"
"  enable CHILD, disable CHILD   mark a child for fstab automounting\n"
"  fstab --print|--write|--check|--generator   keep fstab entries in line\n"
"Runner:\n"
"  run CHILD [-- CMD...]     run a command (or --boot) in a child\n"
"  start CHILD, stop CHILD   boot a child in the background, stop it\n"
"  exec CHILD -- CMD...      run a command in a running child\n"
"  ps [--json]               list running children\n"
"  status CHILD [--json]     state, cgroup, memory, tasks, CPU, log of a child\n"
"  set-property CHILD KEY=VALUE...   change resource limits of a running child\n"
"  logs CHILD [-f] [-n N]    console log (and journal) of a started child\n"
"  login CHILD               a login prompt on a new pty in a started child\n"
"  shell CHILD [-- CMD...]   a root shell (or CMD) in a running child\n"
"  net gc                    remove network leftovers of children that died\n"
"\n"
"Global options (anywhere before --):\n"
"  --root DIR                the store (default $LAYERCTL_ROOT or /var/lib/layerctl)\n"
"  --runtime-dir DIR         runtime state (default $LAYERCTL_RUNTIME_DIR or /run/layerctl)\n"
"  -q, --quiet               fewer messages\n"
"  -h, --help                this help; COMMAND --help for a command's\n"
"  --version                 print the version\n"
"\n"
"Exit status: 0 ok, 1 failure, 2 usage error, 3 drift found (diff --exit-code).\n"
"See layerctl(1).\n";

/*
 * Every command word, in one table: a family ("base", "child") has its own
 * table of subcommands, and cli_dispatch_family() runs them.
 */
static int dispatch_family(struct ctx *ctx, int argc, char **argv);

static const struct cli_verb base_verbs[] = {
	{ "import", cmd_base_import, NULL, NULL },
	{ "list", cmd_base_list, NULL, NULL },
	{ "show", cmd_base_show, NULL, NULL },
	{ "rm", cmd_base_rm, NULL, NULL },
	{ "update", cmd_base_update, NULL, NULL },
	{ "diff", cmd_base_diff, NULL, NULL },
	{ "rollback", cmd_base_rollback, NULL, NULL },
	{ "gc", cmd_base_gc, NULL, NULL },
	{ "manifest", cmd_base_manifest, NULL, NULL },
	{ "verify", cmd_base_verify, NULL, NULL },
	{ "export", cmd_base_export, NULL, NULL },
	{}
};

static const struct cli_verb child_verbs[] = {
	{ "create", cmd_child_create, NULL, NULL },
	{ "list", cmd_child_list, NULL, NULL },
	{ "show", cmd_child_show, NULL, NULL },
	{ "rm", cmd_child_rm, NULL, NULL },
	{ "reset", cmd_child_reset, NULL, NULL },
	{}
};

static const struct cli_verb net_verbs[] = {
	{ "gc", cmd_net_gc, NULL, NULL },
	{}
};

static const struct cli_verb commands[] = {
	{ "base", dispatch_family, base_verbs, base_help },
	{ "child", dispatch_family, child_verbs, child_help },
	{ "mount", cmd_mount, NULL, NULL },
	{ "umount", cmd_umount, NULL, NULL },
	{ "diff", cmd_diff, NULL, NULL },
	{ "audit", cmd_audit, NULL, NULL },
	{ "vacuum", cmd_vacuum, NULL, NULL },
	{ "refresh", cmd_refresh, NULL, NULL },
	{ "enable", cmd_enable, NULL, NULL },
	{ "disable", cmd_disable, NULL, NULL },
	{ "fstab", cmd_fstab, NULL, NULL },
	{ "run", cmd_run, NULL, NULL },
	{ "start", cmd_start, NULL, NULL },
	{ "stop", cmd_stop, NULL, NULL },
	{ "exec", cmd_exec, NULL, NULL },
	{ "ps", cmd_ps, NULL, NULL },
	{ "status", cmd_status, NULL, NULL },
	{ "set-property", cmd_set_property, NULL, NULL },
	{ "logs", cmd_logs, NULL, NULL },
	{ "login", cmd_login, NULL, NULL },
	{ "shell", cmd_shell, NULL, NULL },
	{ "net", dispatch_family, net_verbs, net_help },
	{}
};

static int dispatch_family(struct ctx *ctx, int argc, char **argv)
{
	return cli_dispatch_family(ctx, cli_find_verb(commands, argv[0]), argc, argv);
}

/* Value of "--opt VALUE" or "--opt=VALUE" at argv[*i]; NULL if argv[*i] is not it. */
static const char *take_option(int argc, char **argv, int *i, const char *opt, bool *missing)
{
	size_t n = strlen(opt);
	if (strncmp(argv[*i], opt, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

/*
 * Global options may stand anywhere before "--" (users type
 * `layerctl child list --root /srv/x`): pull them out here so each command
 * parses only its own.
 */
static int extract_global_options(struct ctx *ctx, int *argc, char **argv)
{
	int out = 1;
	bool passthrough = false;
	for (int i = 1; i < *argc; i++) {
		bool missing = false;
		const char *v;
		if (passthrough || STREQ(argv[i], "--")) {
			passthrough = true;
			argv[out++] = argv[i];
			continue;
		}
		if ((v = take_option(*argc, argv, &i, "--root", &missing)))
			ctx->root_arg = v;
		else if ((v = take_option(*argc, argv, &i, "--runtime-dir", &missing)))
			ctx->runtime_arg = v;
		else if (missing) {
			fprintf(stderr, "layerctl: option %s needs a value\n", argv[i]);
			return -1;
		} else if (STREQ(argv[i], "-q") || STREQ(argv[i], "--quiet"))
			log_quiet = true;
		else
			argv[out++] = argv[i];
	}
	argv[out] = NULL;
	*argc = out;
	if (ctx->root_arg && !*ctx->root_arg) {
		fprintf(stderr, "layerctl: --root: empty path\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct ctx ctx = {};
	int r;

	opterr = 0; /* getopt's own two-line messages: replaced by option_error() */
	if (extract_global_options(&ctx, &argc, argv) < 0)
		return EXIT_USAGE;
	if (argc < 2) {
		fputs(main_help, stderr);
		return EXIT_USAGE;
	}
	if (STREQ(argv[1], "-h") || STREQ(argv[1], "--help") || STREQ(argv[1], "help")) {
		fputs(main_help, stdout);
		return EXIT_OK;
	}
	if (STREQ(argv[1], "--version")) {
		printf("layerctl %s\n", LAYERCTL_VERSION);
		return EXIT_OK;
	}
	const struct cli_verb *cmd = cli_find_verb(commands, argv[1]);
	if (cmd) {
		r = cmd->fn(&ctx, argc - 1, argv + 1);
		if (ctx.store_open)
			store_close(&ctx.store);
		return r;
	}
	if (argv[1][0] == '-')
		log_error("unknown option '%s' (see 'layerctl --help')", argv[1]);
	else
		log_error("unknown command '%s' (see 'layerctl --help')", argv[1]);
	return EXIT_USAGE;
}
