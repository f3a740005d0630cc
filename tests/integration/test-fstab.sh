#!/usr/bin/env bash
# layerctl enable/disable and fstab --print/--write/--check/--generator, with
# real overlay mounts of every generated entry (mount --fstab), scratch fstab
# files only (never /etc/fstab), and systemd's own tools as the reference.
. "$(dirname "$0")/lib.sh"

# A store whose path has everything that needs quoting at one layer or other.
WEIRD=$'st ore\tx,y:z\\w#h\xc3\xa9'

# Hand-written lines that must survive byte for byte (odd spacing, tabs, a
# comment, blank lines, an escaped space); findmnt --verify is clean on them.
HAND=$'# /etc/fstab: hand-written part\n#\nproc   /proc proc defaults 0 0\n\n  # indented comment \n  tmpfs\t/tmp  tmpfs   mode=1777,nosuid 0 0\nsysfs /sys sysfs defaults 0 0\n\n'

# make_store DIR: a base "b" (busybox tree) and children c1 c2 c3 in store DIR.
make_store() {
	export LAYERCTL_ROOT=$1
	make_busybox_tree "$T/tree"
	echo "from the base" >"$T/tree/etc/motd"
	"$L" -q base import b "$T/tree"
	for c in c1 c2 c3; do "$L" -q child create "$c" --base b; done
}

child_root() { printf '%s/children/%s/root' "$LAYERCTL_ROOT" "$1"; }

# mount_and_check FSTAB CHILD: mount the child's entry for real and look at
# the merged view: base content visible, a write lands in the child's upper.
mount_and_check() {
	local fstab=$1 c=$2 root
	root=$(child_root "$c")
	mount --fstab "$fstab" "$root"
	assert_eq "$(cat "$root/etc/motd")" "from the base" "$c merged view"
	echo "written in $c" >"$root/etc/new-$c"
	assert_eq "$(cat "$LAYERCTL_ROOT/children/$c/upper/etc/new-$c")" "written in $c" "$c upper"
	assert_eq "$(findmnt -n -o FSTYPE --mountpoint "$root")" overlay
	umount "$root"
}

# Lines of FILE without the layerctl entries.
foreign_lines() { grep -v 'x-layerctl\.child=' "$1" || true; }

# systemd-fstab-generator, or skip the test.
find_sfg() {
	SFG=/lib/systemd/system-generators/systemd-fstab-generator
	[ -x "$SFG" ] || SFG=/usr/lib/systemd/system-generators/systemd-fstab-generator
	[ -x "$SFG" ] && command -v systemd-escape >/dev/null || skip "systemd (generator, systemd-escape) not installed"
}

unit_of() { systemd-escape --path --suffix="$2" "$(child_root "$1")"; }

# The unit settings both generators must agree on (dependencies and ordering included).
unit_settings() {
	grep -E '^(What|Where|Type|RequiresMountsFor|Before|After|Requires|Wants|BindsTo|WantedBy|RequiredBy)=' "$1"
}

# Every link to UNIT below the generator output DIR, as "TARGET.DEPS/UNIT"
# lines.  (Not find -name: unit names hold backslashes, which are glob escapes.)
links_to() { (cd "$1" && find . -mindepth 2 -printf '%P\n' | U=$2 awk -F/ '$NF == ENVIRON["U"]' | sort); }

# How many files or links below DIR are called NAME.
count_named() { find "$1" -printf '%f\n' | grep -Fxc -- "$2" || true; }

test_enable_disable() {
	make_store "$ROOT"
	"$L" enable c1 c2 2>/dev/null
	assert_contains "$("$L" child show c1 --json)" '"automount": true'
	assert_contains "$(cat "$ROOT/children/c1/child.conf")" "Automount=yes"
	assert_contains "$("$L" child show c3 --json)" '"automount": false'
	"$L" enable c1 2>/dev/null # again: fine
	"$L" disable c1 2>/dev/null
	assert_contains "$("$L" child show c1 --json)" '"automount": false'
	expect_fail "$L" enable nosuch
	assert_contains "$ERR" "enable nosuch: no such child"
	expect_fail "$L" enable 'bad/name'
	assert_contains "$ERR" "child name 'bad/name'"
	local rc=0
	"$L" enable 2>/dev/null || rc=$?
	assert_eq "$rc" 2 "enable without CHILD is a usage error"
}

