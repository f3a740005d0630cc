#!/usr/bin/env bash
# Start-up cost of a container with a private network: `layerctl run
# --network-veth -- /bin/true` (veth pair, addresses, routes, nft elements,
# records) against `systemd-nspawn --network-veth` and `bwrap --unshare-net`
# (a network namespace with loopback only, bwrap has no veth), with
# layerctl's --private-network as the floor, on the same busybox overlay, in
# one hyperfine run.
#
# Runs inside a network namespace made here (`unshare --net`): the links,
# routes and nftables table the runs make are that namespace's, never the
# machine's.
#
#   RUNS=100 tests/bench/bench-network.sh
set -eu
if [ -z "${BENCH_IN_NETNS:-}" ]; then
	exec unshare --net -- env BENCH_IN_NETNS=1 bash "$0" "$@"
fi
L=${LAYERCTL:?}
RUNS=${RUNS:-100}
WARMUP=${WARMUP:-10}
command -v hyperfine >/dev/null || { echo "bench-network: needs hyperfine" >&2; exit 1; }
BUSYBOX=${BUSYBOX:-$(command -v busybox || echo /bin/busybox)}
. "$(dirname "$0")/lib.sh"
bench_setup network
ip link set lo up

src=$tmp/src
mkdir -p "$src"/{bin,sbin,etc,tmp,dev,proc,sys,run,root,usr}   # nspawn wants a /usr
cp "$BUSYBOX" "$src/bin/busybox"
for a in sh true; do ln -s busybox "$src/bin/$a"; done
printf 'ID=busybox\nNAME=BusyBox\n' >"$src/etc/os-release"
echo "root:x:0:0:root:/root:/bin/sh" >"$src/etc/passwd"
$L -q base import bb "$src"
$L -q child create c --base bb
$L -q mount c
ROOT=$LAYERCTL_ROOT/children/c/root

# nspawn names its host side ve-c: its own, made and removed by it.
json=$tmp/results.json
hyperfine -N --style none --warmup "$WARMUP" -r "$RUNS" --export-json "$json" \
	"$L run c --network-veth -- /bin/true" \
	"$L run c --private-network -- /bin/true" \
	"systemd-nspawn --register=no --keep-unit -q --network-veth -D $ROOT /bin/true" \
	"bwrap --bind $ROOT / --proc /proc --dev /dev --unshare-all /bin/true" >/dev/null
mean() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print(' '.join('%.6f' % x['mean'] for x in r))" "$1"; }
read -r t_veth t_priv t_nspawn t_bwrap < <(mean "$json")
# Round 2: a pause before each run (not timed), so the kernel has dropped the
# previous run's veth pair with its namespace.  Back to back (round 1),
# layerctl's start waits for that (same name) or deletes it (an RCU grace
# period); nspawn deletes its pair within its own run either way.
hyperfine -N --style none --warmup "$WARMUP" -r "$RUNS" --prepare "sleep 0.1" --export-json "$json.2" \
	"$L run c --network-veth -- /bin/true" \
	"systemd-nspawn --register=no --keep-unit -q --network-veth -D $ROOT /bin/true" >/dev/null
read -r t_veth2 t_nspawn2 < <(mean "$json.2")
# Nothing may be left behind by the runs.
if ip -o link show | grep -q 'vl-'; then echo "bench-network: links left behind" >&2; exit 1; fi

ms() { python3 -c "print('%.2f' % (float('$1') * 1000))"; }
ratio() { python3 -c "print('%.2f' % (float('$1') / float('$2')))"; }
echo "Start-up of /bin/true with a private network, $RUNS runs each (hyperfine, mean):"
printf '  %-52s %8s ms\n' "layerctl run --network-veth" "$(ms "$t_veth")"
printf '  %-52s %8s ms\n' "layerctl run --private-network (loopback only)" "$(ms "$t_priv")"
printf '  %-52s %8s ms\n' "systemd-nspawn --network-veth --register=no --keep-unit" "$(ms "$t_nspawn")"
printf '  %-52s %8s ms\n' "bwrap --unshare-all (net: loopback only)" "$(ms "$t_bwrap")"
echo "  with a 0.1 s pause before each run (the previous pair gone):"
printf '  %-52s %8s ms\n' "layerctl run --network-veth" "$(ms "$t_veth2")"
printf '  %-52s %8s ms\n' "systemd-nspawn --network-veth" "$(ms "$t_nspawn2")"
echo "Ratios (peer time / layerctl --network-veth time; > 1 means layerctl is faster):"
printf '  systemd-nspawn --network-veth  %6sx back to back, %6sx with pauses   (aim: >= 5x)\n' "$(ratio "$t_nspawn" "$t_veth")" "$(ratio "$t_nspawn2" "$t_veth2")"
printf '  bwrap --unshare-net            %6sx\n' "$(ratio "$t_bwrap" "$t_veth")"
printf '  the veth costs over --private-network: %s ms back to back\n' "$(python3 -c "print('%.2f' % ((float('$t_veth') - float('$t_priv')) * 1000))")"
