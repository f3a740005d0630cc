#!/usr/bin/env bash
# Base generations: base update (--from a dir or a tarball, -- CMD), hard
# links shared with the previous generation, crash safety of the commit,
# base show / diff / rollback / gc, and their errors.
. "$(dirname "$0")/lib.sh"

# A busybox base "b" (generation 1) with some files of our own in /etc.
prepare_tree() {
	local i
	for i in $(seq 1 20); do echo "file $i" >"$1/etc/f$i"; done
	mkdir -p "$1/data"
	dd if=/dev/urandom of="$1/data/big" bs=64K count=16 2>/dev/null
	setfattr -n user.tag -v one "$1/etc/f1"
}
make_base() { setup b; }

gen_tree() { echo "$ROOT/bases/b/gens/$1/tree"; }
ino() { stat -c %i "$1"; }
current() { sed -n 's/^Current=//p' "$ROOT/bases/b/base.conf"; }

# A copy of the source with: f1 changed, f2 removed, f3 chmod'ed, new file, big file untouched.
make_changed_copy() {
	cp -a "$T/src" "$T/src2"
	echo "changed" >"$T/src2/etc/f1"
	rm "$T/src2/etc/f2"
	chmod 600 "$T/src2/etc/f3"
	echo "new" >"$T/src2/etc/new"
}

check_gen2_against_gen1() {
	local g1 g2; g1=$(gen_tree 1); g2=$(gen_tree 2)
	assert_eq "$(current)" 2
	assert_eq "$(cat "$g2/etc/f1")" "changed"
	assert_no_file "$g2/etc/f2"
	assert_eq "$(cat "$g2/etc/new")" "new"
	# unchanged files are the very same inodes
	assert_eq "$(ino "$g2/data/big")" "$(ino "$g1/data/big")" "big file shared"
	assert_eq "$(ino "$g2/etc/f4")" "$(ino "$g1/etc/f4")" "f4 shared"
	assert_eq "$(ino "$g2/bin/busybox")" "$(ino "$g1/bin/busybox")" "busybox shared"
	# changed content and metadata-only changes are new inodes; gen 1 is untouched
	[ "$(ino "$g2/etc/f1")" != "$(ino "$g1/etc/f1")" ] || fail "changed file shares the old inode"
	[ "$(ino "$g2/etc/f3")" != "$(ino "$g1/etc/f3")" ] || fail "chmod'ed file shares the old inode"
	assert_eq "$(stat -c %a "$g1/etc/f3")" "644" "old generation's mode untouched"
	assert_eq "$(stat -c %a "$g2/etc/f3")" "600"
	assert_eq "$(cat "$g1/etc/f1")" "file 1"
	assert_eq "$(getfattr --only-values -n user.tag "$g1/etc/f1")" "one"
	# both manifests describe their trees exactly
	$L base verify b --gen 1 >/dev/null 2>&1 || fail "generation 1 no longer matches its manifest"
	$L base verify b --gen 2 >/dev/null 2>&1 || fail "generation 2 does not match its manifest"
	grep -q '^Changed=2$' "$ROOT/bases/b/gens/2/gen.conf"
	grep -q '^Added=1$' "$ROOT/bases/b/gens/2/gen.conf"
	grep -q '^Removed=1$' "$ROOT/bases/b/gens/2/gen.conf"
}

test_update_from_directory() {
	make_base
	make_changed_copy
	local before after
	before=$(du -sk --apparent-size "$ROOT" | cut -f1)
	$L base update b --from "$T/src2" --description "second" >/dev/null
	check_gen2_against_gen1
	after=$(du -sk "$ROOT" | cut -f1)
	# du counts a hard-linked inode once: the new generation adds its dirs and the few changed files
	[ $((after - $(du -sk "$ROOT/bases/b/gens/1" | cut -f1))) -lt 200 ] || fail "generation 2 holds too much: $((after)) KiB in all"
	: "$before"
	grep -q '^Description=second$' "$ROOT/bases/b/gens/2/gen.conf"
}

test_update_from_tarball() {
	make_base
	make_changed_copy
	tar -C "$T/src2" --xattrs -czf "$T/new.tar.gz" .
	$L base update b --from "$T/new.tar.gz" >/dev/null
	check_gen2_against_gen1
}

