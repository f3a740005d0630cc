/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * layerctl's namespace runner (DESIGN.md, "Runner").  Split by concern the
 * way systemd's src/nspawn is:
 *
 *   config.c      the run configuration: defaults, child.conf keys, options
 *   namespaces.c  clone3 into new namespaces, hostname, loopback, setns
 *   mounts.c      rootfs: propagation, /dev, /proc masking, /sys, tmpfs,
 *                 binds, pivot_root
 *   caps.c        capability bounding set (libcap), user switch
 *   cgroup.c      a cgroup of its own in every hierarchy (v1 and v2)
 *   limits.c      resource limits: systemd's [Resources] syntax, written
 *                 to the v2 leaf or the v1 hierarchy owning the controller
 *   cgroup-state.c the running container's cgroup record, its statistics
 *   seccomp.c     the syscall filter (libseccomp), built by the parent and
 *                 cached as BPF in the runtime dir
 *   pid1.c        the reaping stub init and signal forwarding
 *   console.c     pty, raw mode, SIGWINCH, ^]^]^] escape, log relay
 *   container.c   the process chain that ties the above together (run,
 *                 --boot, start's container, exec's entry)
 *   state.c       runtime state: the "runs at most once" lock, pid file
 *   userns.c      user-namespace mode (PrivateUsers=): maps, becoming root
 *                 of it, what it cannot mount itself
 *   network.c     private network (veth, bridge, zone, ports): network.h,
 *                 with netlink.c (libmnl) and nft.c (libnftables)
 *
 * Process chain of `run`:
 *
 *   layerctl (parent, host namespaces; holds the run lock, relays the pty,
 *     │       forwards signals, propagates the exit status)
 *   cgroups: OURS/layerctl/STORE/NAME made in every hierarchy (cgroup.c)
 *   clone3(NEWNS|NEWPID|NEWUTS|NEWIPC[|NEWNET], pidfd, into the v2 cgroup)
 *     └─ PID 1: joins its v1 cgroups, unshare(NEWCGROUP), hostname, builds the root, pivot_root, console, caps,
 *        seccomp (the BPF program comes from the parent over a pipe); then
 *        either execs the child's init (--boot) or forks
 *          └─ PID 2: session, console, user, env, chdir, exec CMD
 *        and stays as the reaping stub init.
 *
 * exec: a process outside joins every namespace with setns(pidfd), gets the
 * plain profile, and forks the command into the PID namespace; it stays
 * outside as a stub that forwards signals and returns the status.
 *
 * Failures before exec travel back to the parent over a CLOEXEC pipe as
 * "STEP: reason" text, so the parent prints "run NAME: STEP: reason" and the
 * exit status of a command is never mistaken for a setup error.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/types.h>

#include "src/basic/macro.h"
#include "src/runner/network.h"

struct settings;

struct bind_spec {
	char *src;      /* host path */
	char *dst;      /* path inside the container */
	bool ro;
};

struct tmpfs_spec {
	char *dst;
	char *opts;     /* mount options, NULL for the default mode=0755 */
};

enum console_mode {
	CONSOLE_AUTO,   /* a pty for those of stdin/stdout/stderr that are terminals (all with boot) */
	CONSOLE_PTY,    /* always a pty, relayed by the parent */
	CONSOLE_PIPE,   /* the parent's stdio, passed through */
	CONSOLE_LOG,    /* a pty whose output goes to a log file (start) */
};

/* The container's cgroups (cgroup.c): made by the parent, joined by its first process. */
struct cgroups {
	char **dirs;            /* host paths, one per hierarchy, removed at the end */
	size_t n;
	int *procs;             /* v1 `tasks` files, written "0" (by a one-thread process) before unshare(CLONE_NEWCGROUP) */
	size_t n_procs;
	int v2_fd;              /* for clone3's CLONE_INTO_CGROUP, or -1 */
	char *v2_path;          /* host path of the v2 one, or NULL */
	int *mounts;            /* detached mounts of hierarchies mounted nowhere (dirs go through them) */
	size_t n_mounts;
	char **ctrls;           /* per dir: its hierarchy's controllers ("memory", "cpu,cpuacct"), "" for v2 */
	unsigned v2_enabled;    /* CG_* controllers delegated to the v2 leaf (limits.c writes those there) */
};

