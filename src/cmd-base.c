/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* layerctl base import|list|show|rm (manifest and verify live in cmd-diff.c). */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "src/commands.h"
#include "src/store/import.h"
#include "src/json.h"
#include "src/log.h"
#include "diff/diff.h"
#include "src/basic/testhook.h"

static const char base_help[] =
"Usage: layerctl base COMMAND ...\n"
"\n"
"  import NAME SOURCE [--description TEXT]\n"
"                  import a directory or a tarball (.tar, .tar.gz, .tar.xz,\n"
"                  .tar.zst, .tar.bz2) as generation 1 of a new base\n"
"  list [--json]   list bases\n"
"  show NAME [--json]\n"
"                  show a base: generations, source, children\n"
"  rm NAME         remove a base (refused while a child uses it)\n"
"  manifest NAME [--gen N] [--json]\n"
"                  print the content manifest of a generation\n"
"  verify NAME [--gen N]\n"
"                  re-hash a generation and compare it with its manifest\n";

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

static int check_name(const char *kind, const char *name)
{
	const char *why;
	if (name_validate(name, &why) < 0) {
		log_error("%s name '%s': %s", kind, name, why);
		return EXIT_FAIL;
	}
	return 0;
}

static int write_base_conf(int gen_parent_fd, const char *source, const char *description)
{
	_cleanup_settings_ struct settings *conf = settings_new();
	char now[64];
	time_t t = time(NULL);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	if (!conf)
		return -ENOMEM;
	int r = settings_set(conf, "Base", "Current", "1");
	if (r == 0 && description)
		r = settings_set(conf, "Base", "Description", description);
	if (r == 0)
		r = settings_set(conf, "Base", "Source", source);
	if (r == 0)
		r = settings_set(conf, "Base", "Created", now);
	if (r < 0)
		return r;
	return settings_save(conf, gen_parent_fd, "base.conf");
}

/*
 * Fill the hidden directory tmp (tmp_rel below the store root) with
 * generation 1, its manifest and base.conf, make it durable, and rename it
 * to bases/NAME.  Prints its own error.
 */
static int fill_new_base(struct store *s, const char *name, const char *source, const char *description,
			 const char *tmp_rel, const char *tmp, struct import_stats *st)
{
	_cleanup_free_ char *tree = NULL, *manifest = NULL, *detail = NULL, *final_rel = NULL;
	struct lc_err e = { "" };
	int r;

	if (asprintf(&tree, "%s/gens/1/tree", tmp) < 0 || asprintf(&manifest, "%s/gens/1/manifest", tmp) < 0 ||
	    asprintf(&final_rel, "bases/%s", name) < 0)
		return log_fail(-ENOMEM, "out of memory");
	if ((r = mkdir_p(tree, 0755)) < 0)
		return log_fail(r, "base import %s: mkdir %s: %s", name, tree, strerror(-r));
	struct stat store_st;
	r = import_tree(source, tree, fstat(s->root_fd, &store_st) == 0 ? &store_st : NULL, st, &detail);
	if (r < 0)
		return log_fail(r, "base import %s: %s", name, detail ? detail : strerror(-r));
	r = diff_manifest_build(tree, manifest, &e);
	if (r < 0)
		return log_fail(r, "base import %s: manifest: %s", name, e.msg[0] ? e.msg : strerror(-r));
	_cleanup_close_ int tmp_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tmp_fd < 0)
		return log_fail(-errno, "base import %s: %s: %m", name, tmp);
	if ((r = write_base_conf(tmp_fd, source, description)) < 0)
		return log_fail(r, "base import %s: base.conf: %s", name, strerror(-r));
	/* Every file of the tree durable before the rename makes it visible. */
	if (syncfs(tmp_fd) < 0)
		return log_fail(-errno, "base import %s: syncfs: %m", name);
	test_hook("import-before-rename");
	if (renameat2(s->root_fd, tmp_rel, s->root_fd, final_rel, RENAME_NOREPLACE) < 0)
		return log_fail(-errno, "base import %s: rename into place: %m", name);
	fsync_dir_at(s->root_fd, "bases");
	return 0;
}

