/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * layerctl base manifest|verify: print a generation's content manifest, and
 * re-hash a generation to compare it with its manifest (diff/ does the work).
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "diff/diff.h"
#include "src/cli.h"
#include "src/json.h"
#include "src/log.h"
#include "src/output.h"
#include "src/progress.h"

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
			int r = cli_parse_gen_arg(cmd, "--gen", optarg, gen);
			if (r)
				return r;
		} else if (c == 'j' && allow_json)
			*json = true;
		else if (c == 'h') {
			fputs(help, stdout);
			return -1;
		} else
			return option_error(cmd, argc, argv, "h");
	}
	return check_arg_count(cmd, argc, argv, 1, 1, "needs one base NAME");
}

/* Resolve NAME and the generation (0: current); prints errors. */
static int load_base_gen(struct ctx *ctx, const char *cmd, const char *name, unsigned *gen)
{
	struct base_info b;
	struct lc_err err = { "" };
	int r;
	if ((r = cli_check_name(cmd, "base", name)) || (r = ctx_store(ctx, false)))
		return r;
	r = store_base_load(&ctx->store, name, &b, &err);
	if (r == -ENOENT)
		return log_fail(EXIT_FAIL, "%s %s: no such base", cmd, name);
	if (r < 0)
		return log_fail(EXIT_FAIL, "%s %s: %s", cmd, name, lc_err_msg(&err, r));
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
	printf("%c\t%04o\t%u\t%u\t", output_type_char(e->mode), e->mode & 07777, e->uid, e->gid);
	if (S_ISCHR(e->mode) || S_ISBLK(e->mode))
		printf("%u,%u", major(e->rdev), minor(e->rdev));
	else
		printf("%" PRIu64, e->size);
	printf("\t%" PRId64 ".%09u\t%s\t%s\t", e->mtime_sec, e->mtime_nsec, content, xattrs);
	output_path(stdout, e->path, e->path_len);
	if (S_ISLNK(e->mode)) {
		fputc('\t', stdout);
		output_escaped(stdout, e->target, e->target_len);
	}
	fputc('\n', stdout);
}

static void print_entry_json(struct json *j, const struct diff_entry *e)
{
	char hex[2 * DIFF_HASH_SIZE + 1], mode[16];
	json_begin_object(j);
	json_kv_path(j, "path", e->path, e->path_len);
	json_kv_string(j, "type", output_type_name(e->mode));
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
	if (S_ISLNK(e->mode))
		json_kv_bytes(j, "target", e->target, e->target_len);
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
		output_path(stdout, a->path, a->path_len);
		fputc(':', stdout);
		for (unsigned bit = 1; bit <= DIFF_CH_NLINK; bit <<= 1)
			if (ch & bit)
				printf(" %s", diff_change_name(bit));
	} else if (a) {
		printf("missing ");
		output_path(stdout, a->path, a->path_len);
	} else {
		printf("extra ");
		output_path(stdout, b->path, b->path_len);
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
	struct lc_err e = { "" };
	/* An image generation is re-hashed through a private mount of the image itself. */
	int image = store_gen_is_image(&ctx->store, name, gen);
	_cleanup_close_ int fd = image > 0 ? store_gen_image_open_root(&ctx->store, name, gen, &e)
					   : tree ? open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -ENOMEM;
	if (fd < 0 && image > 0)
		return log_fail(EXIT_FAIL, "base verify %s: generation %u image: %s", name, gen, lc_err_msg(&e, fd));
	if (fd < 0)
		return log_fail(EXIT_FAIL, "base verify %s: generation %u tree %s: %m", name, gen, tree ? tree : "");
	struct progress bar;
	progress_begin(&bar, "Verifying");
	r = diff_manifest_scan_progress(fd, &bar.cb, diff_manifest_count(stored), &now, &e);
	progress_done(&bar);
	if (r < 0)
		return log_fail(EXIT_FAIL, "base verify %s: %s: %s", name, tree, e.msg[0] ? e.msg : strerror(-r));
	struct verify_state v = {};
	diff_manifest_compare(stored, now, true, verify_cb, &v);
	fflush(stdout);
	if (v.differences)
		return log_fail(EXIT_FAIL, "base verify %s: generation %u: %" PRIu64 " difference%s from its manifest",
				name, gen, v.differences, v.differences == 1 ? "" : "s");
	log_info("Base %s generation %u matches its manifest (%zu %s).", name, gen, diff_manifest_count(stored),
		 PLURAL(diff_manifest_count(stored), "entry", "entries"));
	return EXIT_OK;
}