/* Resource limits (limits.c): systemd's [Resources] names and value syntax. */
enum limit_key {
	LIMIT_MEMORY_MAX, LIMIT_MEMORY_HIGH, LIMIT_MEMORY_SWAP_MAX, LIMIT_CPU_QUOTA, LIMIT_CPU_WEIGHT,
	LIMIT_TASKS_MAX, LIMIT_IO_WEIGHT, LIMIT_IO_READ_BW, LIMIT_IO_WRITE_BW, LIMIT__MAX,
};
#define LIMIT_INFINITY UINT64_MAX
/* The controllers limits need, one bit each. */
enum { CG_MEMORY = 1 << 0, CG_CPU = 1 << 1, CG_PIDS = 1 << 2, CG_IO = 1 << 3 };
struct run_limits {
	unsigned set;                   /* bit n: limit n was given */
	uint64_t value[LIMIT__MAX];     /* bytes, CPU usec per second, weight, tasks; LIMIT_INFINITY */
	dev_t dev[LIMIT__MAX];          /* IO*BandwidthMax=: the whole disk */
	bool best_effort;               /* --limits=best-effort: a limit that cannot be applied is a warning */
};

/* PrivateUsers=: no user namespace, a range picked by the store, or one given. */
enum private_users {
	PRIVATE_USERS_NO,
	PRIVATE_USERS_PICK,
	PRIVATE_USERS_FIXED,
};

struct run_config {
	char *name;             /* the child's name (messages, default hostname) */
	struct lc_warn warn;    /* something went wrong but the run goes on (the CLI prints it) */
	struct lc_warn notice;  /* what the user is told on the console (after the ^]^]^] escape) */
	char *root;             /* the overlay's root as reached from here: its host path, or
	                           /proc/self/fd/N of root_mnt_fd */
	/*
	 * A detached overlay (run of a child not mounted, fsmount): attached on
	 * root_attach in the container's mount namespace only, so no mount of
	 * run's own and no private namespace to copy first.  The caller keeps
	 * and closes root_mnt_fd.
	 */
	bool root_detached;
	int root_mnt_fd;
	char *root_attach;
	char **argv;            /* command (NULL: default shell, or init with boot) */
	bool boot;
	char *hostname;
	char **env;             /* extra KEY=VALUE, later ones win */
	char *user;
	char *chdir;
	uint64_t caps_add;      /* Capability=, --capability (bit n = capability n) */
	uint64_t caps_drop;     /* DropCapability=, --drop-capability */
	struct bind_spec *binds;
	size_t n_binds;
	struct tmpfs_spec *tmpfs;
	size_t n_tmpfs;
	bool private_network;
	int kill_signal;        /* signal asking init to power off; 0 = by init */
	enum console_mode console;
	int log_fd;             /* CONSOLE_LOG: where the console goes */
	/* Set by the runner (runner_console_plan): */
	unsigned pty_fds;       /* which of the command's fds 0, 1, 2 are the pty (bit n = fd n) */
	bool pty_input;         /* relay our stdin into the pty */
	bool pty_no_echo;       /* the pty is fed by a pipe: no echo */
	struct winsize winsize; /* the host terminal's, for the pty before anything runs */
	struct cgroups cgroups; /* its own cgroups (cgroup.c) */
	const char *runtime;    /* the store's runtime dir (filter cache), or NULL */
	enum private_users private_users;
	uint32_t uid_base;      /* user namespace: 0..uid_count-1 inside is uid_base.. outside */
	uint32_t uid_count;     /* 0 until the range is known (PICK: the CLI asks the store) */
	struct run_limits limits;  /* [Resources], --property */
	char *limits_applied;   /* set by the runner: what was written where ("memory.limit_in_bytes=…; …") */
	struct net_config net;  /* veth, bridge, zone, ports (network.h) */
};

void runner_config_done(struct run_config *c);

/* ---- settings.c ---- */

