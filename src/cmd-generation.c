/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * layerctl base update|rollback|gc, and the generation table of base
 * show: the CLI of src/store/generation.c (base diff, which only reads
 * manifests, is src/cmd-base-diff.c).
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "diff/diff.h"
#include "overlay/overlay.h"
#include "src/cli.h"
#include "src/cmd-generation.h"
#include "src/json.h"
#include "src/log.h"
#include "src/progress.h"
#include "src/output.h"
#include "src/runner/runner.h"
#include "src/store/generation.h"
#include "src/store/import.h"

/* ---- base update ---- */

static void print_commit(const char *name, const struct gen_txn *t)
{
	char b[32];
	const struct gen_stats *st = &t->stats;
	snprintf(b, sizeof(b), "%.1f MiB", (double)st->new_bytes / (1024.0 * 1024.0));
	log_info("Base %s: generation %u committed on %u: %" PRIu64 " changed, %" PRIu64 " added, %" PRIu64
		 " removed; %" PRIu64 " files linked, %" PRIu64 " written (%s).",
		 name, t->to, t->from, st->changed, st->added, st->removed, st->linked, st->new_files, b);
}

/* "-- CMD ARGS": what gen.conf records as the source (one line). */
static char *describe_command(char **cmdv)
{
	size_t len = 3;
	for (char **p = cmdv; *p; p++)
		len += strlen(*p) + 1;
	char *s = malloc(len), *w = s;
	if (!s)
		return NULL;
	w += sprintf(w, "--");
	for (char **p = cmdv; *p; p++) {
		*w++ = ' ';
		for (const char *c = *p; *c; c++)
			*w++ = *c == '\n' ? ' ' : *c;
	}
	*w = '\0';
	return s;
}

static char **strv_dup(char **v)
{
	size_t n = 0;
	while (v[n])
		n++;
	char **r = calloc(n + 1, sizeof(*r));
	for (size_t i = 0; r && i < n; i++)
		if (!(r[i] = strdup(v[i]))) {
			strv_free(r);
			return NULL;
		}
	return r;
}

/*
 * In a process of its own: a private mount namespace, the scratch overlay
 * (lower: the current tree) mounted in it, cmdv run in a container there.
 * The overlay exists only in that namespace, so it vanishes with the process
 * whatever kills it, and the caller's file descriptors (all in the host's
 * namespace) stay on one mount for link() and rename().  Exits with the
 * command's status, or 1 after printing a setup error.
 */
static _Noreturn void scratch_child(struct ctx *ctx, const char *name, unsigned from, const char *upper,
				    const char *work, const char *root, char **cmdv, pid_t parent)
{
	_cleanup_free_ char *lower = store_gen_tree(&ctx->store, name, from);
	struct lc_err e = { "" };
	int r;

	/* Killed with the committing process: a sweep may then delete the scratch dirs. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		log_error("base update %s: private mount namespace: %m", name);
		_exit(1);
	}
	const char *lowers[] = { lower };
	/*
	 * volatile: overlay would fsync every file it copies up (apt rewrites
	 * thousands); the commit syncs the new generation as a whole instead.
	 */
	struct ov_layers l = { .lowers = lowers, .n_lowers = 1, .upper = upper, .work = work, .volatile_upper = true };
	if ((r = ov_mount(&l, root, &e)) < 0) {
		log_error("base update %s: scratch overlay: %s", name, e.msg[0] ? e.msg : strerror(-r));
		_exit(1);
	}
	/* Host network (apt must reach its mirrors); everything else as `run`. */
	struct run_config c = { .log_fd = -1, .console = CONSOLE_AUTO, .kill_signal = SIGTERM,
				.runtime = ctx->store.runtime };
	struct container ct;
	char errbuf[600];
	int hint, status;
	c.name = strdup(name);
	c.root = strdup(root);
	c.argv = strv_dup(cmdv);
	if (!c.name || !c.root || !c.argv) {
		log_error("out of memory");
		_exit(1);
	}
	/*
	 * Name resolution for the package manager: the host's resolv.conf,
	 * read-only, over the base's, as nspawn does.  Only over a regular file:
	 * a missing one would be created in the upper (and committed), a
	 * symlink points into the container's own /run.
	 */
	_cleanup_free_ char *resolv = NULL;
	struct stat rs;
	if (asprintf(&resolv, "%s/etc/resolv.conf", root) >= 0 && lstat(resolv, &rs) == 0 && S_ISREG(rs.st_mode) &&
	    access("/etc/resolv.conf", R_OK) == 0 && runner_config_add_bind(&c, "/etc/resolv.conf:/etc/resolv.conf:ro", true) < 0) {
		log_error("out of memory");
		_exit(1);
	}
	r = runner_container_start(&c, &ct, errbuf, sizeof(errbuf), &hint);
	if (r < 0) {
		log_error("base update %s: %s", name, errbuf);
		status = hint ? hint : 1;
	} else {
		status = runner_container_wait(&c, &ct);
		runner_container_done(&ct);
	}
	/* Nothing may write to the upper once the parent starts reading it. */
	if ((r = ov_umount(root, &e)) < 0) {
		log_error("base update %s: unmount the scratch overlay: %s", name, e.msg[0] ? e.msg : strerror(-r));
		_exit(1);
	}
	_exit(status > 255 ? 1 : status);
}

