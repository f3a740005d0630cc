/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Automount commands: enable, disable, fstab.
 *
 * A child is enabled when its child.conf says [Child] Automount=yes.  The
 * fstab entries and generator units are derived from that, from the store's
 * current state, every time: there is no second record to fall out of step.
 */
#include <getopt.h>
#include <stdio.h>

#include "fstab-gen/fstab-gen.h"
#include "src/store/image.h"
#include "src/cli.h"
#include "src/log.h"
#include "src/run-opts.h"
#include "src/store/refresh.h"

#define DEFAULT_FSTAB "/etc/fstab"

static const char enable_help[] =
"Usage: layerctl enable CHILD...\n"
"       layerctl disable CHILD...\n"
"\n"
"Mark children for automounting ([Child] Automount=yes in child.conf), or\n"
"unmark them.  Nothing is mounted and fstab is not touched: run\n"
"'layerctl fstab --write' afterwards (or install the systemd generator),\n"
"then 'systemctl daemon-reload' and 'systemctl start UNIT.automount': a\n"
"reload alone leaves a new automount inactive until the next boot.  The\n"
"exact unit names are printed.\n"
"\n"
"  -h, --help   this help\n";

static const char fstab_help[] =
"Usage: layerctl fstab --print\n"
"       layerctl fstab --write [--file PATH]\n"
"       layerctl fstab --check [--file PATH]\n"
"       layerctl fstab --generator NORMAL-DIR [EARLY-DIR LATE-DIR]\n"
"\n"
"fstab entries (noauto,x-systemd.automount overlay mounts) for the children\n"
"marked with 'layerctl enable'.\n"
"\n"
"  --print          print the entries of all enabled children\n"
"  --write          bring the file in line: add missing entries, update\n"
"                   changed ones, remove those of children that are gone or\n"
"                   disabled; every other line stays byte for byte\n"
"  --check          say what differs between the file and the store; exit 1\n"
"                   if anything does, 0 if not\n"
"  --file PATH      the fstab to write or check (default /etc/fstab)\n"
"  --generator DIR...  act as a systemd generator: write .mount and\n"
"                   .automount units into the first DIR instead of fstab,\n"
"                   except for children whose mount point has a line in\n"
"                   /etc/fstab (or $SYSTEMD_FSTAB)\n"
"  -h, --help       this help\n"
"\n"
"\n"
"Entries carry nofail: a child never fails a boot.  A user may add\n"
"x-systemd.device-timeout=, x-systemd.mount-timeout=, x-systemd.idle-timeout=\n"
"and x-* options outside x-systemd., x-initrd., x-mount. and x-layerctl. to\n"
"an entry: --check ignores them and --write keeps them.\n"
"\n"
"See layerctl-fstab(1).\n";

/* ---- enable / disable ---- */

static int set_automount(struct ctx *ctx, const char *cmd, const char *name, bool on)
{
	int r;

	_cleanup_(child_handle_done) struct child_handle h;
	if ((r = cli_open_child(ctx, cmd, name, CLI_CHILD_LOCK, &h)))
		return r;
	/* An fstab entry or a mount unit cannot idmap the lower (docs/runner.md, "User namespaces"). */
	if (on && run_opts_child_in_userns_mode(&h.c))
		return log_fail(EXIT_FAIL, "%s %s: the child is in user-namespace mode (PrivateUsers=); an automount cannot "
			       "make its idmapped mount", cmd, name);
	r = settings_get_bool(h.c.conf, "Child", "Automount", false);
	if (r < 0)
		log_warning("%s %s: [Child] Automount= is not a boolean; replacing it", cmd, name);
	if (r >= 0 && (r > 0) == on) {
		log_info("Child %s is already %s.", name, on ? "enabled" : "disabled");
		return EXIT_OK;
	}
	/* Disabling removes the key: unset means "no", and child.conf stays short. */
	r = settings_set(h.c.conf, "Child", "Automount", on ? "yes" : NULL);
	/* The entry's lowerdir is children/NAME/lower: it must exist before anything mounts it. */
	if (r == 0 && on)
		r = refresh_link_lower(&ctx->store, name, h.c.base, h.c.gen);
	if (r == 0)
		r = store_child_save_conf(&ctx->store, name, h.c.conf);
	if (r < 0)
		return log_fail(EXIT_FAIL, "%s %s: saving child.conf: %s", cmd, name, strerror(-r));
	log_info("%s automount for child %s.", on ? "Enabled" : "Disabled", name);
	return EXIT_OK;
}

