#!/usr/bin/env bash
# refresh: every row of the table on real overlay mounts, the options and
# errors, undo exactness, crash points, concurrency, mounted / running /
# automounted children, and what diff and audit say about a child behind.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

snap() { python3 "$here/treesnap.py" "$@"; }

# Generation 1 of base "b" from $T/g1 (busybox + files), child "c" mounted at $M.
prepare_tree() {
	mkdir -p "$1/etc/app" "$1/usr/lib/x" "$1/opt/o"
	for f in a b c d e m w x y z; do echo "$f-1" >"$1/etc/$f"; done
	echo conf >"$1/etc/app/app.conf"
	echo lib >"$1/usr/lib/x/lib.so"
	echo o1 >"$1/opt/o/one"
}
setup_refresh() {
	setup b c
	mv "$T/src" "$T/g1"
	"$L" -q mount c
	M=$ROOT/children/c/root
	U=$ROOT/children/c/upper
	cp -a "$T/g1" "$T/g2"
}

# Commit $T/g2 (edited by the test) as the next generation.
update() { "$L" -q base update b --from "$T/g2"; }

gen_of() { sed -n 's/^Generation=//p' "$ROOT/children/$1/child.conf"; }

test_stale_copy_is_removed_and_the_update_shows() {
	setup_refresh
	touch "$M/etc/a"                       # a copy-up the child never changed
	cat "$M/etc/b" >"$M/etc/b.tmp" && mv "$M/etc/b.tmp" "$M/etc/b"   # rewritten identical
	echo a-2 >"$T/g2/etc/a"; echo b-2 >"$T/g2/etc/b"
	update
	out=$("$L" refresh c)
	assert_contains "$out" "S /etc/a"
	assert_contains "$out" "S /etc/b"
	assert_eq "$(cat "$M/etc/a")" a-2
	assert_eq "$(cat "$M/etc/b")" b-2
	assert_no_file "$U/etc/a"
	assert_eq "$(gen_of c)" 2
	grep -q '^UndoGeneration=1$' "$ROOT/children/c/child.conf" || fail "UndoGeneration=1 missing"
}

test_absent_path_shows_the_update_and_is_only_counted() {
	setup_refresh
	echo c-2 >"$T/g2/etc/c"
	update
	out=$("$L" refresh c --json)
	echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin)[0]; assert d["counts"]["absent"]==1 and d["paths"]==[], d'
	assert_eq "$(cat "$M/etc/c")" c-2
}

test_converged_copy_is_removed() {
	setup_refresh
	echo c-2 >"$M/etc/c"
	echo c-2 >"$T/g2/etc/c"
	update
	assert_contains "$("$L" refresh c)" "= /etc/c"
	assert_no_file "$U/etc/c"
	assert_eq "$(cat "$M/etc/c")" c-2
}

test_metadata_change_is_merged_with_new_content() {
	setup_refresh
	chmod 600 "$M/etc/m"; chown 12:34 "$M/etc/m"
	setfattr -n user.tag -v mine "$M/etc/m"
	echo m-2 >"$T/g2/etc/m"
	update
	assert_contains "$("$L" refresh c)" "m /etc/m"
	assert_eq "$(cat "$M/etc/m")" m-2
	assert_eq "$(stat -c '%a %u:%g' "$M/etc/m")" "600 12:34"
	assert_eq "$(getfattr --only-values -n user.tag "$M/etc/m")" mine
}

test_symlink_retargeted_by_base_keeps_the_childs_owner() {
	setup_refresh
	ln -s a-target "$T/g1/etc/link" && ln -s a-target "$T/g2/etc/link"
	"$L" -q umount c; "$L" -q child rm c; "$L" -q base rm b
	"$L" -q base import b "$T/g1"; "$L" -q child create c --base b; "$L" -q mount c
	chown -h 7:7 "$M/etc/link"
	ln -sfn b-target "$T/g2/etc/link"
	update
	assert_contains "$("$L" refresh c)" "m /etc/link"
	assert_eq "$(readlink "$M/etc/link")" b-target
	assert_eq "$(stat -c '%u' "$M/etc/link")" 7
}

