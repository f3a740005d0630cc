#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Randomized correctness check of `layerctl diff` and `layerctl vacuum`.

For each seed: build a small random base tree, import it, create a child,
mount it, make random changes *through the mounted overlay*, then compare
`layerctl diff --json` with an independent answer computed by walking the
merged view and the base tree with plain lstat/read (no overlay knowledge).
Then unmount, vacuum, remount, and check that the merged view did not change
and that nothing vacuumable is left.

A quarter of the seeds mount the overlay themselves with
redirect_dir=on,metacopy=on and another quarter with userxattr (layerctl
never does, but upper dirs made elsewhere have redirects, metacopy files
and user.overlay.* xattrs), so those decoding paths run too.

  diffgen.py --layerctl BIN --work DIR --seeds N [--first S] [--verbose]
Exit 0 when every seed agrees; prints the first disagreement otherwise.
"""
import argparse
import collections
import errno
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import time

WEIRD = [b"sp ace", b"new\nline", b"tab\there", b"back\\slash", b"bad\xff\xfeutf8", b"caf\xc3\xa9", b"a-b", b"a0"]
PLAIN = [b"a", b"b", b"c", b"etc", b"usr", b"bin", b"lib", b"x", b"y", b"conf", b"data"]
PRIVATE_XATTR = (b"trusted.overlay.", b"user.overlay.")


class Failure(Exception):
    pass


# What a random operation may meet in a random tree: the operation is then
# simply not done.  Any other error is a failure of the test itself (coverage
# would drop silently otherwise).
EXPECTED_ERRNOS = {errno.ENOENT, errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ENOTEMPTY, errno.EXDEV,
                   errno.EINVAL, errno.EMLINK}
# Operations that really ran, over all seeds (op number -> count).
OPS_DONE = collections.Counter()
OP_NAMES = {0: "create", 1: "overwrite", 2: "append", 3: "truncate", 4: "chmod", 5: "chown", 6: "touch",
            7: "rename file", 8: "rename dir", 9: "delete", 10: "dir to file", 11: "file to dir",
            12: "dir made again", 13: "hard link", 14: "symlink", 15: "xattrs", 16: "open r+",
            17: "file in dir", 18: "device node", 19: "root metadata"}


def run(cmd, check=True, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if check and p.returncode != 0:
        raise Failure("command failed (%d): %r\n%s" % (p.returncode, cmd, p.stderr.decode(errors="replace")))
    return p


def rand_name(rng):
    if rng.random() < 0.25:
        return rng.choice(WEIRD)
    return rng.choice(PLAIN) + (b"%d" % rng.randrange(4) if rng.random() < 0.5 else b"")


def rand_content(rng):
    n = rng.choice([0, 1, 5, 16, 40, 100, 3000])
    return bytes(rng.randrange(256) for _ in range(min(n, 64))) * (n // 64 + 1) if n else b""


def set_xattr(rng, path):
    try:
        os.setxattr(path, b"user.k%d" % rng.randrange(3), b"v%d" % rng.randrange(3), follow_symlinks=False)
    except OSError as e:
        # user.* xattrs exist on regular files and directories only
        if e.errno != errno.EPERM or stat.S_ISREG(os.lstat(path).st_mode) or os.path.isdir(path):
            raise


def make_base(rng, root):
    os.makedirs(root)
    dirs = [root]
    files = []
    for _ in range(rng.randrange(8, 30)):
        parent = rng.choice(dirs)
        p = os.path.join(parent, rand_name(rng))
        if os.path.lexists(p):
            continue
        kind = rng.random()
        if kind < 0.3:
            os.mkdir(p, rng.choice([0o755, 0o700, 0o775]))
            dirs.append(p)
        elif kind < 0.8:
            with open(p, "wb") as f:
                f.write(rand_content(rng))
            os.chmod(p, rng.choice([0o644, 0o600, 0o755, 0o4755]))
            files.append(p)
        elif kind < 0.9:
            os.symlink(rng.choice([b"a", b"../x", b"/etc/passwd", b"no\nwhere"]), p)
        elif kind < 0.95 and files:
            os.link(rng.choice(files), p)
        elif kind < 0.97:
            os.mknod(p, stat.S_IFCHR | 0o644, os.makedev(1, rng.choice([3, 5])))
        else:
            os.mkfifo(p, 0o644)
        if rng.random() < 0.2:
            os.chown(p, rng.randrange(3), rng.randrange(3), follow_symlinks=False)
        if rng.random() < 0.15:
            set_xattr(rng, p)


def walk(root):
    """path (bytes, relative, b'' for root) -> comparable description."""
    out = {}

    def describe(p):
        st = os.lstat(p)
        t = stat.S_IFMT(st.st_mode)
        if stat.S_ISREG(st.st_mode):
            with open(p, "rb") as f:
                content = f.read()
        elif stat.S_ISLNK(st.st_mode):
            content = os.readlink(p)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            content = st.st_rdev
        else:
            content = None
        try:
            names = os.listxattr(p, follow_symlinks=False)
        except OSError:
            names = []
        xattrs = {}
        for n in names:
            nb = n.encode() if isinstance(n, str) else n
            if nb.startswith(PRIVATE_XATTR):
                continue
            xattrs[nb] = os.getxattr(p, n, follow_symlinks=False)
        return (t, content, stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid), xattrs)

    def rec(rel, p):
        out[rel] = describe(p)
        if stat.S_ISDIR(os.lstat(p).st_mode):
            for name in os.listdir(p):
                rec(rel + b"/" + name if rel else name, os.path.join(p, name))

    rec(b"", root)
    return out


def expected_diff(base, merged):
    exp = {}
    for path in set(base) | set(merged):
        b, m = base.get(path), merged.get(path)
        if b is None:
            exp[path] = "A"
        elif m is None:
            exp[path] = "D"
        elif b[0] != m[0] or b[1] != m[1]:
            exp[path] = "M"
        elif b[2:] != m[2:]:
            exp[path] = "m"
    return exp


def layerctl_diff(args, child, cache=True):
    cmd = [args.layerctl, "diff", child, "--json"] + ([] if cache else ["--no-cache"])
    doc = json.loads(run(cmd).stdout)
    got, raw = {}, []
    for c in doc["changes"]:
        path = bytes.fromhex(c["path_hex"]) if "path_hex" in c else c["path"].encode("utf-8")
        assert path.startswith(b"/")
        path = path[1:]
        raw.append((path, c["class"], c.get("vacuumable")))
        cls = c["class"]
        if cls == "=":
            continue
        if cls == "O":
            if not c["changes"]:
                continue
            cls = "m"
        if path in got:
            raise Failure("path reported twice: %r (%s and %s)" % (path, got[path], cls))
        got[path] = cls
    return got, raw, doc["summary"]


CLASS_NAMES = {"A": "added", "M": "modified", "m": "metadata", "D": "deleted", "O": "opaque", "=": "redundant"}


def check_summary(seed, raw, summary, upper):
    """The summary's counts are those of the list, and of the upper dir."""
    counts = collections.Counter(cls for _, cls, _ in raw)
    for cls, name in CLASS_NAMES.items():
        if summary[name]["count"] != counts[cls]:
            raise Failure("seed %d: summary says %d %s, the list has %d" % (seed, summary[name]["count"], name,
                                                                           counts[cls]))
    vac = sum(1 for _, _, v in raw if v)
    if summary["vacuum_entries"] != vac:
        raise Failure("seed %d: summary says %d vacuumable, the list has %d" % (seed, summary["vacuum_entries"], vac))
    n_upper = sum(len(dirs) + len(files) for _, dirs, files in os.walk(upper))
    if summary["upper_entries"] != n_upper:
        raise Failure("seed %d: summary says %d upper entries, the upper dir has %d" % (seed, summary["upper_entries"],
                                                                                      n_upper))


