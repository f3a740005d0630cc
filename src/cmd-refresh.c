/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * refresh: move children onto their base's current (or another) generation.
 * The decisions and the journal are src/store/refresh*.c; this file picks
 * the children, takes the locks, unmounts/remounts and restarts, and prints.
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>

#include "src/commands.h"
#include "src/json.h"
#include "src/log.h"
#include "src/progress.h"
#include "src/run-opts.h"
#include "src/store/uidrange.h"
#include "src/runner/runner.h"
#include "src/store/refresh.h"

static const char refresh_help[] =
"Usage: layerctl refresh CHILD...|--base NAME|--all [OPTIONS]\n"
"       layerctl refresh --undo CHILD [--restart]\n"
"\n"
"Move children onto their base's current generation.  Only the paths the\n"
"update changed are looked at in each child's upper dir:\n"
"  S stale copy (the child never changed it): removed, the update shows\n"
"  = the child's copy equals the new version: removed\n"
"  m the child changed only owner/mode/xattrs: new content, its metadata\n"
"  C conflict: the child's version is kept and the base's saved under\n"
"    children/NAME/refresh/GEN/base/ (the path is printed)\n"
"Whatever is removed from an upper dir is moved to the save dir first,\n"
"so 'refresh --undo' puts the child back exactly.\n"
"\n"
"      --base NAME       every child of base NAME\n"
"      --all             every child\n"
"      --to N            generation N instead of the current one\n"
"  -n, --dry-run         only show what would be done\n"
"      --keep-child      conflicts: keep the child's version, save nothing\n"
"      --take-base       conflicts: move the child's version to the save dir\n"
"      --restart         stop a running (booted) child and start it again\n"
"      --undo            put CHILD back as before its last refresh\n"
"      --json            machine-readable output\n"
"  -h, --help            this help\n"
"\n"
"See layerctl-refresh(1).\n";

struct refresh_opts {
	bool all, dry_run, json, restart, undo;
	const char *base;
	unsigned to;
	enum refresh_policy policy;
};

/* ---- output ---- */

static void put_escaped_path(FILE *f, const char *p)
{
	fputc('/', f);
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\\')
			fputs("\\\\", f);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

static bool reported(char cls)
{
	return cls == RF_STALE || cls == RF_CONVERGED || cls == RF_MERGED || cls == RF_CONFLICT;
}

static const char *class_word(char cls)
{
	switch (cls) {
	case RF_STALE: return "stale";
	case RF_CONVERGED: return "converged";
	case RF_MERGED: return "merged";
	case RF_CONFLICT: return "conflict";
	case RF_ABSENT: return "absent";
	case RF_WHITEOUT_DROPPED: return "whiteout_dropped";
	case RF_DIR_FOLLOWS: return "dir_follows_base";
	case RF_CHILD_ONLY: return "child_only";
	}
	return "?";
}

static const char *action_word(const struct refresh_item *it)
{
	switch (it->action) {
	case RF_KEEP: return "kept";
	case RF_REMOVE: return "removed";
	case RF_MERGE: return "merged";
	case RF_DIR_META: return "metadata";
	}
	return "?";
}

static void print_plan_text(struct ctx *ctx, const struct refresh_plan *p, bool dry_run)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct refresh_item *it = &p->items[i];
		if (!reported(it->cls))
			continue;
		printf("%c ", it->cls);
		put_escaped_path(stdout, it->path);
		if (it->cls == RF_CONFLICT) {
			printf("  (%s; %s)", it->why ? it->why : "conflict",
			       it->action == RF_REMOVE ? "the base's version taken" : "the child's version kept");
			if (it->save_base) {
				_cleanup_free_ char *saved = refresh_saved_path(&ctx->store, p->child, p->to, it->path);
				printf(dry_run ? "\n    base version would be saved as %s" : "\n    base version saved as %s",
				       saved ? saved : "?");
			}
		}
		fputc('\n', stdout);
	}
}

