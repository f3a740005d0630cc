/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Drift commands: diff, audit, vacuum, base manifest, base verify.
 * The work is done by diff/; this file finds the child, base and manifest,
 * takes the locks, and prints.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "diff/diff.h"
#include "src/commands.h"
#include "src/json.h"
#include "src/log.h"
#include "src/store/refresh.h"

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
"Usage: layerctl audit [--json] [--no-cache]\n"
"\n"
"Drift of every child: generations behind its base (LAG) with the stale\n"
"(S) and conflicting (C) paths a refresh would find ('!': it would refuse),\n"
"counts per class, bytes in its upper dir, and bytes 'layerctl vacuum'\n"
"would free.\n"
"\n"
"      --json            machine-readable output\n"
"      --no-cache        do not read or write the children's hash caches\n"
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

static const char manifest_help[] =
"Usage: layerctl base manifest NAME [--gen N] [--json]\n"
"\n"
"Print the content manifest of a base generation (default: the current\n"
"one), one entry a line, tab-separated:\n"
"  TYPE MODE UID GID SIZE MTIME CONTENT-XXH3-128 XATTR-DIGEST PATH [TARGET]\n"
"Bytes that are not printable UTF-8 in PATH and TARGET are escaped (\\n,\n"
"\\t, \\\\, \\xHH).\n"
"\n"
"      --gen N           that generation instead of the current one\n"
"      --json            machine-readable output\n"
"  -h, --help            this help\n";

static const char verify_help[] =
"Usage: layerctl base verify NAME [--gen N]\n"
"\n"
"Re-hash a base generation's tree and report every difference from its\n"
"manifest (someone edited the base in place).  Exit 1 when any.\n"
"\n"
"      --gen N           that generation instead of the current one\n"
"  -h, --help            this help\n";

/* ---- printing names ---- */

static bool is_utf8(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t l = json_utf8_seq_len((const unsigned char *)s + i, n - i);
		if (!l)
			return false;
		i += l;
	}
	return true;
}

/* A name on one line: \\ \n \t and \xHH for control bytes and bytes that are not UTF-8. */
static void put_escaped(FILE *f, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t plain = 0;
	while (plain < n && p[plain] >= 0x20 && p[plain] < 0x7f && p[plain] != '\\')
		plain++;
	if (plain == n) { /* the usual name: printable ASCII, one write */
		fwrite(s, 1, n, f);
		return;
	}
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		if (c == '\\') fputs("\\\\", f);
		else if (c == '\n') fputs("\\n", f);
		else if (c == '\t') fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", c);
		else {
			size_t l = json_utf8_seq_len(p + i, n - i);
			if (l == 0)
				fprintf(f, "\\x%02x", c);
			else
				fwrite(p + i, 1, l, f);
			i += l ? l : 1;
			continue;
		}
		i++;
	}
}

static void put_path(FILE *f, const char *path, size_t len)
{
	fputc('/', f);
	put_escaped(f, path, len);
}

/*
 * JSON: "path" is the name with bytes that are not UTF-8 as U+00XX (what
 * json.h does); when that happens "path_hex" carries the exact bytes.
 */
static void json_path(struct json *j, const char *key, const char *path, size_t len)
{
	_cleanup_free_ char *full = malloc(len + 2);
	if (!full)
		return;
	full[0] = '/';
	memcpy(full + 1, path, len);
	full[len + 1] = '\0';
	json_key(j, key);
	json_string_len(j, full, len + 1);
	if (!is_utf8(full, len + 1)) {
		_cleanup_free_ char *hex = malloc(2 * (len + 1) + 1);
		if (!hex)
			return;
		for (size_t i = 0; i < len + 1; i++)
			sprintf(hex + 2 * i, "%02x", (unsigned char)full[i]);
		char k[64];
		snprintf(k, sizeof(k), "%s_hex", key);
		json_kv_string(j, k, hex);
	}
}

static const char *type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "symlink";
	case S_IFCHR: return "char";
	case S_IFBLK: return "block";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	}
	return "unknown";
}

static char type_char(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return 'f';
	case S_IFDIR: return 'd';
	case S_IFLNK: return 'l';
	case S_IFCHR: return 'c';
	case S_IFBLK: return 'b';
	case S_IFIFO: return 'p';
	case S_IFSOCK: return 's';
	}
	return '?';
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

