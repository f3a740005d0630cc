# shellcheck shell=bash
# Shared by the benchmarks: a private temporary store, every mount below it
# removed and the directory deleted on exit, and a clock.
#
#   bench_setup NAME     sets $tmp (/tmp/layerctl-bench-NAME.XXXXXX) and
#                        exports LAYERCTL_ROOT=$tmp/store and
#                        LAYERCTL_RUNTIME_DIR=$tmp/run
#   now                  seconds since the epoch, with nanoseconds

bench_cleanup() {
	awk '{print $5}' /proc/self/mountinfo | while read -r t; do
		t=$(printf '%b' "$t")
		case "$t" in "$tmp"/*) echo "$t" ;; esac
	done | sort -r | xargs -r -n1 umount -l
	rm -rf "$tmp"
}

bench_setup() {
	tmp=$(mktemp -d "/tmp/layerctl-bench-$1.XXXXXX")
	trap bench_cleanup EXIT
	export LAYERCTL_ROOT="$tmp/store" LAYERCTL_RUNTIME_DIR="$tmp/run"
}

now() { date +%s.%N; }