static void json_plan(struct ctx *ctx, struct json *j, const struct refresh_plan *p)
{
	json_key(j, "counts");
	json_begin_object(j);
	static const char cls[] = { RF_STALE, RF_CONVERGED, RF_MERGED, RF_CONFLICT, RF_ABSENT, RF_WHITEOUT_DROPPED,
				    RF_DIR_FOLLOWS, RF_CHILD_ONLY };
	for (size_t i = 0; i < ELEMENTSOF(cls); i++)
		json_kv_uint(j, class_word(cls[i]), p->counts[(unsigned char)cls[i]]);
	json_end_object(j);
	json_key(j, "paths");
	json_begin_array(j);
	for (size_t i = 0; i < p->n; i++) {
		const struct refresh_item *it = &p->items[i];
		if (!reported(it->cls))
			continue;
		char c[2] = { it->cls, 0 };
		_cleanup_free_ char *full = NULL;
		if (asprintf(&full, "/%s", it->path) < 0)
			continue;
		json_begin_object(j);
		json_kv_string(j, "path", full);
		json_kv_string(j, "class", c);
		json_kv_string(j, "action", action_word(it));
		if (it->why)
			json_kv_string(j, "why", it->why);
		if (it->save_base) {
			_cleanup_free_ char *saved = refresh_saved_path(&ctx->store, p->child, p->to, it->path);
			json_kv_string(j, "base_version", saved);
		}
		json_end_object(j);
	}
	json_end_array(j);
}

static void summary_line(const struct refresh_plan *p, bool dry_run)
{
	log_info("%s %s: generation %u -> %u: %zu stale, %zu converged, %zu merged, %zu conflict%s (%zu paths changed "
		 "in the base, %zu not in the child).",
		 dry_run ? "Would refresh" : "Refreshed", p->child, p->from, p->to, p->counts[RF_STALE],
		 p->counts[RF_CONVERGED], p->counts[RF_MERGED], p->counts[RF_CONFLICT],
		 p->counts[RF_CONFLICT] == 1 ? "" : "s", p->n, p->counts[RF_ABSENT]);
}

/* ---- deltas shared between children on the same generations ---- */

struct delta_cache {
	struct {
		char *base;
		unsigned from, to;
		struct refresh_delta *d;
	} v[8];
	size_t n;
};

static void delta_cache_done(struct delta_cache *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].base);
		refresh_delta_free(c->v[i].d);
	}
	c->n = 0;
}

static int delta_get(struct ctx *ctx, struct delta_cache *c, const char *base, unsigned from, unsigned to,
		     const struct refresh_delta **ret, struct lc_err *err)
{
	for (size_t i = 0; i < c->n; i++)
		if (STREQ(c->v[i].base, base) && c->v[i].from == from && c->v[i].to == to) {
			*ret = c->v[i].d;
			return 0;
		}
	struct refresh_delta *d;
	int r = refresh_delta_load(&ctx->store, base, from, to, &d, err);
	if (r < 0)
		return r;
	if (c->n == ELEMENTSOF(c->v)) {
		/* Rare (children of many bases on many generations): drop the oldest. */
		free(c->v[0].base);
		refresh_delta_free(c->v[0].d);
		memmove(&c->v[0], &c->v[1], (c->n - 1) * sizeof(c->v[0]));
		c->n--;
	}
	c->v[c->n].base = strdup(base);
	c->v[c->n].from = from;
	c->v[c->n].to = to;
	c->v[c->n].d = d;
	c->n++;
	*ret = d;
	return 0;
}

/* ---- one child ---- */

enum outcome { DONE, UP_TO_DATE, FAILED };

struct locked_child {
	int base_lock, child_lock;
	struct child_info c;
};

static void locked_child_done(struct locked_child *l)
{
	if (l->child_lock >= 0)
		close(l->child_lock);
	if (l->base_lock >= 0)
		close(l->base_lock);
	child_info_done(&l->c);
	l->child_lock = l->base_lock = -1;
}

