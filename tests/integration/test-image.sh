#!/usr/bin/env bash
# Bases from disk and file-system images (src/store/image.c): libblkid finds
# the file system or the root partition, libmount attaches it read-only in a
# private mount namespace, the directory import copies it.  Every test checks
# that nothing of its own stays attached: loop devices backed by a file in
# $T, mounts below $T (other test runs may have theirs at the same time).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

ROOT_TYPE_X86_64=4f68bce3-e8cd-4db1-96e7-fbcaf984b709
LINUX_FS_TYPE=0fc63daf-8483-4772-8e79-3d69d8477de4

snap() { python3 "$here/treesnap.py" "$@"; }

# A tree with what an import must keep: owners, modes, xattrs, a hard link,
# a device node, a fifo, symlinks (one absolute, pointing out of the tree).
make_rich_tree() {
	local d=$1
	make_busybox_tree "$d"
	echo secret >"$d/etc/owned"
	chown 123:456 "$d/etc/owned"
	chmod 640 "$d/etc/owned"
	setfattr -n user.note -v hello "$d/etc/owned"
	ln "$d/etc/owned" "$d/etc/owned-link"
	mknod "$d/dev/null" c 1 3
	mkfifo "$d/run/fifo"
	ln -s /etc/passwd "$d/abs-link"
	ln -s ../../.. "$d/var/tmp/up"
	ln -s loop2 "$d/loop1"
	ln -s loop1 "$d/loop2"
	mkdir -p "$d/usr/share/doc"
	head -c 300000 /dev/urandom >"$d/usr/share/doc/blob"
}

