#!/usr/bin/env bash
# layerctl run: real namespaces on a busybox child — pipes, exit status,
# the container's view (/dev, /proc, /sys, hostname, env, caps), options and
# child.conf keys, errors that name the step and leave nothing mounted.
. "$(dirname "$0")/lib.sh"


test_pipe_through_cat() {
	setup
	assert_eq "$(echo hi | $L run c -- cat)" hi
	# Descriptors of the caller do not leak into the container.
	assert_eq "$($L run c -- ls /proc/self/fd 7>/dev/null 9</dev/null | tr '\n' ' ')" "0 1 2 3 "
	assert_eq "$($L run c -- ls /proc/1/fd | tr '\n' ' ')" "0 1 2 "
	# Not mounted before: mounted for the run and unmounted again.
	assert_eq "$(mounts_below "$ROOT")" 0
}

# The stub init holds nothing of the host's by the time the command runs:
# the command's first act, many times over (a race lost one run in 25 under
# load before the command waited for the stub's close_range).
test_stub_holds_no_descriptor_when_the_command_starts() {
	setup
	$L mount c
	local i out busy=()
	# Busy CPUs make a preempted stub likely (for the length of the loop only).
	for i in 1 2 3; do sh -c 'while :; do :; done' & busy+=($!); done
	trap 'kill "${busy[@]}" 2>/dev/null || true; cleanup_test_dir' EXIT
	for i in $(seq 1 40); do
		out=$($L run c -- sh -c 'echo /proc/1/fd/*')
		[ "$out" = "/proc/1/fd/0 /proc/1/fd/1 /proc/1/fd/2" ] || break
	done
	kill "${busy[@]}"
	wait "${busy[@]}" 2>/dev/null || true
	assert_eq "$out" "/proc/1/fd/0 /proc/1/fd/1 /proc/1/fd/2" "run $i"
	# The same with a stub that takes 0.3 s before it drops its descriptors:
	# a command that did not wait for it would see them every time.
	out=$(LAYERCTL_TEST_HOOK=stub-before-close:sleep:300 $L run c -- sh -c 'echo /proc/1/fd/*')
	assert_eq "$out" "/proc/1/fd/0 /proc/1/fd/1 /proc/1/fd/2" "a slow stub"
	$L umount c
}

test_exit_status_propagates() {
	setup
	local rc=0
	$L run c -- sh -c 'exit 7' || rc=$?
	assert_eq "$rc" 7
	rc=0
	$L run c -- sh -c 'kill -TERM $$' || rc=$?
	assert_eq "$rc" 143 "128+SIGTERM"
	rc=0
	$L run c -- false || rc=$?
	assert_eq "$rc" 1
}

# The storage probe's answer is kept per file system, also for runs, which
# mount in a mount namespace of their own (with new mount IDs).
test_storage_probe_is_remembered_across_runs() {
	setup
	local i
	for i in 1 2 3; do $L run c -- /bin/true; done
	$L mount c
	$L umount c
	assert_eq "$(find "$LAYERCTL_RUNTIME_DIR" -path '*/upper-fs-ok/*' | wc -l)" "1"
}

test_premounted_overlay_stays_mounted() {
	setup
	$L mount c
	$L run c -- true
	assert_eq "$(mounts_below "$ROOT")" 1
	$L umount c
}

test_command_is_pid2_under_a_stub_init() {
	setup
	assert_eq "$($L run c -- sh -c 'echo $$')" 2
	# Only the stub and the shell: no host process is visible.  The shell
	# expands the glob itself (a pipe into wc would race with wc's fork).
	assert_eq "$($L run c -- sh -c 'set -- /proc/[0-9]*; echo $#')" 2
}

test_stub_init_reaps_orphans() {
	setup
	# An orphan (its parent shell exits at once) is re-parented to PID 1 and,
	# once it ends, must not stay a zombie.
	local out
	out=$($L run c -- sh -c 'sh -c "sleep 0.2 &"; sleep 1; cat /proc/[0-9]*/stat 2>/dev/null | cut -d" " -f2,3 | grep -c " Z" || true')
	assert_eq "$out" 0
}

test_hostname_env_and_defaults() {
	setup
	assert_eq "$($L run c -- hostname)" c
	assert_eq "$($L run c -- sh -c 'echo $container')" layerctl
	assert_eq "$($L run c -- sh -c 'echo $PATH')" /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	assert_eq "$($L run c -- sh -c 'pwd')" /
	assert_eq "$(env -i FOO=bar LAYERCTL_ROOT="$ROOT" LAYERCTL_RUNTIME_DIR="$LAYERCTL_RUNTIME_DIR" \
		$L run c -- sh -c 'echo ${FOO:-unset}')" unset
	assert_eq "$($L run c -- sh -c 'cat /proc/self/cmdline | tr "\0" " "')" "cat /proc/self/cmdline "
}