/*
 * Base lock shared, then the child lock exclusive (the store's lock order),
 * then recover what an interrupted refresh left, then load child.conf.  The
 * base is read from child.conf before locking; it never changes.
 */
static int lock_child(struct ctx *ctx, const char *cmd, const char *name, struct locked_child *l)
{
	struct lc_err err = { "" };
	struct child_info pre;
	const char *why;
	int r;

	l->base_lock = l->child_lock = -1;
	memset(&l->c, 0, sizeof(l->c));
	if (name_validate(name, &why) < 0)
		return log_fail(-1, "%s: child name '%s': %s", cmd, name, why);
	r = store_child_load(&ctx->store, name, &pre, &err);
	if (r == -ENOENT)
		return log_fail(-1, "%s %s: no such child", cmd, name);
	if (r < 0)
		return log_fail(-1, "%s %s: %s", cmd, name, lc_err_msg(&err, r));
	l->base_lock = store_lock(&ctx->store, LOCK_BASE, pre.base, LOCK_SH);
	child_info_done(&pre);
	if (l->base_lock < 0)
		return log_fail(-1, "%s %s: base lock: %s", cmd, name, strerror(-l->base_lock));
	l->child_lock = store_lock(&ctx->store, LOCK_CHILD, name, LOCK_EX);
	if (l->child_lock < 0) {
		log_error("%s %s: lock: %s", cmd, name, strerror(-l->child_lock));
		/* The exclusive lock also recovers an interrupted refresh: say where to look when that failed. */
		for (const char *const *w = (const char *const[]){ "pending", "undoing", NULL }; *w; w++) {
			_cleanup_free_ char *rel = NULL;
			if (asprintf(&rel, "children/%s/refresh/%s", name, *w) >= 0 && faccessat(ctx->store.root_fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
				log_hint("an interrupted refresh could not be recovered: see %s/%s/journal", ctx->store.root, rel);
		}
		return -1;
	}
	r = refresh_recover(&ctx->store, name, &err);
	if (r < 0)
		return log_fail(-1, "%s %s: recovering an interrupted refresh: %s", cmd, name, lc_err_msg(&err, r));
	if (r == 1)
		log_warning("%s %s: an interrupted refresh was rolled back", cmd, name);
	else if (r == 2)
		log_warning("%s %s: an interrupted refresh or undo was completed", cmd, name);
	err = (struct lc_err){ "" };
	r = store_child_load(&ctx->store, name, &l->c, &err);
	if (r < 0)
		return log_fail(-1, "%s %s: %s", cmd, name, lc_err_msg(&err, r));
	return 0;
}

/* Running: refused unless --restart, which needs a booted child (its init can be started again). */
static int stop_for_restart(struct ctx *ctx, const char *cmd, const char *name, bool restart, bool *stopped)
{
	struct run_state st;
	*stopped = false;
	if (!child_is_running(ctx, name))
		return 0;
	if (!restart) {
		log_error("%s %s: the child is running; its upper dir cannot change under it", cmd, name);
		log_hint("layerctl %s --restart %s (stop, refresh, start again), or layerctl stop %s first", cmd, name, name);
		return -1;
	}
	if (runner_state_read(ctx->store.runtime, name, &st) < 0 || !st.boot)
		return log_fail(-1, "%s %s: the child runs a command (layerctl run), not a booted init: it cannot be "
				"started again as it was; stop it first", cmd, name);
	char *argv[] = { (char *)"stop", (char *)name, NULL };
	if (cmd_stop(ctx, 2, argv) != EXIT_OK)
		return log_fail(-1, "%s %s: could not stop the child", cmd, name);
	*stopped = true;
	return 0;
}

static void start_again(struct ctx *ctx, const char *cmd, const char *name)
{
	char *argv[] = { (char *)"start", (char *)name, NULL };
	if (cmd_start(ctx, 2, argv) != EXIT_OK)
		log_error("%s %s: could not start the child again (layerctl start %s)", cmd, name, name);
}

/* Unmount a mounted child for the change: 1 unmounted (remount afterwards), 0 was not mounted, -1 error. */
static int umount_for_change(struct ctx *ctx, const char *cmd, const struct child_info *c)
{
	struct lc_err err = { "" };
	int r = store_child_is_mounted(&ctx->store, c);
	if (r == 0)
		return 0;
	if (r < 0 && r != -EBUSY)
		return log_fail(-1, "%s %s: checking mounts: %s", cmd, c->name, strerror(-r));
	r = store_child_umount(&ctx->store, c, &err);
	if (r < 0) {
		log_error("%s %s: unmounting the overlay: %s", cmd, c->name, lc_err_msg(&err, r));
		if (r == -EBUSY)
			log_hint("something still uses %s/children/%s/root", ctx->store.root, c->name);
		return -1;
	}
	return 1;
}

static void remount(struct ctx *ctx, const char *cmd, const char *name)
{
	struct lc_err err = { "" };
	struct child_info c;
	int r = store_child_load(&ctx->store, name, &c, &err);
	if (r == 0) {
		r = store_child_mount(&ctx->store, &c, &err);
		child_info_done(&c);
	}
	if (r < 0)
		log_error("%s %s: mounting the overlay again: %s", cmd, name, lc_err_msg(&err, r));
}

static unsigned target_generation(struct ctx *ctx, const char *cmd, const struct child_info *c, unsigned to)
{
	struct lc_err err = { "" };
	struct base_info b;
	int r = store_base_load(&ctx->store, c->base, &b, &err);
	if (r < 0)
		return log_fail(0u, "%s %s: base %s: %s", cmd, c->name, c->base, lc_err_msg(&err, r));
	unsigned want = to ? to : b.current;
	bool found = false;
	for (size_t i = 0; i < b.n_gens; i++)
		found |= b.gens[i] == want;
	base_info_done(&b);
	if (!found)
		return log_fail(0u, "%s %s: base %s has no generation %u", cmd, c->name, c->base, want);
	return want;
}

static void report_up_to_date(const char *name, const struct child_info *c, unsigned to, struct json *j)
{
	if (j) {
		json_begin_object(j);
		json_kv_string(j, "child", name);
		json_kv_string(j, "base", c->base);
		json_kv_uint(j, "from", c->gen);
		json_kv_uint(j, "to", to);
		json_kv_string(j, "status", "up-to-date");
		json_end_object(j);
	} else
		log_info("Child %s is already on generation %u of %s.", name, to, c->base);
}

static void report_refreshed(struct ctx *ctx, const char *name, const struct child_info *c,
			     const struct refresh_plan *plan, bool dry_run, struct json *j)
{
	if (j) {
		json_begin_object(j);
		json_kv_string(j, "child", name);
		json_kv_string(j, "base", c->base);
		json_kv_uint(j, "from", plan->from);
		json_kv_uint(j, "to", plan->to);
		json_kv_string(j, "status", dry_run ? "dry-run" : "refreshed");
		json_plan(ctx, j, plan);
		json_end_object(j);
	} else {
		print_plan_text(ctx, plan, dry_run);
		fflush(stdout); /* the paths before the summary on stderr, when both go to one pipe */
		summary_line(plan, dry_run);
	}
}

/* The reason went to stderr; the array still has one object per child. */
static void report_failed(const char *name, struct json *j)
{
	json_begin_object(j);
	json_kv_string(j, "child", name);
	json_kv_string(j, "status", "failed");
	json_end_object(j);
}

/* Change the locked child as planned, its overlay unmounted meanwhile: 0 or -1 (said). */
static int apply_plan(struct ctx *ctx, const struct refresh_opts *o, const char *name, struct child_info *c,
		      const struct refresh_delta *d, struct refresh_plan *plan, struct lc_err *err)
{
	int mounted, r;

	if (child_is_running(ctx, name)) {
		log_error("refresh %s: the child started running meanwhile; not refreshed", name);
		return -1;
	}
	if ((mounted = umount_for_change(ctx, "refresh", c)) < 0)
		return -1;
	/* A user-namespace child: refreshed unshifted, planned again for that (src/run-userns.c). */
	struct uid_range shift;
	if ((r = cli_userns_unshift(ctx, "refresh", c, &shift)) < 0) {
		if (mounted)
			remount(ctx, "refresh", name);
		return -1;
	}
	if (r > 0) {
		refresh_plan_done(plan);
		r = refresh_plan(&ctx->store, c, d, o->policy, plan, err);
	}
	if (r >= 0)
		r = refresh_apply(&ctx->store, c, plan, err);
	cli_userns_reshift(ctx, "refresh", name, shift);
	if (mounted)
		remount(ctx, "refresh", name);
	if (r < 0) {
		log_error("refresh %s: %s (the child stays on generation %u)", name, lc_err_msg(err, r), c->gen);
		return -1;
	}
	return 0;
}

static enum outcome refresh_one(struct ctx *ctx, const struct refresh_opts *o, struct delta_cache *cache,
				const char *name, struct json *j)
{
	_cleanup_(locked_child_done) struct locked_child l = { -1, -1, {} };
	struct lc_err err = { "" };
	struct refresh_plan plan = {};
	const struct refresh_delta *d;
	bool stopped = false;
	int r;
	enum outcome ret = FAILED;

	if (!o->dry_run && stop_for_restart(ctx, "refresh", name, o->restart, &stopped) < 0)
		goto out;
	if (lock_child(ctx, "refresh", name, &l) < 0)
		goto out;
	unsigned to = target_generation(ctx, "refresh", &l.c, o->to);
	if (!to)
		goto out;
	if (l.c.gen == to) {
		report_up_to_date(name, &l.c, to, j);
		ret = UP_TO_DATE;
		goto out;
	}
	r = delta_get(ctx, cache, l.c.base, l.c.gen, to, &d, &err);
	if (r < 0) {
		log_error("refresh %s: %s", name, lc_err_msg(&err, r));
		goto out;
	}
	r = refresh_plan(&ctx->store, &l.c, d, o->policy, &plan, &err);
	if (r < 0) {
		log_error("refresh %s: %s", name, lc_err_msg(&err, r));
		if (r == -ENOTRECOVERABLE || r == -EOPNOTSUPP)
			log_hint("the child stays on generation %u, nothing was changed", l.c.gen);
		goto out;
	}
	if (!o->dry_run && apply_plan(ctx, o, name, &l.c, d, &plan, &err) < 0)
		goto out;
	report_refreshed(ctx, name, &l.c, &plan, o->dry_run, j);
	ret = DONE;
out:
	if (ret == FAILED && j)
		report_failed(name, j);
	refresh_plan_done(&plan);
	locked_child_done(&l);
	if (stopped)
		start_again(ctx, "refresh", name);
	return ret;
}

static int undo_one(struct ctx *ctx, const struct refresh_opts *o, const char *name)
{
	_cleanup_(locked_child_done) struct locked_child l = { -1, -1, {} };
	struct lc_err err = { "" };
	bool stopped = false;
	int ret = EXIT_FAIL, r;

	if (stop_for_restart(ctx, "refresh --undo", name, o->restart, &stopped) < 0)
		return EXIT_FAIL;
	if (lock_child(ctx, "refresh --undo", name, &l) < 0)
		goto out;
	unsigned from = l.c.gen, undo = refresh_undo_generation(&l.c);
	if (child_is_running(ctx, name)) {
		log_error("refresh --undo %s: the child started running meanwhile", name);
		goto out;
	}
	int mounted = umount_for_change(ctx, "refresh --undo", &l.c);
	if (mounted < 0)
		goto out;
	struct uid_range shift;
	if ((r = cli_userns_unshift(ctx, "refresh --undo", &l.c, &shift)) < 0) {
		if (mounted)
			remount(ctx, "refresh --undo", name);
		goto out;
	}
	r = refresh_undo(&ctx->store, name, &err);
	cli_userns_reshift(ctx, "refresh --undo", name, shift);
	if (mounted)
		remount(ctx, "refresh --undo", name);
	if (r < 0) {
		log_error("refresh --undo %s: %s", name, lc_err_msg(&err, r));
		if (r == -ESTALE)
			log_hint("nothing was changed; the child stays on generation %u", from);
		goto out;
	}
	if (o->json) {
		struct json j;
		json_init(&j, stdout);
		json_begin_object(&j);
		json_kv_string(&j, "child", name);
		json_kv_uint(&j, "from", from);
		json_kv_uint(&j, "to", undo);
		json_kv_string(&j, "status", "undone");
		json_end_object(&j);
		json_done(&j);
	} else
		log_info("Child %s is back on generation %u as before its refresh.", name, undo);
	ret = EXIT_OK;
out:
	locked_child_done(&l);
	if (stopped)
		start_again(ctx, "refresh --undo", name);
	return ret;
}

/* ---- choosing the children ---- */

static int pick_children(struct ctx *ctx, const struct refresh_opts *o, int argc, char **argv, char ***ret)
{
	char **names = NULL;
	size_t n = 0;
	int r;
	if (!o->all && !o->base) {
		names = calloc((size_t)argc + 1, sizeof(*names));
		if (!names)
			return -ENOMEM;
		for (int i = 0; i < argc; i++)
			if (!(names[i] = strdup(argv[i]))) {
				strv_free(names);
				return -ENOMEM;
			}
		*ret = names;
		return 0;
	}
	if ((r = store_list_children(&ctx->store, &names, &n)) < 0)
		return r;
	if (o->base) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			struct child_info c;
			bool keep = store_child_load(&ctx->store, names[i], &c, NULL) == 0 && STREQ(c.base, o->base);
			if (keep)
				child_info_done(&c);
			if (keep)
				names[k++] = names[i];
			else
				free(names[i]);
		}
		names[k] = NULL;
	}
	*ret = names;
	return 0;
}

