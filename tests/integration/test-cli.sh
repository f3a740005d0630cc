#!/usr/bin/env bash
# The command line: every command has --help, every option in --help is in a
# man page, usage errors exit 2, `make install` honours PREFIX and DESTDIR.
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)

commands=("base" "base import" "base list" "base show" "base rm" "base manifest" "base verify"
	"base update" "base diff" "base rollback" "base gc"
	"child" "child create" "child list" "child show" "child rm" "child reset"
	"mount" "umount" "diff" "audit" "vacuum" "enable" "disable" "fstab"
	"run" "start" "stop" "exec" "ps")

test_every_command_has_help() {
	local c out
	$L --help | grep -q '^Usage: layerctl'
	for c in "${commands[@]}"; do
		# shellcheck disable=SC2086
		out=$($L $c --help) || fail "'layerctl $c --help' failed"
		assert_contains "$out" "Usage"
	done
}

test_every_option_is_in_a_man_page() {
	local c opt missing=""
	local man; man=$(cat "$top"/man/*.[0-9] | sed 's/\\-/-/g; s/\\f[BIRP]//g')
	for c in "" "${commands[@]}"; do
		# shellcheck disable=SC2086
		for opt in $($L $c --help 2>/dev/null | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u); do
			grep -qF -- "$opt" <<<"$man" || missing+=" $c:$opt"
		done
	done
	[ -z "$missing" ] || fail "options missing from man/:$missing"
}

test_every_command_is_in_a_man_page() {
	local c man; man=$(cat "$top"/man/*.[0-9] | sed 's/\\-/-/g; s/\\f[BIRP]//g')
	for c in "${commands[@]}"; do
		grep -qE "(^|[^a-z])${c##* }([^a-z]|$)" <<<"$man" || fail "command '$c' not in man/"
	done
}

test_usage_errors_exit_2() {
	local rc=0
	$L frobnicate 2>/dev/null || rc=$?; assert_eq "$rc" 2
	rc=0; $L 2>/dev/null || rc=$?; assert_eq "$rc" 2
	rc=0; $L base 2>/dev/null || rc=$?; assert_eq "$rc" 2
	rc=0; $L child create 2>/dev/null || rc=$?; assert_eq "$rc" 2
	rc=0; $L base list --bogus 2>/dev/null || rc=$?; assert_eq "$rc" 2
	rc=0; $L --root 2>/dev/null || rc=$?; assert_eq "$rc" 2
}

test_empty_store_lists_nothing() {
	assert_eq "$($L base list --json)" "[]"
	assert_eq "$($L child list --json)" "[]"
	assert_no_file "$ROOT" # reading does not create the store
}

test_make_install_honours_prefix_and_destdir() {
	# install the binary under test (its build dir), not a fresh default build
	local build; build=$(basename "$(dirname "$(readlink -f "$L")")")
	case "$build" in build*) ;; *) build=build ;; esac
	make -C "$top" -s install BUILD="$build" PREFIX=/opt/lc DESTDIR="$T/dest" >/dev/null
	assert_file "$T/dest/opt/lc/bin/layerctl"
	assert_file "$T/dest/opt/lc/share/man/man1/layerctl.1"
	"$T/dest/opt/lc/bin/layerctl" --version | grep -q '^layerctl '
}

run_tests
