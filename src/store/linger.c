/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A child's overlay kept for a moment after a run, for the next runs
 * (docs/runner.md, "Back-to-back runs").
 *
 * Unmounting an overlay syncs its upper file system (a disk flush), and a
 * run right after must wait for that under the child lock: never two
 * overlays on one upper dir.  Instead, a process forked when a run ends
 * (the lingerer) keeps the child lock and an unattached original of the
 * overlay's mount, and listens on RUNTIME/linger/NAME.sock:
 *
 *   'l' (lend): it sends descriptors of both (SCM_RIGHTS) and keeps the
 *       connection.  The lock is a flock on an open file description, so
 *       the borrowing run holds it too, and clones the mount for its
 *       container.  The lingerer lives on until LAYERCTL_RUN_LINGER seconds
 *       after the borrower hung up, so back-to-back runs share one overlay,
 *       with every write of the runs before, and nobody forks or syncs.
 *   'q' (quit): it closes the mount and exits, which releases the lock;
 *       the sync happens in that close if nobody else holds the overlay.
 *       store_lock() asks this of a lingerer in its way, so no other
 *       command waits for the timeout.  A borrower that cannot use the
 *       overlay (other options) asks it too, and waits for the end.
 *
 * While a run borrows, its run lock says "running" as ever; whatever the
 * lingerer does then, the overlay outlives the run only under the lock.
 * Only root reaches the socket (RUNTIME/linger is 0700); the borrower
 * checks that the peer is root and that the lock it got is this child's.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "src/store/store.h"

static int socket_address(const struct store *s, const char *name, struct sockaddr_un *sa, socklen_t *len)
{
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/linger/%s.sock", s->runtime, name);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;   /* a runtime dir that long: no lingering */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
	return 0;
}

/* A SOCK_SEQPACKET socket connected to sa, or (server) bound there and listening. */
static int seqpacket_at(const struct sockaddr_un *sa, socklen_t len, bool server)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = server ? bind(fd, (const struct sockaddr *)sa, len) : connect(fd, (const struct sockaddr *)sa, len);
	if (r == 0 && server)
		r = listen(fd, 8);
	if (r < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int connect_to(const struct store *s, const char *name)
{
	struct sockaddr_un sa;
	socklen_t len;
	int r = socket_address(s, name, &sa, &len);
	return r < 0 ? r : seqpacket_at(&sa, len, false);
}

int store_linger_listen(struct store *s, const char *name)
{
	struct sockaddr_un sa;
	socklen_t len;
	int r = socket_address(s, name, &sa, &len);
	if (r < 0)
		return r;
	_cleanup_free_ char *dir = NULL;
	if (asprintf(&dir, "%s/linger", s->runtime) < 0)
		return -ENOMEM;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	/* A socket left by an earlier lingerer (killed, or quitting: it serves no one now). */
	if (unlink(sa.sun_path) < 0 && errno != ENOENT)
		return -errno;
	return seqpacket_at(&sa, len, true);
}

void store_linger_unlisten(struct store *s, const char *name)
{
	struct sockaddr_un sa;
	socklen_t len;
	if (socket_address(s, name, &sa, &len) == 0)
		unlink(sa.sun_path);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int send_fds(int conn, int lock_fd, int mnt_fd)
{
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u = {};
	char byte = 'l';
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(2 * sizeof(int));
	memcpy(CMSG_DATA(cm), (int[]){ lock_fd, mnt_fd }, 2 * sizeof(int));
	return sendmsg(conn, &msg, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

/* Serve until a quit, or timeout_ms after the last borrower hung up (never while one is there). */
int store_linger_serve(int sock, int lock_fd, int mnt_fd, unsigned timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	_cleanup_close_ int borrower = -1;
	for (;;) {
		long long left = end - now_ms();
		if (borrower < 0 && left <= 0)
			return 0;
		struct pollfd p[2] = { { .fd = sock, .events = POLLIN }, { .fd = borrower, .events = POLLIN } };
		int n = poll(p, 2, borrower >= 0 ? -1 : (int)left);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		if (borrower >= 0 && p[1].revents) {
			/* EOF: its run is over; anything else it says is a quit. */
			char what = 0;
			ssize_t k = read(borrower, &what, 1);
			if (k == 1 && what == 'q')
				return 0;
			close(borrower);
			borrower = -1;
			end = now_ms() + timeout_ms;
		}
		if (!p[0].revents)
			continue;
		_cleanup_close_ int conn = accept4(sock, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			continue;
		/* The asker writes at once; one that does not is not waited for long. */
		struct pollfd q = { .fd = conn, .events = POLLIN };
		char what = 0;
		if (poll(&q, 1, 100) != 1 || read(conn, &what, 1) != 1)
			continue;
		if (what == 'q')
			return 0;
		/* One run at a time borrows (its run lock); a second asker is not served. */
		if (what == 'l' && borrower < 0 && send_fds(conn, lock_fd, mnt_fd) == 0)
			borrower = TAKE_FD(conn);
	}
}

bool store_linger_present(struct store *s, const char *name)
{
	/* Hung up at once: the lingerer reads EOF and listens on. */
	int fd = connect_to(s, name);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

void store_linger_release(struct store *s, const char *name)
{
	_cleanup_close_ int fd = connect_to(s, name);
	if (fd < 0)
		return;
	if (send(fd, "q", 1, MSG_NOSIGNAL) != 1)
		return;
}

/* The two descriptors of an 'l' answer, or -errno. */
static int receive_fds(int conn, int *ret_lock, int *ret_mnt)
{
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	char byte;
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	ssize_t n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	if (n != 1 || byte != 'l' || !cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(2 * sizeof(int))) {
		if (cm && cm->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
				close(((int *)CMSG_DATA(cm))[i]);
		return -EPROTO;
	}
	int fds[2];
	memcpy(fds, CMSG_DATA(cm), sizeof(fds));
	*ret_lock = fds[0];
	*ret_mnt = fds[1];
	return 0;
}

int store_linger_borrow(struct store *s, const char *name, int own_lock_fd, int *ret_lock, int *ret_mnt)
{
	_cleanup_close_ int conn = connect_to(s, name);
	if (conn < 0)
		return conn;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0)
		return -errno;
	if (cred.uid != 0 && cred.uid != geteuid())
		return -EPERM;
	if (send(conn, "l", 1, MSG_NOSIGNAL) != 1)
		return -errno;
	int lock = -1, mnt = -1;
	int r = receive_fds(conn, &lock, &mnt);
	if (r < 0)
		return r;
	/* The lock must be this child's (same file as ours), or it proves nothing. */
	struct stat a, b;
	if (fstat(lock, &a) < 0 || fstat(own_lock_fd, &b) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		close(lock);
		close(mnt);
		return -EPROTO;
	}
	*ret_lock = lock;
	*ret_mnt = mnt;
	return TAKE_FD(conn);
}

bool store_linger_alive(int conn)
{
	struct pollfd p = { .fd = conn, .events = POLLIN };
	return poll(&p, 1, 0) == 0;
}

void store_linger_end(int conn, bool quit)
{
	if (quit && send(conn, "q", 1, MSG_NOSIGNAL) == 1) {
		/* It closes the mount, then exits: EOF means the overlay is gone (unless someone else holds it). */
		char byte;
		for (;;) {
			ssize_t k = read(conn, &byte, 1);
			if (k > 0 || (k < 0 && errno == EINTR))
				continue;
			break;
		}
	}
	close(conn);
}
