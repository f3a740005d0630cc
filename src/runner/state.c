/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Runtime state of a running child, under the store's runtime dir:
 *
 *   RUNTIME/children/NAME/lock    an OFD write lock, held by the process
 *                                 that runs the container (run's parent,
 *                                 start's monitor) for its whole life:
 *                                 "a child runs at most once", and
 *                                 "running" = "the lock is held".  The
 *                                 kernel drops it when that process dies, so
 *                                 a crash never leaves a child "running".
 *   RUNTIME/children/NAME/state   pid of PID 1, monitor, boot, stop signal …
 *   RUNTIME/children/NAME/log     console of a started child
 *
 * OFD locks rather than flock: F_OFD_GETLK tests a lock without taking it,
 * so `ps` and `child rm` never make a concurrent `run` fail.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "src/basic/fileio.h"
#include "src/basic/strutil.h"
#include "src/runner/runner.h"
#include "src/store/store.h"

char *runner_state_dir(const char *runtime, const char *name)
{
	char *p;
	if (asprintf(&p, "%s/children/%s", runtime, name) < 0)
		return NULL;
	return p;
}

static char *state_file(const char *runtime, const char *name, const char *leaf)
{
	return lc_strjoin(runtime, "/children/", name, "/", leaf, NULL);
}

int runner_state_lock(const char *runtime, const char *name)
{
	_cleanup_free_ char *dir = runner_state_dir(runtime, name);
	_cleanup_free_ char *path = state_file(runtime, name, "lock");
	int r;
	if (!dir || !path)
		return -ENOMEM;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT) {   /* first run of this child: make the directory */
		if ((r = mkdir_p(dir, 0755)) < 0)
			return r;
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	}
	if (fd < 0)
		return -errno;
	struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (fcntl(fd, F_OFD_SETLK, &l) < 0) {
		r = errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
		close(fd);
		return r;
	}
	return fd;
}

int runner_state_is_locked(const char *runtime, const char *name)
{
	_cleanup_free_ char *path = state_file(runtime, name, "lock");
	if (!path)
		return -ENOMEM;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (fcntl(fd, F_OFD_GETLK, &l) < 0)
		return -errno;
	return l.l_type != F_UNLCK;
}

int runner_state_write(const char *runtime, const char *name, const struct run_state *st)
{
	_cleanup_free_ char *dir = runner_state_dir(runtime, name);
	char buf[256];
	if (!dir)
		return -ENOMEM;
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	int n = snprintf(buf, sizeof(buf),
			 "pid=%d\nmonitor=%d\nboot=%d\nkill_signal=%d\nprivate_network=%d\nstarted=%lld\npidns=%llu\n",
			 (int)st->pid, (int)st->monitor, st->boot, st->kill_signal, st->private_network, st->started,
			 st->pidns);
	/*
	 * Atomic (ps, stop and exec read it while we write) but not durable: no
	 * fsync.  The runtime dir is a tmpfs (/run) that a power loss empties,
	 * and what the file describes - a running container - does not survive
	 * one either; a crash of layerctl alone loses nothing (the page cache
	 * stays), and the run lock, not this file, says whether a child runs.
	 * The two fsyncs cost more than the container's mounts (docs/runner.md).
	 */
	return lc_write_atomic(dfd, "state", buf, n, 0644, false);
}

int runner_state_read(const char *runtime, const char *name, struct run_state *st)
{
	_cleanup_free_ char *path = state_file(runtime, name, "state");
	if (!path)
		return -ENOMEM;
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char line[128];
	int boot = 0, pn = 0;
	if (!f)
		return -errno;
	memset(st, 0, sizeof(*st));
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "pid=%d", &st->pid);
		sscanf(line, "monitor=%d", &st->monitor);
		sscanf(line, "boot=%d", &boot);
		sscanf(line, "kill_signal=%d", &st->kill_signal);
		sscanf(line, "private_network=%d", &pn);
		sscanf(line, "started=%lld", &st->started);
		sscanf(line, "pidns=%llu", &st->pidns);
	}
	st->boot = boot;
	st->private_network = pn;
	return st->pid > 0 ? 0 : -EBADMSG;
}

void runner_state_clear(const char *runtime, const char *name)
{
	_cleanup_free_ char *path = state_file(runtime, name, "state");
	if (path)
		unlink(path);
}

unsigned long long runner_pidns_of(pid_t pid)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	return stat(path, &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

/*
 * The pid in the state file could have been recycled when the container
 * ended a moment ago: open a pidfd first (it pins that process), then check
 * that its PID namespace is still the container's.
 */
int runner_state_open_pid(const struct run_state *st)
{
	int fd = syscall(SYS_pidfd_open, st->pid, 0);
	if (fd < 0)
		return -errno;
	if (st->pidns && runner_pidns_of(st->pid) != st->pidns) {
		close(fd);
		return -ESRCH;
	}
	return fd;
}

/*
 * Trusting the runtime dir.  It holds the run lock, the state stop and exec
 * act on (a pid and the signal to send it), and the cached seccomp program
 * every container loads: whoever can write there can make root signal any
 * process or run containers unfiltered.  So it, and every directory above
 * it, must be owned by root (or by the caller) and writable by no one else;
 * a directory above it may be world-writable only when sticky (/tmp), since
 * then nobody else can rename or remove what root made there.  Checked on
 * descriptors opened one component at a time from / with O_NOFOLLOW, so a
 * symlink swapped in while we look is refused, not followed.
 */
static bool owner_ok(const struct stat *st)
{
	return st->st_uid == 0 || st->st_uid == geteuid();
}

static int why_untrusted(char *why, size_t len, const char *path, const struct stat *st, const char *what)
{
	if (why)
		snprintf(why, len, "%s is %s (uid %u, mode %04o); it must be root's and writable by no one else", path,
			 what, (unsigned)st->st_uid, (unsigned)(st->st_mode & 07777));
	return -EPERM;
}

static int check_dir(int fd, const char *path, bool leaf, char *why, size_t len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!owner_ok(&st))
		return why_untrusted(why, len, path, &st, "owned by another user");
	bool sticky_ok = !leaf && (st.st_mode & S_ISVTX);
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !sticky_ok)
		return why_untrusted(why, len, path, &st, "writable by group or others");
	return 0;
}

int runner_trusted_dir_open(const char *path, char *why, size_t len)
{
	_cleanup_free_ char *real = realpath(path, NULL);
	if (!real)
		return -errno;
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = check_dir(fd, "/", STREQ(real, "/"), why, len);
	for (char *p = real; r == 0 && *p;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		char *end = strchrnul(p, '/');
		char saved = *end;
		*end = '\0';   /* real is now the path of this component */
		int next = openat(fd, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (next < 0)
			return -errno;
		fd = next;
		r = check_dir(fd, real, saved == '\0', why, len);
		*end = saved;
		p = end;
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	/* An O_PATH descriptor cannot be read from: reopen the checked directory itself. */
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int e = errno;
	close(fd);
	return dfd < 0 ? -e : dfd;
}

int runner_trusted_file_open(int dirfd, const char *name, char *why, size_t len)
{
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
		r = why_untrusted(why, len, name, &st, "not a plain file with one link");
	else if (!owner_ok(&st))
		r = why_untrusted(why, len, name, &st, "owned by another user");
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		r = why_untrusted(why, len, name, &st, "writable by group or others");
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}
