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
 *
 * Which of the command's stdin/stdout/stderr are the pty (runner_console_plan):
 * with --console=auto, each one that is a terminal on the host, and only
 * those; the others are passed through as they are (a pipe, a file).  So a
 * host terminal is never handed to the container, whichever of the three it
 * is (nspawn gives a pty as soon as one of them is a terminal, too), while
 * `layerctl run c -- cat f >out` from a terminal still writes out byte for
 * byte, without the CR a pty's output processing adds.  A booted init and
 * --console=pty get the pty on all three.
 *
 * The relay never blocks on one direction: every descriptor it moves bytes
 * between is non-blocking (the host's ones are restored afterwards), each
 * direction has its own buffer, and one poll loop serves both, the end of
 * the container and the signals.  When piped input ends (--console=pty),
 * the terminal's EOF character is sent once the pty is in canonical mode
 * (twice after a partial line: the first only ends the line); a pty fed by
 * a pipe does not echo (no one reads an echo, and the kernel drops echoes
 * when output backs up, which would make the output depend on timing).
 *
 * Signals: SIGINT, SIGTERM, SIGHUP, … go to the container (a booted init
 * gets its power-off signal); 10 s after a SIGTERM, or at a second SIGTERM
 * or SIGINT, the container is killed.  So run always ends on SIGTERM.
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

int runner_pty_open(char **ret_slave)
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

int runner_pty_attach(const char *slave, unsigned fds)
{
	int fd = open(slave, O_RDWR | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, TIOCSCTTY, 0) < 0) {
		close(fd);
		return -errno;
	}
	for (int i = 0; i < 3; i++)
		if ((fds & (1u << i)) && dup2(fd, i) < 0) {
			close(fd);
			return -errno;
		}
	if (fd > 2)
		close(fd);
	return 0;
}

int runner_fd_send(int sock, int fd)
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

int runner_fd_recv(int sock)
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

bool runner_escape_feed(struct escape_state *st, const char *buf, size_t n, uint64_t now_usec)
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


/* Window size of the host terminal (the first of stdin/stdout/stderr that is one). */
static int host_tty(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (isatty(fd))
			return fd;
	return -1;
}

/*
 * Is fd a terminal whose foreground we are?  Reading it or changing its
 * modes from a background job (run ... &) would stop us with SIGTTIN/SIGTTOU.
 */
static bool tty_in_foreground(int fd)
{
	return isatty(fd) && tcgetpgrp(fd) == getpgrp();
}

void runner_console_plan(struct run_config *c)
{
	unsigned ttys = 0;
	for (int fd = 0; fd < 3; fd++)
		if (isatty(fd))
			ttys |= 1u << fd;
	c->pty_input = c->pty_no_echo = false;
	switch (c->console) {
	case CONSOLE_PIPE:
		c->pty_fds = 0;
		break;
	case CONSOLE_LOG:
		c->pty_fds = 7;
		break;
	case CONSOLE_PTY:
		c->pty_fds = 7;
		c->pty_input = !(ttys & 1) || tty_in_foreground(STDIN_FILENO);
		c->pty_no_echo = !(ttys & 1);
		break;
	case CONSOLE_AUTO:
	default:
		/* An init writes to /dev/console, not to its stdout: it always gets a pty (read-only without a terminal). */
		c->pty_fds = c->boot ? 7 : ttys;
		c->pty_input = tty_in_foreground(STDIN_FILENO);
		break;
	}
	int tty = host_tty();
	memset(&c->winsize, 0, sizeof(c->winsize));
	if (c->pty_fds && tty >= 0 && ioctl(tty, TIOCGWINSZ, &c->winsize) < 0)
		memset(&c->winsize, 0, sizeof(c->winsize));
}

int runner_pty_set_no_echo(int master)
{
	struct termios t;
	if (tcgetattr(master, &t) < 0)
		return -errno;
	t.c_lflag &= ~(ECHO | ECHONL);
	return tcsetattr(master, TCSANOW, &t) < 0 ? -errno : 0;
}

