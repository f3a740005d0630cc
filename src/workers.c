/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Work spread over forked processes: see workers.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/basic/fileio.h"
#include "src/workers.h"

#define MAX_JOBS 64

size_t workers_default(size_t n, size_t max)
{
	cpu_set_t set;
	size_t cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? (size_t)CPU_COUNT(&set) : 1;
	size_t jobs = cpus < max ? cpus : max;
	return jobs < n ? jobs : n;
}

/* One worker's stream: records, each after its item number. */
struct stream {
	int fd;
	pid_t pid;
	size_t filled;   /* bytes of the message being read */
	unsigned char *msg;
};

static _Noreturn void work(size_t n, size_t k, size_t jobs, size_t rec_size, worker_fn fn, void *userdata, int fd)
{
	unsigned char *msg = malloc(sizeof(uint64_t) + rec_size);
	if (!msg)
		_exit(1);
	for (size_t i = k; i < n; i += jobs) {
		uint64_t index = i;
		memcpy(msg, &index, sizeof(index));
		memset(msg + sizeof(index), 0, rec_size);
		fn(i, msg + sizeof(index), userdata);
		if (lc_write_all(fd, msg, sizeof(index) + rec_size) < 0)
			_exit(1);
	}
	_exit(0);
}

/* Read what is there; a whole message goes to its record.  false at EOF or on an error. */
static bool read_some(struct stream *s, size_t n, size_t rec_size, unsigned char *recs, bool *done, arrived_fn arrived,
		      void *userdata)
{
	size_t msg_size = sizeof(uint64_t) + rec_size;
	ssize_t got = read(s->fd, s->msg + s->filled, msg_size - s->filled);
	if (got < 0 && errno == EINTR)
		return true;
	if (got <= 0)
		return false;
	s->filled += (size_t)got;
	if (s->filled < msg_size)
		return true;
	s->filled = 0;
	uint64_t index;
	memcpy(&index, s->msg, sizeof(index));
	if (index >= n)
		return false;   /* not what a worker of ours writes */
	memcpy(recs + index * rec_size, s->msg + sizeof(index), rec_size);
	done[index] = true;
	if (arrived)
		arrived(index, userdata);
	return true;
}

/* Fork worker k; streams 0..k-1 are already running (their read ends are not the new worker's). */
static int start(struct stream *s, size_t n, size_t k, size_t jobs, size_t rec_size, worker_fn fn, void *userdata)
{
	int p[2];
	pid_t parent = getpid();
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		/* A worker does not outlive the command: killing it stops all the work, as with one process. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(1);
		close(p[0]);
		for (size_t j = 0; j < k; j++)
			close(s[j].fd);
		work(n, k, jobs, rec_size, fn, userdata, p[1]);
	}
	close(p[1]);
	s[k].fd = p[0];
	s[k].pid = pid;
	return 0;
}

int workers_run(size_t n, size_t jobs, size_t rec_size, worker_fn fn, arrived_fn arrived, void *userdata, void *recs,
		bool *done)
{
	struct stream s[MAX_JOBS] = {};
	struct pollfd pfd[MAX_JOBS];
	size_t started = 0;
	int r = 0;

	if (jobs > MAX_JOBS)
		jobs = MAX_JOBS;
	memset(done, 0, n * sizeof(*done));
	for (size_t k = 0; k < jobs; k++)
		if (!(s[k].msg = malloc(sizeof(uint64_t) + rec_size))) {
			r = -ENOMEM;
			goto out;
		}
	fflush(stdout);
	fflush(stderr);
	/* Fewer workers than asked: the records of the missing ones are left out (done[] says so). */
	for (; started < jobs; started++)
		if ((r = start(s, n, started, jobs, rec_size, fn, userdata)) < 0)
			break;
	if (started == 0)
		goto out;
	r = 0;
	for (;;) {
		size_t open_streams = 0;
		for (size_t k = 0; k < started; k++) {
			pfd[k] = (struct pollfd){ .fd = s[k].fd, .events = POLLIN };
			open_streams += s[k].fd >= 0;
		}
		if (!open_streams)
			break;
		if (poll(pfd, started, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (size_t k = 0; k < started; k++)
			if (s[k].fd >= 0 && (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    !read_some(&s[k], n, rec_size, recs, done, arrived, userdata)) {
				close(s[k].fd);
				s[k].fd = -1;
			}
	}
out:
	for (size_t k = 0; k < jobs; k++) {
		if (k < started) {
			if (s[k].fd >= 0)
				close(s[k].fd);
			while (waitpid(s[k].pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
		free(s[k].msg);
	}
	return r;
}