/* Returns the command's exit status (0: commit), or -1 after printing. */
static int run_in_scratch(struct ctx *ctx, const char *name, struct gen_txn *t, char **cmdv)
{
	_cleanup_free_ char *upper = NULL, *work = NULL, *root = NULL;
	struct lc_err err = { "" };
	static const int sigs[] = { SIGINT, SIGQUIT, SIGTERM, SIGHUP };
	struct sigaction ign = { .sa_handler = SIG_IGN }, old[ELEMENTSOF(sigs)];
	int r, status;

	if ((r = gen_txn_scratch(t, &upper, &work, &root, &err)) < 0)
		return log_fail(-1, "base update %s: %s", name, lc_err_msg(&err, r));
	log_info("Running %s in a scratch overlay on base %s generation %u ...", cmdv[0], name, t->from);
	fflush(stdout);
	fflush(stderr);
	/* ^C goes to the container (its relay forwards it); we only wait for the outcome. */
	for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
		sigaction(sigs[i], &ign, &old[i]);
	pid_t parent = getpid(), pid = fork();
	if (pid == 0) {
		for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
			sigaction(sigs[i], &old[i], NULL);
		scratch_child(ctx, name, t->from, upper, work, root, cmdv, parent);
	}
	r = pid < 0 ? -errno : 0;
	while (pid > 0 && waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			r = -errno;
			break;
		}
	for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
		sigaction(sigs[i], &old[i], NULL);
	if (r < 0)
		return log_fail(-1, "base update %s: %s", name, strerror(-r));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * --from SOURCE into the new generation: imported (hard links to what did
 * not change), or with --keep-image the image itself; --verify checks
 * SOURCE.xxh128 and SOURCE.manifest as base import does.
 */
static int fill_from(struct gen_txn *t, const char *source, bool keep_image, struct verify_files *vf,
		     struct progress *bar, struct lc_err *err)
{
	int r;
	if (keep_image) {
		struct store_image_fill fill = { .progress = &bar->cb, .expect_checksum = vf->checksum,
						 .expect_manifest = vf->manifest };
		r = gen_txn_fill_from_image(t, source, &fill, err);
		vf->adopted = fill.adopted;
		if (r < 0 || fill.adopted || !vf->manifest)
			return r;
	} else {
		if ((r = store_check_source_checksum(source, vf->checksum, err)) < 0)
			return r;
		if ((r = gen_txn_fill_from_source(t, source, err)) < 0 || !vf->manifest)
			return r;
	}
	return store_check_manifest(t->built, vf->manifest, err);
}

/* base update's options and words: 0, -1 after printing the help, or an exit code. */
static int parse_update_args(int argc, char **argv, const char **from, const char **description, char ***cmdv,
			     bool *verify, bool *keep_image)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "description", required_argument, NULL, 'd' },
		{ "verify", no_argument, NULL, 'v' },
		{ "keep-image", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	for (int i = 1; i < argc; i++)
		if (STREQ(argv[i], "--")) {
			*cmdv = argv + i + 1;
			argc = i;
			break;
		}
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'f')
			*from = optarg;
		else if (c == 'd')
			*description = optarg;
		else if (c == 'v')
			*verify = true;
		else if (c == 'k')
			*keep_image = true;
		else if (c == 'h') {
			fputs(base_help, stdout);
			return -1;
		} else
			return usage_error("base update", "unknown option");
	}
	if (argc - optind != 1)
		return usage_error("base update", "needs one base NAME");
	if (!*from == !*cmdv)
		return usage_error("base update", "needs either --from DIR|TARBALL or -- CMD");
	if (*cmdv && !(*cmdv)[0])
		return usage_error("base update", "needs a command after --");
	if (*cmdv && (*verify || *keep_image))
		return usage_error("base update", "--verify and --keep-image go with --from");
	return 0;
}

