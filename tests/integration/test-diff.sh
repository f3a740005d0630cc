#!/usr/bin/env bash
# diff, audit, vacuum, base manifest, base verify on real overlay mounts.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

# A base "b" (busybox tree plus a few files) and a child "c" mounted at $M.
prepare_tree() {
	echo hello >"$1/etc/hello"
	echo same >"$1/etc/same"
	mkdir -p "$1/usr/share/doc"
	echo doc >"$1/usr/share/doc/README"
}
setup_child() {
	setup b c
	"$L" -q mount c
	M=$ROOT/children/c/root
	U=$ROOT/children/c/upper
}

test_every_imported_base_has_a_valid_manifest() {
	make_busybox_tree "$T/src"
	"$L" -q base import b "$T/src"
	assert_file "$ROOT/bases/b/gens/1/manifest"
	"$L" base verify b
	n=$("$L" base manifest b | wc -l)
	assert_eq "$n" "$(find "$T/src" | wc -l)" "one manifest line per entry"
	"$L" base manifest b --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["entries"][0]["path"]=="/"'
}

test_manifest_hash_matches_xxhsum() {
	make_busybox_tree "$T/src"
	"$L" -q base import b "$T/src"
	want=$(xxhsum -H2 "$T/src/bin/busybox" | cut -d' ' -f1)
	got=$("$L" base manifest b | awk -F'\t' '$9 == "/bin/busybox" {print $7}')
	assert_eq "$got" "$want"
}

test_odd_names_round_trip() {
	mkdir -p "$T/src"
	printf x >"$T/src/$(printf 'new\nline')"
	printf x >"$T/src/$(printf 'tab\there')"
	printf x >"$T/src/back\\slash"
	printf x >"$T/src/$(printf 'bad\377name')"
	"$L" -q base import b "$T/src"
	out=$("$L" base manifest b)
	assert_contains "$out" '/new\nline'
	assert_contains "$out" '/tab\there'
	assert_contains "$out" '/back\\slash'
	assert_contains "$out" '/bad\xffname'
	# JSON: exact bytes in path_hex when the name is not UTF-8
	"$L" base manifest b --json | python3 -c '
import json, sys
paths = set()
for e in json.load(sys.stdin)["entries"]:
    paths.add(bytes.fromhex(e["path_hex"]) if "path_hex" in e else e["path"].encode())
want = {b"/", b"/new\nline", b"/tab\there", b"/back\\slash", b"/bad\xffname"}
assert paths == want, paths'
	"$L" -q child create c --base b
	"$L" -q mount c
	printf y >"$ROOT/children/c/root/$(printf 'bad\377name')"
	rm "$ROOT/children/c/root/$(printf 'new\nline')"
	out=$("$L" diff c)
	assert_contains "$out" 'M /bad\xffname'
	assert_contains "$out" 'D /new\nline'
}

test_diff_classes_and_formats() {
	setup_child
	echo changed >"$M/etc/hello"
	chmod 600 "$M/etc/same"
	echo new >"$M/etc/new"
	rm "$M/bin/ls"
	rm -rf "$M/usr/share/doc"
	mkdir "$M/usr/share/doc"
	cat "$M/etc/passwd" >/dev/null
	python3 -c "open('$M/etc/group', 'r+')"   # copy-up without a change
	out=$("$L" diff c --color=never)
	assert_contains "$out" "M /etc/hello"
	assert_contains "$out" "m /etc/same"
	assert_contains "$out" "A /etc/new"
	assert_contains "$out" "D /bin/ls"
	assert_contains "$out" "O /usr/share/doc"
	assert_contains "$out" "D /usr/share/doc/README"
	assert_contains "$out" "= /etc/group"
	case "$out" in *" /etc"$'\n'*|*" /usr"$'\n'*) fail "parent dirs of changes must not be listed: $out" ;; esac
	"$L" diff c --color=always | grep -q $'^\033\[33mM\033\[0m /etc/hello$'
	docker=$("$L" diff c --format=docker)
	assert_contains "$docker" "C /etc/hello"
	assert_contains "$docker" "A /etc/new"
	assert_contains "$docker" "D /bin/ls"
	case "$docker" in *group*) fail "docker format lists redundant copies" ;; esac
	"$L" diff c --summary | grep -q '^= redundant *1 '
	"$L" diff c --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
