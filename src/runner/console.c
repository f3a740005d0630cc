/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The console.  An interactive run gets its own pty, allocated on the
 * container's private devpts (so /dev/pts/N inside is real, and the host's
 * terminal is never handed to the container: no TIOCSTI injection into the
 * host's shell), made the controlling terminal of the command (and bound on
 * /dev/console), its master passed to the parent over a unix socket.  The
 * parent puts the host terminal in raw mode and relays bytes both ways,
 * copies the window size on SIGWINCH, and leaves when ^] is pressed three
 * times within a second, like systemd-nspawn.  `start` relays the same pty
 * into a log file instead.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>

#include "src/runner/runner.h"

int pty_open(char **ret_slave)
{
	char name[64];
	int fd = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (unlockpt(fd) < 0 || ptsname_r(fd, name, sizeof(name)) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (!(*ret_slave = strdup(name))) {
		close(fd);
		return -ENOMEM;
	}
	return fd;
}

int pty_attach(const char *slave)
{
	int fd = open(slave, O_RDWR | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, TIOCSCTTY, 0) < 0) {
		close(fd);
		return -errno;
	}
	for (int i = 0; i < 3; i++)
		if (dup2(fd, i) < 0) {
			close(fd);
			return -errno;
		}
	if (fd > 2)
		close(fd);
	return 0;
}

int fd_send(int sock, int fd)
{
	char byte = 'F';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u = {};
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

int fd_recv(int sock)
{
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u = {};
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (n == 0 || !c || c->cmsg_type != SCM_RIGHTS)
		return -EBADMSG;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

#define ESCAPE_CHAR 0x1d   /* ^] */
#define ESCAPE_WINDOW_USEC 1000000

bool escape_feed(struct escape_state *st, const char *buf, size_t n, uint64_t now_usec)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != ESCAPE_CHAR) {
			st->count = 0;
			continue;
		}
		if (st->count == 0 || now_usec - st->first_usec > ESCAPE_WINDOW_USEC) {
			st->count = 1;
			st->first_usec = now_usec;
		} else if (++st->count >= 3)
			return true;
	}
	return false;
}

static uint64_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void copy_winsize(int from, int to)
{
	struct winsize ws;
	if (ioctl(from, TIOCGWINSZ, &ws) == 0)
		ioctl(to, TIOCSWINSZ, &ws);
}

static int write_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		n -= w;
	}
	return 0;
}

/* What is still in the pty after the container ended. */
static void drain(int master, int out)
{
	char buf[4096];
	ssize_t n;
	int fl = fcntl(master, F_GETFL);
	fcntl(master, F_SETFL, fl | O_NONBLOCK);
	while ((n = read(master, buf, sizeof(buf))) > 0)
		if (write_all(out, buf, n) < 0)
			break;
}

int console_relay(int master, int pidfd, int sigfd, int log_fd, int (*map_signal)(int sig, void *data), void *data)
{
	struct termios saved, raw;
	bool interactive = log_fd < 0 && isatty(STDIN_FILENO);
	int out = log_fd >= 0 ? log_fd : STDOUT_FILENO;
	struct escape_state esc = {};
	bool stdin_open = log_fd < 0, master_open = true;
	int left = 0;

	/*
	 * Hold a slave open ourselves: otherwise the master reports EIO (and
	 * poll POLLHUP) whenever no process inside has the console open, as
	 * between an init's boot steps.
	 */
	_cleanup_close_ _unused_ int peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (interactive && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
		copy_winsize(STDIN_FILENO, master);
	} else
		interactive = false;

	for (;;) {
		struct pollfd p[4] = {
			{ .fd = pidfd, .events = POLLIN },
			{ .fd = sigfd, .events = POLLIN },
			{ .fd = master_open ? master : -1, .events = POLLIN },
			{ .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
		};
		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents) {
			if (master_open)
				drain(master, out);
			break;
		}
		if (p[1].revents) {
			struct signalfd_siginfo si;
			if (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGWINCH && interactive)
					copy_winsize(STDIN_FILENO, master);
				else if (si.ssi_signo != SIGCHLD && si.ssi_signo != SIGWINCH)
					syscall(SYS_pidfd_send_signal, pidfd, map_signal((int)si.ssi_signo, data), NULL, 0);
			}
		}
		if (p[2].revents) {
			char buf[4096];
			ssize_t n = read(master, buf, sizeof(buf));
			if (n > 0)
				write_all(out, buf, n);
			else if (n == 0 || (errno != EINTR && errno != EAGAIN))
				master_open = false;   /* EIO: no slave open right now; wait for the end */
		}
		if (p[3].revents) {
			char buf[4096];
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0) {
				stdin_open = false;
				continue;
			}
			if (interactive && escape_feed(&esc, buf, n, now_usec())) {
				left = 1;
				break;
			}
			write_all(master, buf, n);
		}
	}
	if (interactive)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	return left;
}
