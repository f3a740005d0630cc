#!/usr/bin/env bash
# The security bar of the runner: an attacker runs as root inside a child and
# every attack must fail with a specific errno.  Each test first runs the
# same snippet on the host, to show it would work there (or, for the calls
# that cannot be tried for real on a host — reboot, module loading, kexec —
# that the host's kernel gets past its permission check and rejects the
# deliberately bogus arguments, while the child is refused with EPERM).
# The attacker is tests/integration/test-security-attack.c, built static.
. "$(dirname "$0")/lib.sh"

ATTACK_SRC=$(cd "$(dirname "$0")" && pwd)/test-security-attack.c
SECCOMP_SRC=$(cd "$(dirname "$0")/../.." && pwd)/src/runner/seccomp.c

prepare_tree() {
	cc -static -O1 -o "$1/bin/attack" "$ATTACK_SRC" || skip "cannot build the static attacker (cc -static)"
	# For run --boot: the init is the attacker, its arguments the attack.
	printf '#!/bin/sh\nexec /bin/attack "$@"\n' >"$1/sbin/init"
	chmod 755 "$1/sbin/init"
}
# Every attack runs in both trust models (docs/runner.md): without and with
# a user namespace of its own (PrivateUsers=pick in child.conf, so every
# `run c` below is in the mode).  SECURITY_MODES="no pick" by default.
setup_attack() {
	setup
	echo "top secret" >"$T/secret"
	A="$T/src/bin/attack"
	if [ "${PRIVATE_USERS:-no}" != no ]; then
		printf '[Exec]\nPrivateUsers=%s\n' "$PRIVATE_USERS" >>"$ROOT/children/c/child.conf"
	fi
}

inside() { $L run c "$@" 2>&1 || true; }
# The attack again with every capability (so a capability drop cannot hide a
# missing seccomp rule) and as a booted init (the boot profile).
inside_all() { $L run c --capability=all -- "$@" 2>&1 || true; }
inside_plain() { $L run c -- "$@" 2>&1 || true; }
inside_boot() { [ "$1" != attack ] || shift; $L run c --boot -- "$@" 2>/dev/null </dev/null | tr -d '\r' || true; }
# A write the container must not make: EROFS (read-only mount); in a user
# namespace the host's root owns the file and is nobody inside, so the
# permission check answers first (EACCES).
assert_write_refused() {
	case "$1" in
	EROFS) ;;
	EACCES) [ "${PRIVATE_USERS:-no}" != no ] || fail "expected EROFS, got EACCES${2:+ ($2)}" ;;
	*) fail "expected EROFS${PRIVATE_USERS:+ or EACCES}, got '$1'${2:+ ($2)}" ;;
	esac
}
host_ok() { local out; out=$("$A" "$@" 2>&1) || true; assert_contains "$out" "ok"; }
# The host's kernel passed its permission check (any answer but EPERM).
host_permitted() { local out; out=$("$A" "$@" 2>&1) || true; [ "$out" != EPERM ] || fail "host: $* gave EPERM"; echo "  host: $* -> $out"; }

test_mount_a_file_system_fails() {
	setup_attack
	mkdir "$T/mnt"
	host_ok mount "$T/mnt"
	assert_eq "$(inside -- attack mount /root)" EPERM
	assert_eq "$(inside -- attack mount /tmp)" EPERM
	# busybox mount(8) too, and the user-namespace detour that would give SYS_ADMIN back.
	assert_contains "$(inside -- mount -t proc proc /root)" "permission denied"
	host_ok userns
	assert_eq "$(inside -- attack userns)" EPERM
}

test_open_by_handle_at_fails() {
	setup_attack
	mkdir "$T/share"
	# The "shocker" escape: a handle of a host file outside the bind mount.
	"$A" handle-save "$T/secret" "$T/share/handle" >/dev/null
	assert_eq "$("$A" handle-open "$T/share" "$T/share/handle")" "ok top secret"
	assert_eq "$(inside --bind "$T/share:/mnt" -- attack handle-open /mnt /mnt/handle)" EPERM
}

