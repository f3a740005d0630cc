# shellcheck shell=bash
# Shared by every integration test: a private store per test, cleanup of
# every mount below it even when the test fails, and small assertions.
#
# A test file defines functions named test_* and ends with `run_tests`.
# Each test runs in its own subshell with `set -e`, with:
#   $T      a fresh temporary directory (removed afterwards)
#   $ROOT   the store ($T/store), exported as LAYERCTL_ROOT
#   $L      the layerctl binary
# and prints "ok NAME", "FAIL NAME" or "skip NAME: why".

set -u
L=${LAYERCTL:?LAYERCTL must point at the binary}
BUSYBOX=${BUSYBOX:-$(command -v busybox || echo /bin/busybox)}

# Unmount everything at or below $1 (deepest first), whatever state it is in.
unmount_below() {
	local prefix=$1 target
	# mountinfo field 5 is the mount point, octal-escaped (\040 for space).
	awk '{print $5}' /proc/self/mountinfo | while read -r target; do
		target=$(printf '%b' "$target")
		case "$target" in "$prefix"|"$prefix"/*) printf '%s\n' "$target" ;; esac
	done | sort -r | while read -r target; do
		umount -l "$target" 2>/dev/null || true
	done
}

# A test that failed between `start` and `stop` leaves a started child:
# kill every layerctl process of this test's runtime dir (its containers die
# with their monitor), so nothing of the test outlives it.
kill_started_children() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = layerctl ] || continue
		tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qxF "LAYERCTL_RUNTIME_DIR=$T/run" || continue
		kill -9 "${p#/proc/}" 2>/dev/null || true
	done
	remove_store_cgroups
}

# A killed monitor's cgroups (layerctl/STORE/NAME in each hierarchy, STORE
# the name of $T/run/stores/STORE) stay behind it, whether this cleanup or
# the test killed it (test-network's kill -9 of a run): removed once its
# processes have left them (up to 2 s).  Nothing there: one find, ~5 ms.
remove_store_cgroups() {
	local id i dirs
	for id in $(ls "$T/run/stores" 2>/dev/null); do
		for i in $(seq 20); do
			dirs=$(find /sys/fs/cgroup -maxdepth 5 -type d -path "*/layerctl/$id" 2>/dev/null)
			[ -z "$dirs" ] && break
			# shellcheck disable=SC2086 # one path per line, none with spaces
			find $dirs -depth -type d -exec rmdir {} + 2>/dev/null
			sleep 0.1
		done
	done
}

cleanup_test_dir() {
	[ -n "${T:-}" ] && [ -d "$T" ] || return 0
	kill_started_children
	unmount_below "$T"
	if [ "$(mounts_below "$T")" -ne 0 ]; then
		# never delete through a mount that would not go away
		echo "cleanup: mounts left below $T, not deleting it" >&2
		return 1
	fi
	rm -rf --one-file-system "$T" 2>/dev/null || { chattr -R -i "$T" 2>/dev/null; rm -rf --one-file-system "$T"; }
}

# A minimal busybox root: /bin/busybox plus applet links, /etc/os-release.
make_busybox_tree() {
	local dir=$1 applet
	mkdir -p "$dir"/{bin,sbin,etc,tmp,dev,proc,sys,run,root,var/tmp}
	cp "$BUSYBOX" "$dir/bin/busybox"
	for applet in sh ls cat echo true false mkdir rm mv cp ln chmod chown touch stat id hostname \
		mount umount ps sleep kill readlink test env grep sed head tail wc dd mknod sync uname; do
		ln -sf busybox "$dir/bin/$applet"
	done
	chmod 1777 "$dir/tmp" "$dir/var/tmp"
	printf 'ID=busybox\nNAME=BusyBox\nPRETTY_NAME="layerctl busybox test base"\n' >"$dir/etc/os-release"
	echo "root:x:0:0:root:/root:/bin/sh" >"$dir/etc/passwd"
	echo "root:x:0:" >"$dir/etc/group"
}

# The one set-up most tests share.  setup [BASE [CHILD...]]: the busybox
# tree in $T/src (a test file may define prepare_tree DIR to add to it before
# the import), imported as BASE, and the CHILDren created on it.  Without
# arguments: base bb and child c.  Quiet; any error fails the test.
setup() {
	[ $# -gt 0 ] || set -- bb c
	local base=$1 child
	shift
	make_busybox_tree "$T/src"
	if declare -F prepare_tree >/dev/null; then prepare_tree "$T/src"; fi
	$L -q base import "$base" "$T/src"
	for child in "$@"; do $L -q child create "$child" --base "$base"; done
}

fail() { echo "  $*" >&2; return 1; }
assert_eq() { [ "$1" = "$2" ] || fail "expected '$2', got '$1'${3:+ ($3)}"; }
assert_contains() { case "$1" in *"$2"*) ;; *) fail "expected output to contain '$2', got: $1" ;; esac; }
assert_file() { [ -e "$1" ] || fail "missing: $1"; }
assert_no_file() { [ ! -e "$1" ] && [ ! -L "$1" ] || fail "should not exist: $1"; }
# Run a command that must fail; its stderr is left in $ERR.
expect_fail() {
	local rc=0
	ERR=$("$@" 2>&1 >/dev/null) || rc=$?
	[ "$rc" -ne 0 ] || fail "expected failure: $*"
	[ -n "$ERR" ] || fail "failed without a message: $*"
	return 0
}
# Number of mounts at or below $1.
mounts_below() {
	local prefix=$1
	awk '{print $5}' /proc/self/mountinfo | while read -r t; do
		t=$(printf '%b' "$t")
		case "$t" in "$prefix"|"$prefix"/*) echo x ;; esac
	done | wc -l
}

run_one() {
	local name=$1 rc=0
	T=$(mktemp -d /tmp/layerctl-test.XXXXXX)
	ROOT="$T/store"
	export LAYERCTL_ROOT=$ROOT LAYERCTL_RUNTIME_DIR="$T/run"
	# Not "( ... ) || rc=$?": inside a || list bash ignores set -e, and a
	# failed assertion would not end the test.
	(
		trap 'cleanup_test_dir' EXIT
		set -e
		"$name"
	) >"$T.log" 2>&1
	rc=$?
	# The subshell's trap already cleaned up; this catches a killed subshell.
	cleanup_test_dir
	# TEST_MODE names a pass of a file that runs its tests more than once (test-security.sh).
	name="${name}${TEST_MODE:+[$TEST_MODE]}"
	if [ "$rc" -eq 77 ]; then
		echo "skip ${name#test_}: $(tail -n 1 "$T.log")"
	elif [ "$rc" -eq 0 ]; then
		echo "ok ${name#test_}"
	else
		echo "FAIL ${name#test_}"
		sed 's/^/    /' "$T.log"
	fi
	rm -f "$T.log"
}

skip() { echo "$*"; exit 77; }

run_tests() {
	local fn only=${TEST_ONLY:-}
	if [ "$(id -u)" -ne 0 ]; then
		for fn in $(declare -F | awk '{print $3}' | grep '^test_'); do
			echo "skip ${fn#test_}: needs root (real mounts and namespaces)"
		done
		exit 0
	fi
	for fn in $(declare -F | awk '{print $3}' | grep '^test_'); do
		[ -z "$only" ] || [ "${fn#test_}" = "$only" ] || continue
		run_one "$fn"
	done
}
