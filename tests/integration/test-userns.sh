#!/usr/bin/env bash
# User-namespace mode (--private-users=, PrivateUsers=; docs/runner.md "User
# namespaces"): the range picked and kept, root inside is the range's base
# outside, files on disk in the range, the base's tree never chowned, the
# upper shifted once when the mode changes (crash-safe), exec joining the
# namespace, a booted busybox init in the mode.  The attacks only this mode
# stops are in test-security.sh (its user-namespace pass).
. "$(dirname "$0")/lib.sh"

prepare_tree() {
	ln -sf ../bin/busybox "$1/sbin/init"
	ln -sf busybox "$1/bin/poweroff"
	cat >"$1/etc/inittab" <<-'EOF2'
	::sysinit:/bin/echo booted
	::respawn:/bin/sleep 1000
	EOF2
	# Owned by a user of the image, with the set-user-ID bit: both must survive shifts.
	mkdir -p "$1/home/u"
	echo data >"$1/home/u/file"
	chown -R 1000:1000 "$1/home/u"
	# An ACL naming a group: its IDs are stored shifted like the owners.
	mkdir -p "$1/srv"
	echo acl >"$1/srv/acl"
	setfacl -m g:4:r,u:1000:rw "$1/srv/acl"
}
acl_of() { getfacl -cn "$1" 2>/dev/null | grep -E '^(user|group):[0-9]' | tr '\n' ' '; }

range_of() { sed -n 's/^UIDRange=\([0-9]*\):65536$/\1/p' "$ROOT/children/$1/child.conf"; }
owner() { stat -c %u:%g "$1"; }

test_pick_records_a_stable_range_per_child() {
	setup bb c d
	$L run c --private-users=pick -- true
	local rc rd
	rc=$(range_of c)
	[ -n "$rc" ] || fail "no UIDRange= recorded: $(cat "$ROOT/children/c/child.conf")"
	[ "$rc" -ge $((0x80000)) ] && [ $((rc + 65536)) -le $((0x6FFF0000)) ] && [ $((rc % 65536)) -eq 0 ] ||
		fail "range $rc outside nspawn's pick range or not aligned"
	$L run c --private-users=pick -- true
	assert_eq "$(range_of c)" "$rc"
	$L run d --private-users=pick -- true
	rd=$(range_of d)
	[ -n "$rd" ] && [ "$rd" != "$rc" ] || fail "c and d share a range: $rc $rd"
	# Never changed afterwards: not even when /etc/subuid starts claiming it.
	mkdir "$T/etc"
	echo "x:$rc:65536" >"$T/etc/subuid"
	LAYERCTL_SUBID_DIR=$T/etc $L run c --private-users=pick -- true
	assert_eq "$(range_of c)" "$rc"
	# A new child of the same name, with that range handed out in /etc/subgid, gets another one.
	$L child rm c >/dev/null
	$L child create c --base bb >/dev/null
	echo "x:$rc:65536" >"$T/etc/subgid"
	LAYERCTL_SUBID_DIR=$T/etc $L run c --private-users=pick -- true
	[ "$(range_of c)" != "$rc" ] || fail "picked a range /etc/subgid hands out"
}

# Children picking at once never get one range (the store-wide lock and the
# check against every recorded range).
test_concurrent_picks_never_share_a_range() {
	setup bb a1 a2 a3 a4 a5 a6
	local n
	for n in 1 2 3 4 5 6; do $L run a$n --private-users=pick -- true & done
	wait
	local all
	all=$(for n in 1 2 3 4 5 6; do range_of a$n; done | sort)
	assert_eq "$(echo "$all" | wc -l)" 6
	assert_eq "$(echo "$all" | uniq | wc -l)" 6
	# A pick waits for the store-wide lock a concurrent pick holds.
	$L child create b --base bb >/dev/null
	exec 9>"$ROOT/locks/uid-ranges"
	flock 9
	$L run b --private-users=pick -- true 9>&- &
	local pid=$!
	sleep 1
	[ -z "$(range_of b)" ] || fail "picked a range while another pick held the lock"
	exec 9>&-
	wait $pid
	[ -n "$(range_of b)" ] || fail "no range after the lock was released"
}

test_root_inside_is_the_range_base_outside() {
	setup
	$L run c --private-users=pick -- true
	local base pid
	base=$(range_of c)
	assert_eq "$($L run c --private-users=pick -- id -u)" 0
	assert_eq "$($L run c --private-users=pick -- cat /proc/self/uid_map | awk '{print $1, $2, $3}')" "0 $base 65536"
	assert_eq "$($L run c --private-users=pick -- cat /proc/self/gid_map | awk '{print $1, $2, $3}')" "0 $base 65536"
	# No supplementary group of the host's is left (those of the caller would still open group-owned host files).
	assert_eq "$(setpriv --groups=4,27 $L run c --private-users=pick -- cat /proc/self/status | awk '/^Groups:/ {print $2}')" ""
	$L run c --private-users=pick -- sleep 30 &
	for i in $(seq 100); do pid=$(pgrep -u "$base" -x sleep) && break; sleep 0.05; done
	[ -n "$pid" ] || fail "no sleep running as UID $base on the host"
	assert_eq "$(stat -c %u "/proc/$pid")" "$base"
	kill "$pid"
	wait || true
}