int cmd_base_update(struct ctx *ctx, int argc, char **argv)
{
	const char *description = NULL, *from = NULL;
	char **cmdv = NULL;
	char source[PATH_MAX];
	bool verify = false, keep_image = false;
	int r;

	if ((r = parse_update_args(argc, argv, &from, &description, &cmdv, &verify, &keep_image)))
		return r < 0 ? EXIT_OK : r;
	const char *name = argv[optind];
	if (cli_check_name(NULL, "base", name))
		return EXIT_FAIL;
	if (description && !settings_value_ok(description))
		return log_fail(EXIT_FAIL, "base update %s: --description must be one line", name);
	if (from) {
		if (!realpath(from, source))
			return log_fail(EXIT_FAIL, "base update %s: source %s: %m", name, from);
		if (!settings_value_ok(source))
			return log_fail(EXIT_FAIL, "base update %s: source path %s holds a newline", name, from);
	}
	struct verify_files vf __attribute__((cleanup(verify_files_done))) = {};
	if ((r = verify_files_find("base update", name, verify, from, &vf)))
		return r;
	if ((r = ctx_store(ctx, false)))
		return r;
	struct store *s = &ctx->store;
	if (from) {
		size_t slen = strlen(source);
		if (strcmp(source, "/") == 0 ||
		    (strncmp(s->root, source, slen) == 0 && (s->root[slen] == '/' || !s->root[slen])))
			return log_fail(EXIT_FAIL, "base update %s: source %s contains the store %s", name, source, s->root);
	}
	_cleanup_close_ int lock = store_lock(s, LOCK_BASE, name, LOCK_EX);
	if (lock < 0)
		return log_fail(EXIT_FAIL, "base update %s: lock: %s", name, strerror(-lock));
	_cleanup_free_ char *what = NULL;
	struct lc_err err = { "" };
	struct gen_txn t;
	r = gen_txn_begin(s, name, &t, &err);
	if (r == -ENOENT && !err.msg[0]) {
		gen_txn_done(&t);
		return log_fail(EXIT_FAIL, "base update %s: no such base", name);
	}
	if (r < 0) {
		gen_txn_done(&t);
		return log_fail(EXIT_FAIL, "base update %s: %s", name, lc_err_msg(&err, r));
	}
	if (from) {
		if (asprintf(&what, "--from %s", source) < 0)
			what = NULL;
		log_info("Building generation %u of base %s from %s ...", t.to, name, source);
		struct progress bar;
		progress_begin(&bar, "Importing");
		t.progress = &bar.cb;
		r = fill_from(&t, source, keep_image, &vf, &bar, &err);
		progress_done(&bar);
		t.progress = NULL;
	} else {
		what = describe_command(cmdv);
		int status = run_in_scratch(ctx, name, &t, cmdv);
		if (status != 0) {
			gen_txn_done(&t);
			if (status > 0)
				log_error("base update %s: %s exited with status %d; nothing committed", name, cmdv[0], status);
			return EXIT_FAIL;
		}
		r = gen_txn_fill_from_upper(&t, &err);
	}
	if (r == 0)
		r = gen_txn_commit(&t, description, what, &err);
	if (r < 0) {
		gen_txn_done(&t);
		return log_fail(EXIT_FAIL, "base update %s: %s", name, lc_err_msg(&err, r));
	}
	print_commit(name, &t);
	if (vf.adopted)
		log_info("The image matched its checksum: its manifest was taken (base verify re-hashes it).");
	gen_txn_done(&t);
	return EXIT_OK;
}

/* ---- generations: show, diff, rollback, gc ---- */

