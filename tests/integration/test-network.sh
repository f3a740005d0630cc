#!/usr/bin/env bash
# Private networking: --network-veth, --network-zone, --network-bridge,
# --port, the address pool, cleanup after stop and after kill -9, errors.
#
# Every test body runs in a network namespace of its own, made here with
# `unshare --net` (this script re-runs itself inside it): the links, routes,
# nftables table and ip_forward layerctl changes are that namespace's, and
# the machine's own network is never touched.  Traffic goes only between
# that namespace (busybox nc) and the children.
. "$(dirname "$0")/lib.sh"

SELF=$(readlink -f "$0")

# test_X runs body_X in a fresh network namespace (the store is made outside).
in_netns() {
	unshare --net -- env NETNS_BODY="$1" T="$T" ROOT="$ROOT" L="$L" bash "$SELF"
}

prepare_tree() {
	local a
	for a in nc ip; do ln -sf busybox "$1/bin/$a"; done
	ln -sf ../bin/busybox "$1/sbin/init"
	cat >"$1/etc/inittab" <<-'EOF2'
	::respawn:/bin/nc -ll -p 80 -e /bin/cat
	EOF2
}

nc_host() { "$BUSYBOX" nc "$@"; }

# Send a line to ADDR PORT until an echo server answers (it may still be starting).
echo_through() {
	local addr=$1 port=$2 out i
	for i in $(seq 50); do
		# stdin stays open a moment: busybox nc stops reading at its EOF
		out=$( (echo "ping-$port"; sleep 0.3) | nc_host -w 2 "$addr" "$port" 2>/dev/null || true)
		[ -n "$out" ] && { echo "$out"; return 0; }
		sleep 0.1
	done
	return 1
}

wait_record() {
	local i
	for i in $(seq 100); do
		[ -e "$(echo "$LAYERCTL_RUNTIME_DIR"/stores/*/children/"$1"/network)" ] && return 0
		sleep 0.05
	done
	fail "no network record for $1"
}

# After a kill -9 of run, its container dies (PDEATHSIG) a moment later,
# and with it the last holder of the run lock.
wait_not_running() {
	local i
	for i in $(seq 100); do
		$L ps | grep -q "^$1 " || return 0
		sleep 0.03
	done
	fail "$1 still running"
}

