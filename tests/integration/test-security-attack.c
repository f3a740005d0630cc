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
 *   attack raw-mknod PATH            syscall(SYS_mknod), char 1:11 (no libc detour via mknodat)
 *   attack raw-mknodat PATH          syscall(SYS_mknodat), char 1:11
 *   attack clone-userns              raw clone(CLONE_NEWUSER) (not unshare)
 *   attack tiocsti                   TIOCSTI on stdin (a terminal)
 *   attack syscalls NAME...          each syscall by name with harmless bogus
 *                                    arguments; prints "NAME ERRNO" per line
 *                                    ("NAME unknown": not in this table,
 *                                    "NAME absent": not on this architecture)
 *   attack denied-list               the names of that table, one a line
 *   attack compat-syscalls           x86_64 only: mknod, acct and unshare(CLONE_NEWUSER)
 *                                    through the 32-bit ABI (int $0x80); "NAME ERRNO"
 *                                    per line, "killed" if the filter kills instead
 *   attack mount-flags PATH          the kernel's nosuid/nodev/ro flags of PATH's mount (statvfs)
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

#include <sys/ioctl.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

/*
 * The deny list of src/runner/seccomp.c, each with arguments that fail
 * harmlessly past the kernel's permission check (bad fd, bad pointer, bad
 * flags, a path that does not exist), so only a seccomp rule answers EPERM
 * when the caller has every capability.
 */
#define NR(name) SYS_##name
static const struct denied {
	const char *name;
	long nr;
	long a[6];
} denied[] = {
	{ "open_by_handle_at", NR(open_by_handle_at), { -1, 0, 0 } },
	{ "kexec_load", NR(kexec_load), { 0, 0, 0, 0xdead0000 } },
#ifdef SYS_kexec_file_load
	{ "kexec_file_load", NR(kexec_file_load), { -1, -1, 0, 0, 0xdead0000 } },
#endif
	{ "init_module", NR(init_module), { (long)"not an ELF module", 17, (long)"" } },
	{ "finit_module", NR(finit_module), { -1, (long)"", 0 } },
	{ "delete_module", NR(delete_module), { (long)"layerctl_no_such_module", O_NONBLOCK } },
	{ "keyctl", NR(keyctl), { 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0 } },
	{ "add_key", NR(add_key), { 0, 0, 0, 0, 0 } },
	{ "request_key", NR(request_key), { 0, 0, 0, 0 } },
	{ "bpf", NR(bpf), { -1, 0, 0 } },
	{ "perf_event_open", NR(perf_event_open), { 0, 0, -1, -1, 0 } },
	{ "swapon", NR(swapon), { (long)"/nonexistent-swap", 0 } },
	{ "swapoff", NR(swapoff), { (long)"/nonexistent-swap" } },
	{ "fanotify_init", NR(fanotify_init), { -1, 0 } },
	{ "quotactl", NR(quotactl), { 0, 0, 0, 0 } },
#ifdef SYS_quotactl_fd
	{ "quotactl_fd", NR(quotactl_fd), { -1, 0, 0, 0 } },
#endif
	{ "acct", NR(acct), { (long)"/nonexistent/acct" } },
#ifdef SYS_iopl
	{ "iopl", NR(iopl), { 4 } },
#endif
#ifdef SYS_ioperm
	{ "ioperm", NR(ioperm), { -1, 1, 1 } },
#endif
#ifdef SYS_uselib
	{ "uselib", NR(uselib), { 0 } },
#endif
#ifdef SYS_lookup_dcookie
	{ "lookup_dcookie", NR(lookup_dcookie), { 0, 0, 0 } },
#endif
#ifdef SYS_vm86
	{ "vm86", NR(vm86), { -1, 0 } },
#endif
#ifdef SYS_vm86old
	{ "vm86old", NR(vm86old), { 0 } },
#endif
#ifdef SYS__sysctl
	{ "_sysctl", NR(_sysctl), { 0 } },
#endif
#ifdef SYS_nfsservctl
	{ "nfsservctl", NR(nfsservctl), { 0, 0, 0 } },
#endif
#ifdef SYS_create_module
	{ "create_module", NR(create_module), { 0, 0 } },
#endif
#ifdef SYS_get_kernel_syms
	{ "get_kernel_syms", NR(get_kernel_syms), { 0 } },
#endif
#ifdef SYS_query_module
	{ "query_module", NR(query_module), { 0, 0, 0, 0, 0 } },
#endif
};