/* nspawn's default bounding set, and the one for plain commands (no SYS_ADMIN). */
uint64_t runner_caps_nspawn_default(void);
/*
 * The bounding set a container gets: nspawn's, minus CAP_SYS_ADMIN unless it
 * boots an init (see caps.c for why), plus caps_add, minus caps_drop.
 */
uint64_t runner_config_caps(const struct run_config *c);
/* "CAP_SYS_ADMIN" / "sys_admin" / "all" -> mask; -EINVAL on an unknown name. */
int runner_caps_parse(const char *list, uint64_t *ret);
/*
 * Apply child.conf's [Exec] and [Files] keys (nspawn names, one table in
 * config.c) to c.  Errors name the key: "Exec.Capability=foo: unknown
 * capability".
 */
int runner_config_from_settings(struct run_config *c, const struct settings *s, struct lc_err *err);
/* Parsers shared by options and settings. */
int runner_bind_parse(const char *arg, bool ro, struct bind_spec *ret);
int runner_tmpfs_parse(const char *arg, struct tmpfs_spec *ret);
int runner_env_assignment_ok(const char *kv);
int runner_config_add_env(struct run_config *c, const char *kv);
int runner_config_add_bind(struct run_config *c, const char *arg, bool ro);
int runner_config_add_tmpfs(struct run_config *c, const char *arg);
/* Open / test PATH of the image at root the way the container will see it (RESOLVE_IN_ROOT). */
int runner_image_open(const char *root, const char *path, int flags);
bool runner_image_exists(const char *root, const char *path);
/* The stop signal for init at root/PATH: busybox SIGUSR2, anything else systemd's SIGRTMIN+3 (as nspawn). */
int runner_kill_signal_for_init(const char *root, const char *init_path);
int runner_signal_from_name(const char *s);

/* ---- namespaces.c ---- */

/* clone3 with namespace flags (and into a cgroup when cgroup_fd >= 0); pidfd in *ret_pidfd. */
pid_t runner_clone_into_namespaces(unsigned long long flags, int cgroup_fd, int *ret_pidfd);
int runner_loopback_up(void);
/* Join every namespace of the process behind pidfd. */
int runner_join_namespaces(int pidfd, bool net);

/* ---- mounts.c ---- */

/* Everything between a fresh mount namespace and pivot_root; *step names what failed. */
int runner_setup_root(const struct run_config *c, const char **step);
/* /dev/console: bind the pty slave at path onto it (after runner_setup_root). */
int runner_bind_console(const char *slave);
/* Where the root is mounted in the container's namespace (root_attach or root). */
const char *runner_root_in_ns(const struct run_config *c);
/* The host root by device and inode?  1 yes, 0 no, -errno. */
int runner_is_host_root(const char *path);

/* ---- cgroup.c ---- */

/*
 * Make OURS/layerctl/STORE_ID/NAME in every hierarchy and open it.  Where one
 * cannot be made the container stays in ours; with must_leave_root (it will
 * hold CAP_SYS_ADMIN) that is an error (*err says which) when ours is a
 * hierarchy's real root or the hierarchy is not mounted.  *err also carries
 * the last failure that was tolerated.
 */
int runner_cgroups_make(const char *store_id, const char *name, bool must_leave_root, unsigned want, struct cgroups *cg,
			struct lc_err *err);
/*
 * want: the CG_* controllers its limits need.  A controller cgroup2 offers
 * is enabled top-down (subtree_control of OURS, layerctl, STORE: the "no
 * internal processes" rule) for the leaf; one only v1 has makes the
 * container join that v1 hierarchy (even without must_leave_root).
 */
/* Enable the CG_* controllers for dir/rel's leaf: "+memory ..." in subtree_control of dir and each level above the leaf. */
int runner_cgroup_delegate(const char *dir, const char *rel, unsigned ctrls, struct lc_err *err);
/* In the container's first process, before unshare(CLONE_NEWCGROUP): enter the v1 cgroups, close the descriptors. */
int runner_cgroups_join(const struct cgroups *cg);
/* Close the descriptors (the parent, once the container runs). */
void runner_cgroups_close(struct cgroups *cg);
/* rmdir them (and what was made below), then STORE_ID and layerctl when empty. */
void runner_cgroups_remove(struct cgroups *cg);

