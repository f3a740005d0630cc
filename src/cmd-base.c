/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * layerctl base import|list|show|rm (manifest and verify: cmd-base-manifest.c;
 * update, rollback, gc: cmd-generation.c; diff: cmd-base-diff.c).
 */
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>

#include "src/cli.h"
#include "src/store/checksum.h"
#include "src/store/import.h"
#include "src/json.h"
#include "src/log.h"
#include "src/output.h"
#include "src/progress.h"
#include "diff/diff.h"
#include "overlay/overlay.h"
#include "src/runner/runner.h"
#include "src/store/generation.h"

const char base_help[] =
"Usage: layerctl base COMMAND ...\n"
"\n"
"  import NAME SOURCE [--description TEXT] [--verify] [--keep-image]\n"
"                  import a directory, a tarball (.tar, .tar.gz, .tar.xz,\n"
"                  .tar.zst, .tar.bz2) or a disk or file system image (GPT,\n"
"                  MBR, squashfs, erofs, ext4, xfs, btrfs) as generation 1\n"
"                  of a new base; --verify: check it against SOURCE.xxh128\n"
"                  (if there) and SOURCE.manifest (written by base export);\n"
"                  --keep-image: a squashfs or EROFS image stays the\n"
"                  generation's tree, loop-mounted read-only as the\n"
"                  children's lower layer (with --verify and a matching\n"
"                  checksum, SOURCE.manifest is taken without reading it)\n"
"  list [--json]   list bases\n"
"  show NAME [--json]\n"
"                  show a base: source, children, and per generation: date,\n"
"                  files changed/added/removed, children, disk it alone holds\n"
"  rm NAME         remove a base (refused while a child uses it)\n"
"  update NAME --from DIR|TARBALL|IMAGE [--description TEXT] [--verify]\n"
"              [--keep-image]\n"
"  update NAME [--description TEXT] -- CMD [ARGS...]\n"
"                  commit a new generation: the tree at DIR/TARBALL, or what\n"
"                  CMD changes in a scratch overlay on the current one\n"
"                  (unchanged files are hard links to the current generation);\n"
"                  --verify and --keep-image as for import\n"
"  diff NAME [GEN_A [GEN_B]] [--json] [--format=FORMAT] [--summary]\n"
"                  what changed between two generations (see base diff --help)\n"
"  rollback NAME [--to N]\n"
"                  make an older generation current (children stay where they are)\n"
"  gc NAME|--all [--keep N] [--dry-run]\n"
"                  remove generations that are not current, not the previous one,\n"
"                  not used by a child nor by a pending refresh --undo\n"
"  manifest NAME [--gen N] [--json]\n"
"                  print the content manifest of a generation\n"
"  verify NAME [--gen N]\n"
"                  re-hash a generation and compare it with its manifest\n"
"  export NAME [--gen N] FILE\n"
"                  write a generation as FILE (.tar[.gz|.xz|.zst|.bz2],\n"
"                  .squashfs, .erofs) plus FILE.manifest\n";

/* Parse [--json] [-h] for the simple read-only subcommands. */
static int parse_json_only(int argc, char **argv, const char *cmd, bool *json, int *nargs)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'j')
			*json = true;
		else if (c == 'h') {
			fputs(base_help, stdout);
			return -1;
		} else
			return option_error(cmd, argc, argv, "h");
	}
	*nargs = argc - optind;
	return 0;
}

