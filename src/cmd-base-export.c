/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* layerctl base export: a generation written out as a tarball or an image, with its manifest. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>

#include "src/cli.h"
#include "src/log.h"
#include "src/progress.h"
#include "src/store/export.h"

static const char export_help[] =
"Usage: layerctl base export NAME [--gen N] FILE\n"
"\n"
"Write a base generation (default: the current one) to FILE, in the format\n"
"its name asks for: .tar, .tar.gz, .tar.xz, .tar.zst, .tar.bz2 (libarchive),\n"
".squashfs or .erofs (mksquashfs, mkfs.erofs), its content manifest to\n"
"FILE.manifest and FILE's XXH3-128 checksum to FILE.xxh128 (xxhsum -c reads\n"
"it), for 'base import --verify' on another host.\n"
"\n"
"      --gen N           that generation instead of the current one\n"
"  -h, --help            this help\n";

int cmd_base_export(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "gen", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	unsigned gen = 0;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'g') {
			if ((r = cli_parse_gen_arg("base export", "--gen", optarg, &gen)))
				return r;
		} else if (c == 'h') {
			fputs(export_help, stdout);
			return EXIT_OK;
		} else
			return option_error("base export", argc, argv, "h");
	}
	if ((r = check_arg_count("base export", argc, argv, 2, 2, "needs NAME and FILE")))
		return r;
	const char *name = argv[optind], *file = argv[optind + 1];
	enum export_format fmt;
	const char *filter;
	if (export_format_from_name(file, &fmt, &filter) < 0)
		return usage_error("base export",
				   "%s: the name must end in .tar, .tar.gz, .tar.xz, .tar.zst, .tar.bz2, .squashfs or .erofs",
				   file);
	if ((r = cli_check_name("base export", "base", name)) || (r = ctx_store(ctx, false)))
		return r;
	/* Shared: no gc or rm of the generation while it is read. */
	_cleanup_close_ int lock = store_lock(&ctx->store, LOCK_BASE, name, LOCK_SH);
	if (lock < 0)
		return log_fail(EXIT_FAIL, "base export %s: lock: %s", name, strerror(-lock));
	struct base_info b;
	struct lc_err e = { "" };
	r = store_base_load(&ctx->store, name, &b, &e);
	if (r == -ENOENT)
		return log_fail(EXIT_FAIL, "base export %s: no such base", name);
	if (r < 0)
		return log_fail(EXIT_FAIL, "base export %s: %s", name, lc_err_msg(&e, r));
	bool found = false;
	if (gen == 0)
		gen = b.current;
	for (size_t i = 0; i < b.n_gens; i++)
		found |= b.gens[i] == gen;
	base_info_done(&b);
	if (!found)
		return log_fail(EXIT_FAIL, "base export %s: no generation %u", name, gen);
	_cleanup_free_ char *tree = store_gen_tree(&ctx->store, name, gen);
	_cleanup_free_ char *manifest = store_gen_manifest(&ctx->store, name, gen);
	if (!tree || !manifest)
		return log_fail(EXIT_FAIL, "out of memory");
	/*
	 * An image generation's tree is only a mount point: read the image
	 * through a private mount instead.  /proc/PID (not self): mksquashfs
	 * and mkfs.erofs resolve the path in their own process.
	 */
	_cleanup_close_ int image_root = -1;
	r = store_gen_is_image(&ctx->store, name, gen);
	if (r > 0 && (image_root = store_gen_image_open_root(&ctx->store, name, gen, &e)) < 0)
		return log_fail(EXIT_FAIL, "base export %s: generation %u: %s", name, gen, lc_err_msg(&e, image_root));
	if (image_root >= 0) {
		free(tree);
		if (asprintf(&tree, "/proc/%d/fd/%d/.", (int)getpid(), image_root) < 0)
			return log_fail(EXIT_FAIL, "out of memory");
	}
	log_info("Exporting base %s generation %u to %s ...", name, gen, file);
	struct import_stats st;
	struct progress bar;
	progress_begin(&bar, "Exporting");
	r = export_tree(tree, manifest, file, &bar.cb, &st, &e);
	progress_done(&bar);
	if (r < 0)
		return log_fail(EXIT_FAIL, "base export %s: %s", name, lc_err_msg(&e, r));
	log_info("Exported base %s generation %u to %s (manifest: %s.manifest, checksum: %s.xxh128).", name, gen, file,
		 file, file);
	return EXIT_OK;
}