test_conflict_keeps_the_child_and_saves_the_base_version() {
	setup_refresh
	echo mine >"$M/etc/d"
	echo d-2 >"$T/g2/etc/d"
	update
	out=$("$L" refresh c)
	assert_contains "$out" "C /etc/d"
	saved=$ROOT/children/c/refresh/2/base/etc/d
	assert_contains "$out" "$saved"
	assert_eq "$(cat "$M/etc/d")" mine
	assert_eq "$(cat "$saved")" d-2
	# the saved copy is outside the child's tree
	assert_no_file "$M/refresh"
}

test_keep_child_saves_nothing_and_take_base_moves_the_child_aside() {
	setup_refresh
	echo mine >"$M/etc/d"; echo mine >"$M/etc/e"
	echo d-2 >"$T/g2/etc/d"; echo e-2 >"$T/g2/etc/e"
	update
	"$L" -q refresh c --keep-child
	assert_eq "$(cat "$M/etc/d")" mine
	assert_no_file "$ROOT/children/c/refresh/2/base/etc/d"
	"$L" -q refresh --undo c
	out=$("$L" refresh c --take-base)
	assert_contains "$out" "C /etc/d"
	assert_contains "$out" "base's version taken"
	assert_eq "$(cat "$M/etc/d")" d-2
	assert_eq "$(cat "$M/etc/e")" e-2
	# the child's version is in the save dir, and undo brings it back
	grep -rqx mine "$ROOT/children/c/refresh/2/undo" || fail "child's version not saved"
	"$L" -q refresh --undo c
	assert_eq "$(cat "$M/etc/d")" mine
	expect_fail "$L" refresh c --keep-child --take-base
}

test_whiteout_vs_changed_file_is_a_conflict_and_stays_deleted() {
	setup_refresh
	rm "$M/etc/w"
	echo w-2 >"$T/g2/etc/w"
	update
	assert_contains "$("$L" refresh c)" "C /etc/w"
	assert_no_file "$M/etc/w"
	assert_eq "$(stat -c %t:%T "$U/etc/w")" 0:0
}

test_whiteout_of_a_file_the_base_deleted_is_dropped() {
	setup_refresh
	rm "$M/etc/w"
	rm "$T/g2/etc/w"
	update
	out=$("$L" refresh c --json)
	echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin)[0]; assert d["counts"]["whiteout_dropped"]==1, d'
	assert_no_file "$U/etc/w"
	assert_no_file "$M/etc/w"
}

test_changed_file_the_base_deleted_is_kept() {
	setup_refresh
	echo mine >"$M/etc/x"
	rm "$T/g2/etc/x"
	update
	out=$("$L" refresh c)
	assert_contains "$out" "C /etc/x"
	assert_contains "$out" "deleted in base"
	assert_eq "$(cat "$M/etc/x")" mine
}

test_opaque_dir_keeps_hiding_and_lists_what_the_base_added() {
	setup_refresh
	rm -rf "$M/opt/o"; mkdir "$M/opt/o"; echo own >"$M/opt/o/own"
	echo new >"$T/g2/opt/o/new"
	update
	out=$("$L" refresh c)
	assert_contains "$out" "C /opt/o/new"
	assert_contains "$out" "opaque"
	assert_no_file "$M/opt/o/new"
	assert_no_file "$M/opt/o/one"
	assert_eq "$(cat "$M/opt/o/own")" own
	assert_eq "$(getfattr --only-values -n trusted.overlay.opaque "$U/opt/o")" y
}