static int base_import(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "description", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *description = NULL;
	char source[PATH_MAX];
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'd')
			description = optarg;
		else if (c == 'h') {
			fputs(base_help, stdout);
			return EXIT_OK;
		} else
			return option_error("base import", argc, argv, "h");
	}
	if ((r = check_arg_count("base import", argc, argv, 2, 2, "needs NAME and SOURCE")))
		return r;
	const char *name = argv[optind], *src_arg = argv[optind + 1];
	if (check_name("base", name))
		return EXIT_FAIL;
	if (description && !settings_value_ok(description))
		return log_fail(EXIT_FAIL, "base import %s: --description must be one line", name);
	if (!realpath(src_arg, source))
		return log_fail(EXIT_FAIL, "base import %s: source %s: %m", name, src_arg);
	if (!settings_value_ok(source))
		return log_fail(EXIT_FAIL, "base import %s: source path %s holds a newline", name, src_arg);
	_cleanup_free_ char *why = NULL;
	if ((r = import_check_source(source, &why)) < 0)
		return log_fail(EXIT_FAIL, "base import %s: %s", name, why ? why : strerror(-r));
	if ((r = ctx_store(ctx, true)))
		return r;
	struct store *s = &ctx->store;
	/*
	 * A source holding the store, or inside it (bases/, children/), would
	 * copy the import's own temporary tree into itself forever.
	 */
	r = store_overlaps(s, source);
	if (r < 0)
		return log_fail(EXIT_FAIL, "base import %s: source %s: %s", name, source, strerror(-r));
	if (r == STORE_HOLDS_PATH)
		return log_fail(EXIT_FAIL, "base import %s: source %s is inside the store %s", name, source, s->root);
	if (r == PATH_HOLDS_STORE)
		return log_fail(EXIT_FAIL, "base import %s: source %s contains the store %s", name, source, s->root);

	_cleanup_close_ int lock = store_lock(s, LOCK_BASE, name, LOCK_EX);
	if (lock < 0)
		return log_fail(EXIT_FAIL, "base import %s: lock: %s", name, strerror(-lock));
	_cleanup_free_ char *final = store_base_dir(s, name);
	if (access(final, F_OK) == 0)
		return log_fail(EXIT_FAIL, "base import %s: a base of that name already exists", name);
	store_sweep(s);

	/* Build everything under a hidden name, then rename it into place in one step. */
	_cleanup_free_ char *tmp_rel = NULL, *tmp = NULL;
	if (asprintf(&tmp_rel, "bases/.new-%s@%d", name, (int)getpid()) < 0 ||
	    asprintf(&tmp, "%s/%s", s->root, tmp_rel) < 0)
		return log_fail(EXIT_FAIL, "out of memory");

	log_info("Importing %s into base %s ...", source, name);
	struct import_stats st;
	r = fill_new_base(s, name, source, description, tmp_rel, tmp, &st);
	if (r < 0) {
		rm_rf_at(s->root_fd, tmp_rel);
		return EXIT_FAIL;
	}
	log_info("Imported base %s: %llu %s, %.1f MiB, generation 1.", name, (unsigned long long)st.entries,
		 PLURAL(st.entries, "entry", "entries"), (double)st.bytes / (1024.0 * 1024.0));
	return EXIT_OK;
}

/* Names of the children using base `base` (any generation). */
static int children_of(struct store *s, const char *base, char ***ret, size_t *ret_n, bool *corrupt)
{
	char **all = NULL;
	size_t n = 0, k = 0;
	int r = store_list_children(s, &all, &n);
	if (r < 0)
		return r;
	char **v = calloc(n + 1, sizeof(*v));
	if (!v) {
		strv_free(all);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct child_info c;
		_cleanup_free_ char *err = NULL;
		if (store_child_load(s, all[i], &c, &err) < 0) {
			if (corrupt)
				*corrupt = true;
			continue;
		}
		if (strcmp(c.base, base) == 0)
			v[k++] = strdup(all[i]);
		child_info_done(&c);
	}
	strv_free(all);
	*ret = v;
	*ret_n = k;
	return 0;
}

static void print_base_json(struct store *s, struct json *j, const struct base_info *b)
{
	char **kids = NULL;
	size_t nk = 0;
	children_of(s, b->name, &kids, &nk, NULL);
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
	json_end_object(j);
	strv_free(kids);
}

static int base_list(struct ctx *ctx, int argc, char **argv)
{
	bool json = false, empty;
	int nargs, r;
	char **names = NULL;
	size_t n = 0;

	if ((r = parse_json_only(argc, argv, "base list", &json, &nargs)))
		return r < 0 ? EXIT_OK : r;
	if (nargs)
		return usage_error("base list", "unexpected argument '%s'", argv[optind]);
	if ((r = ctx_store_or_empty(ctx, &empty)))
		return r;
	if (!empty && (r = store_list_bases(&ctx->store, &names, &n)) < 0)
		return log_fail(EXIT_FAIL, "base list: %s", strerror(-r));

	struct json j;
	if (json) {
		json_init(&j, stdout);
		json_begin_array(&j);
	} else if (n)
		printf("%-24s %4s %8s  %s\n", "NAME", "GEN", "CHILDREN", "DESCRIPTION");
	int ret = EXIT_OK;
	for (size_t i = 0; i < n; i++) {
		struct base_info b;
		_cleanup_free_ char *err = NULL;
		if (store_base_load(&ctx->store, names[i], &b, &err) < 0) {
			log_error("base %s: %s", names[i], err ? err : "cannot be read");
			ret = EXIT_FAIL;
			continue;
		}
		if (json)
			print_base_json(&ctx->store, &j, &b);
		else {
			char **kids = NULL;
			size_t nk = 0;
			children_of(&ctx->store, b.name, &kids, &nk, NULL);
			printf("%-24s %4u %8zu  %s\n", b.name, b.current, nk, b.description ? b.description : "");
			strv_free(kids);
		}
		base_info_done(&b);
	}
	if (json) {
		json_end_array(&j);
		json_done(&j);
	} else if (n == 0 && !log_quiet)
		fprintf(stderr, "No bases.\n");
	strv_free(names);
	return ret;
}