/* ---- userns.c: user-namespace mode ---- */

/* "no"/"yes"/"pick"/"N"/"N:COUNT" (N > 0, N+COUNT < 2^32); -EINVAL otherwise. */
int runner_private_users_parse(const char *v, enum private_users *mode, uint32_t *base, uint32_t *count);
/* Does this run get a user namespace of its own (mode set and range known)? */
bool runner_config_userns(const struct run_config *c);
/* Parent: the maps of pid's namespace, and its cgroups chowned to the range's root. */
int runner_userns_parent_setup(const struct run_config *c, pid_t pid);
int runner_cgroups_chown(const struct cgroups *cg, uid_t uid, gid_t gid);
/* Container: wait until the parent wrote the maps (a byte on syncfd); become root of the namespace after pivot_root. */
int runner_userns_wait_for_maps(int syncfd);
int runner_userns_become_root(void);
/* Is the process behind pidfd in another user namespace than ours?  1/0/-errno. */
int runner_userns_of_pidfd_is_other(int pidfd);
/* What a user namespace cannot mount itself, taken before pivot_root (see userns.c). */
struct userns_mounts {
	int dev[6];     /* host device nodes, detached clones, in the order asked */
	int proc;       /* a new proc instance (fsmount) */
	int sys;        /* fresh sysfs (private network) or a read-only clone of the host's */
};
int runner_userns_open_mounts(const struct run_config *c, const char *const *dev_nodes, size_t n_nodes,
			      struct userns_mounts *m, const char **step);
void runner_userns_close_mounts(struct userns_mounts *m);
int runner_move_mount_to(int fd, const char *dst);

/* ---- limits.c ---- */

/* "MemoryMax" ... */
const char *runner_limit_name(enum limit_key k);
/*
 * One KEY=VALUE of [Resources] / --property in systemd's syntax into l (an
 * empty value unsets the key).  -EINVAL with *err naming the key, -ENOENT
 * for an unknown key.
 */
int runner_limit_parse(struct run_limits *l, const char *key, const char *value, struct lc_err *err);
int runner_limit_parse_assignment(struct run_limits *l, const char *kv, struct lc_err *err);
/* set-property KEY=: the running child's limit back to none (weights to 100); bandwidths need their device. */
int runner_limit_parse_reset(struct run_limits *l, const char *key, struct lc_err *err);
/* The CG_* controllers the limits in l need. */
unsigned runner_limits_controllers(const struct run_limits *l);
/*
 * Write l into the container's cgroups: each limit to the hierarchy owning
 * its controller (the v2 leaf when delegated there, else the v1 hierarchy).
 * One that cannot be written is an error (*err names it), or with
 * best_effort a warning.  *applied (may be NULL): "file=value; ..." of what was written.
 */
int runner_limits_apply(const struct run_limits *l, const struct cgroups *cg, const struct lc_warn *warn, char **applied,
			struct lc_err *err);
/* The container's directory holding the CG_* controller ctrl's files (*v2: the v2 leaf); NULL when it has none. */
const char *runner_cgroups_dir_for(const struct cgroups *cg, unsigned ctrl, bool *v2);
/* Does a v1 hierarchy's controller list ("cpu,cpuacct") hold name? */
bool runner_cgroup_list_has(const char *list, const char *name);

/* ---- cgroup-state.c ---- */

/* RUNTIME/children/NAME/cgroup: the container's cgroup dirs and what was applied (for status, set-property). */
int runner_cgroups_state_write(const char *runtime, const char *name, const struct cgroups *cg, const char *applied);
/* Read it back into cg (dirs, ctrls, v2_path, v2_enabled; no descriptors) and *applied (may be NULL). */
int runner_cgroups_state_read(const char *runtime, const char *name, struct cgroups *cg, char **applied);
void runner_cgroups_state_free(struct cgroups *cg);
/* The record goes with the container (after runner_state_clear). */
void runner_cgroups_state_clear(const char *runtime, const char *name);
/* For exec: open the running container's cgroups (v2 dir for CLONE_INTO_CGROUP, v1 `tasks`) into cg. */
int runner_cgroups_open_state(const char *runtime, const char *name, struct cgroups *cg);