# Nothing of this test attached or mounted (only what is ours: other tests run in parallel).
# A loop device goes when the kernel has released its file system, which may
# trail the unmount (or the end of a namespace) a little: up to 5 s.
assert_nothing_attached() {
	local f
	wait_detached
	for f in "$T"/*.img; do
		[ -e "$f" ] || continue
		[ -z "$(losetup -n -j "$f")" ] || fail "loop device left for $f: $(losetup -j "$f")"
	done
	assert_eq "$(mounts_below "$T")" 0 "mounts below $T"
}

# Wait (up to 5 s) for loop devices of a killed import to go (the kernel tears the namespace down).
wait_detached() {
	local i f busy
	for i in $(seq 50); do
		busy=
		for f in "$T"/*.img; do [ -n "$(losetup -n -j "$f")" ] && busy=1; done
		[ -z "$busy" ] && return 0
		sleep 0.1
	done
	fail "loop devices still attached: $(losetup -a | grep -F "$T")"
}

# The imported tree equals the source entry by entry (lost+found is ext4's own).
assert_same_tree() {
	local src=$1 base=$2 gen=${3:-1}
	snap "$src" | grep -v '^6c6f73742b666f756e64 ' >"$T/want"
	snap "$ROOT/bases/$base/gens/$gen/tree" | grep -v '^6c6f73742b666f756e64 ' >"$T/got"
	diff -u "$T/want" "$T/got" >&2 || fail "imported tree of $base differs from its source"
	[ "$(stat -c %i "$ROOT/bases/$base/gens/$gen/tree/etc/owned")" = \
	  "$(stat -c %i "$ROOT/bases/$base/gens/$gen/tree/etc/owned-link")" ] || fail "hard link not kept"
	$L base verify "$base" --gen "$gen" >/dev/null
}

# A GPT disk image: partition 1 (no file system), 2 of type $2 holding an ext4 of $1, 3 optional ext4 of $3 type $4.
make_gpt_image() {
	local src=$1 type2=$2 src3=${3:-} type3=${4:-}
	truncate -s 40M "$T/disk.img"
	{
		echo "label: gpt"
		echo "start=2048, size=4096, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
		echo "start=6144, size=32768, type=$type2"
		[ -z "$src3" ] || echo "start=38912, size=32768, type=$type3"
	} | sfdisk -q "$T/disk.img"
	mkfs.ext4 -q -d "$src" "$T/p2.fs" 16M
	dd if="$T/p2.fs" of="$T/disk.img" bs=512 seek=6144 conv=notrunc status=none
	if [ -n "$src3" ]; then
		mkfs.ext4 -q -d "$src3" "$T/p3.fs" 16M
		dd if="$T/p3.fs" of="$T/disk.img" bs=512 seek=38912 conv=notrunc status=none
	fi
	rm -f "$T/p2.fs" "$T/p3.fs"
}

test_ext4_image() {
	make_rich_tree "$T/src"
	mkfs.ext4 -q -d "$T/src" "$T/fs.img" 16M
	$L base import e "$T/fs.img" >"$T/out" 2>&1
	assert_contains "$(cat "$T/out")" "Imported base e"
	assert_same_tree "$T/src" e
	assert_eq "$(readlink "$ROOT/bases/e/gens/1/tree/abs-link")" /etc/passwd "absolute symlink kept as a symlink"
	assert_nothing_attached
}

test_squashfs_image() {
	make_rich_tree "$T/src"
	mksquashfs "$T/src" "$T/fs.img" -quiet -noappend >/dev/null
	$L -q base import s "$T/fs.img"
	assert_same_tree "$T/src" s
	assert_nothing_attached
}

test_erofs_image() {
	make_rich_tree "$T/src"
	mkfs.erofs "$T/fs.img" "$T/src" >/dev/null 2>&1
	$L -q base import r "$T/fs.img"
	assert_same_tree "$T/src" r
	assert_nothing_attached
}

test_btrfs_image() {
	make_rich_tree "$T/src"
	truncate -s 128M "$T/fs.img"
	mkfs.btrfs -q --rootdir "$T/src" "$T/fs.img" >/dev/null 2>&1
	$L -q base import b "$T/fs.img"
	# Compared with the image as the kernel shows it: mkfs.btrfs --rootdir (6.2) stores device numbers as 0:0.
	mkdir "$T/m"
	mount -o loop,ro "$T/fs.img" "$T/m"
	assert_same_tree "$T/m" b
	umount "$T/m"
	assert_nothing_attached
}

test_gpt_root_type_chosen() {
	make_rich_tree "$T/src"
	make_busybox_tree "$T/other"
	echo other >"$T/other/etc/which"
	# Partition 3 is a plain Linux file system listed after the root: the root type wins.
	make_gpt_image "$T/src" "$ROOT_TYPE_X86_64" "$T/other" "$LINUX_FS_TYPE"
	$L -q base import g "$T/disk.img"
	assert_same_tree "$T/src" g
	assert_no_file "$ROOT/bases/g/gens/1/tree/etc/which"
	assert_nothing_attached
}

test_gpt_only_linux_fs_chosen() {
	[ "$(uname -m)" = x86_64 ] || skip "GPT root type of x86-64 only"
	make_rich_tree "$T/src"
	make_gpt_image "$T/src" "$LINUX_FS_TYPE"
	$L -q base import g "$T/disk.img"
	assert_same_tree "$T/src" g
	assert_nothing_attached
}

test_gpt_two_linux_fs_refused() {
	make_busybox_tree "$T/src"
	make_gpt_image "$T/src" "$LINUX_FS_TYPE" "$T/src" "$LINUX_FS_TYPE"
	expect_fail $L base import g "$T/disk.img"
	assert_contains "$ERR" "several partitions hold a Linux file system"
	assert_contains "$ERR" "2 (ext4, type $LINUX_FS_TYPE"
	assert_contains "$ERR" "3 (ext4"
	assert_eq "$(echo "$ERR" | wc -l)" 1 "one line"
	assert_eq "$($L base list --json)" "[]"
	assert_nothing_attached
}

test_mbr_image() {
	make_rich_tree "$T/src"
	truncate -s 24M "$T/disk.img"
	echo "start=2048, size=40960, type=83" | sfdisk -q "$T/disk.img"
	mkfs.ext4 -q -d "$T/src" "$T/p1.fs" 20M
	dd if="$T/p1.fs" of="$T/disk.img" bs=512 seek=2048 conv=notrunc status=none
	$L -q base import m "$T/disk.img"
	assert_same_tree "$T/src" m
	assert_nothing_attached
}

test_update_from_image() {
	make_rich_tree "$T/src"
	$L -q base import u "$T/src"
	echo changed >"$T/src/etc/os-release"
	mksquashfs "$T/src" "$T/fs.img" -quiet -noappend >/dev/null
	$L -q base update u --from "$T/fs.img"
	assert_same_tree "$T/src" u 2
	# An unchanged file is the old generation's inode.
	assert_eq "$(stat -c %i "$ROOT/bases/u/gens/2/tree/usr/share/doc/blob")" \
		"$(stat -c %i "$ROOT/bases/u/gens/1/tree/usr/share/doc/blob")" "unchanged file linked"
	assert_nothing_attached
}

# A failed import: one clear line, no base, nothing attached or mounted, no leftovers.
expect_refused() {
	local want=$1
	shift
	expect_fail $L -q base import bad "$@"
	assert_contains "$ERR" "$want"
	assert_eq "$(echo "$ERR" | wc -l)" 1 "one line: $ERR"
	assert_eq "$($L base list --json)" "[]"
	[ -z "$(ls -A "$ROOT/bases" 2>/dev/null)" ] || fail "leftovers: $(ls -A "$ROOT/bases")"
	assert_nothing_attached
}

test_bad_empty_file() {
	: >"$T/empty.img"
	expect_refused "empty file (0 bytes)" "$T/empty.img"
}

test_bad_truncated_squashfs() {
	make_rich_tree "$T/src"
	mksquashfs "$T/src" "$T/fs.img" -quiet -noappend >/dev/null
	truncate -s $(($(stat -c %s "$T/fs.img") / 2)) "$T/fs.img"
	expect_refused "squashfs" "$T/fs.img"
}

test_bad_truncated_ext4() {
	make_rich_tree "$T/src"
	mkfs.ext4 -q -d "$T/src" "$T/fs.img" 16M
	truncate -s 2M "$T/fs.img"
	expect_refused "ext4" "$T/fs.img"
}

test_bad_corrupt_superblock() {
	make_rich_tree "$T/src"
	mkfs.ext4 -q -d "$T/src" "$T/fs.img" 16M
	# The magic stays (libblkid still calls it ext4), the block counts are garbage.
	printf '\xff\xff\xff\xff\xff\xff\xff\xff' | dd of="$T/fs.img" bs=1 seek=1028 conv=notrunc status=none
	expect_refused "ext4" "$T/fs.img"
	# No signature left at all: not an image, not an archive.
	dd if=/dev/zero of="$T/fs.img" bs=1024 seek=1 count=1 conv=notrunc status=none
	expect_refused "holds no entries" "$T/fs.img"
}

test_bad_partition_past_end() {
	make_busybox_tree "$T/src"
	truncate -s 24M "$T/disk.img"
	echo "start=2048, size=40960, type=83" | sfdisk -q "$T/disk.img"
	mkfs.ext4 -q -d "$T/src" "$T/p1.fs" 20M
	dd if="$T/p1.fs" of="$T/disk.img" bs=512 seek=2048 conv=notrunc status=none
	truncate -s 8M "$T/disk.img"
	expect_refused "past the end of the image" "$T/disk.img"
}

test_symlinks_are_not_followed() {
	# A loop and links out of the tree are copied as links: the import reads
	# the image with physical symlinks, so the host's /etc never comes in.
	make_busybox_tree "$T/src"
	ln -s /etc "$T/src/hostetc"
	ln -s a "$T/src/b"
	ln -s b "$T/src/a"
	mksquashfs "$T/src" "$T/fs.img" -quiet -noappend >/dev/null
	$L -q base import s "$T/fs.img"
	local t=$ROOT/bases/s/gens/1/tree
	[ -L "$t/hostetc" ] || fail "hostetc is not a symlink"
	assert_eq "$(readlink "$t/a")" b
	assert_no_file "$t/etc/hostname"
	assert_nothing_attached
}

test_update_from_zeros_refused() {
	make_busybox_tree "$T/src"
	$L -q base import z "$T/src"
	head -c 4096 /dev/zero >"$T/zero.img"
	expect_fail $L -q base update z --from "$T/zero.img"
	assert_contains "$ERR" "holds no entries"
	assert_eq "$($L base show z --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["current_generation"])')" 1
}

test_not_an_image() {
	head -c 100000 /dev/urandom >"$T/noise.img"
	expect_refused "not a directory, a supported archive" "$T/noise.img"
}

test_killed_import_leaves_nothing_attached() {
	make_rich_tree "$T/src"
	mksquashfs "$T/src" "$T/fs.img" -quiet -noappend >/dev/null
	# Paused with the image mounted in the reader's namespace; then the import is killed.
	LAYERCTL_TEST_HOOK="image-import:pause:$T/paused" $L -q base import k "$T/fs.img" &
	local pid=$! i
	for i in $(seq 100); do [ -e "$T/paused" ] && break; sleep 0.1; done
	assert_file "$T/paused"
	[ -n "$(losetup -n -j "$T/fs.img")" ] || fail "the image is not attached while paused"
	assert_eq "$(mounts_below "$T")" 0 "the mount is private to the reader's namespace"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	wait_detached
	assert_nothing_attached
	assert_no_file "$ROOT/bases/k"
	# The next import sweeps the leftover and succeeds.
	rm -f "$T/paused"
	$L -q base import k "$T/fs.img"
	assert_same_tree "$T/src" k
	ls -A "$ROOT/bases" | grep -q '^\.new-' && fail "stale import dir not cleaned"
	assert_nothing_attached
}

test_killed_while_mounting_leaves_nothing_attached() {
	make_busybox_tree "$T/src"
	mksquashfs "$T/src" "$T/fs.img" -quiet -noappend >/dev/null
	# Paused in the forked process that mounted the image, the import is killed: that process must die with it.
	LAYERCTL_TEST_HOOK="image-mounted:pause:$T/paused" $L -q base import k "$T/fs.img" &
	local pid=$! i
	for i in $(seq 100); do [ -e "$T/paused" ] && break; sleep 0.1; done
	assert_file "$T/paused"
	[ -n "$(losetup -n -j "$T/fs.img")" ] || fail "the image is not attached while paused"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	wait_detached
	rm -f "$T/paused"
	assert_nothing_attached
}

test_reader_killed_fails_cleanly() {
	make_busybox_tree "$T/src"
	mksquashfs "$T/src" "$T/fs.img" -quiet -noappend >/dev/null
	expect_fail env LAYERCTL_TEST_HOOK=image-mounted:kill $L base import k "$T/fs.img"
	assert_contains "$ERR" "killed by signal 9"
	assert_eq "$($L base list --json)" "[]"
	wait_detached
	assert_nothing_attached
}

# base export, then import --verify of the result: identical by manifest, and by snapshot.
test_export_import_round_trip() {
	make_rich_tree "$T/src"
	$L -q base import orig "$T/src"
	local f n=0
	$L -q base export orig "$T/out/x.tar" 2>/dev/null && fail "export into a missing directory succeeded"
	mkdir "$T/out"
	for f in x.tar x.tar.gz x.tar.zst x.squashfs x.erofs; do
		$L -q base export orig "$T/out/$f"
		assert_file "$T/out/$f.manifest"
		n=$((n + 1))
		$L -q base import --verify "copy$n" "$T/out/$f"
		snap "$ROOT/bases/orig/gens/1/tree" >"$T/want"
		snap "$ROOT/bases/copy$n/gens/1/tree" >"$T/got"
		diff -u "$T/want" "$T/got" >&2 || fail "$f: the round trip changed the tree"
		case $f in
		*.tar*) cmp -s "$ROOT/bases/orig/gens/1/manifest" "$T/out/$f.manifest" || fail "$f.manifest is not the manifest" ;;
		esac
		(cd "$T/out" && xxhsum -c "$f.xxh128" >/dev/null) || fail "xxhsum -c rejects $f.xxh128: $(cat "$T/out/$f.xxh128")"
		[ "$(stat -c %i "$ROOT/bases/copy$n/gens/1/tree/etc/owned")" = \
		  "$(stat -c %i "$ROOT/bases/copy$n/gens/1/tree/etc/owned-link")" ] || fail "$f: hard link lost"
	done
	# The content, not the name: an erofs image named .squashfs imports all the same.
	cp "$T/out/x.erofs" "$T/out/erofs.squashfs"
	$L -q base import named "$T/out/erofs.squashfs"
	assert_nothing_attached
	ls -A "$T/out" | grep -q tmp && fail "temporaries left: $(ls -A "$T/out")"
	return 0
}

test_export_of_a_generation() {
	make_busybox_tree "$T/src"
	$L -q base import b "$T/src"
	echo two >"$T/src/etc/two"
	$L -q base update b --from "$T/src"
	$L -q base export b --gen 1 "$T/g1.tar"
	tar tf "$T/g1.tar" | grep -q 'etc/two' && fail "generation 1 holds etc/two"
	$L -q base export b "$T/g2.tar"
	tar tf "$T/g2.tar" | grep -q 'etc/two' || fail "the current generation lacks etc/two"
	expect_fail $L base export b --gen 7 "$T/g7.tar"
	assert_contains "$ERR" "no generation 7"
	local rc=0
	$L base export b "$T/g.zip" 2>"$T/err" || rc=$?
	assert_eq "$rc" 2 "unknown suffix is a usage error"
	assert_contains "$(cat "$T/err")" "the name must end in .tar"
	assert_no_file "$T/g7.tar"
}

test_import_verify_refuses_a_different_tree() {
	make_rich_tree "$T/src"
	$L -q base import orig "$T/src"
	$L -q base export orig "$T/x.tar"
	# Same name, other content: the manifest no longer matches.
	echo tampered >"$T/src/etc/os-release"
	tar -C "$T/src" --xattrs -cf "$T/x.tar" .
	rm "$T/x.tar.xxh128" # else the checksum refuses it first (test_verify_refuses_an_image_not_matching_its_checksum)
	expect_fail $L -q base import --verify copy "$T/x.tar"
	assert_contains "$ERR" "--verify: the imported tree differs from $T/x.tar.manifest"
	assert_contains "$ERR" "changed etc/os-release: content"
	assert_no_file "$ROOT/bases/copy"
	rm "$T/x.tar.manifest"
	expect_fail $L -q base import --verify copy "$T/x.tar"
	assert_contains "$ERR" "x.tar.manifest: No such file"
	$L -q base import copy "$T/x.tar"
}

# Is the image of base $1 generation 1 mounted on its tree (in this namespace)?
image_mounted() { findmnt -n --mountpoint "$ROOT/bases/$1/gens/1/tree" >/dev/null; }

keep_image_children() {
	local kind=$1
	make_rich_tree "$T/src"
	if [ "$kind" = squashfs ]; then
		mksquashfs "$T/src" "$T/fs.img" -quiet -noappend >/dev/null
	else
		mkfs.erofs "$T/fs.img" "$T/src" >/dev/null 2>&1
	fi
	$L -q base import --keep-image k "$T/fs.img"
	local g=$ROOT/bases/k/gens/1
	cmp "$T/fs.img" "$g/image" || fail "the stored image is not the image"
	# The store grows by the image (plus a small manifest), not by the tree.
	local grown=$(du -sb "$ROOT/bases/k" | cut -f1) size=$(stat -c %s "$T/fs.img")
	[ "$grown" -lt $((size + 65536)) ] || fail "store grew by $grown for an image of $size"
	image_mounted k && fail "the image is mounted before a child needs it"
	assert_eq "$(ls -A "$g/tree")" "" "tree is an empty mount point"
	$L base verify k >/dev/null
	# The manifest is the tree's, entry by entry.
	$L -q base import dir "$T/src"
	$L base manifest k | cut -f1-5,7- >"$T/m-image"
	$L base manifest dir | cut -f1-5,7- >"$T/m-dir"
	diff -u "$T/m-dir" "$T/m-image" >&2 || fail "manifest of the image differs from the directory's"

	$L -q child create c1 --base k
	$L -q child create c2 --base k
	local disk0
	disk0=$($L base show k | tail -n 1 | awk '{print $7, $8}')
	$L -q mount c1
	image_mounted k || fail "mount c1 did not mount the image"
	# The disk a generation holds is its image, mounted or not (never the tree through the mount).
	assert_eq "$($L base show k | tail -n 1 | awk '{print $7, $8}')" "$disk0" "disk use while mounted"
	assert_eq "$(cat "$ROOT/children/c1/root/etc/owned")" secret
	echo new >"$ROOT/children/c1/root/etc/added"
	rm "$ROOT/children/c1/root/etc/os-release"
	$L -q mount c2
	$L -q umount c1
	image_mounted k || fail "umount c1 unmounted the image c2 still uses"
	assert_eq "$(cat "$ROOT/children/c2/root/etc/owned")" secret
	$L -q umount c2
	image_mounted k && fail "the last umount left the image mounted"
	# autoclear detaches the loop device once the kernel has released the file system: soon, not at once
	local i
	for i in $(seq 50); do [ -z "$(losetup -n -j "$g/image")" ] && break; sleep 0.1; done
	[ -z "$(losetup -n -j "$g/image")" ] || fail "loop device left: $(losetup -j "$g/image")"
	# diff reads the upper against the manifest: no mount needed.
	local d=$($L diff c1)
	assert_contains "$d" "etc/added"
	assert_contains "$d" "etc/os-release"
	# run mounts the overlay in its own namespace, the image on the host, where it stays for the next run
	assert_eq "$($L run c1 -- /bin/cat /etc/added)" new
	image_mounted k || fail "run did not leave the image mounted for the next run"
	assert_eq "$(mounts_below "$ROOT/children")" 0 "run left an overlay on the host"
	assert_eq "$($L run c2 -- /bin/cat /etc/owned)" secret
	# A command cannot build on an image generation: refused, clearly.
	expect_fail $L -q base update k -- /bin/true
	assert_contains "$ERR" "generation 1 is an image (--keep-image): a command cannot build on it"
	# child rm releases the image by the umount rule: when no child of it is mounted
	$L -q mount c2
	$L -q child rm c1
	image_mounted k || fail "child rm released the image mounted c2 uses"
	$L -q umount c2
	image_mounted k && fail "the last umount left the image mounted"
	$L run c2 -- /bin/true
	$L -q child rm c2
	image_mounted k && fail "the last child rm left the image mounted"
	$L -q base rm k
	assert_no_file "$ROOT/bases/k"
	assert_nothing_attached
}

test_keep_image_squashfs() { keep_image_children squashfs; }

# An image generation written out reads its files through the image (its tree is only a mount point).
test_export_of_an_image_generation() {
	make_rich_tree "$T/src"
	mksquashfs "$T/src" "$T/fs.img" -quiet -noappend >/dev/null
	$L -q base import --keep-image k "$T/fs.img"
	$L -q base export k "$T/k.tar"
	tar tf "$T/k.tar" | grep -qx 'etc/owned' || fail "the export of an image generation lacks etc/owned"
	$L -q base import --verify fromtar "$T/k.tar"
	$L -q base export k "$T/k.squashfs"
	$L -q base import --verify --keep-image fromimg "$T/k.squashfs"
	$L -q base import dir "$T/src"
	$L base manifest fromimg | cut -f1-5,7- >"$T/m-img"
	$L base manifest dir | cut -f1-5,7- >"$T/m-dir"
	diff -u "$T/m-dir" "$T/m-img" >&2 || fail "the re-exported image lost something"
	assert_nothing_attached
}

# base export writes FILE.xxh128; import --keep-image --verify finds the image
# byte for byte the exported one and takes FILE.manifest without reading the image.
test_keep_image_verify_adopts_the_exporters_manifest() {
	make_rich_tree "$T/src"
	$L -q base import orig "$T/src"
	$L -q base export orig "$T/x.squashfs"
	$L base import --keep-image --verify k "$T/x.squashfs" >"$T/out" 2>&1
	assert_contains "$(cat "$T/out")" "the image matched its checksum, its manifest was taken"
	cmp "$T/x.squashfs.manifest" "$ROOT/bases/k/gens/1/manifest" || fail "the manifest is not the exporter's"
	# The mount point carries the root's metadata (child create copies it): from the manifest.
	assert_eq "$(stat -c %a:%u:%g "$ROOT/bases/k/gens/1/tree")" "$(stat -c %a:%u:%g "$ROOT/bases/orig/gens/1/tree")"
	image_mounted k && fail "the import left the image mounted"
	$L base verify k >/dev/null
	# The adopted manifest is the image's as the kernel shows it: diff of a child shows only what it did.
	$L -q child create c --base k
	$L -q run c -- /bin/sh -c 'echo x >/etc/added'
	assert_eq "$($L diff c | grep -v -e ' /dev$' -e ' /proc$' -e ' /sys$' -e ' /run$')" "A /etc/added"
	# Without the checksum file: every file hashed, the manifest compared (times aside).
	mv "$T/x.squashfs.xxh128" "$T/saved.xxh128"
	$L base import --keep-image --verify k2 "$T/x.squashfs" >"$T/out" 2>&1
	assert_contains "$(cat "$T/out")" "manifest verified"
	mv "$T/saved.xxh128" "$T/x.squashfs.xxh128"
	$L -q child rm c
	assert_nothing_attached
}

test_verify_refuses_an_image_not_matching_its_checksum() {
	make_busybox_tree "$T/src"
	$L -q base import orig "$T/src"
	$L -q base export orig "$T/x.squashfs"
	$L -q base export orig "$T/x.tar"
	# One byte changed: the manifest is no longer trusted, nothing is created.
	printf 'X' | dd of="$T/x.squashfs" bs=1 seek=2000 conv=notrunc status=none
	expect_fail $L -q base import --keep-image --verify k "$T/x.squashfs"
	assert_contains "$ERR" "--verify: $T/x.squashfs has XXH3-128 "
	assert_contains "$ERR" ", $T/x.squashfs.xxh128 says $(head -n 1 "$T/x.squashfs.xxh128" | cut -c1-32)"
	assert_no_file "$ROOT/bases/k"
	# The same for a tarball, before a byte of it is imported.
	printf '\0' >>"$T/x.tar"
	expect_fail $L -q base import --verify t "$T/x.tar"
	assert_contains "$ERR" "x.tar.xxh128 says"
	assert_no_file "$ROOT/bases/t"
	echo garbage >"$T/x.tar.xxh128"
	expect_fail $L -q base import --verify t "$T/x.tar"
	assert_contains "$ERR" "x.tar.xxh128: not a checksum file"
	# A stale manifest beside a new image (the checksums name the manifest too): never adopted.
	$L -q base export orig "$T/y.squashfs"
	cp "$T/y.squashfs.manifest" "$T/old.manifest"
	echo changed >"$T/src/etc/changed"
	$L -q base update orig --from "$T/src"
	$L -q base export orig "$T/y.squashfs"
	cp "$T/old.manifest" "$T/y.squashfs.manifest"
	expect_fail $L -q base import --keep-image --verify k "$T/y.squashfs"
	assert_contains "$ERR" "--verify: $T/y.squashfs.manifest has XXH3-128 "
	(cd "$T" && xxhsum -c y.squashfs.xxh128 >/dev/null 2>&1) && fail "xxhsum -c accepts the stale manifest"
	assert_eq "$(ls -A "$ROOT/bases")" "orig"
	assert_nothing_attached
}

# base update --from IMAGE --keep-image: a new generation that is an image;
# children refresh onto it (a conflict's base version read through the image),
# a directory update on top of it (nothing to link), gc unmounts what it removes.
test_update_keep_image_generations() {
	make_rich_tree "$T/src"
	$L -q base import b "$T/src"
	$L -q child create c --base b
	$L -q run c -- /bin/sh -c 'echo mine >/etc/os-release'
	echo v2 >"$T/src/etc/os-release"
	echo new >"$T/src/etc/new"
	$L -q base import v2 "$T/src"
	$L -q base export v2 "$T/v2.squashfs"
	$L base update b --from "$T/v2.squashfs" --keep-image --verify >"$T/out" 2>&1
	assert_contains "$(cat "$T/out")" "generation 2 committed on 1: 1 changed, 1 added"
	assert_contains "$(cat "$T/out")" "its manifest was taken"
	assert_file "$ROOT/bases/b/gens/2/image"
	$L refresh c >"$T/out" 2>&1
	assert_contains "$(cat "$T/out")" "1 conflict"
	assert_eq "$(cat "$ROOT/children/c/refresh/"*/base/etc/os-release)" v2 "the conflict's base version, from the image"
	assert_eq "$($L run c -- /bin/cat /etc/new /etc/os-release)" "new