/*
 * What to run next, with the exact unit names (systemd-escape --path of each
 * child's mount point).  A daemon-reload alone does not start a new
 * .automount (local-fs.target, which wants it, is already active), and does
 * not stop one whose unit went away.
 */
static void hint_next_steps(struct ctx *ctx, int argc, char **argv, int first, bool on)
{
	_cleanup_free_ char *units = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&units, &len);
	if (!f)
		return;
	for (int i = first; i < argc; i++) {
		_cleanup_free_ char *root = store_child_path(&ctx->store, argv[i], "root"), *name = NULL;
		if (!root || fg_unit_name_from_path(root, "automount", &name) < 0)
			continue;
		/* Unit names are [A-Za-z0-9:_.\\-]: single quotes keep their \\x escapes from the shell. */
		fprintf(f, " '%s'", name);
		if (!on)
			fprintf(f, " '%.*s.mount'", (int)(strlen(name) - strlen(".automount")), name);
	}
	if (fclose(f) != 0 || !units || !*units)
		return;
	if (on) {
		log_hint("write the entries with 'layerctl fstab --write' (or install the systemd generator), then run: "
			 "systemctl daemon-reload && systemctl start%s", units);
		log_hint("a daemon-reload alone leaves a new automount inactive until that start or the next boot");
	} else
		log_hint("remove the entries with 'layerctl fstab --write' (not needed with the systemd generator), then run: "
			 "systemctl daemon-reload && systemctl stop%s", units);
}

static int enable_disable(struct ctx *ctx, int argc, char **argv, bool on)
{
	const char *cmd = on ? "enable" : "disable";
	int ret = EXIT_OK, r;

	for (int i = 1; i < argc; i++)
		if (STREQ(argv[i], "-h") || STREQ(argv[i], "--help")) {
			fputs(enable_help, stdout);
			return EXIT_OK;
		} else if (argv[i][0] == '-' && !STREQ(argv[i], "--"))
			return usage_error(cmd, "unknown option '%s'", argv[i]);
	int first = argc > 1 && STREQ(argv[1], "--") ? 2 : 1;
	if (argc <= first)
		return usage_error(cmd, "needs at least one CHILD");
	if ((r = ctx_store(ctx, false)))
		return r;
	for (int i = first; i < argc; i++)
		if (set_automount(ctx, cmd, argv[i], on) != EXIT_OK)
			ret = EXIT_FAIL;
	if (ret == EXIT_OK && !log_quiet)
		hint_next_steps(ctx, argc, argv, first, on);
	return ret;
}

int cmd_enable(struct ctx *ctx, int argc, char **argv)
{
	return enable_disable(ctx, argc, argv, true);
}

int cmd_disable(struct ctx *ctx, int argc, char **argv)
{
	return enable_disable(ctx, argc, argv, false);
}

/* ---- the enabled children, as fstab-gen wants them ---- */

struct enabled {
	struct fg_child *children;
	char **strings;      /* everything the fg_child pointers point into */
	size_t n, n_strings;
	char **all_names;    /* every child of the store, enabled or not */
	size_t n_all;
};

static void enabled_done(struct enabled *e)
{
	for (size_t i = 0; i < e->n_strings; i++)
		free(e->strings[i]);
	free(e->strings);
	free(e->children);
	strv_free(e->all_names);
	memset(e, 0, sizeof(*e));
}

static const char *keep(struct enabled *e, char *s)
{
	if (!s)
		return NULL;
	e->strings[e->n_strings++] = s;
	return s;
}

