/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The syscall filter (libseccomp).  A deny list on top of the capability
 * bounding set, aimed at what capabilities do not cover or what the
 * container keeps a capability for:
 *
 *  - open_by_handle_at: the "shocker" escape (CAP_DAC_READ_SEARCH is kept);
 *  - kernel modules, kexec, swap, bpf, perf, keyrings, fanotify, quota,
 *    accounting, I/O ports: host-wide state a container must not touch;
 *  - reboot(2) for plain commands: in a PID namespace it "only" kills the
 *    namespace's init, but a command is not an init; with --boot it stays
 *    allowed because that is how systemd/busybox init end a container;
 *  - mknod/mknodat of block devices and of character devices other than
 *    0:0 (overlayfs whiteouts): the runner makes /dev's nodes itself before
 *    the filter is loaded, and the root is mounted nodev besides, so a node
 *    made inside is refused twice (defence in depth, no devices cgroup
 *    needed, which a hybrid cgroup host would make awkward);
 *  - TIOCSTI/TIOCLINUX ioctls: typing into a terminal shared with the host
 *    (CVE-2017-5226 in bubblewrap);
 *  - for plain commands, new user namespaces: inside one a process gets
 *    every capability again and could mount file systems; clone3 cannot be
 *    inspected, so it answers ENOSYS and libc falls back to clone.
 *
 * Every denied call fails with EPERM (clone3: ENOSYS).  The filter covers
 * the compat ABIs too (x86 and x32 on x86_64), or a 32-bit binary would walk
 * around it.
 */
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include "src/runner/seccomp-dl.h"   /* libseccomp, loaded when the filter is built */
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <xxhash.h>

#include "src/basic/fileio.h"
#include "src/runner/runner.h"
#include "src/store/store.h"

static const char *const always_denied[] = {
	"open_by_handle_at", "kexec_load", "kexec_file_load", "init_module", "finit_module",
	"delete_module", "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "swapon",
	"swapoff", "fanotify_init", "quotactl", "quotactl_fd", "acct", "iopl", "ioperm", "uselib",
	"lookup_dcookie", "vm86", "vm86old", "_sysctl", "nfsservctl", "create_module",
	"get_kernel_syms", "query_module",
};

static void seccomp_freep(scmp_filter_ctx *c) { if (*c) seccomp_release(*c); }

static int deny(scmp_filter_ctx c, const char *name, int err, unsigned n, const struct scmp_arg_cmp *cmp)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		return 0;   /* unknown on this architecture: nothing to deny */
	int r = seccomp_rule_add_array(c, SCMP_ACT_ERRNO(err), nr, n, cmp);
	/* -EDOM and friends: a call that does not exist on one of the ABIs. */
	return r == -EDOM || r == -EOPNOTSUPP ? 0 : r;
}

static int add_arches(scmp_filter_ctx c)
{
	uint32_t native = seccomp_arch_native();
	uint32_t extra[2] = { 0, 0 };
	if (native == SCMP_ARCH_X86_64) {
		extra[0] = SCMP_ARCH_X86;
		extra[1] = SCMP_ARCH_X32;
	} else if (native == SCMP_ARCH_AARCH64)
		extra[0] = SCMP_ARCH_ARM;
	for (size_t i = 0; i < ELEMENTSOF(extra); i++)
		if (extra[i]) {
			int r = seccomp_arch_add(c, extra[i]);
			if (r < 0 && r != -EEXIST)
				return r;
		}
	return 0;
}

static int deny_device_nodes(scmp_filter_ctx c)
{
	/* mknod(path, mode, dev) and mknodat(dirfd, path, mode, dev). */
	static const struct { const char *name; unsigned mode_arg; } calls[] = { { "mknod", 1 }, { "mknodat", 2 } };
	int r;
	for (size_t i = 0; i < ELEMENTSOF(calls); i++) {
		unsigned m = calls[i].mode_arg;
		struct scmp_arg_cmp blk[] = { { m, SCMP_CMP_MASKED_EQ, S_IFMT, S_IFBLK } };
		struct scmp_arg_cmp chr[] = { { m, SCMP_CMP_MASKED_EQ, S_IFMT, S_IFCHR },
					      { m + 1, SCMP_CMP_NE, 0, 0 } };
		if ((r = deny(c, calls[i].name, EPERM, 1, blk)) < 0 || (r = deny(c, calls[i].name, EPERM, 2, chr)) < 0)
			return r;
	}
	return 0;
}

