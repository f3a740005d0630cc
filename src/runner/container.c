/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The process chain of a container (see runner.h) and its parent's side. */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <sys/capability.h>
#include <unistd.h>

#include "src/basic/testhook.h"
#include "src/runner/runner.h"

extern char **environ;

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/*
 * Report "STEP: reason" to the parent.  The first byte says whether it is a
 * setup failure ('S': exit 1) or a failed exec of the command ('E': the
 * command's 126/127 status is the answer).
 */
static void report(int fd, char kind, const char *step, int err)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "%c%s: %s", kind, step, strerror(err > 0 ? err : -err));
	if (write(fd, buf, n) < 0) {
		/* the parent is gone; nothing to tell */
	}
}

/*
 * A pty on the container's devpts, sized like the host's terminal before
 * the command can ask (the relay's own copy would come too late for a
 * command that looks at once), passed to the parent.  *slave: its path.
 */
static int make_console(const struct run_config *c, int sock, char **slave)
{
	int r, master = runner_pty_open(slave);
	if (master < 0)
		return master;
	if (c->winsize.ws_row || c->winsize.ws_col)
		ioctl(master, TIOCSWINSZ, &c->winsize);
	if (c->pty_no_echo && (r = runner_pty_set_no_echo(master)) < 0) {
		close(master);
		return r;
	}
	r = runner_fd_send(sock, master);
	close(master);
	close(sock);
	return r;
}

/*
 * A parent killed before PR_SET_PDEATHSIG was set sends no death signal: it
 * is gone when no one reads the error pipe any more (only it has the read
 * end).  Without this check such a container would run on, unowned.
 */
static void parent_still_there(int errfd)
{
	struct pollfd p = { .fd = errfd, .events = 0 };
	if (poll(&p, 1, 0) == 1 && (p.revents & POLLERR))
		_exit(EXIT_FAILURE);
}

static _Noreturn void fail(int fd, const char *step, int err)
{
	report(fd, 'S', step, err);
	_exit(EXIT_FAILURE);
}

/* KEY=VALUE list: later assignments of a key replace earlier ones. */
static void env_set(char **env, size_t *n, char *kv)
{
	size_t klen = strchr(kv, '=') - kv + 1;
	for (size_t i = 0; i < *n; i++)
		if (strncmp(env[i], kv, klen) == 0) {
			env[i] = kv;
			return;
		}
	env[(*n)++] = kv;
}

static char **build_env(const struct run_config *c, const char *home, const char *user)
{
	size_t extra = 0;
	while (c->env && c->env[extra])
		extra++;
	char **env = calloc(extra + 8, sizeof(char *));
	size_t n = 0;
	char *v;
	if (!env)
		return NULL;
	env_set(env, &n, "container=layerctl");
	env_set(env, &n, "PATH=" DEFAULT_PATH);
	if (asprintf(&v, "HOME=%s", home) > 0)
		env_set(env, &n, v);
	if (asprintf(&v, "USER=%s", user) > 0)
		env_set(env, &n, v);
	if (asprintf(&v, "LOGNAME=%s", user) > 0)
		env_set(env, &n, v);
	const char *term = getenv("TERM");
	if (asprintf(&v, "TERM=%s", term && *term ? term : "vt220") > 0)
		env_set(env, &n, v);
	for (size_t i = 0; i < extra; i++)
		env_set(env, &n, c->env[i]);
	env[n] = NULL;
	return env;
}

static const char *find_init(const char *const *cands)
{
	for (; *cands; cands++)
		if (access(*cands, X_OK) == 0)
			return *cands;
	return NULL;
}

static _Noreturn void exec_init(const struct run_config *c, int errfd)
{
	static const char *const inits[] = { "/usr/lib/systemd/systemd", "/lib/systemd/systemd", "/sbin/init", NULL };
	const char *init = find_init(inits);
	if (!init)
		fail(errfd, "boot: no init (/usr/lib/systemd/systemd, /lib/systemd/systemd, /sbin/init)", ENOENT);
	size_t n = 0;
	while (c->argv && c->argv[n])
		n++;
	char *argv[n + 2];
	argv[0] = (char *)init;
	for (size_t i = 0; i < n; i++)
		argv[i + 1] = c->argv[i];
	argv[n + 1] = NULL;
	char **env = build_env(c, "/root", "root");
	if (!env)
		fail(errfd, "environment", ENOMEM);
	if (chdir("/") < 0)
		fail(errfd, "chdir /", errno);
	execve(init, argv, env);
	report(errfd, 'E', init, errno);
	_exit(errno == ENOENT ? 127 : 126);
}

