/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Refresh, the journal: the steps of a plan in the order they are carried
 * out, written to and read back from refresh/WORK/journal, and the copying
 * of entries and metadata the steps need (see refresh.c).
 */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>

#include "diff/diff.h"
#include "overlay/overlay.h"
#include "src/basic/fileio.h"
#include "src/store/refresh-internal.h"

#define JOURNAL_MAGIC "layerctl-refresh 1"

/* ---- journal ---- */

static const char *const step_names[] = { "remove", "merge", "dirmeta" };


void refresh_journal_done(struct journal *j)
{
	for (size_t i = 0; i < j->n; i++)
		free(j->steps[i].path);
	free(j->steps);
	free(j->base);
	memset(j, 0, sizeof(*j));
}

/* A path on one line: bytes outside printable ASCII, and '\', as \xHH. */
static int put_path(FILE *f, const char *p)
{
	for (; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch <= 0x20 || ch >= 0x7f || ch == '\\')
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
	return 0;
}

static char *unescape_path(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;
	if (!out)
		return NULL;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] == 'x' && isxdigit((unsigned char)s[2]) && isxdigit((unsigned char)s[3])) {
			char hex[3] = { s[2], s[3], 0 };
			*o++ = (char)strtoul(hex, NULL, 16);
			s += 3;
		} else
			*o++ = *s;
	}
	*o = '\0';
	return out;
}

/*
 * Steps in the order they are carried out: entries of a dir before the dir
 * (a dir can only be moved away empty), so non-dirs in path order first,
 * then dir steps deepest first.
 */
int refresh_plan_steps(const struct refresh_plan *p, struct journal *j)
{
	j->steps = calloc(p->n + 1, sizeof(*j->steps));
	if (!j->steps)
		return -ENOMEM;
	for (int pass = 0; pass < 2; pass++)
		for (size_t k = 0; k < p->n; k++) {
			const struct refresh_item *it = &p->items[pass == 0 ? k : p->n - 1 - k];
			if (it->action == RF_KEEP || it->dir != (pass == 1))
				continue;
			struct step *st = &j->steps[j->n];
			st->kind = it->action == RF_REMOVE ? STEP_REMOVE : it->action == RF_MERGE ? STEP_MERGE : STEP_DIR_META;
			if (!(st->path = strdup(it->path)))
				return -ENOMEM;
			j->n++;
		}
	return 0;
}

int refresh_write_journal(int dirfd, const struct journal *j)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "%s\nbase %s\nfrom %u\nto %u\n", JOURNAL_MAGIC, j->base, j->from, j->to);
	for (size_t i = 0; i < j->n; i++) {
		fprintf(f, "%s ", step_names[j->steps[i].kind]);
		put_path(f, j->steps[i].path);
		fputc('\n', f);
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	int r = lc_write_atomic(dirfd, "journal", buf, len, 0600, true);
	free(buf);
	return r;
}

int refresh_read_journal(int dirfd, struct journal *j, struct lc_err *err)
{
	memset(j, 0, sizeof(*j));
	_cleanup_close_ int fd = openat(dirfd, "journal", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	_cleanup_fclose_ FILE *f = fdopen(fd, "r");
	if (!f)
		return -errno;
	fd = -1;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, r = 0;
	size_t alloc = 0;
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		char *sp = strchr(line, ' ');
		if (lineno == 1) {
			if (!STREQ(line, JOURNAL_MAGIC)) {
				r = -EBADMSG;
				break;
			}
			continue;
		}
		if (!sp) {
			r = -EBADMSG;
			break;
		}
		*sp = '\0';
		const char *v = sp + 1;
		if (STREQ(line, "base")) {
			free(j->base);
			j->base = strdup(v);
		} else if (STREQ(line, "from"))
			j->from = (unsigned)strtoul(v, NULL, 10);
		else if (STREQ(line, "to"))
			j->to = (unsigned)strtoul(v, NULL, 10);
		else {
			int kind = -1;
			for (int k = 0; k < 3; k++)
				if (STREQ(line, step_names[k]))
					kind = k;
			if (kind < 0) {
				r = -EBADMSG;
				break;
			}
			if (j->n == alloc) {
				alloc = alloc ? alloc * 2 : 64;
				struct step *nv = realloc(j->steps, alloc * sizeof(*nv));
				if (!nv) {
					r = -ENOMEM;
					break;
				}
				j->steps = nv;
			}
			j->steps[j->n].kind = (enum step_kind)kind;
			if (!(j->steps[j->n].path = unescape_path(v))) {
				r = -ENOMEM;
				break;
			}
			j->n++;
		}
	}
	free(line);
	if (r == 0 && (!j->base || !j->from || !j->to))
		r = -EBADMSG;
	if (r < 0) {
		refresh_journal_done(j);
		return r == -EBADMSG ? lc_err_ret(err, r, "refresh journal is corrupt (line %d)", lineno) : r;
	}
	return 0;
}

/* ---- copying entries and metadata ---- */

int refresh_proc_path(char buf[PATH_MAX + 32], int dirfd, const char *path)
{
	int n = snprintf(buf, PATH_MAX + 32, "/proc/self/fd/%d/%s", dirfd, path);
	return n < 0 || n >= PATH_MAX + 32 ? -ENAMETOOLONG : 0;
}

