#!/usr/bin/env python3
"""Print a tree as sorted lines, one entry each: what refresh must keep or
restore exactly.  Type, mode, owner, content hash, symlink target, device
number and every xattr (overlay's own included: whiteouts and opaque dirs
are part of an upper dir's meaning) except overlay.impure, a cache the
kernel sets and drops by itself (a dir's readdir finding no copy-ups in it
removes it).  Never mtime or inode numbers.

    treesnap.py DIR          print the snapshot
    treesnap.py DIR --view   leave out overlay xattrs (a merged view)
"""
import hashlib
import os
import stat
import sys


def entry_line(root, rel, view):
    p = os.path.join(root, rel) if rel else root
    st = os.lstat(p)
    kind = stat.S_IFMT(st.st_mode)
    extra = ""
    if stat.S_ISREG(st.st_mode):
        h = hashlib.sha1()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 16), b""):
                h.update(chunk)
        extra = h.hexdigest()
    elif stat.S_ISLNK(st.st_mode):
        extra = os.readlink(os.fsencode(p)).hex()
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        extra = "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
    xattrs = []
    try:
        names = os.listxattr(p, follow_symlinks=False)
    except OSError:
        names = []
    for n in sorted(names):
        if view and (n.startswith("trusted.overlay.") or n.startswith("user.overlay.")):
            continue
        if n.endswith(".overlay.impure"):
            continue
        try:
            v = os.getxattr(p, n, follow_symlinks=False)
        except OSError:
            continue
        xattrs.append("%s=%s" % (n, v.hex()))
    return "%s %o %o %d:%d %s %s" % (os.fsencode(rel or ".").hex(), kind >> 12, stat.S_IMODE(st.st_mode),
                                     st.st_uid, st.st_gid, extra, ",".join(xattrs))


def snapshot(root, view=False):
    lines = [entry_line(root, "", view)]
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for n in sorted(dirnames + filenames):
            rel = os.path.relpath(os.path.join(dirpath, n), root)
            lines.append(entry_line(root, rel, view))
    return sorted(lines)


if __name__ == "__main__":
    for line in snapshot(sys.argv[1], "--view" in sys.argv[2:]):
        print(line)