test_copied_up_dir_follows_the_base_metadata() {
	setup_refresh
	echo mine >"$M/etc/app/local"          # copies /etc/app up
	chmod 700 "$T/g2/etc/app"; chown 5:5 "$T/g2/etc/app"
	update
	"$L" -q refresh c
	assert_eq "$(stat -c '%a %u:%g' "$M/etc/app")" "700 5:5"
	"$L" -q refresh --undo c
	assert_eq "$(stat -c '%a %u:%g' "$M/etc/app")" "755 0:0"
}

test_type_clash_refuses_the_child_and_changes_nothing() {
	setup_refresh
	echo mine >"$M/usr/lib/x/own.so"
	rm -rf "$T/g2/usr/lib/x"; ln -s ../lib64 "$T/g2/usr/lib/x"
	update
	before=$(snap "$U")
	expect_fail "$L" refresh c
	assert_contains "$ERR" "/usr/lib/x"
	assert_contains "$ERR" "type clash"
	assert_eq "$(snap "$U")" "$before"
	assert_eq "$(gen_of c)" 1
	assert_no_file "$ROOT/children/c/refresh/pending"
	# still mounted on generation 1
	assert_eq "$(cat "$M/usr/lib/x/own.so")" mine
}

test_stale_dir_the_base_turned_into_a_symlink_goes() {
	setup_refresh
	touch "$M/usr/lib/x/lib.so"             # only a stale copy below
	rm -rf "$T/g2/usr/lib/x"; ln -s ../lib64 "$T/g2/usr/lib/x"
	update
	"$L" -q refresh c
	assert_eq "$(readlink "$M/usr/lib/x")" ../lib64
}

test_stale_file_the_base_turned_into_a_dir_goes_and_nothing_below_is_a_conflict() {
	setup_refresh
	touch "$M/etc/z"                        # stale copy of a file
	rm "$T/g2/etc/z"; mkdir "$T/g2/etc/z"; echo inside >"$T/g2/etc/z/x"
	update
	out=$("$L" refresh c)
	assert_contains "$out" "S /etc/z"
	case "$out" in *"C /etc/z/x"*) fail "a path the removed copy hid reported as a conflict: $out" ;; esac
	assert_eq "$(cat "$M/etc/z/x")" inside
	# whereas a real change of the file hides the base's new dir: type clash
	"$L" -q refresh --undo c
	echo mine >"$M/etc/z"
	expect_fail "$L" refresh c
	assert_contains "$ERR" "/etc/z: type clash"
}

test_redirect_xattr_in_upper_refuses() {
	setup_refresh
	"$L" -q umount c
	setfattr -n trusted.overlay.redirect -v /elsewhere "$U/etc" 2>/dev/null || { mkdir -p "$U/etc"; setfattr -n trusted.overlay.redirect -v /elsewhere "$U/etc"; }
	echo a-2 >"$T/g2/etc/a"
	update
	expect_fail "$L" refresh c
	assert_contains "$ERR" "redirect"
	assert_eq "$(gen_of c)" 1
}

test_undo_restores_upper_and_generation_exactly() {
	setup_refresh
	touch "$M/etc/a"; echo mine >"$M/etc/d"; chmod 600 "$M/etc/m"; rm "$M/etc/w"; rm "$M/etc/y"
	echo new >"$M/etc/app/local"
	echo a-2 >"$T/g2/etc/a"; echo d-2 >"$T/g2/etc/d"; echo m-2 >"$T/g2/etc/m"; rm "$T/g2/etc/w"
	echo y-2 >"$T/g2/etc/y"; chmod 711 "$T/g2/etc/app"
	update
	"$L" -q umount c
	upper=$(snap "$U")
	"$L" -q mount c
	view=$(snap "$M" --view)
	"$L" -q refresh c --take-base
	[ "$(snap "$M" --view)" != "$view" ] || fail "refresh changed nothing"
	"$L" -q refresh --undo c
	assert_eq "$(snap "$M" --view)" "$view"
	"$L" -q umount c
	assert_eq "$(snap "$U")" "$upper"
	assert_eq "$(gen_of c)" 1
	grep -q UndoGeneration "$ROOT/children/c/child.conf" && fail "UndoGeneration left behind"
	assert_eq "$(readlink "$ROOT/children/c/lower")" ../../bases/b/gens/1/tree
	expect_fail "$L" refresh --undo c
	assert_contains "$ERR" "nothing to undo"
}

