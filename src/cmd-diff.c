/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Drift commands: diff, audit, vacuum (base manifest and verify:
 * cmd-base-manifest.c).  The work is done by diff/; this file opens the
 * child (cli_open_child), takes the locks, and prints.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "diff/diff.h"
#include "src/cli.h"
#include "src/json.h"
#include "src/log.h"
#include "src/output.h"
#include "src/store/refresh.h"
#include "src/store/uidrange.h"
#include "src/workers.h"

#define HASH_CACHE_FILE "hash-cache"

static const char diff_help[] =
"Usage: layerctl diff CHILD [OPTIONS]\n"
"\n"
"Show what CHILD changed relative to its base generation, by walking its\n"
"upper dir (read only; the child may be mounted or running).\n"
"\n"
"  A added   M content modified   m metadata only (mode, owner, xattrs)\n"
"  D deleted   O opaque dir (replaces the base dir)   = redundant copy\n"
"When the child is on an older generation than its base's current one,\n"
"what 'layerctl refresh' would find follows:\n"
"  S stale copy (would hide the update; refresh removes it)\n"
"  C conflict (changed here and in the base; refresh keeps the child's)\n"
"\n"
"      --json            machine-readable output\n"
"      --format=FORMAT   short (default), json, or docker (A/C/D lines)\n"
"      --summary         counts and bytes per class instead of paths\n"
"      --exit-code       exit 3 when anything differs from the base\n"
"      --no-cache        do not read or write the child's hash cache\n"
"      --color=WHEN      auto (default), always, never\n"
"  -h, --help            this help\n";

static const char audit_help[] =
"Usage: layerctl audit [--json] [--no-cache] [--jobs N]\n"
"\n"
"Drift of every child: generations behind its base (LAG) with the stale\n"
"(S) and conflicting (C) paths a refresh would find ('!': it would refuse),\n"
"counts per class, bytes in its upper dir, and bytes 'layerctl vacuum'\n"
"would free.  The children are audited by N worker processes (default: one\n"
"per CPU, at most 8); the table comes in the children's order.\n"
"\n"
"      --json            machine-readable output\n"
"      --no-cache        do not read or write the children's hash caches\n"
"      --jobs N          N worker processes (1: none, all in this one)\n"
"  -h, --help            this help\n";

static const char vacuum_help[] =
"Usage: layerctl vacuum CHILD [--dry-run] [--json]\n"
"\n"
"Remove the copies in CHILD's upper dir that are identical to the base\n"
"(content, type, mode, owner, xattrs), and the directories left empty by\n"
"that which the base also has.  Refused while the child is mounted or\n"
"running.\n"
"\n"
"  -n, --dry-run         only show what would be removed\n"
"      --json            machine-readable output\n"
"  -h, --help            this help\n";

/* Classify with the hash cache (unless disabled); a cache that cannot be saved only costs speed. */
static int classify_child(const char *cmd, struct child_handle *x, bool use_cache, struct diff_result *res)
{
	struct diff_hash_cache *cache = NULL;
	struct lc_err e = { "" };
	struct stat st;
	int r;

	if (fstat(x->upper_fd, &st) < 0)
		return log_fail(-errno, "%s %s: upper dir: %m", cmd, x->c.name);
	if (use_cache && (r = diff_cache_load(x->child_fd, HASH_CACHE_FILE, st.st_dev, &cache, NULL)) < 0)
		return log_fail(r, "%s %s: hash cache: %s", cmd, x->c.name, strerror(-r));
	/* A user-namespace child's upper is stored shifted: compare the owners it sees (uidrange.h). */
	struct uid_range shift;
	if ((r = store_child_upper_shift(&x->c, &shift)) < 0) {
		diff_cache_free(cache);
		return log_fail(r, "%s %s: child.conf: Child.UpperShift= is not BASE:COUNT", cmd, x->c.name);
	}
	r = diff_classify_shifted(x->upper_fd, x->base, cache, shift.base, shift.count, res, &e);
	if (r < 0) {
		diff_cache_free(cache);
		return log_fail(r, "%s %s: %s", cmd, x->c.name, e.msg[0] ? e.msg : strerror(-r));
	}
	if (cache) {
		int k = diff_cache_save(cache, x->child_fd, HASH_CACHE_FILE);
		if (k < 0 && k != -EROFS && k != -EACCES && k != -EPERM)
			log_warning("%s %s: saving the hash cache: %s", cmd, x->c.name, strerror(-k));
		diff_cache_free(cache);
	}
	return 0;
}

