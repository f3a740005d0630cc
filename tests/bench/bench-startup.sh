#!/usr/bin/env bash
# Start-up speed (issue 16): every ratio of its aims, in one run.
#
#   run -- /bin/true      vs bwrap --unshare-all --proc /proc --dev /dev (same
#                         overlay), pre-mounted and mounted on demand (back to
#                         back, and with LAYERCTL_RUN_LINGER=0: a new overlay
#                         every run), and vs systemd-nspawn   aim >= 1.2x, >= 8x
#   --version, child list, ps   vs a C program linked only against libc
#                                                             aim <= 1.2x
#   child create          vs layerctl --version               aim <= 2x
#                         the same with fsync a no-op, and on an ext4 over
#                         tmpfs (every fsync, no device wait)   (information)
#                         in a store of 2,000 children vs a few   aim <= 1.1x
#   base import of a directory (Debian minbase)  vs cp -a + sync -f of it,
#                         IMPORTS rounds alternating, median ratio   aim >= 1x
#   diff, cached second run vs first, every base file copied up   aim >= 5x,
#                         or at least as fast as `git status` with the
#                         untracked cache over the same upper dir
#   audit of 4 children, one process vs a worker per CPU   (information)
#
# The run/start-up commands are timed interleaved (tests/bench/interleave.c:
# run 1 of every command, then run 2 of every command, ...; the machine's
# mood changes within seconds, and hyperfine times each command's runs back
# to back), ROUNDS times (default 3): the median ratio is the verdict, every
# round printed.
#
#   RUNS=300 ROUNDS=3 IMPORTS=5 [TREE=/a/minbase] [PARTS="startup import diff"] tests/bench/bench-startup.sh
set -eu
L=${LAYERCTL:?}
RUNS=${RUNS:-200}
WARMUP=${WARMUP:-20}
IMPORTS=${IMPORTS:-5}
CACHE=${BENCH_CACHE:-/var/cache/layerctl-bench}
BUSYBOX=${BUSYBOX:-$(command -v busybox || echo /bin/busybox)}
for tool in hyperfine bwrap systemd-nspawn cc git python3; do
	command -v "$tool" >/dev/null || { echo "bench-startup: needs $tool (contrib/install-deps --bench)" >&2; exit 1; }
done
. "$(dirname "$0")/lib.sh"
bench_setup startup

