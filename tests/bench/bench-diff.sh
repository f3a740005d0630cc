#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Benchmark of the drift engine against its peers, on the same data in the
# same run (needs root: real overlay mounts; page cache drops for cold runs).
#
#   * `layerctl diff` vs `diff -rq BASE MERGED` (the naive way), cold and warm
#   * `layerctl diff` second run (hash cache) vs first run (no cache)
#   * hashing throughput: `layerctl base verify` vs `xxhsum -H2` over the
#     same files (whole tree, and one large file)
#   * peak memory for a 1,000,000-entry manifest (build, print, diff)
#
# Base: a Debian bookworm minbase made by debootstrap, cached in
# /var/cache/layerctl-bench/minbase (BENCH_CACHE overrides); when debootstrap
# cannot run, /usr is copied instead and the output says so.
# The child changes ~5% of the base's files (half appended to, half
# rewritten in place at the same size, so both size and hash checks are
# exercised), re-opens ~1% for writing without change (redundant copies),
# and adds 2,000 files.
#
# Env: LAYERCTL (binary), BENCH_CACHE, BENCH_DIR (scratch, default /var/tmp),
#      BENCH_MILLION=0 skips the 1M-entry manifest, BENCH_RUNS (default 10).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
L=${LAYERCTL:-$here/../../layerctl}
L=$(readlink -f "$L")
CACHE=${BENCH_CACHE:-/var/cache/layerctl-bench}
RUNS=${BENCH_RUNS:-10}
[ "$(id -u)" -eq 0 ] || { echo "bench-diff: needs root (overlay mounts, drop_caches)"; exit 1; }
for tool in hyperfine xxhsum python3; do
	command -v "$tool" >/dev/null || { echo "bench-diff: needs $tool (contrib/install-deps --bench)"; exit 1; }
done

W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/layerctl-bench.XXXXXX")
cleanup() {
	awk '{print $5}' /proc/self/mountinfo | grep "^$W" | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "$W"
}
trap cleanup EXIT
export LAYERCTL_ROOT=$W/store LAYERCTL_RUNTIME_DIR=$W/run

