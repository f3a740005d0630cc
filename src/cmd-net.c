/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* layerctl net gc: undo what children with a private network left behind when they died (src/runner/network.c). */
#include <getopt.h>
#include <stdio.h>

#include "src/cli.h"
#include "src/log.h"
#include "src/runner/runner.h"

const char net_help[] =
"Usage: layerctl net COMMAND\n"
"\n"
"  gc              remove what children that no longer run left behind after\n"
"                  a crash (kill -9 of run): their address allocations, their\n"
"                  elements in nftables table inet layerctl, host-side veth\n"
"                  links, zone bridges without members.  start and run do the\n"
"                  same before they allocate.\n";

int cmd_net_gc(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, {} };
	struct lc_err e = { "" };
	bool empty = false;
	unsigned n = 0;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(net_help, stdout);
			return EXIT_OK;
		}
		return option_error("net gc", argc, argv, "h");
	}
	if ((r = check_arg_count("net gc", argc, argv, 0, 0, "takes no arguments")))
		return r;
	if ((r = ctx_store_or_empty(ctx, &empty)) || empty)
		return r;
	if ((r = runner_network_gc(ctx->store.runtime, &n, &e)) < 0)
		return log_fail(EXIT_FAIL, "net gc: %s", lc_err_msg(&e, r));
	log_info("Removed the network of %u child%s that no longer run%s.", n, n == 1 ? "" : "ren", n == 1 ? "s" : "");
	return EXIT_OK;
}
