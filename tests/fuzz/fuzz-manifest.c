/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target: a manifest from untrusted bytes must be refused or be safe to
 * use (every entry readable, lookups and subtree ranges in bounds).
 *
 * Built by `make fuzz` (build-fuzz/fuzz/fuzz-manifest) against the module
 * libraries; run it with -max_total_time=SECONDS [CORPUS_DIR].
 */
#include <stdint.h>
#include <stdio.h>

#include "diff/diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diff_manifest *m = NULL;
	struct lc_err e = { "" };
	/* The manifest keeps pointing into the buffer, and may rely on 8-byte alignment. */
	void *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (diff_manifest_from_buffer(copy, size, &m, &e) == 0) {
		size_t n = diff_manifest_count(m), begin, end;
		for (size_t i = 0; i < n; i++) {
			struct diff_entry ent;
			diff_manifest_get(m, i, &ent);
			if (diff_manifest_find(m, ent.path, ent.path_len) != (ssize_t)i)
				__builtin_trap(); /* sorted and unique: every path finds itself */
			diff_manifest_subtree(m, ent.path, ent.path_len, &begin, &end);
			if (begin > end || end > n)
				__builtin_trap();
		}
		diff_manifest_free(m);
	}
	free(copy);
	return 0;
}

#ifdef FUZZ_MAIN
int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f)
			continue;
		static uint8_t buf[1 << 24];
		size_t n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
	}
	return 0;
}
#endif
