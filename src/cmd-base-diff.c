/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * layerctl base diff: what changed between two generations of a base,
 * from their manifests alone.  The other generation commands are
 * src/cmd-generation.c.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "diff/diff.h"
#include "src/cli.h"
#include "src/cmd-generation.h"
#include "src/json.h"
#include "src/log.h"
#include "src/output.h"
#include "src/store/generation.h"

static const char base_diff_help[] =
"Usage: layerctl base diff NAME [GEN_A [GEN_B]] [OPTIONS]\n"
"\n"
"What changed from generation GEN_A to GEN_B of base NAME (default: the\n"
"current generation's parent to the current one; with one number, that one\n"
"to the current one), from the two manifests: no tree is read.\n"
"\n"
"  A added   M content or type modified   m metadata only (mode, owner,\n"
"  xattrs)   D deleted\n"
"\n"
"      --json            machine-readable output\n"
"      --format=FORMAT   short (default), json, or docker (A/C/D lines)\n"
"      --summary         counts and bytes per class instead of paths\n"
"      --exit-code       exit 3 when the generations differ\n"
"  -h, --help            this help\n";

enum bd_format { BD_SHORT, BD_JSON, BD_DOCKER };
static const char bd_classes[] = { 'A', 'M', 'm', 'D' };

struct bd_state {
	enum bd_format fmt;
	bool summary, color;
	struct json *j;
	struct { uint64_t count, bytes; } totals[128];
};

static const char *bd_class_name(char c)
{
	return c == 'A' ? "added" : c == 'M' ? "modified" : c == 'm' ? "metadata" : "deleted";
}

static int bd_cb(const struct diff_entry *a, const struct diff_entry *b, unsigned changes, void *userdata)
{
	struct bd_state *st = userdata;
	const struct diff_entry *e = b ? b : a;
	char cls = !a ? 'A' : !b ? 'D' : (changes & (DIFF_CH_TYPE | DIFF_CH_CONTENT)) ? 'M' : 'm';
	st->totals[(unsigned char)cls].count++;
	st->totals[(unsigned char)cls].bytes += e->size;
	if (st->summary)
		return 0;
	if (st->j) {
		char c[2] = { cls, 0 };
		json_begin_object(st->j);
		json_kv_path(st->j, "path", e->path, e->path_len);
		json_kv_string(st->j, "class", c);
		json_kv_string(st->j, "type", output_type_name(e->mode));
		json_key(st->j, "changes");
		json_begin_array(st->j);
		for (unsigned bit = 1; bit <= DIFF_CH_XATTRS; bit <<= 1)
			if (changes & bit)
				json_string(st->j, diff_change_name(bit));
		json_end_array(st->j);
		json_kv_uint(st->j, "size", e->size);
		json_end_object(st->j);
		return 0;
	}
	char shown = st->fmt == BD_DOCKER ? (cls == 'A' || cls == 'D' ? cls : 'C') : cls;
	if (st->color)
		printf("%s%c\033[0m ", cls == 'A' ? "\033[32m" : cls == 'M' ? "\033[33m" : cls == 'm' ? "\033[36m" : "\033[31m",
		       shown);
	else
		printf("%c ", shown);
	output_path(stdout, e->path, e->path_len);
	fputc('\n', stdout);
	return 0;
}

static void bd_json_summary(struct json *j, const struct bd_state *st)
{
	json_begin_object(j);
	for (size_t i = 0; i < ELEMENTSOF(bd_classes); i++) {
		json_key(j, bd_class_name(bd_classes[i]));
		json_begin_object(j);
		json_kv_uint(j, "count", st->totals[(unsigned char)bd_classes[i]].count);
		json_kv_uint(j, "bytes", st->totals[(unsigned char)bd_classes[i]].bytes);
		json_end_object(j);
	}
	json_end_object(j);
}

static int open_gen_manifest(struct ctx *ctx, const char *name, unsigned gen, struct diff_manifest **m)
{
	_cleanup_free_ char *path = store_gen_manifest(&ctx->store, name, gen);
	struct lc_err e = { "" };
	if (!path)
		return log_fail(EXIT_FAIL, "out of memory");
	int r = diff_manifest_open(path, m, &e);
	if (r < 0)
		return log_fail(EXIT_FAIL, "base diff %s: manifest of generation %u (%s): %s", name, gen, path,
				r == -ENOENT ? "missing" : e.msg);
	return 0;
}

