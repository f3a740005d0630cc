#!/usr/bin/env bash
# Base generations on a 50,000-file base (issue 14's performance bar):
#
#   1. `base update NAME -- CMD` changing 1% of the files (500 of 50,000),
#      whole command (scratch overlay, container, commit), against `cp -al`
#      of the same tree (what building a hard-linked copy by hand costs);
#      disk the new generation added against the bytes of the changed files.
#   2. `base update NAME --from DIR` of a copy with another 1% changed
#      (every file is hashed, only changed ones copied: the price of not
#      trusting mtimes is one read of the tree).
#   3. `base diff` of the two generations against `diff -rq` of their trees.
set -eu
L=${LAYERCTL:?}
FILES=${FILES:-50000}
. "$(dirname "$0")/lib.sh"
bench_setup gen
ms() { echo "($2 - $1) * 1000" | bc -l; }
kib() { du -sk "$1" | cut -f1; }

# A busybox root plus FILES small files (1-4 KiB) in directories of 100.
src="$tmp/src"
mkdir -p "$src/bin" "$src/etc" "$src/tmp"
cp "$(command -v busybox)" "$src/bin/busybox"
for a in sh echo cat true; do ln -s busybox "$src/bin/$a"; done
python3 - "$src/data" "$FILES" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(14)
for i in range(n):
    d = os.path.join(root, "d%04d" % (i // 100))
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%03d" % (i % 100)), "wb") as f:
        f.write(rnd.randbytes(rnd.randint(1024, 4096)))
EOF
$L -q base import big "$src"
g1="$LAYERCTL_ROOT/bases/big/gens/1/tree"
entries=$(find "$g1" | wc -l)
echo "base: $entries entries, $(kib "$g1") KiB"

# 1% of the files: the 500 files of five directories, each appended to.
# Best of 3 (a shared machine is noisy), each run on the generation before.
sync
before=$(kib "$LAYERCTL_ROOT/bases/big")
upd=""
for set in 0 1 2; do
	t0=$(now)
	$L -q base update big -- sh -c "for f in /data/d00${set}[0-4]/*; do echo changed >>\"\$f\"; done"
	t1=$(now)
	v=$(ms "$t0" "$t1")
	if [ "$set" = 0 ]; then
		after=$(kib "$LAYERCTL_ROOT/bases/big")
		g2="$LAYERCTL_ROOT/bases/big/gens/2/tree"
		changed_kib=$(du -sk --apparent-size "$g2"/data/d000[0-4] | awk '{s+=$1} END {print s}')
	fi
	if [ -z "$upd" ] || [ "$(echo "$v < $upd" | bc -l)" = 1 ]; then upd=$v; fi
done
cpal="" cpals=""
for i in 1 2 3; do
	sync
	t0=$(now); cp -al "$g1" "$tmp/cp-al"; t1=$(now); sync; t2=$(now)
	v=$(ms "$t0" "$t1"); w=$(ms "$t0" "$t2")
	if [ -z "$cpal" ] || [ "$(echo "$v < $cpal" | bc -l)" = 1 ]; then cpal=$v; fi
	if [ -z "$cpals" ] || [ "$(echo "$w < $cpals" | bc -l)" = 1 ]; then cpals=$w; fi
	rm -rf "$tmp/cp-al"
done
printf 'base update -- CMD (1%% of %d files changed; scratch, container, commit, syncfs): %.0f ms\n' "$FILES" "$upd"
printf '  cp -al of the tree: %.0f ms -> ratio %.2f (aim <= 1.0); cp -al + sync: %.0f ms -> ratio %.2f\n' \
	"$cpal" "$(echo "$upd / $cpal" | bc -l)" "$cpals" "$(echo "$upd / $cpals" | bc -l)"
printf 'disk added by one generation: %d KiB for %d KiB of changed files (ratio %.2f); the rest: its %d directories (cannot be hard links) and its manifest (%d KiB)\n' \
	"$((after - before))" "$changed_kib" "$(echo "($after - $before) / $changed_kib" | bc -l)" \
	"$(find "$g2" -type d | wc -l)" "$(( $(stat -c %s "$LAYERCTL_ROOT/bases/big/gens/2/manifest") / 1024 ))"

# The floor: a command that changes nothing still builds a whole linked tree.
t0=$(now); $L -q base update big -- true; t1=$(now)
printf 'base update -- true (nothing changed): %.0f ms -> ratio to cp -al %.2f\n' "$(ms "$t0" "$t1")" \
	"$(echo "$(ms "$t0" "$t1") / $cpal" | bc -l)"

# 2. the same kind of change as a new upstream tree: the current tree with 1% changed
cur=$(sed -n 's/^Current=//p' "$LAYERCTL_ROOT/bases/big/base.conf")
cp -a "$LAYERCTL_ROOT/bases/big/gens/$cur/tree" "$tmp/src2"
for f in "$tmp"/src2/data/d000[5-9]/*; do echo changed >>"$f"; done
sync
before=$(kib "$LAYERCTL_ROOT/bases/big")
t0=$(now)
$L -q base update big --from "$tmp/src2"
t1=$(now)
after=$(kib "$LAYERCTL_ROOT/bases/big")
from=$(ms "$t0" "$t1")
printf 'base update --from DIR (1%% changed, every file hashed): %.0f ms; ratio to cp -al %.2f; disk added %d KiB\n' \
	"$from" "$(echo "$from / $cpal" | bc -l)" "$((after - before))"
rm -rf "$tmp/src2"

# 3. base diff of generations 1 and 2 against diff -rq of their trees
best() { # best of 3 runs of "$@", in ms
	local b="" t0 t1 v i
	for i in 1 2 3; do
		t0=$(now); "$@" >/dev/null 2>&1 || true; t1=$(now)
		v=$(ms "$t0" "$t1")
		if [ -z "$b" ] || [ "$(echo "$v < $b" | bc -l)" = 1 ]; then b=$v; fi
	done
	echo "$b"
}
n_bd=$($L base diff big 1 2 | wc -l)
n_rq=$(diff -rq "$g1" "$g2" | wc -l || true)
bd=$(best "$L" base diff big 1 2)
rq=$(best diff -rq "$g1" "$g2")
printf 'base diff of two %d-file generations: %.1f ms (%d changes); diff -rq: %.1f ms (%d lines); diff -rq / base diff = %.1fx\n' \
	"$FILES" "$bd" "$n_bd" "$rq" "$n_rq" "$(echo "$rq / $bd" | bc -l)"