cls = {c["path"]: c["class"] for c in d["changes"]}
assert cls["/etc/hello"] == "M" and cls["/etc/group"] == "=" and cls["/bin/ls"] == "D", cls
assert d["summary"]["redundant"]["count"] == 1'
	rc=0; "$L" diff c --exit-code >/dev/null || rc=$?
	assert_eq "$rc" 3 "--exit-code with drift"
}

test_exit_code_zero_without_drift() {
	setup_child
	cat "$M/etc/hello" >/dev/null
	"$L" diff c --exit-code
	out=$("$L" diff c)
	assert_eq "$out" ""
	python3 -c "open('$M/etc/hello', 'r+')"   # a redundant copy is not drift
	"$L" diff c --exit-code >/dev/null
}

test_usage_errors() {
	setup_child
	rc=0; "$L" diff c --format=xml 2>/dev/null || rc=$?
	assert_eq "$rc" 2
	rc=0; "$L" diff 2>/dev/null || rc=$?
	assert_eq "$rc" 2
	expect_fail "$L" diff nosuch
	assert_contains "$ERR" "nosuch: no such child"
	expect_fail "$L" base manifest b --gen 7
	assert_contains "$ERR" "no generation 7"
}

test_corrupt_manifest_is_reported_not_trusted() {
	setup_child
	mf=$ROOT/bases/b/gens/1/manifest
	cp "$mf" "$T/good"
	printf '\x55' | dd of="$mf" bs=1 seek=200 conv=notrunc 2>/dev/null
	expect_fail "$L" diff c
	assert_contains "$ERR" "manifest of base b generation 1"
	assert_contains "$ERR" "checksum"
	head -c 100 "$T/good" >"$mf"
	expect_fail "$L" base manifest b
	assert_contains "$ERR" "truncated"
	rm "$mf"
	expect_fail "$L" audit
	assert_contains "$ERR" "missing"
}

test_hash_cache_is_used_and_never_trusted_when_corrupt() {
	setup_child
	for i in 1 2 3 4 5; do dd if=/dev/urandom of="$T/src/f$i" bs=1k count=8 2>/dev/null; done
	"$L" -q umount c
	"$L" -q child rm c
	"$L" -q base rm b
	"$L" -q base import b "$T/src"
	"$L" -q child create c --base b
	"$L" -q mount c
	for i in 1 2 3 4 5; do python3 -c "open('$M/f$i', 'r+')"; done   # same-size copies: hashed
	sleep 0.2   # past the racy window
	first=$("$L" diff c --summary --json)
	second=$("$L" diff c --summary --json)
	echo "$first" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["hashed_files"] >= 5, d'
	echo "$second" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["hashed_files"] == 0 and d["cache_hits"] >= 5, d'
	# a changed file is hashed again (same size, new content)
	dd if=/dev/urandom of="$M/f1" bs=1k count=8 conv=notrunc 2>/dev/null
	"$L" diff c | grep -q '^M /f1$'
	# garbage in the cache: ignored, rebuilt, same answer
	head -c 300 /dev/urandom >"$ROOT/children/c/hash-cache"
	"$L" diff c | grep -q '^M /f1$'
	"$L" diff c --summary --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["redundant"]["count"] == 4, d'
	# an in-place write keeps the size: the new ctime makes it a cache miss
	printf 'xyz' | dd of="$M/f2" conv=notrunc 2>/dev/null
	"$L" diff c | grep -q '^M /f2$'
}

# diff with the cache (dirs read from it) agrees with diff --no-cache, and the cache was used.
diff_agrees() {
	local cached fresh
	cached=$("$L" diff c) || fail "diff c failed"
	fresh=$("$L" diff c --no-cache)
	assert_eq "$cached" "$fresh" "cached diff vs --no-cache after: $1"
	printf '%s\n' "$cached"
}
# Settle (past the racy window), then a diff that stores every dir, then one that reads none.
cache_every_dir() {
	sleep 0.2
	"$L" diff c >/dev/null
	"$L" diff c --summary --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["dir_cache_hits"] >= 4 and d["hashed_files"] == 0, d'
}

