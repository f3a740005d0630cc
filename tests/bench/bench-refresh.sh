#!/usr/bin/env bash
# refresh cost against base size: 100 children on a 5,000-file base and on
# a 50,000-file base, the same 500 paths changed by the update (the same
# relative paths exist in both bases).  Each child has its own changes in
# its upper: 20 stale copies of changed files, 5 real conflicts, 10 files
# of its own.  Prints the time of `refresh --all` on each base, their ratio
# (aim <= 1.5: the cost follows the changed paths, not the base size) and
# the time per child.  The peer is the by-hand way an admin does it today
# (cmp of each upper file against the old base, for the same children):
# its time grows with each child's upper, and it has no conflict handling.
set -eu
L=${LAYERCTL:?}
N=${N:-100}
CHANGED=${CHANGED:-500}
. "$(dirname "$0")/lib.sh"
bench_setup refresh

# A tree of $2 files in dirs of 100: d0000/f00 ... (the changed ones are the first $CHANGED).
make_tree() {
	python3 - "$1" "$2" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "usr", "d%04d" % (i // 100))
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%02d" % (i % 100)), "w") as f:
        f.write("file %d\n" % i * 8)
EOF
}

changed_path() { printf 'usr/d%04d/f%02d' $(($1 / 100)) $(($1 % 100)); }

declare -A seconds
for size in 5000 50000; do
	base=b$size
	make_tree "$tmp/$base-1" "$size"
	$L -q base import "$base" "$tmp/$base-1"
	for c in $(seq 1 "$N"); do
		$L -q child create "$base-c$c" --base "$base"
		up=$LAYERCTL_ROOT/children/$base-c$c/upper
		for i in $(seq 0 19); do p=$(changed_path $((i * 20))); mkdir -p "$up/$(dirname "$p")"; cp -a "$tmp/$base-1/$p" "$up/$p"; done
		for i in $(seq 1 5); do p=$(changed_path $((i * 7))); mkdir -p "$up/$(dirname "$p")"; echo "child $c" >"$up/$p"; done
		mkdir -p "$up/etc"; for i in $(seq 1 10); do echo "own $i" >"$up/etc/own$i"; done
	done
	cp -a "$tmp/$base-1" "$tmp/$base-2"
	for i in $(seq 0 $((CHANGED - 1))); do echo "updated $i" >>"$tmp/$base-2/$(changed_path "$i")"; done
	$L -q base update "$base" --from "$tmp/$base-2"
	# Best of 3 (the machine is shared): between runs every child is put back with refresh --undo.
	best=
	for run in 1 2 3; do
		sync
		t0=$(now)
		$L -q refresh --base "$base" >/dev/null
		t1=$(now)
		s=$(echo "$t1 - $t0" | bc -l)
		if [ -z "$best" ] || [ "$(echo "$s < $best" | bc -l)" = 1 ]; then best=$s; fi
		[ "$run" = 3 ] || for c in $(seq 1 "$N"); do $L -q refresh --undo "$base-c$c"; done
	done
	seconds[$size]=$best
	printf 'refresh --base of %d children, %5d-file base, %d paths changed: %.3f s (%.2f ms/child)\n' \
		"$N" "$size" "$CHANGED" "${seconds[$size]}" "$(echo "${seconds[$size]} * 1000 / $N" | bc -l)"
	grep -q '^Generation=2$' "$LAYERCTL_ROOT/children/$base-c1/child.conf" || { echo "child not refreshed"; exit 1; }
done
printf 'ratio 50,000-file base / 5,000-file base: %.2f (aim <= 1.5)\n' "$(echo "${seconds[50000]} / ${seconds[5000]}" | bc -l)"

# The by-hand peer on the large base's children (now on generation 2, so
# compare against generation 1 as an admin would before refreshing): for
# every file of every upper, cmp with the old base's file.
t0=$(now)
for c in $(seq 1 "$N"); do
	(cd "$LAYERCTL_ROOT/children/b50000-c$c/upper" && find . -type f -exec cmp -s {} "$tmp/b50000-1/{}" \; ) || true
done
t1=$(now)
printf 'by hand (find + cmp over each upper): %.3f s for %d children\n' "$(echo "$t1 - $t0" | bc -l)" "$N"
