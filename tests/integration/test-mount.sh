#!/usr/bin/env bash
# mount / umount: real overlays, idempotence, isolation, odd store paths,
# the kernel's mount table as the only truth, storage checks.
. "$(dirname "$0")/lib.sh"

setup() {
	make_busybox_tree "$T/src"
	$L base import bb "$T/src" >/dev/null 2>&1
	$L child create one --base bb >/dev/null 2>&1
	$L child create two --base bb >/dev/null 2>&1
}

test_mount_is_isolated_and_idempotent() {
	setup
	$L mount one two
	$L mount one          # already mounted: a no-op
	assert_eq "$(mounts_below "$ROOT")" 2
	echo hello >"$ROOT/children/one/root/greeting"
	assert_no_file "$ROOT/children/two/root/greeting"
	assert_file "$ROOT/children/one/upper/greeting"
	assert_no_file "$ROOT/bases/bb/gens/1/tree/greeting"
	$L umount one two
	$L umount one         # not mounted: a no-op, exit 0
	assert_eq "$(mounts_below "$ROOT")" 0
}

# index=off,metacopy=off,redirect_dir=off checked by what the kernel does
# (mountinfo does not show options equal to the module defaults).
test_index_metacopy_redirect_dir_are_off() {
	make_busybox_tree "$T/src"
	mkdir "$T/src/dir"; echo content >"$T/src/dir/f"
	head -c 200000 /dev/urandom >"$T/src/big"
	echo linked >"$T/src/a"; ln "$T/src/a" "$T/src/b"
	$L base import bb "$T/src" >/dev/null 2>&1
	$L child create one --base bb >/dev/null 2>&1
	$L mount one
	local M=$ROOT/children/one/root U=$ROOT/children/one/upper
	# metacopy=off: a chmod copies the whole content up, not a sparse stub
	chmod 600 "$M/big"
	cmp "$U/big" "$T/src/big" || fail "upper copy after chmod is not the full file (metacopy on?)"
	# index=off: copying up one name of a lower hard link breaks the link
	echo changed >"$M/a"
	assert_eq "$(cat "$M/b")" linked "other name of a copied-up hard link (index on?)"
	# redirect_dir=off: a lower directory cannot be renamed (EXDEV; mv(1) would copy)
	assert_eq "$(python3 -c 'import errno, os, sys
try:
    os.rename(sys.argv[1] + "/dir", sys.argv[1] + "/dir2"); print("renamed")
except OSError as e:
    print(errno.errorcode[e.errno])' "$M")" EXDEV "rename of a lower dir"
	$L umount one
}

test_all_flag() {
	setup
	$L mount --all
	assert_eq "$(mounts_below "$ROOT")" 2
	$L umount --all
	assert_eq "$(mounts_below "$ROOT")" 0
	expect_fail $L mount
	expect_fail $L mount --all one
	expect_fail $L mount nope; assert_contains "$ERR" "no such child"
}

test_state_comes_from_the_kernel() {
	setup
	$L mount one
	umount "$ROOT/children/one/root"     # behind layerctl's back
	$L child list | grep -q '^one .* no '
	$L mount one
	$L child list | grep -q '^one .* yes'
	$L umount one
	# something else mounted on root/ is reported, not mistaken for ours
	mount -t tmpfs tmpfs "$ROOT/children/two/root"
	expect_fail $L mount two; assert_contains "$ERR" "something other"
	expect_fail $L umount two; assert_contains "$ERR" "something other"
	expect_fail $L child rm two
	umount "$ROOT/children/two/root"
	# nor is another tool's overlay unmounted
	mkdir -p "$T/l" "$T/u" "$T/w"
	mount -t overlay overlay -o "lowerdir=$T/l,upperdir=$T/u,workdir=$T/w" "$ROOT/children/two/root"
	expect_fail $L umount two; assert_contains "$ERR" "something other"
	assert_eq "$(mounts_below "$ROOT/children/two/root")" 1
	umount "$ROOT/children/two/root"
}

test_odd_store_path() {
	ROOT="$T/a b,c:d\\e#f é/store"
	export LAYERCTL_ROOT=$ROOT
	setup
	$L mount --all
	echo x >"$ROOT/children/one/root/file"
	assert_file "$ROOT/children/one/upper/file"
	assert_no_file "$ROOT/children/two/root/file"
	$L child list | grep -q '^one .* yes'
	$L child list --json | python3 -c 'import json,sys; l=json.load(sys.stdin); assert all(c["mounted"] for c in l), l'
	$L umount --all
	assert_eq "$(mounts_below "$T")" 0
	# --root on the command line works the same
	unset LAYERCTL_ROOT
	$L --root "$ROOT" mount one
	$L child list --root "$ROOT" | grep -q '^one .* yes'
	$L --root "$ROOT" umount one
}

test_newline_and_quote_in_store_path_refused() {
	expect_fail $L --root "$T/new
line" base list
	expect_fail $L --root "$T/q\"x" base list
	assert_no_file "$T/q\"x"
}

test_umount_busy_is_reported() {
	setup
	$L mount one
	( cd "$ROOT/children/one/root" && exec sleep 30 ) &
	local pid=$!
	sleep 0.2
	expect_fail $L umount one; assert_contains "$ERR" "umount one"
	kill "$pid"; wait "$pid" 2>/dev/null || true
	$L umount one
}

test_store_on_overlayfs_refused_before_mount() {
	mkdir -p "$T/lo" "$T/up" "$T/wk" "$T/ovl"
	mount -t overlay overlay -o "lowerdir=$T/lo,upperdir=$T/up,workdir=$T/wk" "$T/ovl"
	ROOT="$T/ovl/store"; export LAYERCTL_ROOT=$ROOT
	setup
	expect_fail $L mount one; assert_contains "$ERR" "overlayfs"
	assert_eq "$(mounts_below "$ROOT")" 0
}

test_missing_generation_reported() {
	setup
	mv "$ROOT/bases/bb/gens/1" "$ROOT/bases/bb/gens/1.moved"
	expect_fail $L mount one; assert_contains "$ERR" "generation 1"
	mv "$ROOT/bases/bb/gens/1.moved" "$ROOT/bases/bb/gens/1"
}

run_tests
