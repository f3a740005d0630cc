/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Images as import sources.  libblkid says what a file holds (never its
 * name): a partition table, whose root partition is chosen the way the
 * Discoverable Partitions Specification says, or a bare file system.
 * libmount attaches it read-only through a loop device with autoclear and
 * mounts it, in a forked process's private mount namespace: whatever kills
 * the import, the namespace dies with the process, the mount with the
 * namespace, and the loop device with its last user.
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "src/basic/mount-dl.h"
#include "src/store/blkid-dl.h"
#include "src/basic/testhook.h"
#include "src/store/image.h"

static void probe_freep(blkid_probe *p) { if (*p) blkid_free_probe(*p); }
static void cxt_freep(struct libmnt_context **c) { mnt_free_context(*c); }
#define _cleanup_probe_ _cleanup_(probe_freep)

/* File systems whose trees carry what a base needs; vfat has no owners, modes or symlinks. */
bool image_fstype_is_root(const char *fstype)
{
	static const char *const ok[] = { "ext4", "ext3", "ext2", "xfs", "btrfs", "squashfs", "erofs" };
	for (size_t i = 0; i < ELEMENTSOF(ok); i++)
		if (fstype && strcmp(fstype, ok[i]) == 0)
			return true;
	return false;
}

const char *image_root_type(void)
{
#if defined(__x86_64__)
	return "4f68bce3-e8cd-4db1-96e7-fbcaf984b709";
#elif defined(__aarch64__)
	return "b921b045-1df0-41c3-af44-4c6f280d3fae";
#elif defined(__i386__)
	return "44479540-f297-41b2-9af7-d131d5f0458a";
#elif defined(__arm__)
	return "69dad710-2ce4-4e3c-b16c-21a1d49abed3";
#elif defined(__riscv) && __riscv_xlen == 64
	return "72ec70a6-cf74-40e6-bd49-4bda08e8f224";
#else
	return NULL;
#endif
}

/* "1 (ext4, 0fc63daf-…, 64 MiB), 2 (vfat, …)": what the user needs to see why none was taken. */
static void list_parts(const struct image_part *parts, size_t n, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && len < size; i++) {
		int k = snprintf(buf + len, size - len, "%s%u (%s, type %s, %llu MiB)", i ? ", " : "", parts[i].number,
				 parts[i].fstype[0] ? parts[i].fstype : "no file system recognised", parts[i].type,
				 (unsigned long long)(parts[i].size >> 20));
		if (k < 0)
			break;
		len += (size_t)k;
	}
	if (n == 0)
		snprintf(buf, size, "none");
}

int image_choose_partition(const struct image_part *parts, size_t n, const char *root_type, uint64_t file_size,
			   struct lc_err *err)
{
	char list[300];
	int typed = -1, linux_fs = -1;
	size_t n_typed = 0, n_linux = 0;

	/* A table pointing past the end: a truncated image, or a corrupt table; nothing in it can be trusted. */
	for (size_t i = 0; i < n; i++)
		if (parts[i].offset > file_size || parts[i].size > file_size - parts[i].offset)
			return lc_err_ret(err, -EINVAL,
					  "partition %u ends at byte %llu, past the end of the image (%llu bytes): "
					  "truncated, or a corrupt partition table",
					  parts[i].number, (unsigned long long)(parts[i].offset + parts[i].size),
					  (unsigned long long)file_size);
	for (size_t i = 0; i < n; i++) {
		if (root_type && strcasecmp(parts[i].type, root_type) == 0) {
			typed = (int)i;
			n_typed++;
		}
		if (image_fstype_is_root(parts[i].fstype)) {
			linux_fs = (int)i;
			n_linux++;
		}
	}
	list_parts(parts, n, list, sizeof(list));
	int pick;
	if (n_typed > 1)
		return lc_err_ret(err, -EINVAL, "%zu partitions have this architecture's root type %s; partitions: %s",
				  n_typed, root_type, list);
	if (n_typed == 1)
		pick = typed;
	else if (n_linux == 1)
		pick = linux_fs;
	else
		return lc_err_ret(err, -EINVAL,
				  "%s: give a root partition the root type of this architecture (%s); partitions: %s",
				  n_linux ? "several partitions hold a Linux file system and none has the root type"
					  : "no partition holds a Linux root file system",
				  root_type ? root_type : "none known", list);
	const struct image_part *p = &parts[pick];
	if (!image_fstype_is_root(p->fstype))
		return lc_err_ret(err, -EINVAL, "root partition %u holds %s, not a Linux root file system", p->number,
				  p->fstype[0] ? p->fstype : "no file system libblkid recognises");
	return pick;
}

static void copy_value(blkid_probe pr, const char *name, char *buf, size_t size)
{
	const char *v = NULL;
	buf[0] = '\0';
	if (blkid_probe_lookup_value(pr, name, &v, NULL) == 0 && v)
		snprintf(buf, size, "%s", v);
}