test_write_and_mount_weird_store() {
	make_store "$T/$WEIRD"
	"$L" -q enable c1 c2
	local f="$T/fstab"
	printf '%s' "$HAND" >"$f"
	"$L" fstab --write --file "$f"
	# The hand-written part is untouched, byte for byte, and comes first.
	assert_eq "$(head -c ${#HAND} "$f" | od -c)" "$(printf '%s' "$HAND" | od -c)" "hand-written lines"
	assert_eq "$(grep -c 'x-layerctl\.child=' "$f")" 2
	# What --print says is exactly what was appended.
	assert_eq "$(tail -n 2 "$f")" "$("$L" fstab --print)"
	# fstab's octal layer around overlay's backslash layer.
	assert_contains "$(cat "$f")" 'st\040ore\011x,y:z\134w#h'
	assert_contains "$(cat "$f")" 'lowerdir='"$T"'/st\040ore\011x\134,y\134:z\134\134w#h'
	findmnt --verify --tab-file "$f" >"$T/verify" 2>&1 || fail "findmnt --verify: $(cat "$T/verify")"
	for c in c1 c2; do mount_and_check "$f" "$c"; done
	assert_eq "$(mounts_below "$T")" 0
	"$L" fstab --check --file "$f" 2>/dev/null
	# A second --write leaves the file alone (same inode).
	local ino; ino=$(stat -c %i "$f")
	"$L" -q fstab --write --file "$f"
	assert_eq "$(stat -c %i "$f")" "$ino" "no-op write must not replace the file"
}

test_disable_rewrite_and_diff() {
	make_store "$T/$WEIRD"
	"$L" -q enable c1 c2 c3
	local f="$T/fstab"
	printf '%s' "$HAND" >"$f"
	"$L" -q fstab --write --file "$f"
	cp "$f" "$T/before"
	"$L" -q disable c2
	expect_fail "$L" fstab --check --file "$f"
	assert_contains "$ERR" "entry of child c2, which is not enabled"
	"$L" -q fstab --write --file "$f"
	# Exactly the c2 line went away; nothing else moved.
	diff "$T/before" "$f" >"$T/diff" || true
	assert_eq "$(grep -c '^<' "$T/diff")" 1 "one line removed"
	assert_eq "$(grep -c '^>' "$T/diff")" 0 "nothing added"
	assert_contains "$(cat "$T/diff")" "x-layerctl.child=c2,"
	assert_eq "$(foreign_lines "$f")" "$(foreign_lines "$T/before")"
	# A child that is removed loses its entry too.
	"$L" -q child rm c3
	expect_fail "$L" fstab --check --file "$f"
	assert_contains "$ERR" "entry of child c3, which does not exist"
	"$L" -q fstab --write --file "$f"
	assert_eq "$(grep -c 'x-layerctl\.child=' "$f")" 1
	"$L" -q fstab --check --file "$f"
	findmnt --verify --tab-file "$f" >/dev/null 2>&1 || fail "findmnt --verify after rewrite"
	mount_and_check "$f" c1
}

test_check_and_update_in_place() {
	make_store "$ROOT"
	"$L" -q enable c1 c2
	local f="$T/fstab"
	printf '%s' "$HAND" >"$f"
	"$L" -q fstab --write --file "$f"
	# Hand-edit an owned entry: wrong options.  --check names line and reason.
	sed -i 's/redirect_dir=off 0 0$/redirect_dir=on 0 0/' "$f"
	local line; line=$(grep -n 'x-layerctl\.child=c1,' "$f" | cut -d: -f1)
	expect_fail "$L" fstab --check --file "$f"
	assert_contains "$ERR" "$f:$line: the entry of child c1 differs (overlay options)"
	"$L" -q fstab --write --file "$f"
	assert_eq "$(grep -n 'x-layerctl\.child=c1,' "$f" | cut -d: -f1)" "$line" "updated in place"
	"$L" -q fstab --check --file "$f"
	# A missing entry is reported too.
	grep -v 'x-layerctl\.child=c2,' "$f" >"$T/f2"
	expect_fail "$L" fstab --check --file "$T/f2"
	assert_contains "$ERR" "no entry for child c2"
	# A duplicate is removed.
	grep 'x-layerctl\.child=c1,' "$f" >"$T/dup"
	cat "$T/dup" >>"$f"
	expect_fail "$L" fstab --check --file "$f"
	assert_contains "$ERR" "a second entry of child c1"
	"$L" -q fstab --write --file "$f"
	assert_eq "$(grep -c 'x-layerctl\.child=c1,' "$f")" 1
}

