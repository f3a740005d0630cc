#!/usr/bin/env bash
# Randomized check of refresh and refresh --undo against an independent
# model of the table (tests/integration/refreshgen.py): random base, random
# child changes through the mounted overlay, random update, refresh, compare
# the merged view path by path; undo must restore upper and view exactly.
# REFRESHGEN_SEEDS (default 300) and REFRESHGEN_FIRST (default 1) pick the seeds.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

test_random_seeds_agree() {
	command -v python3 >/dev/null || skip "python3 missing"
	python3 "$here/refreshgen.py" --layerctl "$L" --work "$T" --seeds "${REFRESHGEN_SEEDS:-300}" \
		--first "${REFRESHGEN_FIRST:-1}"
}

run_tests