/*
 * Who makes a container's cgroups and writes its limits.  cgroupfs (the
 * functions above: cgroup.c makes OURS/layerctl/STORE/NAME, limits.c writes
 * the files) is the only backend.  On a host whose PID 1 is systemd a
 * second one belongs here: a transient scope in machine.slice with
 * Delegate=yes made over D-Bus, whose delegated cgroup becomes v2_path
 * (docs/runner.md, "Resource limits").  Not written: no test host for it.
 */
struct runner_cgroup_backend {
	const char *name;
	int (*make)(const char *store_id, const char *name, bool must_leave_root, unsigned want, struct cgroups *cg,
		    struct lc_err *err);
	int (*apply)(const struct run_limits *l, const struct cgroups *cg, const struct lc_warn *warn, char **applied,
		     struct lc_err *err);
};
/* The backend for this host: cgroupfs, always (for now). */
const struct runner_cgroup_backend *runner_cgroup_backend(void);

struct cgroup_stats {
	uint64_t memory_current, memory_max;   /* LIMIT_INFINITY for max when unlimited; UINT64_MAX-1 = unknown */
	uint64_t tasks_current, tasks_max;
	uint64_t cpu_usec;
	unsigned have;                         /* CG_MEMORY, CG_PIDS, CG_CPU: which are known */
};
void runner_cgroup_stats(const struct cgroups *cg, struct cgroup_stats *st);

/* ---- caps.c ---- */

int runner_caps_apply(uint64_t keep, const char **step);
/* A user of the container's /etc/passwd and /etc/group: looked up first, switched to later. */
struct runner_user {
	uid_t uid;
	gid_t gid;
	gid_t groups[64];   /* the primary group first */
	int n_groups;
	char *home;
};
int runner_user_lookup(const char *user, struct runner_user *ret, const char **step);
int runner_user_switch(const struct runner_user *u);
int runner_switch_user(const char *user, char **home, const char **step);   /* both */

/* ---- seccomp.c ---- */

enum seccomp_profile {
	SECCOMP_PLAIN,  /* commands: also reboot, mount helpers denied */
	SECCOMP_BOOT,   /* an init: reboot allowed (the kernel ends the PID namespace) */
};
int runner_seccomp_apply(enum seccomp_profile p);
/* Text for a failure r of runner_seccomp_export_to: the loader's reason when libseccomp is missing. */
const char *runner_seccomp_strerror(int r);
/* Write the filter's BPF program to fd (cached in runtime when not NULL) / read one from fd and load it. */
int runner_seccomp_export_to(enum seccomp_profile p, const char *runtime, int fd);
int runner_seccomp_load_from(enum seccomp_profile p, int fd);

/* ---- pid1.c ---- */

#include <signal.h>
/* Signals the stub forwards; blocked before the fork, restored in PID 2. */
void runner_pid1_signal_set(sigset_t *set);
/*
 * In the command, before exec: a Landlock domain of its own.  Landlock lets
 * a process in a domain ptrace (and read the memory, environ, fds of, and
 * pidfd_getfd from) only processes in the same or a nested domain, whatever
 * its capabilities: so root inside, which keeps CAP_SYS_PTRACE, cannot
 * reach the stub.  0 when the kernel has no Landlock (then the stub is
 * protected only by holding nothing of the host).
 */
int runner_pid1_fence(void);
/*
 * Stay as PID 1: forget the host's argv and environment, close `gate` (the
 * command waits for that: it then sees nothing of the host in /proc/1),
 * forward signals to `payload`, reap, exit with its status.
 */
_Noreturn void runner_pid1_stub(pid_t payload, int gate);
/* Exit status of a wait status: code, or 128+signal. */
int runner_exit_status_of(int wstatus);

/* ---- console.c ---- */