/* ---- diff ---- */

/* ---- a child behind its base: what refresh would do ---- */

enum diff_format { FMT_SHORT, FMT_JSON, FMT_DOCKER };

struct preview {
	unsigned current;          /* the base's current generation */
	bool behind;               /* the child is on another generation */
	struct refresh_plan plan;  /* filled when behind and planning worked */
	char *error;               /* why refresh would refuse the child (a copy of the lc_err detail) */
};

static void preview_done(struct preview *p)
{
	refresh_plan_done(&p->plan);
	free(p->error);
	memset(p, 0, sizeof(*p));
}

/* The last delta loaded: audit's children are mostly on the same two generations of one base. */
struct delta_memo {
	char *base;
	unsigned from, to;
	struct refresh_delta *d;
};

static void delta_memo_done(struct delta_memo *m)
{
	free(m->base);
	refresh_delta_free(m->d);
	memset(m, 0, sizeof(*m));
}

static int memo_delta(struct ctx *ctx, struct delta_memo *m, const char *base, unsigned from, unsigned to,
		      struct lc_err *err)
{
	if (m->d && STREQ(m->base, base) && m->from == from && m->to == to)
		return 0;
	delta_memo_done(m);
	int r = refresh_delta_load(&ctx->store, base, from, to, &m->d, err);
	if (r < 0)
		return r;
	if (!(m->base = strdup(base))) {
		delta_memo_done(m);
		return -ENOMEM;
	}
	m->from = from;
	m->to = to;
	return 0;
}

/*
 * The S (stale) and C (conflict) entries `refresh` would find: a read-only
 * plan from the two manifests and the changed paths of the upper dir.
 */
static void preview_refresh(struct ctx *ctx, const struct child_handle *x, struct delta_memo *memo, struct preview *p)
{
	struct base_info b;
	memset(p, 0, sizeof(*p));
	if (store_base_load(&ctx->store, x->c.base, &b, NULL) < 0)
		return;
	p->current = b.current;
	base_info_done(&b);
	p->behind = p->current != x->c.gen;
	if (!p->behind)
		return;
	struct lc_err e = { "" };
	int r = memo_delta(ctx, memo, x->c.base, x->c.gen, p->current, &e);
	if (r == 0)
		r = refresh_plan(&ctx->store, &x->c, memo->d, REFRESH_DEFAULT, &p->plan, &e);
	if (r < 0)
		p->error = strdup(lc_err_msg(&e, r));
}

static bool preview_shown(const struct refresh_item *it)
{
	return it->cls == RF_STALE || it->cls == RF_CONFLICT;
}

static void print_preview(const struct preview *p, enum diff_format fmt, bool color, const struct child_handle *x)
{
	if (!p->behind || fmt == FMT_DOCKER)
		return;
	if (p->error) {
		log_warning("diff %s: a refresh to generation %u would be refused: %s", x->c.name, p->current, p->error);
		return;
	}
	for (size_t i = 0; i < p->plan.n; i++) {
		const struct refresh_item *it = &p->plan.items[i];
		if (!preview_shown(it))
			continue;
		if (color)
			printf("%s%c\033[0m ", it->cls == RF_STALE ? "\033[34m" : "\033[1;31m", it->cls);
		else
			printf("%c ", it->cls);
		output_path(stdout, it->path, strlen(it->path));
		fputc('\n', stdout);
	}
}

