#!/usr/bin/env bash
# What a resource limit costs a container's start: `layerctl run CHILD --
# /bin/true` with a MemoryMax= against the same run without, in the same
# hyperfine run.  Two rounds:
#
#   back to back   runs follow each other at once
#   spaced         300 ms of sleep before each run (--prepare, not timed)
#
# Why two: on a hybrid host (v1 memory controller) the container must join
# the v1 memory hierarchy.  A migration through cgroup.procs takes the
# kernel's cgroup_threadgroup_rwsem for writing, which waits for an RCU
# grace period (rcu_sync) unless one has just passed: back to back the
# previous run's grace period is still warm, spaced every run would pay a
# whole one (~20 ms on an idle 2-vCPU machine).  layerctl writes "0" to
# the v1 `tasks` file from the container's one-thread first process, which
# the kernel serves without that lock: the spaced round shows whether that
# holds.  A pure cgroup2 host has no migration at all (CLONE_INTO_CGROUP).
# See docs/runner.md, "Resource limits".
#
#   RUNS=100 tests/bench/bench-limits.sh
set -eu
L=${LAYERCTL:?}
RUNS=${RUNS:-100}
WARMUP=${WARMUP:-10}
command -v hyperfine >/dev/null || { echo "bench-limits: needs hyperfine" >&2; exit 1; }
BUSYBOX=${BUSYBOX:-$(command -v busybox || echo /bin/busybox)}
. "$(dirname "$0")/lib.sh"
bench_setup limits

src=$tmp/src
mkdir -p "$src"/{bin,sbin,etc,tmp,dev,proc,sys,run,root}
cp "$BUSYBOX" "$src/bin/busybox"
for a in sh true; do ln -s busybox "$src/bin/$a"; done
printf 'ID=busybox\n' >"$src/etc/os-release"
$L -q base import bb "$src"
$L -q child create c --base bb
$L -q mount c

json=$tmp/results.json
mean() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print(' '.join('%.6f' % x['mean'] for x in r))" "$1"; }

echo "run -- /bin/true with and without MemoryMax=, $RUNS runs each (hyperfine, mean):"
hyperfine -N --style none --warmup "$WARMUP" -r "$RUNS" --export-json "$json.1" \
	"$L run c -- /bin/true" "$L run c --property MemoryMax=1G -- /bin/true" >/dev/null
read -r t_plain t_mem < <(mean "$json.1")
hyperfine -N --style none --warmup 3 -r "$((RUNS / 4 + 1))" --prepare 'sleep 0.3' --export-json "$json.2" \
	"$L run c -- /bin/true" "$L run c --property MemoryMax=1G -- /bin/true" >/dev/null
read -r s_plain s_mem < <(mean "$json.2")

row() {
	python3 -c "
a, b = float('$2'), float('$3')
print('  %-14s without %7.2f ms   with %7.2f ms   ratio %5.2fx   difference %+6.2f ms' % ('$1', a*1e3, b*1e3, b/a, (b-a)*1e3))"
}
row "back to back" "$t_plain" "$t_mem"
row "spaced" "$s_plain" "$s_mem"
echo "Aim: the limit adds under 1 ms."