/* What parse_refresh_options returns when the command goes on (every exit code is >= 0). */
#define REFRESH_GO_ON (-1)

/* Fill *o from the options: REFRESH_GO_ON, or the exit code (--help, a bad option). */
static int parse_refresh_options(int argc, char **argv, struct refresh_opts *o)
{
	static const struct option opts[] = {
		{ "base", required_argument, NULL, 'B' },
		{ "all", no_argument, NULL, 'a' },
		{ "to", required_argument, NULL, 't' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "keep-child", no_argument, NULL, 'K' },
		{ "take-base", no_argument, NULL, 'T' },
		{ "restart", no_argument, NULL, 'R' },
		{ "undo", no_argument, NULL, 'U' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "nh", opts, NULL)) != -1) {
		switch (c) {
		case 'B': o->base = optarg; break;
		case 'a': o->all = true; break;
		case 't':
			if ((r = cli_parse_gen_arg("refresh", "--to", optarg, &o->to)))
				return r;
			break;
		case 'n': o->dry_run = true; break;
		case 'K':
		case 'T': {
			enum refresh_policy p = c == 'K' ? REFRESH_KEEP_CHILD : REFRESH_TAKE_BASE;
			if (o->policy != REFRESH_DEFAULT && o->policy != p)
				return usage_error("refresh", "--keep-child and --take-base exclude each other");
			o->policy = p;
			break;
		}
		case 'R': o->restart = true; break;
		case 'U': o->undo = true; break;
		case 'j': o->json = true; break;
		case 'h': fputs(refresh_help, stdout); return EXIT_OK;
		default: return usage_error("refresh", "unknown option");
		}
	}
	return REFRESH_GO_ON;
}