/* The filter of a profile, built but not loaded. */
static int build_filter(enum seccomp_profile p, scmp_filter_ctx *ret)
{
	_cleanup_(seccomp_freep) scmp_filter_ctx c = seccomp_init(SCMP_ACT_ALLOW);
	int r;

	if (!c)
		return -ENOMEM;
	/* Plain commands get no_new_privs; an init keeps setuid programs working. */
	if ((r = seccomp_attr_set(c, SCMP_FLTATR_CTL_NNP, p == SECCOMP_PLAIN)) < 0)
		return r;
	if ((r = add_arches(c)) < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(always_denied); i++)
		if ((r = deny(c, always_denied[i], EPERM, 0, NULL)) < 0)
			return r;
	if ((r = deny_device_nodes(c)) < 0)
		return r;
	struct scmp_arg_cmp sti[] = { { 1, SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI } };
	struct scmp_arg_cmp linux_[] = { { 1, SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCLINUX } };
	if ((r = deny(c, "ioctl", EPERM, 1, sti)) < 0 || (r = deny(c, "ioctl", EPERM, 1, linux_)) < 0)
		return r;
	if (p == SECCOMP_PLAIN) {
		struct scmp_arg_cmp userns[] = { { 0, SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER } };
		if ((r = deny(c, "reboot", EPERM, 0, NULL)) < 0 ||
		    (r = deny(c, "unshare", EPERM, 1, userns)) < 0 ||
		    (r = deny(c, "clone", EPERM, 1, userns)) < 0 ||
		    (r = deny(c, "clone3", ENOSYS, 0, NULL)) < 0)
			return r;
	}
	*ret = TAKE_PTR(c);
	return 0;
}

int runner_seccomp_apply(enum seccomp_profile p)
{
	_cleanup_(seccomp_freep) scmp_filter_ctx c = NULL;
	int r = build_filter(p, &c);
	if (r < 0)
		return r;
	return seccomp_load(c);
}

/*
 * Building the filter costs more than all the container's mounts together
 * (libseccomp probes the kernel and compiles three ABIs, ~0.8 ms), and its
 * result only depends on the profile, the layerctl binary, libseccomp and
 * the kernel.  So the parent exports the BPF program once into the runtime
 * dir, keyed by all four, and afterwards just reads it back (when the
 * directory and the file can be trusted and the digest matches: see
 * cache_program); the container gets it over a pipe and only loads it.
 *
 * libseccomp is not even loaded to compute the key (seccomp-dl.h): it
 * stands in the key as the version layerctl was built against plus the
 * identity of /etc/ld.so.cache and $LD_LIBRARY_PATH, which decide which
 * libseccomp.so.2 dlopen() would load — installing or upgrading a shared
 * library runs ldconfig, which replaces that file, so an upgraded
 * libseccomp (one that knows more syscall names) rebuilds the filter.
 */
static char *cache_path(const char *runtime, enum seccomp_profile p)
{
	struct utsname u;
	struct stat st, ld = {};
	char key[1024];
	uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
	char *path;
	const char *llp = getenv("LD_LIBRARY_PATH");

	if (!runtime || uname(&u) < 0 || stat("/proc/self/exe", &st) < 0)
		return NULL;
	(void)stat("/etc/ld.so.cache", &ld);   /* none (static setups): zeros */
	int n = snprintf(key, sizeof(key), "%d|%s|%u.%u.%u|%lx|%lx|%lld.%ld|%lld|%lx|%lx|%lld.%ld|%s", (int)p,
			 u.release, SCMP_VER_MAJOR, SCMP_VER_MINOR, SCMP_VER_MICRO, (unsigned long)st.st_dev,
			 (unsigned long)st.st_ino, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
			 (long long)st.st_size, (unsigned long)ld.st_dev, (unsigned long)ld.st_ino,
			 (long long)ld.st_mtim.tv_sec, ld.st_mtim.tv_nsec, llp ? llp : "");
	if (n < 0 || (size_t)n >= sizeof(key))
		return NULL;   /* no cache rather than a key cut short */
	for (int i = 0; i < n; i++)
		h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
	if (asprintf(&path, "%s/seccomp-%s-%016llx.bpf", runtime, p == SECCOMP_PLAIN ? "plain" : "boot",
		     (unsigned long long)h) < 0)
		return NULL;
	return path;
}

static ssize_t read_all(int fd, char **ret)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;
	for (;;) {
		if (cap - len < 4096) {
			char *n = realloc(buf, cap += 16384);
			if (!n) {
				free(buf);
				return -ENOMEM;
			}
			buf = n;
		}
		ssize_t k = read(fd, buf + len, cap - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int e = errno;
			free(buf);
			return -e;
		}
		if (k == 0)
			break;
		len += k;
	}
	*ret = buf;
	return len;
}

/* Filters of earlier layerctl builds or kernels would never be read again: remove them. */
static void prune_cache(int dfd, const char *keep)
{
	const char *dash = strrchr(keep, '-');
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strncmp(de->d_name, keep, dash - keep + 1) == 0 && !STREQ(de->d_name, keep))
			unlinkat(dfd, de->d_name, 0);
	closedir(d);
}

/* Why libseccomp could not be loaded, for runner_seccomp_strerror(). */
static struct lc_err seccomp_dl_err;

const char *runner_seccomp_strerror(int r)
{
	return r == -ENOPKG && seccomp_dl_err.msg[0] ? seccomp_dl_err.msg : strerror(-r);
}

