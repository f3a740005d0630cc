#!/usr/bin/env bash
# Libraries loaded on first use (src/basic/dlopen-lib.h): the binary links
# none of them, a command that does not use one runs without it, and one
# that does fails with one line naming the library and its package.
# "Without it": the library's file is covered by /dev/null in a private mount
# namespace (only this test's processes see that; busybox, static, mounts it),
# so dlopen() really fails.
. "$(dirname "$0")/lib.sh"

# The file the dynamic loader would open for SONAME.
lib_file() {
	local f
	f=$(ldconfig -p | awk -v so="$1" '$1 == so { print $NF }' | while read -r p; do [ -e "$p" ] && echo "$p"; done | head -n 1)
	[ -n "$f" ] || fail "no $1 in the loader's cache"
	readlink -f "$f"
}

# without SONAME... -- CMD...: run CMD with those libraries unloadable.
without() {
	local binds=()
	while [ "$1" != -- ]; do
		binds+=("$(lib_file "$1")")
		shift
	done
	shift
	BUSYBOX=$BUSYBOX BINDS="${binds[*]}" unshare -m --propagation private sh -c '
		for f in $BINDS; do "$BUSYBOX" mount -o bind /dev/null "$f" || exit 99; done
		exec "$@"' sh "$@"
}

# Linux 6.11 has statmount() with mount options: `child list` and `run` need
# no mount table there (src/basic/statmount.h); older kernels load libmount.
kernel_has_statmount_opts() {
	local v; v=$(uname -r)
	local major=${v%%.*} rest=${v#*.}
	local minor=${rest%%[!0-9]*}
	[ "$major" -gt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -ge 11 ]; }
}

test_binary_links_none_of_the_loaded_libraries() {
	local needed lib
	needed=$(readelf -d "$L" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
	assert_contains "$needed" "libc.so"
	for lib in libmount libblkid libselinux libcap libseccomp libxxhash libarchive libmnl libnftables; do
		case "$needed" in *"$lib".so*) fail "$L links $lib directly: $needed" ;; esac
	done
}

test_sonames_are_the_installed_libraries() {
	local pc name so
	for pc in mount:libmount blkid:libblkid libcap:libcap libseccomp:libseccomp libarchive:libarchive libmnl:libmnl \
		  libnftables:libnftables; do
		name=${pc#*:}
		so=$(readelf -d "$(pkg-config --variable=libdir "${pc%%:*}")/$name.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
		[ -n "$so" ] || fail "no SONAME for $name"
		grep -aqF "$so" "$L" || fail "$L does not dlopen $so (the installed $name's soname)"
	done
}

test_commands_without_the_libraries_they_do_not_use() {
	setup bb c d
	local all=(libmount.so.1 libblkid.so.1 libseccomp.so.2 libcap.so.2 libarchive.so.13 libmnl.so.0 libnftables.so.1)
	assert_contains "$(without "${all[@]}" -- "$L" --version)" "layerctl"
	without "${all[@]}" -- "$L" child create e --base bb
	without "${all[@]}" -- "$L" base list >/dev/null
	kernel_has_statmount_opts || return 0
	$L mount c
	local out; out=$(without "${all[@]}" -- "$L" child list)
	assert_contains "$out" "yes"
	without "${all[@]}" -- "$L" ps >/dev/null
	$L umount c
}

test_run_needs_libseccomp_only_to_build_the_filter() {
	setup
	kernel_has_statmount_opts || skip "Linux < 6.11: run reads the mount table with libmount"
	$L mount c
	# A fresh runtime dir: no cached filter, so it must be built.
	expect_fail without libseccomp.so.2 -- "$L" run c -- /bin/true
	assert_eq "$(printf '%s\n' "$ERR" | wc -l)" 1 "one line: $ERR"
	assert_contains "$ERR" "libseccomp.so.2"
	assert_contains "$ERR" "apt-get install libseccomp2"
	$L run c -- /bin/true   # builds and caches it
	assert_eq "$(without libseccomp.so.2 libmount.so.1 -- "$L" run c -- /bin/sh -c 'grep ^Seccomp: /proc/self/status')" \
		"Seccomp:	2"
	$L umount c
}

test_missing_library_is_one_line_naming_it() {
	setup
	# mount goes through the kernel's mount API (overlay/detached.c): no libmount
	without libmount.so.1 -- "$L" -q mount c || fail "mount needed libmount"
	# umount still unmounts through libmount
	$L -q mount c
	expect_fail without libmount.so.1 -- "$L" umount c
	assert_eq "$(printf '%s\n' "$ERR" | wc -l)" 1 "one line: $ERR"
	assert_contains "$ERR" "cannot load libmount.so.1"
	assert_contains "$ERR" "apt-get install libmount1"
	assert_eq "$(mounts_below "$ROOT")" 1
	$L -q umount c
	expect_fail without libcap.so.2 -- "$L" run c -- /bin/true
	assert_contains "$ERR" "cannot load libcap.so.2"
	assert_contains "$ERR" "apt-get install libcap2"
}

run_tests