static void json_preview(struct json *j, const struct preview *p, const struct child_handle *x)
{
	json_key(j, "refresh");
	json_begin_object(j);
	json_kv_uint(j, "from", x->c.gen);
	json_kv_uint(j, "to", p->current);
	if (p->error)
		json_kv_string(j, "error", p->error);
	json_kv_uint(j, "stale", p->plan.counts[RF_STALE]);
	json_kv_uint(j, "conflicts", p->plan.counts[RF_CONFLICT]);
	json_key(j, "paths");
	json_begin_array(j);
	for (size_t i = 0; i < p->plan.n; i++) {
		const struct refresh_item *it = &p->plan.items[i];
		char cls[2] = { it->cls, 0 };
		if (!preview_shown(it))
			continue;
		json_begin_object(j);
		json_kv_path(j, "path", it->path, strlen(it->path));
		json_kv_string(j, "class", cls);
		if (it->why)
			json_kv_string(j, "why", it->why);
		json_end_object(j);
	}
	json_end_array(j);
	json_end_object(j);
}

static void json_changes(struct json *j, unsigned ch)
{
	json_key(j, "changes");
	json_begin_array(j);
	for (unsigned bit = 1; bit <= DIFF_CH_NLINK; bit <<= 1)
		if (ch & bit)
			json_string(j, diff_change_name(bit));
	json_end_array(j);
}

static const char classes[] = { DIFF_ADDED, DIFF_MODIFIED, DIFF_METADATA, DIFF_DELETED, DIFF_OPAQUE, DIFF_SAME };

static const char *class_color(char cls)
{
	switch (cls) {
	case DIFF_ADDED: return "\033[32m";
	case DIFF_MODIFIED: return "\033[33m";
	case DIFF_METADATA: return "\033[36m";
	case DIFF_DELETED: return "\033[31m";
	case DIFF_OPAQUE: return "\033[35m";
	}
	return "\033[2m";
}

static const char *class_name(char cls)
{
	switch (cls) {
	case DIFF_ADDED: return "added";
	case DIFF_MODIFIED: return "modified";
	case DIFF_METADATA: return "metadata";
	case DIFF_DELETED: return "deleted";
	case DIFF_OPAQUE: return "opaque";
	}
	return "redundant";
}

static void json_summary(struct json *j, const struct diff_result *r)
{
	json_begin_object(j);
	for (size_t i = 0; i < ELEMENTSOF(classes); i++) {
		json_key(j, class_name(classes[i]));
		json_begin_object(j);
		json_kv_uint(j, "count", r->totals[(unsigned char)classes[i]].count);
		json_kv_uint(j, "bytes", r->totals[(unsigned char)classes[i]].bytes);
		json_end_object(j);
	}
	json_kv_uint(j, "upper_entries", r->upper_entries);
	json_kv_uint(j, "upper_bytes", r->upper_bytes);
	json_kv_uint(j, "vacuum_entries", r->vacuum_entries);
	json_kv_uint(j, "vacuum_bytes", r->vacuum_bytes);
	json_kv_uint(j, "hashed_files", r->hashed_files);
	json_kv_uint(j, "hashed_bytes", r->hashed_bytes);
	json_kv_uint(j, "cache_hits", r->cache_hits);
	json_kv_uint(j, "dir_cache_hits", r->dir_cache_hits);
	json_end_object(j);
}

static void json_change(struct json *j, const struct diff_result *r, const struct diff_change *c)
{
	char cls[2] = { c->cls, 0 };
	json_begin_object(j);
	json_kv_path(j, "path", diff_change_path(r, c), c->path_len);
	json_kv_string(j, "class", cls);
	json_kv_string(j, "type", output_type_name(c->mode));
	json_changes(j, c->changes);
	json_kv_uint(j, "size", c->size);
	json_kv_bool(j, "in_upper", c->in_upper);
	json_kv_bool(j, "vacuumable", c->vacuumable);
	if (c->metacopy)
		json_kv_bool(j, "metacopy", true);
	if (c->redirect)
		json_kv_bool(j, "redirect", true);
	json_end_object(j);
}