def upper_info(upper):
    """relative path -> (lstat, whiteout, opaque) of every entry of a layerctl upper dir."""
    out = {}
    for top, dirs, files in os.walk(upper):
        for name in dirs + files:
            p = os.path.join(top, name)
            st = os.lstat(p)
            whiteout = stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
            try:
                opaque = os.getxattr(p, b"trusted.overlay.opaque", follow_symlinks=False) == b"y"
            except OSError:
                opaque = False
            out[os.path.relpath(p, upper)] = (st, whiteout, opaque)
    return out


def expected_redundant(base, merged, upper):
    """Reference for class '=' (non-directories) and for 'vacuumable'.

    '=': in the upper dir (not a whiteout) and identical to the base in every
    compared field.  Vacuumable: '=', a single link, and every ancestor a
    directory of the base, not opaque in the upper dir.
    """
    same, vacuumable = set(), set()
    for p, (st, whiteout, _) in upper.items():
        if whiteout or stat.S_ISDIR(st.st_mode) or p not in base or base.get(p) != merged.get(p):
            continue
        same.add(p)
        parts = p.split(b"/")
        ancestors = [b"/".join(parts[:i]) for i in range(1, len(parts))]
        if st.st_nlink == 1 and all(base.get(a, (None,))[0] == stat.S_IFDIR and not upper.get(a, (0, 0, False))[2]
                                    for a in ancestors):
            vacuumable.add(p)
    return same, vacuumable


