/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The syscall filter (libseccomp).  A deny list on top of the capability
 * bounding set, aimed at what capabilities do not cover or what the
 * container keeps a capability for:
 *
 *  - open_by_handle_at: the "shocker" escape (CAP_DAC_READ_SEARCH is kept);
 *  - kernel modules, kexec, swap, bpf, perf, keyrings, fanotify, quota,
 *    accounting, I/O ports: host-wide state a container must not touch;
 *  - reboot(2) for plain commands: in a PID namespace it "only" kills the
 *    namespace's init, but a command is not an init; with --boot it stays
 *    allowed because that is how systemd/busybox init end a container;
 *  - mknod/mknodat of block devices and of character devices other than
 *    0:0 (overlayfs whiteouts): the runner makes /dev's nodes itself before
 *    the filter is loaded, and the root is mounted nodev besides, so a node
 *    made inside is refused twice (defence in depth, no devices cgroup
 *    needed, which a hybrid cgroup host would make awkward);
 *  - TIOCSTI/TIOCLINUX ioctls: typing into a terminal shared with the host
 *    (CVE-2017-5226 in bubblewrap);
 *  - for plain commands, new user namespaces: inside one a process gets
 *    every capability again and could mount file systems; clone3 cannot be
 *    inspected, so it answers ENOSYS and libc falls back to clone.
 *
 * Every denied call fails with EPERM (clone3: ENOSYS).  The filter covers
 * the compat ABIs too (x86 and x32 on x86_64), or a 32-bit binary would walk
 * around it.
 */
#include <linux/sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "src/runner/runner.h"

static const char *const always_denied[] = {
	"open_by_handle_at", "kexec_load", "kexec_file_load", "init_module", "finit_module",
	"delete_module", "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "swapon",
	"swapoff", "fanotify_init", "quotactl", "quotactl_fd", "acct", "iopl", "ioperm", "uselib",
	"lookup_dcookie", "vm86", "vm86old", "_sysctl", "nfsservctl", "create_module",
	"get_kernel_syms", "query_module",
};

static void seccomp_freep(scmp_filter_ctx *c) { if (*c) seccomp_release(*c); }

static int deny(scmp_filter_ctx c, const char *name, int err, unsigned n, const struct scmp_arg_cmp *cmp)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		return 0;   /* unknown on this architecture: nothing to deny */
	int r = seccomp_rule_add_array(c, SCMP_ACT_ERRNO(err), nr, n, cmp);
	/* -EDOM and friends: a call that does not exist on one of the ABIs. */
	return r == -EDOM || r == -EOPNOTSUPP ? 0 : r;
}

static int add_arches(scmp_filter_ctx c)
{
	uint32_t native = seccomp_arch_native();
	uint32_t extra[2] = { 0, 0 };
	if (native == SCMP_ARCH_X86_64) {
		extra[0] = SCMP_ARCH_X86;
		extra[1] = SCMP_ARCH_X32;
	} else if (native == SCMP_ARCH_AARCH64)
		extra[0] = SCMP_ARCH_ARM;
	for (size_t i = 0; i < ELEMENTSOF(extra); i++)
		if (extra[i]) {
			int r = seccomp_arch_add(c, extra[i]);
			if (r < 0 && r != -EEXIST)
				return r;
		}
	return 0;
}

static int deny_device_nodes(scmp_filter_ctx c)
{
	/* mknod(path, mode, dev) and mknodat(dirfd, path, mode, dev). */
	static const struct { const char *name; unsigned mode_arg; } calls[] = { { "mknod", 1 }, { "mknodat", 2 } };
	int r;
	for (size_t i = 0; i < ELEMENTSOF(calls); i++) {
		unsigned m = calls[i].mode_arg;
		struct scmp_arg_cmp blk[] = { { m, SCMP_CMP_MASKED_EQ, S_IFMT, S_IFBLK } };
		struct scmp_arg_cmp chr[] = { { m, SCMP_CMP_MASKED_EQ, S_IFMT, S_IFCHR },
					      { m + 1, SCMP_CMP_NE, 0, 0 } };
		if ((r = deny(c, calls[i].name, EPERM, 1, blk)) < 0 || (r = deny(c, calls[i].name, EPERM, 2, chr)) < 0)
			return r;
	}
	return 0;
}

int seccomp_apply(enum seccomp_profile p)
{
	_cleanup_(seccomp_freep) scmp_filter_ctx c = seccomp_init(SCMP_ACT_ALLOW);
	int r;

	if (!c)
		return -ENOMEM;
	/* Plain commands get no_new_privs (set here by libseccomp); an init keeps setuid programs working. */
	if ((r = seccomp_attr_set(c, SCMP_FLTATR_CTL_NNP, p == SECCOMP_PLAIN)) < 0)
		return r;
	if ((r = add_arches(c)) < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(always_denied); i++)
		if ((r = deny(c, always_denied[i], EPERM, 0, NULL)) < 0)
			return r;
	if ((r = deny_device_nodes(c)) < 0)
		return r;
	struct scmp_arg_cmp sti[] = { { 1, SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI } };
	struct scmp_arg_cmp linux_[] = { { 1, SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCLINUX } };
	if ((r = deny(c, "ioctl", EPERM, 1, sti)) < 0 || (r = deny(c, "ioctl", EPERM, 1, linux_)) < 0)
		return r;
	if (p == SECCOMP_PLAIN) {
		struct scmp_arg_cmp userns[] = { { 0, SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER } };
		if ((r = deny(c, "reboot", EPERM, 0, NULL)) < 0 ||
		    (r = deny(c, "unshare", EPERM, 1, userns)) < 0 ||
		    (r = deny(c, "clone", EPERM, 1, userns)) < 0 ||
		    (r = deny(c, "clone3", ENOSYS, 0, NULL)) < 0)
			return r;
	}
	if (p == SECCOMP_PLAIN && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return seccomp_load(c);
}