static void print_diff(const struct diff_result *r, enum diff_format fmt, bool summary, bool color,
		       const struct child_handle *x, const struct preview *pv)
{
	if (fmt == FMT_JSON) {
		struct json j;
		json_init(&j, stdout);
		if (summary) {
			json_summary(&j, r);
			json_done(&j);
			return;
		}
		json_begin_object(&j);
		json_kv_string(&j, "child", x->c.name);
		json_kv_string(&j, "base", x->c.base);
		json_kv_uint(&j, "generation", x->c.gen);
		json_key(&j, "changes");
		json_begin_array(&j);
		for (size_t i = 0; i < r->n; i++)
			if (!r->v[i].silent)
				json_change(&j, r, &r->v[i]);
		json_end_array(&j);
		json_key(&j, "summary");
		json_summary(&j, r);
		if (pv->behind)
			json_preview(&j, pv, x);
		json_end_object(&j);
		json_done(&j);
		return;
	}
	if (summary) {
		char b[32];
		printf("%-10s %8s %12s\n", "CLASS", "COUNT", "BYTES");
		for (size_t i = 0; i < ELEMENTSOF(classes); i++) {
			const struct diff_class_total *t = &r->totals[(unsigned char)classes[i]];
			output_format_bytes(t->bytes, b, sizeof(b));
			printf("%c %-8s %8" PRIu64 " %12s\n", classes[i], class_name(classes[i]), t->count, b);
		}
		output_format_bytes(r->upper_bytes, b, sizeof(b));
		printf("upper dir: %" PRIu64 " %s, %s on disk\n", r->upper_entries, PLURAL(r->upper_entries, "entry", "entries"), b);
		output_format_bytes(r->vacuum_bytes, b, sizeof(b));
		printf("vacuum would free: %s (%" PRIu64 " %s)\n", b, r->vacuum_entries, PLURAL(r->vacuum_entries, "file", "files"));
		if (pv->behind && !pv->error)
			printf("behind base %s: generation %u of %u; refresh would find %zu stale, %zu conflicting\n",
			       x->c.base, x->c.gen, pv->current, pv->plan.counts[RF_STALE], pv->plan.counts[RF_CONFLICT]);
		return;
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct diff_change *c = &r->v[i];
		char cls = c->cls;
		if (c->silent)
			continue;
		if (fmt == FMT_DOCKER) {
			if (cls == DIFF_SAME)
				continue;
			cls = cls == DIFF_ADDED ? 'A' : cls == DIFF_DELETED ? 'D' : 'C';
		}
		if (color)
			printf("%s%c\033[0m ", class_color(c->cls), cls);
		else { /* one line per upper entry: no format string to parse */
			fputc(cls, stdout);
			fputc(' ', stdout);
		}
		output_path(stdout, diff_change_path(r, c), c->path_len);
		fputc('\n', stdout);
	}
	print_preview(pv, fmt, color, x);
}

int cmd_diff(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "format", required_argument, NULL, 'f' },
		{ "summary", no_argument, NULL, 's' },
		{ "exit-code", no_argument, NULL, 'e' },
		{ "no-cache", no_argument, NULL, 'N' },
		{ "color", required_argument, NULL, 'c' },
		{ "colour", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	enum diff_format fmt = FMT_SHORT;
	bool json_opt = false, docker_opt = false, summary = false, exit_code = false, use_cache = true, color = use_color_stdout();
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': fmt = FMT_JSON; json_opt = true; break;
		case 'f':
			if (STREQ(optarg, "json")) fmt = FMT_JSON;
			else if (STREQ(optarg, "docker")) { docker_opt = true; fmt = FMT_DOCKER; }
			else if (STREQ(optarg, "short")) fmt = FMT_SHORT;
			else return usage_error("diff", "--format: '%s' is not short, json or docker", optarg);
			break;
		case 's': summary = true; break;
		case 'e': exit_code = true; break;
		case 'N': use_cache = false; break;
		case 'c':
			if (STREQ(optarg, "always")) color = true;
			else if (STREQ(optarg, "never")) color = false;
			else if (!STREQ(optarg, "auto")) return usage_error("diff", "--color: '%s' is not auto, always or never", optarg);
			break;
		case 'h': fputs(diff_help, stdout); return EXIT_OK;
		default: return option_error("diff", argc, argv, "h");
		}
	}
	if ((r = check_arg_count("diff", argc, argv, 1, 1, "needs one CHILD")))
		return r;
	if (summary && fmt == FMT_DOCKER)
		return usage_error("diff", "--summary and --format=docker do not go together");
	if (json_opt && docker_opt)
		return usage_error("diff", "--json and --format=docker do not go together");
	if ((r = ctx_store(ctx, false)))
		return r;
	/* No lock: the walk only reads upper, which works mounted, running, or not. */
	_cleanup_(child_handle_done) struct child_handle x;
	if ((r = cli_open_child(ctx, "diff", argv[optind], CLI_CHILD_MANIFEST, &x)))
		return r;
	struct diff_result res;
	if (classify_child("diff", &x, use_cache, &res) < 0)
		return EXIT_FAIL;
	struct preview pv;
	struct delta_memo memo = {};
	preview_refresh(ctx, &x, &memo, &pv);
	delta_memo_done(&memo);
	print_diff(&res, fmt, summary, color, &x, &pv);
	bool differs = diff_result_differs(&res) || pv.plan.counts[RF_STALE] || pv.plan.counts[RF_CONFLICT];
	preview_done(&pv);
	diff_result_done(&res);
	if (fflush(stdout) != 0)
		return log_fail(EXIT_FAIL, "diff: writing output: %m");
	return exit_code && differs ? EXIT_DIFFERS : EXIT_OK;
}