test_dev_is_minimal_and_private() {
	setup
	assert_eq "$($L run c -- ls /dev | tr '\n' ' ')" \
		"console fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero "
	assert_eq "$($L run c -- sh -c 'echo x >/dev/null && head -c 4 /dev/zero | wc -c')" 4
	assert_eq "$($L run c -- readlink /dev/ptmx)" pts/ptmx
	# A private devpts: none of the host's ptys.
	assert_eq "$($L run c -- ls /dev/pts | tr '\n' ' ')" "ptmx "
	assert_contains "$($L run c -- cat /proc/mounts)" "devpts /dev/pts devpts"
}

test_proc_masked_and_sys_read_only() {
	setup
	assert_contains "$($L run c -- sh -c 'echo 1 >/proc/sys/kernel/ns_last_pid' 2>&1 || true)" "Read-only file system"
	# Kernel symbols and keys are covered by an inaccessible node (nodev /proc).
	assert_contains "$($L run c -- sh -c 'wc -c </proc/kallsyms' 2>&1 || true)" "Permission denied"
	assert_contains "$($L run c -- sh -c 'wc -c </proc/keys' 2>&1 || true)" "Permission denied"
	wc -c </proc/kallsyms >/dev/null   # while the host can read them
	assert_contains "$($L run c -- sh -c 'mkdir /sys/x' 2>&1 || true)" "Read-only file system"
	assert_contains "$($L run c -- cat /proc/mounts)" "sysfs /sys sysfs ro"
	assert_contains "$($L run c -- cat /proc/mounts)" "tmpfs /tmp tmpfs"
	assert_contains "$($L run c -- cat /proc/mounts)" "tmpfs /run tmpfs"
}

# nspawn's bounding set (0xfdecafff) as far as the host's own allows.
caps_within_host() {
	local host
	host=$(awk '/^CapBnd/ {print $2}' /proc/self/status)
	printf '%016x' $((0x$host & $1))
}

test_capabilities_and_no_new_privs() {
	setup
	local status
	status=$($L run c -- cat /proc/self/status)
	# nspawn's bounding set without CAP_SYS_ADMIN (bit 21).
	assert_contains "$status" "CapBnd:	$(caps_within_host 0xfdccafff)"
	assert_contains "$status" "CapEff:	$(caps_within_host 0xfdccafff)"
	assert_contains "$status" "NoNewPrivs:	1"
	assert_contains "$status" "Seccomp:	2"
	status=$($L run c --capability=CAP_SYS_ADMIN --drop-capability=CAP_MKNOD,CAP_NET_RAW -- cat /proc/self/status)
	assert_contains "$status" "CapBnd:	$(caps_within_host $((0xfdecafff & ~0x8002000)))"
	expect_fail $L run c --capability=CAP_BOGUS -- true
	assert_contains "$ERR" "unknown capability"
}