test_write_sysrq_trigger_fails() {
	setup_attack
	if [ ! -e /proc/sysrq-trigger ]; then
		# A kernel without CONFIG_MAGIC_SYSRQ (this project's VMs): nothing to write, inside either.
		echo "  host has no /proc/sysrq-trigger"
		assert_eq "$(inside -- attack write /proc/sysrq-trigger h)" ENOENT
		return 0
	fi
	host_ok write /proc/sysrq-trigger h   # 'h' only prints the help to the kernel log
	assert_eq "$(inside -- attack write /proc/sysrq-trigger h)" EROFS
}

test_write_host_kernel_tunable_fails() {
	setup_attack
	local v
	v=$(cat /proc/sys/kernel/printk_ratelimit)
	host_ok write /proc/sys/kernel/printk_ratelimit "$v"
	assert_write_refused "$(inside -- attack write /proc/sys/kernel/printk_ratelimit "$v")"
}

test_load_kernel_module_fails() {
	setup_attack
	host_permitted module
	assert_eq "$(inside -- attack module)" EPERM
}

test_reboot_host_fails() {
	setup_attack
	host_permitted reboot
	assert_eq "$(inside -- attack reboot)" EPERM
}

test_mknod_device_and_read_fails() {
	setup_attack
	# /dev/kmsg's numbers: the host's root reads a kernel log record through them.
	host_ok mknod-read "$T/kmsg" c 1 11
	assert_eq "$(inside -- attack mknod-read /tmp/kmsg c 1 11)" EPERM
	assert_eq "$(inside -- attack mknod-read /kmsg c 1 11)" EPERM
	assert_eq "$(inside -- attack mknod-read /tmp/blk b 7 0)" EPERM
	# A node already in the image (made on the host in the child's upper) is inert: nodev root.
	mknod "$ROOT/children/c/upper/kmsg" c 1 11
	host_ok read "$ROOT/children/c/upper/kmsg"
	assert_eq "$(inside -- attack read /kmsg)" EACCES
	# Whiteouts (0:0) stay possible: overlayfs needs them.
	assert_eq "$(inside -- sh -c 'mknod /tmp/w c 0 0 && echo made')" made
}

# A host directory bound in: its device nodes are inert and setuid does not
# count there (nodev, nosuid on the bind), whatever the host mount allows.
test_device_node_in_a_bind_mount_is_inert() {
	setup_attack
	mkdir "$T/share"
	mknod "$T/share/kmsg" c 1 11
	host_ok read "$T/share/kmsg"
	assert_eq "$(inside --bind "$T/share:/mnt" -- attack read /mnt/kmsg)" EACCES
	assert_eq "$(inside --bind "$T/share:/mnt" -- attack mount-flags /mnt)" "nosuid nodev rw"
	assert_eq "$(inside --bind-ro "$T/share:/mnt" -- attack mount-flags /mnt)" "nosuid nodev ro"
}

test_reach_host_files_through_proc_1_root_fails() {
	setup_attack
	# On the host a process's /proc/PID/root leads to host files (PID 1 of a
	# host may hide its own, so show it with this shell's).
	host_ok stat "/proc/$$/root$T/secret"
	assert_eq "$(inside -- attack stat "/proc/self/root$T/secret")" ENOENT
	# PID 1 is the stub: its root is the container's too, and the command's
	# Landlock domain does not even let it look (ENOENT without Landlock).
	case "$(inside -- attack stat "/proc/1/root$T/secret")" in
	EACCES|ENOENT) ;;
	*) fail "/proc/1/root$T/secret reachable" ;;
	esac
	assert_eq "$(inside -- attack stat "$T/secret")" ENOENT
}

test_dotdot_chroot_escape_fails() {
	setup_attack
	host_ok chroot-escape "$T/secret"
	assert_eq "$(inside -- attack chroot-escape "$T/secret")" ENOENT
}

test_see_host_processes_fails() {
	setup_attack
	sleep 60 &
	local pid=$!
	host_ok stat "/proc/$pid"
	assert_eq "$(inside -- attack stat "/proc/$pid")" ENOENT
	kill $pid
}

