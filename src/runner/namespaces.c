/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* New namespaces (clone3), the loopback of a private network, joining (setns). */
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "src/runner/cap-dl.h"
#include "src/runner/runner.h"

/*
 * clone3 rather than unshare + fork: one call gives the new namespaces, a
 * pidfd (so nobody ever signals a recycled pid) and, with CLONE_INTO_CGROUP,
 * the container's cgroup from its first instruction (crun does the same).
 * Returns like fork(): 0 in the child.
 */
pid_t runner_clone_into_namespaces(unsigned long long flags, int cgroup_fd, int *ret_pidfd)
{
	int pidfd = -1;
	/*
	 * Libraries are loaded on first use (src/basic/dlopen-lib.h); the
	 * child drops capabilities with libcap after it entered the
	 * container's root, where dlopen() would find the container's files.
	 * So load it here, and have the child refuse to load anything.
	 */
	lc_dl_need(&lc_cap_lib);
	struct clone_args args = {
		.flags = flags | CLONE_PIDFD | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0),
		.pidfd = (uint64_t)(uintptr_t)&pidfd,
		.exit_signal = SIGCHLD,
		.cgroup = cgroup_fd >= 0 ? (uint64_t)cgroup_fd : 0,
	};
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0)
		return -errno;
	if (pid == 0)
		lc_dl_forbid();
	if (pid > 0)
		*ret_pidfd = pidfd;
	return (pid_t)pid;
}

/* A private network namespace starts with lo down: bring it up, nothing else. */
int runner_loopback_up(void)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { .ifr_name = "lo" };
	if (fd < 0)
		return -errno;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return -errno;
	return 0;
}

/*
 * setns(pidfd, flags) joins all of them atomically (Linux 5.8+).  The mount
 * namespace's root is followed down to the top mount at "/", which after
 * pivot_root is the container's root, so no chroot is needed afterwards.
 */
int runner_join_namespaces(int pidfd, bool net)
{
	int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP;
	int other = runner_userns_of_pidfd_is_other(pidfd);
	if (other < 0)
		return other;
	if (net)
		flags |= CLONE_NEWNET;
	/* A container in user-namespace mode: its user namespace too, first (the kernel orders it so). */
	if (other)
		flags |= CLONE_NEWUSER;
	if (setns(pidfd, flags) < 0)
		return -errno;
	if (other && runner_userns_become_root() < 0)
		return -errno;
	return chdir("/") < 0 ? -errno : 0;
}