test_files_created_inside_are_in_the_range_on_disk_and_the_base_is_untouched() {
	setup
	$L run c --private-users=pick -- sh -c 'echo x >/new; chown 1000:1000 /new; echo y >>/home/u/file; touch /etc/os-release'
	local base
	base=$(range_of c)
	assert_eq "$(owner "$ROOT/children/c/upper/new")" "$((base + 1000)):$((base + 1000))"
	# Copied up: shifted too.
	assert_eq "$(owner "$ROOT/children/c/upper/home/u/file")" "$((base + 1000)):$((base + 1000))"
	assert_eq "$(owner "$ROOT/children/c/upper/etc/os-release")" "$base:$base"
	# Inside: the owners as the image has them.
	assert_eq "$($L run c --private-users=pick -- stat -c %u:%g /new /home/u/file /bin/busybox | tr '\n' ' ')" \
		"1000:1000 1000:1000 0:0 "
	# The base's generation tree is the shared lower: never chowned.
	assert_eq "$(owner "$ROOT/bases/bb/gens/1/tree/bin/busybox")" "0:0"
	assert_eq "$(owner "$ROOT/bases/bb/gens/1/tree/home/u/file")" "1000:1000"
	assert_eq "$(find "$ROOT/bases/bb/gens/1/tree" -uid "$base" | wc -l)" 0
}

test_switching_the_mode_shifts_the_upper_once() {
	setup
	$L run c -- sh -c 'echo x >/new; chown 1000:1000 /new; chmod 4755 /new; mkdir /d; touch /d/f; ln -s /nowhere /link; touch /srv/acl'
	assert_eq "$(owner "$ROOT/children/c/upper/new")" "1000:1000"
	$L run c --private-users=pick -- true
	local base
	base=$(range_of c)
	assert_eq "$(owner "$ROOT/children/c/upper/new")" "$((base + 1000)):$((base + 1000))"
	assert_eq "$(stat -c %a "$ROOT/children/c/upper/new")" 4755 "set-user-ID bit kept"
	assert_eq "$(owner "$ROOT/children/c/upper/d/f")" "$base:$base"
	assert_eq "$(acl_of "$ROOT/children/c/upper/srv/acl")" "user:$((base + 1000)):rw- group:$((base + 4)):r-- "
	assert_eq "$(stat -c %u "$ROOT/children/c/upper/link")" "$base"
	assert_eq "$(stat -c %u "$ROOT/children/c/upper")" "$base"
	grep -q "^UpperShift=$base:65536$" "$ROOT/children/c/child.conf" || fail "no UpperShift= recorded"
	# Out again: back to what the child sees.
	$L run c --private-users=no -- true
	assert_eq "$(owner "$ROOT/children/c/upper/new")" "1000:1000"
	assert_eq "$(stat -c %a "$ROOT/children/c/upper/new")" 4755
	assert_eq "$(owner "$ROOT/children/c/upper/d/f")" "0:0"
	assert_eq "$(acl_of "$ROOT/children/c/upper/srv/acl")" "user:1000:rw- group:4:r-- "
	! grep -q "^UpperShift" "$ROOT/children/c/child.conf" || fail "UpperShift= left"
	# child.conf's PrivateUsers= is the default mode; the option wins.
	printf '[Exec]\nPrivateUsers=pick\n' >>"$ROOT/children/c/child.conf"
	assert_eq "$($L run c -- stat -c %u /new)" 1000
	assert_eq "$(owner "$ROOT/children/c/upper/new")" "$((base + 1000)):$((base + 1000))"
	assert_eq "$($L run c --private-users=no -- stat -c %u /new)" 1000
	assert_eq "$(owner "$ROOT/children/c/upper/new")" "1000:1000"
}

