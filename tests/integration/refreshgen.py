#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Randomized correctness check of `layerctl refresh` and `refresh --undo`.

For each seed: a random base O (generation 1), a child with random changes
made through its mounted overlay, a random update B (a mutated copy of O,
committed with `base update --from`), then `refresh` (default, --keep-child
or --take-base by seed).  The child's merged view afterwards is compared
path by path with an independent computation from the three trees O, B and
the merged view M before the refresh, following the table of
layerctl-refresh(1).  The only overlay knowledge the model gets is which
dirs of the upper are opaque (they are the child's own: nothing below them
follows the base).  When the model says the table refuses the child (a type
clash), refresh must fail and change nothing.  Then `refresh --undo` must
restore M and the upper dir exactly.

  refreshgen.py --layerctl BIN --work DIR --seeds N [--first S] [--verbose]
"""
import argparse
import os
import random
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diffgen  # noqa: E402  (make_base, walk, mutate)
import treesnap  # noqa: E402

POLICIES = ["", "--keep-child", "--take-base"]


class Failure(Exception):
    pass


class Refused(Exception):
    pass


def is_dir(d):
    return d is not None and d[0] == stat.S_IFDIR


def parent_of(p):
    return p.rsplit(b"/", 1)[0] if b"/" in p else b""


def opaque_dirs(upper):
    out = set()
    for dirpath, dirnames, _ in os.walk(upper):
        for n in dirnames:
            full = os.path.join(dirpath, n)
            try:
                v = os.getxattr(full, b"trusted.overlay.opaque", follow_symlinks=False)
            except OSError:
                continue
            if v == b"y":
                out.add(os.path.relpath(full, upper))
    return out


def expected_view(O, B, M, opaque, policy):
    """The merged view after refresh, or raise Refused(path)."""
    take = policy == "--take-base"
    paths = sorted(set(O) | set(B) | set(M))

    def under_opaque(p):
        a = p
        while a:
            a = parent_of(a)
            if a in opaque and a in M:
                return True
            if not a:
                break
        return False

    def meta_only(m, o):
        return m[0] == o[0] and m[1] == o[1]

    P = {}
    kept_from_child = set()

    def keep(p, m):
        P[p] = m
        if m is not None:
            kept_from_child.add(p)

    dirs_pending = []
    for p in paths:
        o, b, m = O.get(p), B.get(p), M.get(p)
        if p == b"":
            keep(p, m)
        elif under_opaque(p):
            keep(p, m)
        elif o == b:
            keep(p, m) if m != o else P.__setitem__(p, m)
        elif is_dir(m) and not is_dir(b):
            dirs_pending.append(p)   # decided once its children are
        elif is_dir(m):
            # both dirs: metadata follows B unless the child changed it too
            if p in opaque:
                P[p] = b if (o is not None and is_dir(o) and m[2:] == o[2:]) else m
                if P[p] is m:
                    kept_from_child.add(p)
            elif m == o or m == b:
                P[p] = b
            else:
                keep(p, m)
        elif m == o:
            P[p] = b
        elif m == b:
            P[p] = b
        elif m is None:
            P[p] = b if (b is None or take) else None
        elif (o is not None and b is not None and m[0] == o[0] == b[0] and o[0] in (stat.S_IFREG, stat.S_IFLNK)
              and meta_only(m, o) and o[1] != b[1]):
            P[p] = (b[0], b[1], m[2], m[3], m[4])
        elif b is None:
            P[p] = None if take else m
            if not take:
                kept_from_child.add(p)
        elif is_dir(b) and o is not None and o[0] == m[0]:
            if not take:
                raise Refused(p)
            P[p] = b
        else:
            if take:
                P[p] = b
            else:
                keep(p, m)

    def children_none(p):
        pre = p + b"/"
        return all(P.get(q) is None for q in P if q.startswith(pre)) and \
            all(q not in kept_from_child for q in P if q.startswith(pre))

    for p in reversed(dirs_pending):   # deepest first
        o, b, m = O.get(p), B.get(p), M.get(p)
        empties = children_none(p)
        copy_up = is_dir(o) and p not in opaque and m[2:] == o[2:]
        if empties and copy_up:
            P[p] = b
        elif b is None or not is_dir(o):
            keep(p, m)
        elif empties and take:
            P[p] = b
        else:
            raise Refused(p)

    E = {}
    for p in paths:
        if p == b"":
            E[p] = P[p]
            continue
        par = parent_of(p)
        ep = E.get(par)
        if not is_dir(ep):
            E[p] = None
        elif not is_dir(M.get(par)):
            # the parent now comes whole from B: nothing of the upper below it
            E[p] = B.get(p)
        else:
            E[p] = P[p]
    return {p: d for p, d in E.items() if d is not None}


def short(d):
    """An entry for a message: content as a short hash."""
    if d is None:
        return None
    import hashlib
    c = d[1]
    if isinstance(c, bytes):
        c = "sha1:" + hashlib.sha1(c).hexdigest()[:10]
    return (oct(d[0]), c, oct(d[2]), d[3], d[4])


def one_seed(args, seed):
    rng = random.Random(seed)
    work = os.path.join(args.work, "seed%d" % seed)
    store = os.path.join(work, "store")
    src = os.path.join(work, "o").encode()
    new = os.path.join(work, "b").encode()
    env = dict(os.environ, LAYERCTL_ROOT=store, LAYERCTL_RUNTIME_DIR=os.path.join(work, "run"))
    L = args.layerctl

    def run(cmd, check=True):
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        if check and p.returncode != 0:
            raise Failure("seed %d: command failed (%d): %r\n%s" % (seed, p.returncode, cmd,
                                                                     p.stderr.decode(errors="replace")))
        return p

    root = os.path.join(store, "children", "c", "root").encode()
    upper = os.path.join(store, "children", "c", "upper")
    policy = POLICIES[seed % 3]
    try:
        diffgen.make_base(rng, src)
        run([L, "-q", "base", "import", "b", src.decode("utf-8", "surrogateescape")])
        run([L, "-q", "child", "create", "c", "--base", "b"])
        run([L, "-q", "mount", "c"])
        diffgen.mutate(rng, root, rng.randrange(3, 14))
        # The update: a mutated copy of O (sometimes the child's own change, so some paths converge).
        subprocess.run(["cp", "-a", src, new], check=True)
        diffgen.mutate(rng, new, rng.randrange(2, 12))
        run([L, "-q", "base", "update", "b", "--from", new.decode("utf-8", "surrogateescape")])
        O = diffgen.walk(src)
        B = diffgen.walk(new)
        M = diffgen.walk(root)
        run([L, "-q", "umount", "c"])
        opaque = opaque_dirs(upper.encode())
        upper_before = treesnap.snapshot(upper)
        try:
            want = expected_view(O, B, M, opaque, policy)
            refused = None
        except Refused as e:
            want, refused = None, e.args[0]
        cmd = [L, "-q", "refresh", "c"] + ([policy] if policy else [])
        p = run(cmd, check=False)
        if refused is not None:
            if p.returncode == 0:
                raise Failure("seed %d (%s): refresh succeeded, the model refuses at %r" % (seed, policy, refused))
            if treesnap.snapshot(upper) != upper_before:
                raise Failure("seed %d: a refused refresh changed the upper dir" % seed)
            return "refused"
        if p.returncode != 0:
            raise Failure("seed %d (%s): refresh failed, the model expects success:\n%s" %
                          (seed, policy, p.stderr.decode(errors="replace")))
        run([L, "-q", "mount", "c"])
        got = diffgen.walk(root)
        if got != want:
            lines = []
            for q in sorted(set(got) | set(want)):
                if got.get(q) != want.get(q):
                    lines.append("  %r: layerctl %s, expected %s (O %s, B %s, M %s)" % (
                        q, short(got.get(q)), short(want.get(q)), short(O.get(q)), short(B.get(q)), short(M.get(q))))
            raise Failure("seed %d (%s): merged view after refresh disagrees:\n%s" %
                          (seed, policy or "default", "\n".join(lines[:12])))
        run([L, "-q", "umount", "c"])
        run([L, "-q", "refresh", "--undo", "c"])
        if treesnap.snapshot(upper) != upper_before:
            raise Failure("seed %d: undo did not restore the upper dir exactly" % seed)
        run([L, "-q", "mount", "c"])
        if diffgen.walk(root) != M:
            raise Failure("seed %d: undo did not restore the merged view" % seed)
        run([L, "-q", "umount", "c"])
        return "ok"
    finally:
        subprocess.run(["umount", "-l", root], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layerctl", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    counts = {}
    for seed in range(args.first, args.first + args.seeds):
        try:
            r = one_seed(args, seed)
        except Failure as e:
            print(str(e))
            return 1
        counts[r] = counts.get(r, 0) + 1
        if args.verbose:
            print("seed %d %s" % (seed, r))
    print("%d seeds agree (%s)" % (args.seeds, ", ".join("%d %s" % (v, k) for k, v in sorted(counts.items()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