test_disk_added_close_to_bytes_changed() {
	make_base
	local i
	for i in $(seq 1 8); do dd if=/dev/urandom of="$T/src/data/blob$i" bs=64K count=16 2>/dev/null; done
	$L base import big "$T/src" >/dev/null 2>&1
	local used0 used1
	used0=$(du -sk "$ROOT/bases/big" | cut -f1)
	# change one 1 MiB blob of nine
	$L base update big -- sh -c 'dd if=/dev/zero of=/data/blob1 bs=64K count=16 2>/dev/null' >/dev/null 2>&1
	used1=$(du -sk "$ROOT/bases/big" | cut -f1)
	local added=$((used1 - used0))
	[ "$added" -ge 1024 ] && [ "$added" -lt 1400 ] || fail "disk added ${added} KiB for a 1024 KiB change"
}

test_update_command_commits() {
	make_base
	$L base update b --description "by command" -- sh -c '
		echo hi >/etc/f4; rm /etc/f5; mkdir /opt; echo x >/opt/y; touch /etc/f6
		chmod 700 /etc/f7; rm -rf /var; mkdir /var; echo z >/var/z' >/dev/null 2>&1
	local g1 g2; g1=$(gen_tree 1); g2=$(gen_tree 2)
	assert_eq "$(current)" 2
	assert_eq "$(cat "$g2/etc/f4")" "hi"
	assert_no_file "$g2/etc/f5"
	assert_eq "$(cat "$g2/opt/y")" "x"
	# the opaque /var replaced the old one: var/tmp is gone, z is there
	assert_no_file "$g2/var/tmp"
	assert_eq "$(cat "$g2/var/z")" "z"
	# a touch copied the file up without changing it: it stays a link to the old inode
	assert_eq "$(ino "$g2/etc/f6")" "$(ino "$g1/etc/f6")" "touched file re-linked"
	[ "$(ino "$g2/etc/f7")" != "$(ino "$g1/etc/f7")" ] || fail "chmod'ed file shares the old inode"
	assert_eq "$(stat -c %a "$g1/etc/f7")" "644"
	assert_eq "$(ino "$g2/data/big")" "$(ino "$g1/data/big")"
	# no overlay bookkeeping leaks into the tree
	if getfattr -R -d -m 'trusted.overlay' --absolute-names "$g2" 2>/dev/null | grep -q overlay; then
		fail "overlay xattrs in the committed tree"
	fi
	assert_eq "$(cat "$g1/etc/f4")" "file 4"
	$L base verify b --gen 2 >/dev/null 2>&1 || fail "generation 2 does not match its manifest"
	# nothing of the scratch overlay is left, nothing mounted
	assert_eq "$(ls -A "$ROOT/bases/b/gens")" "$(printf '1\n2')"
	assert_eq "$(mounts_below "$ROOT")" 0
}

test_update_command_sees_the_hosts_resolv_conf() {
	make_base
	[ -r /etc/resolv.conf ] || skip "the host has no /etc/resolv.conf"
	echo "nameserver 192.0.2.1" >"$T/src/etc/resolv.conf"
	$L base import r "$T/src" >/dev/null 2>&1
	$L base update r -- sh -c 'cat /etc/resolv.conf >/seen' >/dev/null 2>&1
	assert_eq "$(cat "$ROOT/bases/r/gens/2/tree/seen")" "$(cat /etc/resolv.conf)"
	# the base's own file is not part of the change
	assert_eq "$($L base diff r --color=never)" "A /seen"
	assert_eq "$(cat "$ROOT/bases/r/gens/2/tree/etc/resolv.conf")" "nameserver 192.0.2.1"
	# without one in the base, none is created
	$L base update b -- true >/dev/null 2>&1
	assert_no_file "$(gen_tree 2)/etc/resolv.conf"
}

test_runner_mount_points_are_not_committed() {
	mkdir -p "$T/min/bin" "$T/min/etc"
	cp "$BUSYBOX" "$T/min/bin/busybox"; ln -s busybox "$T/min/bin/sh"; ln -s busybox "$T/min/bin/true"
	$L base import m "$T/min" >/dev/null 2>&1
	$L base update m -- true >/dev/null 2>&1
	# the runner made /dev and /proc to mount on; the command changed nothing
	assert_eq "$($L base diff m)" ""
	assert_no_file "$ROOT/bases/m/gens/2/tree/dev"
	assert_no_file "$ROOT/bases/m/gens/2/tree/proc"
}