mine"
	image_mounted b && fail "generation 1 is no image"
	findmnt -n --mountpoint "$ROOT/bases/b/gens/2/tree" >/dev/null || fail "run did not leave generation 2's image mounted"
	# A directory update on an image generation: a full copy (nothing can be linked to an image).
	echo v3 >"$T/src/etc/os-release"
	$L base update b --from "$T/src" >"$T/out" 2>&1
	assert_contains "$(cat "$T/out")" "generation 3 committed on 2: 1 changed, 0 added, 0 removed; 0 files linked"
	# The child leaves generation 2 (its image stays mounted: run left it), then its undo moves on too.
	$L -q refresh c
	$L -q base update b --from "$T/src"
	$L -q refresh c
	findmnt -n --mountpoint "$ROOT/bases/b/gens/2/tree" >/dev/null || fail "the image of generation 2 is not mounted: gc would not meet a mount"
	# gc of the image generation nothing pins: unmounted first, nothing left behind.
	$L -q base gc b --keep 0
	assert_no_file "$ROOT/bases/b/gens/2"
	[ -z "$(ls -A "$ROOT/bases/b/gens" | grep trash)" ] || fail "gc left $(ls -A "$ROOT/bases/b/gens")"
	$L -q child rm c
	assert_eq "$(mounts_below "$ROOT")" 0 "mounts left in the store"
	assert_nothing_attached
}