test_dir_cache_sees_every_change() {
	setup_child
	mkdir -p "$T/src"
	python3 -c "open('$M/etc/same', 'r+'); open('$M/etc/hello', 'r+'); open('$M/usr/share/doc/README', 'r+')"
	cache_every_dir
	# an unchanged cache is not rewritten
	ino=$(stat -c %i "$ROOT/children/c/hash-cache")
	"$L" diff c >/dev/null
	assert_eq "$(stat -c %i "$ROOT/children/c/hash-cache")" "$ino" "hash cache rewritten though nothing changed"
	# a file added to a cached dir
	echo new >"$M/etc/new"
	out=$(diff_agrees "add")
	assert_contains "$out" "A /etc/new"
	cache_every_dir
	# same size, new content, in a cached dir
	echo HELLO >"$M/etc/hello"
	out=$(diff_agrees "rewrite")
	assert_contains "$out" "M /etc/hello"
	cache_every_dir
	# removed through the overlay (a whiteout replaces the copy)
	rm "$M/etc/same"
	out=$(diff_agrees "rm")
	assert_contains "$out" "D /etc/same"
	cache_every_dir
	# renamed within a cached dir
	mv "$M/usr/share/doc/README" "$M/usr/share/doc/README.old"
	out=$(diff_agrees "rename")
	assert_contains "$out" "D /usr/share/doc/README"
	assert_contains "$out" "A /usr/share/doc/README.old"
	cache_every_dir
	# an xattr on a cached dir (its ctime moves, not its mtime)
	setfattr -n user.mark -v 1 "$M/usr/share/doc"
	out=$(diff_agrees "setfattr")
	assert_contains "$out" "m /usr/share/doc"
	cache_every_dir
	# a dir replaced through the overlay becomes opaque: still O when its names come from the cache
	rm -rf "$M/usr/share/doc"
	mkdir "$M/usr/share/doc"
	echo mine >"$M/usr/share/doc/mine"
	out=$(diff_agrees "opaque")
	assert_contains "$out" "O /usr/share/doc"
	cache_every_dir
	out=$(diff_agrees "opaque, cached")
	assert_contains "$out" "O /usr/share/doc"
	assert_contains "$out" "D /usr/share/doc/README"
	# in the upper dir itself, the child unmounted: a name removed, the dir's mtime put back
	"$L" -q umount c
	mt=$(stat -c %Y.%y "$U/etc" | sed 's/^\([0-9]*\)\..*\.\([0-9]*\) .*/\1.\2/')
	rm "$U/etc/hello"
	touch -m -d "@$mt" "$U/etc"
	assert_eq "$(stat -c %Y "$U/etc")" "${mt%.*}"
	out=$(diff_agrees "rm in upper, mtime restored")
	case "$out" in *"/etc/hello"*) fail "removed upper file still reported: $out" ;; esac
}

test_vacuum_removes_only_redundant_copies() {
	setup_child
	python3 -c "open('$M/etc/same', 'r+')"
	python3 -c "open('$M/usr/share/doc/README', 'r+')"
	echo changed >"$M/etc/hello"
	chmod 4755 "$M/bin/busybox"; chmod 755 "$M/bin/busybox"   # back to the base mode
	chmod u+s "$M/etc/passwd"                               # setuid only: not redundant
	expect_fail "$L" vacuum c
	assert_contains "$ERR" "mounted"
	"$L" -q umount c
	out=$("$L" vacuum c --dry-run)
	assert_contains "$out" "would remove /etc/same"
	assert_file "$U/etc/same"
	out=$("$L" vacuum c)
	assert_contains "$out" "removed /etc/same"
	assert_contains "$out" "removed /bin/busybox"
	assert_contains "$out" "removed /usr/share/doc/README"
	assert_contains "$out" "removed /usr/share/doc/"
	assert_no_file "$U/etc/same"
	assert_no_file "$U/usr"
	assert_file "$U/etc/hello"
	assert_file "$U/etc/passwd"
	"$L" -q mount c
	assert_eq "$(cat "$M/etc/hello")" changed
	assert_eq "$(cat "$M/etc/same")" same
	out=$("$L" diff c)
	assert_contains "$out" "m /etc/passwd"
	case "$out" in *"="*) fail "redundant copies left: $out" ;; esac
}

