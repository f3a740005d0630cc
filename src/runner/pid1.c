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
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "src/runner/runner.h"

int exit_status_of(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 1;
}

/* The signals a stub forwards (and keeps blocked until it waits for them). */
void pid1_signal_set(sigset_t *set)
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

_Noreturn void pid1_stub(pid_t payload)
{
	sigset_t set;
	pid1_signal_set(&set);
	/*
	 * The stub is the host's layerctl binary: not dumpable, so the
	 * container can neither ptrace it nor open it through /proc/1/exe.
	 */
	prctl(PR_SET_DUMPABLE, 0);
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
				_exit(exit_status_of(status));
	}
}