/* The children of a base with the generations they pin. */
struct kid {
	char *name;
	unsigned gen;           /* [Child] Generation= */
	unsigned undo_gen;      /* [Child] UndoGeneration= (a pending refresh --undo), 0: none */
};

static void kids_free(struct kid *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

static int kids_of(struct store *s, const char *base, struct kid **ret, size_t *ret_n, bool *corrupt)
{
	char **all = NULL;
	size_t n = 0, k = 0;
	int r = store_list_children(s, &all, &n);
	if (r < 0)
		return r;
	struct kid *v = calloc(n + 1, sizeof(*v));
	if (!v) {
		strv_free(all);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct child_info c;
		if (store_child_load(s, all[i], &c, NULL) < 0) {
			if (corrupt)
				*corrupt = true;
			continue;
		}
		if (STREQ(c.base, base)) {
			unsigned long u;
			v[k].gen = c.gen;
			if (settings_get_uint(c.conf, "Child", "UndoGeneration", &u) == 0 && u <= UINT_MAX)
				v[k].undo_gen = (unsigned)u;
			v[k++].name = TAKE_PTR(c.name);
		}
		child_info_done(&c);
	}
	strv_free(all);
	*ret = v;
	*ret_n = k;
	return 0;
}

static size_t kids_on(const struct kid *v, size_t n, unsigned gen)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += v[i].gen == gen;
	return k;
}

static void count_or_dash(uint64_t v, char *buf, size_t size)
{
	if (v == UINT64_MAX)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%" PRIu64, v);
}

/* "generation_details" of show --json, and the table of show. */
void base_show_generations(struct store *s, const struct base_info *b, struct json *j)
{
	struct kid *kids = NULL;
	size_t nk = 0;
	kids_of(s, b->name, &kids, &nk, NULL);
	if (j) {
		json_key(j, "generation_details");
		json_begin_array(j);
	} else
		printf("\n%-5s %-20s %7s %7s %7s %8s %10s  %s\n", "GEN", "DATE", "CHANGED", "ADDED", "REMOVED",
		       "CHILDREN", "OWN DISK", "DESCRIPTION");
	for (size_t i = 0; i < b->n_gens; i++) {
		unsigned g = b->gens[i];
		struct gen_record rec;
		struct lc_err err = { "" };
		uint64_t own = 0;
		bool have_own = gen_disk_held(s, b->name, &g, 1, &own, &err) == 0;
		gen_record_load(s, b->name, g, &rec, NULL);
		size_t on = kids_on(kids, nk, g);
		if (j) {
			json_begin_object(j);
			json_kv_uint(j, "generation", g);
			json_kv_bool(j, "current", g == b->current);
			json_kv_string(j, "date", rec.date);
			json_kv_string(j, "description", rec.description);
			json_kv_string(j, "source", rec.source);
			if (rec.parent)
				json_kv_uint(j, "parent", rec.parent);
			else {
				json_key(j, "parent");
				json_null(j);
			}
			const struct { const char *k; uint64_t v; } c[] = {
				{ "changed", rec.changed }, { "added", rec.added }, { "removed", rec.removed },
			};
			for (size_t k = 0; k < ELEMENTSOF(c); k++) {
				json_key(j, c[k].k);
				if (c[k].v == UINT64_MAX)
					json_null(j);
				else
					json_uint(j, c[k].v);
			}
			json_key(j, "children");
			json_begin_array(j);
			for (size_t k = 0; k < nk; k++)
				if (kids[k].gen == g)
					json_string(j, kids[k].name);
			json_end_array(j);
			json_key(j, "own_disk_bytes");
			if (have_own)
				json_uint(j, own);
			else
				json_null(j);
			json_end_object(j);
		} else {
			char ch[24], ad[24], rm[24], disk[32];
			count_or_dash(rec.changed, ch, sizeof(ch));
			count_or_dash(rec.added, ad, sizeof(ad));
			count_or_dash(rec.removed, rm, sizeof(rm));
			if (have_own)
				output_format_bytes(own, disk, sizeof(disk));
			else
				snprintf(disk, sizeof(disk), "?");
			printf("%c%-4u %-20s %7s %7s %7s %8zu %10s  %s\n", g == b->current ? '*' : ' ', g,
			       rec.date ? rec.date : "-", ch, ad, rm, on, disk,
			       rec.description ? rec.description : rec.source ? rec.source : "");
		}
		gen_record_done(&rec);
	}
	if (j)
		json_end_array(j);
	kids_free(kids, nk);
}