static void format_bytes(uint64_t b, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	size_t u = 0;
	while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%" PRIu64 " B", b);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
}

/* ---- finding things ---- */

struct child_ctx {
	struct child_info c;
	struct diff_manifest *base;
	char *manifest_path;
	int child_fd, upper_fd;
};

static void child_ctx_done(struct child_ctx *x)
{
	child_info_done(&x->c);
	diff_manifest_free(x->base);
	free(x->manifest_path);
	if (x->child_fd >= 0)
		close(x->child_fd);
	if (x->upper_fd >= 0)
		close(x->upper_fd);
	memset(x, 0, sizeof(*x));
	x->child_fd = x->upper_fd = -1;
}

/* Load child NAME, its base manifest and its upper dir; prints the error (prefix cmd). */
static int open_child(struct ctx *ctx, const char *cmd, const char *name, struct child_ctx *x)
{
	_cleanup_free_ char *err = NULL, *rel = NULL;
	const char *why;
	struct lc_err e = { "" };
	int r;

	memset(x, 0, sizeof(*x));
	x->child_fd = x->upper_fd = -1;
	if (name_validate(name, &why) < 0)
		return log_fail(-EINVAL, "%s: child name '%s': %s", cmd, name, why);
	r = store_child_load(&ctx->store, name, &x->c, &err);
	if (r == -ENOENT)
		return log_fail(r, "%s %s: no such child", cmd, name);
	if (r < 0)
		return log_fail(r, "%s %s: %s", cmd, name, err ? err : strerror(-r));
	x->manifest_path = store_gen_manifest(&ctx->store, x->c.base, x->c.gen);
	if (!x->manifest_path)
		return log_fail(-ENOMEM, "out of memory");
	r = diff_manifest_open(x->manifest_path, &x->base, &e);
	if (r < 0) {
		log_error("%s %s: manifest of base %s generation %u (%s): %s", cmd, name, x->c.base, x->c.gen,
			  x->manifest_path, r == -ENOENT ? "missing" : e.msg);
		if (r == -ENOENT)
			log_hint("bases imported before manifests existed need a re-import");
		return r;
	}
	if (asprintf(&rel, "children/%s", name) < 0)
		return -ENOMEM;
	x->child_fd = openat(ctx->store.root_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (x->child_fd < 0)
		return log_fail(-errno, "%s %s: %s/%s: %m", cmd, name, ctx->store.root, rel);
	x->upper_fd = openat(x->child_fd, "upper", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (x->upper_fd < 0)
		return log_fail(-errno, "%s %s: upper dir: %m", cmd, name);
	return 0;
}

/* Classify with the hash cache (unless disabled); a cache that cannot be saved only costs speed. */
static int classify_child(const char *cmd, struct child_ctx *x, bool use_cache, struct diff_result *res)
{
	struct diff_hash_cache *cache = NULL;
	struct lc_err e = { "" };
	struct stat st;
	int r;

	if (fstat(x->upper_fd, &st) < 0)
		return log_fail(-errno, "%s %s: upper dir: %m", cmd, x->c.name);
	if (use_cache && (r = diff_cache_load(x->child_fd, HASH_CACHE_FILE, st.st_dev, &cache, NULL)) < 0)
		return log_fail(r, "%s %s: hash cache: %s", cmd, x->c.name, strerror(-r));
	r = diff_classify(x->upper_fd, x->base, cache, res, &e);
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

/* ---- a child behind its base: what refresh would do ---- */

enum diff_format { FMT_SHORT, FMT_JSON, FMT_DOCKER };

struct preview {
	unsigned current;          /* the base's current generation */
	bool behind;               /* the child is on another generation */
	struct refresh_plan plan;  /* filled when behind and planning worked */
	char *error;               /* why refresh would refuse the child */
};

static void preview_done(struct preview *p)
{
	refresh_plan_done(&p->plan);
	free(p->error);
	memset(p, 0, sizeof(*p));
}

/*
 * The S (stale) and C (conflict) entries `refresh` would find: a read-only
 * plan from the two manifests and the changed paths of the upper dir.
 */
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
		      char **err)
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

static void preview_refresh(struct ctx *ctx, const struct child_ctx *x, struct delta_memo *memo, struct preview *p)
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
	int r = memo_delta(ctx, memo, x->c.base, x->c.gen, p->current, &p->error);
	if (r == 0)
		r = refresh_plan(&ctx->store, &x->c, memo->d, REFRESH_DEFAULT, &p->plan, &p->error);
	if (r < 0 && !p->error && asprintf(&p->error, "%s", strerror(-r)) < 0)
		p->error = NULL;
}

static bool preview_shown(const struct refresh_item *it)
{
	return it->cls == RF_STALE || it->cls == RF_CONFLICT;
}

static void print_preview(const struct preview *p, enum diff_format fmt, bool color, const struct child_ctx *x)
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
		put_path(stdout, it->path, strlen(it->path));
		fputc('\n', stdout);
	}
}