/* base diff's options and words: 0, -1 after printing the help, or an exit code. */
static int parse_base_diff_args(int argc, char **argv, struct bd_state *st, bool *exit_code, unsigned *ga, unsigned *gb)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "format", required_argument, NULL, 'f' },
		{ "summary", no_argument, NULL, 's' },
		{ "exit-code", no_argument, NULL, 'e' },
		{ "color", required_argument, NULL, 'c' },
		{ "colour", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': st->fmt = BD_JSON; break;
		case 'f':
			if (STREQ(optarg, "json")) st->fmt = BD_JSON;
			else if (STREQ(optarg, "docker")) st->fmt = BD_DOCKER;
			else if (STREQ(optarg, "short")) st->fmt = BD_SHORT;
			else return usage_error("base diff", "--format: '%s' is not short, json or docker", optarg);
			break;
		case 's': st->summary = true; break;
		case 'e': *exit_code = true; break;
		case 'c':
			if (STREQ(optarg, "always")) st->color = true;
			else if (STREQ(optarg, "never")) st->color = false;
			else if (!STREQ(optarg, "auto")) return usage_error("base diff", "--color: '%s' is not auto, always or never", optarg);
			break;
		case 'h': fputs(base_diff_help, stdout); return -1;
		default: return usage_error("base diff", "unknown option");
		}
	}
	int nargs = argc - optind;
	if (nargs < 1 || nargs > 3)
		return usage_error("base diff", "needs NAME [GEN_A [GEN_B]]");
	if (st->summary && st->fmt == BD_DOCKER)
		return usage_error("base diff", "--summary and --format=docker do not go together");
	if ((nargs >= 2 && (r = cli_parse_gen_arg("base diff", "GEN_A", argv[optind + 1], ga))) ||
	    (nargs == 3 && (r = cli_parse_gen_arg("base diff", "GEN_B", argv[optind + 2], gb))))
		return r;
	return 0;
}

/*
 * The two generations to compare: *gb defaults to the current one, *ga to
 * the one before *gb.  Both must exist.  0 or an exit code after printing.
 */
static int pick_generations(struct ctx *ctx, const char *name, unsigned *ga, unsigned *gb)
{
	struct base_info b;
	int r;
	if ((r = cli_load_base(ctx, "base diff", name, &b)))
		return r;
	if (!*gb)
		*gb = b.current;
	if (!*ga)
		*ga = cli_older_gen(&ctx->store, &b, *gb);
	bool ok_a = *ga && cli_base_has_gen(&b, *ga), ok_b = cli_base_has_gen(&b, *gb);
	base_info_done(&b);
	if (!*ga)
		return log_fail(EXIT_FAIL, "base diff %s: generation %u has no older generation to compare with", name, *gb);
	if (!ok_a || !ok_b)
		return log_fail(EXIT_FAIL, "base diff %s: no generation %u", name, ok_a ? *gb : *ga);
	return 0;
}

/* Compare and print (st->fmt, st->summary); the exit code. */
static int print_base_diff(const char *name, unsigned ga, unsigned gb, struct diff_manifest *ma, struct diff_manifest *mb,
			   struct bd_state *st, bool exit_code)
{
	struct json j;
	if (st->fmt == BD_JSON) {
		json_init(&j, stdout);
		if (!st->summary) {
			json_begin_object(&j);
			json_kv_string(&j, "base", name);
			json_kv_uint(&j, "from", ga);
			json_kv_uint(&j, "to", gb);
			json_key(&j, "changes");
			json_begin_array(&j);
			st->j = &j;
		}
	}
	diff_manifest_compare(ma, mb, false, bd_cb, st);
	uint64_t total = 0;
	for (size_t i = 0; i < ELEMENTSOF(bd_classes); i++)
		total += st->totals[(unsigned char)bd_classes[i]].count;
	if (st->fmt == BD_JSON) {
		if (!st->summary) {
			json_end_array(&j);
			json_key(&j, "summary");
		}
		bd_json_summary(&j, st);
		if (!st->summary)
			json_end_object(&j);
		json_done(&j);
	} else if (st->summary) {
		char buf[32];
		printf("%-10s %8s %12s\n", "CLASS", "COUNT", "BYTES");
		for (size_t i = 0; i < ELEMENTSOF(bd_classes); i++) {
			output_format_bytes(st->totals[(unsigned char)bd_classes[i]].bytes, buf, sizeof(buf));
			printf("%c %-8s %8" PRIu64 " %12s\n", bd_classes[i], bd_class_name(bd_classes[i]),
			       st->totals[(unsigned char)bd_classes[i]].count, buf);
		}
	}
	if (fflush(stdout) != 0)
		return log_fail(EXIT_FAIL, "base diff: writing output: %m");
	return exit_code && total ? EXIT_DIFFERS : EXIT_OK;
}

int cmd_base_diff(struct ctx *ctx, int argc, char **argv)
{
	struct bd_state st = { .fmt = BD_SHORT, .color = use_color_stdout() };
	bool exit_code = false;
	unsigned ga = 0, gb = 0;
	int r;

	if ((r = parse_base_diff_args(argc, argv, &st, &exit_code, &ga, &gb)))
		return r < 0 ? EXIT_OK : r;
	const char *name = argv[optind];
	if ((r = pick_generations(ctx, name, &ga, &gb)))
		return r;
	/* Shared: generations are read, none may be collected meanwhile. */
	_cleanup_close_ int lock = store_lock(&ctx->store, LOCK_BASE, name, LOCK_SH);
	if (lock < 0)
		return log_fail(EXIT_FAIL, "base diff %s: lock: %s", name, strerror(-lock));
	_cleanup_manifest_ struct diff_manifest *ma = NULL, *mb = NULL;
	if ((r = open_gen_manifest(ctx, name, ga, &ma)) || (r = open_gen_manifest(ctx, name, gb, &mb)))
		return r;
	return print_base_diff(name, ga, gb, ma, mb, &st, exit_code);
}