/* The options that exclude each other, and the CHILD arguments they need: 0 or the exit code. */
static int check_refresh_args(const struct refresh_opts *o, int n_args)
{
	if (o->undo) {
		if (o->all || o->base || o->to || o->dry_run || o->policy != REFRESH_DEFAULT)
			return usage_error("refresh", "--undo takes one CHILD (and --restart, --json)");
		if (n_args != 1)
			return usage_error("refresh", "--undo needs exactly one CHILD");
	} else if ((o->all || o->base) && n_args > 0)
		return usage_error("refresh", "CHILD names, --base and --all exclude each other");
	else if (o->all && o->base)
		return usage_error("refresh", "--base and --all exclude each other");
	else if (!o->all && !o->base && n_args == 0)
		return usage_error("refresh", "needs CHILD..., --base NAME or --all");
	if (o->base) {
		const char *why;
		if (name_validate(o->base, &why) < 0)
			return log_fail(EXIT_FAIL, "refresh: base name '%s': %s", o->base, why);
	}
	return 0;
}

/* Several children: "Refreshing: 3 of 100 children" between their result lines; returns how many. */
static size_t children_progress_begin(struct progress *bar, const struct refresh_opts *o, char **names)
{
	size_t total = 0;
	for (char **p = names; *p; p++)
		total++;
	progress_begin(bar, o->dry_run ? "Checking" : "Refreshing");
	bar->unit = "children";
	bar->count_only = true;
	if (total < 2)
		bar->cb.fn = NULL;
	return total;
}

