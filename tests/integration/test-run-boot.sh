#!/usr/bin/env bash
# run --boot, start, stop, exec, ps with busybox init (busybox powers off on
# SIGUSR2; systemd would get SIGRTMIN+3) and a deaf init that needs SIGKILL.
. "$(dirname "$0")/lib.sh"

# A busybox init that says "booted" and keeps running.
prepare_tree() {
	ln -sf ../bin/busybox "$1/sbin/init"
	ln -sf busybox "$1/bin/poweroff"
	ln -sf busybox "$1/bin/reboot"
	cat >"$1/etc/inittab" <<-'EOF2'
	::sysinit:/bin/echo booted
	::respawn:/bin/sleep 1000
	::shutdown:/bin/echo shutting down
	EOF2
}
setup_boot() {
	setup
	# A test that fails half-way must not leave its container running.
	trap '$L stop c --timeout 1 >/dev/null 2>&1 || true; cleanup_test_dir' EXIT
}

wait_running() {
	local i
	for i in $(seq 100); do $L ps | grep -q "^$1 " && return 0; sleep 0.05; done
	fail "$1 did not start"
}

test_boot_busybox_init_and_power_off_on_sigterm() {
	setup_boot
	$L run c --boot </dev/null >"$T/out" 2>&1 &
	local pid=$!
	wait_running c
	assert_contains "$($L ps)" "boot"
	# The init is PID 1 and is busybox init, with SYS_ADMIN kept.
	assert_eq "$($L exec c -- cat /proc/1/comm)" init
	local bnd
	bnd=$($L exec c -- cat /proc/1/status | awk '/^CapBnd/ {print $2}')
	[ -n "$bnd" ] && [ $((0x$bnd >> 21 & 1)) -eq 1 ] || fail "init's CapBnd $bnd lacks CAP_SYS_ADMIN (bit 21)"
	kill -TERM $pid   # layerctl turns it into busybox's power-off signal
	local rc=0
	wait $pid || rc=$?
	assert_eq "$rc" 0
	assert_contains "$(cat "$T/out")" "booted"
	assert_contains "$(cat "$T/out")" "shutting down"
	assert_eq "$(mounts_below "$ROOT")" 0
}

test_start_exec_ps_stop() {
	setup_boot
	$L start c
	# The overlay is mounted only in the monitor's and the container's mount namespace.
	assert_eq "$(mounts_below "$ROOT")" 0
	expect_fail $L mount c
	assert_contains "$ERR" "mounted inside the container only"
	expect_fail $L start c
	assert_contains "$ERR" "already running"
	assert_contains "$($L ps --json)" '"mode": "boot"'
	# exec: the container's namespaces, the plain profile, the container's view.
	assert_eq "$($L exec c -- hostname)" c
	assert_eq "$($L exec c -- sh -c 'echo $container')" layerctl
	assert_contains "$($L exec c -- cat /proc/self/status)" "NoNewPrivs:	1"
	local host
	host=$(awk '/^CapBnd/ {print $2}' /proc/self/status)
	# The plain profile: nspawn's set without SYS_ADMIN, within the host's.
	assert_contains "$($L exec c -- cat /proc/self/status)" "CapBnd:	$(printf '%016x' $((0x$host & 0xfdccafff)))"
	assert_contains "$($L exec c -- ps)" "sleep 1000"
	assert_eq "$(echo piped | $L exec c -- cat)" piped
	local rc=0
	$L exec c -- sh -c 'exit 5' || rc=$?
	assert_eq "$rc" 5
	rc=0
	$L exec c -- /nope 2>"$T/err" || rc=$?
	assert_eq "$rc" 127
	assert_contains "$(cat "$T/err")" "exec c: exec /nope"
	if command -v script >/dev/null; then
		# A terminal gets a pty of the container's own devpts.
		assert_contains "$(script -qec "$L exec c -- readlink /proc/self/fd/0" /dev/null </dev/null)" "/dev/pts/"
	fi
	# The running child is protected.
	expect_fail $L child rm c
	expect_fail $L umount c
	$L stop c
	assert_eq "$($L ps | wc -l)" 1
	assert_eq "$(mounts_below "$ROOT")" 0
	local log
	log=$(cat "$LAYERCTL_RUNTIME_DIR"/stores/*/children/c/log)
	assert_contains "$log" "booted"
	assert_contains "$log" "Requesting system poweroff"
	expect_fail $L stop c
	assert_contains "$ERR" "not running"
	expect_fail $L exec c -- true
	assert_contains "$ERR" "not running"
}

test_reboot_inside_restarts_the_container() {
	setup_boot
	$L start c
	local pid1 i log
	pid1=$($L ps --json | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
	# busybox: SIGTERM to init, which calls reboot(2).  The init may kill
	# reboot itself on the way down, so its exit status says nothing.
	$L exec c -- reboot || true
	for i in $(seq 100); do
		log=$(cat "$LAYERCTL_RUNTIME_DIR"/stores/*/children/c/log 2>/dev/null || true)
		[ "$(grep -c '^booted' <<<"$log")" -ge 2 ] && break
		sleep 0.1
	done
	assert_eq "$(grep -c '^booted' <<<"$log")" 2 "booted twice"
	wait_running c
	[ "$($L ps --json | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')" != "$pid1" ] || fail "same PID 1 after reboot"
	$L stop c
	assert_eq "$(mounts_below "$ROOT")" 0
}