test_options() {
	setup
	mkdir -p "$T/share" "$T/ro"
	echo shared >"$T/share/f"
	echo readonly >"$T/ro/f"
	echo "user:x:1000:1000::/home/user:/bin/sh" >>"$ROOT/bases/bb/gens/1/tree/etc/passwd"
	local out
	out=$($L run c --setenv A=1 -E B=two --hostname web --chdir /tmp --bind "$T/share:/mnt/share" \
		--bind-ro "$T/ro:/mnt/ro" --tmpfs /scratch:size=1m -- \
		sh -c 'echo $A $B $(hostname) $(pwd); cat /mnt/share/f /mnt/ro/f; echo new >/mnt/share/g;
		       echo x >/mnt/ro/g 2>/dev/null || echo ro-refused; grep " /scratch " /proc/mounts | cut -d" " -f3')
	assert_eq "$out" "1 two web /tmp
shared
readonly
ro-refused
tmpfs"
	assert_eq "$(cat "$T/share/g")" new
	assert_eq "$($L run c --user user -- sh -c 'id -u; echo $HOME $USER')" "1000
/home/user user"
	assert_eq "$($L run c --user user -- grep CapEff /proc/self/status)" "CapEff:	0000000000000000"
	expect_fail $L run c --user nobody -- true
	assert_contains "$ERR" "run c: user nobody"
}

test_private_network_has_only_loopback() {
	setup
	assert_eq "$($L run c --private-network -- ls /sys/class/net | tr '\n' ' ')" "lo "
	assert_contains "$($L run c --private-network -- cat /sys/class/net/lo/operstate)" "unknown"
	# Without it: the host's interfaces, every one of them (not just lo).
	local host
	host=$(ls /sys/class/net | sort | tr '\n' ' ')
	[ "$host" != "lo " ] || skip "the host has no interface but lo: nothing to tell the runs apart"
	assert_eq "$($L run c -- ls /sys/class/net | sort | tr '\n' ' ')" "$host"
}

test_settings_keys_in_child_conf() {
	setup
	mkdir -p "$T/share"
	echo from-host >"$T/share/f"
	cat >>"$ROOT/children/c/child.conf" <<-EOF
	[Exec]
	Hostname=confhost
	Environment=GREETING=hello
	WorkingDirectory=/etc
	DropCapability=CAP_CHOWN
	Parameters=echo from parameters
	[Files]
	BindReadOnly=$T/share:/srv
	TemporaryFileSystem=/data
	EOF
	local out
	out=$($L run c -- sh -c 'echo $(hostname) $GREETING $(pwd) $(cat /srv/f); grep " /data " /proc/mounts | cut -d" " -f3; grep CapBnd /proc/self/status')
	assert_eq "$out" "confhost hello /etc from-host
tmpfs
CapBnd:	$(caps_within_host 0xfdccaffe)"
	# Options win over the file.
	assert_eq "$($L run c --hostname opt -- hostname)" opt
	# Parameters= is the default command.
	assert_eq "$($L run c)" "from parameters"
}

test_bad_settings_name_the_key() {
	setup
	printf '[Exec]\nCapability=CAP_NOPE\n' >>"$ROOT/children/c/child.conf"
	expect_fail $L run c -- true
	assert_contains "$ERR" "Exec.Capability=CAP_NOPE: unknown capability"
}

test_errors_name_the_step_and_leave_nothing_mounted() {
	setup
	expect_fail $L run nope -- true
	assert_contains "$ERR" "run nope: no such child"
	local rc=0
	$L run c -- /bin/nonexistent 2>"$T/err" || rc=$?
	assert_eq "$rc" 127
	assert_contains "$(cat "$T/err")" "run c: exec /bin/nonexistent: No such file or directory"
	expect_fail $L run c --bind /nonexistent/dir:/x -- true
	assert_contains "$ERR" "run c: bind source /nonexistent/dir: No such file or directory"
	assert_eq "$(mounts_below "$ROOT")" 0
	expect_fail $L run c --chdir /nope -- true
	assert_contains "$ERR" "run c: chdir /nope"
	assert_eq "$(mounts_below "$ROOT")" 0
	expect_fail $L run c --boot --user root
	assert_contains "$ERR" "does not go with --boot"
	expect_fail $L run c --bind relative -- true
	expect_fail $L run c extra -- true
}

test_image_without_dev_and_proc() {
	setup
	rmdir "$ROOT/bases/bb/gens/1/tree/dev" "$ROOT/bases/bb/gens/1/tree/proc"
	assert_eq "$($L run c -- sh -c 'ls /dev/null; ls /proc/self/exe')" "/dev/null
/proc/self/exe"
}

test_refuses_the_host_root() {
	setup
	# An overlay root that is an alias of the host's / (a bind mount of it).
	mount --bind / "$ROOT/children/c/root"
	expect_fail $L run c -- true
	assert_contains "$ERR" "host's root"
	umount "$ROOT/children/c/root"
}

test_runs_at_most_once() {
	setup
	trap '$L stop c --timeout 1 >/dev/null 2>&1 || true; cleanup_test_dir' EXIT
	$L run c -- sleep 30 </dev/null >/dev/null 2>&1 &
	local pid=$! i
	for i in $(seq 100); do $L ps | grep -q "^c " && break; sleep 0.05; done
	expect_fail $L run c -- true
	assert_contains "$ERR" "already running"
	expect_fail $L umount c
	assert_contains "$ERR" "running"
	assert_contains "$($L ps)" "c "
	assert_eq "$($L ps --json | grep -c '"name": *"c"')" 1
	assert_contains "$($L child show c --json)" '"running": true'
	kill -TERM $pid
	local rc=0
	wait $pid || rc=$?
	assert_eq "$rc" 143 "SIGTERM forwarded to the command"
	assert_eq "$(mounts_below "$ROOT")" 0
	assert_contains "$($L child show c --json)" '"running": false'
}

test_pty_console() {
	setup
	command -v script >/dev/null || skip "no script(1)"
	local out
	out=$(script -qec "stty rows 40 cols 100; $L run c -- sh -c 'tty; stty size'" /dev/null </dev/null)
	assert_contains "$out" "/dev/pts/0"
	# The window size of the host terminal is copied onto the container's pty.
	assert_contains "$out" "40 100"
	# ^] three times leaves a shell that would otherwise run for a minute.
	local start=$SECONDS
	out=$( (sleep 0.5; printf '\035\035\035') | script -qec "$L run c -- sleep 60" /dev/null) || true   # 137: killed
	[ $((SECONDS - start)) -lt 10 ] || fail "escape did not leave"
	assert_contains "$out" "Left container c"
	assert_eq "$(mounts_below "$ROOT")" 0
}

test_kill_9_of_run_leaves_nothing_mounted() {
	setup
	trap '$L stop c --timeout 1 >/dev/null 2>&1 || true; cleanup_test_dir' EXIT
	$L run c -- sh -c 'echo started >/tmp/x; sleep 1000' </dev/null >/dev/null 2>&1 &
	local pid=$! i
	for i in $(seq 100); do $L ps | grep -q "^c " && break; sleep 0.05; done
	# Running: the overlay is the container's, the host does not see it.
	assert_eq "$(mounts_below "$ROOT")" 0
	for i in $(seq 100); do [ "$($L exec c -- cat /tmp/x 2>/dev/null)" = started ] && break; sleep 0.05; done
	assert_eq "$($L exec c -- cat /tmp/x)" started
	kill -9 $pid
	wait $pid || true
	for i in $(seq 100); do [ "$($L ps | wc -l)" = 1 ] && break; sleep 0.05; done
	assert_eq "$(mounts_below "$ROOT")" 0 "no overlay left after kill -9"
	# The next run mounts afresh and works; the killed run's container is gone.
	# (only the stub and the shell: the glob is the shell's own, no pipe to race)
	assert_eq "$($L run c -- sh -c 'set -- /proc/[0-9]*; echo $#')" 2
	assert_eq "$(mounts_below "$ROOT")" 0
}

test_run_of_a_user_mounted_child_uses_and_keeps_that_mount() {
	setup
	$L mount c
	$L run c -- sh -c 'echo via-run >/f'
	assert_eq "$(cat "$ROOT/children/c/root/f")" via-run "the run wrote through the user's mount"
	assert_eq "$(mounts_below "$ROOT")" 1
	$L umount c
}

test_pty_relay_with_piped_input_does_not_deadlock() {
	setup
	base64 /dev/urandom | head -c 300000 >"$T/in"
	local newlines out
	newlines=$(tr -cd '\n' <"$T/in" | wc -c)
	# The pty turns each \n into \r\n; nothing is echoed (the input is no terminal).
	out=$(timeout -s KILL 60 $L run c --console=pty -- cat <"$T/in" | wc -c)
	assert_eq "$out" $((300000 + newlines)) "every byte through the pty, then EOF"
	timeout -s KILL 60 $L run c --console=pty -- cat <"$T/in" | tr -d '\r' | cmp -s - "$T/in" || fail "content differs"
	# A partial last line still arrives (EOF twice: the first ends the line).
	assert_eq "$(printf 'no newline' | timeout -s KILL 20 $L run c --console=pty -- cat)" "no newline"
	assert_eq "$(mounts_below "$ROOT")" 0
}

test_sigterm_always_ends_run() {
	setup
	local start=$SECONDS rc=0
	# A container that reads nothing while input keeps coming: the relay must still read SIGTERM.
	timeout -s KILL 30 bash -c "base64 /dev/urandom | timeout -s TERM 2 $L run c --console=pty -- sleep 1000 >/dev/null" || rc=$?
	assert_eq "$rc" 124 "ended by timeout's SIGTERM, not by the KILL safety net"
	[ $((SECONDS - start)) -lt 15 ] || fail "took $((SECONDS - start))s"
	# A command that ignores SIGTERM is killed after the grace period (10 s).
	start=$SECONDS rc=0
	timeout -s KILL 40 timeout -s TERM 1 $L run c -- sh -c 'trap "" TERM; sleep 1000' || rc=$?
	assert_eq "$rc" 124
	[ $((SECONDS - start)) -lt 30 ] || fail "took $((SECONDS - start))s"
	# … or at once on a second SIGTERM/SIGINT.
	$L run c -- sh -c 'trap "" TERM INT; sleep 1000' </dev/null &
	local pid=$! i
	for i in $(seq 100); do $L ps | grep -q "^c " && break; sleep 0.05; done
	start=$SECONDS
	kill -TERM $pid
	sleep 0.5
	kill -INT $pid
	rc=0
	wait $pid || rc=$?
	assert_eq "$rc" 137 "killed"
	[ $((SECONDS - start)) -lt 5 ] || fail "took $((SECONDS - start))s"
	assert_eq "$($L ps | wc -l)" 1
	assert_eq "$(mounts_below "$ROOT")" 0
}

test_a_terminal_on_any_stdio_gets_a_pty_of_its_own() {
	setup
	command -v script >/dev/null || skip "no script(1)"
	# Only stdin (and stderr) a terminal, stdout a file: fd 0 is the container's
	# own /dev/pts/0 (never the host's terminal); the file gets exact bytes.
	script -qec "$L run c -- sh -c 'stat -L -c \"%d %i\" /proc/self/fd/0 /dev/pts/0; printf \"a\\nb\\n\"' >$T/out" /dev/null </dev/null >/dev/null
	assert_eq "$(sed -n 1p "$T/out")" "$(sed -n 2p "$T/out")" "fd 0 is the container's pty"
	assert_eq "$(tail -n 2 "$T/out" | od -c | head -1)" "$(printf 'a\nb\n' | od -c | head -1)"
	# Only stdout a terminal: stdin stays the pipe, stdout is the container's pty.
	local out
	out=$(script -qec "echo piped | $L run c -- sh -c 'cat; stat -L -c \"%d %i\" /proc/self/fd/1 /dev/pts/0; readlink /proc/self/fd/0'" /dev/null </dev/null)
	assert_contains "$out" "piped"
	assert_contains "$out" "pipe:"
	local a b
	a=$(printf '%s\n' "$out" | tr -d '\r' | sed -n 2p)
	b=$(printf '%s\n' "$out" | tr -d '\r' | sed -n 3p)
	assert_eq "$a" "$b" "fd 1 is the container's pty"
	# Nothing a terminal: plain pipes.
	assert_eq "$($L run c -- readlink /proc/self/fd/1 | cut -d: -f1)" pipe
}

test_tampered_seccomp_cache_is_rebuilt_and_runtime_dir_checked() {
	setup
	# The attack needs only mknod of a block device to succeed, as it does on the host.
	mknod "$T/blk" b 7 0 && rm "$T/blk"
	assert_contains "$($L run c -- mknod /tmp/blk b 7 0 2>&1 || true)" "Operation not permitted"
	local f
	f=$(echo "$LAYERCTL_RUNTIME_DIR"/stores/*/seccomp-plain-*.bpf)
	assert_file "$f"
	# Overwritten with an allow-all program (BPF_RET|BPF_K, SECCOMP_RET_ALLOW):
	# the next run rebuilds the filter instead of loading it.
	printf '\006\000\000\000\000\000\377\177' >"$f"
	assert_contains "$($L run c -- mknod /tmp/blk b 7 0 2>&1 || true)" "Operation not permitted"
	[ "$(stat -c %s "$f")" -gt 8 ] || fail "cache not rewritten"
	# The same program behind a well-formed header (magic, length) whose
	# digest does not match: only the digest stops it.
	printf 'LCBPF\000\000\001\010\000\000\000\000\000\000\000' >"$f"
	head -c 16 /dev/zero >>"$f"
	printf '\006\000\000\000\000\000\377\177' >>"$f"
	assert_eq "$(stat -c %s "$f")" 40
	assert_contains "$($L run c -- mknod /tmp/blk b 7 0 2>&1 || true)" "Operation not permitted"
	[ "$(stat -c %s "$f")" -gt 40 ] || fail "cache with a wrong digest not rewritten"
	# A cache file someone else owns, or may write, is not used but replaced.
	chown 65534 "$f"
	$L run c -- true
	assert_eq "$(stat -c %u "$f")" 0
	chmod g+w "$f"
	$L run c -- true
	assert_eq "$(stat -c %a "$f")" 600
	# A runtime dir (or a directory above it) others may change is refused.
	local rt
	rt=$(dirname "$f")
	chmod o+w "$rt"
	expect_fail $L run c -- true
	assert_contains "$ERR" "run c: runtime dir"
	assert_contains "$ERR" "writable by group or others"
	chmod o-w "$rt"
	chown 65534 "$LAYERCTL_RUNTIME_DIR"
	expect_fail $L run c -- true
	assert_contains "$ERR" "owned by another user"
	expect_fail $L stop c
	assert_contains "$ERR" "owned by another user"
	chown 0 "$LAYERCTL_RUNTIME_DIR"
	# A sticky, world-writable directory above it (like /tmp) is fine.
	chmod 1777 "$T"
	$L run c -- true
	chmod 700 "$T"
	assert_eq "$(mounts_below "$ROOT")" 0
}

run_tests