test_vacuum_keeps_hard_links() {
	setup_child
	ln "$M/etc/same" "$M/etc/same-link"
	"$L" -q umount c
	"$L" -q vacuum c
	assert_file "$U/etc/same"
	"$L" diff c | grep -q '^A /etc/same-link$'
}

# A copy that differs only in owner or only in an xattr is not redundant.
test_vacuum_keeps_owner_only_and_xattr_only_changes() {
	setup_child
	chown 5:6 "$M/etc/same"
	setfattr -n user.note -v kept "$M/usr/share/doc/README"
	python3 -c "open('$M/etc/hello', 'r+')"   # a true redundant copy, for contrast
	"$L" -q umount c
	out=$("$L" vacuum c)
	assert_contains "$out" "removed /etc/hello"
	case "$out" in *"/etc/same"*|*README*) fail "removed a copy that differs: $out" ;; esac
	assert_eq "$(stat -c %u:%g "$U/etc/same")" 5:6
	assert_eq "$(getfattr --only-values -n user.note "$U/usr/share/doc/README")" kept
	assert_no_file "$U/etc/hello"
	out=$("$L" diff c)
	assert_contains "$out" "m /etc/same"
	assert_contains "$out" "m /usr/share/doc/README"
}

# A directory of the upper swapped for a symlink between the diff and the
# removals (vacuum paused there by the test hook): nothing outside is touched.
test_vacuum_never_follows_a_planted_symlink() {
	setup_child
	python3 -c "open('$M/usr/share/doc/README', 'r+')"
	"$L" -q umount c
	mkdir -p "$T/outside"
	echo precious >"$T/outside/README"
	LAYERCTL_TEST_HOOK="vacuum-before-remove:pause:$T/paused" "$L" vacuum c >"$T/out" 2>&1 &
	pid=$!
	for _ in $(seq 500); do [ -e "$T/paused" ] && break; sleep 0.01; done
	assert_file "$T/paused"
	mv "$U/usr/share/doc" "$U/usr/share/doc.moved"
	ln -s "$T/outside" "$U/usr/share/doc"
	rm "$T/paused"
	rc=0
	wait "$pid" || rc=$?
	assert_eq "$(cat "$T/outside/README" 2>&1)" precious "file behind the symlink: $(cat "$T/out")"
	[ "$rc" -ne 0 ] || fail "vacuum through a planted symlink succeeded: $(cat "$T/out")"
	assert_eq "$(readlink "$U/usr/share/doc")" "$T/outside"
}

# vacuum holds the child's lock: a mount asked for meanwhile waits for it.
test_vacuum_holds_the_child_lock() {
	setup_child
	python3 -c "open('$M/etc/same', 'r+')"
	"$L" -q umount c
	LAYERCTL_TEST_HOOK="vacuum-before-remove:pause:$T/paused" "$L" -q vacuum c &
	vac=$!
	for _ in $(seq 500); do [ -e "$T/paused" ] && break; sleep 0.01; done
	assert_file "$T/paused"
	"$L" -q mount c &
	mnt=$!
	sleep 0.5
	assert_eq "$(mounts_below "$ROOT")" 0 "mounted while vacuum held the lock"
	rm "$T/paused"
	wait "$vac" || fail "vacuum failed"
	wait "$mnt" || fail "mount failed after the vacuum"
	assert_eq "$(mounts_below "$ROOT")" 1
	assert_no_file "$U/etc/same"
}

# A running child (mounted by run) is never vacuumed under its feet.
test_vacuum_refuses_a_running_child() {
	setup_child
	python3 -c "open('$M/etc/same', 'r+')"
	"$L" -q umount c
	"$L" run c -- sleep 30 </dev/null >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 200); do "$L" ps | grep -q '^c ' && break; sleep 0.05; done
	"$L" ps | grep -q '^c ' || fail "child did not start"
	expect_fail "$L" vacuum c
	assert_file "$U/etc/same"
	kill "$pid"; wait "$pid" 2>/dev/null || :
}

