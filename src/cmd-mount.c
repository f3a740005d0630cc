/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* layerctl mount|umount CHILD|--all */
#include <getopt.h>
#include <stdio.h>

#include "src/cli.h"
#include "src/log.h"

static const char mount_help[] =
"Usage: layerctl mount CHILD...|--all\n"
"       layerctl umount CHILD...|--all\n"
"\n"
"Mount (unmount) each child's overlay at children/NAME/root, with\n"
"lowerdir = its base generation, upperdir/workdir = its own, and\n"
"index=off,metacopy=off,redirect_dir=off.  Mounting a mounted child and\n"
"unmounting an unmounted one do nothing and succeed.\n"
"\n"
"  -a, --all       every child of the store\n"
"  -h, --help      this help\n";

static int one(struct ctx *ctx, const char *name, bool mount)
{
	const char *cmd = mount ? "mount" : "umount";
	struct lc_err e = { "" };
	int r;

	/*
	 * Lock, then load: what we mount is what child.conf says under the lock.
	 * Unmounting needs only the child's name (its overlay is at
	 * children/NAME/root with upper children/NAME/upper), so a child.conf
	 * that cannot be read must not keep a mounted overlay in place: that is
	 * exactly the state in which a user wants to unmount, then fix or remove
	 * the child.
	 */
	_cleanup_(child_handle_done) struct child_handle h;
	if ((r = cli_open_child(ctx, cmd, name, mount ? CLI_CHILD_LOCK : CLI_CHILD_LOCK | CLI_CHILD_ANY_CONF, &h)))
		return r;
	/*
	 * A running child whose overlay run/start mounted has it only in the
	 * container's mount namespace: a second overlay on the same upper dir
	 * from the host would be undefined behaviour.
	 */
	if (mount && child_is_running(ctx, name) > 0 && store_child_is_mounted(&ctx->store, &h.c) == 0)
		return log_fail(EXIT_FAIL, "mount %s: the child is running with its overlay mounted inside the container only; "
			       "stop it first (layerctl stop %s)", name, name);
	if (!mount && child_is_running(ctx, name) > 0)
		return log_fail(EXIT_FAIL, "umount %s: the child is running; stop it first (layerctl stop %s)", name, name);
	/* Something else mounted at root is left alone: then no process is "using" our overlay. */
	bool foreign = !mount && store_child_is_mounted(&ctx->store, &h.c) == -EBUSY;
	r = mount ? store_child_mount(&ctx->store, &h.c, &e) : store_child_umount(&ctx->store, &h.c, &e);
	if (r < 0) {
		log_error("%s %s: %s", cmd, name, lc_err_msg(&e, r));
		if (!mount && r == -EBUSY && !foreign)
			log_hint("a process still uses files below children/%s/root (fuser -vm)", name);
		return EXIT_FAIL;
	}
	if (r == 0)
		log_info("%s %s.", mount ? "Mounted" : "Unmounted", name);
	return EXIT_OK;
}

static int mount_or_umount(struct ctx *ctx, int argc, char **argv, bool mount)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *cmd = mount ? "mount" : "umount";
	bool all = false;
	int c, r, ret = EXIT_OK;
	char **names = NULL;
	size_t n = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "ah", opts, NULL)) != -1) {
		if (c == 'a')
			all = true;
		else if (c == 'h') {
			fputs(mount_help, stdout);
			return EXIT_OK;
		} else
			return option_error(cmd, argc, argv, "ah");
	}
	if (all == (optind < argc))
		return usage_error(cmd, "needs CHILD names or --all (not both)");
	if (all) {
		if ((r = cli_list_store(ctx, cmd, false, &names, &n)))
			return r;
		for (size_t i = 0; i < n; i++)
			if (one(ctx, names[i], mount))
				ret = EXIT_FAIL;
		strv_free(names);
		return ret;
	}
	if ((r = ctx_store(ctx, false)))
		return r;
	for (int i = optind; i < argc; i++)
		if (one(ctx, argv[i], mount))
			ret = EXIT_FAIL;
	return ret;
}

int cmd_mount(struct ctx *ctx, int argc, char **argv)
{
	return mount_or_umount(ctx, argc, argv, true);
}

int cmd_umount(struct ctx *ctx, int argc, char **argv)
{
	return mount_or_umount(ctx, argc, argv, false);
}