/* ---- audit ---- */

/* One child's line of the audit: all it prints, in one block that can come back through a pipe. */
struct audit_row {
	bool failed;                      /* said on stderr already: no line */
	bool refused;                     /* a refresh would refuse it (why: error) */
	char name[NAME_MAX_LEN + 1], base[NAME_MAX_LEN + 1];
	unsigned gen, current;
	size_t stale, conflicts;
	char error[512];
	struct diff_result res;           /* its totals only: no changes, no pool */
};

struct audit_job {
	struct ctx *ctx;
	char **names;
	size_t n;
	bool use_cache, json;
	struct delta_memo memo;           /* a worker's own */
	struct audit_row *rows;
	bool *done;                       /* rows[i] is there */
	size_t next;                      /* the next row to print */
	struct output_list list;
	int ret;
};

static void audit_compute(size_t i, void *rec, void *userdata)
{
	struct audit_job *job = userdata;
	struct audit_row *row = rec;
	_cleanup_(child_handle_done) struct child_handle x;
	struct diff_result res;

	if (cli_open_child(job->ctx, "audit", job->names[i], CLI_CHILD_MANIFEST, &x) ||
	    classify_child("audit", &x, job->use_cache, &res) < 0) {
		row->failed = true;
		return;
	}
	struct preview pv;
	preview_refresh(job->ctx, &x, &job->memo, &pv);
	if (pv.error)
		log_warning("audit %s: a refresh to generation %u would be refused: %s", x.c.name, pv.current, pv.error);
	snprintf(row->name, sizeof(row->name), "%s", x.c.name);
	snprintf(row->base, sizeof(row->base), "%s", x.c.base);
	row->gen = x.c.gen;
	row->current = pv.current;
	row->stale = pv.plan.counts[RF_STALE];
	row->conflicts = pv.plan.counts[RF_CONFLICT];
	row->refused = pv.error != NULL;
	if (pv.error)
		snprintf(row->error, sizeof(row->error), "%s", pv.error);
	row->res = res;
	row->res.v = NULL;
	row->res.pool = NULL;
	row->res.n = row->res.alloc = row->res.pool_len = row->res.pool_alloc = 0;
	preview_done(&pv);
	diff_result_done(&res);
}