test_update_command_failure_commits_nothing() {
	make_base
	expect_fail $L base update b -- sh -c 'echo x >/etc/f1; exit 3'
	assert_contains "$ERR" "status 3; nothing committed"
	assert_eq "$(current)" 1
	assert_eq "$(ls -A "$ROOT/bases/b/gens")" "1"
	expect_fail $L base update b -- /no/such/command
	assert_contains "$ERR" "nothing committed"
	assert_eq "$(ls -A "$ROOT/bases/b/gens")" "1"
	assert_eq "$(mounts_below "$ROOT")" 0
}

test_update_command_is_confined() {
	make_base
	# the runner's hardening: own PID namespace, hostname, no CAP_SYS_ADMIN
	$L base update b -- sh -c 'echo $$ >/pid; hostname >/host; mount -t tmpfs none /tmp 2>/dev/null && echo yes >/mounted; true' >/dev/null 2>&1
	local g2; g2=$(gen_tree 2)
	assert_eq "$(cat "$g2/pid")" "2"
	assert_eq "$(cat "$g2/host")" "b"
	assert_no_file "$g2/mounted"
}

# Kill the commit at every step: generation 1 stays current, nothing half
# is visible, and the next command sweeps what was left.
test_crash_at_every_step() {
	make_base
	make_changed_copy
	local k
	for k in 1 2 3 4 5; do
		local rc=0
		LAYERCTL_TEST_CRASH_AT=gen-commit:$k $L base update b --from "$T/src2" >/dev/null 2>&1 || rc=$?
		assert_eq "$rc" 137 "killed at step $k"
		assert_eq "$(current)" 1 "current after a crash at step $k"
		$L base show b | grep -q '^Generation:  1 (of 1)$' || fail "a half generation is listed after step $k"
		[ -n "$(ls -A "$ROOT/bases/b/gens" | grep -v '^1$')" ] || fail "step $k left nothing to sweep (crash point not reached?)"
		$L base list >/dev/null
		$L child list >/dev/null 2>&1 || true
		# base update sweeps before it builds; child create sweeps the store
		$L child create "c$k" --base b >/dev/null 2>&1
		assert_eq "$(ls -A "$ROOT/bases/b/gens")" "1" "leftover of step $k swept"
	done
	# a crash after the commit point: generation 2 is complete and current
	local rc=0
	LAYERCTL_TEST_CRASH_AT=gen-commit:6 $L base update b --from "$T/src2" >/dev/null 2>&1 || rc=$?
	assert_eq "$rc" 137
	check_gen2_against_gen1
}

test_crash_at_every_step_of_a_command_commit() {
	make_base
	local k
	for k in 1 2 3 4 5; do
		local rc=0
		LAYERCTL_TEST_CRASH_AT=gen-commit:$k $L base update b -- sh -c 'echo x >/etc/f1; rm /etc/f2' >/dev/null 2>&1 || rc=$?
		assert_eq "$rc" 137 "killed at step $k"
		assert_eq "$(current)" 1 "current after a crash at step $k"
		assert_eq "$(mounts_below "$ROOT")" 0
		$L base show b | grep -q '^Generation:  1 (of 1)$' || fail "a half generation is listed after step $k"
		$L base gc b >/dev/null 2>&1
		assert_eq "$(ls -A "$ROOT/bases/b/gens")" "1" "leftover of step $k swept"
		assert_eq "$(cat "$(gen_tree 1)/etc/f1")" "file 1"
	done
}

test_crash_during_command() {
	make_base
	$L base update b -- sh -c 'echo x >/etc/f1; sleep 30' >/dev/null 2>&1 &
	local pid=$! i
	for i in $(seq 1 100); do
		[ -n "$(ls -A "$ROOT/bases/b/gens" | grep '^\.new-')" ] && break
		sleep 0.1
	done
	sleep 0.5
	kill -9 "$pid"; wait "$pid" 2>/dev/null || true
	sleep 0.5
	assert_eq "$(current)" 1
	assert_eq "$(mounts_below "$ROOT")" 0
	# the command died with it (no sleep of ours is left running anywhere)
	pgrep -f 'echo x >/etc/f1; sleep 30' >/dev/null && fail "the scratch command outlived base update"
	$L base update b -- true >/dev/null 2>&1
	assert_eq "$(ls -A "$ROOT/bases/b/gens")" "$(printf '1\n2')"
	assert_eq "$(cat "$(gen_tree 2)/etc/f1")" "file 1"
}