/* Which file system libblkid sees in [offset, offset+size) of fd; "" for none. */
static int probe_fs(int fd, uint64_t offset, uint64_t size, char *fstype, size_t len)
{
	_cleanup_probe_ blkid_probe pr = blkid_new_probe();
	fstype[0] = '\0';
	if (!pr)
		return -ENOMEM;
	if (blkid_probe_set_device(pr, fd, (blkid_loff_t)offset, (blkid_loff_t)size) < 0)
		return 0;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	if (blkid_do_safeprobe(pr) == 0)
		copy_value(pr, "TYPE", fstype, len);
	return 0;
}

static int read_partitions(blkid_probe pr, int fd, uint64_t file_size, struct image_part **ret, size_t *ret_n)
{
	blkid_partlist ls = blkid_probe_get_partitions(pr);
	int n = ls ? blkid_partlist_numof_partitions(ls) : 0;
	struct image_part *parts = calloc(n > 0 ? (size_t)n : 1, sizeof(*parts));
	size_t k = 0;
	if (!parts)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		blkid_partition par = blkid_partlist_get_partition(ls, i);
		if (!par || blkid_partition_is_extended(par))
			continue;
		struct image_part *p = &parts[k++];
		p->number = (unsigned)blkid_partition_get_partno(par);
		p->offset = (uint64_t)blkid_partition_get_start(par) * 512;
		p->size = (uint64_t)blkid_partition_get_size(par) * 512;
		const char *t = blkid_partition_get_type_string(par);
		if (t)
			snprintf(p->type, sizeof(p->type), "%s", t);
		else
			snprintf(p->type, sizeof(p->type), "0x%02x", blkid_partition_get_type(par));
		/* A partition past the end is not probed: image_choose_partition() names it. */
		if (p->offset < file_size && p->size <= file_size - p->offset)
			probe_fs(fd, p->offset, p->size, p->fstype, sizeof(p->fstype));
	}
	*ret = parts;
	*ret_n = k;
	return 0;
}

static int probe_whole(int fd, const char *path, uint64_t file_size, struct image_info *img, struct lc_err *err)
{
	_cleanup_probe_ blkid_probe pr = blkid_new_probe();
	if (!pr || blkid_probe_set_device(pr, fd, 0, 0) < 0)
		return lc_err_ret(err, -ENOMEM, "libblkid cannot probe %s", path);
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	blkid_probe_enable_partitions(pr, 1);
	int r = blkid_do_safeprobe(pr);
	if (r == -2)
		return lc_err_ret(err, -EINVAL, "%s: libblkid finds several conflicting signatures in it", path);
	if (r != 0)
		return 0;
	copy_value(pr, "PTTYPE", img->pttype, sizeof(img->pttype));
	copy_value(pr, "TYPE", img->fstype, sizeof(img->fstype));
	if (img->fstype[0]) {
		img->pttype[0] = '\0';
		img->offset = 0;
		img->size = file_size;
		if (!image_fstype_is_root(img->fstype))
			return lc_err_ret(err, -EINVAL, "%s: a %s file system, not one a root tree can come from "
					  "(ext4, xfs, btrfs, squashfs, erofs)", path, img->fstype);
		return 1;
	}
	if (!img->pttype[0])
		return 0;
	struct image_part *parts = NULL;
	size_t n = 0;
	if ((r = read_partitions(pr, fd, file_size, &parts, &n)) < 0)
		return lc_err_ret(err, r, "%s: %s", path, strerror(-r));
	r = image_choose_partition(parts, n, image_root_type(), file_size, err);
	if (r >= 0) {
		img->partno = parts[r].number;
		img->offset = parts[r].offset;
		img->size = parts[r].size;
		snprintf(img->fstype, sizeof(img->fstype), "%s", parts[r].fstype);
		r = 1;
	} else
		lc_err_wrap(err, "%s: %s partition table", path, img->pttype);
	free(parts);
	return r;
}

int image_probe(const char *path, struct image_info *ret, struct lc_err *err)
{
	struct image_info img = {};
	struct stat st;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0)
		return lc_err_ret(err, -errno, "%s: %m", path);
	if (!S_ISREG(st.st_mode))
		return 0;
	img.file_size = (uint64_t)st.st_size;
	int r = probe_whole(fd, path, img.file_size, &img, err);
	if (r > 0)
		*ret = img;
	return r;
}

/* ---- the private mount ---- */

