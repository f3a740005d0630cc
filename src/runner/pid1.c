/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The stub init of plain commands.  PID 1 of a namespace is special: the
 * kernel drops signals it has no handler for, and orphans of the namespace
 * are re-parented to it.  A shell or a daemon run as PID 1 would therefore
 * ignore Ctrl-C and leave zombies behind; so the command runs as PID 2 under
 * this stub, which forwards every signal it gets to the command, reaps
 * whatever dies, and exits with the command's status when the command ends
 * (the kernel then kills what is left in the namespace).
 */
#include <fcntl.h>
#include <stddef.h>
#include <linux/landlock.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "src/basic/proctitle.h"
#include "src/runner/runner.h"

int runner_exit_status_of(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 1;
}

/* The signals a stub forwards (and keeps blocked until it waits for them). */
void runner_pid1_signal_set(sigset_t *set)
{
	sigfillset(set);
	/* Synchronous faults stay deliverable; SIGKILL/SIGSTOP cannot be blocked anyway. */
	sigdelset(set, SIGSEGV);
	sigdelset(set, SIGBUS);
	sigdelset(set, SIGILL);
	sigdelset(set, SIGFPE);
	sigdelset(set, SIGTRAP);
	sigdelset(set, SIGSYS);
}

/*
 * The stub is a fork of the host's layerctl: its argv and environment
 * strings are the host's, and /proc/1/cmdline and /proc/1/environ show the
 * memory between the kernel's arg_start/arg_end and env_start/env_end,
 * which clearenv() does not touch.  Point both at a fresh page holding
 * "layerctl-init" and an empty environment (PR_SET_MM, CAP_SYS_RESOURCE),
 * then wipe the old strings (if PR_SET_MM is refused, the wiped area itself
 * is what the files show: the name, then NULs).  Re-executing a clean stub
 * would need a static binary inside the container; this keeps one binary.
 */
static void scrub_host_strings(void)
{
	static const char name[] = "layerctl-init";
	unsigned long v[4];
	if (lc_arg_env_area(v) < 0)
		return;
	char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page != MAP_FAILED) {
		memcpy(page, name, sizeof(name));
		unsigned long a = (unsigned long)page;
		if (lc_set_mm_pair(PR_SET_MM_ARG_START, PR_SET_MM_ARG_END, a, a + sizeof(name)) < 0 ||
		    lc_set_mm_pair(PR_SET_MM_ENV_START, PR_SET_MM_ENV_END, a + sizeof(name), a + sizeof(name)) < 0) {
			/* keep the old area; it is wiped below */
		}
	}
	/* The area is ours (our own stack); argv[] and environ point into it and are not used any more. */
	memset((void *)v[0], 0, v[1] - v[0]);
	memset((void *)v[2], 0, v[3] - v[2]);
	if (v[1] - v[0] >= sizeof(name))
		memcpy((void *)v[0], name, sizeof(name));
}

/* struct landlock_ruleset_attr of Linux 6.12 (ABI 6), which older headers lack. */
struct ruleset_attr_v6 {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};
#define SCOPE_SIGNAL (1ULL << 1)

int runner_pid1_fence(void)
{
	struct ruleset_attr_v6 attr = {};
	size_t size = sizeof(attr);
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 2)
		return abi < 0 && errno != ENOSYS && errno != EOPNOTSUPP ? -errno : 0;   /* no Landlock: nothing to do */
	if (abi >= 6)
		/* A scope only: no file system rule at all, and signals to the stub were pointless anyway. */
		attr.scoped = SCOPE_SIGNAL;
	else {
		/*
		 * Older kernels need a handled file access.  Block devices are
		 * refused by seccomp and nodev already, so handling MAKE_BLOCK
		 * changes nothing; REFER (denied by any ruleset unless granted)
		 * is granted below the root.
		 */
		attr.handled_access_fs = LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_REFER;
		size = offsetof(struct ruleset_attr_v6, handled_access_net);
	}
	_cleanup_close_ int rs = syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (rs < 0)
		return -errno;
	if (abi < 6) {
		_cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		struct landlock_path_beneath_attr pb = { .allowed_access = LANDLOCK_ACCESS_FS_REFER, .parent_fd = root };
		if (root < 0 || syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
			return -errno;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(SYS_landlock_restrict_self, rs, 0) < 0)
		return -errno;
	return 0;
}

_Noreturn void runner_pid1_stub(pid_t payload, int gate)
{
	sigset_t set;
	runner_pid1_signal_set(&set);
	/*
	 * Not dumpable: the files in /proc/1 belong to root and the container's users
	 * cannot ptrace it.  Root keeps CAP_SYS_PTRACE, which beats that;
	 * what stops root is the Landlock domain of the command (runner_pid1_fence).
	 */
	prctl(PR_SET_DUMPABLE, 0);
	scrub_host_strings();
	close(gate);   /* the command may start: /proc/1 shows nothing of ours but 0, 1, 2 */
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);
		if (sig < 0)
			continue;   /* EINTR */
		if (sig != SIGCHLD) {
			kill(payload, sig);
			continue;
		}
		int status;
		pid_t p;
		while ((p = waitpid(-1, &status, WNOHANG)) > 0)
			if (p == payload)
				_exit(runner_exit_status_of(status));
	}
}