test_undo_refused_when_the_child_changed_a_refreshed_path() {
	setup_refresh
	touch "$M/etc/a"
	echo a-2 >"$T/g2/etc/a"
	update
	"$L" -q refresh c
	echo after >"$M/etc/a"                 # the child writes the path refresh removed
	expect_fail "$L" refresh --undo c
	assert_contains "$ERR" "/etc/a"
	assert_eq "$(gen_of c)" 2
	assert_eq "$(cat "$M/etc/a")" after
}

test_undo_after_child_reset_is_refused_and_changes_nothing() {
	setup_refresh
	touch "$M/etc/a"
	echo a-2 >"$T/g2/etc/a"
	update
	"$L" -q refresh c
	"$L" -q umount c
	"$L" -q child reset c
	expect_fail "$L" refresh --undo c
	assert_contains "$ERR" "/etc/a"
	assert_eq "$(gen_of c)" 2
	assert_no_file "$ROOT/children/c/refresh/undoing"
	"$L" -q mount c                           # the child still works
	assert_eq "$(cat "$M/etc/a")" a-2
}

# After a refresh the container may swap a directory for a symlink to the
# host; undo must never put files back through it.
test_undo_never_writes_through_a_symlink_the_child_planted() {
	setup_refresh
	touch "$M/usr/lib/x/lib.so"               # stale: refresh moves it to the save dir
	echo lib-2 >"$T/g2/usr/lib/x/lib.so"
	update
	"$L" -q refresh c
	mkdir -p "$T/host/lib/x"
	rm -rf "$M/usr"; ln -s "$T/host" "$M/usr"  # what a root process in the container can do
	"$L" -q umount c
	expect_fail "$L" refresh --undo c
	assert_no_file "$T/host/lib/x/lib.so"
	assert_eq "$(gen_of c)" 2
}

test_undo_failing_half_way_leaves_the_child_refreshed() {
	setup_refresh
	touch "$M/etc/a" "$M/opt/o/one"           # two stale copies in two dirs
	echo a-2 >"$T/g2/etc/a"; echo one-2 >"$T/g2/opt/o/one"
	update
	"$L" -q refresh c
	"$L" -q umount c
	after=$(snap "$U")
	# /opt/o/one goes back first (last step first), then /etc/a cannot
	chattr +i "$U/etc" || skip "chattr +i not supported here"
	rc=0; "$L" refresh --undo c 2>"$T/err" || rc=$?
	chattr -i "$U/etc"
	[ "$rc" -ne 0 ] || fail "undo into an immutable dir succeeded"
	assert_contains "$(cat "$T/err")" "/etc/a"
	assert_eq "$(gen_of c)" 2
	assert_eq "$(snap "$U")" "$after"
	assert_no_file "$ROOT/children/c/refresh/undoing"
	"$L" -q refresh --undo c
	assert_eq "$(gen_of c)" 1
	assert_file "$U/opt/o/one"
}

test_refresh_then_refresh_again_keeps_only_the_last_undo() {
	setup_refresh
	touch "$M/etc/a"; echo mine >"$M/etc/d"
	echo a-2 >"$T/g2/etc/a"; echo d-2 >"$T/g2/etc/d"
	update
	"$L" -q refresh c
	echo d-3 >"$T/g2/etc/d"
	update
	"$L" -q refresh c
	assert_eq "$(ls "$ROOT/children/c/refresh")" 3
	grep -q '^UndoGeneration=2$' "$ROOT/children/c/child.conf" || fail "UndoGeneration=2 missing"
	"$L" -q refresh --undo c
	assert_eq "$(gen_of c)" 2
}

