/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The seccomp filter, loaded for real in forked children: exported by one
 * side, loaded from a pipe by the other (as run does), cached in a runtime
 * dir, and what it denies.  Needs no privileges (plain = no_new_privs).
 */
#include <fcntl.h>
#include <linux/reboot.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "src/runner/runner.h"
#include "tests/unit/test.h"

/* Run fn in a child under the filter of profile p (passed through a pipe); its exit code. */
static int under_filter(enum seccomp_profile p, const char *runtime, int (*fn)(void))
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[1]);
		if (runner_seccomp_load_from(p, fds[0]) < 0)
			_exit(100);
		_exit(fn());
	}
	close(fds[0]);
	int r = runner_seccomp_export_to(p, runtime, fds[1]);
	close(fds[1]);
	int ws;
	waitpid(pid, &ws, 0);
	if (r < 0)
		return -2;
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 200;
}

static int eperm(long r) { return r < 0 && errno == EPERM; }

static int denied_calls(void)
{
	int bad = 0;
	bad |= !eperm(syscall(SYS_keyctl, 0, -3, 0)) << 0;
	bad |= !eperm(syscall(SYS_init_module, "x", 1UL, "")) << 1;
	bad |= !eperm(syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, 0)) << 2;
	bad |= !eperm(syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, 0, LINUX_REBOOT_CMD_POWER_OFF, NULL)) << 3;
	bad |= !eperm(unshare(CLONE_NEWUSER)) << 4;
	bad |= !(syscall(SYS_clone3, NULL, 0) < 0 && errno == ENOSYS) << 5;
	bad |= prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1;
	return bad;
}

static int device_nodes(void)
{
	char path[] = "/tmp/test-runner-seccomp.XXXXXX";
	int bad = 0;
	if (!mkdtemp(path))
		return 99;
	char node[64];
	snprintf(node, sizeof(node), "%s/n", path);
	bad |= !eperm(mknod(node, S_IFCHR | 0600, makedev(1, 11))) << 0;
	bad |= !eperm(mknodat(AT_FDCWD, node, S_IFBLK | 0600, makedev(7, 0))) << 1;
	bad |= !eperm(mknodat(AT_FDCWD, node, S_IFBLK | 0600, 0)) << 2;
	/* A fifo and a regular file stay possible (no privilege needed). */
	bad |= (mknod(node, S_IFIFO | 0600, 0) != 0) << 3;
	unlink(node);
	rmdir(path);
	return bad;
}

static int boot_allows_reboot_syscall(void)
{
	/* Not EPERM from the filter: the kernel's own answer (EINVAL for the bad magic, or EPERM without CAP_SYS_BOOT). */
	long r = syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, 0, LINUX_REBOOT_CMD_POWER_OFF, NULL);
	if (r == 0)
		return 1;
	if (errno == EINVAL)
		return 0;
	return geteuid() != 0 ? 0 : 2;
}

TEST(plain_profile_denies)
{
	CHECK_INT(under_filter(SECCOMP_PLAIN, NULL, denied_calls), 0);
}

TEST(device_nodes_refused_but_fifos_allowed)
{
	CHECK_INT(under_filter(SECCOMP_PLAIN, NULL, device_nodes), 0);
}

TEST(boot_profile_keeps_reboot)
{
	if (geteuid() != 0)
		return;   /* without CAP_SYS_ADMIN a filter needs no_new_privs, which the boot profile does not set */
	CHECK_INT(under_filter(SECCOMP_BOOT, NULL, boot_allows_reboot_syscall), 0);
}

TEST(filter_is_cached_in_the_runtime_dir)
{
	char dir[] = "/tmp/test-runner-seccomp.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(under_filter(SECCOMP_PLAIN, dir, denied_calls), 0);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "test \"$(ls %s | grep -c '^seccomp-plain-.*\\.bpf$')\" = 1", dir);
	CHECK_INT(system(cmd), 0);
	/* A stale filter of another build is pruned when a new one is written. */
	snprintf(cmd, sizeof(cmd), "for f in %s/seccomp-plain-*.bpf; do mv $f %s/seccomp-plain-0000000000000000.bpf; done", dir, dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(under_filter(SECCOMP_PLAIN, dir, denied_calls), 0);
	snprintf(cmd, sizeof(cmd), "test \"$(ls %s | grep -c '^seccomp-plain-.*\\.bpf$')\" = 1 && ! test -e %s/seccomp-plain-0000000000000000.bpf", dir, dir);
	CHECK_INT(system(cmd), 0);
	/* Second time from the cache: same behaviour. */
	CHECK_INT(under_filter(SECCOMP_PLAIN, dir, denied_calls), 0);
	/* A corrupt cache (not a whole number of instructions) is rebuilt, not trusted. */
	snprintf(cmd, sizeof(cmd), "for f in %s/seccomp-plain-*.bpf; do printf abc >$f; done", dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(under_filter(SECCOMP_PLAIN, dir, denied_calls), 0);
	/* An allow-all program (BPF_RET|BPF_K, SECCOMP_RET_ALLOW) written over it is not loaded either. */
	snprintf(cmd, sizeof(cmd), "for f in %s/seccomp-plain-*.bpf; do printf '\\006\\000\\000\\000\\000\\000\\377\\177' >$f; done", dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(under_filter(SECCOMP_PLAIN, dir, denied_calls), 0);
	/* Nor a whole cache file in a directory others may write to. */
	snprintf(cmd, sizeof(cmd), "chmod 0777 %s", dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(under_filter(SECCOMP_PLAIN, dir, denied_calls), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
}

TEST(empty_pipe_means_no_filter_and_fails)
{
	int fds[2];
	CHECK_INT(pipe(fds), 0);
	close(fds[1]);
	CHECK_INT(runner_seccomp_load_from(SECCOMP_PLAIN, fds[0]), -EBADMSG);
	close(fds[0]);
}

TEST_MAIN()