void *image_shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void image_shared_free(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

static int mount_image(const char *path, const struct image_info *img, const char *target, struct lc_err *err)
{
	_cleanup_(cxt_freep) struct libmnt_context *cxt = mnt_new_context();
	_cleanup_free_ char *opts = NULL;
	char why[BUFSIZ] = "";
	int r;

	/* The whole file is the file system: no offset/sizelimit (a loop device of the file's size). */
	if (img->partno ? asprintf(&opts, "ro,nosuid,nodev,noexec,loop,offset=%llu,sizelimit=%llu",
				   (unsigned long long)img->offset, (unsigned long long)img->size) < 0
			: asprintf(&opts, "ro,nosuid,nodev,noexec,loop") < 0)
		return -ENOMEM;
	if (!cxt)
		return -ENOMEM;
	/* libmount's loop support (autoclear), no /sbin/mount.* helper, no utab entry for a private mount. */
	if (mnt_context_disable_helpers(cxt, 1) < 0 || mnt_context_disable_mtab(cxt, 1) < 0 ||
	    mnt_context_set_fstype(cxt, img->fstype) < 0 || mnt_context_set_source(cxt, path) < 0 ||
	    mnt_context_set_target(cxt, target) < 0 || mnt_context_set_options(cxt, opts) < 0)
		return lc_err_ret(err, -ENOMEM, "cannot set up the mount context");
	int rc = mnt_context_mount(cxt);
	if (rc == 0)
		return 0;
	r = mnt_context_syscall_called(cxt) ? -mnt_context_get_syscall_errno(cxt) : rc < 0 ? rc : -EIO;
	if (r >= 0)
		r = -EIO;
	mnt_context_get_excode(cxt, rc, why, sizeof(why));
	return lc_err_ret(err, r, "mount the %s file system read-only: %s (a corrupt or truncated image?)",
			  img->fstype, why[0] ? why : strerror(-r));
}

struct child_result {
	int r;
	struct lc_err err;
};

static int send_fd(int sock, int fd)
{
	char c = 0;
	struct iovec iov = { &c, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u = {};
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &m, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* The descriptor the child sent, or -1 when it sent none (it failed). */
static int recv_fd(int sock)
{
	char c;
	struct iovec iov = { &c, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u = {};
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	ssize_t n;
	while ((n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&m) : NULL;
	int fd = -1;
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/*
 * The forked process: a private mount namespace, the image mounted there,
 * its root directory sent to the parent.  Then it exits: its namespace goes,
 * and the mount lives on, detached, only as long as the parent's descriptor.
 */
static _Noreturn void mount_child(const char *path, const struct image_info *img, const char *target, int sock,
				  struct child_result *res, pid_t parent)
{
	int r;

	res->r = -EIO;
	/* Killed with the importing process: its namespace, mount and loop device go with it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		res->r = lc_err_ret(&res->err, -errno, "private mount namespace: %m");
		_exit(1);
	}
	if ((r = mount_image(path, img, target, &res->err)) < 0) {
		res->r = r;
		_exit(1);
	}
	test_hook("image-mounted");
	int fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (r = send_fd(sock, fd)) < 0) {
		res->r = lc_err_ret(&res->err, fd < 0 ? -errno : r, "pass the mounted image on: %s",
				    strerror(fd < 0 ? errno : -r));
		_exit(1);
	}
	res->r = 0;
	_exit(0);
}

int image_open_root(const char *path, const struct image_info *img, const char *workdir, struct lc_err *err)
{
	_cleanup_free_ char *target = NULL;
	struct child_result *res = image_shared_alloc(sizeof(*res));
	int sv[2] = { -1, -1 }, r, status, fd = -1;

	if (!res)
		return lc_err_ret(err, -errno, "shared memory: %m");
	if (asprintf(&target, "%s/.image-XXXXXX", workdir) < 0) {
		image_shared_free(res, sizeof(*res));
		return -ENOMEM;
	}
	if (!mkdtemp(target) || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = lc_err_ret(err, -errno, "mount point %s: %m", target);
		image_shared_free(res, sizeof(*res));
		return r;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t parent = getpid(), pid = fork();
	if (pid == 0)
		mount_child(path, img, target, sv[1], res, parent);
	close(sv[1]);
	r = pid < 0 ? -errno : 0;
	if (pid > 0)
		fd = recv_fd(sv[0]);
	close(sv[0]);
	while (pid > 0 && waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			r = -errno;
			break;
		}
	if (r < 0)
		lc_err_set(err, "fork: %s", strerror(-r));
	else if (!WIFEXITED(status))
		r = lc_err_ret(err, -EINTR, "the process mounting the image was killed by signal %d", WTERMSIG(status));
	else if (res->r < 0) {
		r = res->r;
		if (err)
			*err = res->err;
	} else if (fd < 0)
		r = lc_err_ret(err, -EIO, "the mounted image was not passed on");
	if (r < 0 && fd >= 0)
		close(fd);
	rmdir(target);
	image_shared_free(res, sizeof(*res));
	return r < 0 ? r : fd;
}