say() { printf '%s\n' "$*"; }
# mean seconds of a hyperfine run: mean CMD... (extra hyperfine args before --)
mean() {
	local json=$W/hf.json
	hyperfine -N --style none --export-json "$json" "$@" >/dev/null 2>&1
	python3 -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["results"][0]["mean"])' "$json"
}
ratio() { python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# seconds of one cold run of CMD (output discarded, exit status ignored)
cold() {
	drop_caches
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null 2>&1 || true
	t1=$(date +%s%N)
	python3 -c "print('%.4f' % (($t1 - $t0) / 1e9))"
}
cold3() { # best of three cold runs
	local best=999999 t
	for _ in 1 2 3; do
		t=$(cold "$@")
		best=$(python3 -c "print(min($best, $t))")
	done
	echo "$best"
}

# ---- the base ----
src=$CACHE/minbase
if [ ! -d "$src" ]; then
	mkdir -p "$CACHE"
	if debootstrap --variant=minbase bookworm "$CACHE/minbase.tmp" http://deb.debian.org/debian >"$CACHE/debootstrap.log" 2>&1; then
		mv "$CACHE/minbase.tmp" "$src"
	else
		say "NOTE: debootstrap failed (see $CACHE/debootstrap.log): using a copy of /usr as the base"
		rm -rf "$CACHE/minbase.tmp"
		src=/usr
	fi
fi
say "layerctl diff benchmark — base: $src"
t0=$(date +%s%N)
"$L" -q base import deb "$src"
t1=$(date +%s%N)
tree=$LAYERCTL_ROOT/bases/deb/gens/1/tree
read -r nfiles nentries bytes < <(python3 - "$tree" <<'EOF'
import os, sys
files = entries = size = 0
for root, dirs, names in os.walk(sys.argv[1]):
    entries += len(dirs) + len(names)
    for n in names:
        p = os.path.join(root, n)
        if os.path.isfile(p) and not os.path.islink(p):
            files += 1
            size += os.lstat(p).st_size
print(files, entries, size)
EOF
)
say "base: $nentries entries, $nfiles regular files, $((bytes / 1048576)) MiB; import + manifest $(python3 -c "print('%.1f' % (($t1 - $t0) / 1e9))") s"

# ---- the child ----
"$L" -q child create c --base deb
"$L" -q mount c
M=$LAYERCTL_ROOT/children/c/root
python3 - "$M" <<'EOF'
import os, sys
m = sys.argv[1]
files = []
for root, dirs, names in os.walk(m):
    dirs.sort()
    for n in sorted(names):
        p = os.path.join(root, n)
        if os.path.isfile(p) and not os.path.islink(p) and os.access(p, os.W_OK):
            files.append(p)
changed = same = 0
for i, p in enumerate(files):
    if i % 20 == 0:        # ~5% changed
        if (i // 20) % 2:
            with open(p, "ab") as f:
                f.write(b"x")
        else:
            with open(p, "r+b") as f:
                b = f.read(1)
                f.seek(0)
                f.write(bytes([(b[0] ^ 0xff) if b else 0x41]))
        changed += 1
    elif i % 100 == 7:     # ~1% copied up without a change
        with open(p, "r+b"):
            pass
        same += 1
os.makedirs(os.path.join(m, "opt/bench"))
for i in range(2000):
    d = os.path.join(m, "opt/bench/d%02d" % (i // 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%04d" % i), "wb") as f:
        f.write(os.urandom(4096))
print("child: %d files changed, %d redundant copies, 2000 added" % (changed, same))
EOF
sleep 1 # past the hash cache's racy window
"$L" diff c --summary --no-cache | sed 's/^/  /'
rm -f "$LAYERCTL_ROOT/children/c/hash-cache"

# ---- diff vs diff -rq ----
say ""
say "== layerctl diff vs diff -rq (same base, same merged view) =="
c_l=$(cold3 "$L" diff c --no-cache)
c_d=$(cold3 diff -rq "$tree" "$M")
say "cold  (best of 3, caches dropped): layerctl ${c_l}s   diff -rq ${c_d}s   ratio $(ratio "$c_d" "$c_l")x"
w_l=$(mean --warmup 2 --runs "$RUNS" "$L diff c --no-cache")
w_d=$(mean --warmup 1 --runs 3 -i "diff -rq $tree $M")
say "warm  (mean):                      layerctl ${w_l}s   diff -rq ${w_d}s   ratio $(ratio "$w_d" "$w_l")x   (aim >= 10x)"

# ---- hash cache ----
say ""
say "== hash cache: first run vs second run (warm page cache) =="
first=$(mean --runs "$RUNS" --prepare "rm -f $LAYERCTL_ROOT/children/c/hash-cache" "$L diff c")
"$L" diff c >/dev/null
second=$(mean --warmup 1 --runs "$RUNS" "$L diff c")
say "first ${first}s   second ${second}s   ratio $(ratio "$first" "$second")x   (aim >= 5x)"
"$L" diff c --summary --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print("  second run: hashed %d files (%d bytes), %d cache hits" % (d["hashed_files"], d["hashed_bytes"], d["cache_hits"]))'
say "  (the first run already skips hashing every file whose size differs from the base's,"
say "   so on this child the cache has little left to save; the next case is where it matters)"
# A child that copied up every file without changing it (what `chown -R` to
# the same owner, or a package reinstall, leaves): every copy must be hashed.
"$L" -q child create cu --base deb
"$L" -q mount cu
python3 - "$LAYERCTL_ROOT/children/cu/root" <<'EOF2'
import os, sys
for root, dirs, names in os.walk(sys.argv[1]):
    for n in names:
        p = os.path.join(root, n)
        if os.path.isfile(p) and not os.path.islink(p) and os.access(p, os.W_OK):
            with open(p, "r+b"):
                pass
EOF2
sleep 1
first=$(mean --runs 5 --prepare "rm -f $LAYERCTL_ROOT/children/cu/hash-cache" "$L diff cu")
"$L" diff cu >/dev/null
second=$(mean --warmup 1 --runs "$RUNS" "$L diff cu")
say "every file copied up unchanged ($nfiles copies): first ${first}s   second ${second}s   ratio $(ratio "$first" "$second")x   (aim >= 5x)"
rm -f "$LAYERCTL_ROOT/children/cu/hash-cache"
first_cold=$(cold "$L" diff cu)
say "  first run with a cold page cache (what an hourly audit meets after changes): ${first_cold}s   ratio to the warm second run $(ratio "$first_cold" "$second")x"

# ---- hashing throughput ----
say ""
say "== hashing throughput vs xxhsum -H2 (warm page cache) =="
find "$tree" -type f -print0 >"$W/files"
v_l=$(mean --warmup 1 --runs 5 "$L base verify deb")
v_x=$(mean --warmup 1 --runs 5 -- "xargs -0 -a $W/files xxhsum -H2")
say "whole tree ($((bytes / 1048576)) MiB, $nfiles files): layerctl base verify ${v_l}s ($(python3 -c "print('%.0f' % ($bytes / 1048576 / $v_l))") MiB/s)   xxhsum ${v_x}s ($(python3 -c "print('%.0f' % ($bytes / 1048576 / $v_x))") MiB/s)   layerctl at $(python3 -c "print('%.0f' % (100 * $v_x / $v_l))")% of xxhsum (aim >= 80%)"
mkdir -p "$W/big"
dd if=/dev/urandom of="$W/big/blob" bs=1M count=512 status=none
"$L" -q base import big "$W/big"
blob=$LAYERCTL_ROOT/bases/big/gens/1/tree/blob
b_l=$(mean --warmup 1 --runs 5 "$L base verify big")
b_x=$(mean --warmup 1 --runs 5 "xxhsum -H2 $blob")
say "one 512 MiB file: layerctl $(python3 -c "print('%.0f' % (512 / $b_l))") MiB/s   xxhsum $(python3 -c "print('%.0f' % (512 / $b_x))") MiB/s   layerctl at $(python3 -c "print('%.0f' % (100 * $b_x / $b_l))")% of xxhsum"
"$L" -q base rm big
rm -rf "$W/big"

# ---- a 1,000,000-entry manifest ----
if [ "${BENCH_MILLION:-1}" != 0 ]; then
	say ""
	say "== peak memory with a 1,000,000-entry manifest =="
	python3 - "$W/million" <<'EOF'
import os, sys
root = sys.argv[1]
os.mkdir(root)
for d in range(1000):
    dp = os.path.join(root, "dir%03d" % d)
    os.mkdir(dp)
    for f in range(999):
        os.close(os.open(os.path.join(dp, "file-with-a-typical-name-%04d.conf" % f), os.O_CREAT | os.O_WRONLY, 0o644))
EOF
	rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n 1; }
	m_import=$(rss "$L" -q base import million "$W/million")
	rm -rf "$W/million"
	mf=$LAYERCTL_ROOT/bases/million/gens/1/manifest
	say "manifest: $(stat -c %s "$mf" | awk '{printf "%.1f MiB", $1/1048576}') for $("$L" base manifest million | wc -l) entries"
	"$L" -q child create cm --base million
	"$L" -q mount cm
	echo x >"$LAYERCTL_ROOT/children/cm/root/dir500/file-with-a-typical-name-0500.conf"
	m_diff=$(rss "$L" diff cm)
	m_print=$(rss "$L" base manifest million)
	t_diff=$(mean --warmup 1 --runs 5 "$L diff cm")
	say "peak RSS: import+build $((m_import / 1024)) MiB   diff (mmap + checks) $((m_diff / 1024)) MiB   manifest print $((m_print / 1024)) MiB"
	say "diff of a one-file child against the 1M-entry manifest: ${t_diff}s"
	"$L" -q umount cm
fi