# A shift killed half-way: UpperShiftTo= is on disk, some files moved, some
# not.  The next command that mounts the child finishes it, touching each
# file once.
test_killed_shift_is_finished_by_the_next_command() {
	setup
	$L run c -- sh -c 'touch /a /b /c; chown 1000 /c'
	$L run c --private-users=pick -- true
	local base
	base=$(range_of c)
	$L run c --private-users=no -- true
	# What a kill between two chowns leaves: the marker, /a already moved.
	printf 'UpperShiftTo=%s:65536\n' "$base" >>"$ROOT/children/c/child.conf"
	chown "$base:$base" "$ROOT/children/c/upper/a"
	# layerctl mount finishes it (and so would run, in any mode).
	( unshare -m sh -c "$L mount c >/dev/null && $L umount c >/dev/null" )
	assert_eq "$(owner "$ROOT/children/c/upper/a")" "$base:$base"
	assert_eq "$(owner "$ROOT/children/c/upper/b")" "$base:$base"
	assert_eq "$(stat -c %u "$ROOT/children/c/upper/c")" "$((base + 1000))"
	! grep -q "^UpperShiftTo" "$ROOT/children/c/child.conf" || fail "marker left"
	grep -q "^UpperShift=$base:65536$" "$ROOT/children/c/child.conf" || fail "UpperShift= not recorded"
	assert_eq "$($L run c --private-users=pick -- stat -c %u /a /c | tr '\n' ' ')" "0 1000 "
}

# child reset empties the upper: the fresh one's root is in the range too.
test_reset_keeps_the_upper_in_the_range() {
	setup
	$L run c --private-users=pick -- touch /x
	local base
	base=$(range_of c)
	$L -q child reset c
	assert_no_file "$ROOT/children/c/upper/x"
	assert_eq "$(owner "$ROOT/children/c/upper")" "$base:$base"
	assert_eq "$($L run c --private-users=pick -- stat -c %u:%g /)" "0:0"
	assert_eq "$($L diff c | grep -c . || true)" 0
}

test_a_mounted_child_keeps_its_mode_until_unmounted() {
	setup
	( unshare -m sh -c "
		$L mount c >/dev/null
		$L run c --private-users=pick -- true 2>$T/err; echo \$? >$T/rc
		$L umount c >/dev/null" )
	assert_eq "$(cat "$T/rc")" 1
	assert_contains "$(cat "$T/err")" "unmount it"
	! grep -q "^UpperShift" "$ROOT/children/c/child.conf" || fail "shifted while mounted"
}

test_bad_values_are_refused() {
	setup
	local rc=0
	$L run c --private-users=0:65536 -- true 2>"$T/err" || rc=$?
	assert_eq "$rc" 2
	assert_contains "$(cat "$T/err")" "--private-users 0:65536"
	printf '[Exec]\nPrivateUsers=sometimes\n' >>"$ROOT/children/c/child.conf"
	expect_fail $L run c -- true
	assert_contains "$ERR" "Exec.PrivateUsers=sometimes"
	# An explicit range that overlaps the IDs it maps could not be shifted back.
	sed -i '/PrivateUsers/d' "$ROOT/children/c/child.conf"
	expect_fail $L run c --private-users=1000:65536 -- true
	assert_contains "$ERR" "overlaps"
	expect_fail $L exec c --private-users=pick -- true
	assert_contains "$ERR" "not an option of exec"
}

# diff, audit and vacuum compare the owners the child sees: a copy-up
# stored shifted is no owner change.
test_diff_audit_vacuum_unshift_the_upper_s_owners() {
	setup
	$L run c --private-users=pick -- sh -c 'touch /etc/group /srv/acl; echo y >>/etc/os-release; chmod 600 /etc/passwd; echo n >/new'
	local out base
	base=$(range_of c)
	assert_eq "$(acl_of "$ROOT/children/c/upper/srv/acl")" "user:$((base + 1000)):rw- group:$((base + 4)):r-- "
	out=$($L diff c)
	assert_contains "$out" "= /etc/group"
	assert_contains "$out" "= /srv/acl"
	assert_contains "$out" "M /etc/os-release"
	assert_contains "$out" "m /etc/passwd"
	assert_contains "$out" "A /new"
	assert_eq "$(echo "$out" | grep -c '^m ')" 1 "only /etc/passwd's mode changed: $out"
	# audit's table: m (metadata) and = (redundant copies) columns.
	assert_eq "$($L audit | awk '$1 == "c" {print $9, $12}')" "1 2"
	assert_contains "$($L vacuum c 2>&1)" "removed /etc/group"
	assert_no_file "$ROOT/children/c/upper/etc/group"
	assert_eq "$($L run c --private-users=pick -- stat -c %u:%g /etc/group)" "0:0"
}

# refresh works on the upper unshifted and shifts it to its range again;
# a copy-up the child never changed goes stale and the update shows.
test_refresh_and_undo_of_a_user_namespace_child() {
	setup
	$L run c --private-users=pick -- sh -c 'touch /etc/group; echo mine >/home/u/file'
	local base
	base=$(range_of c)
	cp -a "$T/src" "$T/g2"
	echo "newgroup:x:5:" >>"$T/g2/etc/group"
	# A dir the child's copy-up holds gets the base's new metadata (copied from the tree, unshifted).
	chmod 700 "$T/g2/home/u"
	$L -q base update bb --from "$T/g2"
	local out
	# diff's preview of the refresh: the untouched copy-up is stale, not a conflict.
	out=$($L diff c)
	assert_contains "$out" "S /etc/group"
	out=$($L refresh c)
	assert_contains "$out" "S /etc/group"
	case "$out" in *"C /"*) fail "a conflict from owner noise: $out" ;; esac
	assert_eq "$(sed -n 's/^Generation=//p' "$ROOT/children/c/child.conf")" 2
	grep -q "^UpperShift=$base:65536$" "$ROOT/children/c/child.conf" || fail "not shifted again"
	assert_eq "$(owner "$ROOT/children/c/upper/home/u/file")" "$((base + 1000)):$((base + 1000))"
	assert_contains "$($L run c --private-users=pick -- cat /etc/group)" newgroup
	assert_eq "$($L run c --private-users=pick -- cat /home/u/file)" mine
	assert_eq "$($L run c --private-users=pick -- stat -c %u:%g:%a /home/u)" "1000:1000:700"
	$L refresh c --undo >/dev/null
	assert_eq "$(sed -n 's/^Generation=//p' "$ROOT/children/c/child.conf")" 1
	grep -q "^UpperShift=$base:65536$" "$ROOT/children/c/child.conf" || fail "not shifted again after undo"
	assert_eq "$(owner "$ROOT/children/c/upper/etc/group")" "$base:$base"
	case "$($L run c --private-users=pick -- cat /etc/group)" in *newgroup*) fail "undo kept the update" ;; esac
}