int cmd_base_import(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "description", required_argument, NULL, 'd' },
		{ "verify", no_argument, NULL, 'v' },
		{ "keep-image", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *description = NULL;
	char source[PATH_MAX];
	bool verify = false, keep_image = false;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'd')
			description = optarg;
		else if (c == 'v')
			verify = true;
		else if (c == 'k')
			keep_image = true;
		else if (c == 'h') {
			fputs(base_help, stdout);
			return EXIT_OK;
		} else
			return option_error("base import", argc, argv, "h");
	}
	if ((r = check_arg_count("base import", argc, argv, 2, 2, "needs NAME and SOURCE")))
		return r;
	const char *name = argv[optind], *src_arg = argv[optind + 1];
	if (cli_check_name(NULL, "base", name))
		return EXIT_FAIL;
	if (description && !settings_value_ok(description))
		return log_fail(EXIT_FAIL, "base import %s: --description must be one line", name);
	if (!realpath(src_arg, source))
		return log_fail(EXIT_FAIL, "base import %s: source %s: %m", name, src_arg);
	if (!settings_value_ok(source))
		return log_fail(EXIT_FAIL, "base import %s: source path %s holds a newline", name, src_arg);
	struct lc_err e = { "" };
	if ((r = import_check_source(source, &e)) < 0)
		return log_fail(EXIT_FAIL, "base import %s: %s", name, lc_err_msg(&e, r));
	if ((r = ctx_store(ctx, true)))
		return r;
	/* "Importing …" once the base is locked and known not to exist: a refusal prints one line. */
	const struct lc_warn progress = { cli_print_info, NULL };
	struct import_stats st;
	struct verify_files vf __attribute__((cleanup(verify_files_done))) = {};
	if ((r = verify_files_find("base import", name, verify, src_arg, &vf)))
		return r;
	struct stat sst;
	if (keep_image && stat(source, &sst) == 0 && !S_ISREG(sst.st_mode))
		return log_fail(EXIT_FAIL, "base import %s: --keep-image needs a squashfs or EROFS image file; %s is %s", name,
				src_arg, S_ISDIR(sst.st_mode) ? "a directory" : "not a regular file");
	struct progress bar;
	progress_begin(&bar, "Importing");
	struct store_import_opts o = { .expect_manifest = vf.manifest, .expect_checksum = vf.checksum, .keep_image = keep_image,
				       .progress = &bar.cb };
	r = store_base_import_opts(&ctx->store, name, source, description, &o, &progress, &st, &e);
	progress_done(&bar);
	if (r < 0)
		return log_fail(EXIT_FAIL, "base import %s: %s", name, lc_err_msg(&e, r));
	log_info("Imported base %s: %llu %s, %.1f MiB, generation 1%s.", name, (unsigned long long)st.entries,
		 PLURAL(st.entries, "entry", "entries"), (double)st.bytes / (1024.0 * 1024.0),
		 o.adopted ? "; the image matched its checksum, its manifest was taken (base verify re-hashes it)"
			   : vf.checksum ? "; checksum and manifest verified" : vf.manifest ? "; manifest verified" : "");
	return EXIT_OK;
}

static void print_base_json(struct store *s, struct json *j, const struct base_info *b, bool details)
{
	char **kids = NULL;
	size_t nk = 0;
	store_children_of(s, b->name, &kids, &nk, NULL);
	_cleanup_free_ char *dir = store_base_dir(s, b->name);
	_cleanup_free_ char *tree = store_gen_tree(s, b->name, b->current);
	json_begin_object(j);
	json_kv_string(j, "name", b->name);
	json_kv_uint(j, "current_generation", b->current);
	json_key(j, "generations");
	json_begin_array(j);
	for (size_t i = 0; i < b->n_gens; i++)
		json_uint(j, b->gens[i]);
	json_end_array(j);
	json_kv_string(j, "description", b->description);
	json_kv_string(j, "source", b->source);
	json_kv_string(j, "created", settings_get(b->conf, "Base", "Created"));
	json_kv_string(j, "path", dir);
	json_kv_string(j, "tree", tree);
	json_key(j, "children");
	json_begin_array(j);
	for (size_t i = 0; i < nk; i++)
		json_string(j, kids[i]);
	json_end_array(j);
	if (details)
		base_show_generations(s, b, j);
	json_end_object(j);
	strv_free(kids);
}