static void json_preview(struct json *j, const struct preview *p, const struct child_ctx *x)
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
		json_path(j, "path", it->path, strlen(it->path));
		json_kv_string(j, "class", cls);
		if (it->why)
			json_kv_string(j, "why", it->why);
		json_end_object(j);
	}
	json_end_array(j);
	json_end_object(j);
}

/* ---- diff ---- */

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
	json_end_object(j);
}

static void json_change(struct json *j, const struct diff_result *r, const struct diff_change *c)
{
	char cls[2] = { c->cls, 0 };
	json_begin_object(j);
	json_path(j, "path", diff_change_path(r, c), c->path_len);
	json_kv_string(j, "class", cls);
	json_kv_string(j, "type", type_name(c->mode));
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
		       const struct child_ctx *x, const struct preview *pv)
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
			format_bytes(t->bytes, b, sizeof(b));
			printf("%c %-8s %8" PRIu64 " %12s\n", classes[i], class_name(classes[i]), t->count, b);
		}
		format_bytes(r->upper_bytes, b, sizeof(b));
		printf("upper dir: %" PRIu64 " entries, %s on disk\n", r->upper_entries, b);
		format_bytes(r->vacuum_bytes, b, sizeof(b));
		printf("vacuum would free: %s (%" PRIu64 " files)\n", b, r->vacuum_entries);
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
		else
			printf("%c ", cls);
		put_path(stdout, diff_change_path(r, c), c->path_len);
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
	bool summary = false, exit_code = false, use_cache = true, color = use_color_stdout();
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': fmt = FMT_JSON; break;
		case 'f':
			if (STREQ(optarg, "json")) fmt = FMT_JSON;
			else if (STREQ(optarg, "docker")) fmt = FMT_DOCKER;
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
		default: return usage_error("diff", "unknown option");
		}
	}
	if (argc - optind != 1)
		return usage_error("diff", "needs one CHILD");
	if (summary && fmt == FMT_DOCKER)
		return usage_error("diff", "--summary and --format=docker do not go together");
	if ((r = ctx_store(ctx, false)))
		return r;
	/* No lock: the walk only reads upper, which works mounted, running, or not. */
	_cleanup_(child_ctx_done) struct child_ctx x = {};
	if (open_child(ctx, "diff", argv[optind], &x) < 0)
		return EXIT_FAIL;
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