/* Inside the container: open a pty on the private devpts; master fd, slave path. */
int runner_pty_open(char **ret_slave);
/* Make slave the controlling tty and those of fds 0, 1, 2 that are in the fds mask. */
int runner_pty_attach(const char *slave, unsigned fds);
/* Turn the echo of a pty off (through its master). */
int runner_pty_set_no_echo(int master);
/* SCM_RIGHTS over a unix socket. */
int runner_fd_send(int sock, int fd);
int runner_fd_recv(int sock);
/* Decide c->pty_fds, pty_input, pty_no_echo and winsize from c->console and the host's stdio. */
void runner_console_plan(struct run_config *c);
/*
 * Relay between the host's stdio (or c->log_fd) and master (-1: no pty, only
 * wait) until the container ends (pidfd readable) and its output is out, or
 * the user presses ^] three times within a second.  Copies the window size
 * on SIGWINCH; other signals read from sigfd go to pidfd as map_signal(sig,
 * data) says, and a container that does not end after SIGTERM is killed
 * (see console.c).  Returns 1 when the user left with the escape, 0 otherwise.
 */
int runner_console_relay(const struct run_config *c, int master, int pidfd, int sigfd,
		  int (*map_signal)(int sig, void *data), void *data);
/* Does buf complete the ^]^]^] escape?  state carries count and time (unit-tested). */
struct escape_state { int count; uint64_t first_usec; };
bool runner_escape_feed(struct escape_state *st, const char *buf, size_t n, uint64_t now_usec);

/* ---- container.c ---- */

/*
 * Start the container.  Returns the pidfd and pid of its PID 1 and, for pty
 * consoles, the master; fills errbuf with "STEP: reason" on failure.
 */
struct container {
	pid_t pid;
	int pidfd;
	int master;             /* pty master or -1 */
	bool rebooted;          /* set by runner_container_wait: a booted init asked for a reboot */
	bool entered;           /* runner_container_enter's: a session in a container that goes on */
	bool left;              /* set by runner_container_wait: the user left with ^]^]^] */
};
int runner_container_start(struct run_config *c, struct container *ret, char *errbuf, size_t errlen, int *exit_hint);
/* exec: run c->argv inside the running container whose PID 1 is behind target (a pidfd). */
int runner_container_enter(struct run_config *c, int target, bool net, struct container *ret, char *errbuf, size_t errlen,
		    int *exit_hint);
/* Run the container to its end: console relay, signal forwarding.  Returns the exit status. */
int runner_container_wait(struct run_config *c, struct container *ct);
void runner_container_done(struct container *ct);

/* ---- state.c ---- */

struct run_state {
	pid_t pid;              /* the container's PID 1 (host view) */
	pid_t monitor;
	bool boot;
	int kill_signal;
	bool private_network;
	long long started;      /* realtime seconds */
	unsigned long long pidns;  /* inode of its PID namespace: tells a recycled pid apart */
};
/* RUNTIME/children/NAME, created as needed. */
char *runner_state_dir(const char *runtime, const char *name);
/* Take the run lock: fd, -EBUSY when already running. */
int runner_state_lock(const char *runtime, const char *name);
/* Is the lock held by someone?  1/0. */
int runner_state_is_locked(const char *runtime, const char *name);
int runner_state_write(const char *runtime, const char *name, const struct run_state *st);
int runner_state_read(const char *runtime, const char *name, struct run_state *st);
void runner_state_clear(const char *runtime, const char *name);
/*
 * The runtime dir must be trusted (state.c): open the directory at path,
 * checking it and every directory above it on the opened descriptors (root's
 * or ours, writable by no one else; sticky directories above it excepted).
 * fd, -EPERM with why filled, or -errno.
 */
int runner_trusted_dir_open(const char *path, char *why, size_t len);
/* A plain file in a trusted dir: one link, root's or ours, not writable by group or others. */
int runner_trusted_file_open(int dirfd, const char *name, char *why, size_t len);
/* Inode of pid's PID namespace, 0 if unknown. */
unsigned long long runner_pidns_of(pid_t pid);
/* A pidfd of the container's PID 1, checked to still be it; -ESRCH when gone. */
int runner_state_open_pid(const struct run_state *st);