/*
 * What the command needs, prepared by the stub before it clones the
 * command.  The command shares the stub's memory until it execs (below):
 * nothing it reads may be in the host's argv and environment strings, which
 * the stub wipes meanwhile.  The run_config's strings are the parser's
 * heap copies (run-opts.c, config.c) and build_env copies the rest.
 */
struct command_spawn {
	int errfd, gate_r, gate_w;   /* the gate: the command reads EOF once the stub is ready */
	const char *slave;
	unsigned pty_fds;
	bool switch_user, fence;
	struct runner_user user;
	const char *dir;         /* to chdir to */
	char **argv, **env;
	sigset_t oldmask;
};

/*
 * PID 2: the command.  It runs on a stack of its own in the stub's memory
 * (CLONE_VM, as posix_spawn's child does), so it makes system calls and
 * formats strings on its own stack, nothing else: no malloc, no stdio
 * stream, nothing the stub could be using at the same time.
 * The stub is idle by then (it waits for signals); the command starts once
 * the stub has closed every descriptor of the host's and scrubbed the host's
 * strings: it reads EOF on the gate, whose write end the stub closes last.
 * Signals are still blocked (inherited from the stub).
 */
static int exec_command(void *arg)
{
	const struct command_spawn *s = arg;
	char b;
	int r;

	close(s->gate_w);   /* our copy of it */
	while (read(s->gate_r, &b, 1) < 0 && errno == EINTR)
		;
	close(s->gate_r);

	/* A new session: no controlling terminal shared with the host (TIOCSTI). */
	if (setsid() < 0)
		fail(s->errfd, "session", errno);
	if (s->slave && (r = runner_pty_attach(s->slave, s->pty_fds)) < 0)
		fail(s->errfd, "console", r);
	if (s->switch_user && (r = runner_user_switch(&s->user)) < 0)
		fail(s->errfd, "user", r);
	if (chdir(s->dir) < 0) {
		char msg[PATH_MAX];
		snprintf(msg, sizeof(msg), "chdir %s", s->dir);
		fail(s->errfd, msg, errno);
	}
	/*
	 * The command dies with its stub.  Under run that happens anyway (the
	 * stub is PID 1); an exec'd command would otherwise outlive an exec that
	 * was left with ^]^]^] or killed.  Set last: a user switch clears it.
	 */
	pid_t stub = getppid();
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != stub)
		_exit(EXIT_FAILURE);
	/*
	 * run: the stub (PID 1) is a fork of the host's layerctl; root inside
	 * must not ptrace it.  exec: the stub is outside the PID namespace, and
	 * a domain would keep the command from tracing or signalling the
	 * container's processes (gdb -p, kill -HUP), which is what exec is for.
	 */
	if (s->fence && (r = runner_pid1_fence()) < 0)
		fail(s->errfd, "landlock", r);
	sigprocmask(SIG_SETMASK, &s->oldmask, NULL);
	/* execvp searches the PATH of environ: make it the container's (the stub reads environ no more). */
	environ = s->env;
	execvp(s->argv[0], s->argv);
	int e = errno;
	char msg[PATH_MAX];
	snprintf(msg, sizeof(msg), "exec %s", s->argv[0]);
	report(s->errfd, 'E', msg, e);
	_exit(e == ENOENT ? 127 : 126);
}