test_broken_fstab_is_not_touched() {
	make_store "$ROOT"
	"$L" -q enable c1
	local f="$T/fstab"
	printf '%s' "$HAND" >"$f"
	echo "/dev/sdz1" >>"$f" # one field: libmount cannot parse it
	cp -p "$f" "$T/orig"
	local ino; ino=$(stat -c %i "$f")
	expect_fail "$L" fstab --write --file "$f"
	assert_contains "$ERR" "$f:9: libmount cannot parse this line"
	cmp "$f" "$T/orig" || fail "broken fstab was changed"
	assert_eq "$(stat -c %i "$f")" "$ino"
	expect_fail "$L" fstab --check --file "$f"
	assert_eq "$(find "$T" -maxdepth 1 -name '.fstab.layerctl-*' | wc -l)" 0 "temp file left"
}

test_two_stores_share_one_fstab() {
	make_store "$ROOT"
	"$L" -q enable c1
	local f="$T/fstab"
	printf '%s' "$HAND" >"$f"
	"$L" -q fstab --write --file "$f"
	"$L" -q --root "$T/store2" base import b "$T/tree"
	"$L" -q --root "$T/store2" child create c1 --base b
	"$L" -q --root "$T/store2" enable c1
	"$L" -q --root "$T/store2" fstab --write --file "$f"
	assert_eq "$(grep -c 'x-layerctl\.child=c1,' "$f")" 2 "both stores' c1"
	"$L" -q fstab --check --file "$f"
	"$L" -q --root "$T/store2" fstab --check --file "$f"
	"$L" -q --root "$T/store2" disable c1
	"$L" -q --root "$T/store2" fstab --write --file "$f"
	assert_eq "$(grep -c 'x-layerctl\.child=c1,' "$f")" 1
	"$L" -q fstab --check --file "$f"
}

test_keeps_mode_owner_and_symlink() {
	make_store "$ROOT"
	"$L" -q enable c1
	mkdir "$T/etc"
	printf '%s' "$HAND" >"$T/etc/fstab.real"
	chmod 0640 "$T/etc/fstab.real"
	chown 1234:4321 "$T/etc/fstab.real"
	ln -s fstab.real "$T/etc/fstab"
	"$L" -q fstab --write --file "$T/etc/fstab"
	[ -L "$T/etc/fstab" ] || fail "the symlink was replaced"
	assert_eq "$(stat -c '%a %u %g' "$T/etc/fstab.real")" "640 1234 4321"
	assert_contains "$(cat "$T/etc/fstab.real")" "x-layerctl.child=c1,"
	# A missing file is created (0644).
	"$L" -q fstab --write --file "$T/etc/new"
	assert_eq "$(stat -c '%a' "$T/etc/new")" 644
	mount_and_check "$T/etc/new" c1
}

# Writers that want different entries: one store each, all sharing one
# fstab.  Every writer must succeed and every entry be there afterwards.
test_concurrent_writers_serialise() {
	local f="$T/fstab" i pids=()
	for i in 1 2 3 4 5 6; do
		make_store "$T/s$i"
		"$L" -q enable c1
	done
	printf '%s' "$HAND" >"$f"
	# First deterministically: writer 1 stops after reading the file (the
	# test hook of src/basic/testhook.h) while writer 2 runs; the lock must
	# make writer 2 wait instead of writing under writer 1's feet.
	LAYERCTL_ROOT="$T/s1" LAYERCTL_TEST_HOOK="fstab-before-write:pause:$T/paused" \
		"$L" -q fstab --write --file "$f" &
	pids+=($!)
	for i in $(seq 500); do [ -e "$T/paused" ] && break; sleep 0.01; done
	assert_file "$T/paused"
	LAYERCTL_ROOT="$T/s2" "$L" -q fstab --write --file "$f" &
	pids+=($!)
	sleep 0.5
	rm "$T/paused"
	for i in "${pids[@]}"; do wait "$i" || fail "a writer failed while another held the file"; done
	assert_eq "$(grep -c 'x-layerctl\.child=' "$f")" 2
	# Then all at once, from a fresh file.
	printf '%s' "$HAND" >"$f"
	pids=()
	for i in 1 2 3 4 5 6; do
		LAYERCTL_ROOT="$T/s$i" "$L" -q fstab --write --file "$f" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || fail "a concurrent writer failed"; done
	assert_eq "$(grep -c 'x-layerctl\.child=' "$f")" 6
	for i in 1 2 3 4 5 6; do
		grep -qF "$T/s$i/children/c1/" "$f" || fail "entry of store s$i lost"
	done
	assert_eq "$(head -c ${#HAND} "$f" | od -c)" "$(printf '%s' "$HAND" | od -c)"
}