test_audit_table_and_json() {
	setup_child
	echo x >"$M/etc/added"
	python3 -c "open('$M/etc/same', 'r+')"
	"$L" -q child create d --base b
	out=$("$L" audit)
	assert_contains "$out" "CHILD"
	echo "$out" | grep -Eq '^c +b +1 +0 +0 +0 +1 +0 +0 +0 +0 +1 '   # GEN LAG S C, then A M m D O =
	echo "$out" | grep -Eq '^d +b +1 +0 +0 +0 +0 +0 +0 +0 +0 +0 '
	"$L" audit --json | python3 -c '
import json, sys
d = {c["child"]: c for c in json.load(sys.stdin)}
assert d["c"]["differs"] and not d["d"]["differs"]
assert d["c"]["summary"]["vacuum_bytes"] > 0'
}

# audit's worker processes (--jobs): the same rows, in the children's order,
# whatever the number of workers; a child that fails fails the command and
# only its own row.
test_audit_workers_give_the_rows_of_one_process() {
	setup_child
	echo x >"$M/etc/added"
	local i k
	for i in 1 2 3 4 5 6 7; do
		"$L" -q child create "k$i" --base b
		mkdir -p "$ROOT/children/k$i/upper/etc"
		for k in $(seq "$i"); do echo "$k" >"$ROOT/children/k$i/upper/etc/f$k"; done
	done
	"$L" audit --jobs 1 >"$T/one"
	"$L" audit --jobs 3 >"$T/three"
	"$L" audit --jobs 64 >"$T/many"
	cmp "$T/one" "$T/three" || fail "3 workers: $(diff "$T/one" "$T/three")"
	cmp "$T/one" "$T/many" || fail "64 workers: $(diff "$T/one" "$T/many")"
	# The work is shared: three processes read children's child.conf.
	# (LeakSanitizer cannot work under ptrace: off, for a SANITIZE=1 build)
	ASAN_OPTIONS=detect_leaks=0 strace -f -qq -e trace=openat,openat2 -o "$T/trace" "$L" audit --jobs 3 >/dev/null
	assert_eq "$(grep 'child.conf' "$T/trace" | awk '{print $1}' | sort -u | wc -l)" 3 "processes reading child.conf"
	assert_eq "$(awk 'NR > 1 {print $1}' "$T/three" | tr '\n' ' ')" "c k1 k2 k3 k4 k5 k6 k7 " "rows in the children's order"
	echo "$(grep '^k5 ' "$T/three")" | grep -Eq '^k5 +b +1 +0 +0 +0 +5 ' || fail "k5's row: $(grep '^k5 ' "$T/three")"
	# (without the hash cache: its hit counts move from one run to the next)
	"$L" audit --json --no-cache --jobs 1 >"$T/one.json"
	"$L" audit --json --no-cache --jobs 4 >"$T/four.json"
	cmp "$T/one.json" "$T/four.json" || fail "json: $(diff "$T/one.json" "$T/four.json")"
	# A broken child: its error, exit 1, every other row still there.
	echo garbage >"$ROOT/children/k3/child.conf"
	local rc=0
	"$L" audit --jobs 3 >"$T/broken" 2>"$T/err" || rc=$?
	assert_eq "$rc" 1 "a child that cannot be audited fails the command"
	assert_contains "$(cat "$T/err")" "k3"
	assert_eq "$(awk 'NR > 1 {print $1}' "$T/broken" | tr '\n' ' ')" "c k1 k2 k4 k5 k6 k7 "
	expect_fail "$L" audit --jobs 0
	assert_contains "$ERR" "--jobs"
}