bool cli_base_has_gen(const struct base_info *b, unsigned g)
{
	for (size_t i = 0; i < b->n_gens; i++)
		if (b->gens[i] == g)
			return true;
	return false;
}

/* The generation before gen: its recorded parent if it still exists, else the highest below it. */
unsigned cli_older_gen(struct store *s, const struct base_info *b, unsigned gen)
{
	struct gen_record rec;
	unsigned parent = 0;
	if (gen_record_load(s, b->name, gen, &rec, NULL) == 0)
		parent = rec.parent;
	gen_record_done(&rec);
	if (parent && parent < gen && cli_base_has_gen(b, parent))
		return parent;
	unsigned best = 0;
	for (size_t i = 0; i < b->n_gens; i++)
		if (b->gens[i] < gen)
			best = b->gens[i];
	return best;
}

/* Open the store and load base NAME; prints "CMD NAME: why".  0 or an exit code. */
int cli_load_base(struct ctx *ctx, const char *cmd, const char *name, struct base_info *b)
{
	struct lc_err e = { "" };
	int r;
	memset(b, 0, sizeof(*b));
	if (cli_check_name(NULL, "base", name) || (r = ctx_store(ctx, false)))
		return EXIT_FAIL;
	r = store_base_load(&ctx->store, name, b, &e);
	if (r == -ENOENT)
		return log_fail(EXIT_FAIL, "%s %s: no such base", cmd, name);
	if (r < 0)
		return log_fail(EXIT_FAIL, "%s %s: %s", cmd, name, lc_err_msg(&e, r));
	return 0;
}

/* ---- base rollback ---- */

int cmd_base_rollback(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	unsigned to = 0;
	int c, r;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 't') {
			if ((r = cli_parse_gen_arg("base rollback", "--to", optarg, &to)))
				return r;
		} else if (c == 'h') {
			fputs(base_help, stdout);
			return EXIT_OK;
		} else
			return usage_error("base rollback", "unknown option");
	}
	if (argc - optind != 1)
		return usage_error("base rollback", "needs one base NAME");
	const char *name = argv[optind];
	if (cli_check_name(NULL, "base", name) || (r = ctx_store(ctx, false)))
		return EXIT_FAIL;
	_cleanup_close_ int lock = store_lock(&ctx->store, LOCK_BASE, name, LOCK_EX);
	if (lock < 0)
		return log_fail(EXIT_FAIL, "base rollback %s: lock: %s", name, strerror(-lock));
	struct base_info b;
	if ((r = cli_load_base(ctx, "base rollback", name, &b)))
		return r;
	unsigned cur = b.current;
	if (!to)
		to = cli_older_gen(&ctx->store, &b, cur);
	bool exists = to && cli_base_has_gen(&b, to);
	base_info_done(&b);
	if (!to)
		return log_fail(EXIT_FAIL, "base rollback %s: generation %u is the oldest one; nothing to roll back to", name, cur);
	if (!exists)
		return log_fail(EXIT_FAIL, "base rollback %s: no generation %u (see 'layerctl base show %s')", name, to, name);
	if (to == cur) {
		log_info("Base %s: generation %u is already current.", name, to);
		return EXIT_OK;
	}
	struct lc_err err = { "" };
	if ((r = gen_set_current(&ctx->store, name, to, &err)) < 0)
		return log_fail(EXIT_FAIL, "base rollback %s: %s", name, lc_err_msg(&err, r));
	log_info("Base %s: generation %u is current (was %u); children move with 'layerctl refresh'.", name, to, cur);
	return EXIT_OK;
}

/* ---- base gc ---- */

