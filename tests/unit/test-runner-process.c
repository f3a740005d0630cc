/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Runner pieces that act on the calling process, each tried in a forked
 * child: the capability bounding set, switching user from a passwd file in
 * a chroot, the pty and fd passing, the stub init's exit status.  Parts that
 * need root say so and pass when run unprivileged.
 */
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>

#include "src/runner/runner.h"
#include "tests/unit/test.h"

static int in_child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(fn(arg));
	int ws;
	waitpid(pid, &ws, 0);
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static uint64_t status_hex(const char *key)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned long long v = 0;
	size_t n = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, n) == 0)
			v = strtoull(line + n, NULL, 16);
	if (f)
		fclose(f);
	return v;
}

static int drop_caps(void *arg)
{
	uint64_t keep = *(uint64_t *)arg, before = status_hex("CapBnd:");
	const char *step;
	if (runner_caps_apply(keep, &step) < 0)
		return 1;
	if (status_hex("CapBnd:") != (before & keep))
		return 2;
	if (status_hex("CapEff:") & ~keep)
		return 3;
	if (status_hex("CapInh:") || status_hex("CapAmb:"))
		return 4;
	return 0;
}

TEST(bounding_set_is_cut_to_the_kept_ones)
{
	if (geteuid() != 0)
		return;
	struct run_config c = { .log_fd = -1 };
	uint64_t keep = runner_config_caps(&c);
	CHECK_INT(in_child(drop_caps, &keep), 0);
	keep = UINT64_C(1) << CAP_KILL;
	CHECK_INT(in_child(drop_caps, &keep), 0);
}

static char jail[64];

static int become_user(void *arg)
{
	char *home = NULL;
	const char *step;
	if (chroot(jail) < 0 || chdir("/") < 0)
		return 10;
	int r = runner_switch_user(arg, &home, &step);
	if (r == -ESRCH)
		return 20;
	if (r < 0)
		return 11;
	gid_t groups[8];
	int n = getgroups(8, groups);
	/* The kernel keeps supplementary groups sorted. */
	if (getuid() != 1000 || geteuid() != 1000 || getgid() != 100 || n != 2 ||
	    !((groups[0] == 27 && groups[1] == 100) || (groups[0] == 100 && groups[1] == 27)))
		return 12;
	if (!home || strcmp(home, "/home/ann") != 0)
		return 13;
	if (status_hex("CapEff:") != 0)
		return 14;   /* a non-root user keeps no capability */
	return 0;
}

TEST(switch_user_reads_the_containers_passwd)
{
	if (geteuid() != 0)
		return;
	snprintf(jail, sizeof(jail), "/tmp/test-runner-process.XXXXXX");
	CHECK(mkdtemp(jail) != NULL);
	char p[128];
	snprintf(p, sizeof(p), "%s/etc", jail);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/etc/passwd", jail);
	FILE *f = fopen(p, "w");
	fputs("root:x:0:0::/root:/bin/sh\nann:x:1000:100::/home/ann:/bin/sh\n", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/etc/group", jail);
	f = fopen(p, "w");
	fputs("users:x:100:\nsudo:x:27:ann,bob\nother:x:50:bob\n", f);
	fclose(f);
	CHECK_INT(in_child(become_user, "ann"), 0);
	CHECK_INT(in_child(become_user, "1000"), 0);
	CHECK_INT(in_child(become_user, "nobody"), 20);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", jail);
	CHECK_INT(system(cmd), 0);
}

TEST(pty_and_fd_passing)
{
	char *slave = NULL;
	int master = runner_pty_open(&slave);
	if (master == -ENOENT || master == -EACCES)
		return;   /* no /dev/pts/ptmx here */
	CHECK(master >= 0);
	CHECK(slave && strncmp(slave, "/dev/pts/", 9) == 0);
	int sv[2];
	CHECK_INT(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	CHECK_INT(runner_fd_send(sv[0], master), 0);
	int got = runner_fd_recv(sv[1]);
	CHECK(got >= 0 && got != master);
	int s = open(slave, O_RDWR | O_NOCTTY);
	CHECK(s >= 0);
	struct termios t;
	tcgetattr(s, &t);
	cfmakeraw(&t);
	tcsetattr(s, TCSANOW, &t);
	CHECK_INT(write(s, "ping", 4), 4);
	char buf[8] = "";
	CHECK_INT(read(got, buf, sizeof(buf)), 4);
	CHECK(memcmp(buf, "ping", 4) == 0);
	/* Nothing to receive once the sender is gone. */
	close(sv[0]);
	CHECK(runner_fd_recv(sv[1]) < 0);
	close(sv[1]);
	close(s);
	close(got);
	close(master);
	free(slave);
}

static int stub_exit(void *arg)
{
	sigset_t set;
	runner_pid1_signal_set(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	pid_t pid = fork();
	if (pid == 0) {
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		if (arg)
			pause();   /* until the forwarded signal ends it */
		_exit(42);
	}
	if (arg)
		kill(getpid(), SIGTERM);   /* to the stub, which forwards it */
	runner_pid1_stub(pid, -1);   /* no gate: the payload waits for nothing */
}

TEST(stub_forwards_signals_and_returns_the_status)
{
	CHECK_INT(in_child(stub_exit, NULL), 42);
	CHECK_INT(in_child(stub_exit, "signal"), 128 + SIGTERM);
}

TEST_MAIN()