test_base_verify_finds_in_place_edits() {
	setup_child
	tree=$ROOT/bases/b/gens/1/tree
	"$L" base verify b
	echo tampered >"$tree/etc/hello"
	chmod 600 "$tree/etc/same"
	rm "$tree/bin/ls"
	touch "$tree/etc/extra"
	rc=0
	out=$("$L" base verify b 2>"$T/err") || rc=$?
	assert_eq "$rc" 1 "base verify exits 1 on differences"
	ERR=$(cat "$T/err")
	assert_contains "$out" "changed /etc/hello: content"
	assert_contains "$out" "changed /etc/same: mode"
	assert_contains "$out" "missing /bin/ls"
	assert_contains "$out" "extra /etc/extra"
	assert_contains "$ERR" "differences from its manifest"
}

test_diff_while_the_child_keeps_changing() {
	setup_child
	mkdir -p "$M/tmp/churn/sub"
	(
		while :; do
			for i in 1 2 3 4 5 6 7 8 9; do
				echo "$i" >"$M/tmp/churn/f$i"
				mkdir -p "$M/tmp/churn/d$i" && echo y >"$M/tmp/churn/d$i/g"
				rm -rf "$M/tmp/churn/f$((i - 1))" "$M/tmp/churn/d$((i - 1))"
			done
		done
	) &
	churn=$!
	rc=0
	for _ in $(seq 40); do
		"$L" diff c >/dev/null || { rc=$?; break; }
	done
	kill "$churn"
	wait "$churn" 2>/dev/null || true
	assert_eq "$rc" 0 "diff of a child whose files come and go"
}

test_base_verify_sees_xattr_and_owner_edits() {
	setup_child
	tree=$ROOT/bases/b/gens/1/tree
	setfattr -n user.note -v edited "$tree/etc/hello"
	chown 7:7 "$tree/etc/same"
	rc=0
	out=$("$L" base verify b 2>/dev/null) || rc=$?
	assert_eq "$rc" 1 "base verify exits 1 on differences"
	assert_contains "$out" "changed /etc/hello: xattrs"
	assert_contains "$out" "changed /etc/same: owner"
}

# Upper dirs made elsewhere: xattr whiteouts, user.overlay.* (userxattr), a
# relative redirect.  The claim of diff is checked against a real mount.
test_upper_made_elsewhere() {
	setup_child
	"$L" -q umount c
	tree=$ROOT/bases/b/gens/1/tree
	# xattr whiteout: dir marked opaque="x", zero-size file with overlay.whiteout
	mkdir "$U/etc"
	setfattr -n trusted.overlay.opaque -v x "$U/etc"
	: >"$U/etc/hello"
	setfattr -n trusted.overlay.whiteout -v y "$U/etc/hello"
	# an opaque dir marked the userxattr way
	mkdir -p "$U/usr/share/doc"
	setfattr -n user.overlay.opaque -v y "$U/usr/share/doc"
	out=$("$L" diff c)
	assert_contains "$out" "D /etc/hello"
	assert_contains "$out" "O /usr/share/doc"
	assert_contains "$out" "D /usr/share/doc/README"
	case "$out" in *"/etc"$'\n'*|*"A /etc/hello"*) fail "xattr whiteout misread: $out" ;; esac
	# the kernel agrees on the xattr whiteout
	"$L" -q mount c
	assert_no_file "$M/etc/hello"
	assert_file "$M/etc/same"
}

# An xattr whiteout whose parent lacks overlay.opaque="x": Linux 6.18 hides
# the file (ENOENT) all the same, so diff says D, as the mounted child shows.
test_xattr_whiteout_without_marked_parent() {
	setup_child
	"$L" -q umount c
	mkdir "$U/etc"
	: >"$U/etc/hello"
	setfattr -n trusted.overlay.whiteout -v y "$U/etc/hello"
	: >"$U/etc/empty-but-plain" # zero-size, no xattr: an added file
	out=$("$L" diff c)
	assert_contains "$out" "D /etc/hello"
	assert_contains "$out" "A /etc/empty-but-plain"
	case "$out" in *"M /etc/hello"*) fail "xattr whiteout reported as a modification: $out" ;; esac
	"$L" -q mount c
	local rc=0
	cat "$M/etc/hello" 2>/dev/null || rc=$?
	[ "$rc" -ne 0 ] || fail "the kernel shows /etc/hello"
	assert_file "$M/etc/same"
	assert_file "$M/etc/empty-but-plain"
}

run_tests
