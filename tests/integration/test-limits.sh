#!/usr/bin/env bash
# Resource limits ([Resources], --property, set-property), status, and the
# cgroups they live in.  On this project's hybrid hosts the limits go to the
# v1 hierarchies (memory, cpu, pids, blkio); the container's view and the
# host's files are both checked.
. "$(dirname "$0")/lib.sh"

prepare_tree() {
	ln -sf ../bin/busybox "$1/sbin/init"
	local a
	for a in timeout tr seq getty login poweroff; do ln -sf busybox "$1/bin/$a"; done
	cat >"$1/etc/inittab" <<-'EOF2'
	::sysinit:/bin/echo booted
	::respawn:/bin/sleep 1000
	EOF2
}

setup_boot() {
	setup
	trap '$L stop c --timeout 1 >/dev/null 2>&1 || true; cleanup_test_dir' EXIT
}

# Every cgroup directory of this test's store (its runtime id names them).
our_cgroups() {
	local id
	id=$(basename "$(ls -d "$LAYERCTL_RUNTIME_DIR"/stores/* 2>/dev/null | head -1)" 2>/dev/null)
	[ -n "$id" ] || return 0
	find /sys/fs/cgroup -type d -path "*/layerctl/$id*" 2>/dev/null || true
}

test_memory_max_kills_past_the_limit() {
	setup
	local rc=0
	$L run c --property MemoryMax=32M -- sh -c 'x=$(dd if=/dev/zero bs=1M count=128 2>/dev/null | tr "\0" a); echo survived ${#x}' \
		>"$T/out" 2>&1 || rc=$?
	assert_eq "$rc" 137 "$(cat "$T/out")"
	# The host, and a run without the limit, are unaffected.
	assert_eq "$($L run c -- sh -c 'x=$(dd if=/dev/zero bs=1M count=64 2>/dev/null | tr "\0" a); echo ${#x}')" 67108864
	assert_eq "$(echo host still here)" "host still here"
	assert_eq "$(our_cgroups)" ""
}

test_tasks_max_stops_a_fork_loop() {
	setup
	local out
	# PID 1 (the stub) and the shell count: 8 leaves room for 6 sleeps.
	out=$($L run c --property TasksMax=8 -- sh -c 'n=0; while [ $n -lt 20 ]; do sleep 5 & n=$((n+1)); done' 2>&1 || true)
	assert_contains "$out" "can't fork"
	# Without the limit all twenty start.
	out=$($L run c -- sh -c 'n=0; while [ $n -lt 20 ]; do sleep 0.2 & n=$((n+1)); done; wait; echo done' 2>&1)
	assert_eq "$out" done
}

# Loosely: CPU time over wall time of a one-second busy loop; no timing of our own code.
test_cpu_quota_gives_about_a_fifth_of_a_cpu() {
	setup
	command -v /usr/bin/time >/dev/null || skip "needs /usr/bin/time"
	/usr/bin/time -f '%U %S %e' -o "$T/time" $L run c --property CPUQuota=20% -- \
		timeout 1 sh -c 'while :; do :; done' || true
	local ratio
	ratio=$(tail -n 1 "$T/time" | awk '{ printf "%.3f", ($1 + $2) / $3 }')
	echo "cpu/wall: $ratio"
	awk -v r="$ratio" 'BEGIN { exit !(r >= 0.05 && r <= 0.45) }' || fail "CPUQuota=20%: cpu/wall $ratio, not 0.05..0.45"
}

test_limits_from_child_conf_and_options() {
	setup
	printf '[Resources]\nMemoryMax=48M\nTasksMax=33\n' >>"$ROOT/children/c/child.conf"
	local id mem
	$L run c --property TasksMax=44 -- sleep 30 &
	local pid=$! i
	# Up once status knows its cgroups (the record is written before the state).
	for i in $(seq 200); do $L status c 2>/dev/null | grep -q "pids.max" && break; sleep 0.05; done
	mem=$(our_cgroups | grep /memory/ | grep '/c$')
	assert_eq "$(cat "$mem/memory.limit_in_bytes")" $((48 * 1024 * 1024))
	assert_eq "$(cat "$(our_cgroups | grep /pids/ | grep '/c$')/pids.max")" 44
	assert_contains "$($L status c)" "pids.max=44"
	kill $pid
	wait $pid || true
	assert_eq "$(our_cgroups)" ""
}

test_bad_keys_and_values_are_refused_before_anything_starts() {
	setup
	local bad
	for bad in Foo=1 MemoryMax=12x MemoryMax=0 MemoryMax=-5 CPUQuota=20 CPUQuota=0% CPUWeight=0 CPUWeight=10001 \
		TasksMax=abc TasksMax=0 IOWeight=x "IOReadBandwidthMax=/dev/null 1M" "IOWriteBandwidthMax=relative 1M" \
		"IOReadBandwidthMax=/ 0" MemoryMax; do
		expect_fail $L run c --property "$bad" -- touch /started
		case "$bad" in
		*=*) assert_contains "$ERR" "${bad%%=*}" ;;
		esac
	done
	expect_fail $L run c --limits=sometimes -- touch /started
	assert_contains "$ERR" "--limits"
	printf '[Resources]\nMemoryMaks=1G\n' >>"$ROOT/children/c/child.conf"
	expect_fail $L run c -- touch /started
	assert_contains "$ERR" "MemoryMaks"
	expect_fail $L start c
	assert_contains "$ERR" "MemoryMaks"
	assert_no_file "$ROOT/children/c/upper/started"
	assert_eq "$(our_cgroups)" ""
}