static void copy_winsize(int from, int to)
{
	struct winsize ws;
	if (from >= 0 && ioctl(from, TIOCGWINSZ, &ws) == 0)
		ioctl(to, TIOCSWINSZ, &ws);
}

#define RELAY_BUF 65536
#define KILL_GRACE_SEC 10

struct relay_buf {
	char data[RELAY_BUF];
	size_t start, len;
};

/* Read what fd has into b (never blocks: fd is non-blocking).  1 data, 0 nothing now, -1 end. */
static int buf_fill(struct relay_buf *b, int fd)
{
	if (b->start > 0 && b->len > 0)
		memmove(b->data, b->data + b->start, b->len);
	b->start = 0;
	if (b->len == RELAY_BUF)
		return 0;
	ssize_t n = read(fd, b->data + b->len, RELAY_BUF - b->len);
	if (n > 0) {
		b->len += n;
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return -1;   /* EOF, or EIO: no slave open */
}

/* Write what b holds to fd as far as it goes.  0 ok (maybe partly), -1 the other side is gone. */
static int buf_flush(struct relay_buf *b, int fd, char *last)
{
	while (b->len > 0) {
		ssize_t n = fd >= 0 ? write(fd, b->data + b->start, b->len) : (ssize_t)b->len;   /* fd < 0: discard */
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return -1;
		if (last && n > 0)
			*last = b->data[b->start + n - 1];
		b->start += n;
		b->len -= n;
	}
	b->start = 0;
	return 0;
}

/* Host descriptors are shared with the caller's shell: make them non-blocking for the relay only. */
struct saved_flags { int fd, flags; };

static void set_nonblock(struct saved_flags *sv, size_t *n, int fd)
{
	if (fd < 0)
		return;
	for (size_t i = 0; i < *n; i++)
		if (sv[i].fd == fd)
			return;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return;
	sv[*n].fd = fd;
	sv[(*n)++].flags = fl;
	if (!(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void restore_flags(const struct saved_flags *sv, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fcntl(sv[i].fd, F_SETFL, sv[i].flags);
}

/* What the relay does with a signal; returns true when the relay should stop waiting (the container is killed). */
struct signal_policy {
	int pidfd;
	int (*map_signal)(int sig, void *data);
	void *data;
	bool asked;   /* a SIGTERM or SIGINT went to the container */
};

static void send_signal(int pidfd, int sig)
{
	syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

static void on_signal(struct signal_policy *p, int sig)
{
	if (sig == SIGALRM) {
		if (p->asked)
			send_signal(p->pidfd, SIGKILL);   /* the grace after SIGTERM is over */
		return;
	}
	if ((sig == SIGTERM || sig == SIGINT) && p->asked) {
		send_signal(p->pidfd, SIGKILL);   /* asked twice: no more waiting */
		return;
	}
	if (sig == SIGTERM || sig == SIGINT) {
		p->asked = true;
		if (sig == SIGTERM)
			alarm(KILL_GRACE_SEC);
	}
	send_signal(p->pidfd, p->map_signal(sig, p->data));
}

/* Input ended: queue the terminal's EOF once the pty reads lines.  true when queued. */
static bool queue_eof(struct relay_buf *in, int master, char last)
{
	struct termios t;
	if (tcgetattr(master, &t) < 0)
		return true;   /* nothing to do */
	if (!(t.c_lflag & ICANON))
		return false;  /* raw: no EOF character; wait until it reads lines again */
	cc_t eof = t.c_cc[VEOF];
	if (eof == _POSIX_VDISABLE)
		return true;
	bool line_start = last == '\n' || last == '\0' || (char)eof == last ||
			  (t.c_cc[VEOL] != _POSIX_VDISABLE && (char)t.c_cc[VEOL] == last) ||
			  (t.c_cc[VEOL2] != _POSIX_VDISABLE && (char)t.c_cc[VEOL2] == last);
	in->data[in->len++] = (char)eof;
	if (!line_start)
		in->data[in->len++] = (char)eof;
	return true;
}

/* The relay's state between the container's pty and the host's descriptors. */
struct relay {
	const struct run_config *c;
	int master, pidfd, sigfd, tty;
	int in_fd, out_fd;
	bool interactive, out_raw, ended, master_open, eof_pending;
	char last;   /* the last character written to the pty: decides how EOF is typed */
	struct termios saved, saved_out;
	struct escape_state esc;
	struct saved_flags flags[4];
	size_t n_flags;
	struct relay_buf *in, *out;
	struct signal_policy pol;
};

/* Where the container's output goes: the log, else a terminal of ours. */
static int relay_out_fd(const struct run_config *c)
{
	if (c->log_fd >= 0)
		return c->log_fd;
	if (c->pty_fds & 2)
		return STDOUT_FILENO;
	if (c->pty_fds & 4)
		return STDERR_FILENO;
	if ((fcntl(STDIN_FILENO, F_GETFL) & O_ACCMODE) != O_RDONLY)
		return STDIN_FILENO;   /* only stdin is a terminal: show the echo there */
	return -1;
}

/* Pick the host's descriptors and put their terminals in the modes the relay needs (restored by relay_restore). */
static void relay_setup(struct relay *r)
{
	const struct run_config *c = r->c;
	struct termios raw;

	if (!r->in || !r->out)
		r->master_open = false;
	r->out_fd = relay_out_fd(c);
	if (c->log_fd < 0 && c->pty_input)
		r->in_fd = STDIN_FILENO;
	r->interactive = r->in_fd >= 0 && tty_in_foreground(r->in_fd) && tcgetattr(r->in_fd, &r->saved) == 0;
	if (r->interactive) {
		raw = r->saved;
		cfmakeraw(&raw);
		tcsetattr(r->in_fd, TCSANOW, &raw);
	}
	/*
	 * A terminal we only write to (stdin is not one) keeps its modes,
	 * but not its output processing: the container's pty already made
	 * its \n a \r\n.
	 */
	r->out_raw = !r->interactive && r->out_fd >= 0 && c->log_fd < 0 && tty_in_foreground(r->out_fd) &&
		     tcgetattr(r->out_fd, &r->saved_out) == 0;
	if (r->out_raw) {
		raw = r->saved_out;
		raw.c_oflag &= ~OPOST;
		tcsetattr(r->out_fd, TCSANOW, &raw);
	}
	set_nonblock(r->flags, &r->n_flags, r->master);
	set_nonblock(r->flags, &r->n_flags, r->in_fd);
	set_nonblock(r->flags, &r->n_flags, r->out_fd);
}

/* What to wait for in p[5] (container end, signals, pty, input, output): returns poll's timeout. */
static int relay_poll_set(const struct relay *r, bool out_room, struct pollfd p[5])
{
	p[0] = (struct pollfd){ .fd = r->ended ? -1 : r->pidfd, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = r->sigfd, .events = POLLIN };
	p[2] = (struct pollfd){ .fd = r->master_open ? r->master : -1,
				.events = (out_room && !r->ended ? POLLIN : 0) | (r->in && r->in->len ? POLLOUT : 0) };
	p[3] = (struct pollfd){ .fd = r->in_fd >= 0 && r->in && r->in->len == 0 && !r->ended ? r->in_fd : -1,
				.events = POLLIN };
	p[4] = (struct pollfd){ .fd = r->out && r->out->len && r->out_fd >= 0 ? r->out_fd : -1, .events = POLLOUT };
	if (p[2].events == 0)
		p[2].fd = -1;
	int timeout = r->eof_pending ? 100 : -1;
	if (r->ended && r->master_open && out_room)
		timeout = 0;   /* draining what the container left in the pty */
	return timeout;
}

/* A signal arrived on sigfd: true when the relay should stop at once. */
static bool relay_on_signalfd(struct relay *r)
{
	struct signalfd_siginfo si;
	if (read(r->sigfd, &si, sizeof(si)) != sizeof(si))
		return false;
	int sig = (int)si.ssi_signo;
	if (sig == SIGWINCH) {
		if (r->master >= 0 && r->c->log_fd < 0)
			copy_winsize(r->tty, r->master);
	} else if (r->ended && (sig == SIGTERM || sig == SIGINT))
		return true;   /* only flushing output someone does not read */
	else if (!r->ended)
		on_signal(&r->pol, sig);
	return false;
}

/* Typed input to the pty, the container's output from it. */
static void relay_pump_master(struct relay *r, bool out_room)
{
	if (r->in && r->in->len && buf_flush(r->in, r->master, &r->last) < 0)
		r->in->len = 0;
	if (out_room || r->ended) {
		int n = buf_fill(r->out, r->master);
		if (n < 0 || (r->ended && n == 0 && r->out->len < RELAY_BUF))
			r->master_open = false;   /* nothing more to come */
	}
}

/* Read the host's input and pass it on: true when the user typed the escape to leave. */
static bool relay_read_input(struct relay *r)
{
	int n = buf_fill(r->in, r->in_fd);
	if (n < 0) {
		r->in_fd = -1;
		/* A pipe or file ended: tell the command; a terminal hanging up just stops typing. */
		r->eof_pending = !r->interactive;
	} else if (n > 0 && r->interactive && runner_escape_feed(&r->esc, r->in->data, r->in->len, now_usec()))
		return true;
	if (r->in->len && buf_flush(r->in, r->master, &r->last) < 0)
		r->in->len = 0;
	return false;
}

static void relay_restore(const struct relay *r)
{
	alarm(0);
	if (r->interactive)
		tcsetattr(STDIN_FILENO, TCSANOW, &r->saved);
	if (r->out_raw)
		tcsetattr(r->out_fd, TCSANOW, &r->saved_out);
	restore_flags(r->flags, r->n_flags);
}

int runner_console_relay(const struct run_config *c, int master, int pidfd, int sigfd,
		  int (*map_signal)(int sig, void *data), void *data)
{
	struct relay rl = { .c = c, .master = master, .pidfd = pidfd, .sigfd = sigfd, .tty = host_tty(),
			    .in_fd = -1, .out_fd = -1, .master_open = master >= 0,
			    .pol = { .pidfd = pidfd, .map_signal = map_signal, .data = data } };
	int left = 0;
	_cleanup_free_ struct relay_buf *in = NULL, *out = NULL;
	/*
	 * Hold a slave open ourselves: otherwise the master reports EIO (and
	 * poll POLLHUP) whenever no process inside has the console open, as
	 * between an init's boot steps.
	 */
	_cleanup_close_ int peer = master >= 0 ? ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
	(void)peer;   /* only held */

	if (master >= 0) {
		rl.in = in = calloc(1, sizeof(*in));
		rl.out = out = calloc(1, sizeof(*out));
		relay_setup(&rl);
	}

	for (;;) {
		if (rl.master_open && rl.eof_pending && in->len == 0 && queue_eof(in, master, rl.last))
			rl.eof_pending = false;
		bool out_room = out && out->len < RELAY_BUF;
		struct pollfd p[5];
		if (poll(p, 5, relay_poll_set(&rl, out_room, p)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents && relay_on_signalfd(&rl))
			break;
		if (p[0].revents) {
			/*
			 * The container ended.  What it wrote is in the pty (a read
			 * waits for the kernel's pending tty work first); move it out,
			 * then stop.
			 */
			rl.ended = true;
			if (!rl.master_open)
				break;
		}
		if (rl.master_open && (p[2].revents || rl.ended))
			relay_pump_master(&rl, out_room);
		if (p[3].revents && relay_read_input(&rl)) {
			left = 1;
			break;
		}
		if (out && out->len && (p[4].revents || rl.out_fd < 0 || rl.ended)) {
			if (buf_flush(out, rl.out_fd, NULL) < 0)
				out->len = 0;   /* nobody reads our output any more: drop it */
		}
		if (rl.ended && !rl.master_open && (!out || out->len == 0))
			break;
	}
	relay_restore(&rl);
	return left;
}