/* Refresh each of names (freed here) and sum up: the exit code. */
static int refresh_children(struct ctx *ctx, const struct refresh_opts *o, char **names)
{
	struct delta_cache cache = {};
	struct json j;
	size_t failed = 0, done = 0, current = 0;
	if (o->json) {
		json_init(&j, stdout);
		json_begin_array(&j);
	}
	struct progress bar;
	size_t total = children_progress_begin(&bar, o, names);
	for (char **p = names; *p; p++) {
		progress_clear(&bar);
		enum outcome oc = refresh_one(ctx, o, &cache, *p, o->json ? &j : NULL);
		failed += oc == FAILED;
		done += oc == DONE;
		current += oc == UP_TO_DATE;
		lc_progress_report(&bar.cb, (uint64_t)(p - names + 1), 0, total, 0);
	}
	progress_done(&bar);
	if (o->json) {
		json_end_array(&j);
		json_done(&j);
	} else if (!names[0])
		log_info("No children to refresh.");
	else if (names[1])
		log_info("%s %zu children, %zu already up to date, %zu failed.", o->dry_run ? "Would refresh" : "Refreshed",
			 done, current, failed);
	delta_cache_done(&cache);
	strv_free(names);
	fflush(stdout);
	return failed ? EXIT_FAIL : EXIT_OK;
}

int cmd_refresh(struct ctx *ctx, int argc, char **argv)
{
	struct refresh_opts o = { .policy = REFRESH_DEFAULT };
	int r;

	if ((r = parse_refresh_options(argc, argv, &o)) != REFRESH_GO_ON)
		return r;
	int n_args = argc - optind;
	if ((r = check_refresh_args(&o, n_args)))
		return r;
	if ((r = ctx_store(ctx, false)))
		return r;
	if (o.undo)
		return undo_one(ctx, &o, argv[optind]);

	char **names = NULL;
	if ((r = pick_children(ctx, &o, n_args, argv + optind, &names)) < 0)
		return log_fail(EXIT_FAIL, "refresh: listing children: %s", strerror(-r));
	if (o.base && !names[0]) {
		/* No child of the base: an error only when the base itself is missing. */
		struct base_info b;
		struct lc_err err = { "" };
		if (store_base_load(&ctx->store, o.base, &b, &err) < 0) {
			strv_free(names);
			return log_fail(EXIT_FAIL, "refresh --base %s: no such base", o.base);
		}
		base_info_done(&b);
	}
	return refresh_children(ctx, &o, names);
}