# Our generator's units against systemd's: names as systemd-escape makes
# them, and the same What/Where/Type/RequiresMountsFor, the same ordering
# and the same dependency directories (local-fs.target.wants/, never
# requires/: nofail) as systemd-fstab-generator writes for our fstab entries.
test_generator_matches_systemd() {
	find_sfg
	make_store "$T/$WEIRD"
	"$L" -q enable c1 c2
	"$L" fstab --print >"$T/fstab"
	mkdir "$T/ours" "$T/sysd"
	# Our generator reads $SYSTEMD_FSTAB too: an empty one here, so it writes every unit.
	: >"$T/empty-fstab"
	SYSTEMD_FSTAB="$T/empty-fstab" "$L" fstab --generator "$T/ours" "$T/ours" "$T/ours"
	SYSTEMD_FSTAB="$T/fstab" "$SFG" "$T/sysd" "$T/sysd" "$T/sysd"
	local c name u
	for c in c1 c2; do
		# The entry carries nofail, as libmount reads it.
		assert_contains ",$(findmnt -n -o OPTIONS --tab-file "$T/fstab" --target "$(child_root "$c")")," ",nofail,"
		name=$(unit_of "$c" mount)
		assert_file "$T/ours/$name"
		assert_file "$T/ours/${name%.mount}.automount"
		assert_eq "$(links_to "$T/ours" "${name%.mount}.automount")" "local-fs.target.wants/${name%.mount}.automount"
		assert_eq "$(links_to "$T/ours" "${name%.mount}.automount")" "$(links_to "$T/sysd" "${name%.mount}.automount")" \
			"dependency links of $c"
		assert_eq "$(links_to "$T/ours" "$name")" "$(links_to "$T/sysd" "$name")" "links to $name"
		for u in "$name" "${name%.mount}.automount"; do
			assert_eq "$(unit_settings "$T/ours/$u")" "$(unit_settings "$T/sysd/$u")" "$u"
		done
		# The unit's Options= mount as systemd would mount them (mount -o).
		local opts where
		opts=$(sed -n 's/^Options=//p' "$T/ours/$name" | sed 's/%%/%/g')
		where=$(sed -n 's/^Where=//p' "$T/ours/$name" | sed 's/%%/%/g')
		assert_eq "$where" "$(child_root "$c")"
		mount -t overlay overlay -o "$opts" "$where"
		assert_eq "$(cat "$where/etc/motd")" "from the base"
		umount "$where"
	done
	[ ! -e "$T/ours/local-fs.target.requires" ] || fail "our generator wrote local-fs.target.requires/"
	[ ! -e "$T/sysd/local-fs.target.requires" ] || fail "systemd-fstab-generator required an automount (no nofail?)"
	# A second run leaves existing units alone.
	SYSTEMD_FSTAB="$T/empty-fstab" "$L" fstab --generator "$T/ours" 2>"$T/err"
	assert_contains "$(cat "$T/err")" "left alone"
	# No store at all (e.g. /var not mounted yet): no units, success.
	mkdir "$T/empty"
	LAYERCTL_ROOT="$T/nonexistent" "$L" fstab --generator "$T/empty" "$T/empty" "$T/empty"
	assert_eq "$(ls -A "$T/empty")" ""
}

