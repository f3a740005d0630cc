#!/usr/bin/env bash
# Writes src/startup-functions.txt: the functions layerctl's start-up
# commands run, in the order they are first entered (the Makefile has gold
# place them together: docs/benchmarks.md, "Code placement").  Run it after
# a change to a start-up path; a stale list only costs speed (names gone
# from the sources are caught by tests/integration/test-dlopen.sh).
#
#   tests/bench/startup-functions.sh [OUT]      (as root: it mounts and runs)
#
# How: a build compiled with -finstrument-functions and linked with
# tests/bench/func-trace.c, in a temporary BUILD dir, runs the commands the
# start-up benchmark times on a busybox base (child list, ps, --version,
# run of a mounted and of an unmounted child, child create, child rm); each
# function's first entry is resolved to its name with addr2line.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/src/startup-functions.txt}
BUSYBOX=${BUSYBOX:-$(command -v busybox || echo /bin/busybox)}
for tool in addr2line cc make; do
	command -v "$tool" >/dev/null || { echo "startup-functions: needs $tool" >&2; exit 1; }
done
. "$top/tests/bench/lib.sh"
bench_setup funcs

build=$tmp/build
cc -O2 -c -o "$tmp/func-trace.o" "$top/tests/bench/func-trace.c"
CFLAGS='-O2 -g -finstrument-functions' LDFLAGS="$tmp/func-trace.o" \
	make -s -C "$top" BUILD="$build" "$build/layerctl" >/dev/null
L=$build/layerctl

src=$tmp/src
mkdir -p "$src"/{bin,etc,tmp,dev,proc,sys,run,root}
cp "$BUSYBOX" "$src/bin/busybox"
for a in sh true; do ln -s busybox "$src/bin/$a"; done
echo "root:x:0:0:root:/root:/bin/sh" >"$src/etc/passwd"
$L -q base import bb "$src"
$L -q child create c --base bb
$L -q child create d --base bb
$L -q mount c

export LAYERCTL_FUNC_TRACE=$tmp/trace
# The order of the list: the commands whose start-up is timed, the
# shortest first.
$L child list >/dev/null
$L ps >/dev/null
$L --version >/dev/null
$L run c -- /bin/true
$L run d -- /bin/true
$L run d -- /bin/true
$L -q child create e --base bb
$L -q child rm e
unset LAYERCTL_FUNC_TRACE

{
	echo "# Functions the start-up commands run, first entered first: gold places"
	echo "# them together (Makefile, STARTUP_FUNCS).  Made by"
	echo "# tests/bench/startup-functions.sh; names that no longer exist are"
	echo "# caught by tests/integration/test-dlopen.sh."
	awk '!seen[$0]++' "$tmp/trace" | addr2line -f -e "$L" | awk 'NR % 2 == 1' |
		grep -v -e '^??' -e '^__cyg_profile' | awk '!seen[$0]++'
} >"$out.tmp"
mv "$out.tmp" "$out"
echo "startup-functions: $(grep -vc '^#' "$out") functions in $out"
