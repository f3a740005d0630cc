#!/usr/bin/env bash
# mount / umount: real overlays, idempotence, isolation, odd store paths,
# the kernel's mount table as the only truth, storage checks.
. "$(dirname "$0")/lib.sh"

test_mount_is_isolated_and_idempotent() {
	setup bb one two
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
	setup bb one two
	$L mount --all
	assert_eq "$(mounts_below "$ROOT")" 2
	$L umount --all
	assert_eq "$(mounts_below "$ROOT")" 0
	expect_fail $L mount
	expect_fail $L mount --all one
	expect_fail $L mount nope; assert_contains "$ERR" "no such child"
}

test_state_comes_from_the_kernel() {
	setup bb one two
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
	# nor one whose upper dir's path only starts with the child's
	mkdir -p "$ROOT/children/two/upper2" "$ROOT/children/two/work2"
	mount -t overlay overlay -o "lowerdir=$T/l,upperdir=$ROOT/children/two/upper2,workdir=$ROOT/children/two/work2" \
		"$ROOT/children/two/root"
	expect_fail $L umount two; assert_contains "$ERR" "something other"
	umount "$ROOT/children/two/root"
}

test_odd_store_path() {
	ROOT="$T/a b,c:d\\e#f é/store"
	export LAYERCTL_ROOT=$ROOT
	setup bb one two
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
	setup bb one two
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
	setup bb one two
	expect_fail $L mount one; assert_contains "$ERR" "overlayfs"
	assert_eq "$(mounts_below "$ROOT")" 0
}

test_missing_generation_reported() {
	setup bb one two
	mv "$ROOT/bases/bb/gens/1" "$ROOT/bases/bb/gens/1.moved"
	expect_fail $L mount one; assert_contains "$ERR" "generation 1"
	mv "$ROOT/bases/bb/gens/1.moved" "$ROOT/bases/bb/gens/1"
}

# Unmounting needs only the child's name: a corrupt child.conf must not
# keep its overlay mounted.
test_umount_with_corrupt_child_conf() {
	setup bb one two
	$L mount one
	printf 'garbage\n' >>"$ROOT/children/one/child.conf"
	$L umount one
	assert_eq "$(mounts_below "$ROOT")" 0
	$L mount two
	printf '[Child]\nBase=\n' >"$ROOT/children/two/child.conf"
	$L umount --all
	assert_eq "$(mounts_below "$ROOT")" 0
	$L child rm one
}

# libmount splits options at every ',' (it does not know overlay's "\,") and
# keeps "loop=..." for itself: named before mounting, by mount and run alike.
test_store_path_with_a_libmount_option() {
	# Through fsconfig every path is one value: ',' is just a character.
	ROOT="$T/a,loop=b/store"; export LAYERCTL_ROOT=$ROOT
	setup bb one two
	$L mount one
	assert_contains "$(grep " $T/a,loop=b/store/children/one/root " /proc/self/mountinfo)" \
		"upperdir=$T/a\\134\\054loop=b/store/children/one/upper,"
	$L -q umount one
	$L run one -- true </dev/null || fail "run with ',loop=b' in the store path"
	assert_eq "$(mounts_below "$T")" 0
	# A path too long for one fsconfig value (255 bytes) goes through
	# libmount's option string, which would take "loop=b/..." for itself:
	# refused, clearly, before anything is mounted.
	local long
	long=$(printf 'x%.0s' $(seq 200))
	ROOT="$T/$long/a,loop=b/store"; export LAYERCTL_ROOT=$ROOT
	setup bb one two
	local why="a store path holds ',' followed by a word libmount reads as a mount option ('loop=b/store/bases/bb/gens/1/tree'); rename the store directory"
	expect_fail $L mount one
	assert_eq "$ERR" "layerctl: mount one: $why"
	expect_fail $L run one -- true </dev/null
	assert_eq "$ERR" "layerctl: run one: mount overlay: $why"
	assert_eq "$(mounts_below "$T")" 0
}

# The storage probe's "ok" must not outlive the file system it was made on:
# a tmpfs unmounted and an overlayfs mounted in its place can get the same
# (anonymous) device number.
test_probe_cache_does_not_outlive_the_file_system() {
	# A store (base bb, children one and two) to put on each file system.
	ROOT="$T/prepared/store"; export LAYERCTL_ROOT=$ROOT
	setup bb one two
	mkdir -p "$T/fs" "$T/up" "$T/wk"
	ROOT="$T/fs/store"; export LAYERCTL_ROOT=$ROOT
	local tries=0 dev
	while :; do
		# the probe passes on a tmpfs and is remembered...
		mount -t tmpfs none "$T/fs"
		cp -a "$T/prepared/store" "$T/fs/"
		$L -q mount one
		$L -q umount one
		dev=$(stat -c %d "$T/fs")
		# ...then an overlayfs (which cannot hold an upper dir) takes its place
		umount "$T/fs"
		rm -rf "$T/up" "$T/wk"; mkdir "$T/up" "$T/wk"
		mount -t overlay overlay -o "lowerdir=$T/prepared,upperdir=$T/up,workdir=$T/wk" "$T/fs"
		[ "$(stat -c %d "$T/fs")" = "$dev" ] && break
		# a parallel test took or freed a device number in between: again
		umount "$T/fs"
		tries=$((tries + 1))
		[ $tries -lt 30 ] || skip "device number $dev was not handed out again"
	done
	expect_fail $L mount one
	assert_contains "$ERR" "overlayfs, which cannot hold an overlay upper dir"
	assert_eq "$(mounts_below "$ROOT")" 0
}

run_tests