# Both generators on the same fstab, into the same directories, in either
# order: a child with an fstab line is systemd-fstab-generator's, the others
# are ours; nobody fails with "already exists", every unit is there once.
test_both_generators_either_order() {
	find_sfg
	make_store "$T/$WEIRD"
	"$L" -q enable c1
	local f="$T/fstab" order out c
	printf '%s' "$HAND" >"$f"
	"$L" -q fstab --write --file "$f"
	"$L" -q enable c2 # enabled, but not in the fstab: the generator's
	for order in sfg-first ours-first; do
		out="$T/$order"
		mkdir -p "$out/normal" "$out/early" "$out/late"
		run_sfg() {
			SYSTEMD_FSTAB="$f" "$SFG" "$out/normal" "$out/early" "$out/late" 2>"$out/sfg.err" ||
				fail "$order: systemd-fstab-generator failed: $(cat "$out/sfg.err")"
		}
		run_ours() { SYSTEMD_FSTAB="$f" "$L" fstab --generator "$out/normal" "$out/early" "$out/late" 2>"$out/ours.err"; }
		if [ "$order" = sfg-first ]; then run_sfg; run_ours; else run_ours; run_sfg; fi
		if grep -q "already exists" "$out/sfg.err"; then fail "$order: $(cat "$out/sfg.err")"; fi
		assert_eq "$(cat "$out/ours.err")" "" "$order: our generator's messages"
		# c1 from systemd-fstab-generator (its fstab line), c2 from us.
		assert_contains "$(head -n 1 "$out/normal/$(unit_of c1 mount)")" "systemd-fstab-generator"
		assert_contains "$(head -n 1 "$out/normal/$(unit_of c1 automount)")" "systemd-fstab-generator"
		assert_contains "$(head -n 1 "$out/normal/$(unit_of c2 mount)")" "layerctl-fstab-generator"
		assert_contains "$(head -n 1 "$out/normal/$(unit_of c2 automount)")" "layerctl-fstab-generator"
		for c in c1 c2; do
			assert_eq "$(count_named "$out" "$(unit_of "$c" mount)")" 1 "$order: $c .mount"
			assert_eq "$(count_named "$out" "$(unit_of "$c" automount)")" 2 "$order: $c .automount + one link"
			assert_eq "$(links_to "$out/normal" "$(unit_of "$c" automount)")" \
				"local-fs.target.wants/$(unit_of "$c" automount)" "$order: $c wanted by local-fs.target"
		done
		assert_no_file "$out/normal/$(unit_of c3 mount)"
	done
	# The same units whichever ran first.
	assert_eq "$(cd "$T/sfg-first" && find . ! -name '*.err' | sort)" "$(cd "$T/ours-first" && find . ! -name '*.err' | sort)"
}

# The user's options on an owned line (nofail and the x-systemd timeouts):
# --check sees no difference, --write keeps them, also when it must replace
# the line; systemd-fstab-generator honours them.
test_user_options_survive_write() {
	find_sfg
	make_store "$T/$WEIRD"
	"$L" -q enable c1 c2
	local f="$T/fstab" ino line
	printf '%s' "$HAND" >"$f"
	"$L" -q fstab --write --file "$f"
	sed -i '/x-layerctl\.child=c1,/ s/,x-systemd\.automount,/,x-systemd.automount,x-systemd.idle-timeout=90,x-systemd.mount-timeout=30,nofail,/' "$f"
	sed -i '/x-layerctl\.child=c1,/ s/ 0 0$/,x-systemd.device-timeout=5s,x-gvfs-hide 0 0/' "$f"
	cp "$f" "$T/edited"
	"$L" fstab --check --file "$f" 2>"$T/err" || fail "--check reports the user's options: $(cat "$T/err")"
	ino=$(stat -c %i "$f")
	"$L" -q fstab --write --file "$f"
	assert_eq "$(stat -c %i "$f")" "$ino" "a line with the user's options is not rewritten"
	cmp "$f" "$T/edited" || fail "--write changed the file"
	# Something of ours changes: the line is replaced, the user's options stay.
	line=$(grep -n 'x-layerctl\.child=c1,' "$f" | cut -d: -f1)
	sed -i '/x-layerctl\.child=c1,/ s/redirect_dir=off/redirect_dir=on/' "$f"
	expect_fail "$L" fstab --check --file "$f"
	assert_contains "$ERR" "$f:$line: the entry of child c1 differs (overlay options)"
	"$L" -q fstab --write --file "$f"
	"$L" -q fstab --check --file "$f"
	local opts
	opts=",$(findmnt -n -o OPTIONS --tab-file "$f" --target "$(child_root c1)"),"
	for o in x-systemd.idle-timeout=90 x-systemd.mount-timeout=30 x-systemd.device-timeout=5s x-gvfs-hide nofail redirect_dir=off; do
		assert_contains "$opts" ",$o,"
	done
	assert_eq "$(grep -n 'x-layerctl\.child=c1,' "$f" | cut -d: -f1)" "$line" "replaced in place"
	assert_eq "$(foreign_lines "$f")" "$(foreign_lines "$T/edited")"
	findmnt --verify --tab-file "$f" >"$T/verify" 2>&1 || fail "findmnt --verify: $(cat "$T/verify")"
	mount_and_check "$f" c1
	# systemd reads them: the idle timeout reaches the .automount.
	mkdir "$T/sysd"
	SYSTEMD_FSTAB="$f" "$SFG" "$T/sysd" "$T/sysd" "$T/sysd"
	assert_contains "$(cat "$T/sysd/$(unit_of c1 automount)")" "TimeoutIdleSec=1min 30s"
	# An option that is neither ours nor the user's is a difference, and goes.
	sed -i '/x-layerctl\.child=c1,/ s/,x-gvfs-hide,/,x-gvfs-hide,x-systemd.requires=foo.mount,/' "$f"
	expect_fail "$L" fstab --check --file "$f"
	assert_contains "$ERR" "differs (options: x-systemd.requires is not layerctl's nor the user's)"
	"$L" -q fstab --write --file "$f"
	assert_eq "$(grep -c 'x-systemd.requires=' "$f")" 0
	assert_contains "$(cat "$f")" "x-gvfs-hide"
}

