/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * diff/ — content identity and drift: hashing, manifests, the hash cache,
 * upper-vs-base classification, manifest-to-manifest diff, vacuum.
 * Never prints, never exits; returns 0 or -errno (detail in struct lc_err).
 */
#pragma once

#include "overlay/overlay.h"

/*
 * Build the content manifest of the tree at tree_dir and write it atomically
 * to out_path.  Called when a base generation is created.
 */
int diff_manifest_build(const char *tree_dir, const char *out_path, struct lc_err *err);