static int gc_one(struct ctx *ctx, const char *name, unsigned keep, bool dry_run, uint64_t *freed_total)
{
	struct store *s = &ctx->store;
	_cleanup_close_ int lock = store_lock(s, LOCK_BASE, name, LOCK_EX);
	if (lock < 0)
		return log_fail(EXIT_FAIL, "base gc %s: lock: %s", name, strerror(-lock));
	struct base_info b;
	int r;
	if ((r = cli_load_base(ctx, "base gc", name, &b)))
		return r;
	gen_sweep_base(s, name, true);
	struct kid *kids = NULL;
	size_t nk = 0;
	bool corrupt = false;
	unsigned previous = 0;
	gen_base_latest(s, name, NULL, &previous);
	if ((r = kids_of(s, name, &kids, &nk, &corrupt)) < 0) {
		base_info_done(&b);
		return log_fail(EXIT_FAIL, "base gc %s: %s", name, strerror(-r));
	}
	if (corrupt) {
		base_info_done(&b);
		kids_free(kids, nk);
		return log_fail(EXIT_FAIL, "base gc %s: some child.conf cannot be read, so it is unknown which generations are in use (see 'layerctl child list')", name);
	}
	_cleanup_free_ unsigned *victims = calloc(b.n_gens + 1, sizeof(unsigned));
	size_t nv = 0;
	for (size_t i = 0; victims && i < b.n_gens; i++) {
		unsigned g = b.gens[i];
		bool pinned = g == b.current || g == previous || i + keep >= b.n_gens;
		for (size_t k = 0; k < nk && !pinned; k++)
			pinned = kids[k].gen == g || kids[k].undo_gen == g;
		if (!pinned)
			victims[nv++] = g;
	}
	kids_free(kids, nk);
	base_info_done(&b);
	if (!victims)
		return log_fail(EXIT_FAIL, "out of memory");
	uint64_t freed = 0;
	struct lc_err err = { "" };
	if (nv && (r = gen_disk_held(s, name, victims, nv, &freed, &err)) < 0)
		return log_fail(EXIT_FAIL, "base gc %s: %s", name, lc_err_msg(&err, r));
	for (size_t i = 0; i < nv; i++) {
		if (!dry_run && (r = gen_remove(s, name, victims[i], &err)) < 0)
			return log_fail(EXIT_FAIL, "base gc %s: %s", name, lc_err_msg(&err, r));
		printf("%s %s generation %u\n", dry_run ? "would remove" : "removed", name, victims[i]);
	}
	char buf[32];
	output_format_bytes(freed, buf, sizeof(buf));
	log_info("Base %s: %s %zu generation%s, %s.", name, dry_run ? "would remove" : "removed", nv,
		 nv == 1 ? "" : "s", buf);
	*freed_total += freed;
	return EXIT_OK;
}

int cmd_base_gc(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "keep", required_argument, NULL, 'k' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	bool all = false, dry_run = false;
	unsigned long keep = 0;
	int c, r, ret = EXIT_OK;
	optind = 0;
	while ((c = getopt_long(argc, argv, "nh", opts, NULL)) != -1) {
		if (c == 'a')
			all = true;
		else if (c == 'n')
			dry_run = true;
		else if (c == 'k') {
			char *end;
			errno = 0;
			keep = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || optarg[0] == '-' || keep > UINT_MAX)
				return usage_error("base gc", "--keep: '%s' is not a number", optarg);
		} else if (c == 'h') {
			fputs(base_help, stdout);
			return EXIT_OK;
		} else
			return usage_error("base gc", "unknown option");
	}
	if (all == (argc - optind == 1) || argc - optind > 1)
		return usage_error("base gc", "needs one base NAME or --all");
	if ((r = ctx_store(ctx, false)))
		return r;
	char **names = NULL;
	size_t n = 0;
	if (all) {
		if ((r = store_list_bases(&ctx->store, &names, &n)) < 0)
			return log_fail(EXIT_FAIL, "base gc: %s", strerror(-r));
	} else if (cli_check_name(NULL, "base", argv[optind]))
		return EXIT_FAIL;
	uint64_t freed = 0;
	for (size_t i = 0; i < (all ? n : 1); i++)
		if (gc_one(ctx, all ? names[i] : argv[optind], (unsigned)keep, dry_run, &freed) != EXIT_OK)
			ret = EXIT_FAIL;
	strv_free(names);
	if (all && n > 1) {
		char buf[32];
		output_format_bytes(freed, buf, sizeof(buf));
		log_info("%s %s in all.", dry_run ? "Would free" : "Freed", buf);
	}
	return ret;
}