test_options_and_errors() {
	setup_refresh
	echo a-2 >"$T/g2/etc/a"; touch "$M/etc/a"
	"$L" -q child create c2 --base b
	update
	# --dry-run changes nothing
	before=$(snap "$U")
	assert_contains "$("$L" refresh c --dry-run)" "S /etc/a"
	assert_eq "$(snap "$U")" "$before"
	assert_eq "$(gen_of c)" 1
	"$L" refresh --all --dry-run --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert [x["status"] for x in d]==["dry-run","dry-run"], d'
	rc=0; "$L" refresh c nosuch --dry-run --json >"$T/json" 2>/dev/null || rc=$?
	assert_eq "$rc" 1
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [x["status"] for x in d]==["dry-run","failed"], d' "$T/json"
	# --to: back to 1 is a no-op for a child on 1; to a missing generation fails
	assert_contains "$("$L" refresh c --to 1 2>&1)" "already on generation 1"
	expect_fail "$L" refresh c --to 9
	assert_contains "$ERR" "no generation 9"
	expect_fail "$L" refresh nosuch
	assert_contains "$ERR" "no such child"
	expect_fail "$L" refresh --base nosuch
	assert_contains "$ERR" "no such base"
	rc=0; "$L" refresh 2>/dev/null || rc=$?; assert_eq "$rc" 2
	rc=0; "$L" refresh --all c 2>/dev/null || rc=$?; assert_eq "$rc" 2
	rc=0; "$L" refresh --undo --all 2>/dev/null || rc=$?; assert_eq "$rc" 2
	rc=0; "$L" refresh c --to x 2>/dev/null || rc=$?; assert_eq "$rc" 2
	"$L" refresh --help | grep -q -- --take-base
	"$L" -q refresh --base b
	assert_eq "$(gen_of c) $(gen_of c2)" "2 2"
	assert_contains "$("$L" refresh --all 2>&1)" "already up to date"
	# --to an older generation moves back
	"$L" -q refresh c --to 1
	assert_eq "$(gen_of c)" 1
	assert_eq "$(cat "$M/etc/a")" a-1
}

test_mounted_child_is_remounted_on_the_new_generation() {
	setup_refresh
	echo a-2 >"$T/g2/etc/a"
	update
	"$L" -q refresh c
	grep " $M " /proc/self/mountinfo | grep -q "lowerdir=$ROOT/bases/b/gens/2/tree," || fail "not remounted on generation 2: $(grep " $M " /proc/self/mountinfo)"
	"$L" -q umount c
	echo a-3 >"$T/g2/etc/a"
	update
	"$L" -q refresh c
	[ "$(mounts_below "$M")" -eq 0 ] || fail "an unmounted child was mounted"
}

test_busy_mount_refuses_and_changes_nothing() {
	setup_refresh
	touch "$M/etc/a"; echo a-2 >"$T/g2/etc/a"
	update
	(cd "$M/etc" && sleep 5) &
	sleep 0.2
	rc=0; "$L" refresh c 2>"$T/err" || rc=$?
	kill %1 2>/dev/null; wait 2>/dev/null || true
	if [ "$rc" -eq 0 ]; then
		assert_eq "$(gen_of c)" 2   # lazy unmount is not used: the kernel let it go
	else
		assert_contains "$(cat "$T/err")" "unmounting"
		assert_eq "$(gen_of c)" 1
	fi
}

