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

#include "src/runner/runner.h"
#include "src/store/store.h"

char *state_dir(const char *runtime, const char *name)
{
	char *p;
	if (asprintf(&p, "%s/children/%s", runtime, name) < 0)
		return NULL;
	return p;
}

static char *state_file(const char *runtime, const char *name, const char *leaf)
{
	char *p;
	if (asprintf(&p, "%s/children/%s/%s", runtime, name, leaf) < 0)
		return NULL;
	return p;
}

int state_lock(const char *runtime, const char *name)
{
	_cleanup_free_ char *dir = state_dir(runtime, name);
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

int state_is_locked(const char *runtime, const char *name)
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

int state_write(const char *runtime, const char *name, const struct run_state *st)
{
	_cleanup_free_ char *dir = state_dir(runtime, name);
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
	return atomic_write_at(dfd, "state", buf, n, 0644);
}

int state_read(const char *runtime, const char *name, struct run_state *st)
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
		(void)sscanf(line, "pid=%d", &st->pid);
		(void)sscanf(line, "monitor=%d", &st->monitor);
		(void)sscanf(line, "boot=%d", &boot);
		(void)sscanf(line, "kill_signal=%d", &st->kill_signal);
		(void)sscanf(line, "private_network=%d", &pn);
		(void)sscanf(line, "started=%lld", &st->started);
		(void)sscanf(line, "pidns=%llu", &st->pidns);
	}
	st->boot = boot;
	st->private_network = pn;
	return st->pid > 0 ? 0 : -EBADMSG;
}

void state_clear(const char *runtime, const char *name)
{
	_cleanup_free_ char *path = state_file(runtime, name, "state");
	if (path)
		unlink(path);
}

unsigned long long pidns_of(pid_t pid)
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
int state_open_pid(const struct run_state *st)
{
	int fd = syscall(SYS_pidfd_open, st->pid, 0);
	if (fd < 0)
		return -errno;
	if (st->pidns && pidns_of(st->pid) != st->pidns) {
		close(fd);
		return -ESRCH;
	}
	return fd;
}