record_of() { cat "$LAYERCTL_RUNTIME_DIR"/stores/*/children/"$1"/network; }

# Nothing of layerctl's network is left in this namespace: links, records,
# forwarded ports (the table itself stays, empty, until net gc: nft.c says why).
# A stopped child's veth pair goes with its network namespace, which the
# kernel tears down just after the container's last process (network.c,
# record_undo): give it a moment.
our_links() { ip -o link show | awk -F': ' '{print $2}' | grep -E '^(vl-|vlz-|vlx-)' || true; }
assert_all_gone() {
	local links map i
	for i in $(seq 100); do
		links=$(our_links)
		[ -n "$links" ] || break
		sleep 0.03
	done
	[ -z "$links" ] || fail "links left: $links"
	map=$(nft list map inet layerctl ports 2>/dev/null || true)
	case "$map" in *elements*) fail "forwarded ports left: $map" ;; esac
	! ls "$LAYERCTL_RUNTIME_DIR"/stores/*/children/*/network >/dev/null 2>&1 || fail "records left"
}

body_veth_echo_both_ways() {
	# Child -> host: an echo server in this namespace.
	nc_host -l -p 9000 -e /bin/cat &
	local srv=$!
	sleep 0.2
	local out
	out=$($L run c --network-veth -- sh -c 'ip -4 -o addr show host0; ip route; (echo pong; sleep 0.3) | nc -w 3 10.234.0.1 9000')
	kill $srv 2>/dev/null || true
	assert_contains "$out" "10.234.0.2/30"
	assert_contains "$out" "default via 10.234.0.1"
	assert_contains "$out" "pong"
	# Host -> child: the child's echo server on its own address.
	$L run c --network-veth -- nc -ll -p 80 -e /bin/cat &
	local run=$!
	assert_eq "$(echo_through 10.234.0.2 80)" "ping-80"
	kill -TERM $run
	wait $run || true
	assert_eq "$(sysctl -n net.ipv4.ip_forward)" 1 "ip_forward on in the host side's namespace"
	assert_all_gone
}
test_veth_echo_both_ways() { setup; in_netns body_veth_echo_both_ways; }

body_port_forwarding() {
	$L run c --network-veth --port tcp:8080:80 -- nc -ll -p 80 -e /bin/cat &
	local run=$!
	wait_record c
	assert_contains "$(record_of c)" "Port=tcp:8080:80"
	assert_contains "$(nft list map inet layerctl ports)" "tcp . 8080 : 10.234.0.2 . 80"
	# A second child keeps the table while the first one goes.
	$L run d --network-veth --port udp:5353:53 -- sleep 30 &
	local other=$!
	wait_record d
	# The host's own address, port 8080: DNAT to the child's port 80.
	assert_eq "$(echo_through 10.234.0.1 8080)" "ping-8080"
	kill -TERM $run
	wait $run || true
	local map
	map=$(nft list map inet layerctl ports)
	case "$map" in *8080*) fail "c's forwarding stayed: $map" ;; esac
	assert_contains "$map" "udp . 5353 : 10.234.0.6 . 53"
	kill -TERM $other
	wait $other || true
	assert_all_gone
}
test_port_forwarding() { setup bb c d; in_netns body_port_forwarding; }

body_zone_members_reach_each_other() {
	$L run a --network-zone=lab -- nc -ll -p 80 -e /bin/cat &
	local ra=$!
	wait_record a
	assert_contains "$(record_of a)" "Address=10.234.0.2/24"
	ip -o link show vlz-lab | grep -q UP || fail "no zone bridge vlz-lab"
	local out
	out=$($L run b --network-zone=lab -- sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do
		o=$( (echo hi-from-b; sleep 0.3) | nc -w 2 10.234.0.2 80) && [ -n "$o" ] && { echo "$o"; exit 0; }; sleep 0.2; done; exit 1')
	assert_eq "$out" "hi-from-b"
	kill -TERM $ra
	wait $ra || true
	assert_all_gone
}
test_zone_members_reach_each_other() { setup bb a b; in_netns body_zone_members_reach_each_other; }

body_long_names_get_distinct_host_names() {
	local n1=webserver-production-one n2=webserver-production-two
	$L run $n1 --network-veth -- sleep 30 &
	local r1=$!
	$L run $n2 --network-veth -- sleep 30 &
	local r2=$!
	wait_record $n1
	wait_record $n2
	local h1 h2
	h1=$(record_of $n1 | sed -n 's/^HostInterface=//p')
	h2=$(record_of $n2 | sed -n 's/^HostInterface=//p')
	[ "$h1" != "$h2" ] || fail "one host name for two children: $h1"
	[ ${#h1} -le 15 ] && [ ${#h2} -le 15 ] || fail "names too long: $h1 $h2"
	# The full names are alternative names: ip finds the links by them.
	local i
	for i in $(seq 50); do ip link show "vl-$n2" >/dev/null 2>&1 && break; sleep 0.1; done
	assert_contains "$(ip link show "vl-$n1")" "$h1"
	assert_contains "$(ip link show "vl-$n2")" "$h2"
	kill -TERM $r1 $r2
	wait $r1 $r2 || true
	assert_all_gone
}
test_long_names_get_distinct_host_names() {
	setup bb webserver-production-one webserver-production-two
	in_netns body_long_names_get_distinct_host_names
}

body_start_stop_leaves_nothing() {
	$L start c
	wait_record c
	assert_eq "$(echo_through 10.234.0.1 8080)" "ping-8080"
	assert_contains "$(record_of c)" "Zone=z1"
	# status reads the same record (runner_network_state_read).
	local st
	st=$($L status c)
	assert_contains "$st" "Network: zone (host0 inside, vl-c outside, bridge vlz-z1)"
	assert_contains "$st" "Address: 10.234.0."
	assert_contains "$st" "Ports: tcp:8080:80"
	assert_contains "$($L status c --json)" '"tcp:8080:80"'
	$L stop c --timeout 2
	assert_all_gone
}
test_start_stop_leaves_nothing() {
	setup
	printf '[Network]\nZone=z1\nPort=8080:80\n' >>"$ROOT/children/c/child.conf"
	in_netns body_start_stop_leaves_nothing
}

body_kill_9_then_gc() {
	$L run c --network-zone=z2 --port 8081:80 -- sleep 60 &
	local run=$! i
	wait_record c
	# The record is written first (so that gc finds what to undo), then the
	# bridge, then the port forward: wait for the last before the kill.
	for i in $(seq 100); do
		nft list map inet layerctl ports 2>/dev/null | grep -q 8081 && break
		sleep 0.05
	done
	ip link show vlz-z2 >/dev/null
	kill -9 $run
	wait $run || true
	wait_not_running c
	# The container dies with its runner (PDEATHSIG); what layerctl made stays until the next command.
	ip link show vlz-z2 >/dev/null || fail "the zone bridge should still be there"
	assert_contains "$(nft list map inet layerctl ports)" "8081"
	assert_contains "$($L net gc 2>&1)" "1 child"
	assert_all_gone
	! nft list table inet layerctl >/dev/null 2>&1 || fail "net gc left the table with no child running"
	# Again, this time the next run cleans up.
	$L run c --network-zone=z2 --port 8081:80 -- sleep 60 &
	run=$!
	wait_record c
	kill -9 $run
	wait $run || true
	wait_not_running c
	$L run c2 --network-veth -- true
	assert_all_gone
}
test_kill_9_then_gc() { setup bb c c2; in_netns body_kill_9_then_gc; }

body_errors_start_nothing() {
	expect_fail $L run c --network-bridge=nosuchbr -- true
	assert_eq "$ERR" "layerctl: run c: network: bridge nosuchbr: no such interface"
	local rc=0
	$L run c --network-veth --port tcp:0:80 -- true 2>"$T/err" || rc=$?
	assert_eq "$rc" 2
	assert_contains "$(cat "$T/err")" "--port tcp:0:80: needs [tcp:|udp:]HOST[:CHILD]"
	rc=0
	$L run c --network-veth --port sctp:80 -- true 2>/dev/null || rc=$?
	assert_eq "$rc" 2
	# A pool whose only /30 is routed here already: exhausted.
	ip route add unreachable 10.99.0.0/30
	expect_fail $L run c --network-veth --network-pool=10.99.0.0/30 -- true
	assert_contains "$ERR" "address pool 10.99.0.0/30 exhausted"
	# One /30, taken by a running child.
	$L run c --network-veth --network-pool=10.98.0.0/30 -- sleep 30 &
	local run=$!
	wait_record c
	expect_fail $L run c2 --network-veth --network-pool=10.98.0.0/30 -- true
	assert_eq "$ERR" "layerctl: run c2: network: address pool 10.98.0.0/30 exhausted (every /30 in it is taken or routed on the host)"
	kill -TERM $run
	wait $run || true
	ip route del unreachable 10.99.0.0/30
	# An interface of ours by name only (no layerctl alias) is never taken over or removed.
	ip link add name vl-c type bridge
	expect_fail $L run c --network-veth -- true
	assert_eq "$ERR" "layerctl: run c: network: veth vl-c: an interface of that name exists already (not this child's)"
	$L net gc >/dev/null
	ip link show vl-c >/dev/null || fail "someone else's vl-c was removed"
	ip link del dev vl-c
	assert_all_gone
	assert_eq "$(mounts_below "$ROOT")" 0
}
test_errors_start_nothing() { setup bb c c2; in_netns body_errors_start_nothing; }

body_bridge_enslaves_host_side() {
	ip link add name br7 type bridge
	ip link set dev br7 up
	local out
	$L run c --network-bridge=br7 -- sleep 30 &
	local run=$!
	wait_record c
	for i in $(seq 50); do ip -o link show master br7 | grep -q vl-c && break; sleep 0.1; done
	assert_contains "$(ip -o link show master br7)" "vl-c"
	kill -TERM $run
	wait $run || true
	ip link show br7 >/dev/null || fail "an existing bridge is not ours to remove"
	ip link del dev br7
	assert_all_gone
}
test_bridge_enslaves_host_side() { setup; in_netns body_bridge_enslaves_host_side; }

body_resolv_conf_never_through_a_symlink() {
	# The image's /etc/resolv.conf points at a host path: copy-host must replace the link, not write there.
	$L run c -- ln -sf "$T/host-file" /etc/resolv.conf
	$L run c --network-veth --resolv-conf=copy-host -- true
	assert_no_file "$T/host-file"
	assert_eq "$($L run c -- cat /etc/resolv.conf)" "$(cat /etc/resolv.conf)"
	# Off by default: nothing written.
	$L run c -- rm /etc/resolv.conf
	$L run c --network-veth -- true
	assert_eq "$($L run c -- sh -c 'test -e /etc/resolv.conf && echo yes || echo no')" no
}
test_resolv_conf_never_through_a_symlink() { setup; in_netns body_resolv_conf_never_through_a_symlink; }

if [ -n "${NETNS_BODY:-}" ]; then
	# Inside the namespace: run one body with set -e, lo up.
	set -e
	ip link set lo up
	"$NETNS_BODY"
	exit 0
fi
run_tests