# Kill refresh (and undo) at every crash point: the child is then fully on
# generation 1 with its upper intact, or fully on 2 as a clean refresh leaves it.
test_crash_at_every_step_leaves_old_or_new_state() {
	setup_refresh
	touch "$M/etc/a"; echo mine >"$M/etc/d"; chmod 600 "$M/etc/m"; rm "$M/etc/w"
	echo new >"$M/etc/app/local"; touch "$M/usr/lib/x/lib.so"
	echo a-2 >"$T/g2/etc/a"; echo d-2 >"$T/g2/etc/d"; echo m-2 >"$T/g2/etc/m"; rm "$T/g2/etc/w"
	chmod 711 "$T/g2/etc/app"; rm -rf "$T/g2/usr/lib/x"
	update
	"$L" -q umount c
	old=$(snap "$U")
	"$L" -q refresh c --take-base
	new=$(snap "$U")
	"$L" -q refresh --undo c
	assert_eq "$(snap "$U")" "$old"
	k=1
	while :; do
		rc=0
		LAYERCTL_TEST_CRASH_AT=refresh:$k "$L" -q refresh c --take-base >/dev/null 2>&1 || rc=$?
		# the recovery itself killed at its first or second step, then run again
		LAYERCTL_TEST_CRASH_AT=recover:$((k % 2 + 1)) "$L" -q mount c >/dev/null 2>&1 || true
		"$L" -q umount c 2>/dev/null || true
		"$L" -q mount c && "$L" -q umount c      # any command with the child lock recovers
		assert_no_file "$ROOT/children/c/refresh/pending"
		case "$(gen_of c)" in
		1) assert_eq "$(snap "$U")" "$old" "crash point $k: rolled back" ;;
		2) assert_eq "$(snap "$U")" "$new" "crash point $k: finished"
		   # undo, killed at each of its points too
		   LAYERCTL_TEST_CRASH_AT=undo:$k "$L" -q refresh --undo c >/dev/null 2>&1 || true
		   "$L" -q mount c && "$L" -q umount c
		   if [ "$(gen_of c)" = 2 ]; then "$L" -q refresh --undo c; fi
		   assert_eq "$(snap "$U")" "$old" "undo crash point $k" ;;
		*) fail "generation $(gen_of c)" ;;
		esac
		[ "$rc" -eq 137 ] || break
		k=$((k + 1))
	done
	[ "$k" -gt 10 ] || fail "only $k crash points"
	echo "$k crash points"
}

test_corrupt_journal_refuses_with_a_pointer_to_it() {
	setup_refresh
	"$L" -q umount c
	mkdir -p "$ROOT/children/c/refresh/pending"
	echo garbage >"$ROOT/children/c/refresh/pending/journal"
	echo a-2 >"$T/g2/etc/a"
	update
	expect_fail "$L" refresh c
	assert_contains "$ERR" "could not be recovered"
	assert_contains "$ERR" "refresh/pending/journal"
	expect_fail "$L" mount c                   # nothing runs on a child in an unknown state
	rm -r "$ROOT/children/c/refresh/pending"
	"$L" -q refresh c
	assert_eq "$(gen_of c)" 2
}

test_concurrent_refresh_all_refreshes_each_child_once() {
	setup_refresh
	"$L" -q umount c
	for i in $(seq 1 12); do "$L" -q child create "k$i" --base b; done
	echo a-2 >"$T/g2/etc/a"
	update
	"$L" refresh --all >"$T/one" 2>&1 &
	"$L" refresh --all >"$T/two" 2>&1 &
	wait
	for i in c $(seq -f 'k%g' 1 12); do
		assert_eq "$(gen_of "$i")" 2
		n=$(cat "$T/one" "$T/two" | grep -c "^Refreshed $i: ")
		assert_eq "$n" 1 "child $i refreshed $n times"
	done
}

test_running_child_is_refused_unless_restart() {
	setup_refresh
	"$L" -q umount c
	ln -sf ../bin/busybox "$T/g1/sbin/init"
	printf '::sysinit:/bin/echo booted\n::respawn:/bin/sleep 1000\n' >"$T/g1/etc/inittab"
	"$L" -q child rm c; "$L" -q base rm b
	"$L" -q base import b "$T/g1"; "$L" -q child create c --base b
	rm -rf "$T/g2"; cp -a "$T/g1" "$T/g2"; echo a-2 >"$T/g2/etc/a"
	update
	trap '"$L" stop c --timeout 1 >/dev/null 2>&1 || true; cleanup_test_dir' EXIT
	"$L" -q start c
	expect_fail "$L" refresh c
	assert_contains "$ERR" "running"
	assert_eq "$(gen_of c)" 1
	"$L" -q refresh c --restart
	assert_eq "$(gen_of c)" 2
	"$L" ps | grep -q '^c ' || fail "not running again"
	assert_eq "$("$L" exec c -- cat /etc/a)" a-2
	"$L" -q stop c
	# a child running a plain command cannot be started again as it was
	"$L" run c -- sleep 30 >/dev/null 2>&1 &
	for _ in $(seq 100); do "$L" ps | grep -q '^c ' && break; sleep 0.05; done
	expect_fail "$L" refresh --undo c --restart
	assert_contains "$ERR" "booted"
	"$L" -q stop c --timeout 1 || true
	wait || true
}

