/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * run/start in user-namespace mode (PrivateUsers=): the range (picked once
 * by the store, then recorded) and the upper dir's owners brought to the
 * mode asked before the overlay is mounted.  See docs/runner.md, "User
 * namespaces".
 */
#include <stdio.h>
#include <unistd.h>

#include "src/log.h"
#include "src/run-opts.h"
#include "src/store/uidrange.h"

/* Progress of a shift: on a terminal only (a script's stderr stays clean). */
static void shift_progress(void *userdata, const char *msg)
{
	const char *name = userdata;
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "layerctl: %s: %s\n", name, msg);
}

bool run_opts_child_in_userns_mode(const struct child_info *ci)
{
	enum private_users m = PRIVATE_USERS_NO;
	uint32_t b, n;
	const char *v = settings_get(ci->conf, "Exec", "PrivateUsers");
	if (v && runner_private_users_parse(v, &m, &b, &n) < 0)
		return true;   /* unparsable: run refuses it anyway; do not promise an automount */
	return m != PRIVATE_USERS_NO || settings_get(ci->conf, "Child", "UpperShift") ||
	       settings_get(ci->conf, "Child", "UpperShiftTo");
}

int run_opts_prepare_userns(struct ctx *ctx, const char *cmd, struct child_info *ci, struct run_config *c)
{
	struct lc_err e = { "" };
	struct uid_range want = { 0, 0 }, have;
	int r;

	if (c->private_users == PRIVATE_USERS_PICK) {
		if ((r = store_uid_range_pick(&ctx->store, ci, getenv("LAYERCTL_SUBID_DIR"), &want, &e)) < 0)
			return log_fail(EXIT_FAIL, "%s %s: private users: %s", cmd, c->name, lc_err_msg(&e, r));
		c->uid_base = want.base;
		c->uid_count = want.count;
	} else if (c->private_users == PRIVATE_USERS_FIXED)
		want = (struct uid_range){ c->uid_base, c->uid_count };
	if (want.count && settings_get_bool(ci->conf, "Child", "Automount", false) > 0)
		return log_fail(EXIT_FAIL, "%s %s: the child is enabled for automount, which cannot make the idmapped mount "
			       "user-namespace mode needs; 'layerctl disable %s' first", cmd, c->name, c->name);
	if (want.count && (r = store_check_idmapped_cached(&ctx->store, &e)) < 0)
		return log_fail(EXIT_FAIL, "%s %s: private users: this kernel or the store's file system cannot mount an "
			       "overlay with an idmapped lower layer (%s)", cmd, c->name, lc_err_msg(&e, r));
	if ((r = store_child_upper_shift(ci, &have)) < 0)
		return log_fail(EXIT_FAIL, "%s %s: child.conf: Child.UpperShift= is not BASE:COUNT", cmd, c->name);
	bool pending = settings_get(ci->conf, "Child", "UpperShiftTo") != NULL;
	if (!pending && have.base == want.base && have.count == want.count)
		return 0;
	/* Offline only: a mounted overlay would see files change owner under it. */
	if ((r = store_child_is_mounted(&ctx->store, ci)) != 0)
		return log_fail(EXIT_FAIL, "%s %s: the child is mounted; unmount it (layerctl umount) to switch its "
			       "user-namespace mode", cmd, c->name);
	struct lc_warn progress = { shift_progress, c->name };
	if ((r = store_child_shift_upper(&ctx->store, ci, want, &progress, &e)) < 0)
		return log_fail(EXIT_FAIL, "%s %s: shifting the upper dir's owners: %s", cmd, c->name, lc_err_msg(&e, r));
	return 0;
}

/*
 * refresh and refresh --undo copy base files and saved versions into the
 * upper and compare stat data they recorded: they work on an upper stored
 * unshifted.  So a user-namespace child's upper is shifted back first
 * (offline: the caller unmounted it and holds the child lock) and to its
 * range again afterwards (reloading child.conf, which they rewrote).  A
 * kill in between leaves a consistent state: UpperShift= says what is on
 * disk, and the next run shifts again.
 */
int cli_userns_unshift(struct ctx *ctx, const char *cmd, struct child_info *c, struct uid_range *saved)
{
	struct lc_err e = { "" };
	int r = store_child_upper_shift(c, saved);
	if (r < 0)
		return log_fail(r, "%s %s: child.conf: Child.UpperShift= is not BASE:COUNT", cmd, c->name);
	if (!saved->count)
		return 0;
	struct lc_warn progress = { shift_progress, c->name };
	if ((r = store_child_shift_upper(&ctx->store, c, (struct uid_range){ 0, 0 }, &progress, &e)) < 0)
		return log_fail(r, "%s %s: shifting the upper dir's owners back: %s", cmd, c->name, lc_err_msg(&e, r));
	return 1;
}

int cli_userns_reshift(struct ctx *ctx, const char *cmd, const char *name, struct uid_range saved)
{
	struct lc_err e = { "" };
	struct child_info c = {};
	if (!saved.count)
		return 0;
	int r = store_child_load(&ctx->store, name, &c, &e);
	if (r == 0) {
		struct lc_warn progress = { shift_progress, (void *)name };
		r = store_child_shift_upper(&ctx->store, &c, saved, &progress, &e);
	}
	child_info_done(&c);
	if (r < 0)
		return log_fail(r, "%s %s: shifting the upper dir's owners to its range again: %s (the next run does it)",
				cmd, name, lc_err_msg(&e, r));
	return 0;
}
