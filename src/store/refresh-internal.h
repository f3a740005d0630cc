/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private to src/store/refresh*.c: what the plan, the journal and the
 * apply/undo files share.  The API is refresh.h.
 */
#pragma once

#include <limits.h>

#include "src/store/refresh.h"

enum step_kind { STEP_REMOVE, STEP_MERGE, STEP_DIR_META };

struct step {
	enum step_kind kind;
	char *path;
};

struct journal {
	char *base;
	unsigned from, to;
	struct step *steps;
	size_t n;
};

/* refresh-plan.c */
int refresh_open_gen_manifest(struct store *s, const char *base, unsigned gen, struct diff_manifest **ret,
			      struct lc_err *err);

/* refresh-journal.c */
void refresh_journal_done(struct journal *j);
int refresh_plan_steps(const struct refresh_plan *p, struct journal *j);
int refresh_write_journal(int dirfd, const struct journal *j);
int refresh_read_journal(int dirfd, struct journal *j, struct lc_err *err);
int refresh_proc_path(char buf[PATH_MAX + 32], int dirfd, const char *path);
int refresh_copy_meta(int src_dirfd, const char *src, int dst_dirfd, const char *dst);
int refresh_copy_entry(int src_dirfd, const char *src, int dst_dirfd, const char *dst);
int refresh_make_parents(int dirfd, const char *path);