int cmd_base_list(struct ctx *ctx, int argc, char **argv)
{
	bool json = false;
	int nargs, r;
	char **names = NULL;
	size_t n = 0;

	if ((r = parse_json_only(argc, argv, "base list", &json, &nargs)))
		return r < 0 ? EXIT_OK : r;
	if (nargs)
		return usage_error("base list", "unexpected argument '%s'", argv[optind]);
	if ((r = cli_list_store(ctx, "base list", true, &names, &n)))
		return r;

	struct output_list l;
	if (output_list_begin(&l, json) && n)
		printf("%-24s %4s %8s  %s\n", "NAME", "GEN", "CHILDREN", "DESCRIPTION");
	int ret = EXIT_OK;
	for (size_t i = 0; i < n; i++) {
		struct base_info b;
		struct lc_err e = { "" };
		if (store_base_load(&ctx->store, names[i], &b, &e) < 0) {
			log_error("base %s: %s", names[i], e.msg[0] ? e.msg : "cannot be read");
			ret = EXIT_FAIL;
			continue;
		}
		if (json)
			print_base_json(&ctx->store, &l.j, &b, false);
		else {
			char **kids = NULL;
			size_t nk = 0;
			store_children_of(&ctx->store, b.name, &kids, &nk, NULL);
			printf("%-24s %4u %8zu  %s\n", b.name, b.current, nk, b.description ? b.description : "");
			strv_free(kids);
		}
		base_info_done(&b);
	}
	output_list_end(&l, n, "No bases.");
	strv_free(names);
	return ret;
}

int cmd_base_show(struct ctx *ctx, int argc, char **argv)
{
	bool json = false;
	int nargs, r;
	struct base_info b;
	struct lc_err e = { "" };

	if ((r = parse_json_only(argc, argv, "base show", &json, &nargs)))
		return r < 0 ? EXIT_OK : r;
	if ((r = check_arg_count("base show", argc, argv, 1, 1, "needs NAME")))
		return r;
	const char *name = argv[optind];
	if (cli_check_name(NULL, "base", name) || (r = ctx_store(ctx, false)))
		return EXIT_FAIL;
	r = store_base_load(&ctx->store, name, &b, &e);
	if (r == -ENOENT)
		return log_fail(EXIT_FAIL, "base %s: no such base", name);
	if (r < 0)
		return log_fail(EXIT_FAIL, "base %s: %s", name, lc_err_msg(&e, r));
	if (json) {
		struct json j;
		json_init(&j, stdout);
		print_base_json(&ctx->store, &j, &b, true);
		json_done(&j);
	} else {
		char **kids = NULL;
		size_t nk = 0;
		_cleanup_free_ char *tree = store_gen_tree(&ctx->store, name, b.current);
		store_children_of(&ctx->store, name, &kids, &nk, NULL);
		printf("Name:        %s\n", b.name);
		printf("Description: %s\n", b.description ? b.description : "-");
		printf("Source:      %s\n", b.source ? b.source : "-");
		printf("Created:     %s\n", settings_get(b.conf, "Base", "Created") ?: "-");
		printf("Generation:  %u (of", b.current);
		for (size_t i = 0; i < b.n_gens; i++)
			printf(" %u", b.gens[i]);
		printf(")\nTree:        %s\n", tree);
		printf("Children:    %zu%s", nk, nk ? " (" : "\n");
		for (size_t i = 0; i < nk; i++)
			printf("%s%s", kids[i], i + 1 < nk ? " " : ")\n");
		strv_free(kids);
		base_show_generations(&ctx->store, &b, NULL);
	}
	base_info_done(&b);
	return EXIT_OK;
}

int cmd_base_rm(struct ctx *ctx, int argc, char **argv)
{
	bool json = false;
	int nargs, r;
	struct lc_err e = { "" };

	if ((r = parse_json_only(argc, argv, "base rm", &json, &nargs)))
		return r < 0 ? EXIT_OK : r;
	if (json)
		return usage_error("base rm", "--json is not an option here");
	if ((r = check_arg_count("base rm", argc, argv, 1, 1, "needs NAME")))
		return r;
	const char *name = argv[optind];
	if (cli_check_name(NULL, "base", name) || (r = ctx_store(ctx, false)))
		return EXIT_FAIL;
	if ((r = store_base_remove(&ctx->store, name, &e)) < 0)
		return log_fail(EXIT_FAIL, "base rm %s: %s", name, lc_err_msg(&e, r));
	if (r > 0)
		log_warning("base rm %s: some files could not be deleted; they are no longer part of the store and the next command retries", name);
	log_info("Removed base %s.", name);
	return EXIT_OK;
}