test_concurrent_updates_are_serialized() {
	make_base
	$L base update b -- sh -c 'sleep 1; echo one >/etc/one' >/dev/null 2>&1 &
	local p1=$!
	sleep 0.3
	$L base update b -- sh -c 'echo two >/etc/two' >/dev/null 2>&1 &
	local p2=$!
	wait "$p1"; wait "$p2"
	assert_eq "$(current)" 3
	# the second waited for the first and built on it: nothing lost
	assert_eq "$(cat "$(gen_tree 3)/etc/one")" "one"
	assert_eq "$(cat "$(gen_tree 3)/etc/two")" "two"
	grep -q '^Parent=2$' "$ROOT/bases/b/gens/3/gen.conf"
}

test_show_and_json() {
	make_base
	make_changed_copy
	$L base update b --from "$T/src2" --description "second one" >/dev/null 2>&1
	$L child create c1 --base b >/dev/null 2>&1
	local out; out=$($L base show b)
	assert_contains "$out" "Generation:  2 (of 1 2)"
	echo "$out" | grep -Eq '^\*2 +[0-9T:-]+Z +2 +1 +1 +1 +[0-9.]+ [KM]iB +second one$' || fail "no generation 2 line: $out"
	echo "$out" | grep -Eq '^ 1 +[0-9T:-]+Z +- +- +- +0 ' || fail "no generation 1 line: $out"
	$L base show b --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["current_generation"] == 2 and d["generations"] == [1, 2], d
g1, g2 = d["generation_details"]
assert g2["current"] and not g1["current"], d
assert (g2["changed"], g2["added"], g2["removed"]) == (2, 1, 1), g2
assert g2["children"] == ["c1"] and g1["children"] == [], d
assert g2["parent"] == 1 and g1["parent"] is None, d
assert g2["description"] == "second one", g2
# the busybox binary and the 1 MiB file are shared: neither generation holds them alone
assert 0 < g2["own_disk_bytes"] < 512 * 1024 and 0 < g1["own_disk_bytes"] < 512 * 1024, d
'
	$L base list | grep -Eq '^b +2 +1 ' || fail "base list does not show generation 2"
}

test_base_diff() {
	make_base
	make_changed_copy
	$L base update b --from "$T/src2" >/dev/null 2>&1
	assert_eq "$($L base diff b --color=never)" "$(printf 'M /etc/f1\nD /etc/f2\nm /etc/f3\nA /etc/new')"
	assert_eq "$($L base diff b 1 2 --format=docker)" "$(printf 'C /etc/f1\nD /etc/f2\nC /etc/f3\nA /etc/new')"
	assert_eq "$($L base diff b 2 1 --color=never)" "$(printf 'M /etc/f1\nA /etc/f2\nm /etc/f3\nD /etc/new')"
	assert_eq "$($L base diff b 2 2)" ""
	$L base diff b --summary | grep -Eq '^m metadata +1 ' || fail "summary"
	$L base diff b --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert (d["from"], d["to"]) == (1, 2), d
got = [(c["path"], c["class"], c["changes"]) for c in d["changes"]]
assert got == [("/etc/f1", "M", ["content"]), ("/etc/f2", "D", []), ("/etc/f3", "m", ["mode"]), ("/etc/new", "A", [])], got
assert d["summary"]["added"]["count"] == 1, d
'
	local rc=0; $L base diff b --exit-code >/dev/null || rc=$?
	assert_eq "$rc" 3
	$L base diff b 1 1 --exit-code
	# the same answer as comparing the trees
	local expect; expect=$(diff -rq "$(gen_tree 1)" "$(gen_tree 2)" 2>&1 | wc -l)
	assert_eq "$expect" 3 "diff -rq sees content and presence only"
}

test_rollback() {
	make_base
	make_changed_copy
	$L base update b --from "$T/src2" >/dev/null 2>&1
	$L child create c2 --base b >/dev/null 2>&1
	$L base rollback b 2>/dev/null
	assert_eq "$(current)" 1
	grep -q '^Generation=2$' "$ROOT/children/c2/child.conf" || fail "rollback touched a child"
	$L base rollback b --to 2 2>/dev/null
	assert_eq "$(current)" 2
	$L base rollback b --to 2 2>&1 | grep -q "already current"
	expect_fail $L base rollback b --to 7; assert_contains "$ERR" "no generation 7"
	expect_fail $L base rollback b --to 0; assert_contains "$ERR" "not a generation number"
	expect_fail $L base rollback b --to x2; assert_contains "$ERR" "not a generation number"
	$L base rollback b --to 1 2>/dev/null
	expect_fail $L base rollback b; assert_contains "$ERR" "oldest"
	# a child created now gets generation 1
	$L child create c1 --base b >/dev/null 2>&1
	grep -q '^Generation=1$' "$ROOT/children/c1/child.conf"
}