# hyperfine medians (steadier than means on a shared machine), in seconds, of
# every command of one run: medians CMD...
# A command that fails once in thousands of runs (a race with another
# process on the machine) would end the whole benchmark: its own output is
# shown and the run is repeated once.
medians() {
	local try
	for try in 1 2; do
		if hyperfine -N --show-output --export-json "$tmp/hf.json" "$@" >"$tmp/hf.log" 2>&1; then
			python3 -c 'import json,sys; print(" ".join("%.6f" % r["median"] for r in json.load(open(sys.argv[1]))["results"]))' "$tmp/hf.json"
			return 0
		fi
		{ echo "bench-startup: a command failed (try $try); its last words:"
		  grep -av 'Attempted to remove disk file system\|^NAME \|^[a-z] \|^ *$\|Time (\|Range (\|Benchmark \|Warning' "$tmp/hf.log" | tail -n 5; } >&2
	done
	return 1
}
# Interleaved medians (seconds, one line, in the order given) of RUNS runs of
# each command after WARMUP runs each: imedians RUNS WARMUP CMD...  A command
# is a string split at spaces; 'PREP || CMD' runs PREP untimed before each run.
# A failure is shown (the failing command run once more, its output kept) and
# the whole set is run again once.
imedians() {
	local try
	for try in 1 2; do
		if "$tmp/interleave" "$@" >"$tmp/il.out" 2>"$tmp/il.err"; then
			tr '\n' ' ' <"$tmp/il.out"
			echo
			return 0
		fi
		{ echo "bench-startup: a command failed (try $try):"; cat "$tmp/il.err"
		  failed=$(sed -n 's/^interleave: \([^:]*\): .*/\1/p' "$tmp/il.err" | head -1)
		  for c in "${@:3}"; do
			c=${c##*|| }
			if [ "${c%% *}" = "$failed" ]; then
				echo "its last words:"
				# shellcheck disable=SC2086 # the command's words
				$c 2>&1 | tail -n 5
				break
			fi
		  done; } >&2
	done
	return 1
}
ms() { python3 -c "print('%.2f' % (float('$1') * 1000))"; }
ratio() { python3 -c "print('%.2f' % (float('$1') / float('$2')))"; }
verdict() { python3 -c "print('met' if float('$1') $2 float('$3') else 'NOT met')"; }
line() { printf '  %-58s %8sx  (aim %s%s: %s)\n' "$1" "$2" "$3" "$4" "$(verdict "$2" "$3" "$4")"; }

# PARTS: which of the three to run (default all): startup import diff
PARTS=${PARTS:-startup import diff}
want() { [[ " $PARTS " == *" $1 "* ]]; }

if want startup; then
# The libc-only program: what a process start costs on this machine.
printf '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n' >"$tmp/hello.c"
cc -O2 -o "$tmp/hello" "$tmp/hello.c"
# For the child create line without the disk's part: fsync, fdatasync, syncfs do nothing.
printf '#include <unistd.h>\nint fsync(int fd) { (void)fd; return 0; }\nint fdatasync(int fd) { (void)fd; return 0; }\nint syncfs(int fd) { (void)fd; return 0; }\n' >"$tmp/nofsync.c"
cc -O2 -shared -fPIC -o "$tmp/nofsync.so" "$tmp/nofsync.c"
cc -O2 -o "$tmp/interleave" "$(dirname "$0")/interleave.c"
# The runtime dir on a tmpfs, as /run is where layerctl normally keeps it
# (state files, locks, the seccomp cache; docs/runner.md): on this host's
# disk each run's state files would be disk inodes made and freed.
mkdir -p "$LAYERCTL_RUNTIME_DIR"
mount -t tmpfs -o mode=0755,size=64m tmpfs "$LAYERCTL_RUNTIME_DIR"

# The busybox base (as bench-run.sh makes it); c mounted, d not.
src=$tmp/src
mkdir -p "$src"/{bin,sbin,etc,tmp,dev,proc,sys,run,root,usr}
cp "$BUSYBOX" "$src/bin/busybox"
for a in sh true cat ls; do ln -s busybox "$src/bin/$a"; done
printf 'ID=busybox\nNAME=BusyBox\n' >"$src/etc/os-release"
echo "root:x:0:0:root:/root:/bin/sh" >"$src/etc/passwd"
$L -q base import bb "$src"
$L -q child create c --base bb
$L -q child create d --base bb
$L -q mount c
ROOT=$LAYERCTL_ROOT/children/c/root

# The start-up commands are timed together (interleaved), ROUNDS times:
# each round's ratios come from one interleaved run, and the median over
# the rounds is the verdict, every round shown.
ROUNDS=${ROUNDS:-3}
declare -A T=() Q=()
keep() { T[$1]+=" $2"; }
keep_ratio() { Q[$1]+=" $2"; }
median() { python3 -c 'import statistics,sys; print("%.6f" % statistics.median(map(float, sys.argv[1:])))' "$@"; }
echo "== start-up, $RUNS runs each (interleaved), $ROUNDS rounds (medians of medians) =="
for _ in $(seq 1 "$ROUNDS"); do
	read -r t_run t_demand t_bwrap t_nspawn t_hello t_version t_list t_ps < <(imedians "$RUNS" "$WARMUP" \
		"$L run c -- /bin/true" \
		"$L run d -- /bin/true" \
		"bwrap --bind $ROOT / --proc /proc --dev /dev --unshare-all /bin/true" \
		"systemd-nspawn --register=no --keep-unit -q -D $ROOT /bin/true" \
		"$tmp/hello" \
		"$L --version" \
		"$L child list" \
		"$L ps")
	# Each run of d above after the first borrows the overlay the run before
	# it left lingering (docs/runner.md, "Back-to-back runs"); here every run
	# makes its own (and its background process syncs the upper on its way out).
	read -r t_fresh t_bwrap2 < <(LAYERCTL_RUN_LINGER=0 imedians "$RUNS" "$WARMUP" \
		"$L run d -- /bin/true" \
		"bwrap --bind $ROOT / --proc /proc --dev /dev --unshare-all /bin/true")
	for v in run demand bwrap fresh bwrap2 nspawn hello version list ps; do
		t=t_$v
		keep "$v" "${!t}"
	done
	keep_ratio pre "$(ratio "$t_bwrap" "$t_run")"
	keep_ratio demand "$(ratio "$t_bwrap" "$t_demand")"
	keep_ratio fresh "$(ratio "$t_bwrap2" "$t_fresh")"
	keep_ratio nspawn_pre "$(ratio "$t_nspawn" "$t_run")"
	keep_ratio nspawn_demand "$(ratio "$t_nspawn" "$t_demand")"
	keep_ratio version "$(ratio "$t_version" "$t_hello")"
	keep_ratio list "$(ratio "$t_list" "$t_hello")"
	keep_ratio ps "$(ratio "$t_ps" "$t_hello")"
done
# child create: a new child each run (x0, x1, ...), in a store of each
# round's own, and nothing removed until the benchmark ends.  A file system
# that just freed inodes makes the next creates pay for them (an ext4
# without a journal, this VM's, skips every inode freed in the last 60-300 s:
# "`child create` and `base import`" in docs/benchmarks.md), so a
# create/remove loop would measure the removals.  A create costs the same
# in a store of thousands of children (its sweep goes by in-flight records,
# not by reading children/: docs/store.md): a store of 2,000 children, made
# once, is timed beside.
big=$tmp/create-big
LAYERCTL_ROOT=$big $L -q base import bb "$src"
# A disk whose flush costs nothing, as one with a power-loss-protected cache:
# an ext4 (mkfs defaults: a journal) on a loop device over a file in a
# tmpfs.  The create still makes every fsync and the kernel writes every
# block; only the wait for the device is gone.  Information, not an aim.
mkdir -p "$tmp/flushfree" "$tmp/flushfree-mnt"
mount -t tmpfs -o size=512m tmpfs "$tmp/flushfree"
truncate -s 400M "$tmp/flushfree/img"
mkfs.ext4 -q -F "$tmp/flushfree/img"
mount -o loop "$tmp/flushfree/img" "$tmp/flushfree-mnt"
for i in $(seq 1 2000); do LAYERCTL_ROOT=$big $L -q child create k$i --base bb; done
for r in $(seq 1 "$ROUNDS"); do
	cs=$tmp/create-store$r
	LAYERCTL_ROOT=$cs $L -q base import bb "$src"
	read -r t_create t_version2 t_create_big < <(LAYERCTL_ROOT=$cs imedians "$RUNS" 5 "$L child create x{} --base bb" \
		"$L --version" "$L --root $big child create r$r-{} --base bb")
	# The same with fsync() a no-op: what the create costs besides waiting for
	# the disk (6 fsyncs on a journal-less ext4, 2 on a journalled one or xfs:
	# docs/durability.md).  Information, not an aim.
	read -r t_create_nf t_version_nf < <(LAYERCTL_ROOT=$cs LD_PRELOAD=$tmp/nofsync.so imedians "$RUNS" 5 \
		"$L child create y{} --base bb" "$L --version")
	ff=$tmp/flushfree-mnt/store$r
	LAYERCTL_ROOT=$ff $L -q base import bb "$src"
	read -r t_create_ff t_version_ff < <(LAYERCTL_ROOT=$ff imedians "$RUNS" 5 \
		"$L child create z{} --base bb" "$L --version")
	keep create "$t_create"
	keep version2 "$t_version2"
	keep_ratio create "$(ratio "$t_create" "$t_version2")"
	keep create_big "$t_create_big"
	keep_ratio create_big "$(ratio "$t_create_big" "$t_create")"
	keep_ratio create_nf "$(ratio "$t_create_nf" "$t_version_nf")"
	keep_ratio create_ff "$(ratio "$t_create_ff" "$t_version_ff")"
done
for v in run:"layerctl run c (pre-mounted)" demand:"layerctl run d (mounted on demand)" bwrap:"bwrap --unshare-all" \
	fresh:"layerctl run d, LAYERCTL_RUN_LINGER=0 (own run)" bwrap2:"bwrap --unshare-all (same run)" \
	nspawn:"systemd-nspawn" hello:"C program, libc only" version:"layerctl --version" list:"layerctl child list (2 children, 1 mounted)" \
	ps:"layerctl ps" create:"layerctl child create (own runs)" version2:"layerctl --version (same run as create)" \
	create_big:"layerctl child create, a store of 2,000 children"; do
	# shellcheck disable=SC2086 # one value per word
	printf '  %-58s %8s ms\n' "${v#*:}" "$(ms "$(median ${T[${v%%:*}]})")"
done
# line_rounds LABEL KEY OP AIM: the median ratio of the rounds, each round after it.
line_rounds() {
	# shellcheck disable=SC2086 # one value per word
	local m
	m=$(python3 -c 'import statistics,sys; print("%.2f" % statistics.median(map(float, sys.argv[1:])))' ${Q[$2]})
	line "$1" "$m" "$3" "$4"
	echo "      rounds:${Q[$2]}"
}
echo "Ratios (median of $ROUNDS rounds):"
line_rounds "bwrap / run, pre-mounted" pre ">=" 1.2
line_rounds "bwrap / run, mounted on demand (back to back: lingering)" demand ">=" 1.2
line_rounds "bwrap / run, on demand, a new overlay every run" fresh ">=" 1.2
line_rounds "systemd-nspawn / run, pre-mounted" nspawn_pre ">=" 8
line_rounds "systemd-nspawn / run, mounted on demand" nspawn_demand ">=" 8
line_rounds "--version / libc-only program" version "<=" 1.2
line_rounds "child list / libc-only program" list "<=" 1.2
line_rounds "ps / libc-only program" ps "<=" 1.2
line_rounds "child create / --version" create "<=" 2
line_rounds "child create: 2,000 children / a few (scaling)" create_big "<=" 1.1
# shellcheck disable=SC2086 # one value per word
m=$(python3 -c 'import statistics,sys; print("%.2f" % statistics.median(map(float, sys.argv[1:])))' ${Q[create_nf]})
printf '  %-58s %8sx  (information: the disk'"'"'s part left out)\n' "child create / --version, fsync() a no-op (LD_PRELOAD)" "$m"
echo "      rounds:${Q[create_nf]}"
# shellcheck disable=SC2086 # one value per word
m=$(python3 -c 'import statistics,sys; print("%.2f" % statistics.median(map(float, sys.argv[1:])))' ${Q[create_ff]})
printf '  %-58s %8sx  (information: every fsync, no device wait)\n' "child create / --version, ext4 on a loop over tmpfs" "$m"
echo "      rounds:${Q[create_ff]}"
$L -q umount c
fi

# ---- base import vs cp -a + sync -f ----
deb=${TREE:-$CACHE/minbase}   # TREE: a tree to import instead (a Debian minbase)
if [ ! -d "$deb" ]; then
	mkdir -p "$CACHE"
	if debootstrap --variant=minbase bookworm "$CACHE/minbase.tmp" http://deb.debian.org/debian >"$CACHE/debootstrap.log" 2>&1; then
		mv "$CACHE/minbase.tmp" "$deb"
	else
		echo "NOTE: debootstrap failed (see $CACHE/debootstrap.log): importing /usr/share instead"
		rm -rf "$CACHE/minbase.tmp"
		deb=/usr/share
	fi
fi
if want import; then
echo "== base import of $deb vs cp -a + sync -f, $IMPORTS rounds alternating, each on a fresh ext4 =="
# Both start from a warm page cache.
tar -C "$deb" -cf - . | cat >/dev/null
clock() { local t0 t1; t0=$(now); "$@" >/dev/null; t1=$(now); python3 -c "print($t1 - $t0)"; }
# Every timed command writes to an ext4 of its own, made just before (mkfs
# defaults, a loop device over a file in $tmp, so on this host's disk): on a
# file system that has seen removals, whichever command comes next pays for
# them (ext4 without a journal will not reuse an inode freed in the last
# 60-300 s and scans past each one, up to 70% of both commands' CPU time on
# the benchmark VM, docs/benchmarks.md), and earlier benchmarks removed
# trees.  Who goes first alternates too.
on_fresh_ext4() {
	local img=$tmp/fresh.img mnt=$tmp/fresh
	truncate -s $((4 * $(du -sm "$deb" | cut -f1) + 256))M "$img"
	mkfs.ext4 -q -F "$img" && mkdir -p "$mnt" && mount -o loop "$img" "$mnt" || return 1
	LAYERCTL_ROOT=$mnt/store LAYERCTL_RUNTIME_DIR=$mnt/run FRESH=$mnt "$@"
	local rc=$?
	umount "$mnt" && rm -f "$img"
	return $rc
}
import_round() { on_fresh_ext4 clock "$L" -q base import imp "$deb"; }
copy_round() { on_fresh_ext4 clock sh -c 'cp -a "$1" "$FRESH/copy" && sync -f "$FRESH/copy"' sh "$deb"; }
ratios=()
for i in $(seq 1 "$IMPORTS"); do
	if [ $((i % 2)) -eq 1 ]; then
		ti=$(import_round) && tc=$(copy_round); first=import
	else
		tc=$(copy_round) && ti=$(import_round); first=cp
	fi
	[ -n "$ti" ] && [ -n "$tc" ] || { echo "bench-startup: an import round failed" >&2; exit 1; }
	ratios+=("$(ratio "$tc" "$ti")")
	printf '  round %d (%s first): import %.2f s, cp -a + sync -f %.2f s, ratio %s\n' "$i" "$first" "$ti" "$tc" "${ratios[-1]}"
done
med=$(python3 -c 'import statistics,sys; print("%.2f" % statistics.median(map(float, sys.argv[1:])))' "${ratios[@]}")
line "(cp -a + sync -f) / base import, median" "$med" ">=" 1
fi
want diff || exit 0
# The tree the diff benchmark below needs, in the benchmark's own store (untimed).
$L -q base import "imp$IMPORTS" "$deb"

# ---- diff: cached second run, every base file copied up ----
echo "== diff of a child whose every base file was copied up unchanged =="
$L -q child create cu --base "imp$IMPORTS"
$L -q mount cu
python3 - "$LAYERCTL_ROOT/children/cu/root" <<'EOF'
import os, sys
for root, dirs, names in os.walk(sys.argv[1]):
    for n in names:
        p = os.path.join(root, n)
        if os.path.isfile(p) and not os.path.islink(p) and os.access(p, os.W_OK):
            with open(p, "r+b"):
                pass
EOF
$L -q umount cu
upper=$LAYERCTL_ROOT/children/cu/upper
sleep 1   # past the hash cache's racy window
$L diff cu >/dev/null || true
# git status over the same upper dir, its repository outside it, the untracked cache on.
g=(git --git-dir="$tmp/upper.git" --work-tree="$upper")
"${g[@]}" init -q
"${g[@]}" config core.untrackedCache true
"${g[@]}" config core.fsmonitor false
"${g[@]}" config gc.auto 0   # no background gc writing into the repository while the cleanup removes it
"${g[@]}" config maintenance.auto false
"${g[@]}" add -A >/dev/null 2>&1
"${g[@]}" -c user.name=b -c user.email=b@b commit -qm base >/dev/null
"${g[@]}" status --porcelain >/dev/null
# Interleaved (one run of each in turn, as the start-up part): the first run
# (its hash cache removed before it, untimed), the cached second run, git.
[ -x "$tmp/interleave" ] || cc -O2 -o "$tmp/interleave" "$(dirname "$0")/interleave.c"
read -r t_first t_second t_git < <(imedians 20 2 "rm -f $LAYERCTL_ROOT/children/cu/hash-cache || $L diff cu" \
	"$L diff cu" "git --git-dir=$tmp/upper.git --work-tree=$upper status --porcelain")
printf '  %-58s %8s ms\n' "diff, first run (no hash cache)" "$(ms "$t_first")" "diff, second run (cached)" "$(ms "$t_second")" \
	"git status (untracked cache), same upper dir" "$(ms "$t_git")"
line "diff first / diff second" "$(ratio "$t_first" "$t_second")" ">=" 5
line "git status / diff second" "$(ratio "$t_git" "$t_second")" ">=" 1

# ---- audit: several children, in one process and in one worker per CPU ----
echo "== audit of 4 children (cu, and three with a share of the base copied up) =="
for i in 2 3 4; do
	$L -q child create "cu$i" --base "imp$IMPORTS"
	$L -q mount "cu$i"
	python3 - "$LAYERCTL_ROOT/children/cu$i/root" "$i" <<'EOF'
import os, sys
n = 0
for root, dirs, names in os.walk(sys.argv[1]):
    for name in names:
        p = os.path.join(root, name)
        n += 1
        if n % int(sys.argv[2]) == 0 and os.path.isfile(p) and not os.path.islink(p) and os.access(p, os.W_OK):
            with open(p, "r+b"):
                pass
EOF
	$L -q umount "cu$i"
done
sleep 1   # past the hash cache's racy window
$L audit >/dev/null
[ -x "$tmp/interleave" ] || cc -O2 -o "$tmp/interleave" "$(dirname "$0")/interleave.c"
read -r t_audit1 t_auditn < <(imedians 30 3 "$L audit --jobs 1" "$L audit")
cpus=$(nproc)
printf '  %-58s %8s ms\n' "audit --jobs 1 (4 children, hash caches filled)" "$(ms "$t_audit1")" \
	"audit (one worker process per CPU: $cpus)" "$(ms "$t_auditn")"
printf '  %-58s %8sx  (information: %s CPUs)\n' "audit --jobs 1 / audit" "$(ratio "$t_audit1" "$t_auditn")" "$cpus"
