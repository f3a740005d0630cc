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

# The next run does not wait for the previous one's teardown to drop the run
# lock (it never had it): it waits for the child lock, then runs.  The first
# run's background unmount is held at its test hook, so this does not hang
# on how fast the disk syncs.
test_run_after_run_waits_for_the_teardown_not_refused() {
	setup
	LAYERCTL_TEST_HOOK="run-teardown-before-umount:pause:$T/paused" $L run c -- sh -c 'echo 1 >/n'
	local i
	for i in $(seq 500); do [ -e "$T/paused" ] && break; sleep 0.01; done
	assert_file "$T/paused"
	$L run c -- cat /n >"$T/out" 2>&1 &
	local pid=$!
	sleep 0.5
	kill -0 "$pid" 2>/dev/null || fail "the next run did not wait for the teardown: $(cat "$T/out")"
	rm "$T/paused"
	local rc=0
	wait "$pid" || rc=$?
	assert_eq "$rc" 0 "the next run: $(cat "$T/out")"
	assert_eq "$(cat "$T/out")" 1
}

# Whoever gets the child lock after a run finds the run's overlay gone in
# every mount namespace: never two overlays on one upper dir.  A watcher
# takes the child lock whenever it is free and then looks for a layerctl
# process of this store inside umount2 (where the kernel syncs the upper
# file system, after the mount has left the mount table): there must be
# none.  The commands leave 32 MiB unwritten so that the sync takes a while.
watch_lock_and_umount2() {
	python3 - "$ROOT" "$T/watch.stop" <<'PY'
import fcntl, os, sys, platform, time
root, stop = sys.argv[1], sys.argv[2]
nr = {"x86_64": "166", "aarch64": "39"}[platform.machine()]
fd = os.open(root + "/locks/child.c", os.O_RDWR)
checks = bad = 0
def in_umount2():
    for p in os.listdir("/proc"):
        try:
            if not p.isdigit() or open("/proc/%s/comm" % p).read().strip() != "layerctl":
                continue
            if open("/proc/%s/syscall" % p).read().split()[0] != nr:
                continue
            if ("LAYERCTL_ROOT=" + root).encode() in open("/proc/%s/environ" % p, "rb").read().split(b"\0"):
                return True
        except (OSError, IndexError):
            pass
    return False
while not os.path.exists(stop):
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        time.sleep(0.0005)
        continue
    checks += 1
    if in_umount2():
        bad += 1
    fcntl.flock(fd, fcntl.LOCK_UN)
    time.sleep(0.0005)
print("checks=%d bad=%d" % (checks, bad))
sys.exit(1 if bad else 0)
PY
}
test_child_lock_is_held_until_the_overlay_is_gone() {
	setup
	case "$(uname -m)" in x86_64|aarch64) ;; *) return 77 ;; esac
	local i wpid
	$L run c -- true   # the lock file exists
	watch_lock_and_umount2 >"$T/watch.out" &
	wpid=$!
	for i in 1 2 3 4 5; do
		$L run c -- sh -c "rm -f /big; dd if=/dev/zero of=/big bs=1M count=32 2>/dev/null; echo $i >/f"
		flock "$ROOT/locks/child.c" true
		assert_eq "$(grep -l " $ROOT/children/c/root " /proc/[0-9]*/mountinfo 2>/dev/null | wc -l)" 0 \
			"run $i: overlay still mounted once the child lock was free"
	done
	touch "$T/watch.stop"
	wait "$wpid" || fail "the child lock was free while a run's overlay was being unmounted: $(cat "$T/watch.out")"
	$L run c -- rm /big
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
