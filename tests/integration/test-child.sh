#!/usr/bin/env bash
# child create / list / show / rm / reset: cost, concurrency, bad input.
. "$(dirname "$0")/lib.sh"

test_create_costs_two_dirs_and_a_file() {
	setup bb
	$L child create web --base bb
	local d="$ROOT/children/web"
	assert_eq "$(ls -A "$d/upper")" "" "upper starts empty"
	assert_eq "$(ls -A "$d/root")" ""
	grep -q '^Base=bb$' "$d/child.conf"
	grep -q '^Generation=1$' "$d/child.conf"
	# the merged root takes the upper dir's attributes: they must be the base's
	assert_eq "$(stat -c '%a %u %g' "$d/upper")" "$(stat -c '%a %u %g' "$ROOT/bases/bb/gens/1/tree")"
	local blocks; blocks=$(du -s --block-size=1K "$d" | cut -f1)
	[ "$blocks" -le 32 ] || fail "a new child takes ${blocks} KiB"
}

test_new_child_shows_no_drift_even_with_root_xattrs() {
	make_busybox_tree "$T/src"
	setfattr -n user.marker -v base-root "$T/src"
	setfacl -m u:1000:rx "$T/src" 2>/dev/null || true
	$L base import bb "$T/src" >/dev/null 2>&1
	$L child create c --base bb
	assert_eq "$(getfattr --only-values -n user.marker "$ROOT/children/c/upper")" "base-root"
	$L diff c --exit-code
}

test_create_refuses_bad_input() {
	setup bb
	expect_fail $L child create "we b" --base bb; assert_contains "$ERR" "letters"
	expect_fail $L child create web --base nope; assert_contains "$ERR" "no base named nope"
	expect_fail $L child create web; assert_contains "$ERR" "--base"
	expect_fail $L child create -- -web --base bb
	expect_fail $L child create web.. --base bb
	expect_fail $L child create web --base "b b"; assert_contains "$ERR" "base name"
	assert_eq "$(ls -A "$ROOT/children")" ""
	$L child create web --base bb
	expect_fail $L child create web --base bb; assert_contains "$ERR" "already exists"
}

test_concurrent_creates_exactly_one_wins() {
	setup bb
	local i ok=0
	for i in $(seq 1 8); do
		($L child create same --base bb >/dev/null 2>"$T/err.$i"; echo $? >"$T/rc.$i") &
	done
	wait
	for i in $(seq 1 8); do
		if [ "$(cat "$T/rc.$i")" = 0 ]; then ok=$((ok + 1)); else grep -q "already exists" "$T/err.$i" || fail "odd error: $(cat "$T/err.$i")"; fi
	done
	assert_eq "$ok" 1 "winners"
	assert_eq "$(ls -A "$ROOT/children")" "same" "no half children"
}

test_list_and_show_json() {
	setup bb
	$L child create a --base bb --description "first one"
	$L child create b --base bb
	$L mount a
	local j; j=$($L child list --json)
	python3 - "$j" <<'PY'
import json, sys
l = json.loads(sys.argv[1])
assert [c["name"] for c in l] == ["a", "b"], l
a, b = l
assert a["mounted"] is True and b["mounted"] is False, l
assert a["base"] == "bb" and a["generation"] == 1 and a["description"] == "first one", a
for k in ("running", "automount", "path", "root", "upper", "work"): assert k in a, k
PY
	j=$($L child show a --json)
	python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["name"]=="a" and "[Child]" in d["settings"], d' "$j"
	$L child list | grep -q '^a .* bb .* 1 yes'
	$L child show b | grep -q '^Mounted: *no'
	$L umount a
	expect_fail $L child show nope; assert_contains "$ERR" "no such child"
}

test_rm_and_reset_refused_while_mounted() {
	setup bb
	$L child create c --base bb
	$L mount c
	echo data >"$ROOT/children/c/root/newfile"
	expect_fail $L child rm c; assert_contains "$ERR" "mounted"
	expect_fail $L child reset c; assert_contains "$ERR" "mounted"
	assert_file "$ROOT/children/c/upper/newfile"
	$L umount c
	$L child reset c
	assert_eq "$(ls -A "$ROOT/children/c/upper")" ""
	$L mount c
	assert_no_file "$ROOT/children/c/root/newfile"
	assert_file "$ROOT/children/c/root/bin/busybox"
	$L umount c
	$L child rm c
	assert_no_file "$ROOT/children/c"
	assert_eq "$(ls -A "$ROOT/children")" "" "no trash left"
}