/* A generation kept as an image: its file, type and mount point, for the generator's image unit. */
static int add_image(struct enabled *e, struct store *s, const struct child_info *c, struct fg_child *fc)
{
	if (store_gen_is_image(s, c->base, c->gen) <= 0)
		return 0;
	_cleanup_free_ char *dir = store_gen_dir(s, c->base, c->gen);
	char *image = NULL;
	struct image_info img;
	if (!dir || asprintf(&image, "%s/image", dir) < 0)
		return -ENOMEM;
	fc->image = keep(e, image);
	int r = image_probe(image, &img, NULL);
	if (r <= 0)
		return r < 0 ? r : -EINVAL;
	fc->image_type = keep(e, strdup(img.fstype));
	fc->image_dir = keep(e, store_gen_tree(s, c->base, c->gen));
	return fc->image_type && fc->image_dir ? 0 : -ENOMEM;
}

static int add_enabled(struct enabled *e, struct store *s, const struct child_info *c, bool generator)
{
	/*
	 * The generator runs at boot and writes nothing to the store: for a
	 * child enabled before lower links existed (no 'fstab --write' since),
	 * name the generation's tree itself rather than a missing link.
	 */
	bool link = !generator || refresh_check_lower(s, c->name, c->base, c->gen) != -ENOENT;
	struct fg_child *v = realloc(e->children, (e->n + 1) * sizeof(*v));
	char **sv = realloc(e->strings, (e->n_strings + 8) * sizeof(*sv));
	if (v)
		e->children = v;
	if (sv)
		e->strings = sv;
	if (!v || !sv)
		return -ENOMEM;
	struct fg_child *fc = &e->children[e->n];
	*fc = (struct fg_child){
		.name = keep(e, strdup(c->name)),
		.store = s->root,
		.target = keep(e, store_child_path(s, c->name, "root")),
		/* A stable path: a refresh re-points the link, the entry never changes (src/store/refresh.h). */
		.lower = keep(e, link ? store_child_path(s, c->name, "lower") : store_gen_tree(s, c->base, c->gen)),
		.upper = keep(e, store_child_path(s, c->name, "upper")),
		.work = keep(e, store_child_path(s, c->name, "work")),
	};
	if (!fc->name || !fc->target || !fc->lower || !fc->upper || !fc->work)
		return -ENOMEM;
	e->n++;
	return add_image(e, s, c, fc);
}

/*
 * Load every child and keep the enabled ones (sorted by name, as the store
 * lists them).  strict: a child that cannot be read is an error (we would
 * not know whether its entry must stay); otherwise a warning (generator).
 */
static int load_enabled(struct ctx *ctx, const char *cmd, bool strict, struct enabled *e)
{
	struct store *s = &ctx->store;
	int r = store_list_children(s, &e->all_names, &e->n_all);
	if (r < 0)
		return log_fail(EXIT_FAIL, "%s: listing children: %s", cmd, strerror(-r));
	for (size_t i = 0; i < e->n_all; i++) {
		struct child_info c;
		struct lc_err err = { "" };
		r = store_child_load(s, e->all_names[i], &c, &err);
		if (r == -ENOENT)
			continue; /* removed meanwhile */
		if (r < 0) {
			if (strict)
				return log_fail(EXIT_FAIL, "%s: child %s: %s (nothing was changed)", cmd, e->all_names[i],
						lc_err_msg(&err, r));
			log_warning("%s: child %s: %s; skipped", cmd, e->all_names[i], lc_err_msg(&err, r));
			continue;
		}
		int on = settings_get_bool(c.conf, "Child", "Automount", false);
		if (on < 0 && strict) {
			child_info_done(&c);
			return log_fail(EXIT_FAIL, "%s: child %s: [Child] Automount= is not a boolean", cmd,
					e->all_names[i]);
		}
		r = on > 0 ? add_enabled(e, s, &c, !strict) : 0;
		child_info_done(&c);
		if (r < 0)
			return log_fail(EXIT_FAIL, "%s: %s", cmd, strerror(-r));
	}
	return 0;
}

static bool is_child(const struct enabled *e, const char *name)
{
	for (size_t i = 0; i < e->n_all; i++)
		if (STREQ(e->all_names[i], name))
			return true;
	return false;
}

/* ---- fstab --print / --write / --check ---- */