static ssize_t build_bpf(enum seccomp_profile p, char **ret)
{
	_cleanup_(seccomp_freep) scmp_filter_ctx c = NULL;
	_cleanup_close_ int fd = memfd_create("layerctl-seccomp", MFD_CLOEXEC);
	int r;
	if (fd < 0)
		return -errno;
	if ((r = lc_dl_open(&lc_seccomp_lib, &seccomp_dl_err)) < 0)
		return r;
	if ((r = build_filter(p, &c)) < 0 || (r = seccomp_export_bpf(c, fd)) < 0)
		return r;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	return read_all(fd, ret);
}

/*
 * The cache file: a header with the program's length and XXH3-128 digest,
 * then the program.  The file is used only when it and every directory up
 * to / pass runner_trusted_file_open/runner_trusted_dir_open (state.c: root's, writable by
 * no one else) — that is what keeps other users out, for whom this cache
 * would otherwise be a way to run containers unfiltered.  The digest guards
 * against what the ownership check cannot see: a program replaced or cut
 * short by root's own mistake, a crash, or a tool that does not know the
 * format (an allow-all program written over it is rebuilt, not loaded).  It
 * is no secret: a writer who knows the format and is root could forge it,
 * but root on the host can replace layerctl itself.  Any mismatch means: build
 * the filter again and replace the file.
 */
#define CACHE_MAGIC "LCBPF\0\0\1"

struct cache_header {
	char magic[8];
	uint64_t len;
	uint64_t digest_lo, digest_hi;
};

/* The program in a cache file's contents, or -EBADMSG when it is not one that matches its digest. */
static ssize_t cache_program(char *data, size_t n, char **prog)
{
	struct cache_header h;
	if (n < sizeof(h))
		return -EBADMSG;
	memcpy(&h, data, sizeof(h));
	size_t len = n - sizeof(h);
	if (memcmp(h.magic, CACHE_MAGIC, sizeof(h.magic)) != 0 || h.len != len || len == 0 ||
	    len % sizeof(struct sock_filter) != 0)
		return -EBADMSG;
	XXH128_hash_t d = XXH3_128bits(data + sizeof(h), len);
	if (d.low64 != h.digest_lo || d.high64 != h.digest_hi)
		return -EBADMSG;
	*prog = data + sizeof(h);
	return (ssize_t)len;
}

static int cache_write(int dfd, const char *name, const char *prog, size_t len)
{
	struct cache_header h = { .len = len };
	memcpy(h.magic, CACHE_MAGIC, sizeof(h.magic));
	XXH128_hash_t d = XXH3_128bits(prog, len);
	h.digest_lo = d.low64;
	h.digest_hi = d.high64;
	_cleanup_free_ char *buf = malloc(sizeof(h) + len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), prog, len);
	/* A cache in the runtime dir (tmpfs): atomic, no fsync; a lost or torn file is rebuilt. */
	return lc_write_atomic(dfd, name, buf, sizeof(h) + len, 0600, false);
}

/* The cached program of p if the cache is trusted and intact: its length, else < 0 (*dfd: the trusted dir or -1). */
static ssize_t cache_read(const char *runtime, const char *name, int *dfd, char **data, char **prog)
{
	char why[512];
	*dfd = runtime ? runner_trusted_dir_open(runtime, why, sizeof(why)) : -ENOENT;
	if (*dfd < 0)
		return -ENOENT;   /* no cache, and none written: an untrusted dir is not ours to fill */
	_cleanup_close_ int cfd = runner_trusted_file_open(*dfd, name, why, sizeof(why));
	if (cfd < 0)
		return cfd;
	ssize_t n = read_all(cfd, data);
	if (n < 0)
		return n;
	return cache_program(*data, n, prog);
}

int runner_seccomp_export_to(enum seccomp_profile p, const char *runtime, int fd)
{
	_cleanup_free_ char *path = cache_path(runtime, p), *data = NULL, *built = NULL;
	_cleanup_close_ int dfd = -1;
	const char *name = path ? strrchr(path, '/') + 1 : NULL;
	char *prog = NULL;
	ssize_t len = name ? cache_read(runtime, name, &dfd, &data, &prog) : -ENOENT;

	if (len <= 0) {
		len = build_bpf(p, &built);
		if (len < 0)
			return (int)len;
		prog = built;
		if (dfd >= 0 && cache_write(dfd, name, prog, len) == 0)   /* a cache: failure is fine */
			prune_cache(dfd, name);
	}
	for (ssize_t off = 0; off < len;) {
		ssize_t k = write(fd, prog + off, len - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		off += k;
	}
	return 0;
}

int runner_seccomp_load_from(enum seccomp_profile p, int fd)
{
	_cleanup_free_ char *prog = NULL;
	ssize_t len = read_all(fd, &prog);
	if (len < 0)
		return (int)len;
	if (len == 0 || len % sizeof(struct sock_filter) != 0)
		return -EBADMSG;   /* the parent could not build it */
	if (p == SECCOMP_PLAIN && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	struct sock_fprog fprog = { .len = len / sizeof(struct sock_filter), .filter = (struct sock_filter *)prog };
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0 ? -errno : 0;
}