# xfs cannot be filled from a directory by mkfs.xfs here: made, mounted and filled by hand.
test_xfs_image() {
	grep -qw xfs /proc/filesystems || modprobe xfs 2>/dev/null || skip "no xfs in this kernel"
	make_rich_tree "$T/src"
	truncate -s 320M "$T/fs.img"
	mkfs.xfs -q "$T/fs.img"
	mkdir "$T/m"
	mount -o loop "$T/fs.img" "$T/m"
	cp -a "$T/src/." "$T/m/"
	umount "$T/m"
	$L -q base import x "$T/fs.img"
	assert_same_tree "$T/src" x
	assert_nothing_attached
}
test_keep_image_erofs() { keep_image_children erofs; }

# Boot: the generator writes a mount unit for the image that the child's unit requires;
# an fstab line cannot order them, so fstab --write refuses such a child.
test_keep_image_generator_units() {
	command -v systemd-escape >/dev/null || skip "systemd-escape not installed"
	make_rich_tree "$T/src"
	mksquashfs "$T/src" "$T/fs.img" -quiet -noappend >/dev/null
	$L -q base import --keep-image k "$T/fs.img"
	$L -q child create c1 --base k
	$L -q child create c2 --base k
	$L -q enable c1
	$L -q enable c2
	local tree=$ROOT/bases/k/gens/1/tree
	: >"$T/empty-fstab"
	mkdir "$T/gen"
	SYSTEMD_FSTAB="$T/empty-fstab" $L fstab --generator "$T/gen" "$T/gen" "$T/gen"
	local iu cu
	iu=$T/gen/$(systemd-escape --path --suffix=mount "$tree")
	cu=$T/gen/$(systemd-escape --path --suffix=mount "$ROOT/children/c1/root")
	assert_file "$iu"
	grep -qx "What=$ROOT/bases/k/gens/1/image" "$iu" || fail "image unit: $(cat "$iu")"
	grep -qx "Type=squashfs" "$iu" || fail "image unit type: $(cat "$iu")"
	grep -qx "Options=ro,loop" "$iu" || fail "image unit options: $(cat "$iu")"
	grep -qx "RequiresMountsFor=\"$tree\"" "$cu" || fail "child unit does not require the image's: $(cat "$cu")"
	# What systemd would do at boot, by hand: the image unit, then the child's.
	mount -t squashfs -o ro,loop "$ROOT/bases/k/gens/1/image" "$tree"
	mount -t overlay overlay -o "$(sed -n 's/^Options=//p' "$cu")" "$ROOT/children/c1/root"
	assert_eq "$(cat "$ROOT/children/c1/root/etc/owned")" secret
	$L -q umount c1
	image_mounted k && fail "umount of the last child left the image mounted"
	expect_fail $L fstab --write --file "$T/fstab"
	assert_contains "$ERR" "child c1: its base generation is an image (base import --keep-image), which only the generator mounts"
	assert_no_file "$T/fstab"
	assert_nothing_attached
}

