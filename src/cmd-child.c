/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* layerctl child create|list|show|rm|reset */
#include <getopt.h>
#include <stdio.h>

#include "src/cli.h"
#include "src/json.h"
#include "src/log.h"
#include "src/output.h"

const char child_help[] =
"Usage: layerctl child COMMAND ...\n"
"\n"
"  create NAME --base BASE [--description TEXT]\n"
"                  create a child of BASE's current generation: an empty\n"
"                  upper and work dir and child.conf, nothing copied\n"
"  list [--json]   list children, with their base and whether mounted\n"
"  show NAME [--json]\n"
"                  show one child and its settings\n"
"  rm NAME         remove a child (refused while mounted or running)\n"
"  reset NAME      throw away everything the child changed: empty its\n"
"                  upper dir (refused while mounted or running)\n";

/* Parses --json/--help; returns -1 after printing help, >0 on usage error. */
static int parse_common(int argc, char **argv, const char *cmd, bool *json, const char **base,
			const char **description)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "base", required_argument, NULL, 'b' },
		{ "description", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;
	optind = 0;
	/* No argument at all (a plain `child list`): getopt_long's code is a page of libc not worth faulting in. */
	if (argc <= 1) {
		optind = 1;
		return 0;
	}
	while ((c = getopt_long(argc, argv, "hb:", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			if (!json)
				return usage_error(cmd, "--json is not an option here");
			*json = true;
			break;
		case 'b':
			if (!base)
				return usage_error(cmd, "--base is not an option here");
			*base = optarg;
			break;
		case 'd':
			if (!description)
				return usage_error(cmd, "--description is not an option here");
			*description = optarg;
			break;
		case 'h':
			fputs(child_help, stdout);
			return -1;
		default:
			return option_error(cmd, argc, argv, "hb:");
		}
	}
	return 0;
}

int cmd_child_create(struct ctx *ctx, int argc, char **argv)
{
	const char *base = NULL, *description = NULL;
	struct lc_err e = { "" };
	unsigned gen;
	int r;

	if ((r = parse_common(argc, argv, "child create", NULL, &base, &description)))
		return r < 0 ? EXIT_OK : r;
	if ((r = check_arg_count("child create", argc, argv, 1, 1, "needs NAME and --base BASE")))
		return r;
	if (!base)
		return usage_error("child create", "needs --base BASE");
	const char *name = argv[optind];
	if (cli_check_name(NULL, "child", name) || cli_check_name(NULL, "base", base))
		return EXIT_FAIL;
	if (description && !settings_value_ok(description))
		return log_fail(EXIT_FAIL, "child create %s: --description must be one line", name);
	if ((r = ctx_store(ctx, true)))
		return r;
	if ((r = store_child_create(&ctx->store, name, base, description, &gen, &e)) < 0)
		return log_fail(EXIT_FAIL, "child create %s: %s", name, lc_err_msg(&e, r));
	log_info("Created child %s of base %s (generation %u).", name, base, gen);
	return EXIT_OK;
}

static void print_child_json(struct ctx *ctx, struct json *j, const struct child_info *c, bool with_settings)
{
	struct store *s = &ctx->store;
	int m = store_child_is_mounted(s, c);
	_cleanup_free_ char *dir = store_child_dir(s, c->name);
	_cleanup_free_ char *root = store_child_path(s, c->name, "root");
	_cleanup_free_ char *upper = store_child_path(s, c->name, "upper");
	_cleanup_free_ char *work = store_child_path(s, c->name, "work");
	json_begin_object(j);
	json_kv_string(j, "name", c->name);
	json_kv_string(j, "base", c->base);
	json_kv_uint(j, "generation", c->gen);
	json_kv_string(j, "description", settings_get(c->conf, "Child", "Description"));
	json_kv_bool(j, "mounted", m > 0);
	json_kv_bool(j, "running", child_is_running(ctx, c->name) > 0);
	json_kv_bool(j, "automount", settings_get_bool(c->conf, "Child", "Automount", false) > 0);
	json_kv_string(j, "path", dir);
	json_kv_string(j, "root", root);
	json_kv_string(j, "upper", upper);
	json_kv_string(j, "work", work);
	if (with_settings) {
		_cleanup_free_ char *text = settings_to_string(c->conf);
		json_kv_string(j, "settings", text);
	}
	json_end_object(j);
}

int cmd_child_list(struct ctx *ctx, int argc, char **argv)
{
	bool json = false;
	char **names = NULL;
	size_t n = 0;
	int r, ret = EXIT_OK;

	if ((r = parse_common(argc, argv, "child list", &json, NULL, NULL)))
		return r < 0 ? EXIT_OK : r;
	if (argc != optind)
		return usage_error("child list", "takes no arguments");
	if ((r = cli_list_store(ctx, "child list", false, &names, &n)))
		return r;

	struct output_list l;
	if (output_list_begin(&l, json) && n)
		printf("%-24s %-20s %4s %-8s %s\n", "NAME", "BASE", "GEN", "MOUNTED", "RUNNING");
	for (size_t i = 0; i < n; i++) {
		struct child_info c;
		struct lc_err e = { "" };
		if (store_child_load(&ctx->store, names[i], &c, &e) < 0) {
			log_error("child %s: %s", names[i], e.msg[0] ? e.msg : "cannot be read");
			ret = EXIT_FAIL;
			continue;
		}
		if (json)
			print_child_json(ctx, &l.j, &c, false);
		else
			printf("%-24s %-20s %4u %-8s %s\n", c.name, c.base, c.gen,
			       store_child_is_mounted(&ctx->store, &c) > 0 ? "yes" : "no",
			       child_is_running(ctx, c.name) > 0 ? "yes" : "no");
		child_info_done(&c);
	}
	output_list_end(&l, n, "No children.");
	strv_free(names);
	return ret;
}

int cmd_child_show(struct ctx *ctx, int argc, char **argv)
{
	bool json = false;
	int r;

	if ((r = parse_common(argc, argv, "child show", &json, NULL, NULL)))
		return r < 0 ? EXIT_OK : r;
	if ((r = check_arg_count("child show", argc, argv, 1, 1, "needs NAME")))
		return r;
	_cleanup_(child_handle_done) struct child_handle h;
	if ((r = cli_open_child(ctx, "child show", argv[optind], 0, &h)))
		return r;
	const struct child_info c = h.c;
	if (json) {
		struct json j;
		json_init(&j, stdout);
		print_child_json(ctx, &j, &c, true);
		json_done(&j);
	} else {
		_cleanup_free_ char *dir = store_child_dir(&ctx->store, c.name);
		_cleanup_free_ char *text = settings_to_string(c.conf);
		int m = store_child_is_mounted(&ctx->store, &c);
		printf("Name:        %s\n", c.name);
		printf("Base:        %s (generation %u)\n", c.base, c.gen);
		printf("Path:        %s\n", dir);
		printf("Mounted:     %s\n", m > 0 ? "yes" : m == -EBUSY ? "no (something else is mounted on root/)" : "no");
		printf("Running:     %s\n", child_is_running(ctx, c.name) > 0 ? "yes" : "no");
		printf("Automount:   %s\n", settings_get_bool(c.conf, "Child", "Automount", false) > 0 ? "yes" : "no");
		printf("\n# child.conf\n%s", text ? text : "");
	}
	return EXIT_OK;
}

/* NAME and nothing else (rm, reset): 0, -1 after --help, or an exit code. */
static int parse_name_only(int argc, char **argv, const char *cmd, const char **name)
{
	int r = parse_common(argc, argv, cmd, NULL, NULL, NULL);
	if (r == 0 && !(r = check_arg_count(cmd, argc, argv, 1, 1, "needs NAME")))
		*name = argv[optind];
	return r;
}

int cmd_child_rm(struct ctx *ctx, int argc, char **argv)
{
	struct lc_err e = { "" };
	int r;

	const char *name;
	if ((r = parse_name_only(argc, argv, "child rm", &name)))
		return r < 0 ? EXIT_OK : r;
	_cleanup_(child_handle_done) struct child_handle h;
	if ((r = cli_open_child(ctx, "child rm", name, CLI_CHILD_LOCK | CLI_CHILD_ANY_CONF | CLI_CHILD_IDLE, &h)))
		return r;
	if (h.conf_broken)
		log_warning("child rm %s: %s (removing it anyway)", name,
			    h.conf_error.msg[0] ? h.conf_error.msg : "child.conf cannot be read");
	if ((r = store_child_remove(&ctx->store, name, &e)) < 0)
		return log_fail(EXIT_FAIL, "child rm %s: %s", name, lc_err_msg(&e, r));
	if (r > 0)
		log_warning("child rm %s: some files could not be deleted; they are no longer part of the store and the next command retries", name);
	log_info("Removed child %s.", name);
	return EXIT_OK;
}

int cmd_child_reset(struct ctx *ctx, int argc, char **argv)
{
	struct lc_err e = { "" };
	char prefix[128];
	int r;

	const char *name;
	if ((r = parse_name_only(argc, argv, "child reset", &name)))
		return r < 0 ? EXIT_OK : r;
	_cleanup_(child_handle_done) struct child_handle h;
	if ((r = cli_open_child(ctx, "child reset", name, CLI_CHILD_LOCK | CLI_CHILD_IDLE, &h)))
		return r;
	snprintf(prefix, sizeof(prefix), "child reset %s", name);
	const struct lc_warn warn = { cli_print_warning, prefix };
	if ((r = store_child_reset(&ctx->store, &h.c, &warn, &e)) < 0)
		return log_fail(EXIT_FAIL, "child reset %s: %s", name, lc_err_msg(&e, r));
	log_info("Reset child %s: its upper dir is empty.", name);
	return EXIT_OK;
}
