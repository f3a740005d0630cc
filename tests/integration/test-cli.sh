#!/usr/bin/env bash
# The command line: every command has --help, every option in --help is in a
# man page, usage errors exit 2, `make install` honours PREFIX and DESTDIR.
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)

commands=("base" "base import" "base list" "base show" "base rm" "base manifest" "base verify"
	"base update" "base diff" "base rollback" "base gc"
	"child" "child create" "child list" "child show" "child rm" "child reset"
	"mount" "umount" "diff" "audit" "vacuum" "enable" "disable" "fstab"
	"run" "start" "stop" "exec" "ps" "status" "set-property" "logs" "login" "shell")

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
			# the whole option: --gen must not pass because --generator is documented
			grep -qE -- "(^|[^a-zA-Z0-9-])${opt}([^a-zA-Z0-9-]|$)" <<<"$man" || missing+=" $c:$opt"
		done
	done
	[ -z "$missing" ] || fail "options missing from man/:$missing"
}

test_every_command_is_in_a_man_page() {
	local c man; man=$(cat "$top"/man/*.[0-9] | sed 's/\\-/-/g; s/\\f[BIRP]//g')
	# the full command ("base rm", not just "rm"), as one phrase
	man=$(tr -s ' \t' '  ' <<<"$man")
	local missing=""
	for c in "${commands[@]}"; do
		grep -qE "(^|[^a-z-])${c}([^a-z-]|$)" <<<"$man" || missing+=" '$c'"
	done
	[ -z "$missing" ] || fail "commands not in man/:$missing"
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
	assert_file "$T/dest/opt/lc/lib/systemd/system-generators/layerctl-fstab-generator"
	assert_file "$T/dest/opt/lc/share/bash-completion/completions/layerctl"
	# uninstall takes away every file install put in place
	make -C "$top" -s uninstall BUILD="$build" PREFIX=/opt/lc DESTDIR="$T/dest" >/dev/null
	assert_eq "$(find "$T/dest" ! -type d)" ""
}

# Run a command that must fail with exit code $1 and exactly the one line $2 on stderr.
expect_error() {
	local want_rc=$1 want=$2 rc=0 out
	shift 2
	out=$("$@" 2>&1 >/dev/null) || rc=$?
	assert_eq "$rc" "$want_rc" "exit code of: $*"
	assert_eq "$out" "$want"
}

test_option_errors_are_one_line() {
	expect_error 2 "layerctl child create: option '--base' requires an argument" $L child create x --base
	expect_error 2 "layerctl: unknown option '--bogus' (see 'layerctl --help')" $L --bogus
	expect_error 2 "layerctl: unknown command 'frobnicate' (see 'layerctl --help')" $L frobnicate
	expect_error 2 "layerctl base list: unknown option '--bogus'" $L base list --bogus
	expect_error 2 "layerctl base list: option '--json' takes no value" $L base list --json=yes
	expect_error 2 "layerctl mount: unknown option '-x'" $L mount -x
	expect_error 2 "layerctl stop: option '-t' requires an argument" $L stop c -t
	expect_error 2 "layerctl child create: unexpected argument 'extra'" $L child create x --base bb extra
	expect_error 2 "layerctl base show: unexpected argument 'two'" $L base show one two
	expect_error 2 "layerctl diff: --json and --format=docker do not go together" $L diff c --json --format=docker
	expect_error 2 "layerctl diff: --json and --format=docker do not go together" $L diff c --format=docker --json
	# a run-only option given to exec is named, not its value
	expect_error 2 "layerctl exec: --bind is not an option of exec" $L exec --bind /a c -- true
	expect_error 2 "layerctl exec: --hostname is not an option of exec" $L exec --hostname=h c -- true
	expect_error 2 "layerctl exec: -b is not an option of exec" $L exec -b c -- true
	assert_no_file "$ROOT"
}

test_missing_store_is_an_empty_one() {
	local c out
	for c in "base list" "child list" "audit" "ps" "umount --all" "mount --all"; do
		# shellcheck disable=SC2086
		$L $c >/dev/null 2>&1 || fail "'layerctl $c' failed on a missing store"
	done
	assert_eq "$($L audit --json)" "[]"
	assert_eq "$($L ps --json)" "[]"
	assert_no_file "$ROOT"
}

test_bad_base_or_generation_named() {
	setup
	sed -i 's/^Base=bb$/Base=nope/' "$ROOT/children/c/child.conf"
	expect_error 1 "layerctl: mount c: no base named nope (child.conf: [Child] Base=nope)" $L mount c
	expect_error 1 "layerctl: diff c: no base named nope (child.conf: [Child] Base=nope)" $L diff c
	sed -i 's/^Base=nope$/Base=bb/; s/^Generation=1$/Generation=7/' "$ROOT/children/c/child.conf"
	expect_error 1 "layerctl: mount c: base bb has no generation 7 (child.conf: [Child] Generation=7)" $L mount c
	expect_error 1 "layerctl: diff c: base bb has no generation 7 (child.conf: [Child] Generation=7)" $L diff c
	sed -i 's/^Generation=7$/Generation=1/' "$ROOT/children/c/child.conf"
	sed -i 's/^Current=1$/Current=4/' "$ROOT/bases/bb/base.conf"
	local msg="layerctl: base bb: base.conf: [Base] Current=4 names a generation that does not exist (no gens/4)"
	expect_error 1 "$msg" $L base list
	expect_error 1 "$msg" $L base show bb
	assert_eq "$(mounts_below "$ROOT")" 0
}

test_no_such_child_for_exec_and_stop() {
	setup
	expect_error 1 "layerctl: exec nosuch: no such child" $L exec nosuch -- true
	expect_error 1 "layerctl: stop nosuch: no such child" $L stop nosuch
	expect_error 1 "layerctl: stop c: the child is not running" $L stop c
}

test_bind_source_and_dev_symlink_named() {
	setup
	expect_error 1 "layerctl: run c: bind source /nonexistent: No such file or directory" \
		$L run c --bind /nonexistent:/m -- true
	rm -rf "$T/src/dev"
	ln -s /tmp "$T/src/dev"
	$L -q base import bd "$T/src"
	$L -q child create d --base bd
	expect_error 1 "layerctl: run d: /dev in the child is a symlink (to /tmp); it must be a directory" \
		$L run d -- true </dev/null
	assert_eq "$(mounts_below "$ROOT")" 0
}

test_umount_of_a_foreign_mount_gives_no_fuser_hint() {
	setup
	mount -t tmpfs none "$ROOT/children/c/root"
	expect_error 1 "layerctl: umount c: something other than this child's overlay is mounted at $ROOT/children/c/root; not touching it" \
		$L umount c
	umount "$ROOT/children/c/root"
}

test_store_path_with_newline_or_quote_explained() {
	expect_error 1 "layerctl: store $T/new\\nline: the path holds a newline, which the kernel's mount table and fstab cannot carry; choose another directory" \
		$L --root "$T/new
line" base import x "$T"
	expect_error 1 "layerctl: store $T/q\"x: the path holds '\"', which libmount reads as quoting in mount options; choose another directory" \
		$L --root "$T/q\"x" child list
	assert_no_file "$T/new
line"
}

test_import_of_what_is_no_tree_or_archive() {
	local why="not a directory, a supported archive (tar, optionally gzip, xz, zstd or bzip2 compressed) or a disk or file system image libblkid recognises"
	expect_error 1 "layerctl: base import nb: /etc/passwd: $why" $L base import nb /etc/passwd
	expect_error 1 "layerctl: base import nb: /dev/null: $why" $L base import nb /dev/null
	assert_no_file "$ROOT"
}

test_names_and_paths_are_escaped() {
	expect_error 1 "layerctl: base name 'a\\nb': may only hold ASCII letters, digits, '-', '_' and '.'" \
		$L base import "a
b" /etc/passwd
	expect_error 2 "layerctl base list: unexpected argument 'x\\ny'" $L base list "x
y"
	expect_error 1 "layerctl: base import bb: source $T/no\\tsuch: No such file or directory" \
		$L base import bb "$T/no	such"
}

test_counts_are_singular_for_one() {
	mkdir "$T/one"
	echo x >"$T/one/f"
	tar -C "$T/one" -cf "$T/one.tar" f
	local out
	out=$($L base import t "$T/one.tar" 2>&1)
	assert_contains "$out" "Imported base t: 1 entry, "
	$L -q child create c --base t
	$L -q mount c
	cp -p "$ROOT/bases/t/gens/1/tree/f" "$ROOT/children/c/root/f"
	$L -q umount c
	out=$($L vacuum c 2>&1 >/dev/null)
	assert_contains "$out" "Freed c: 1 file and 0 directories, "
}

test_tar_member_twice_counts_once() {
	mkdir "$T/two"
	echo old >"$T/two/f"
	tar -C "$T/two" -cf "$T/two.tar" f
	echo newer >"$T/two/f"
	tar -C "$T/two" -rf "$T/two.tar" f
	assert_eq "$(tar -tf "$T/two.tar" | wc -l)" 2
	local out
	out=$($L base import t "$T/two.tar" 2>&1)
	assert_contains "$out" "Imported base t: 1 entry, "
	assert_eq "$(cat "$ROOT/bases/t/gens/1/tree/f")" newer
}

run_tests