test_keep_image_verify_rehashes_the_image() {
	make_busybox_tree "$T/src"
	mksquashfs "$T/src" "$T/fs.img" -quiet -noappend >/dev/null
	$L -q base import --keep-image k "$T/fs.img"
	echo changed >"$T/src/etc/os-release"
	mksquashfs "$T/src" "$T/other.img" -quiet -noappend >/dev/null
	cp -f "$T/other.img" "$ROOT/bases/k/gens/1/image"
	expect_fail $L base verify k
	assert_contains "$ERR" "1 difference from its manifest"
	assert_nothing_attached
}

test_keep_image_refuses_other_sources() {
	make_busybox_tree "$T/src"
	expect_fail $L -q base import --keep-image k "$T/src"
	assert_contains "$ERR" "--keep-image needs a squashfs or EROFS image file; $T/src is a directory"
	mkfs.ext4 -q -d "$T/src" "$T/fs.img" 8M
	expect_fail $L -q base import --keep-image k "$T/fs.img"
	assert_contains "$ERR" "--keep-image needs a squashfs or EROFS file system image; $T/fs.img is ext4"
	tar -C "$T/src" -cf "$T/src.tar" .
	expect_fail $L -q base import --keep-image k "$T/src.tar"
	assert_contains "$ERR" "is not an image"
	assert_eq "$($L base list --json)" "[]"
	assert_nothing_attached
}