test_kill_host_process_fails() {
	setup_attack
	sleep 60 &
	local pid=$!
	host_ok kill "$pid"
	assert_eq "$(inside -- attack kill "$pid")" ESRCH
	kill -0 $pid
	kill $pid
}

test_change_host_hostname_fails() {
	setup_attack
	local before
	before=$(hostname)
	host_ok sethostname "$before"   # the same name: the host is left as it was
	assert_eq "$(inside -- attack sethostname evil)" EPERM
	assert_eq "$(hostname)" "$before"
}

test_write_sys_fails() {
	setup_attack
	local v
	v=$(cat /sys/class/net/lo/tx_queue_len)
	host_ok write /sys/class/net/lo/tx_queue_len "$v"
	assert_write_refused "$(inside -- attack write /sys/class/net/lo/tx_queue_len "$v")"
}

test_denied_kernel_interfaces() {
	setup_attack
	local a
	for a in keyctl bpf perf kexec swapon; do
		host_permitted $a
		assert_eq "$(inside -- attack $a)" EPERM "$a"
	done
}

# Every entry of the deny list: those of src/runner/seccomp.c (read from the
# source, so a new entry is tested too) and those the attacker knows (so an
# entry dropped from the source is still tried), in the three profiles.
test_every_denied_syscall_fails_even_with_every_capability() {
	setup_attack
	local names out mode line
	names=$(sed -n '/always_denied\[\] = {/,/};/p' "$SECCOMP_SRC" | grep -o '"[a-z_0-9]*"' | tr -d '"')
	[ "$(echo "$names" | wc -l)" -ge 20 ] || fail "deny list not found in $SECCOMP_SRC: $names"
	names=$( (echo "$names"; "$A" denied-list) | sort -u)
	# shellcheck disable=SC2086
	out=$("$A" syscalls $names)
	echo "$out" | grep ' EPERM$' | sed 's/^/  host gave EPERM (not provable here): /' || :
	for mode in inside_plain inside_all inside_boot; do
		# shellcheck disable=SC2086
		out=$($mode attack syscalls $names)
		[ "$(echo "$out" | wc -l)" -eq "$(echo "$names" | wc -l)" ] || fail "$mode: $out"
		while read -r line; do
			case "$line" in
			*" EPERM"|*" absent") ;;
			*" unknown") fail "${line% *}: add it to the table of test-security-attack.c" ;;
			*) fail "$mode: ${line% *} answered ${line##* }, not EPERM (seccomp rule missing?)" ;;
			esac
		done <<<"$out"
	done
}

# glibc's mknod() is mknodat(): the raw mknod syscall needs its own rule.
test_raw_mknod_and_mknodat_fail_in_every_profile() {
	setup_attack
	host_ok raw-mknod "$T/k1"
	host_ok raw-mknodat "$T/k2"
	local mode call
	for mode in inside_all inside_boot; do
		for call in raw-mknod raw-mknodat; do
			assert_eq "$($mode attack $call /tmp/kmsg)" EPERM "$mode $call"
		done
	done
	assert_eq "$(inside -- attack raw-mknod /tmp/kmsg)" EPERM
	assert_eq "$(inside -- attack raw-mknodat /tmp/kmsg)" EPERM
}

# The filter covers the 32-bit ABI too: the same calls through int $0x80.
test_compat_abi_is_filtered_too() {
	setup_attack
	[ "$(uname -m)" = x86_64 ] || skip "x86_64 only"
	local host
	host=$("$A" compat-syscalls)
	echo "  host: $(echo $host)"
	case "$host" in *"acct ENOSYS"*) skip "no 32-bit emulation in this kernel" ;; esac
	assert_contains "$host" "acct ENOENT"
	assert_eq "$(inside_all attack compat-syscalls | tr '\n' ' ')" "mknod EPERM acct EPERM unshare EPERM "
	assert_eq "$(inside_boot attack compat-syscalls | tr '\n' ' ')" "mknod EPERM acct EPERM unshare ok "
}