static int base_show(struct ctx *ctx, int argc, char **argv)
{
	bool json = false;
	int nargs, r;
	struct base_info b;
	_cleanup_free_ char *err = NULL;

	if ((r = parse_json_only(argc, argv, "base show", &json, &nargs)))
		return r < 0 ? EXIT_OK : r;
	if ((r = check_arg_count("base show", argc, argv, 1, 1, "needs NAME")))
		return r;
	const char *name = argv[optind];
	if (check_name("base", name) || (r = ctx_store(ctx, false)))
		return EXIT_FAIL;
	r = store_base_load(&ctx->store, name, &b, &err);
	if (r == -ENOENT)
		return log_fail(EXIT_FAIL, "base %s: no such base", name);
	if (r < 0)
		return log_fail(EXIT_FAIL, "base %s: %s", name, err ? err : strerror(-r));
	if (json) {
		struct json j;
		json_init(&j, stdout);
		print_base_json(&ctx->store, &j, &b);
		json_done(&j);
	} else {
		char **kids = NULL;
		size_t nk = 0;
		_cleanup_free_ char *tree = store_gen_tree(&ctx->store, name, b.current);
		children_of(&ctx->store, name, &kids, &nk, NULL);
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
	}
	base_info_done(&b);
	return EXIT_OK;
}

static int base_rm(struct ctx *ctx, int argc, char **argv)
{
	bool json = false;
	int nargs, r;
	char **kids = NULL;
	size_t nk = 0;
	bool corrupt = false;

	if ((r = parse_json_only(argc, argv, "base rm", &json, &nargs)))
		return r < 0 ? EXIT_OK : r;
	if (json)
		return usage_error("base rm", "--json is not an option here");
	if ((r = check_arg_count("base rm", argc, argv, 1, 1, "needs NAME")))
		return r;
	const char *name = argv[optind];
	if (check_name("base", name) || (r = ctx_store(ctx, false)))
		return EXIT_FAIL;
	struct store *s = &ctx->store;
	/* Exclusive: child create holds it shared while it adds a child of this base. */
	_cleanup_close_ int lock = store_lock(s, LOCK_BASE, name, LOCK_EX);
	if (lock < 0)
		return log_fail(EXIT_FAIL, "base rm %s: lock: %s", name, strerror(-lock));
	_cleanup_free_ char *rel = NULL;
	if (asprintf(&rel, "bases/%s", name) < 0)
		return EXIT_FAIL;
	if (faccessat(s->root_fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return log_fail(EXIT_FAIL, "base rm %s: no such base", name);
	store_sweep(s);
	if ((r = children_of(s, name, &kids, &nk, &corrupt)) < 0)
		return log_fail(EXIT_FAIL, "base rm %s: %s", name, strerror(-r));
	if (r > 0)
		log_warning("base rm %s: some files could not be deleted; they are no longer part of the store and the next command retries", name);
	if (nk > 0) {
		log_error("base rm %s: in use by %zu child%s (%s%s); remove them first", name, nk,
			  nk == 1 ? "" : "ren", kids[0], nk > 1 ? ", ..." : "");
		strv_free(kids);
		return EXIT_FAIL;
	}
	strv_free(kids);
	if (corrupt)
		return log_fail(EXIT_FAIL, "base rm %s: some child.conf cannot be read, so it is unknown whether a child uses this base (see 'layerctl child list'; a broken child can be removed with 'layerctl child rm')", name);
	if ((r = remove_atomically(s->root_fd, rel)) < 0)
		return log_fail(EXIT_FAIL, "base rm %s: %s", name, strerror(-r));
	if (r > 0)
		log_warning("base rm %s: some files could not be deleted; they are no longer part of the store and the next command retries", name);
	log_info("Removed base %s.", name);
	return EXIT_OK;
}

int cmd_base(struct ctx *ctx, int argc, char **argv)
{
	if (argc < 2)
		return usage_error("base", "needs a subcommand (import, list, show, rm, manifest, verify)");
	const char *sub = argv[1];
	if (STREQ(sub, "-h") || STREQ(sub, "--help")) {
		fputs(base_help, stdout);
		return EXIT_OK;
	}
	static const struct {
		const char *name;
		int (*fn)(struct ctx *, int, char **);
	} subs[] = {
		{ "import", base_import },  { "list", base_list },	   { "show", base_show },
		{ "rm", base_rm },	    { "manifest", cmd_base_manifest }, { "verify", cmd_base_verify },
	};
	for (size_t i = 0; i < ELEMENTSOF(subs); i++)
		if (STREQ(sub, subs[i].name))
			return subs[i].fn(ctx, argc - 1, argv + 1);
	return usage_error("base", "unknown subcommand '%s'", sub);
}