/* Fill *s for c: the user looked up, the environment built, every string copied. */
static void prepare_command(const struct run_config *c, int errfd, const char *slave, const sigset_t *oldmask,
			    bool fence, struct command_spawn *s)
{
	const char *step;
	int r;

	*s = (struct command_spawn){ .errfd = errfd, .slave = slave, .pty_fds = c->pty_fds, .fence = fence,
				     .oldmask = *oldmask };
	s->switch_user = c->user && !STREQ(c->user, "root") && !STREQ(c->user, "0");
	if (s->switch_user && (r = runner_user_lookup(c->user, &s->user, &step)) < 0) {
		if (r == -ESRCH) {
			char msg[PATH_MAX];
			snprintf(msg, sizeof(msg), "user %s: not in the container's /etc/passwd", c->user);
			fail(errfd, msg, ENOENT);
		}
		fail(errfd, step, r);
	}
	static char *sh[] = { "/bin/sh", NULL };
	s->argv = c->argv && c->argv[0] ? c->argv : sh;
	s->dir = c->chdir ? c->chdir : "/";
	if (!(s->env = build_env(c, s->user.home ? s->user.home : "/root", c->user ? c->user : "root")))
		fail(errfd, "environment", ENOMEM);
}

/* The command's stack: ample for execvp's PATH buffer and an error message, a guard page below it. */
#define COMMAND_STACK_SIZE (256 * 1024)

/*
 * Start the command (PID 2 of the namespace) and become its stub init.
 * The stub's own stdio must not keep the parent's pipes open after the
 * command ends, and it keeps no other descriptor: the container's root could
 * otherwise open host files (the run lock, say) through /proc/1/fd.
 *
 * The command is a CLONE_VM child: a fork would copy the stub's page tables
 * and then fault in a copy of every page either process writes before the
 * command's exec discards them all (~40 page faults, ~0.2 ms of a run:
 * docs/runner.md, "Start-up cost").  ASan keeps per-thread stack bounds
 * that a second stack in the same thread's memory confuses, so sanitizer
 * builds fork.
 */