test_stop_kills_a_deaf_init_after_the_timeout() {
	setup_boot
	# An init without signal handlers: as PID 1 it ignores every polite signal.
	rm "$ROOT/bases/bb/gens/1/tree/sbin/init"
	printf '#!/bin/sh\nexec sleep 1000\n' >"$ROOT/children/c/upper/sbin/init" 2>/dev/null || {
		mkdir -p "$ROOT/children/c/upper/sbin"
		printf '#!/bin/sh\nexec sleep 1000\n' >"$ROOT/children/c/upper/sbin/init"
	}
	chmod 755 "$ROOT/children/c/upper/sbin/init"
	$L start c
	local start=$SECONDS
	$L stop c --timeout 0.5 2>"$T/err"
	assert_contains "$(cat "$T/err")" "killing it"
	[ $((SECONDS - start)) -lt 8 ] || fail "stop took too long"
	assert_eq "$(mounts_below "$ROOT")" 0
}

test_exec_into_a_plain_run() {
	setup_boot
	$L run c -- sleep 30 </dev/null >/dev/null 2>&1 &
	local pid=$!
	wait_running c
	assert_contains "$($L ps)" " run "
	assert_eq "$($L exec c -- cat /proc/1/comm)" layerctl
	$L stop c
	local rc=0
	wait $pid || rc=$?
	assert_eq "$rc" 143
}

test_exec_forwards_signals() {
	setup_boot
	$L start c
	$L exec c -- sleep 100 </dev/null &
	local pid=$! i
	for i in $(seq 100); do $L exec c -- ps | grep -q "sleep 100$" && break; sleep 0.05; done
	kill -TERM $pid
	local rc=0
	wait $pid || rc=$?
	assert_eq "$rc" 143
	# Gone inside too, not left behind by a dead exec.
	sleep 0.2
	[ -z "$($L exec c -- ps | grep 'sleep 100$')" ] || fail "sleep 100 still running"
	if command -v script >/dev/null; then
		# Leaving an exec on a pty with ^]^]^] ends its command as well.
		( (sleep 0.5; printf '\035\035\035') | script -qec "$L exec c -- sleep 77" /dev/null >/dev/null ) || true
		sleep 0.2
		[ -z "$($L exec c -- ps | grep 'sleep 77$')" ] || fail "sleep 77 outlived its exec"
	fi
	$L stop c
}

test_exec_joins_a_private_network() {
	setup_boot
	$L run c --private-network -- sleep 30 </dev/null >/dev/null 2>&1 &
	local pid=$!
	wait_running c
	# /proc/net follows the caller's network namespace: the container's, loopback only.
	assert_eq "$($L exec c -- sh -c 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "')" lo
	$L stop c
	wait $pid || true
}

test_boot_needs_os_release_and_an_init() {
	setup_boot
	rm "$ROOT/bases/bb/gens/1/tree/etc/os-release"
	expect_fail $L run c --boot
	assert_contains "$ERR" "run c: boot: no /etc/os-release"
	assert_eq "$(mounts_below "$ROOT")" 0
	expect_fail $L start c
	assert_contains "$ERR" "start c: boot: no /etc/os-release"
	assert_eq "$(mounts_below "$ROOT")" 0
	assert_eq "$($L ps | wc -l)" 1
	# No init at all: the container reports the step.
	echo ID=x >"$ROOT/bases/bb/gens/1/tree/etc/os-release"
	rm "$ROOT/bases/bb/gens/1/tree/sbin/init"
	expect_fail $L start c
	assert_contains "$ERR" "start c: boot: no init"
	assert_eq "$(mounts_below "$ROOT")" 0
}