static void audit_print(struct output_list *l, bool json, const struct audit_row *row)
{
	long lag = (long)row->current - (long)row->gen;
	if (json) {
		json_begin_object(&l->j);
		json_kv_string(&l->j, "child", row->name);
		json_kv_string(&l->j, "base", row->base);
		json_kv_uint(&l->j, "generation", row->gen);
		json_kv_int(&l->j, "generation_lag", lag);
		json_kv_uint(&l->j, "stale", row->stale);
		json_kv_uint(&l->j, "conflicts", row->conflicts);
		if (row->refused)
			json_kv_string(&l->j, "refresh_error", row->error);
		json_kv_bool(&l->j, "differs", diff_result_differs(&row->res));
		json_key(&l->j, "summary");
		json_summary(&l->j, &row->res);
		json_end_object(&l->j);
		return;
	}
	char up[32], vac[32];
	output_format_bytes(row->res.upper_bytes, up, sizeof(up));
	output_format_bytes(row->res.vacuum_bytes, vac, sizeof(vac));
	/* A child refresh would refuse (type clash, ...) shows '!' for its conflicts. */
	char conflicts[24] = "!";
	if (!row->refused)
		snprintf(conflicts, sizeof(conflicts), "%zu", row->conflicts);
	printf("%-20s %-16s %4u %4ld %5zu %5s", row->name, row->base, row->gen, lag, row->stale, conflicts);
	for (size_t k = 0; k < ELEMENTSOF(classes); k++)
		printf(" %6" PRIu64, row->res.totals[(unsigned char)classes[k]].count);
	printf(" %10s %10s\n", up, vac);
}

/* Print the rows there are, in order (rows come from the workers in any order). */
static void audit_print_ready(size_t i, void *userdata)
{
	struct audit_job *job = userdata;
	(void)i;
	for (; job->next < job->n && job->done[job->next]; job->next++) {
		if (job->rows[job->next].failed)
			job->ret = EXIT_FAIL;
		else
			audit_print(&job->list, job->json, &job->rows[job->next]);
	}
}

/*
 * Every child's row, by `jobs` forked workers (src/workers.h: the children
 * are independent, and processes scale where threads did not), printed in
 * order as they come; what no worker brought back (one could not start, or
 * died) is computed here, as with one job.
 */
static void audit_all(struct audit_job *job, size_t jobs)
{
	if (jobs > job->n)
		jobs = job->n;
	if (jobs > 1)
		workers_run(job->n, jobs, sizeof(*job->rows), audit_compute, audit_print_ready, job, job->rows, job->done);
	for (size_t i = job->next; i < job->n; i++) {
		if (!job->done[i]) {
			memset(&job->rows[i], 0, sizeof(job->rows[i]));
			audit_compute(i, &job->rows[i], job);
			job->done[i] = true;
		}
		audit_print_ready(i, job);
	}
}

int cmd_audit(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "no-cache", no_argument, NULL, 'N' },
		{ "jobs", required_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct audit_job job = { .ctx = ctx, .use_cache = true, .ret = EXIT_OK };
	int c, r;
	char *end;
	long jobs = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'j') job.json = true;
		else if (c == 'N') job.use_cache = false;
		else if (c == 'J') {
			errno = 0;
			jobs = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || jobs < 1 || jobs > 64)
				return usage_error("audit", "--jobs: '%s' is not a number of workers from 1 to 64", optarg);
		} else if (c == 'h') { fputs(audit_help, stdout); return EXIT_OK; }
		else return option_error("audit", argc, argv, "h");
	}
	if (optind != argc)
		return usage_error("audit", "unexpected argument '%s'", argv[optind]);
	if ((r = cli_list_store(ctx, "audit", false, &job.names, &job.n)))
		return r;

	job.rows = calloc(job.n ? job.n : 1, sizeof(*job.rows));
	job.done = calloc(job.n ? job.n : 1, sizeof(*job.done));
	if (!job.rows || !job.done) {
		free(job.rows);
		free(job.done);
		strv_free(job.names);
		return log_fail(EXIT_FAIL, "audit: %s", strerror(ENOMEM));
	}
	if (output_list_begin(&job.list, job.json))
		printf("%-20s %-16s %4s %4s %5s %5s %6s %6s %6s %6s %6s %6s %10s %10s\n", "CHILD", "BASE", "GEN", "LAG", "S",
		       "C", "A", "M", "m", "D", "O", "=", "UPPER", "VACUUM");
	audit_all(&job, jobs ? (size_t)jobs : workers_default(job.n, 8));
	output_list_end(&job.list, job.n, "No children.");
	delta_memo_done(&job.memo);
	free(job.rows);
	free(job.done);
	strv_free(job.names);
	return job.ret;
}