test_enabled_child_fstab_entry_follows_without_rewrite() {
	setup_refresh
	"$L" -q umount c
	"$L" -q enable c
	"$L" -q fstab --write --file "$T/fstab"
	line=$(grep x-layerctl.child=c "$T/fstab")
	assert_contains "$line" "lowerdir=$ROOT/children/c/lower,"
	echo a-2 >"$T/g2/etc/a"
	update
	"$L" -q refresh c
	"$L" fstab --check --file "$T/fstab"
	assert_eq "$(grep x-layerctl.child=c "$T/fstab")" "$line"
	# mount exactly what the entry says: the new generation shows
	opts=$(echo "$line" | awk '{print $4}' | tr ',' '\n' | grep -E '^(lowerdir|upperdir|workdir|index|metacopy|redirect_dir)=' | paste -sd,)
	mount -t overlay overlay -o "$opts" "$M"
	assert_eq "$(cat "$M/etc/a")" a-2
	umount "$M"
	# the generator's units name the link too (never rewritten either)
	mkdir "$T/gen1"
	"$L" fstab --generator "$T/gen1"
	grep -q "^Options=.*lowerdir=$ROOT/children/c/lower," "$T"/gen1/*.mount || fail "unit: $(cat "$T"/gen1/*.mount)"
	# a missing link is reported by --check and repaired by --write
	rm "$ROOT/children/c/lower"
	# (the generator, which writes nothing to the store, names the tree meanwhile)
	mkdir "$T/gen2"
	"$L" fstab --generator "$T/gen2"
	grep -q "^Options=.*lowerdir=$ROOT/bases/b/gens/2/tree," "$T"/gen2/*.mount || fail "unit: $(cat "$T"/gen2/*.mount)"
	expect_fail "$L" fstab --check --file "$T/fstab"
	assert_contains "$ERR" "lower"
	"$L" -q fstab --write --file "$T/fstab"
	"$L" fstab --check --file "$T/fstab"
}

test_diff_of_a_child_behind_shows_stale_and_conflicts_and_audit_counts_them() {
	setup_refresh
	touch "$M/etc/a"; echo mine >"$M/etc/d"
	echo a-2 >"$T/g2/etc/a"; echo d-2 >"$T/g2/etc/d"
	update
	out=$("$L" diff c)
	assert_contains "$out" "S /etc/a"
	assert_contains "$out" "C /etc/d"
	"$L" diff c --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
r = d["refresh"]
assert r["from"] == 1 and r["to"] == 2, r
assert {(e["class"], e["path"]) for e in r["paths"]} == {("S", "/etc/a"), ("C", "/etc/d")}, r'
	out=$("$L" audit)
	assert_contains "$(echo "$out" | head -1)" "LAG"
	echo "$out" | awk '$1 == "c" {print $4, $5, $6}' | grep -qx "1 1 1" || fail "audit: $out"
	"$L" audit --json | python3 -c '
import json, sys
c = json.load(sys.stdin)[0]
assert c["generation_lag"] == 1 and c["stale"] == 1 and c["conflicts"] == 1, c'
	"$L" -q refresh c
	assert_eq "$("$L" diff c | grep -c '^[SC] ' || true)" 0
}

run_tests