def link_groups(upper):
    """Sets of upper paths sharing an inode (hard links made in the child)."""
    by_ino = collections.defaultdict(set)
    for p, (st, _, _) in upper.items():
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            by_ino[st.st_ino].add(p)
    return sorted(sorted(g) for g in by_ino.values() if len(g) > 1)


def write_file(p, data):
    """Write a regular file; never open a FIFO or device (it would block)."""
    if os.path.lexists(p) and not stat.S_ISREG(os.lstat(p).st_mode):
        return
    with open(p, "wb") as fh:
        fh.write(data)


def copy_entry(src, dst):
    """Copy like `mv` across devices does: device nodes and FIFOs are made, never read."""
    st = os.lstat(src)
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        os.mknod(dst, st.st_mode, st.st_rdev)
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    else:
        shutil.copy2(src, dst, follow_symlinks=False)


def pick(rng, tree, want_type=None):
    paths = [p for p, d in tree.items() if p and (want_type is None or d[0] == want_type)]
    return rng.choice(sorted(paths)) if paths else None


def mutate(rng, m, steps):
    """Random changes through the merged view m (bytes path)."""
    for _ in range(steps):
        tree = walk(m)
        op = rng.randrange(20)
        dirs = [b""] + [p for p, d in tree.items() if p and d[0] == stat.S_IFDIR]
        parent = rng.choice(sorted(dirs))
        newp = os.path.join(m, parent, rand_name(rng)) if parent else os.path.join(m, rand_name(rng))
        f = pick(rng, tree, stat.S_IFREG)
        d = pick(rng, tree, stat.S_IFDIR)
        any_ = pick(rng, tree)
        full = lambda rel: os.path.join(m, rel)
        try:
            if op == 0 and not os.path.lexists(newp):  # create
                write_file(newp, rand_content(rng))
            elif op == 1 and f:  # overwrite (sometimes with the same bytes)
                old = open(full(f), "rb").read()
                data = old if rng.random() < 0.3 else rand_content(rng)
                write_file(full(f), data)
            elif op == 2 and f:  # append
                with open(full(f), "ab") as fh:
                    fh.write(b"more")
            elif op == 3 and f:  # truncate
                os.truncate(full(f), rng.choice([0, 1, 3]))
            elif op == 4 and any_:  # chmod, sometimes back again (a redundant copy)
                st = os.lstat(full(any_))
                if not stat.S_ISLNK(st.st_mode):
                    os.chmod(full(any_), rng.choice([0o600, 0o644, 0o755, 0o700]))
                    if rng.random() < 0.4:
                        os.chmod(full(any_), stat.S_IMODE(st.st_mode))
            elif op == 5 and any_:  # chown
                os.chown(full(any_), rng.randrange(3), rng.randrange(3), follow_symlinks=False)
            elif op == 6 and any_:  # touch
                os.utime(full(any_), (1000000000, rng.randrange(1000000000, 1700000000)), follow_symlinks=False)
            elif op == 7 and f and not os.path.lexists(newp):  # rename a file
                os.rename(full(f), newp)
            elif op == 8 and d and not os.path.lexists(newp):  # rename a dir
                src = full(d)
                if not (newp + b"/").startswith(src + b"/"):
                    try:
                        os.rename(src, newp)
                    except OSError:  # EXDEV with redirect_dir=off: copy like mv does
                        shutil.copytree(src, newp, symlinks=True, copy_function=copy_entry)
                        shutil.rmtree(src)
            elif op == 9 and any_:  # delete
                p = full(any_)
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)
            elif op == 10 and d:  # replace a dir with a file
                shutil.rmtree(full(d))
                write_file(full(d), rand_content(rng))
            elif op == 11 and any_ and not os.path.isdir(full(any_)):  # replace a file with a dir
                os.unlink(full(any_))
                os.mkdir(full(any_))
                if rng.random() < 0.5:
                    open(os.path.join(full(any_), b"inside"), "wb").close()
            elif op == 12 and d:  # a dir deleted and made again (opaque)
                shutil.rmtree(full(d))
                os.mkdir(full(d))
                if rng.random() < 0.5:
                    write_file(os.path.join(full(d), rand_name(rng)), rand_content(rng))
            elif op == 13 and f and not os.path.lexists(newp):  # hard link
                os.link(full(f), newp)
            elif op == 14:  # symlink, new or replacing
                target = rng.choice([b"a", b"../b", b"/x\ty"])
                if os.path.lexists(newp) and not os.path.isdir(newp):
                    os.unlink(newp)
                if not os.path.lexists(newp):
                    os.symlink(target, newp)
            elif op == 15 and any_:  # xattrs
                p = full(any_)
                if not os.path.islink(p):
                    if rng.random() < 0.7:
                        set_xattr(rng, p)
                    else:
                        for n in os.listxattr(p):
                            if n.startswith("user."):
                                os.removexattr(p, n)
            elif op == 16 and f:  # opened for writing, nothing written: a copy-up
                with open(full(f), "r+b"):
                    pass
            elif op == 18:  # a device node, new or replacing one
                if os.path.lexists(newp) and stat.S_ISCHR(os.lstat(newp).st_mode):
                    os.unlink(newp)
                if not os.path.lexists(newp):
                    os.mknod(newp, stat.S_IFCHR | 0o600, os.makedev(1, rng.choice([3, 5, 7])))
            elif op == 19:  # the root's own metadata (the upper dir's root inode)
                what = rng.randrange(3)
                if what == 0:
                    os.chmod(m, rng.choice([0o755, 0o700, 0o751]))
                elif what == 1:
                    os.chown(m, rng.randrange(2), rng.randrange(2))
                else:
                    set_xattr(rng, m)
            elif op == 17 and d:  # create a file in an existing dir
                write_file(os.path.join(full(d), rand_name(rng)), rand_content(rng))
            else:
                continue  # nothing to do it on in this tree
            OPS_DONE[op] += 1
        except shutil.Error:
            pass
        except OSError as e:
            if e.errno not in EXPECTED_ERRNOS:
                raise Failure("operation %s failed unexpectedly: %s" % (OP_NAMES[op], e))