test_corrupt_child_conf_reported() {
	setup bb
	$L child create c --base bb
	printf '[Child]\nBase=bb\n' >"$ROOT/children/c/child.conf"
	expect_fail $L child show c; assert_contains "$ERR" "Generation="
	expect_fail $L mount c; assert_contains "$ERR" "Generation="
	printf '\x00\x01binary' >"$ROOT/children/c/child.conf"
	expect_fail $L child show c; assert_contains "$ERR" "child.conf"
	# one corrupt child does not hide the others, but the listing says so
	$L child create d --base bb
	expect_fail $L child list
	$L child list 2>/dev/null | grep -q '^d '
	assert_eq "$(mounts_below "$T")" 0
}

test_broken_child_can_still_be_removed() {
	setup bb
	$L child create bad --base bb
	echo 'garbage line' >>"$ROOT/children/bad/child.conf"
	expect_fail $L base rm bb; assert_contains "$ERR" "child rm"
	$L child rm bad 2>"$T/err"
	assert_contains "$(cat "$T/err")" "removing it anyway"
	assert_no_file "$ROOT/children/bad"
	$L base rm bb
}

test_symlinked_child_dir_refused() {
	setup bb
	$L child create s1 --base bb
	mv "$ROOT/children/s1" "$T/elsewhere"
	ln -s "$T/elsewhere" "$ROOT/children/s1"
	expect_fail $L mount s1; assert_contains "$ERR" "symlink"
	assert_eq "$(mounts_below "$T")" 0
	# child list opens children/NAME/child.conf in one call: no symlink followed there either
	expect_fail $L child list; assert_contains "$ERR" "children/s1 is not a directory (symlinks are refused"
}

test_many_children_cost_does_not_grow_with_base() {
	setup bb
	mkdir -p "$T/big"; make_busybox_tree "$T/big"
	dd if=/dev/zero of="$T/big/blob" bs=1M count=64 2>/dev/null
	$L base import big "$T/big" >/dev/null 2>&1
	local i
	for i in $(seq 1 50); do $L child create "s$i" --base bb; $L child create "b$i" --base big; done
	local small big
	small=$(du -s --block-size=1K "$ROOT"/children/s* | awk '{s+=$1} END {print s}')
	big=$(du -s --block-size=1K "$ROOT"/children/b* | awk '{s+=$1} END {print s}')
	assert_eq "$small" "$big" "children of a 64 MiB base cost the same as of a tiny one"
	$L mount --all
	assert_eq "$(mounts_below "$ROOT")" 100
	$L umount --all
	assert_eq "$(mounts_below "$ROOT")" 0
}

# child.conf (and every settings file) is replaced by temp + rename, never
# rewritten in place: a reader holding the old file (here a hard link) sees
# the old content whole, and no temporary file is left.
test_settings_are_replaced_never_rewritten_in_place() {
	make_busybox_tree "$T/src"
	$L base import bb "$T/src" >/dev/null 2>&1
	$L child create c --base bb >/dev/null 2>&1
	local conf="$ROOT/children/c/child.conf"
	ln "$conf" "$T/old-conf"
	local before
	before=$(cat "$conf")
	$L enable c 2>/dev/null
	assert_contains "$(cat "$conf")" "Automount=yes"
	assert_eq "$(cat "$T/old-conf")" "$before" "the old file was rewritten in place"
	[ "$(stat -c %i "$conf")" != "$(stat -c %i "$T/old-conf")" ] || fail "same inode: not replaced"
	assert_eq "$(ls -A "$ROOT/children/c" | grep -c '^\.#')" 0 "temporary files left"
}

# The sweep of children/ is by record: a create or rm records the leftover
# it may leave in the runtime dir first, so it need not read children/
# whole (thousands of entries); the first sweep after a reboot still does.
test_sweep_reads_children_whole_only_once_per_boot() {
	setup bb
	$L -q child create a --base bb
	# A leftover nobody recorded, as a power cut may leave one: not looked for again before the next boot ...
	mkdir "$ROOT/children/.new-ghost@999999999"
	$L -q child create b --base bb
	assert_file "$ROOT/children/.new-ghost@999999999"
	# ... which empties the runtime dir: then children/ is read whole again.
	rm -rf "$T/run"
	$L -q child create c --base bb
	assert_no_file "$ROOT/children/.new-ghost@999999999"
	# A removal killed after its rename to .trash-: its record gets it swept by the next create.
	local rc=0
	LAYERCTL_TEST_HOOK=rm-after-trash:kill $L child rm a >/dev/null 2>&1 || rc=$?
	assert_eq "$rc" 137 "rm killed by the test hook"
	ls -A "$ROOT/children" | grep -q '^\.trash-a@' || fail "the kill left no trash: $(ls -A "$ROOT/children")"
	$L -q child create d --base bb
	! ls -A "$ROOT/children" | grep -q '^\.' || fail "leftovers: $(ls -A "$ROOT/children")"
	assert_eq "$(ls -A "$T/run"/inflight 2>/dev/null)" "" "no record left"
	assert_eq "$($L child list --json | python3 -c 'import json,sys; print(" ".join(c["name"] for c in json.load(sys.stdin)))')" "b c d"
}

run_tests