/* Names of calls that exist on other architectures only. */
static const char *const elsewhere[] = {
	"kexec_file_load", "quotactl_fd", "iopl", "ioperm", "uselib", "lookup_dcookie", "vm86", "vm86old",
	"_sysctl", "nfsservctl", "create_module", "get_kernel_syms", "query_module",
};

static void call_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
		if (!strcmp(denied[i].name, name)) {
			const long *a = denied[i].a;
			long r = syscall(denied[i].nr, a[0], a[1], a[2], a[3], a[4], a[5]);
			printf("%s %s\n", name, r < 0 ? strerrorname_np(errno) : "ok");
			return;
		}
	for (size_t i = 0; i < sizeof(elsewhere) / sizeof(elsewhere[0]); i++)
		if (!strcmp(elsewhere[i], name)) {
			printf("%s absent\n", name);
			return;
		}
	printf("%s unknown\n", name);
}

#if defined(__x86_64__)
/* Static, non-PIE: these sit below 4 GiB, where a 32-bit syscall can point. */
static char compat_node[] = "/tmp/compat-kmsg";
static char compat_acct[] = "/nonexistent/acct";

static long int80(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return ret;
}

static void compat_call(const char *name, long nr, long a, long b, long c)
{
	fflush(stdout);
	pid_t pid = fork();   /* a filter that kills (wrong arch) must not take the others with it */
	if (pid == 0) {
		long r = int80(nr, a, b, c);
		if (r == 0 && nr == 14)
			unlink(compat_node);
		printf("%s %s\n", name, r < 0 ? strerrorname_np((int)-r) : "ok");
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st))
		printf("%s killed\n", name);
}
#endif

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
#ifdef SYS_mknod
	if (!strcmp(what, "raw-mknod") && argc == 3)
		return result(syscall(SYS_mknod, argv[2], S_IFCHR | 0600, makedev(1, 11)));
#endif
	if (!strcmp(what, "raw-mknodat") && argc == 3)
		return result(syscall(SYS_mknodat, AT_FDCWD, argv[2], S_IFCHR | 0600, makedev(1, 11)));
	if (!strcmp(what, "clone-userns")) {
		long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
		if (pid == 0)
			_exit(0);
		if (pid > 0)
			waitpid((pid_t)pid, NULL, 0);
		return result(pid);
	}
	if (!strcmp(what, "tiocsti")) {
		char c = '\n';
		return result(ioctl(STDIN_FILENO, TIOCSTI, &c));
	}
	if (!strcmp(what, "mount-flags") && argc == 3) {
		struct statvfs sv;
		if (statvfs(argv[2], &sv) < 0)
			return result(-1);
		printf("%s %s %s\n", sv.f_flag & ST_NOSUID ? "nosuid" : "suid", sv.f_flag & ST_NODEV ? "nodev" : "dev",
		       sv.f_flag & ST_RDONLY ? "ro" : "rw");
		return 0;
	}
#if defined(__x86_64__)
	if (!strcmp(what, "compat-syscalls")) {
		/* i386 numbers: mknod 14, acct 51, unshare 310 */
		compat_call("mknod", 14, (long)compat_node, S_IFCHR | 0600, (long)makedev(1, 11));
		compat_call("acct", 51, (long)compat_acct, 0, 0);
		compat_call("unshare", 310, CLONE_NEWUSER, 0, 0);
		return 0;
	}
#endif
	if (!strcmp(what, "denied-list")) {
		for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
			printf("%s\n", denied[i].name);
		for (size_t i = 0; i < sizeof(elsewhere) / sizeof(elsewhere[0]); i++)
			printf("%s\n", elsewhere[i]);
		return 0;
	}
	if (!strcmp(what, "syscalls")) {
		for (int i = 2; i < argc; i++)
			call_by_name(argv[i]);
		return 0;
	}
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
