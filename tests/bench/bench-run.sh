#!/usr/bin/env bash
# Start-up cost of a container: `layerctl run CHILD -- /bin/true` against
# bubblewrap, crun, runc and systemd-nspawn on the same busybox overlay, in
# the same run, with hyperfine.  Two rounds for layerctl: the overlay already
# mounted, and mounted on demand by `run` (and unmounted after).  The peers
# always get the pre-mounted overlay (they cannot mount it themselves).
#
# crun and runc refuse a hybrid cgroup host (v1 controllers, cgroup2 at
# /sys/fs/cgroup/unified): they run inside a private mount namespace
# (`unshare -m`, here only) with cgroup2 mounted at /sys/fs/cgroup.
#
#   RUNS=200 tests/bench/bench-run.sh
set -eu
L=${LAYERCTL:?}
RUNS=${RUNS:-200}
WARMUP=${WARMUP:-20}
command -v hyperfine >/dev/null || { echo "bench-run: needs hyperfine" >&2; exit 1; }
BUSYBOX=${BUSYBOX:-$(command -v busybox || echo /bin/busybox)}

tmp=$(mktemp -d /tmp/layerctl-bench-run.XXXXXX)
cleanup() {
	awk '{print $5}' /proc/self/mountinfo | while read -r t; do t=$(printf '%b' "$t"); case "$t" in "$tmp"/*) echo "$t";; esac; done |
		sort -r | xargs -r -n1 umount -l
	rm -rf "$tmp"
}
trap cleanup EXIT
export LAYERCTL_ROOT="$tmp/store" LAYERCTL_RUNTIME_DIR="$tmp/run"

# The busybox base (as tests/integration/lib.sh makes it).
src=$tmp/src
mkdir -p "$src"/{bin,sbin,etc,tmp,dev,proc,sys,run,root,usr}   # nspawn wants a /usr
cp "$BUSYBOX" "$src/bin/busybox"
for a in sh true cat ls; do ln -s busybox "$src/bin/$a"; done
printf 'ID=busybox\nNAME=BusyBox\n' >"$src/etc/os-release"
echo "root:x:0:0:root:/root:/bin/sh" >"$src/etc/passwd"
$L -q base import bb "$src"
$L -q child create c --base bb
ROOT=$LAYERCTL_ROOT/children/c/root

# OCI bundle for crun/runc: the default spec, rootfs = the overlay, no tty.
# Without linux.resources: its device rule makes crun load a BPF device
# filter, which needs a higher RLIMIT_MEMLOCK than a host without
# CAP_SYS_RESOURCE can grant (this only makes the peers' work lighter).
bundle=$tmp/bundle
mkdir -p "$bundle"
(cd "$bundle" && crun spec)
python3 - "$bundle/config.json" "$ROOT" <<'EOF'
import json, sys
p, root = sys.argv[1], sys.argv[2]
c = json.load(open(p))
c["root"] = {"path": root, "readonly": False}
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["linux"].pop("resources", None)
json.dump(c, open(p, "w"), indent=1)
EOF

json=$tmp/results.json
mean() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print(' '.join('%.6f' % x['mean'] for x in r))" "$1"; }

echo "Start-up of /bin/true in a container, $RUNS runs each (hyperfine, mean):"

# Round 1, all in one hyperfine run so that they share the machine's mood:
# layerctl on child c (overlay pre-mounted) and on child d (not mounted:
# run mounts and unmounts it), bwrap and systemd-nspawn on c's overlay.
$L -q child create d --base bb
$L -q mount c
hyperfine -N --style none --warmup "$WARMUP" -r "$RUNS" --export-json "$json.1" \
	"$L run c -- /bin/true" \
	"$L run d -- /bin/true" \
	"bwrap --bind $ROOT / --proc /proc --dev /dev --unshare-all /bin/true" \
	"systemd-nspawn --register=no --keep-unit -q -D $ROOT /bin/true" >/dev/null
read -r t_lc t_demand t_bwrap t_nspawn < <(mean "$json.1")

# Round 2: crun and runc in a private mount namespace with a pure cgroup2
# tree, with layerctl (pre-mounted) measured again in the same run: their
# ratios are taken against that.
hyperfine_oci() {
	unshare -m --propagation private sh -c '
		mount -t cgroup2 none /sys/fs/cgroup && exec "$@"' sh "$@"
}
hyperfine_oci hyperfine -N --style none --warmup "$WARMUP" -r "$RUNS" --export-json "$json.2" \
	"$L run c -- /bin/true" \
	"crun --root $tmp/crun run -b $bundle bench-crun" \
	"runc --root $tmp/runc run -b $bundle bench-runc" >/dev/null
read -r t_lc2 t_crun t_runc < <(mean "$json.2")

ms() { python3 -c "print('%.2f' % (float('$1') * 1000))"; }
ratio() { python3 -c "print('%.2f' % (float('$1') / float('$2')))"; }
printf '  %-44s %8s ms\n' "layerctl run (overlay pre-mounted)" "$(ms "$t_lc")"
printf '  %-44s %8s ms\n' "layerctl run (overlay mounted on demand)" "$(ms "$t_demand")"
printf '  %-44s %8s ms\n' "bwrap --unshare-all" "$(ms "$t_bwrap")"
printf '  %-44s %8s ms\n' "systemd-nspawn --register=no --keep-unit" "$(ms "$t_nspawn")"
printf '  %-44s %8s ms\n' "layerctl run (pre-mounted, round 2)" "$(ms "$t_lc2")"
printf '  %-44s %8s ms\n' "crun run (round 2)" "$(ms "$t_crun")"
printf '  %-44s %8s ms\n' "runc run (round 2)" "$(ms "$t_runc")"
echo "Ratios (peer time / layerctl time; > 1 means layerctl is faster):"
for peer in bwrap nspawn; do
	t=t_$peer
	printf '  %-10s pre-mounted %6sx   on demand %6sx\n' "$peer" "$(ratio "${!t}" "$t_lc")" "$(ratio "${!t}" "$t_demand")"
done
# On demand costs the same extra in both rounds: scale it to round 2.
t_demand2=$(python3 -c "print(float('$t_demand') - float('$t_lc') + float('$t_lc2'))")
for peer in crun runc; do
	t=t_$peer
	printf '  %-10s pre-mounted %6sx   on demand %6sx\n' "$peer" "$(ratio "${!t}" "$t_lc2")" "$(ratio "${!t}" "$t_demand2")"
done
