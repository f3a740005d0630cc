#!/usr/bin/env bash
# logs, login and shell on a started busybox child (busybox init, getty and
# login; root without a password in this test base).  The systemd journal
# part of logs (--journal) needs a systemd base: checked by hand only.
. "$(dirname "$0")/lib.sh"

prepare_tree() {
	ln -sf ../bin/busybox "$1/sbin/init"
	local a
	for a in getty login poweroff seq; do ln -sf busybox "$1/bin/$a"; done
	cat >"$1/etc/inittab" <<-'EOF2'
	::sysinit:/bin/echo booted
	::sysinit:/bin/sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line-$i; done'
	::respawn:/bin/sleep 1000
	::shutdown:/bin/echo shutting down
	EOF2
	echo "root::0:0:root:/root:/bin/sh" >"$1/etc/passwd"
	echo 'export FROM_PROFILE=yes' >"$1/etc/profile"
}

setup_boot() {
	setup
	trap '$L stop c --timeout 1 >/dev/null 2>&1 || true; cleanup_test_dir' EXIT
}

wait_for_log() {
	local i
	for i in $(seq 100); do $L logs c 2>/dev/null | grep -q "$1" && return 0; sleep 0.05; done
	fail "log never said $1"
}

test_logs_of_a_started_child() {
	setup_boot
	expect_fail $L logs c
	assert_contains "$ERR" "no console log"
	expect_fail $L logs nosuch
	$L start c
	wait_for_log line-12
	assert_contains "$($L logs c)" booted
	assert_eq "$($L logs c -n 2 | tr -d '\r')" "line-11
line-12"
	assert_eq "$($L logs c -n 0)" ""
	expect_fail $L logs c -n many
	# -f follows until the child stops, then ends by itself.
	$L logs c -f >"$T/follow" &
	local pid=$!
	sleep 0.3
	$L stop c
	local i
	for i in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.05; done
	kill -0 $pid 2>/dev/null && fail "logs -f did not end with the child"
	wait $pid
	assert_contains "$(cat "$T/follow")" "shutting down"
	# The log stays after the stop.
	assert_contains "$($L logs c)" "shutting down"
	# status shows the last ten lines of a running one.
	$L start c
	wait_for_log line-12
	local st
	st=$($L status c)
	assert_contains "$st" "line-12"
	assert_contains "$st" "line-3"
	# Its overlay is mounted, in its own mount namespace: not "no".
	assert_contains "$st" "Mounted: in the container's mount namespace only"
	case "$st" in *line-2$'\n'*) fail "status shows more than ten lines: $st" ;; esac
}

test_login_gives_a_prompt_on_a_pty_of_its_own() {
	setup_boot
	command -v script >/dev/null || skip "needs script"
	expect_fail $L login c
	assert_contains "$ERR" "not running"
	$L start c
	# script ends the session at the end of its input: keep it open with sleeps.
	(sleep 1; echo root; sleep 1; echo 'echo hi-$((1+2)) $(tty)'; sleep 1; printf '\035\035\035'; sleep 1) |
		script -qec "$L login c; echo rc=\$?" /dev/null >"$T/out" 2>&1 || true
	assert_contains "$(cat "$T/out")" "c login:"
	assert_contains "$(cat "$T/out")" "hi-3 /dev/pts/"
	assert_contains "$(cat "$T/out")" "Left the session in container c"
	assert_contains "$(cat "$T/out")" "rc=0"
	# Leaving the session left the child running.
	assert_contains "$($L status c)" "running"
}

test_shell_is_root_with_the_childs_environment() {
	setup_boot
	printf '[Exec]\nEnvironment=FROM_CONF=1\n' >>"$ROOT/children/c/child.conf"
	expect_fail $L shell c
	assert_contains "$ERR" "not running"
	$L start c
	local out
	out=$(HOST_ONLY=1 $L shell c -- sh -c 'echo $container $USER $FROM_CONF; env')
	assert_contains "$out" "layerctl root 1"
	case "$out" in *HOST_ONLY*) fail "the caller's environment leaked: $out" ;; esac
	local rc=0
	$L shell c -- sh -c 'exit 4' || rc=$?
	assert_eq "$rc" 4
	if command -v script >/dev/null; then
		(sleep 1; echo 'echo sh-$((2+2)) $PWD $FROM_PROFILE; exit 3'; sleep 1) |
			script -qec "$L shell c" /dev/null >"$T/out" 2>&1 || true
		assert_contains "$(cat "$T/out")" "sh-4 /root yes"
	fi
}

run_tests
