#!/usr/bin/env bash
# run of a child that is not mounted: the overlay is mounted for the run in a
# private mount namespace, and unmounted after the command's status is known,
# by a background process that holds the child lock until the overlay is gone
# (docs/runner.md, "Start-up cost").  Back-to-back runs must stay correct.
. "$(dirname "$0")/lib.sh"

# Each run sees what the run before it wrote, and none is refused as
# "already running" (the run lock must not live on in the background).
test_back_to_back_runs_see_each_others_data() {
	setup
	local i
	for i in $(seq 1 25); do
		$L run c -- sh -c "read -r n </n 2>/dev/null || n=0; [ \$n = $((i - 1)) ] || exit 9; echo $i >/n"
	done
	assert_eq "$(cat "$ROOT/children/c/upper/n")" 25
	assert_eq "$(mounts_below "$ROOT")" 0
}

# Whoever gets the child lock after a run finds the run's overlay gone in
# every mount namespace: never two overlays on one upper dir.
test_child_lock_is_held_until_the_overlay_is_gone() {
	setup
	local i left
	for i in $(seq 1 15); do
		$L run c -- sh -c "echo $i >/f"
		flock "$ROOT/locks/child.c" true
		left=$(grep -l " $ROOT/children/c/root " /proc/[0-9]*/mountinfo 2>/dev/null | wc -l)
		assert_eq "$left" 0 "run $i: overlay still mounted once the child lock was free"
	done
	# And the commands that take that lock work right after a run.
	$L run c -- sh -c 'echo last >/f'
	$L mount c
	assert_eq "$(cat "$ROOT/children/c/root/f")" last
	$L umount c
	$L run c -- true
	$L child reset c
	assert_no_file "$ROOT/children/c/upper/f"
}

# The status and the output are the command's, though the unmount happens
# after run has returned.
test_status_and_output_are_the_commands() {
	setup
	assert_eq "$($L run c -- echo hi)" hi
	local rc=0
	$L run c -- sh -c 'exit 5' || rc=$?
	assert_eq "$rc" 5
	assert_eq "$($L run c -- sh -c 'echo out; echo err >&2' 2>&1)" "out
err"
}

run_tests