/* ---- vacuum ---- */

struct vacuum_print {
	bool dry_run;
	struct json *j;
};

static void vacuum_cb(const char *path, size_t len, bool dir, uint64_t bytes, void *userdata)
{
	struct vacuum_print *p = userdata;
	if (p->j) {
		json_begin_object(p->j);
		json_kv_path(p->j, "path", path, len);
		json_kv_string(p->j, "type", dir ? "dir" : "file");
		json_kv_uint(p->j, "bytes", bytes);
		json_end_object(p->j);
		return;
	}
	printf("%s ", p->dry_run ? "would remove" : "removed");
	output_path(stdout, path, len);
	fputs(dir ? "/\n" : "\n", stdout);
}

int cmd_vacuum(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	bool dry_run = false, json = false;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "nh", opts, NULL)) != -1) {
		if (c == 'n') dry_run = true;
		else if (c == 'j') json = true;
		else if (c == 'h') { fputs(vacuum_help, stdout); return EXIT_OK; }
		else return option_error("vacuum", argc, argv, "nh");
	}
	if ((r = check_arg_count("vacuum", argc, argv, 1, 1, "needs one CHILD")))
		return r;
	const char *name = argv[optind];
	/* Exclusive: no mount, reset or second vacuum while upper is being changed. */
	_cleanup_(child_handle_done) struct child_handle x;
	if ((r = cli_open_child(ctx, "vacuum", name, CLI_CHILD_LOCK | CLI_CHILD_MANIFEST, &x)))
		return r;
	if (child_is_running(ctx, name) > 0)
		return log_fail(EXIT_FAIL, "vacuum %s: the child is running; stop it first (layerctl stop %s)", name, name);
	r = store_child_is_mounted(&ctx->store, &x.c);
	if (r < 0 && r != -EBUSY)
		return log_fail(EXIT_FAIL, "vacuum %s: checking mounts: %s", name, strerror(-r));
	if (r != 0) {
		log_error("vacuum %s: the child's overlay is mounted; changing its upper dir now is undefined behaviour", name);
		log_hint("layerctl umount %s", name);
		return EXIT_FAIL;
	}
	/*
	 * Deleting is not undoable: every candidate is hashed again rather than
	 * taken from the cache, whatever the cache's own safeguards.
	 */
	struct diff_result res;
	if (classify_child("vacuum", &x, false, &res) < 0)
		return EXIT_FAIL;
	struct json j;
	struct vacuum_print p = { .dry_run = dry_run };
	if (json) {
		json_init(&j, stdout);
		json_begin_object(&j);
		json_kv_string(&j, "child", name);
		json_kv_bool(&j, "dry_run", dry_run);
		json_key(&j, "removed");
		json_begin_array(&j);
		p.j = &j;
	}
	struct diff_vacuum_stats st;
	struct lc_err e = { "" };
	r = diff_vacuum(x.upper_fd, &res, dry_run, vacuum_cb, &p, &st, &e);
	diff_result_done(&res);
	if (json) {
		json_end_array(&j);
		json_kv_uint(&j, "files", st.files);
		json_kv_uint(&j, "dirs", st.dirs);
		json_kv_uint(&j, "bytes", st.bytes);
		json_end_object(&j);
		json_done(&j);
	}
	if (r < 0)
		return log_fail(EXIT_FAIL, "vacuum %s: %s", name, e.msg[0] ? e.msg : strerror(-r));
	if (!json && !log_quiet) {
		char b[32];
		output_format_bytes(st.bytes, b, sizeof(b));
		log_info("%s %s: %" PRIu64 " %s and %" PRIu64 " %s, %s.", dry_run ? "Would free" : "Freed", name,
			 st.files, PLURAL(st.files, "file", "files"), st.dirs, PLURAL(st.dirs, "directory", "directories"), b);
	}
	return EXIT_OK;
}

