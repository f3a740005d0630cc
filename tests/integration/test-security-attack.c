/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The attacker of tests/integration/test-security.sh: one static binary, run
 * once on the host (to show each snippet works there) and once as root
 * inside a child.  Prints "ok" (plus what it read) or the errno's name.
 *
 *   attack mount DIR                 mount a tmpfs on DIR
 *   attack handle-save FILE OUT      name_to_handle_at(FILE) into OUT
 *   attack handle-open DIR IN        open_by_handle_at(DIR's fs, handle IN), print 1st line
 *   attack write PATH DATA           open PATH for writing and write DATA
 *   attack module                    init_module of a bogus image
 *   attack reboot                    reboot(2) with a wrong second magic
 *   attack mknod-read PATH c|b MAJ MIN   mknod then read 8 KiB
 *   attack read PATH                 open PATH and read 8 KiB
 *   attack chroot-escape PATH        the classic chroot .. escape, then stat PATH
 *   attack stat PATH                 stat PATH
 *   attack kill PID                  kill(PID, 0)
 *   attack sethostname NAME
 *   attack userns                    unshare(CLONE_NEWUSER)
 *   attack keyctl | bpf | perf | kexec | swapon
 *   attack ptrace PID                PTRACE_ATTACH to PID (then detach)
 *   attack getfd PID FD              pidfd_open(PID) + pidfd_getfd(FD)
 *   attack environ PID               print /proc/PID/environ, NULs as newlines
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int result(long r)
{
	if (r < 0) {
		printf("%s\n", strerrorname_np(errno));
		return 1;
	}
	printf("ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	if (!strcmp(what, "mount") && argc == 3) {
		int r = mount("none", argv[2], "tmpfs", 0, NULL);
		if (r == 0)
			umount(argv[2]);
		return result(r);
	}
	if (!strcmp(what, "handle-save") && argc == 4) {
		struct file_handle *h = malloc(sizeof(*h) + MAX_HANDLE_SZ);
		int mnt;
		h->handle_bytes = MAX_HANDLE_SZ;
		if (name_to_handle_at(AT_FDCWD, argv[2], h, &mnt, 0) < 0)
			return result(-1);
		FILE *f = fopen(argv[3], "w");
		fwrite(h, sizeof(*h) + h->handle_bytes, 1, f);
		fclose(f);
		return result(0);
	}
	if (!strcmp(what, "handle-open") && argc == 4) {
		struct file_handle *h = malloc(sizeof(*h) + MAX_HANDLE_SZ);
		FILE *f = fopen(argv[3], "r");
		if (!f || fread(h, 1, sizeof(*h) + MAX_HANDLE_SZ, f) < sizeof(*h))
			return result(-1);
		int dir = open(argv[2], O_RDONLY | O_DIRECTORY);
		int fd = open_by_handle_at(dir, h, O_RDONLY);
		if (fd < 0)
			return result(-1);
		char buf[256] = "";
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		printf("ok %s", buf);
		return 0;
	}
	if (!strcmp(what, "write") && argc == 4) {
		int fd = open(argv[2], O_WRONLY);
		if (fd < 0)
			return result(-1);
		return result(write(fd, argv[3], strlen(argv[3])));
	}
	if (!strcmp(what, "module"))
		/* A bogus image: the host's kernel gets past the permission check and rejects it. */
		return result(syscall(SYS_init_module, "not an ELF module", 17UL, ""));
	if (!strcmp(what, "reboot"))
		/* A wrong second magic: the host answers EINVAL after its permission check, reboots nothing. */
		return result(syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, 0x12345678, LINUX_REBOOT_CMD_POWER_OFF, NULL));
	if (!strcmp(what, "mknod-read") && argc == 6) {
		mode_t type = argv[3][0] == 'b' ? S_IFBLK : S_IFCHR;
		if (mknod(argv[2], type | 0600, makedev(atoi(argv[4]), atoi(argv[5]))) < 0)
			return result(-1);
		int fd = open(argv[2], O_RDONLY | O_NONBLOCK);
		if (fd < 0)
			return result(-1);
		char buf[8192];
		return result(read(fd, buf, sizeof(buf)));
	}
	if (!strcmp(what, "read") && argc == 3) {
		int fd = open(argv[2], O_RDONLY | O_NONBLOCK);
		if (fd < 0)
			return result(-1);
		char buf[8192];
		return result(read(fd, buf, sizeof(buf)));
	}
	if (!strcmp(what, "chroot-escape") && argc == 3) {
		struct stat st;
		mkdir("/tmp/.jail", 0700);
		if (chroot("/tmp/.jail") < 0)
			return result(-1);
		for (int i = 0; i < 64; i++)
			if (chdir("..") < 0)
				return result(-1);
		if (chroot(".") < 0)
			return result(-1);
		return result(stat(argv[2], &st));
	}
	if (!strcmp(what, "stat") && argc == 3) {
		struct stat st;
		return result(stat(argv[2], &st));
	}
	if (!strcmp(what, "kill") && argc == 3)
		return result(kill(atoi(argv[2]), 0));
	if (!strcmp(what, "sethostname") && argc == 3)
		return result(sethostname(argv[2], strlen(argv[2])));
	if (!strcmp(what, "userns"))
		return result(unshare(CLONE_NEWUSER));
	if (!strcmp(what, "keyctl"))
		return result(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0));
	if (!strcmp(what, "bpf")) {
		union bpf_attr a;
		memset(&a, 0, sizeof(a));
		a.map_type = BPF_MAP_TYPE_ARRAY;
		a.key_size = 4;
		a.value_size = 4;
		a.max_entries = 1;
		return result(syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof(a)));
	}
	if (!strcmp(what, "perf")) {
		struct perf_event_attr a;
		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.type = PERF_TYPE_SOFTWARE;
		a.config = PERF_COUNT_SW_CPU_CLOCK;
		return result(syscall(SYS_perf_event_open, &a, 0, -1, -1, 0));
	}
	if (!strcmp(what, "kexec"))
		return result(syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0xdead0000UL));
	if (!strcmp(what, "swapon"))
		return result(syscall(SYS_swapon, "/nonexistent-swap", 0));
	if (!strcmp(what, "ptrace") && argc == 3) {
		pid_t pid = atoi(argv[2]);
		if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) < 0)
			return result(-1);
		waitpid(pid, NULL, __WALL);
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
		return result(0);
	}
	if (!strcmp(what, "getfd") && argc == 4) {
		int pidfd = syscall(SYS_pidfd_open, atoi(argv[2]), 0);
		if (pidfd < 0)
			return result(-1);
		return result(syscall(SYS_pidfd_getfd, pidfd, atoi(argv[3]), 0));
	}
	if (!strcmp(what, "environ") && argc == 3) {
		char path[64], buf[65536];
		snprintf(path, sizeof(path), "/proc/%s/environ", argv[2]);
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			return result(-1);
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0)
			return result(-1);
		for (ssize_t i = 0; i < n; i++)
			putchar(buf[i] ? buf[i] : '\n');
		return result(0);
	}
	fprintf(stderr, "attack: unknown or incomplete attack\n");
	return 2;
}