int cmd_audit(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "no-cache", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	bool json = false, use_cache = true;
	int c, r, ret = EXIT_OK;
	char **names = NULL;
	size_t n = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'j') json = true;
		else if (c == 'N') use_cache = false;
		else if (c == 'h') { fputs(audit_help, stdout); return EXIT_OK; }
		else return usage_error("audit", "unknown option");
	}
	if (optind != argc)
		return usage_error("audit", "takes no arguments");
	if ((r = ctx_store(ctx, false)))
		return r;
	if ((r = store_list_children(&ctx->store, &names, &n)) < 0)
		return log_fail(EXIT_FAIL, "audit: %s", strerror(-r));

	struct delta_memo memo = {};
	struct json j;
	if (json) {
		json_init(&j, stdout);
		json_begin_array(&j);
	} else
		printf("%-20s %-16s %4s %4s %5s %5s %6s %6s %6s %6s %6s %6s %10s %10s\n", "CHILD", "BASE", "GEN", "LAG", "S", "C",
		       "A", "M", "m", "D", "O", "=", "UPPER", "VACUUM");
	for (size_t i = 0; i < n; i++) {
		_cleanup_(child_ctx_done) struct child_ctx x = {};
		struct diff_result res;
		if (open_child(ctx, "audit", names[i], &x) < 0 || classify_child("audit", &x, use_cache, &res) < 0) {
			ret = EXIT_FAIL;
			continue;
		}
		struct preview pv;
		preview_refresh(ctx, &x, &memo, &pv);
		long lag = (long)pv.current - (long)x.c.gen;
		if (pv.error)
			log_warning("audit %s: a refresh to generation %u would be refused: %s", x.c.name, pv.current, pv.error);
		if (json) {
			json_begin_object(&j);
			json_kv_string(&j, "child", x.c.name);
			json_kv_string(&j, "base", x.c.base);
			json_kv_uint(&j, "generation", x.c.gen);
			json_kv_int(&j, "generation_lag", lag);
			json_kv_uint(&j, "stale", pv.plan.counts[RF_STALE]);
			json_kv_uint(&j, "conflicts", pv.plan.counts[RF_CONFLICT]);
			if (pv.error)
				json_kv_string(&j, "refresh_error", pv.error);
			json_kv_bool(&j, "differs", diff_result_differs(&res));
			json_key(&j, "summary");
			json_summary(&j, &res);
			json_end_object(&j);
		} else {
			char up[32], vac[32];
			format_bytes(res.upper_bytes, up, sizeof(up));
			format_bytes(res.vacuum_bytes, vac, sizeof(vac));
			/* A child refresh would refuse (type clash, ...) shows '!' for its conflicts. */
			char conflicts[24] = "!";
			if (!pv.error)
				snprintf(conflicts, sizeof(conflicts), "%zu", pv.plan.counts[RF_CONFLICT]);
			printf("%-20s %-16s %4u %4ld %5zu %5s", x.c.name, x.c.base, x.c.gen, lag, pv.plan.counts[RF_STALE],
			       conflicts);
			for (size_t k = 0; k < ELEMENTSOF(classes); k++)
				printf(" %6" PRIu64, res.totals[(unsigned char)classes[k]].count);
			printf(" %10s %10s\n", up, vac);
		}
		preview_done(&pv);
		diff_result_done(&res);
	}
	if (json) {
		json_end_array(&j);
		json_done(&j);
	} else if (n == 0 && !log_quiet)
		fprintf(stderr, "No children.\n");
	delta_memo_done(&memo);
	strv_free(names);
	return ret;
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
		json_path(p->j, "path", path, len);
		json_kv_string(p->j, "type", dir ? "dir" : "file");
		json_kv_uint(p->j, "bytes", bytes);
		json_end_object(p->j);
		return;
	}
	printf("%s ", p->dry_run ? "would remove" : "removed");
	put_path(stdout, path, len);
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
		else return usage_error("vacuum", "unknown option");
	}
	if (argc - optind != 1)
		return usage_error("vacuum", "needs one CHILD");
	const char *name = argv[optind];
	const char *why;
	if (name_validate(name, &why) < 0)
		return log_fail(EXIT_FAIL, "vacuum: child name '%s': %s", name, why);
	if ((r = ctx_store(ctx, false)))
		return r;
	/* Exclusive: no mount, reset or second vacuum while upper is being changed. */
	_cleanup_close_ int lock = store_lock(&ctx->store, LOCK_CHILD, name, LOCK_EX);
	if (lock < 0)
		return log_fail(EXIT_FAIL, "vacuum %s: lock: %s", name, strerror(-lock));
	_cleanup_(child_ctx_done) struct child_ctx x = {};
	if (open_child(ctx, "vacuum", name, &x) < 0)
		return EXIT_FAIL;
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
		format_bytes(st.bytes, b, sizeof(b));
		log_info("%s %s: %" PRIu64 " files and %" PRIu64 " directories, %s.", dry_run ? "Would free" : "Freed",
			 name, st.files, st.dirs, b);
	}
	return EXIT_OK;
}

/* ---- base manifest / verify ---- */

static int parse_base_opts(int argc, char **argv, const char *cmd, const char *help, bool allow_json, bool *json,
			   unsigned *gen)
{
	static const struct option opts[] = {
		{ "gen", required_argument, NULL, 'g' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'g') {
			char *end;
			errno = 0;
			unsigned long g = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || g == 0 || g > UINT32_MAX || optarg[0] == '-')
				return usage_error(cmd, "--gen: '%s' is not a generation number", optarg);
			*gen = (unsigned)g;
		} else if (c == 'j' && allow_json)
			*json = true;
		else if (c == 'h') {
			fputs(help, stdout);
			return -1;
		} else
			return usage_error(cmd, "unknown option");
	}
	if (argc - optind != 1)
		return usage_error(cmd, "needs one base NAME");
	return 0;
}