# unshare(CLONE_NEWUSER) has a rule; so must clone(CLONE_NEWUSER).
test_clone_new_user_namespace_fails() {
	setup_attack
	host_ok clone-userns
	assert_eq "$(inside -- attack clone-userns)" EPERM
	assert_eq "$(inside_all attack clone-userns)" EPERM
	assert_eq "$(inside_all attack userns)" EPERM
}

# TIOCSTI on the container's terminal would type into the host's session.
test_tiocsti_on_the_terminal_fails() {
	setup_attack
	command -v script >/dev/null || fail "script(1) missing (contrib/install-deps installs it)"
	# script's input stays open while the command runs: at EOF script types
	# an EOF character into the terminal, which the container's pty would
	# echo (^@) when it arrives before the command is done.
	assert_contains "$(sleep 5 | script -qec "$A tiocsti" /dev/null | tr -d '\r')" ok
	assert_eq "$(sleep 5 | script -qec "$L run c -- attack tiocsti" /dev/null | tr -d '\r')" EPERM
	assert_eq "$(sleep 5 | script -qec "$L run c --capability=all -- attack tiocsti" /dev/null | tr -d '\r')" EPERM
	assert_eq "$(inside_boot attack tiocsti)" EPERM
}

# ---- what only user-namespace mode stops (issue 10) ----
# Root holding CAP_SYS_ADMIN (--capability=all, or a booted init) mounts a
# fresh sysfs or proc, which carries none of the runner's read-only masks,
# and writes host-wide settings through it: the old trust model allows it
# (shown with --private-users=no in both passes), a user namespace of its
# own must not: sysfs is refused (not its network namespace), and proc's
# files stay the host root's, who is nobody inside.
fresh_api_fs_attack() {
	local v p
	v=$(cat /sys/class/net/lo/tx_queue_len)
	p=$(cat /proc/sys/kernel/printk_ratelimit)
	$L run c "$@" --capability=all -- sh -c "mkdir -p /tmp/s /tmp/p
		mount -t sysfs s /tmp/s && echo $v >/tmp/s/class/net/lo/tx_queue_len && echo sysfs-wrote
		mount -t proc p /tmp/p && echo $p >/tmp/p/sys/kernel/printk_ratelimit && echo proc-wrote
		echo attack-done" 2>&1 || true
}

test_fresh_sysfs_or_proc_writes_host_settings_only_without_userns() {
	setup_attack
	local out
	host_ok write /proc/sys/kernel/printk_ratelimit "$(cat /proc/sys/kernel/printk_ratelimit)"
	out=$(fresh_api_fs_attack --private-users=no)
	assert_contains "$out" sysfs-wrote "old trust model"
	assert_contains "$out" proc-wrote "old trust model"
	[ "${PRIVATE_USERS:-no}" != no ] || return 0
	out=$(fresh_api_fs_attack)
	assert_contains "$out" attack-done
	case "$out" in *wrote*) fail "a host setting written from a user namespace: $out" ;; esac
	# The same with a network namespace of its own (sysfs mounts then, but shows only its own devices).
	out=$(fresh_api_fs_attack --private-network)
	assert_contains "$out" attack-done
	case "$out" in *wrote*) fail "a setting written from a user namespace with its own network: $out" ;; esac
}

# CAP_SYS_ADMIN inside is its own user namespace's: what needs it in the
# host's (loading a module, the host's sysctls, mknod of /dev/kmsg) fails
# even without the seccomp filter's help, and the capability sets prove
# root inside holds everything there.
test_capabilities_inside_are_the_user_namespace_s() {
	setup_attack
	[ "${PRIVATE_USERS:-no}" != no ] || { echo "  (user-namespace pass only)"; return 0; }
	local base uidmap
	assert_contains "$(inside_all sh -c 'grep CapEff /proc/self/status')" "ffffffff"
	uidmap=$(inside_all cat /proc/self/uid_map)
	base=$(awk '{print $2}' <<<"$uidmap")
	[ "$base" -ge 524288 ] || fail "uid_map: $uidmap"
	assert_eq "$(inside_all attack module)" EPERM
	assert_eq "$(inside_all attack mknod-read /tmp/kmsg c 1 11)" EPERM
	assert_write_refused "$(inside_all attack write /proc/sys/kernel/printk_ratelimit 5)"
}