static int fstab_print(struct ctx *ctx)
{
	struct enabled e = {};
	int ret = load_enabled(ctx, "fstab --print", true, &e);
	for (size_t i = 0; ret == EXIT_OK && i < e.n; i++) {
		_cleanup_free_ char *line = NULL;
		struct lc_err err = { "" };
		int r = fg_entry_line(&e.children[i], &line, &err);
		if (r < 0)
			ret = log_fail(EXIT_FAIL, "fstab --print: %s", err.msg[0] ? err.msg : strerror(-r));
		else
			fputs(line, stdout);
	}
	if (ret == EXIT_OK && e.n == 0)
		log_info("No child is enabled (layerctl enable CHILD).");
	enabled_done(&e);
	return ret;
}

/* One line saying what a change is (--check) or was (--write). */
static void describe_change(const struct fg_change *c, const struct enabled *e, const char *file, bool done)
{
	const char *gone = is_child(e, c->child) ? "is not enabled" : "does not exist";
	switch (c->kind) {
	case FG_ADD:
		if (done)
			log_info("Added the entry of child %s.", c->child);
		else
			log_error("fstab --check: %s: no entry for child %s", file, c->child);
		break;
	case FG_UPDATE:
		if (done)
			log_info("Updated the entry of child %s (line %u: %s).", c->child, c->line, c->detail);
		else
			log_error("fstab --check: %s:%u: the entry of child %s differs (%s)", file, c->line, c->child,
				  c->detail);
		break;
	case FG_REMOVE:
		if (done)
			log_info("Removed the entry of child %s (line %u): the child %s.", c->child, c->line, gone);
		else
			log_error("fstab --check: %s:%u: entry of child %s, which %s", file, c->line, c->child, gone);
		break;
	case FG_DUPLICATE:
		if (done)
			log_info("Removed a second entry of child %s (line %u).", c->child, c->line);
		else
			log_error("fstab --check: %s:%u: a second entry of child %s", file, c->line, c->child);
		break;
	}
}

/*
 * Each enabled child's children/NAME/lower link must name its generation's
 * tree (refresh and enable keep it so; children enabled before the link
 * existed get it here).  --check reports, --write repairs under the child
 * lock (a refresh may be moving the child at the same moment).
 */
static int fix_lower_links(struct ctx *ctx, const char *cmd, const struct enabled *e, bool check)
{
	int ret = 0;
	for (size_t i = 0; i < e->n; i++) {
		const char *name = e->children[i].name;
		struct child_info c;
		struct lc_err err = { "" };
		_cleanup_close_ int lock = check ? -1 : store_lock(&ctx->store, LOCK_CHILD, name, LOCK_EX);
		if (!check && lock < 0) {
			ret = log_fail(-1, "%s: child %s: lock: %s", cmd, name, strerror(-lock));
			continue;
		}
		if (store_child_load(&ctx->store, name, &c, &err) < 0)
			continue; /* removed meanwhile; the entry goes with it */
		int r = refresh_check_lower(&ctx->store, name, c.base, c.gen);
		if (r < 0 && check)
			ret = log_fail(-1, "%s: %s/children/%s/lower %s generation %u of base %s; run 'layerctl fstab --write'",
				       cmd, ctx->store.root, name, r == -ENOENT ? "is missing: it should name" : "does not name",
				       c.gen, c.base);
		else if (r < 0 && (r = refresh_link_lower(&ctx->store, name, c.base, c.gen)) < 0)
			ret = log_fail(-1, "%s: child %s: lower link: %s", cmd, name, strerror(-r));
		child_info_done(&c);
	}
	return ret;
}