static _Noreturn void fork_command_and_stub(const struct run_config *c, int errfd, const char *slave,
					    const sigset_t *oldmask, bool fence)
{
	sigset_t set;
	runner_pid1_signal_set(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	struct command_spawn *s = malloc(sizeof(*s));
	if (!s)
		fail(errfd, "command", ENOMEM);
	prepare_command(c, errfd, slave, oldmask, fence, s);
	/*
	 * The command starts only once the stub holds nothing but /dev/null: it
	 * waits for EOF on a pipe whose write end the stub closes last.
	 * Without it a quick command, the stub being preempted after fork, saw
	 * the stub's descriptors in /proc/1/fd (test-run's pipe_through_cat,
	 * one run in 25 on a loaded machine).
	 */
	int gate[2];
	if (pipe2(gate, O_CLOEXEC) < 0)
		fail(errfd, "pipe", errno);
	s->gate_r = gate[0];
	s->gate_w = gate[1];
	pid_t pid;
#if defined(__SANITIZE_ADDRESS__)
	pid = fork();
	if (pid == 0)
		_exit(exec_command(s));
#else
	char *stack = mmap(NULL, COMMAND_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED || mprotect(stack, 4096, PROT_NONE) < 0)
		fail(errfd, "command stack", errno);
	pid = clone(exec_command, stack + COMMAND_STACK_SIZE, CLONE_VM | SIGCHLD, s);
#endif
	if (pid < 0)
		fail(errfd, "fork", errno);
	/* A slow stub, for the test that the command waits for it (test-run). */
	test_hook("stub-before-close");
	close(gate[0]);
	close(errfd);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	/* All but the gate's write end, which the stub closes once it is ready. */
	if (gate[1] > 3)
		syscall(SYS_close_range, 3, (unsigned)gate[1] - 1, 0);
	syscall(SYS_close_range, (unsigned)gate[1] + 1, ~0U, 0);
	runner_pid1_stub(pid, gate[1]);
}

static _Noreturn void container_init(const struct run_config *c, int errfd, int sock, int bpffd, int syncfd,
				     const sigset_t *oldmask)
{
	_cleanup_free_ char *slave = NULL;
	const char *step = "hostname";
	int r;

	/* If the runner dies, so does the container (start: the monitor is the parent). */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	parent_still_there(errfd);
	/* Nothing of the host's open files crosses into the container. */
	syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
	/* User-namespace mode: nothing is mapped until the parent wrote the maps (userns.c). */
	if (syncfd >= 0 && (r = runner_userns_wait_for_maps(syncfd)) < 0)
		fail(errfd, "user namespace: uid/gid maps", r);
	/* Our own cgroups first, so they, not the host's, are the cgroup namespace's root. */
	if ((r = runner_cgroups_join(&c->cgroups)) < 0)
		fail(errfd, "cgroup: join", r);
	if (unshare(CLONE_NEWCGROUP) < 0)
		fail(errfd, "cgroup namespace", errno);

	const char *hn = c->hostname ? c->hostname : c->name;
	if (sethostname(hn, strlen(hn)) < 0)
		fail(errfd, step, errno);
	if (c->private_network && (r = runner_loopback_up()) < 0)
		fail(errfd, "private network: lo", r);
	if ((r = runner_setup_root(c, &step)) < 0)
		fail(errfd, step, r);

	if (sock >= 0) {
		if ((r = make_console(c, sock, &slave)) < 0)
			fail(errfd, "console: pty", r);
		if ((r = runner_bind_console(slave)) < 0)
			fail(errfd, "console: /dev/console", r);
	} else if ((r = runner_bind_console("/dev/null")) < 0)
		fail(errfd, "/dev/console", r);

	if ((r = runner_caps_apply(runner_config_caps(c), &step)) < 0)
		fail(errfd, step, r);
	if ((r = runner_seccomp_load_from(c->boot ? SECCOMP_BOOT : SECCOMP_PLAIN, bpffd)) < 0)
		fail(errfd, "seccomp", r);
	close(bpffd);

	if (c->boot) {
		if (slave && (setsid() < 0 || (r = runner_pty_attach(slave, c->pty_fds)) < 0))
			fail(errfd, "console", r < 0 ? r : -errno);
		sigprocmask(SIG_SETMASK, oldmask, NULL);
		exec_init(c, errfd);
	}

	fork_command_and_stub(c, errfd, slave, oldmask, true);
}

/*
 * Hand the filter to the container.  A container whose setup failed before
 * it read the pipe has closed it: the write then gets EPIPE, and the
 * SIGPIPE it raises must not kill layerctl before it reports the failure
 * (it did, about one time in three, for a bind source that does not exist).
 */
static int send_filter(enum seccomp_profile p, const char *runtime, int fd)
{
	sigset_t pipe_set, old;
	struct timespec zero = { 0, 0 };
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &pipe_set, &old);
	int r = runner_seccomp_export_to(p, runtime, fd);
	if (!sigismember(&old, SIGPIPE))
		while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
			;   /* ours, not one that was pending before */
	sigprocmask(SIG_SETMASK, &old, NULL);
	return r == -EPIPE ? 0 : r;   /* collect_start reports why the container went */
}

/*
 * A container whose filter could not be built fails to start ("seccomp: Bad
 * message"); the parent's reason (libseccomp missing, say) is the one line
 * to show instead.
 */
static int filter_failed(int r, const char *why, char *errbuf, size_t errlen)
{
	if (r < 0 && why[0])
		snprintf(errbuf, errlen, "%s", why);
	return r;
}

/* The container's store: the last part of its runtime dir (RUNTIME/stores/ID). */
static const char *store_id(const struct run_config *c)
{
	const char *slash = c->runtime ? strrchr(c->runtime, '/') : NULL;
	return slash && slash[1] ? slash + 1 : "default";
}

/*
 * Every container gets cgroups of its own (cgroup.c says why); one that
 * will hold CAP_SYS_ADMIN is not started without them where it would
 * otherwise sit in a hierarchy's root.
 */