# IO*BandwidthMax= takes a path (the store's, here) and limits its whole disk.
test_io_bandwidth_on_the_store_disk() {
	setup
	local dev
	dev=$(stat -c '%d' "$ROOT")
	[ $((dev >> 8)) -ne 0 ] || skip "the store is on no block device"
	$L run c --property "IOReadBandwidthMax=$ROOT 10M" --property IOWeight=200 -- sleep 30 &
	local pid=$! i blk=
	for i in $(seq 100); do blk=$(our_cgroups | grep /blkio/ | grep '/c$' || true); [ -n "$blk" ] && break; sleep 0.05; done
	sleep 0.2
	assert_contains "$(cat "$blk/blkio.throttle.read_bps_device")" " 10000000"
	assert_contains "$($L status c)" "blkio.throttle.read_bps_device="
	kill $pid
	wait $pid || true
}

test_set_property_changes_a_running_child() {
	setup_boot
	$L start c --property TasksMax=50
	$L exec c -- sh -c 'for i in 1 2 3 4 5 6; do sleep 2 & done; wait'
	$L set-property c TasksMax=5 MemoryMax=64M
	local out
	out=$($L exec c -- sh -c 'for i in 1 2 3 4 5 6; do sleep 2 & done; wait' 2>&1 || true)
	assert_contains "$out" "can't fork"
	assert_contains "$($L status c)" "Tasks: "
	assert_contains "$($L status c --json)" '"tasks_max": 5'
	assert_contains "$($L status c --json)" '"memory_max": 67108864'
	expect_fail $L set-property c TasksMax=lots
	assert_contains "$ERR" "TasksMax"
	# An empty value takes the limit away again.
	$L set-property c TasksMax=
	$L exec c -- sh -c 'for i in 1 2 3 4 5 6; do sleep 1 & done; wait'
	case "$($L status c --json)" in *'"tasks_max"'*) fail "TasksMax= left a limit" ;; esac
	$L set-property c TasksMax=5
	# Two at once (under the child lock): both in the record.
	$L set-property c CPUWeight=50 & $L set-property c TasksMax=6 & wait
	assert_contains "$($L status c)" "cpu.shares=512"
	assert_contains "$($L status c)" "pids.max=6"
	# --persist: child.conf too, and a stopped child takes it only that way.
	$L set-property --persist c TasksMax=7
	assert_contains "$(cat "$ROOT/children/c/child.conf")" "TasksMax=7"
	$L stop c
	expect_fail $L set-property c TasksMax=9
	assert_contains "$ERR" "not running"
	$L set-property --persist c CPUQuota=50%
	$L start c
	assert_contains "$($L status c --json)" '"tasks_max": 7'
	assert_contains "$($L status c)" "cpu.cfs_quota_us=50000"
	$L stop c
	assert_eq "$(our_cgroups)" ""
}

test_status_and_ps_of_a_started_child() {
	setup_boot
	assert_contains "$($L status c)" "stopped"
	$L start c --property MemoryMax=100M
	local out i
	# start returns once init was exec'd; its first line comes a moment later.
	for i in $(seq 200); do $L status c | grep -q booted && break; sleep 0.05; done
	out=$($L status c)
	assert_contains "$out" "running (boot)"
	assert_contains "$out" "Base: bb, generation 1"
	assert_contains "$out" "Memory: "
	assert_contains "$out" "limit: 100.0 MiB"
	assert_contains "$out" "booted"
	assert_contains "$($L status c --json)" '"memory_max": 104857600'
	# The networking code's file, when there is one.
	printf 'Mode=veth\nInterface=host0\nHostInterface=vl-c\nSubnet=10.0.0.0/30\nAddress=10.0.0.2/30\nHostAddress=10.0.0.1/30\nPort=tcp:8080:80\n' \
		>"$(ls -d "$LAYERCTL_RUNTIME_DIR"/stores/*/children/c)/network"
	assert_contains "$($L status c)" "10.0.0.2/30"
	assert_contains "$($L status c --json)" '"tcp:8080:80"'
	assert_contains "$($L ps)" "MEMORY"
	assert_contains "$($L ps --json)" '"tasks_current"'
	$L stop c
	assert_eq "$(our_cgroups)" ""
}

test_every_cgroup_is_removed_after_stop_and_run() {
	setup_boot
	$L run c --property MemoryMax=64M --property TasksMax=20 --property CPUQuota=50% -- true
	assert_eq "$(our_cgroups)" ""
	$L start c --property MemoryMax=64M
	[ -n "$(our_cgroups)" ] || fail "no cgroups while running"
	$L stop c
	assert_eq "$(our_cgroups)" ""
	# And their record.
	assert_eq "$(ls "$LAYERCTL_RUNTIME_DIR"/stores/*/children/c/)" "$(printf 'lock\nlog')"
}

run_tests
