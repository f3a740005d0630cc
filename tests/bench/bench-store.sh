#!/usr/bin/env bash
# Child creation cost against base size, and mount/umount of many children.
#
#   200 children of a tiny busybox base vs 200 of a large base (a copy of
#   /usr, ~1 GiB or whatever this machine has): time per create, disk per
#   child.  The peer is the by-hand way: mkdir upper work + cp of nothing
#   (the floor), and `cp -a --reflink=auto` of the base (what a copy-based
#   tool pays).  Then `layerctl mount --all` / `umount --all` vs a shell loop
#   of `mount -t overlay` / `umount` over the same children.
set -eu
L=${LAYERCTL:?}
N=${N:-200}
. "$(dirname "$0")/lib.sh"
bench_setup store
elapsed() { echo "$2 - $1" | bc -l; }

mkdir -p "$tmp/small/bin"; cp /bin/busybox "$tmp/small/bin/"
$L -q base import small "$tmp/small"
$L -q base import large /usr
large_mb=$(du -sm "$LAYERCTL_ROOT/bases/large" | cut -f1)

for base in small large; do
	t0=$(now)
	for i in $(seq 1 "$N"); do $L -q child create "$base-$i" --base "$base"; done
	t1=$(now)
	per=$(echo "($t1 - $t0) * 1000 / $N" | bc -l)
	disk=$(du -s --block-size=1K "$LAYERCTL_ROOT"/children/"$base"-* | awk '{s+=$1} END {printf "%.1f", s/NR}')
	printf 'child create on %-5s base (%5s MiB): %6.2f ms/child, %s KiB/child\n' "$base" \
		"$([ $base = small ] && du -sm "$LAYERCTL_ROOT/bases/small" | cut -f1 || echo "$large_mb")" "$per" "$disk"
	eval "per_$base=$per"
done
printf 'ratio create(large)/create(small): %.2f (1.0 = independent of base size)\n' "$(echo "$per_large / $per_small" | bc -l)"

# the copy-based peer, for 3 children only (it is slow)
t0=$(now)
for i in 1 2 3; do cp -a --reflink=auto "$LAYERCTL_ROOT/bases/large/gens/1/tree" "$tmp/copy-$i"; done
t1=$(now)
copy_ms=$(echo "($t1 - $t0) * 1000 / 3" | bc -l)
printf 'cp -a of the large base: %.0f ms/child -> layerctl is %.0fx cheaper\n' "$copy_ms" "$(echo "$copy_ms / $per_large" | bc -l)"
rm -rf "$tmp"/copy-*

t0=$(now); $L -q mount --all; t1=$(now)
t2=$(now); $L -q umount --all; t3=$(now)
lm=$(elapsed "$t0" "$t1"); lu=$(elapsed "$t2" "$t3")
# peer: mount(8) in a shell loop over the same children
t0=$(now)
for d in "$LAYERCTL_ROOT"/children/*/; do
	c=$(basename "$d"); b=${c%-*}
	mount -t overlay overlay -o "lowerdir=$LAYERCTL_ROOT/bases/$b/gens/1/tree,upperdir=${d}upper,workdir=${d}work,index=off,metacopy=off,redirect_dir=off" "${d}root"
done
t1=$(now)
for d in "$LAYERCTL_ROOT"/children/*/; do umount "${d}root"; done
t2=$(now)
pm=$(elapsed "$t0" "$t1"); pu=$(elapsed "$t1" "$t2")
n=$((2 * N))
printf 'mount %d children: layerctl %.2fs, mount(8) loop %.2fs, ratio %.2f\n' "$n" "$lm" "$pm" "$(echo "$lm / $pm" | bc -l)"
printf 'umount %d children: layerctl %.2fs, umount(8) loop %.2fs, ratio %.2f\n' "$n" "$lu" "$pu" "$(echo "$lu / $pu" | bc -l)"