# An entry written before nofail (by an older layerctl) is brought in line.
test_old_entry_gets_nofail() {
	make_store "$ROOT"
	"$L" -q enable c1
	local f="$T/fstab"
	"$L" fstab --print | sed 's/,nofail,/,/' >"$f"
	expect_fail "$L" fstab --check --file "$f"
	assert_contains "$ERR" "differs (options: nofail is missing or has another value)"
	"$L" -q fstab --write --file "$f"
	assert_eq "$(cat "$f")" "$("$L" fstab --print)"
}

# enable/disable say exactly what to run: the unit names are systemd-escape's.
test_enable_hint_names_units() {
	command -v systemd-escape >/dev/null || skip "systemd-escape not installed"
	make_store "$T/$WEIRD"
	"$L" enable c1 c2 2>"$T/err"
	assert_contains "$(cat "$T/err")" "systemctl daemon-reload && systemctl start '$(unit_of c1 automount)' '$(unit_of c2 automount)'"
	assert_contains "$(cat "$T/err")" "a daemon-reload alone leaves a new automount inactive"
	"$L" disable c2 2>"$T/err"
	assert_contains "$(cat "$T/err")" "systemctl daemon-reload && systemctl stop '$(unit_of c2 automount)' '$(unit_of c2 mount)'"
	# The quoted names survive the shell as systemd-escape wrote them.
	local line
	line=$(grep -o "systemctl stop .*" "$T/err")
	eval "set -- ${line#systemctl stop }"
	assert_eq "$1" "$(unit_of c2 automount)"
	"$L" -q enable c1 2>"$T/err"
	assert_eq "$(cat "$T/err")" "" "--quiet: no hint"
}

test_contrib_generator_wrapper() {
	make_store "$ROOT"
	"$L" -q enable c1
	mkdir "$T/bin" "$T/out"
	ln -s "$L" "$T/bin/layerctl"
	local wrapper; wrapper="$(dirname "$0")/../../contrib/layerctl-fstab-generator"
	SYSTEMD_FSTAB="$T/no-fstab" PATH="$T/bin:$PATH" "$wrapper" "$T/out" "$T/out" "$T/out"
	assert_file "$T/out/$(systemd-escape --path --suffix=mount "$(child_root c1)")"
}

test_usage_errors() {
	make_store "$ROOT"
	local rc
	rc=0; "$L" fstab 2>/dev/null || rc=$?; assert_eq "$rc" 2 "no mode"
	rc=0; "$L" fstab --print --write 2>/dev/null || rc=$?; assert_eq "$rc" 2 "two modes"
	rc=0; "$L" fstab --print --file "$T/x" 2>/dev/null || rc=$?; assert_eq "$rc" 2 "--file with --print"
	rc=0; "$L" fstab --generator 2>/dev/null || rc=$?; assert_eq "$rc" 2 "--generator without dirs"
	"$L" fstab --help | grep -q -- --generator || fail "help"
	# Nothing enabled: --print prints nothing, --write on a missing file makes none.
	assert_eq "$("$L" -q fstab --print)" ""
	"$L" -q fstab --write --file "$T/none"
	assert_no_file "$T/none"
}

run_tests