# Issue 8, item 16: the host looks into the image before the container
# exists; an absolute symlink there must resolve inside the image.
test_boot_image_paths_resolve_inside_the_image() {
	setup_boot
	local tree="$ROOT/bases/bb/gens/1/tree"
	# os-release: a link to a file only the host has is no os-release.
	echo ID=host >"$T/host-os-release"
	ln -sf "$T/host-os-release" "$tree/etc/os-release"
	# (bounded: were the host's file taken, the busybox init would boot)
	expect_fail timeout 30 $L run c --boot </dev/null
	assert_contains "$ERR" "run c: boot: no /etc/os-release"
	ln -sf ../etc/os-release.real "$tree/etc/os-release"
	echo ID=busybox >"$tree/etc/os-release.real"
	# /sbin/init: an absolute link to a busybox the image has at a path the
	# host lacks: found, and recognised as busybox (stopped with SIGUSR2,
	# so its shutdown actions run; systemd's SIGRTMIN+3 would be ignored).
	mkdir "$tree/layerctl-image-only"
	ln "$tree/bin/busybox" "$tree/layerctl-image-only/busybox"
	ln -sfn /layerctl-image-only/busybox "$tree/sbin/init"
	[ ! -e /layerctl-image-only ] || skip "the host has /layerctl-image-only"
	$L start c
	$L stop c --timeout 5 2>"$T/err"
	assert_contains "$(cat "$LAYERCTL_RUNTIME_DIR"/stores/*/children/c/log)" "shutting down"
	case "$(cat "$T/err")" in *killing*) fail "init needed SIGKILL: $(cat "$T/err")" ;; esac
	# An absolute link to a path only the host has is no init.
	mkdir -p "$T/host-only"
	cp "$BUSYBOX" "$T/host-only/busybox"
	ln -sfn "$T/host-only/busybox" "$tree/sbin/init"
	expect_fail timeout 30 $L run c --boot </dev/null
	assert_contains "$ERR" "run c: boot: no init"
	assert_eq "$(mounts_below "$ROOT")" 0
}

test_boot_setting_in_child_conf() {
	setup_boot
	printf '[Exec]\nBoot=yes\n' >>"$ROOT/children/c/child.conf"
	$L run c </dev/null >"$T/out" 2>&1 &
	local pid=$!
	wait_running c
	assert_contains "$($L ps)" "boot"
	$L stop c
	wait $pid
	assert_contains "$(cat "$T/out")" "booted"
}

test_start_daemonizes_and_keeps_no_caller_descriptor() {
	setup_boot
	# The caller's fd 3 is the pipe of $(...): a monitor keeping it would make
	# the substitution wait for the container's end (timeout's 124).
	# (timeout around a shell, so that a monitor holding the pipe cannot hang the test itself).
	local rc=0
	timeout 20 bash -c "trap '' INT; out=\$($L start c 3>&1 2>&1) && printf '%s' \"\$out\"" >"$T/out" || rc=$?
	assert_eq "$rc" 0 "start returned while the child runs"
	assert_contains "$(cat "$T/out")" "Started c"
	wait_running c
	local mon
	mon=$($L ps --json | sed -n 's/.*"monitor": *\([0-9]*\).*/\1/p')
	# The monitor: its own session, stdin /dev/null, out and err the log, nothing else but what it needs.
	assert_eq "$(ps -o sid= -p "$mon" | tr -d ' ')" "$mon"
	assert_eq "$(readlink /proc/"$mon"/fd/0)" /dev/null
	assert_contains "$(readlink /proc/"$mon"/fd/1)" "/children/c/log"
	# … and none of the caller's signal state (it ignored SIGINT).
	# (signals 1-31; libc's own 32 and 33 may come ignored from the test harness and cannot be reset)
	local ign
	ign=$(awk '/^SigIgn/ {print $2}' /proc/"$mon"/status)
	assert_eq "$(printf '%x' $((0x$ign & 0x7fffffff)))" 0 "monitor ignores no signal (SigIgn $ign)"
	local fd
	for fd in /proc/"$mon"/fd/*; do
		case "$(readlink "$fd")" in pipe:*) fail "monitor keeps a pipe: $fd" ;; esac
	done
	$L stop c
}

test_start_refuses_user_like_run_boot() {
	setup_boot
	echo "user:x:1000:1000::/:/bin/sh" >>"$ROOT/bases/bb/gens/1/tree/etc/passwd"
	printf '[Exec]\nUser=user\n' >>"$ROOT/children/c/child.conf"
	expect_fail $L run c --boot
	assert_contains "$ERR" "does not go with --boot"
	expect_fail $L start c
	assert_contains "$ERR" "start c: User=user in child.conf does not go with start"
	assert_eq "$($L ps | wc -l)" 1
	assert_eq "$(mounts_below "$ROOT")" 0
}

test_stop_timeout_must_be_a_finite_number() {
	setup_boot
	local t rc
	for t in nan inf -inf -1 1e300 86401 '' 5x 0x; do
		rc=0
		$L stop c --timeout "$t" 2>"$T/err" || rc=$?
		assert_eq "$rc" 2 "stop --timeout '$t' is a usage error"
		assert_contains "$(cat "$T/err")" "--timeout"
	done
	$L start c
	$L stop c --timeout 2.5
	assert_eq "$($L ps | wc -l)" 1
}

run_tests