/* Non-overlay xattr names of an entry (NUL-separated list in *ret). */
static ssize_t list_xattrs(const char *p, char **ret)
{
	*ret = NULL;
	for (;;) {
		ssize_t n = llistxattr(p, NULL, 0);
		if (n < 0)
			return errno == ENOTSUP || errno == EOPNOTSUPP ? 0 : -errno;
		if (n == 0)
			return 0;
		char *buf = malloc((size_t)n);
		if (!buf)
			return -ENOMEM;
		ssize_t m = llistxattr(p, buf, (size_t)n);
		if (m >= 0) {
			*ret = buf;
			return m;
		}
		free(buf);
		if (errno != ERANGE)
			return -errno;
	}
}

static bool name_in_list(const char *list, ssize_t n, const char *name)
{
	for (const char *x = list; x < list + n; x += strlen(x) + 1)
		if (STREQ(x, name))
			return true;
	return false;
}

/*
 * Give dst the owner, mode and xattrs of src (overlay's own xattrs on
 * either side left alone).  Owner first: chown clears set-id bits and file
 * capabilities, which the mode and xattrs then put back.
 */
int refresh_copy_meta(int src_dirfd, const char *src, int dst_dirfd, const char *dst)
{
	char sp[PATH_MAX + 32], dp[PATH_MAX + 32];
	struct stat st;
	int r;
	struct stat dst_st;
	if (fstatat(src_dirfd, src, &st, AT_SYMLINK_NOFOLLOW) < 0 || fstatat(dst_dirfd, dst, &dst_st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	/* fchmodat() follows a final symlink: never let one stand where a file or dir was. */
	if (S_ISLNK(dst_st.st_mode) != S_ISLNK(st.st_mode))
		return -ELOOP;
	if (fchownat(dst_dirfd, dst, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISLNK(st.st_mode) && fchmodat(dst_dirfd, dst, st.st_mode & 07777, 0) < 0)
		return -errno;
	if ((r = refresh_proc_path(sp, src_dirfd, src)) < 0 || (r = refresh_proc_path(dp, dst_dirfd, dst)) < 0)
		return r;
	_cleanup_free_ char *sl = NULL, *dl = NULL;
	ssize_t sn = list_xattrs(sp, &sl), dn = list_xattrs(dp, &dl);
	if (sn < 0 || dn < 0)
		return (int)(sn < 0 ? sn : dn);
	for (const char *x = dl; dl && x < dl + dn; x += strlen(x) + 1)
		if (!ov_xattr_is_private(x) && !name_in_list(sl, sn, x) && lremovexattr(dp, x) < 0 && errno != ENODATA)
			return -errno;
	for (const char *x = sl; sl && x < sl + sn; x += strlen(x) + 1) {
		if (ov_xattr_is_private(x))
			continue;
		ssize_t vn = lgetxattr(sp, x, NULL, 0);
		if (vn < 0)
			return -errno;
		_cleanup_free_ char *v = malloc((size_t)vn + 1);
		if (!v)
			return -ENOMEM;
		vn = lgetxattr(sp, x, v, (size_t)vn);
		if (vn < 0)
			return -errno;
		if (lsetxattr(dp, x, v, (size_t)vn, 0) < 0)
			return -errno;
	}
	return 0;
}

static int copy_content(int from_fd, int to_fd)
{
	for (;;) {
		ssize_t n = copy_file_range(from_fd, NULL, to_fd, NULL, 1 << 30, 0);
		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
			return -errno;
		break;
	}
	char buf[65536];
	for (;;) {
		ssize_t n = read(from_fd, buf, sizeof(buf));
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(to_fd, buf + off, (size_t)(n - off));
			if (w < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			off += w;
		}
	}
}

/*
 * Copy the regular file or symlink src (in the B tree) to dst_dirfd/dst,
 * which must not exist, with mode 0600 (the caller sets the metadata).
 */
int refresh_copy_entry(int src_dirfd, const char *src, int dst_dirfd, const char *dst)
{
	struct stat st;
	if (fstatat(src_dirfd, src, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX + 1];
		ssize_t n = readlinkat(src_dirfd, src, target, sizeof(target) - 1);
		if (n < 0)
			return -errno;
		target[n] = '\0';
		return symlinkat(target, dst_dirfd, dst) < 0 ? -errno : 0;
	}
	if (!S_ISREG(st.st_mode))
		return -EOPNOTSUPP;
	_cleanup_close_ int in = openat(src_dirfd, src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (in < 0)
		return -errno;
	_cleanup_close_ int out = openat(dst_dirfd, dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	int r = copy_content(in, out);
	if (r < 0)
		return r;
	struct timespec ts[2] = { st.st_atim, st.st_mtim };
	return futimens(out, ts) < 0 ? -errno : 0;
}

/* mkdir -p of the parent dirs of path below dirfd. */
int refresh_make_parents(int dirfd, const char *path)
{
	_cleanup_free_ char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdirat(dirfd, p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return 0;
}