# ---- cgroup v1 release_agent (issue 8, item 1) ----

# Mount every v1 hierarchy the container's /proc/self/cgroup lists and look
# for release_agent; in the test's private hierarchy also point it at a host
# path in the upper dir and empty a notify_on_release cgroup (the escape);
# and try to make a hierarchy of our own.
write_cgroup_attack() {
	cat >"$1" <<-'EOF2'
	#!/bin/sh
	mkdir -p /tmp/cg
	n=0
	while IFS=: read -r id ctl path; do
		[ -n "$ctl" ] || continue
		case "$ctl" in name=*) o="none,$ctl" ;; *) o="$ctl" ;; esac
		mount -t cgroup -o "$o" cg /tmp/cg || { echo "cannot mount $o"; continue; }
		n=$((n + 1))
		[ -e /tmp/cg/release_agent ] && echo "release_agent visible in $o"
		# The whole chain only in the test's private hierarchy: should the
		# runner be broken, the host's own hierarchies keep their settings.
		case "$ctl" in name=lctest*)
			echo "$PAYLOAD" >/tmp/cg/release_agent 2>/dev/null && echo "release_agent set in $o"
			if mkdir /tmp/cg/x 2>/dev/null; then
				echo 1 >/tmp/cg/x/notify_on_release
				sh -c 'echo $$ >/tmp/cg/x/cgroup.procs' 2>/dev/null
				rmdir /tmp/cg/x
			fi
		esac
		umount /tmp/cg
	done </proc/self/cgroup
	echo "mounted $n v1 hierarchies"
	mount -t cgroup -o none,name=lctest-new cg /tmp/cg 2>/dev/null && echo "made a new hierarchy" && umount /tmp/cg
	echo "attack done"
	EOF2
	chmod +x "$1"
}

# The test's private named v1 hierarchy.  The kernel keeps a named hierarchy,
# empty and mounted nowhere, until reboot once it has had a cgroup (a name
# per run left one more behind on every run), so every run uses this one
# name, and runs on one machine take turns (its release_agent is one
# setting): the lock is held until the test's subshell and the commands it
# started are gone.
CG_NAME=lctest
cg_take_turns() {
	local dir=/run/lock
	[ -d "$dir" ] || dir=/tmp
	exec {CG_LOCK}>"$dir/layerctl-test-cgroup.lock"
	flock "$CG_LOCK"
}

# The payload the attacker would have the host run: it leaves a mark.
cgroup_setup() {
	setup_attack
	# A hybrid (v1) host is where the escape exists; a pure v2 host has no release_agent.
	grep -q '^[1-9][0-9]*:' /proc/self/cgroup || skip "no cgroup v1 hierarchy on this host"
	cg_take_turns
	write_cgroup_attack "$ROOT/children/c/upper/cgattack"
	printf '#!/bin/sh\necho escaped >%s\n' "$T/escaped" >"$ROOT/children/c/upper/payload"
	chmod +x "$ROOT/children/c/upper/payload"
	PAYLOAD="$ROOT/children/c/upper/payload"
}

# On the host, in a private named hierarchy (the host's own are left alone):
# from a hierarchy's root, release_agent is there and the kernel runs it as
# root when a notify_on_release cgroup empties.
show_release_agent_works_on_host() {
	local h="$T/hostcg" i
	mkdir "$h"
	mount -t cgroup -o "none,name=$CG_NAME" lctest "$h"
	assert_file "$h/release_agent"
	printf '#!/bin/sh\necho "$1" >%s\n' "$T/agent-ran" >"$T/agent"
	chmod +x "$T/agent"
	echo "$T/agent" >"$h/release_agent"
	mkdir -p "$h/x"
	echo 1 >"$h/x/notify_on_release"
	sh -c "echo \$\$ >$h/x/cgroup.procs"
	for i in $(seq 100); do [ -e "$T/agent-ran" ] && break; sleep 0.05; done
	rmdir "$h/x" 2>/dev/null || true
	echo >"$h/release_agent"
	assert_eq "$(cat "$T/agent-ran" 2>/dev/null)" /x "the host's kernel ran release_agent"
	echo "  host: release_agent ran for /x"
	# Left in place on purpose: the container below must get a cgroup of its own in it too.
}