/* Resolve NAME and the generation (0: current); prints errors. */
static int load_base_gen(struct ctx *ctx, const char *cmd, const char *name, unsigned *gen)
{
	struct base_info b;
	_cleanup_free_ char *err = NULL;
	const char *why;
	if (name_validate(name, &why) < 0)
		return log_fail(EXIT_FAIL, "%s: base name '%s': %s", cmd, name, why);
	int r = ctx_store(ctx, false);
	if (r)
		return r;
	r = store_base_load(&ctx->store, name, &b, &err);
	if (r == -ENOENT)
		return log_fail(EXIT_FAIL, "%s %s: no such base", cmd, name);
	if (r < 0)
		return log_fail(EXIT_FAIL, "%s %s: %s", cmd, name, err ? err : strerror(-r));
	if (*gen == 0)
		*gen = b.current;
	bool found = false;
	for (size_t i = 0; i < b.n_gens; i++)
		found |= b.gens[i] == *gen;
	base_info_done(&b);
	if (!found)
		return log_fail(EXIT_FAIL, "%s %s: no generation %u", cmd, name, *gen);
	return 0;
}

static int open_manifest(struct ctx *ctx, const char *cmd, const char *name, unsigned gen, struct diff_manifest **m)
{
	_cleanup_free_ char *path = store_gen_manifest(&ctx->store, name, gen);
	struct lc_err e = { "" };
	if (!path)
		return log_fail(EXIT_FAIL, "out of memory");
	int r = diff_manifest_open(path, m, &e);
	if (r < 0)
		return log_fail(EXIT_FAIL, "%s %s: manifest of generation %u (%s): %s", cmd, name, gen, path,
				r == -ENOENT ? "missing" : e.msg);
	return 0;
}

static void print_entry_text(const struct diff_entry *e)
{
	char content[2 * DIFF_HASH_SIZE + 1], xattrs[2 * DIFF_HASH_SIZE + 1];
	if (S_ISREG(e->mode))
		diff_hash_hex(e->content, content);
	else
		strcpy(content, "-");
	if (diff_hash_is_zero(e->xattrs))
		strcpy(xattrs, "-");
	else
		diff_hash_hex(e->xattrs, xattrs);
	printf("%c\t%04o\t%u\t%u\t", type_char(e->mode), e->mode & 07777, e->uid, e->gid);
	if (S_ISCHR(e->mode) || S_ISBLK(e->mode))
		printf("%u,%u", major(e->rdev), minor(e->rdev));
	else
		printf("%" PRIu64, e->size);
	printf("\t%" PRId64 ".%09u\t%s\t%s\t", e->mtime_sec, e->mtime_nsec, content, xattrs);
	put_path(stdout, e->path, e->path_len);
	if (S_ISLNK(e->mode)) {
		fputc('\t', stdout);
		put_escaped(stdout, e->target, e->target_len);
	}
	fputc('\n', stdout);
}

static void print_entry_json(struct json *j, const struct diff_entry *e)
{
	char hex[2 * DIFF_HASH_SIZE + 1], mode[16];
	json_begin_object(j);
	json_path(j, "path", e->path, e->path_len);
	json_kv_string(j, "type", type_name(e->mode));
	snprintf(mode, sizeof(mode), "%04o", e->mode & 07777);
	json_kv_string(j, "mode", mode);
	json_kv_uint(j, "uid", e->uid);
	json_kv_uint(j, "gid", e->gid);
	json_kv_uint(j, "size", e->size);
	json_kv_int(j, "mtime_sec", e->mtime_sec);
	json_kv_uint(j, "mtime_nsec", e->mtime_nsec);
	if (S_ISCHR(e->mode) || S_ISBLK(e->mode)) {
		json_kv_uint(j, "major", major(e->rdev));
		json_kv_uint(j, "minor", minor(e->rdev));
	}
	if (S_ISREG(e->mode)) {
		diff_hash_hex(e->content, hex);
		json_kv_string(j, "xxh3_128", hex);
	}
	if (!diff_hash_is_zero(e->xattrs)) {
		diff_hash_hex(e->xattrs, hex);
		json_kv_string(j, "xattrs_digest", hex);
	}
	if (S_ISLNK(e->mode)) {
		json_key(j, "target");
		json_string_len(j, e->target, e->target_len);
		if (!is_utf8(e->target, e->target_len)) {
			_cleanup_free_ char *h = malloc(2 * e->target_len + 1);
			if (h) {
				for (size_t i = 0; i < e->target_len; i++)
					sprintf(h + 2 * i, "%02x", (unsigned char)e->target[i]);
				json_kv_string(j, "target_hex", h);
			}
		}
	}
	json_end_object(j);
}