static int make_cgroups(struct run_config *c, char *errbuf, size_t errlen)
{
	struct lc_err err = { "" };
	bool sys_admin = runner_config_caps(c) & (UINT64_C(1) << CAP_SYS_ADMIN);
	const struct runner_cgroup_backend *be = runner_cgroup_backend();
	unsigned want = runner_limits_controllers(&c->limits);
	int r = be->make(store_id(c), c->name, sys_admin, want, &c->cgroups, &err);
	if (r < 0 && !sys_admin) {
		snprintf(errbuf, errlen, "limits: %s", lc_err_msg(&err, r));
		return r;
	}
	/*
	 * CAP_SYS_ADMIN in a user namespace of its own is not the host's: the
	 * kernel refuses release_agent (written, or as a mount option) outside
	 * the initial user namespace, and the file is root's outside.  Such a
	 * container still gets v1 cgroups of its own (a hierarchy mounted inside
	 * then shows nothing of the host's), but is not refused without them.
	 */
	if (r < 0 && runner_config_userns(c)) {
		lc_warn(&c->warn, "%s: %s; running in its user namespace without cgroups of its own there", c->name,
			lc_err_msg(&err, r));
		err = (struct lc_err){ "" };
		r = be->make(store_id(c), c->name, false, want, &c->cgroups, &err);
	}
	if (r < 0) {
		snprintf(errbuf, errlen, "%s; refusing to run with CAP_SYS_ADMIN in a root cgroup (release_agent)",
			 lc_err_msg(&err, r));
		return r;
	}
	/* A simple init boots without it; systemd will say what it misses. */
	if (c->boot && !c->cgroups.v2_path)
		lc_warn(&c->warn, "%s: boot: no cgroup2 of its own (%s); /sys/fs/cgroup stays empty", c->name,
			err.msg[0] ? err.msg : "no cgroup2 hierarchy");
	/* Limits before anyone is in the cgroups: the command never runs unlimited (limits.c). */
	err = (struct lc_err){ "" };
	free(c->limits_applied);
	c->limits_applied = NULL;
	if (c->limits.set && (r = be->apply(&c->limits, &c->cgroups, &c->warn, &c->limits_applied, &err)) < 0) {
		snprintf(errbuf, errlen, "limits: %s", lc_err_msg(&err, r));
		runner_cgroups_remove(&c->cgroups);
		return r;
	}
	return 0;
}

static sigset_t parent_signals(void)
{
	sigset_t s;
	sigemptyset(&s);
	int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGALRM };
	for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
		sigaddset(&s, sigs[i]);
	return s;
}

/*
 * The parent's side of a start: the pty master if one was asked for, then
 * the error pipe until EOF (the command or init was exec'd) or a report.
 */