# How a seed mounts its child: layerctl's own way, or by hand with options
# layerctl never uses, as other tools would have made the upper dir.
VARIANTS = {
    0: None,
    1: "index=off,userxattr",                      # user.overlay.* instead of trusted.overlay.*
    2: None,
    3: "index=off,redirect_dir=on,metacopy=on",    # redirects and metacopy files
}


def mount_variant(args, store, child, tree, fancy):
    root = os.path.join(store, "children", child, "root")
    if not fancy:
        run([args.layerctl, "mount", child])
        return root
    upper = os.path.join(store, "children", child, "upper")
    work = os.path.join(store, "children", child, "work")
    opts = "lowerdir=%s,upperdir=%s,workdir=%s,%s" % (tree, upper, work, fancy)
    run(["mount", "-t", "overlay", "overlay", "-o", opts, root])
    return root


def one_seed(args, seed):
    rng = random.Random(seed)
    work = os.path.join(args.work, "seed%d" % seed)
    store = os.path.join(work, "store")
    src = os.path.join(work, "src").encode()
    env = dict(os.environ, LAYERCTL_ROOT=store, LAYERCTL_RUNTIME_DIR=os.path.join(work, "run"))
    args.env = env
    global run
    base_run = run

    def run_env(cmd, check=True):
        return base_run(cmd, check=check, env=env)

    run = run_env
    try:
        make_base(rng, src)
        run([args.layerctl, "-q", "base", "import", "b", src.decode("utf-8", "surrogateescape")])
        run([args.layerctl, "-q", "child", "create", "c", "--base", "b"])
        tree = os.path.join(store, "bases", "b", "gens", "1", "tree")
        fancy = VARIANTS[seed % 4]
        merged = mount_variant(args, store, "c", tree, fancy).encode()
        mutate(rng, merged, rng.randrange(3, 16))
        # Past the hash cache's racy window (50 ms): the second diff must hit it.
        time.sleep(0.06)
        upper = os.path.join(store, "children", "c", "upper").encode()
        base_snap = walk(tree.encode())
        merged_snap = walk(merged)
        exp = expected_diff(base_snap, merged_snap)
        got, raw, summary = layerctl_diff(args, "c")
        if got != exp:
            lines = []
            for p in sorted(set(got) | set(exp)):
                if got.get(p) != exp.get(p):
                    lines.append("  %r: layerctl %s, expected %s" % (p, got.get(p), exp.get(p)))
            raise Failure("seed %d (%s mount): diff disagrees:\n%s" % (seed, fancy or "layerctl",
                                                                         "\n".join(lines)))
        check_summary(seed, raw, summary, upper)
        if not fancy:
            uinfo = upper_info(upper)
            same, vacuumable = expected_redundant(base_snap, merged_snap, uinfo)
            got_same = {p for p, cls, _ in raw if cls == "=" and not stat.S_ISDIR(os.lstat(os.path.join(upper, p)).st_mode)}
            got_vac = {p for p, cls, vac in raw if vac and cls == "=" and p in got_same}
            if got_same != same:
                raise Failure("seed %d: '=' entries: layerctl %r, expected %r" % (seed, sorted(got_same), sorted(same)))
            if got_vac != vacuumable:
                raise Failure("seed %d: vacuumable: layerctl %r, expected %r" % (seed, sorted(got_vac),
                                                                                sorted(vacuumable)))
            args.redundant_seen += len(same)
            args.vacuumable_seen += len(vacuumable)
        groups = link_groups(upper_info(upper))
        got2, raw2, summary2 = layerctl_diff(args, "c")
        if raw2 != raw:
            raise Failure("seed %d: second run (hash cache) differs from the first" % seed)
        # (files with overlay xattrs, as metacopy ones, are never cached: only layerctl's own mounts)
        if not fancy and (summary2["hashed_files"] != 0 or
                          summary2["cache_hits"] != summary["hashed_files"] + summary["cache_hits"]):
            raise Failure("seed %d: second run did not use the hash cache: first %r, second %r" % (seed, summary,
                                                                                                   summary2))
        args.cache_hits += summary2["cache_hits"]
        got3, raw3, _ = layerctl_diff(args, "c", cache=False)
        if raw3 != raw:
            raise Failure("seed %d: run without cache differs" % seed)
        # vacuum must leave the merged view exactly as it was
        run(["umount", merged]) if fancy else run([args.layerctl, "-q", "umount", "c"])
        run([args.layerctl, "-q", "vacuum", "c"])
        if link_groups(upper_info(upper)) != groups:
            raise Failure("seed %d: vacuum changed the hard-link groups of the upper dir: %r -> %r" % (
                seed, groups, link_groups(upper_info(upper))))
        args.link_groups_seen += len(groups)
        merged = mount_variant(args, store, "c", tree, fancy).encode()
        after = walk(merged)
        if after != merged_snap:
            diffs = [p for p in set(after) | set(merged_snap) if after.get(p) != merged_snap.get(p)]
            raise Failure("seed %d: vacuum changed the merged view at %r" % (seed, sorted(diffs)[:5]))
        _, raw4, _ = layerctl_diff(args, "c")
        left = [p for p, cls, vac in raw4 if cls == "=" and vac]
        if left:
            raise Failure("seed %d: vacuum left vacuumable copies %r" % (seed, left[:5]))
        run(["umount", merged]) if fancy else run([args.layerctl, "-q", "umount", "c"])
        if args.verbose:
            print("seed %d ok: %d changes" % (seed, len(got)))
        return len(got)
    finally:
        run = base_run
        subprocess.run(["umount", "-l", os.path.join(store, "children", "c", "root")], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layerctl", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    args.redundant_seen = args.vacuumable_seen = args.cache_hits = args.link_groups_seen = 0
    total = 0
    for seed in range(args.first, args.first + args.seeds):
        try:
            total += one_seed(args, seed)
        except Failure as e:
            print(str(e))
            return 1
    print("%d seeds agree (%d changes checked; %d '=', %d vacuumable, %d cache hits, %d hard-link groups)" % (
        args.seeds, total, args.redundant_seen, args.vacuumable_seen, args.cache_hits, args.link_groups_seen))
    # Coverage must not drop silently: with enough seeds every kind of
    # operation ran at least once, and every reference had something to check.
    if args.seeds >= 50:
        never = [OP_NAMES[op] for op in OP_NAMES if OPS_DONE[op] == 0]
        if never:
            print("operations that never succeeded: %s" % ", ".join(never))
            return 1
        if not (args.redundant_seen and args.vacuumable_seen and args.cache_hits and args.link_groups_seen):
            print("a check never had anything to check")
            return 1
    print("operations done: " + ", ".join("%s %d" % (OP_NAMES[op], OPS_DONE[op]) for op in sorted(OP_NAMES)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