# fstab entries and generator units cannot make an idmapped mount: enable
# is refused for a child in the mode, and an enabled child cannot enter it.
test_automount_and_user_namespace_mode_exclude_each_other() {
	setup bb c d
	$L run c --private-users=pick -- true
	expect_fail $L enable c
	assert_contains "$ERR" "user-namespace mode"
	! grep -q "^Automount" "$ROOT/children/c/child.conf" || fail "enabled anyway"
	$L -q enable d
	expect_fail $L run d --private-users=pick -- true
	assert_contains "$ERR" "disable d"
	! grep -q "^UpperShift" "$ROOT/children/d/child.conf" || fail "shifted an enabled child"
}

wait_running() {
	local i
	for i in $(seq 100); do $L ps | grep -q "^$1 " && return 0; sleep 0.05; done
	fail "$1 did not start"
}

# The busybox base's init booted in the mode (CI's stand-in for a systemd
# Debian, which is checked by hand: docs/runner.md).
test_boot_start_exec_ps_stop_in_the_mode() {
	setup
	trap '$L stop c --timeout 1 >/dev/null 2>&1 || true; cleanup_test_dir' EXIT
	printf '[Exec]\nPrivateUsers=pick\n' >>"$ROOT/children/c/child.conf"
	$L start c >/dev/null 2>&1
	wait_running c
	local base pid
	base=$(range_of c)
	pid=$($L ps | awk '$1 == "c" {print $2}')
	assert_eq "$(stat -c %u "/proc/$pid")" "$base"
	# exec joins the user namespace too: root inside, the range outside.
	assert_eq "$($L exec c -- cat /proc/self/uid_map | awk '{print $1, $2, $3}')" "0 $base 65536"
	assert_eq "$($L exec c -- id -u)" 0
	assert_eq "$($L exec c -- cat /proc/1/comm)" init
	$L exec c -- sleep 30 &
	local s i
	for i in $(seq 100); do s=$(pgrep -u "$base" -x sleep | head -1) && [ -n "$s" ] && break; sleep 0.05; done
	[ -n "$s" ] || fail "exec's command does not run as UID $base"
	# The container's cgroup is delegated to the range's root (a booted systemd manages it).
	local cg
	cg=$(awk -F: '$1 == 0 {print $3}' "/proc/$pid/cgroup")
	local v2
	v2=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
	[ -n "$v2" ] || skip "no cgroup2 hierarchy mounted"
	assert_eq "$(stat -c %u "$v2$cg")" "$base" "owner of $v2$cg"
	assert_eq "$(stat -c %u "$v2$cg/cgroup.procs")" "$base"
	$L exec c -- sh -c 'mkdir /sys/fs/cgroup/x && rmdir /sys/fs/cgroup/x && echo cgroup-writable' | grep -q cgroup-writable ||
		fail "init cannot make cgroups below its own"
	assert_contains "$($L ps)" boot
	$L stop c
	wait || true
	assert_eq "$($L ps | grep -c '^c ' || true)" 0
	# run --boot in the mode powers off cleanly too.
	local out
	out=$(timeout 30 $L run c --boot </dev/null 2>&1 & sleep 1; $L stop c >/dev/null 2>&1; wait)
	assert_contains "$out" booted
}

run_tests
