#!/usr/bin/env bash
# The functions a start-up runs are placed together in the binary (Makefile,
# STARTUP_FUNCS; docs/benchmarks.md, "Code placement"): src/startup-functions.txt
# names only functions the sources still define, and a gold-linked layerctl
# has them in one stretch of code instead of spread over all of it.
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
list=$top/src/startup-functions.txt

# The names of the list, comments and blank lines left out.
listed() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$list"; }

test_startup_functions_exist_in_the_sources() {
	local defs missing=() f
	# Every function defined at the start of a line in the tree's C files and
	# headers (static inline helpers): `type name(`.
	defs=$(cat "$top"/src/*.[ch] "$top"/src/*/*.[ch] "$top"/overlay/*.[ch] "$top"/diff/*.[ch] "$top"/fstab-gen/*.[ch] |
		sed -n 's/^[A-Za-z_][A-Za-z0-9_ *]*[ *]\([A-Za-z_][A-Za-z0-9_]*\)(.*/\1/p' | sort -u)
	[ "$(wc -l <<<"$defs")" -gt 500 ] || fail "found only $(wc -l <<<"$defs") function definitions: the pattern is wrong"
	while read -r f; do
		grep -qxF "$f" <<<"$defs" || missing+=("$f")
	done < <(listed | grep -v '^XXH')   # xxHash's functions come from its header
	[ ${#missing[@]} -eq 0 ] || fail "src/startup-functions.txt names functions no source defines (run tests/bench/startup-functions.sh): ${missing[*]}"
}

test_startup_functions_are_placed_together() {
	readelf -SW "$L" | grep -q '\.note\.gnu\.gold-version' ||
		skip "$L was not linked by gold (the Makefile orders code only with gold)"
	# The listed functions in the binary (and their clones, NAME.part.0;
	# not their cold parts):
	# address and size.  Placed together, 90% of them lie within a stretch
	# not much longer than their sizes added up; in source order, across
	# most of the program's code.
	local verdict
	verdict=$(nm -nS --defined-only "$L" | python3 -c '
import sys
names = set(l.split("#")[0].strip() for l in open(sys.argv[1])) - {""}
syms = []
for line in sys.stdin:
    p = line.split()
    # NAME.cold: the parts GCC moves out of the way on purpose (error paths)
    if len(p) == 4 and p[2] in "tT" and p[3].split(".")[0] in names and ".cold" not in p[3]:
        syms.append((int(p[0], 16), int(p[1], 16)))
syms.sort()
total = sum(s for _, s in syms)
k = max(1, int(len(syms) * 0.9))
stretch = min(syms[i + k - 1][0] + syms[i + k - 1][1] - syms[i][0] for i in range(len(syms) - k + 1))
print("ok" if stretch <= 2 * total else "spread",
      "%d functions, %d KiB in all, 90%% within %d KiB" % (len(syms), total // 1024, stretch // 1024))
' "$list")
	echo "$verdict"
	[ "${verdict%% *}" = ok ] || fail "start-up functions not placed together: ${verdict#* }"
}

run_tests