int cmd_base_manifest(struct ctx *ctx, int argc, char **argv)
{
	bool json = false;
	unsigned gen = 0;
	int r = parse_base_opts(argc, argv, "base manifest", manifest_help, true, &json, &gen);
	if (r)
		return r < 0 ? EXIT_OK : r;
	const char *name = argv[optind];
	if ((r = load_base_gen(ctx, "base manifest", name, &gen)))
		return r;
	_cleanup_manifest_ struct diff_manifest *m = NULL;
	if ((r = open_manifest(ctx, "base manifest", name, gen, &m)))
		return r;
	struct json j;
	struct diff_entry e;
	if (json) {
		json_init(&j, stdout);
		json_begin_object(&j);
		json_kv_string(&j, "base", name);
		json_kv_uint(&j, "generation", gen);
		json_key(&j, "entries");
		json_begin_array(&j);
	}
	for (size_t i = 0; i < diff_manifest_count(m); i++) {
		diff_manifest_get(m, i, &e);
		if (json)
			print_entry_json(&j, &e);
		else
			print_entry_text(&e);
	}
	if (json) {
		json_end_array(&j);
		json_end_object(&j);
		json_done(&j);
	}
	return fflush(stdout) == 0 ? EXIT_OK : log_fail(EXIT_FAIL, "base manifest: writing output: %m");
}

struct verify_state {
	uint64_t differences;
};

static int verify_cb(const struct diff_entry *a, const struct diff_entry *b, unsigned ch, void *userdata)
{
	struct verify_state *v = userdata;
	v->differences++;
	if (a && b) {
		printf("changed ");
		put_path(stdout, a->path, a->path_len);
		fputc(':', stdout);
		for (unsigned bit = 1; bit <= DIFF_CH_NLINK; bit <<= 1)
			if (ch & bit)
				printf(" %s", diff_change_name(bit));
	} else if (a) {
		printf("missing ");
		put_path(stdout, a->path, a->path_len);
	} else {
		printf("extra ");
		put_path(stdout, b->path, b->path_len);
	}
	fputc('\n', stdout);
	return 0;
}

int cmd_base_verify(struct ctx *ctx, int argc, char **argv)
{
	unsigned gen = 0;
	int r = parse_base_opts(argc, argv, "base verify", verify_help, false, NULL, &gen);
	if (r)
		return r < 0 ? EXIT_OK : r;
	const char *name = argv[optind];
	if ((r = load_base_gen(ctx, "base verify", name, &gen)))
		return r;
	/* Shared: an import or removal of this base waits, other readers do not. */
	_cleanup_close_ int lock = store_lock(&ctx->store, LOCK_BASE, name, LOCK_SH);
	if (lock < 0)
		return log_fail(EXIT_FAIL, "base verify %s: lock: %s", name, strerror(-lock));
	_cleanup_manifest_ struct diff_manifest *stored = NULL, *now = NULL;
	if ((r = open_manifest(ctx, "base verify", name, gen, &stored)))
		return r;
	_cleanup_free_ char *tree = store_gen_tree(&ctx->store, name, gen);
	_cleanup_close_ int fd = tree ? open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (fd < 0)
		return log_fail(EXIT_FAIL, "base verify %s: generation %u tree %s: %m", name, gen, tree ? tree : "");
	struct lc_err e = { "" };
	if ((r = diff_manifest_scan(fd, &now, &e)) < 0)
		return log_fail(EXIT_FAIL, "base verify %s: %s: %s", name, tree, e.msg[0] ? e.msg : strerror(-r));
	struct verify_state v = {};
	diff_manifest_compare(stored, now, true, verify_cb, &v);
	fflush(stdout);
	if (v.differences)
		return log_fail(EXIT_FAIL, "base verify %s: generation %u: %" PRIu64 " difference%s from its manifest",
				name, gen, v.differences, v.differences == 1 ? "" : "s");
	log_info("Base %s generation %u matches its manifest (%zu entries).", name, gen, diff_manifest_count(stored));
	return EXIT_OK;
}