test_gc_keeps_pinned_and_frees_the_rest() {
	make_base
	local i
	# generations 2..6, each replacing the 1 MiB big file
	for i in 2 3 4 5 6; do
		$L base update b -- sh -c "dd if=/dev/urandom of=/data/big bs=64K count=16 2>/dev/null" >/dev/null 2>&1
	done
	assert_eq "$(current)" 6
	$L base rollback b --to 3 2>/dev/null        # current 3, previous 6
	# child on 2, a pending undo pinning 4 (what refresh writes)
	$L child create c1 --base b >/dev/null 2>&1
	sed -i 's/^Generation=.*/Generation=2\nUndoGeneration=4/' "$ROOT/children/c1/child.conf"
	local out; out=$($L base gc b --dry-run 2>&1)
	assert_contains "$out" "would remove b generation 1"
	assert_contains "$out" "would remove b generation 5"
	assert_eq "$(ls "$ROOT/bases/b/gens" | sort -n | tr '\n' ' ')" "1 2 3 4 5 6 " "dry run removed something"
	local before after; before=$(du -sk "$ROOT" | cut -f1)
	out=$($L base gc b 2>&1)
	after=$(du -sk "$ROOT" | cut -f1)
	assert_eq "$(ls "$ROOT/bases/b/gens" | sort -n | tr '\n' ' ')" "2 3 4 6 "
	# generation 1's big file was its own (1 MiB), 5's too: about 2 MiB freed and reported
	local freed=$((before - after))
	[ "$freed" -ge 2048 ] && [ "$freed" -lt 2600 ] || fail "freed $freed KiB"
	echo "$out" | grep -Eq 'removed 2 generations, 2\.[0-9] MiB' || fail "reported: $out"
	# the survivors are intact
	for i in 2 3 4 6; do $L base verify b --gen $i >/dev/null 2>&1 || fail "generation $i damaged by gc"; done
	# --keep 2 keeps the two newest; --all works across bases
	sed -i '/^UndoGeneration=/d' "$ROOT/children/c1/child.conf"
	$L base gc --all --keep 2 >/dev/null 2>&1
	assert_eq "$(ls "$ROOT/bases/b/gens" | sort -n | tr '\n' ' ')" "2 3 4 6 "
	$L base gc b >/dev/null 2>&1
	assert_eq "$(ls "$ROOT/bases/b/gens" | sort -n | tr '\n' ' ')" "2 3 6 "
}

test_errors() {
	make_base
	expect_fail $L base update nope --from "$T/src"; assert_contains "$ERR" "nope: no such base"
	expect_fail $L base update b; assert_contains "$ERR" "either --from"
	expect_fail $L base update b --from "$T/src" -- true; assert_contains "$ERR" "either --from"
	expect_fail $L base update b --; assert_contains "$ERR" "needs a command"
	expect_fail $L base update b --from "$T/missing"; assert_contains "$ERR" "missing"
	expect_fail $L base update b --from "$ROOT"; assert_contains "$ERR" "contains the store"
	expect_fail $L base update b --from "$T/src" --description "$(printf 'a\nb')"; assert_contains "$ERR" "one line"
	expect_fail $L base update 'bad/name' --from "$T/src"
	expect_fail $L base show nope; assert_contains "$ERR" "no such base"
	expect_fail $L base diff nope; assert_contains "$ERR" "no such base"
	expect_fail $L base diff b; assert_contains "$ERR" "no older generation"
	expect_fail $L base diff b 1 5; assert_contains "$ERR" "no generation 5"
	expect_fail $L base diff b 1 2 3
	expect_fail $L base diff b --format=xml
	expect_fail $L base rollback nope; assert_contains "$ERR" "no such base"
	expect_fail $L base gc nope; assert_contains "$ERR" "no such base"
	expect_fail $L base gc; assert_contains "$ERR" "NAME or --all"
	expect_fail $L base gc b --all
	expect_fail $L base gc b --keep -1
	echo garbage >"$T/notatar"
	expect_fail $L base update b --from "$T/notatar"
	assert_eq "$(current)" 1
	assert_eq "$(ls -A "$ROOT/bases/b/gens")" "1"
}

run_tests
