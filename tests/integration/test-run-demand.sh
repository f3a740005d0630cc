#!/usr/bin/env bash
# run of a child that is not mounted: the overlay is made as a detached mount
# attached in the container's namespace only, kept for the next runs by a
# lingerer that holds the child lock (store/linger.c), and unmounted after
# the command's status is known by a background process that holds the child
# lock until the overlay is gone (docs/runner.md, "Start-up cost",
# "Back-to-back runs").  Back-to-back runs must stay correct.
. "$(dirname "$0")/lib.sh"

# The lingerer's socket of child c, if one is listening.
linger_sock() { ls "$T"/run/stores/*/linger/c.sock 2>/dev/null; }
# mtime of the work dir: the kernel empties work/work at every new overlay, not on a borrowed one.
work_stamp() { stat -c %y "$ROOT/children/c/work"; }
# layerctl processes of this test's store.
store_processes() {
	local p n=0
	for p in /proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = layerctl ] || continue
		tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qxF "LAYERCTL_RUNTIME_DIR=$T/run" && n=$((n + 1))
	done
	echo "$n"
}

# Each run sees what the run before it wrote, and none is refused as
# "already running" (the run lock must not live on in the background).
# Borrowed from the lingerer, and (LAYERCTL_RUN_LINGER=0) each on its own overlay.
test_back_to_back_runs_see_each_others_data() {
	setup
	local i
	for i in $(seq 1 30); do
		[ $((i % 10)) -lt 5 ] && export LAYERCTL_RUN_LINGER=0 || unset LAYERCTL_RUN_LINGER
		$L run c -- sh -c "read -r n </n 2>/dev/null || n=0; [ \$n = $((i - 1)) ] || exit 9; echo $i >/n"
	done
	assert_eq "$(cat "$ROOT/children/c/upper/n")" 30
	assert_eq "$(mounts_below "$ROOT")" 0
}

# Runs right after each other share one overlay: the lingerer lends it, the
# kernel makes no new one (work/ untouched), and the data of each run is in
# the upper dir at once.  A run with LAYERCTL_RUN_LINGER=0 wants no overlay
# to stay: it asks the lingerer to go, and leaves none behind.
test_back_to_back_runs_share_one_overlay() {
	setup
	$L run c -- sh -c 'echo 1 >/n'
	local stamp
	stamp=$(work_stamp)
	[ -n "$(linger_sock)" ] || fail "no lingerer after the run"
	# ps says what it is, not the run that ended
	local p found=
	for p in /proc/[0-9]*; do
		tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qx "layerctl: overlay of c kept for the next run" && found=1
	done
	[ -n "$found" ] || fail "no process shows itself as the lingerer: $(pgrep -a -x layerctl)"
	# and status says why the child is not mounted though something holds its overlay
	assert_contains "$($L status c)" "Mounted: no (the last run's overlay is kept for the next run)"
	assert_contains "$($L status c --json)" '"overlay_kept": true'

	$L run c -- sh -c 'echo 2 >/n'
	$L run c -- sh -c 'echo 3 >/n'
	assert_eq "$(work_stamp)" "$stamp" "a run made a new overlay though one lingered"
	assert_eq "$(cat "$ROOT/children/c/upper/n")" 3
	LAYERCTL_RUN_LINGER=0 $L run c -- sh -c 'cat /n; echo 4 >/n' >"$T/out"
	assert_eq "$(cat "$T/out")" 3
	[ "$(work_stamp)" != "$stamp" ] || fail "LAYERCTL_RUN_LINGER=0 borrowed the lingering overlay"
	assert_eq "$(linger_sock)" ""
	flock "$ROOT/locks/child.c" true
	assert_eq "$(store_processes)" 0
	assert_eq "$(cat "$ROOT/children/c/upper/n")" 4
	assert_eq "$(mounts_below "$ROOT")" 0
}

# Other commands do not wait for a lingering overlay: they ask it to go (a
# 60 s linger would make each of these hang), then find it gone.
test_commands_ask_a_lingerer_to_go() {
	setup
	export LAYERCTL_RUN_LINGER=60
	$L run c -- sh -c 'echo 1 >/n'
	[ -n "$(linger_sock)" ] || fail "no lingerer after the run"
	timeout 20 $L mount c || fail "mount waited for the lingerer"
	assert_eq "$(cat "$ROOT/children/c/root/n")" 1
	assert_eq "$(linger_sock)" "" "the lingerer's socket outlived it"
	timeout 20 $L umount c
	$L run c -- true
	timeout 20 $L child reset c || fail "child reset waited for the lingerer"
	assert_no_file "$ROOT/children/c/upper/n"
	$L run c -- true
	timeout 20 $L child rm c || fail "child rm waited for the lingerer"
	assert_no_file "$ROOT/children/c"
	assert_eq "$(store_processes)" 0 "a lingerer outlived its child"
}

# Nobody comes: it goes after LAYERCTL_RUN_LINGER seconds, with the lock.
test_lingerer_goes_after_its_time() {
	setup
	LAYERCTL_RUN_LINGER=0.3 $L run c -- true
	local i
	for i in $(seq 100); do [ "$(store_processes)" = 0 ] && break; sleep 0.05; done
	assert_eq "$(store_processes)" 0 "the lingerer is still there after 5 s"
	assert_eq "$(linger_sock)" ""
	assert_eq "$($L status c | grep Mounted)" "       Mounted: no"
	flock -n "$ROOT/locks/child.c" true || fail "the child lock is still held"
	LAYERCTL_RUN_LINGER=0 $L run c -- true
	for i in $(seq 100); do [ "$(store_processes)" = 0 ] && break; sleep 0.05; done
	assert_eq "$(linger_sock)" "" "LAYERCTL_RUN_LINGER=0 lingered"
	expect_fail env LAYERCTL_RUN_LINGER=soon $L run c -- true
	assert_contains "$ERR" "LAYERCTL_RUN_LINGER=soon: not a number of seconds"
}

# A lingerer killed: the kernel drops lock and overlay with it; the next run
# mounts its own.
test_killed_lingerer_leaves_nothing_held() {
	setup
	LAYERCTL_RUN_LINGER=60 $L run c -- sh -c 'echo 1 >/n'
	local stamp
	stamp=$(work_stamp)
	kill_started_children
	local i
	for i in $(seq 100); do flock -n "$ROOT/locks/child.c" true && break; sleep 0.05; done
	flock -n "$ROOT/locks/child.c" true || fail "the child lock outlived the killed lingerer"
	sleep 0.02   # a new work/ mtime must differ
	assert_eq "$($L run c -- cat /n)" 1
	[ "$(work_stamp)" != "$stamp" ] || fail "the next run did not make its own overlay"
}

# A run that cannot use the lingering overlay (user-namespace mode: the
# upper is shifted offline first) asks it to go, and waits, before that.
test_run_that_cannot_borrow_asks_it_to_go() {
	setup
	LAYERCTL_RUN_LINGER=60 $L run c -- sh -c 'echo 1 >/n'
	local stamp
	stamp=$(work_stamp)
	sleep 0.02
	assert_eq "$(LAYERCTL_RUN_LINGER=60 $L run c --private-users=pick -- cat /n)" 1
	assert_eq "$(linger_sock)" "" "the lingerer outlived a run that could not borrow"
	[ "$(work_stamp)" != "$stamp" ] || fail "the user-namespace run used the lingering overlay"
}

# The next run does not wait for the previous one's teardown to drop the run
# lock (it never had it): it waits for the child lock, then runs.  The first
# run's background unmount is held at its test hook, so this does not hang
# on how fast the disk syncs.
test_run_after_run_waits_for_the_teardown_not_refused() {
	setup
	export LAYERCTL_RUN_LINGER=0
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
# process of this store inside umount2 (not MNT_DETACH: that is the next
# run's container leaving the host's root), or waiting for the disk inside
# close (where the kernel syncs the upper file system, after the mount has
# left the mount table; a detached overlay goes with its last descriptor):
# there must be none.  The commands leave 32 MiB unwritten so that the sync
# takes a while.
watch_lock_and_teardown() {
	python3 - "$ROOT" "$T/watch.stop" <<'PY'
import fcntl, os, sys, platform, time
root, stop = sys.argv[1], sys.argv[2]
umount2, close = {"x86_64": ("166", "3"), "aarch64": ("39", "57")}[platform.machine()]
fd = os.open(root + "/locks/child.c", os.O_RDWR)
checks = bad = 0
def in_teardown():
    for p in os.listdir("/proc"):
        try:
            if not p.isdigit() or open("/proc/%s/comm" % p).read().strip() != "layerctl":
                continue
            call = open("/proc/%s/syscall" % p).read().split()
            nr = call[0]
            state = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()[0]
            # umount2(".", MNT_DETACH) is a starting container leaving the host's root, not a teardown
            if nr == umount2 and int(call[2], 16) & 2:
                continue
            if nr != umount2 and not (nr == close and state == "D"):
                continue
            if ("LAYERCTL_ROOT=" + root).encode() in open("/proc/%s/environ" % p, "rb").read().split(b"\0"):
                cmd = open("/proc/%s/cmdline" % p, "rb").read().replace(b"\0", b" ").strip().decode(errors="replace")
                return "pid %s in syscall %s, state %s: %s" % (p, " ".join(call[:3]), state, cmd)
        except (OSError, IndexError):
            pass
    return None
seen = []
while not os.path.exists(stop):
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        time.sleep(0.0005)
        continue
    checks += 1
    what = in_teardown()
    if what:
        bad += 1
        seen.append(what)
    fcntl.flock(fd, fcntl.LOCK_UN)
    time.sleep(0.0005)
print("checks=%d bad=%d %s" % (checks, bad, "; ".join(seen[:3])))
sys.exit(1 if bad else 0)
PY
}
test_child_lock_is_held_until_the_overlay_is_gone() {
	setup
	case "$(uname -m)" in x86_64|aarch64) ;; *) return 77 ;; esac
	local i wpid
	$L run c -- true   # the lock file exists
	watch_lock_and_teardown >"$T/watch.out" &
	wpid=$!
	for i in 1 2 3 4 5 6; do
		# the background teardown, and a short-lived lingerer's own
		[ "$i" -le 3 ] && export LAYERCTL_RUN_LINGER=0 || export LAYERCTL_RUN_LINGER=0.2
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
