/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * layerctl — bases, children, overlays, drift and a namespace runner.
 * This file only finds the command and hands it its arguments.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "src/commands.h"
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

struct command {
	const char *name;
	int (*fn)(struct ctx *ctx, int argc, char **argv);
};

static const struct command commands[] = {
	{ "base", cmd_base },
	{ "child", cmd_child },
	{ "mount", cmd_mount },
	{ "umount", cmd_umount },
	{ "diff", cmd_diff },
	{ "audit", cmd_audit },
	{ "vacuum", cmd_vacuum },
	{ "refresh", cmd_refresh },
	{ "enable", cmd_enable },
	{ "disable", cmd_disable },
	{ "fstab", cmd_fstab },
	{ "run", cmd_run },
	{ "start", cmd_start },
	{ "stop", cmd_stop },
	{ "exec", cmd_exec },
	{ "ps", cmd_ps },
};

int usage_error(const char *cmd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "layerctl %s: %s\n", cmd, buf);
	fprintf(stderr, "Try 'layerctl %s --help'.\n", cmd);
	return EXIT_USAGE;
}

int ctx_store(struct ctx *ctx, bool create)
{
	if (ctx->store_open)
		return 0;
	int r = store_open(&ctx->store, ctx->root_arg, ctx->runtime_arg, create);
	if (r < 0) {
		const char *root = ctx->root_arg ? ctx->root_arg : getenv("LAYERCTL_ROOT");
		if (!root || !*root)
			root = STORE_DEFAULT_ROOT;
		if (r == -ENOENT && !create)
			log_error("store %s: does not exist (nothing imported yet?)", root);
		else
			log_error("store %s: %s", root, strerror(-r));
		return EXIT_FAIL;
	}
	ctx->store_open = true;
	return 0;
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
	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		if (STREQ(argv[1], commands[i].name)) {
			r = commands[i].fn(&ctx, argc - 1, argv + 1);
			if (ctx.store_open)
				store_close(&ctx.store);
			return r;
		}
	fprintf(stderr, "layerctl: unknown command '%s'\nTry 'layerctl --help'.\n", argv[1]);
	return EXIT_USAGE;
}