static int collect_start(struct run_config *c, struct container *ret, int errfd, int sock, const sigset_t *old,
			 char *errbuf, size_t errlen, int *exit_hint)
{
	if (sock >= 0) {
		ret->master = runner_fd_recv(sock);   /* -EBADMSG when setup failed first */
		close(sock);
	}
	char msg[512];
	ssize_t n, len = 0;
	while ((n = read(errfd, msg + len, sizeof(msg) - 1 - len)) > 0)
		len += n;
	close(errfd);
	if (len == 0 && sock >= 0 && ret->master < 0) {
		len = snprintf(msg, sizeof(msg), "Sconsole: %s", strerror(-ret->master));
		syscall(SYS_pidfd_send_signal, ret->pidfd, SIGKILL, NULL, 0);
	}
	if (len == 0)
		return 0;
	msg[len] = '\0';
	snprintf(errbuf, errlen, "%s", msg + 1);
	siginfo_t si = {};
	while (waitid(P_PIDFD, ret->pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	sigprocmask(SIG_SETMASK, old, NULL);
	*exit_hint = msg[0] == 'E' && si.si_code == CLD_EXITED ? si.si_status : 1;
	runner_container_done(ret);
	runner_cgroups_remove(&c->cgroups);
	runner_network_release(c);
	return -EIO;
}

/*
 * Before the container may go on (it waits for the filter): its network,
 * made from here (network.c).  On failure it is killed and reaped, and
 * everything made for it undone.
 */
static int attach_network(struct run_config *c, struct container *ct, char *errbuf, size_t errlen)
{
	struct lc_err err = { "" };
	int r = runner_network_attach(c, ct->pid, &err);
	if (r == 0)
		return 0;
	snprintf(errbuf, errlen, "network: %s", lc_err_msg(&err, r));
	syscall(SYS_pidfd_send_signal, ct->pidfd, SIGKILL, NULL, 0);
	siginfo_t si = {};
	while (waitid(P_PIDFD, ct->pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	return r;
}

static int prepare_network(struct run_config *c, char *errbuf, size_t errlen)
{
	struct lc_err err = { "" };
	int r = runner_network_prepare(c, &err);
	if (r < 0)
		snprintf(errbuf, errlen, "network: %s", lc_err_msg(&err, r));
	return r;
}

/* The descriptors between parent and container during a start: [0] read, [1] write, -1 when not open. */
struct start_fds {
	int err[2];    /* the container's setup error, or EOF when it exec'd */
	int bpf[2];    /* the seccomp filter, sent to the container */
	int sock[2];   /* the pty master, sent back (only with a pty) */
	int sync[2];   /* "u": the user namespace's maps are written (only with a user namespace) */
};

static void close_start_fds(const struct start_fds *f)
{
	const int *fds[] = { f->err, f->bpf, f->sock, f->sync };
	for (size_t i = 0; i < ELEMENTSOF(fds); i++)
		for (int k = 0; k < 2; k++)
			if (fds[i][k] >= 0)
				close(fds[i][k]);
}

/* 0, or -errno with errbuf set and nothing left open. */
static int open_start_fds(struct start_fds *f, bool userns, bool pty, char *errbuf, size_t errlen)
{
	*f = (struct start_fds){ { -1, -1 }, { -1, -1 }, { -1, -1 }, { -1, -1 } };
	if ((userns && pipe2(f->sync, O_CLOEXEC) < 0) || pipe2(f->err, O_CLOEXEC) < 0 || pipe2(f->bpf, O_CLOEXEC) < 0 ||
	    (pty && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, f->sock) < 0)) {
		int e = errno;
		close_start_fds(f);
		snprintf(errbuf, errlen, "pipe: %s", strerror(e));
		return -e;
	}
	return 0;
}

static unsigned long long clone_flags(const struct run_config *c)
{
	/* No CLONE_NEWCGROUP: the container's first process makes it once in its own cgroups (cgroup.c). */
	unsigned long long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
	if (c->private_network)
		flags |= CLONE_NEWNET;
	/* The other namespaces then belong to the new user namespace (userns.c). */
	if (runner_config_userns(c))
		flags |= CLONE_NEWUSER;
	return flags;
}

/* What a start made before the clone, undone. */
static void release_made(struct run_config *c)
{
	runner_cgroups_remove(&c->cgroups);
	runner_network_release(c);
}

/* In the new process: keep the container's ends only. */
static _Noreturn void start_child(const struct run_config *c, const struct start_fds *f, const sigset_t *old)
{
	close(f->err[0]);
	close(f->bpf[1]);
	if (f->sock[0] >= 0)
		close(f->sock[0]);
	if (f->sync[1] >= 0)
		close(f->sync[1]);
	container_init(c, f->err[1], f->sock[1], f->bpf[0], f->sync[0], old);
}

/* In the parent after the clone: the container's ends closed, and its user namespace's maps written. */
static void parent_after_clone(struct run_config *c, const struct start_fds *f, pid_t pid)
{
	int r = 0;

	close(f->err[1]);
	close(f->bpf[0]);
	if (f->sync[0] >= 0)
		close(f->sync[0]);
	if (f->sync[1] >= 0) {
		/* A container left without maps reads EOF and reports it. */
		if (pid > 0 && (r = runner_userns_parent_setup(c, pid)) == 0 && write(f->sync[1], "u", 1) != 1)
			r = -errno;
		if (pid > 0 && r < 0)
			lc_warn(&c->warn, "%s: user namespace: %s", c->name, strerror(-r));
		close(f->sync[1]);
	}
}

/* A start that failed at or after the clone: signals back, the parent's ends closed. */
static void abandon_start_fds(const struct start_fds *f, const sigset_t *old)
{
	sigprocmask(SIG_SETMASK, old, NULL);
	close(f->err[0]);
	if (f->sock[0] >= 0)
		close(f->sock[0]);
}

int runner_container_start(struct run_config *c, struct container *ret, char *errbuf, size_t errlen, int *exit_hint)
{
	struct start_fds f;
	char filter_err[600] = "";
	int r;
	/* Which of the command's stdio are a pty of its own (console.c). */
	runner_console_plan(c);
	bool pty = c->pty_fds != 0;
	sigset_t block = parent_signals(), old;

	*ret = (struct container){ .pidfd = -1, .master = -1 };
	*exit_hint = 1;
	if ((r = prepare_network(c, errbuf, errlen)) < 0)
		return r;
	if ((r = make_cgroups(c, errbuf, errlen)) < 0) {
		runner_network_release(c);
		return r;
	}
	if ((r = open_start_fds(&f, runner_config_userns(c), pty, errbuf, errlen)) < 0) {
		release_made(c);
		return r;
	}
	/* Blocked before the clone: a Ctrl-C in between would otherwise orphan the container. */
	sigprocmask(SIG_BLOCK, &block, &old);
	pid_t pid = runner_clone_into_namespaces(clone_flags(c), c->cgroups.v2_fd, &ret->pidfd);
	if (pid == 0)
		start_child(c, &f, &old);
	parent_after_clone(c, &f, pid);
	runner_cgroups_close(&c->cgroups);   /* the container has its copies */
	int net_r = 0;
	if (pid > 0) {
		ret->pid = pid;
		net_r = attach_network(c, ret, errbuf, errlen);
	}
	if (pid > 0 && net_r == 0) {
		/* Meanwhile the container builds its root; an empty pipe tells it we failed. */
		r = send_filter(c->boot ? SECCOMP_BOOT : SECCOMP_PLAIN, c->runtime, f.bpf[1]);
		if (r < 0)
			snprintf(filter_err, sizeof(filter_err), "seccomp filter: %s", runner_seccomp_strerror(r));
	}
	close(f.bpf[1]);
	if (f.sock[1] >= 0)
		close(f.sock[1]);
	if (pid < 0) {
		abandon_start_fds(&f, &old);
		snprintf(errbuf, errlen, "clone: %s", strerror(-pid));
		release_made(c);
		return pid;
	}
	ret->pid = pid;
	if (net_r < 0) {   /* the container is reaped already */
		abandon_start_fds(&f, &old);
		runner_container_done(ret);
		release_made(c);
		return net_r;
	}
	return filter_failed(collect_start(c, ret, f.err[0], pty ? f.sock[0] : -1, &old, errbuf, errlen, exit_hint),
			     filter_err, errbuf, errlen);
}

static int status_of(const struct run_config *c, const siginfo_t *si)
{
	if (si->si_code == CLD_EXITED)
		return si->si_status;
	/* reboot(2) in a PID namespace ends its init with SIGINT (halt, power off) or SIGHUP (reboot). */
	if (c->boot && (si->si_status == SIGINT || si->si_status == SIGHUP))
		return 0;
	return 128 + si->si_status;
}

/* A booted init is asked to power off the way it understands; a command gets the signal as is. */
static int signal_for_container(int sig, void *data)
{
	const struct run_config *c = data;
	if (c->boot && (sig == SIGINT || sig == SIGTERM || sig == SIGHUP))
		return c->kill_signal;
	return sig;
}

int runner_container_wait(struct run_config *c, struct container *ct)
{
	sigset_t set = parent_signals();
	_cleanup_close_ int sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	siginfo_t si = {};

	/* With or without a pty: relay, forward signals, end on SIGTERM (console.c). */
	if (runner_console_relay(c, ct->master, ct->pidfd, sigfd, signal_for_container, c) == 1) {
		if (ct->entered)
			lc_warn(&c->notice, "Left the session in container %s (it keeps running).", c->name);
		else
			lc_warn(&c->notice, "Left container %s: killing it.", c->name);
		ct->left = true;
		syscall(SYS_pidfd_send_signal, ct->pidfd, SIGKILL, NULL, 0);
	}
	while (waitid(P_PIDFD, ct->pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	runner_cgroups_remove(&c->cgroups);
	runner_network_release(c);
	ct->rebooted = c->boot && si.si_code != CLD_EXITED && si.si_status == SIGHUP;
	return status_of(c, &si);
}

void runner_container_done(struct container *ct)
{
	if (ct->pidfd >= 0)
		close(ct->pidfd);
	if (ct->master >= 0)
		close(ct->master);
	ct->pidfd = ct->master = -1;
}

/*
 * exec: the process that joins a running container.  It cannot enter the
 * PID namespace itself (setns only moves its future children), so it forks
 * the command into it and stays outside as a stub that forwards signals and
 * hands back the exit status.  The filter arrives over bpffd like in run.
 */
static _Noreturn void enter_and_exec(const struct run_config *c, int target, bool net, int errfd, int sock, int bpffd,
				     const sigset_t *oldmask)
{
	_cleanup_free_ char *slave = NULL;
	const char *step;
	int r;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	parent_still_there(errfd);
	syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
	/* Its limits hold what enters too (limits.c, runner_cgroups_open_state). */
	if ((r = runner_cgroups_join(&c->cgroups)) < 0)
		fail(errfd, "cgroup: join", r);
	if ((r = runner_join_namespaces(target, net)) < 0)
		fail(errfd, "setns", r);
	if (sock >= 0 && (r = make_console(c, sock, &slave)) < 0)
		fail(errfd, "console: pty", r);
	if ((r = runner_caps_apply(runner_config_caps(c), &step)) < 0)
		fail(errfd, step, r);
	if ((r = runner_seccomp_load_from(SECCOMP_PLAIN, bpffd)) < 0)
		fail(errfd, "seccomp", r);
	close(bpffd);

	fork_command_and_stub(c, errfd, slave, oldmask, false);
}

int runner_container_enter(struct run_config *c, int target, bool net, struct container *ret, char *errbuf, size_t errlen,
		    int *exit_hint)
{
	int errpipe[2] = { -1, -1 }, bpfpipe[2] = { -1, -1 }, sv[2] = { -1, -1 };
	char filter_err[600] = "";
	runner_console_plan(c);
	bool pty = c->pty_fds != 0;
	sigset_t block = parent_signals(), old;

	*ret = (struct container){ .pidfd = -1, .master = -1 };
	*exit_hint = 1;
	if (pipe2(errpipe, O_CLOEXEC) < 0 || pipe2(bpfpipe, O_CLOEXEC) < 0 ||
	    (pty && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)) {
		int e = errno;
		int *fds[] = { errpipe, bpfpipe, sv };
		for (size_t i = 0; i < ELEMENTSOF(fds); i++)
			for (int k = 0; k < 2; k++)
				if (fds[i][k] >= 0)
					close(fds[i][k]);
		snprintf(errbuf, errlen, "pipe: %s", strerror(e));
		return -e;
	}
	sigprocmask(SIG_BLOCK, &block, &old);
	pid_t pid = runner_clone_into_namespaces(0, c->cgroups.v2_fd, &ret->pidfd);
	/* A booted systemd has taken the container's cgroup2 root for its own tree (no internal processes there). */
	if (pid == -EBUSY)
		pid = runner_clone_into_namespaces(0, -1, &ret->pidfd);
	if (pid == 0) {
		close(errpipe[0]);
		close(bpfpipe[1]);
		if (sv[0] >= 0)
			close(sv[0]);
		enter_and_exec(c, target, net, errpipe[1], sv[1], bpfpipe[0], &old);
	}
	close(errpipe[1]);
	close(bpfpipe[0]);
	runner_cgroups_close(&c->cgroups);
	if (sv[1] >= 0)
		close(sv[1]);
	if (pid > 0) {
		int r = send_filter(SECCOMP_PLAIN, c->runtime, bpfpipe[1]);
		if (r < 0)
			snprintf(filter_err, sizeof(filter_err), "seccomp filter: %s", runner_seccomp_strerror(r));
	}
	close(bpfpipe[1]);
	if (pid < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(errpipe[0]);
		if (sv[0] >= 0)
			close(sv[0]);
		snprintf(errbuf, errlen, "clone: %s", strerror(-pid));
		return pid;
	}
	ret->pid = pid;
	ret->entered = true;
	return filter_failed(collect_start(c, ret, errpipe[0], pty ? sv[0] : -1, &old, errbuf, errlen, exit_hint),
			     filter_err, errbuf, errlen);
}