static int fstab_sync(struct ctx *ctx, const char *file, bool check)
{
	const char *cmd = check ? "fstab --check" : "fstab --write";
	struct enabled e = {};
	struct fg_report rep;
	struct lc_err err = { "" };

	int ret = load_enabled(ctx, cmd, true, &e);
	if (ret != EXIT_OK) {
		enabled_done(&e);
		return ret;
	}
	if (fix_lower_links(ctx, cmd, &e, check) < 0)
		ret = EXIT_FAIL;
	_cleanup_free_ char *scope = NULL;
	if (asprintf(&scope, "%s/children", ctx->store.root) < 0) {
		enabled_done(&e);
		return log_fail(EXIT_FAIL, "%s: out of memory", cmd);
	}
	/* Entries of other stores (mount points elsewhere) are not ours to remove. */
	int r = fg_fstab_sync(file, scope, e.children, e.n, check ? FG_SYNC_DRY_RUN : 0, &rep, &err);
	if (r < 0) {
		enabled_done(&e);
		return log_fail(EXIT_FAIL, "%s: %s", cmd, err.msg[0] ? err.msg : strerror(-r));
	}
	for (size_t i = 0; i < rep.n_changes; i++)
		describe_change(&rep.changes[i], &e, file, !check);
	if (check && (rep.n_changes > 0 || ret != EXIT_OK))
		ret = EXIT_FAIL;
	else if (check)
		log_info("%s is in line with the store (%zu entr%s).", file, rep.n_entries, rep.n_entries == 1 ? "y" : "ies");
	else if (rep.n_changes == 0)
		log_info("%s is already in line with the store (%zu entr%s); not rewritten.", file, rep.n_entries,
			 rep.n_entries == 1 ? "y" : "ies");
	else
		log_info("Wrote %s%s (%zu layerctl entr%s).", file, rep.created ? " (new file)" : "", rep.n_entries,
			 rep.n_entries == 1 ? "y" : "ies");
	fg_report_done(&rep);
	enabled_done(&e);
	return ret;
}

/* ---- fstab --generator ---- */

/* The fstab systemd-fstab-generator reads: the same variable, the same default. */
static const char *fstab_path(void)
{
	const char *p = getenv("SYSTEMD_FSTAB");
	return p && *p ? p : DEFAULT_FSTAB;
}

/*
 * systemd runs generators very early: no store (or /var not mounted yet)
 * simply means no units, and one bad child must not cost the others theirs.
 * Messages go to stderr, which systemd sends to the journal/kmsg.
 */
static int fstab_generator(struct ctx *ctx, const char *dir)
{
	struct enabled e = {};
	struct fg_gen_report rep;
	struct lc_err err = { "" };

	int r = store_open(&ctx->store, ctx->root_arg, ctx->runtime_arg, false);
	if (r == -ENOENT)
		return EXIT_OK;
	if (r < 0)
		return log_fail(EXIT_FAIL, "fstab --generator: store: %s", strerror(-r));
	ctx->store_open = true;
	int ret = load_enabled(ctx, "fstab --generator", false, &e);
	if (ret == EXIT_OK) {
		r = fg_generate(dir, fstab_path(), e.children, e.n, &rep, &err);
		if (r < 0)
			ret = log_fail(EXIT_FAIL, "fstab --generator: %s", err.msg[0] ? err.msg : strerror(-r));
		for (size_t i = 0; i < rep.n_skipped; i++)
			log_warning("fstab --generator: child %s: its units exist already (an /etc/fstab entry?); left alone",
				    rep.skipped[i]);
		fg_gen_report_done(&rep);
	}
	enabled_done(&e);
	return ret;
}

int cmd_fstab(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "print", no_argument, NULL, 'p' },
		{ "write", no_argument, NULL, 'w' },
		{ "check", no_argument, NULL, 'c' },
		{ "generator", no_argument, NULL, 'g' },
		{ "file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *file = NULL;
	int mode = 0, c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': case 'w': case 'c': case 'g':
			if (mode && mode != c)
				return usage_error("fstab", "--print, --write, --check and --generator exclude each other");
			mode = c;
			break;
		case 'f':
			if (!*optarg)
				return usage_error("fstab", "--file needs a path");
			file = optarg;
			break;
		case 'h':
			fputs(fstab_help, stdout);
			return EXIT_OK;
		default:
			return usage_error("fstab", "unknown option");
		}
	}
	if (!mode)
		return usage_error("fstab", "needs one of --print, --write, --check, --generator");
	if (file && mode != 'w' && mode != 'c')
		return usage_error("fstab", "--file goes with --write or --check");
	int n_args = argc - optind;
	if (mode == 'g') {
		if (n_args != 1 && n_args != 3)
			return usage_error("fstab", "--generator takes one or three directories (as systemd passes them)");
		return fstab_generator(ctx, argv[optind]);
	}
	if (n_args != 0)
		return usage_error("fstab", "unexpected argument '%s'", argv[optind]);
	if ((r = ctx_store(ctx, false)))
		return r;
	if (mode == 'p')
		return fstab_print(ctx);
	return fstab_sync(ctx, file ? file : DEFAULT_FSTAB, mode == 'c');
}
