#!/usr/bin/env bash
# `child create` is durable with as few fsyncs as the file system allows
# (src/basic/durable.h, docs/durability.md): a crash right after it returns
# keeps the whole child, a crash before its rename leaves none of it.  The
# crash is a file-system shutdown without a log flush (xfs_io's "shutdown",
# which ext4 implements too): whatever was not committed to the disk is lost,
# as at a power cut, while the page cache is dropped at the unmount.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

# A store on a fresh file system of type $1 (mkfs options after it), mounted on $T/mnt.
store_on() {
	local fs=$1 size=64M
	shift
	[ "$fs" = xfs ] && size=320M
	truncate -s "$size" "$T/fs.img"
	"mkfs.$fs" -q "$@" "$T/fs.img" >/dev/null
	mkdir -p "$T/mnt"
	mount -o loop "$T/fs.img" "$T/mnt"
	ROOT=$T/mnt/store
	export LAYERCTL_ROOT=$ROOT
	make_busybox_tree "$T/src"
	$L -q base import bb "$T/src"
	sync -f "$T/mnt"
}

# The crash: shut the file system down without flushing its log, then mount
# it again.  An ext4 without a journal is checked first, as at boot after a
# crash (mounted unchecked, its stale bitmaps give EIO).
crash_and_remount() {
	xfs_io -x -c shutdown "$T/mnt"
	umount "$T/mnt"
	if dumpe2fs -h "$T/fs.img" 2>/dev/null | grep -q '^Filesystem features:.*ext_attr' &&
	   ! dumpe2fs -h "$T/fs.img" 2>/dev/null | grep -q '^Filesystem features:.*has_journal'; then
		e2fsck -fy "$T/fs.img" >"$T/fsck.log" 2>&1 || [ $? -le 1 ] || fail "e2fsck: $(tail -n 3 "$T/fsck.log")"
	fi
	mount -o loop "$T/fs.img" "$T/mnt"
}

# children/NAME is all there: its child.conf read back, upper, work and root directories.
assert_whole_child() {
	local c=$ROOT/children/$1
	[ ! -e "$T/fsck.log" ] || sed 's/^/    e2fsck: /' "$T/fsck.log" >&2
	assert_eq "$(cat "$c/child.conf")" "$(printf '[Child]\nBase=bb\nGeneration=1')" "child.conf of $1 after the crash"
	[ -d "$c/upper" ] && [ -d "$c/work" ] && [ -d "$c/root" ] || fail "$1 lost a directory: $(ls -A "$c")"
	assert_eq "$(stat -c %a "$c/work")" 700 "mode of $1/work"
	$L child list | grep -q "^$1 " || fail "child list does not show $1"
}

# fsync calls of one `child create NAME`.
count_fsyncs() {
	strace -f -e trace=fsync,fdatasync,syncfs -o "$T/trace" $L -q child create "$1" --base bb
	grep -c 'sync(' "$T/trace"
}

created_child_survives_a_crash() {
	local fs=$1 fsyncs=$2
	shift 2
	store_on "$fs" "$@"
	assert_eq "$(count_fsyncs c1)" "$fsyncs" "fsyncs of child create on $fs $*"
	$L -q child create c2 --base bb
	crash_and_remount
	assert_whole_child c1
	assert_whole_child c2
}

# ext4 and xfs with a journal: child.conf's fsync commits the mkdirs with it, then children/ (2 fsyncs).
test_create_survives_crash_ext4() { created_child_survives_a_crash ext4 2; }
test_create_survives_crash_xfs() {
	command -v mkfs.xfs >/dev/null || skip "no mkfs.xfs"
	created_child_survives_a_crash xfs 2
}
# ext4 without a journal: each new directory is fsynced too (6 fsyncs).
test_create_survives_crash_ext4_nojournal() { created_child_survives_a_crash ext4 6 -O ^has_journal; }

# Killed just before the rename that publishes it: no child, and the next create cleans up and works.
test_create_killed_before_rename_leaves_no_child() {
	store_on ext4
	local rc=0
	LAYERCTL_TEST_HOOK=create-before-rename:kill $L child create c --base bb >/dev/null 2>&1 || rc=$?
	assert_eq "$rc" 137 "create killed by the test hook"
	ls -A "$ROOT/children" | grep -q '^\.new-c@' || fail "the kill left no .new- dir: $(ls -A "$ROOT/children")"
	assert_no_file "$ROOT/children/c"
	crash_and_remount
	assert_no_file "$ROOT/children/c"
	$L -q child create c --base bb
	assert_whole_child c
	! ls -A "$ROOT/children" | grep -q '^\.new-' || fail "stale create dir not swept: $(ls -A "$ROOT/children")"
}

run_tests
