#!/usr/bin/env bash
# Images as bases (issue 11): what --keep-image saves, what an image lower
# costs a run, and what the progress line costs.
#
#   TREE=DIR   the tree to use (e.g. a debootstrap --variant=minbase); without
#              it, a minbase-sized tree is built: busybox + /usr/share/doc
#              + /usr/share/man (~150-200 MiB, thousands of files).
#   RUNS=N     runs of `run -- /bin/true` per lower (default 20)
#
# 1. import of the tree as a squashfs (base export's, with its manifest and
#    checksum) with --keep-image --verify vs a directory import of the same
#    tree (aim: >= 20x faster), the same image without its checksum file, and
#    the store's growth vs the image's size;
# 2. `run c -- /bin/true` on a child of the image lower vs of the directory
#    lower (aim: <= 1.1x);
# 3. directory import with stderr on a terminal (progress line drawn) vs not.
set -eu
L=${LAYERCTL:?}
RUNS=${RUNS:-20}
. "$(dirname "$0")/lib.sh"
bench_setup image
elapsed() { echo "$2 - $1" | bc -l; }

tree=${TREE:-}
if [ -z "$tree" ]; then
	tree=$tmp/tree
	mkdir -p "$tree"/{bin,etc,tmp,usr/share,dev,proc,sys,run}
	cp "$(command -v busybox)" "$tree/bin/busybox"
	for a in sh true cat ls; do ln -s busybox "$tree/bin/$a"; done
	echo "root:x:0:0:root:/root:/bin/sh" >"$tree/etc/passwd"
	cp -a /usr/share/doc /usr/share/man "$tree/usr/share/" 2>/dev/null || true
fi
entries=$(find "$tree" -xdev | wc -l)
tree_mb=$(du -sm --apparent-size "$tree" | cut -f1)

# 1. A directory import, then the publisher's step (not timed): base export as
# squashfs writes the image, FILE.manifest and FILE.xxh128.  The import on
# "another host" is --keep-image --verify: the image copied into the store and
# checked against FILE.xxh128, the exporter's manifest taken (nothing of the
# image read through its file system).  The same image without its checksum
# file is hashed through its decompression (every file read).
# Page cache warm for both: the tree read once before, the image just written.
find "$tree" -xdev -type f -exec cat {} + >/dev/null 2>&1 || true
sync
t2=$(now); $L -q base import dir "$tree"; t3=$(now)
$L -q base export dir "$tmp/tree.squashfs"
img_bytes=$(stat -c %s "$tmp/tree.squashfs")
printf 'tree: %s entries, %s MiB; squashfs image: %.1f MiB\n' "$entries" "$tree_mb" "$(echo "$img_bytes / 1048576" | bc -l)"
sync
t0=$(now); $L -q base import --keep-image --verify img "$tmp/tree.squashfs"; t1=$(now)
grown=$(du -sb "$LAYERCTL_ROOT/bases/img" | cut -f1)
cp "$tmp/tree.squashfs" "$tmp/plain.squashfs"
sync
t4=$(now); $L -q base import --keep-image img2 "$tmp/plain.squashfs"; t5=$(now)
ki=$(elapsed "$t0" "$t1"); di=$(elapsed "$t2" "$t3"); kh=$(elapsed "$t4" "$t5")
printf 'import --keep-image --verify (exporter'"'"'s manifest): %.3fs; directory import: %.3fs; ratio %.1fx (aim >= 20x)\n' \
	"$ki" "$di" "$(echo "$di / $ki" | bc -l)"
printf 'import --keep-image without a checksum file (every file hashed through the image): %.3fs; ratio %.1fx\n' \
	"$kh" "$(echo "$di / $kh" | bc -l)"
printf 'store growth with --keep-image: %.1f MiB for a %.1f MiB image (%.3fx); directory import: %s MiB\n' \
	"$(echo "$grown / 1048576" | bc -l)" "$(echo "$img_bytes / 1048576" | bc -l)" "$(echo "$grown / $img_bytes" | bc -l)" \
	"$(du -sm "$LAYERCTL_ROOT/bases/dir" | cut -f1)"

# 2. run -- /bin/true on each lower (each run mounts the overlay, and for the image the image, in its namespace).
$L -q child create on-img --base img
$L -q child create on-dir --base dir
for c in on-img on-dir on-img on-dir; do $L -q run "$c" -- /bin/true; done # warm up
t0=$(now); for i in $(seq "$RUNS"); do $L -q run on-img -- /bin/true; done; t1=$(now)
t2=$(now); for i in $(seq "$RUNS"); do $L -q run on-dir -- /bin/true; done; t3=$(now)
ri=$(echo "($t1 - $t0) * 1000 / $RUNS" | bc -l); rd=$(echo "($t3 - $t2) * 1000 / $RUNS" | bc -l)
printf 'run -- /bin/true: image lower %.2f ms, directory lower %.2f ms, ratio %.2f (aim <= 1.1)\n' "$ri" "$rd" "$(echo "$ri / $rd" | bc -l)"
# with the image already mounted (a mounted sibling keeps it): the mount of the image itself is what differs
$L -q child create keeper --base img
$L -q mount keeper
t0=$(now); for i in $(seq "$RUNS"); do $L -q run on-img -- /bin/true; done; t1=$(now)
$L -q umount keeper
rm2=$(echo "($t1 - $t0) * 1000 / $RUNS" | bc -l)
printf 'run -- /bin/true, image already mounted by a sibling: %.2f ms, ratio %.2f to the directory lower\n' "$rm2" "$(echo "$rm2 / $rd" | bc -l)"

# 3. the progress line: the same directory import on a terminal (script(1)) and not.
# script's input is a fifo held open, so it never types EOF nor spins on it.
mkfifo "$tmp/in"
on_tty() {
	exec 3<>"$tmp/in"
	script -qfec "$1" /dev/null <"$tmp/in" >/dev/null
	exec 3>&-
}
best_tty=999 best_plain=999
# Each import starts after the previous base's removal is synced; the order alternates.
fresh() { $L -q base rm p 2>/dev/null || true; sync; }
for i in 1 2 3; do
	if [ $((i % 2)) = 1 ]; then
		fresh; t0=$(now); on_tty "$L base import p $tree"; t1=$(now)
		fresh; t2=$(now); $L base import p "$tree" 2>/dev/null; t3=$(now)
	else
		fresh; t2=$(now); $L base import p "$tree" 2>/dev/null; t3=$(now)
		fresh; t0=$(now); on_tty "$L base import p $tree"; t1=$(now)
	fi
	a=$(elapsed "$t0" "$t1"); b=$(elapsed "$t2" "$t3")
	best_tty=$(echo "if ($a < $best_tty) $a else $best_tty" | bc -l)
	best_plain=$(echo "if ($b < $best_plain) $b else $best_plain" | bc -l)
done
printf 'directory import, best of 3: on a terminal (progress drawn) %.3fs, not %.3fs, ratio %.3f\n' \
	"$best_tty" "$best_plain" "$(echo "$best_tty / $best_plain" | bc -l)"