# Every v1 hierarchy the kernel has, mounted or not: what the attack inside will find.
count_v1_hierarchies() { NV1=$(grep -c '^[1-9][0-9]*:' /proc/self/cgroup); }

# Remove what is left in the private hierarchy and unmount it.  The kernel
# keeps it (unmounted, empty) until reboot: harmless, the runner reaches
# hierarchies mounted nowhere too, and a later test's counts include it.
drop_test_hierarchy() {
	grep -q " $T/hostcg " /proc/self/mountinfo || mount -t cgroup -o "none,name=$CG_NAME" lctest "$T/hostcg"
	# Only this test's store: a container of another store started meanwhile
	# (another test run on the machine) joins every hierarchy, this one too.
	local left id
	id=$(basename "$(dirname "$(ls -d "$LAYERCTL_RUNTIME_DIR"/stores/*/children)")")
	left=$(find "$T/hostcg" -path "*/layerctl/$id")
	find "$T/hostcg" -mindepth 1 -depth -type d ! -path "*/layerctl/*" ! -name layerctl -exec rmdir {} + 2>/dev/null || true
	find "$T/hostcg" -depth -type d -path "*/layerctl/$id*" -exec rmdir {} + 2>/dev/null || true
	rmdir "$T/hostcg/layerctl" 2>/dev/null || true
	umount "$T/hostcg"
	[ -z "$left" ] || fail "the container's cgroup was left: $left"
}

check_cgroup_attack_output() {
	local out=$1
	drop_test_hierarchy
	case "$out" in *"release_agent visible"*|*"release_agent set"*|*"made a new hierarchy"*) fail "escape: $out" ;; esac
	# Every hierarchy was mounted (the attack really ran), the private one included.
	assert_contains "$out" "mounted $NV1 v1 hierarchies"
	assert_contains "$out" "attack done"
	sleep 0.5   # the kernel runs a release agent asynchronously
	assert_no_file "$T/escaped"
}

test_cgroup_release_agent_escape_fails_with_cap_sys_admin() {
	cgroup_setup
	show_release_agent_works_on_host
	# Unmounted with a cgroup left in it, the hierarchy lives on, mounted
	# nowhere on the host, yet mountable inside: the runner must reach it too.
	mkdir -p "$T/hostcg/keep"
	umount "$T/hostcg"
	grep -q "name=$CG_NAME:" /proc/self/cgroup || fail "the private hierarchy went away"
	count_v1_hierarchies
	local out
	out=$($L run c --capability=CAP_SYS_ADMIN -E "PAYLOAD=$PAYLOAD" -- /cgattack 2>&1) || true
	check_cgroup_attack_output "$out"
	# The container's cgroups are gone with it, in every hierarchy.
	local id
	id=$(basename "$(dirname "$(ls -d "$LAYERCTL_RUNTIME_DIR"/stores/*/children)")")
	assert_eq "$(find /sys/fs/cgroup/ -maxdepth 6 -type d -name "$id" 2>/dev/null | wc -l)" 0
}

test_cgroup_release_agent_escape_fails_in_boot() {
	cgroup_setup
	show_release_agent_works_on_host
	ln -sf ../bin/busybox "$ROOT/children/c/upper/poweroff"
	mkdir -p "$ROOT/children/c/upper/sbin" "$ROOT/children/c/upper/etc"
	ln -sf ../bin/busybox "$ROOT/children/c/upper/sbin/init"
	# busybox init runs the attack as root (boot keeps CAP_SYS_ADMIN), then powers off.
	printf '::sysinit:/bin/env PAYLOAD=%s /cgattack\n::sysinit:/poweroff -f\n' "$PAYLOAD" \
		>"$ROOT/children/c/upper/etc/inittab"
	count_v1_hierarchies
	local out
	out=$(timeout 60 $L run c --boot </dev/null 2>&1) || true
	check_cgroup_attack_output "$out"
}

# ---- the stub init holds nothing of the host (issue 8, item 2) ----

test_stub_init_leaks_no_host_env_argv_or_memory() {
	setup_attack
	local secret="s3cr3t-$$" out pid i
	# On the host, root reads another process's environment, ptraces it and
	# takes its descriptors (pidfd_getfd).
	SECRET_TOKEN=$secret sleep 60 &
	pid=$!
	for i in $(seq 100); do "$A" environ $pid | grep -q SECRET_TOKEN && break; sleep 0.02; done   # exec'd yet?
	assert_contains "$("$A" environ $pid)" "SECRET_TOKEN=$secret"
	host_ok ptrace $pid
	host_ok getfd $pid 0
	kill $pid
	out=$(SECRET_TOKEN=$secret $L run c -E "ARGV_MARK=argv-$secret" -- sh -c \
		'echo "environ: $(attack environ 1)"; echo "cmdline: $(tr "\0" " " </proc/1/cmdline)";
		 echo "ptrace: $(attack ptrace 1)"; echo "getfd: $(attack getfd 1 0)"; echo "mem: $(attack read /proc/1/mem)"' 2>&1)
	case "$out" in *"$secret"*) fail "host secret or argv visible inside: $out" ;; esac
	assert_contains "$out" "cmdline: layerctl-init"
	assert_contains "$out" "ptrace: EPERM"
	assert_contains "$out" "getfd: EPERM"
	assert_contains "$out" "environ: EACCES"
	assert_contains "$out" "mem: EACCES"
	# The command's own environment is the container's, as before.
	assert_eq "$(SECRET_TOKEN=$secret $L run c -- sh -c 'echo ${SECRET_TOKEN:-unset}')" unset
}

test_stub_init_memory_holds_no_host_env_seen_from_host() {
	setup_attack
	local secret="s3cr3t-$$" pid i
	SECRET_TOKEN=$secret $L run c -E "ARGV_MARK=argv-$secret" -- sleep 30 >/dev/null 2>&1 &
	for i in $(seq 100); do pid=$($L ps | awk '$1 == "c" {print $2}'); [ -n "$pid" ] && break; sleep 0.05; done
	[ -n "$pid" ] || fail "the child did not start"
	# Even the host's root, which may read everything, finds nothing of the host in the stub.
	local env cmd
	env=$(tr '\0' '\n' <"/proc/$pid/environ")
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline")
	$L stop c --timeout 1 >/dev/null 2>&1 || true
	wait || true
	case "$env$cmd" in *"$secret"*) fail "stub holds host strings: environ=$env cmdline=$cmd" ;; esac
	assert_contains "$cmd" "layerctl-init"
}

# ---- /proc masks (issue 8, item 5): nspawn 252's list and more ----

test_proc_kernel_memory_files_are_masked() {
	setup_attack
	local f
	for f in /proc/kpageflags /proc/kpagecount /proc/kallsyms /proc/vmallocinfo /proc/keys; do
		[ -e "$f" ] || { echo "  host has no $f"; continue; }
		# The host's root reads them (kpage*: 8 bytes per page frame).
		[ "$(head -c 8 "$f" | wc -c)" -gt 0 ] || fail "host: $f empty"
		# Inside: /dev/null on a nodev mount, so nothing to read (EACCES).
		assert_eq "$(inside -- sh -c "head -c 8 $f 2>/dev/null | wc -c")" 0 "$f inside"
	done
}

for PRIVATE_USERS in ${SECURITY_MODES:-no pick}; do
	TEST_MODE=$([ "$PRIVATE_USERS" = no ] || echo "userns=$PRIVATE_USERS")
	run_tests
done
