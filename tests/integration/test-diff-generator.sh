#!/usr/bin/env bash
# Randomized check: `layerctl diff --json` against an independent comparison
# of the merged view with the base tree, and `vacuum` leaving the merged view
# unchanged, over many small random seeds (tests/integration/diffgen.py).
# DIFFGEN_SEEDS (default 300) and DIFFGEN_FIRST (default 1) pick the seeds.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

test_random_seeds_agree() {
	command -v python3 >/dev/null || skip "python3 missing"
	python3 "$here/diffgen.py" --layerctl "$L" --work "$T" --seeds "${DIFFGEN_SEEDS:-300}" --first "${DIFFGEN_FIRST:-1}"
}

run_tests