# Run a layerctl command on a terminal (script(1)); its output, control characters and all, in $T/ts.
on_terminal() {
	# The EOF script types at the end of its input does not matter: layerctl reads no stdin.
	script -qfec "$*" "$T/ts" </dev/null >/dev/null
}

test_progress_on_a_terminal_only() {
	command -v script >/dev/null || skip "no script(1)"
	make_rich_tree "$T/src"
	mkdir "$T/src/many"
	(cd "$T/src/many" && seq 1 2000 | xargs touch)
	on_terminal "$L base import p $T/src"
	local ts
	ts=$(cat -v "$T/ts")
	assert_contains "$ts" "^MImporting: "
	assert_contains "$ts" " entries, "
	assert_contains "$ts" " MiB/s, 0:0"
	# Erased before the result: "\r ESC[K" then the last line.
	assert_contains "$ts" "^M^[[KImported base p"
	# The manifest's pass reads every file again: its own phase on the same line.
	assert_contains "$ts" "^MHashing: "
	# An image knows its total (the file system's inode count).
	mksquashfs "$T/src" "$T/fs.img" -quiet -noappend >/dev/null
	on_terminal "$L base import i $T/fs.img"
	assert_contains "$(cat -v "$T/ts")" " of "
	on_terminal "$L base verify p"
	assert_contains "$(cat -v "$T/ts")" "^MVerifying: "
	assert_contains "$(cat -v "$T/ts")" "^M^[[KBase p generation 1 matches"
	on_terminal "$L base import --keep-image ki $T/fs.img"
	assert_contains "$(cat -v "$T/ts")" "^MImporting: "
	on_terminal "$L base export p $T/p.tar"
	assert_contains "$(cat -v "$T/ts")" "^MExporting: "
	on_terminal "$L base update p --from $T/fs.img"
	assert_contains "$(cat -v "$T/ts")" "^MImporting: "
	# refresh of several children: a count between their result lines
	$L -q child create r1 --base p
	$L -q child create r2 --base p
	echo three >"$T/src/etc/three"
	$L -q base update p --from "$T/src"
	on_terminal "$L refresh --all"
	assert_contains "$(cat -v "$T/ts")" "^MRefreshing: 1 of 2 children, 0:00^[[K"
	# --quiet: nothing; stderr not a terminal: no progress line either.
	on_terminal "$L -q base import q $T/src"
	case "$(cat -v "$T/ts")" in *Importing*) fail "progress with --quiet: $(cat -v "$T/ts")" ;; esac
	$L base import n "$T/src" 2>"$T/err" >/dev/null
	grep -q $'\r' "$T/err" && fail "progress written to a non-terminal: $(cat -v "$T/err")"
	grep -q $'\033' "$T/err" && fail "escape sequence written to a non-terminal"
	return 0
}

test_storage_check_names_the_file_system() {
	# ext4 without the filetype feature reports no d_type: the store there is refused,
	# and the message says which file system (libblkid: type, device, label).
	mkfs.ext4 -q -O ^filetype -L nodtype "$T/store.img" 16M
	mkdir "$T/mnt"
	mount -o loop "$T/store.img" "$T/mnt"
	make_busybox_tree "$T/src"
	export LAYERCTL_ROOT=$T/mnt/store
	$L -q base import bb "$T/src"
	$L -q child create c --base bb
	expect_fail $L mount c
	assert_contains "$ERR" "does not report d_type"
	assert_contains "$ERR" "(the store is on ext4 on /dev/loop"
	assert_contains "$ERR" "(label nodtype)"
	umount "$T/mnt"
}

run_tests
