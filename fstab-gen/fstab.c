/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fstab entries of children, and bringing an fstab file in line with them.
 *
 * Two layers of quoting apply to an entry, and each is done by its owner:
 * overlay's `\,` `\:` `\\` in option values by ov_escape_path(), fstab's
 * octal `\040` `\011` `\134` in fields by libmount when it writes a table.
 * libmount's option-string functions (mnt_optstr_*, mnt_fs_get_option) know
 * nothing of overlay's backslashes and split `lowerdir=/a\,b` at the comma,
 * so the overlay part of an entry is only ever compared as a whole string,
 * never taken apart by them.
 */
#include <fcntl.h>
#include <libgen.h>
#include "src/basic/mount-dl.h"   /* libmount, loaded on first use */
#include <limits.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "fstab-gen/fstab-gen.h"
#include "fstab-gen/internal.h"
#include "src/basic/fileio.h"
#include "src/basic/testhook.h"

static inline void fg_unref_fsp(struct libmnt_fs **fs) { mnt_unref_fs(*fs); }
static inline void fg_unref_tablep(struct libmnt_table **tb) { mnt_unref_table(*tb); }
static inline void fg_free_iterp(struct libmnt_iter **it) { mnt_free_iter(*it); }
#define _cleanup_fs_ _cleanup_(fg_unref_fsp)
#define _cleanup_table_ _cleanup_(fg_unref_tablep)

int fg_overlay_options(const struct fg_child *c, char **ret, struct lc_err *err)
{
	const char *lowers[] = { c->lower };
	struct ov_layers l = { .lowers = lowers, .n_lowers = 1, .upper = c->upper, .work = c->work };
	int r = ov_build_options(&l, ret, err);
	if (r < 0 && err) {
		char why[sizeof(err->msg)];
		snprintf(why, sizeof(why), "%s", err->msg);
		lc_err_set(err, "child %s: %s", c->name, why[0] ? why : strerror(-r));
	}
	return r;
}

/*
 * The store path as the value of x-systemd.requires-mounts-for=.  Only
 * systemd reads it, through three layers, and each must leave it whole:
 *  - libmount (mount(8)) keeps a double-quoted option value in one piece,
 *    whatever ',' or ' ' it holds, and drops the x- option;
 *  - systemd-fstab-generator splits the option list at unescaped ',' and
 *    turns "\," into "," and "\\" into "\";
 *  - the unit file's RequiresMountsFor="..." is unquoted with backslash
 *    escapes, so a '\' must arrive there as "\\".
 * Hence: '"' around, ',' -> "\,", '\' -> four backslashes.  A '"' in the path
 * fits none of this and is refused.  (Checked against systemd-fstab-generator
 * by the integration tests: its RequiresMountsFor= equals ours.)
 */
static int requires_mounts_for_value(const struct fg_child *c, char **ret, struct lc_err *err)
{
	if (strchr(c->store, '"') || strchr(c->store, '\n'))
		return lc_err_ret(err, -EINVAL, "store path %s holds a '\"' or newline, which fstab options cannot carry",
				  c->store);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fputc('"', f);
	for (const char *p = c->store; *p; p++) {
		if (*p == '\\')
			fputs("\\\\\\\\", f); /* four: see above */
		else if (*p == ',')
			fputs("\\,", f);
		else
			fputc(*p, f);
	}
	fputc('"', f);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

/*
 * Would mount(8) give the kernel exactly `overlay` from `options`?  Asked of
 * libmount's own splitter, which is what mount(8) uses: everything it does
 * not take as a VFS flag or a userspace option is handed to the kernel.
 */
static int check_libmount_split(const struct fg_child *c, const char *options, const char *overlay,
				struct lc_err *err)
{
	_cleanup_free_ char *user = NULL, *vfs = NULL, *fs = NULL;
	int r = mnt_split_optstr(options, &user, &vfs, &fs, 0, 0);
	if (r < 0)
		return lc_err_ret(err, r, "child %s: libmount cannot split the entry's options", c->name);
	if (vfs || !fs || !STREQ(fs, overlay))
		return lc_err_ret(err, -EINVAL,
				  "child %s: a store path holds ',' followed by a word libmount reads as a mount option "
				  "(kernel would get '%s'); rename the store directory",
				  c->name, vfs ? vfs : fs ? fs : "");
	return 0;
}

bool fg_is_user_option(const char *name, size_t len)
{
	/* How long systemd waits: the user's to tune, never a reason for a failed boot. */
	static const char *const timing[] = { "x-systemd.device-timeout", "x-systemd.mount-timeout",
					      "x-systemd.idle-timeout" };
	/* These decide whether, when, where or what is mounted: layerctl's (or nobody's). */
	static const char *const reserved[] = { "x-systemd.", "x-initrd.", "x-mount.", "x-layerctl." };

	for (size_t i = 0; i < ELEMENTSOF(timing); i++)
		if (len == strlen(timing[i]) && memcmp(name, timing[i], len) == 0)
			return true;
	if (len <= 2 || memcmp(name, "x-", 2) != 0)
		return false;
	for (size_t i = 0; i < ELEMENTSOF(reserved); i++)
		if (len >= strlen(reserved[i]) && memcmp(name, reserved[i], strlen(reserved[i])) == 0)
			return false;
	return true;
}

/*
 * The entry's options; user_opts (the user's own options of the line being
 * replaced, or NULL) go after layerctl's userspace options and before the
 * overlay options, which stay last.
 */
static int entry_options(const struct fg_child *c, const char *user_opts, char **ret, struct lc_err *err)
{
	_cleanup_free_ char *overlay = NULL, *rmf = NULL;
	char *opts;
	int r;

	if (!c->name || !*c->name || strchr(c->name, ',') || strchr(c->name, '"'))
		return lc_err_ret(err, -EINVAL, "child name '%s' cannot go into an fstab option", c->name ? c->name : "");
	r = fg_overlay_options(c, &overlay, err);
	if (r < 0)
		return r;
	r = requires_mounts_for_value(c, &rmf, err);
	if (r < 0)
		return r;
	if (asprintf(&opts, FG_OWNER_OPTION "=%s,noauto,nofail,x-systemd.automount,x-systemd.requires-mounts-for=%s,%s%s%s",
		     c->name, rmf, user_opts ? user_opts : "", user_opts ? "," : "", overlay) < 0)
		return -ENOMEM;
	r = check_libmount_split(c, opts, overlay, err);
	if (r < 0) {
		free(opts);
		return r;
	}
	*ret = opts;
	return 0;
}

int fg_entry_options(const struct fg_child *c, char **ret, struct lc_err *err)
{
	return entry_options(c, NULL, ret, err);
}

static int entry_fs(const struct fg_child *c, const char *user_opts, struct libmnt_fs **ret, struct lc_err *err)
{
	_cleanup_free_ char *opts = NULL;
	int r = entry_options(c, user_opts, &opts, err);
	if (r < 0)
		return r;
	if (strchr(c->target, '\n'))
		return lc_err_ret(err, -EINVAL, "child %s: mount point holds a newline", c->name);
	struct libmnt_fs *fs = mnt_new_fs();
	if (!fs)
		return -ENOMEM;
	if ((r = mnt_fs_set_source(fs, "overlay")) < 0 || (r = mnt_fs_set_target(fs, c->target)) < 0 ||
	    (r = mnt_fs_set_fstype(fs, "overlay")) < 0 || (r = mnt_fs_set_options(fs, opts)) < 0 ||
	    (r = mnt_fs_set_freq(fs, 0)) < 0 || (r = mnt_fs_set_passno(fs, 0)) < 0) {
		mnt_unref_fs(fs);
		return lc_err_ret(err, r, "child %s: libmount refused the entry", c->name);
	}
	*ret = fs;
	return 0;
}

/* One fstab line for fs, written (and its fields mangled) by libmount. */
static int format_fs_line(struct libmnt_fs *fs, char **ret)
{
	_cleanup_table_ struct libmnt_table *tb = mnt_new_table();
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (!tb)
		return -ENOMEM;
	r = mnt_table_add_fs(tb, fs);
	if (r < 0)
		return r;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	r = mnt_table_write_file(tb, f);
	if (fclose(f) != 0 && r == 0)
		r = -ENOMEM;
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret = buf;
	return 0;
}

int fg_entry_line(const struct fg_child *c, char **ret, struct lc_err *err)
{
	_cleanup_fs_ struct libmnt_fs *fs = NULL;
	int r = entry_fs(c, NULL, &fs, err);
	if (r < 0)
		return r;
	r = format_fs_line(fs, ret);
	return r < 0 ? lc_err_ret(err, r, "child %s: libmount could not format the entry", c->name) : 0;
}

void fg_report_done(struct fg_report *rep)
{
	if (!rep)
		return;
	for (size_t i = 0; i < rep->n_changes; i++) {
		free(rep->changes[i].child);
		free(rep->changes[i].detail);
	}
	free(rep->changes);
	memset(rep, 0, sizeof(*rep));
}

static int add_change(struct fg_report *rep, enum fg_change_kind kind, const char *child, unsigned line,
		      const char *detail)
{
	struct fg_change *v = realloc(rep->changes, (rep->n_changes + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	rep->changes = v;
	v[rep->n_changes] = (struct fg_change){ .kind = kind, .line = line };
	if (!(v[rep->n_changes].child = strdup(child)) || (detail && !(v[rep->n_changes].detail = strdup(detail)))) {
		free(v[rep->n_changes].child);
		return -ENOMEM;
	}
	rep->n_changes++;
	return 0;
}

/* ---- The old file: its lines, and which of them libmount read as entries ---- */

struct line {
	const char *p;
	size_t len;            /* including the '\n', if there is one */
	struct libmnt_fs *fs;  /* the entry libmount parsed from this line, or NULL */
};

struct parsed {
	struct libmnt_table *tb;
	struct line *lines;
	size_t n_lines;
	unsigned bad_line;     /* first line libmount could not parse, 0 if none */
};

static void parsed_done(struct parsed *p)
{
	mnt_unref_table(p->tb);
	free(p->lines);
	memset(p, 0, sizeof(*p));
}

static int parse_error_cb(struct libmnt_table *tb, const char *filename, int line)
{
	struct parsed *p = mnt_table_get_userdata(tb);
	if (p && p->bad_line == 0)
		p->bad_line = line > 0 ? (unsigned)line : 1;
	return 1; /* go on, so parsing terminates normally; we refuse afterwards */
}

static int split_lines(const char *text, size_t len, struct parsed *p)
{
	size_t n = 0, cap = 0;
	for (size_t off = 0; off < len;) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - (text + off)) + 1 : len - off;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			struct line *v = realloc(p->lines, cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			p->lines = v;
		}
		p->lines[n++] = (struct line){ .p = text + off, .len = l };
		off += l;
	}
	p->n_lines = n;
	return 0;
}

/* Lines in a comment block libmount kept ("a\n\n# b\n" is three). */
static size_t block_lines(const char *s)
{
	size_t n = 0;
	if (!s || !*s)
		return 0;
	for (const char *c = s; *c; c++)
		n += *c == '\n';
	return n + (s[strlen(s) - 1] != '\n');
}

/*
 * Give each entry libmount parsed its line in the text.  With comments
 * enabled libmount keeps every comment and blank line, attached to the next
 * entry (or to the table's intro or trailing comment), so the k-th entry's
 * line is the number of lines before it.  The sum must come out at the
 * file's line count; if it does not, libmount and we disagree on what the
 * file is and we refuse rather than guess.  (libmount drops a final comment
 * line that lacks its '\n': that one line may be missing from the sum.)
 */
static int map_entries_to_lines(struct parsed *p, const char *what, struct lc_err *err)
{
	_cleanup_(fg_free_iterp) struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
	struct libmnt_fs *fs;
	size_t i = block_lines(mnt_table_get_intro_comment(p->tb));

	if (!it)
		return -ENOMEM;
	while (mnt_table_next_fs(p->tb, it, &fs) == 0) {
		i += block_lines(mnt_fs_get_comment(fs));
		if (i >= p->n_lines)
			break;
		p->lines[i++].fs = fs;
	}
	i += block_lines(mnt_table_get_trailing_comment(p->tb));
	bool last_unterminated = p->n_lines && p->lines[p->n_lines - 1].p[p->lines[p->n_lines - 1].len - 1] != '\n';
	if (i == p->n_lines || (last_unterminated && i + 1 == p->n_lines && !p->lines[p->n_lines - 1].fs))
		return 0;
	return lc_err_ret(err, -EBADMSG, "%s: libmount's reading of the file does not match its %zu lines; not touching it",
			  what, p->n_lines);
}

/*
 * libmount parses the text we hold, never the file again: a copy in a memfd,
 * handed over as /proc/self/fd/N.  (mnt_table_parse_stream() on an
 * fmemopen() stream would need no /proc, but it guesses the table's format
 * from the first entry, and an fstab line that starts with two numbers is
 * then read as mountinfo; mnt_table_parse_fstab() fixes the format.)
 */
static int parse_copy(struct libmnt_table *tb, const char *text, size_t len, const char *what, struct lc_err *err)
{
	char path[64];
	_cleanup_close_ int fd = memfd_create("layerctl-fstab", MFD_CLOEXEC);
	if (fd < 0)
		return lc_err_ret(err, -errno, "%s: memfd_create: %m", what);
	for (size_t off = 0; off < len;) {
		ssize_t k = write(fd, text + off, len - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return lc_err_ret(err, -errno, "%s: copying it for libmount: %m", what);
		off += (size_t)k;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (access(path, R_OK) < 0)
		return lc_err_ret(err, -errno, "%s: libmount reads the text through %s, which needs /proc (%m)", what, path);
	int r = mnt_table_parse_fstab(tb, path);
	return r < 0 ? lc_err_ret(err, r, "%s: libmount cannot read it (%s)", what, strerror(-r)) : 0;
}

static int parse_text(const char *text, size_t len, const char *what, struct parsed *p, struct lc_err *err)
{
	int r;

	memset(p, 0, sizeof(*p));
	if (memchr(text, '\0', len))
		return lc_err_ret(err, -EBADMSG, "%s: holds a NUL byte; not an fstab", what);
	if (!(p->tb = mnt_new_table()))
		return -ENOMEM;
	mnt_table_enable_comments(p->tb, 1);
	mnt_table_set_userdata(p->tb, p);
	mnt_table_set_parser_errcb(p->tb, parse_error_cb);
	/* An empty (or missing) file has nothing to parse. */
	r = len ? parse_copy(p->tb, text, len, what, err) : 0;
	if (r < 0)
		return r;
	if (p->bad_line)
		return lc_err_ret(err, -EBADMSG, "%s:%u: libmount cannot parse this line; fix or remove it (nothing was changed)",
				  what, p->bad_line);
	r = split_lines(text, len, p);
	if (r < 0)
		return r;
	return map_entries_to_lines(p, what, err);
}

/* Is path below dir (a plain prefix test on whole components)? */
static bool path_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	return path && strncmp(path, dir, n) == 0 && path[n] == '/';
}

/*
 * The x-layerctl.child= value of an entry (malloc'd), or NULL if not ours:
 * no marker, or a mount point outside scope (another store's entry).
 */
static char *owner_of(struct libmnt_fs *fs, const char *scope)
{
	char *v = NULL;
	size_t n = 0;
	if (scope && !path_below(mnt_fs_get_target(fs), scope))
		return NULL;
	/*
	 * mnt_fs_get_option() splits at every ',' (it does not know overlay's
	 * "\,"), which is fine here: we write the marker first, before any
	 * path, and a child name holds no ',' or '\'.
	 */
	if (mnt_fs_get_option(fs, FG_OWNER_OPTION, &v, &n) != 0)
		return NULL;
	return v ? strndup(v, n) : strdup("");
}

static bool streq_null(const char *a, const char *b)
{
	return a && b ? STREQ(a, b) : a == b;
}

/* Does optstr hold the option name (of nlen bytes) with exactly this value (NULL: none)? */
static bool optstr_has(const char *optstr, const char *name, size_t nlen, const char *value, size_t vlen)
{
	char *s = (char *)optstr, *n, *v;
	size_t nl, vl;
	while (s && mnt_optstr_next_option(&s, &n, &nl, &v, &vl) == 0)
		if (nl == nlen && memcmp(n, name, nlen) == 0 && (v ? value && vl == vlen && memcmp(v, value, vlen) == 0 : !value))
			return true;
	return false;
}

/* An option name for a message: printable ASCII as is, anything else as \xNN. */
static void put_option_name(char *buf, size_t size, const char *what, const char *name, size_t len)
{
	size_t o = (size_t)snprintf(buf, size, "options: ");
	for (size_t i = 0; i < len && i < 64 && o + 5 < size; i++) {
		unsigned char c = (unsigned char)name[i];
		o += (size_t)snprintf(buf + o, size - o, c > ' ' && c < 0x7f && c != '\\' ? "%c" : "\\x%02x", c);
	}
	snprintf(buf + o, size - o, " %s", what);
}

/*
 * Compare the option fields as sets, split by libmount the way mount(8)
 * splits them: the kernel's part (the overlay options, compared as one
 * string, since libmount's splitter knows nothing of overlay's "\,") and
 * the userspace part (x-*, noauto, nofail, ...), where every option of ours
 * must be there with our value and any other must be the user's.
 */
static bool options_differ(const char *have, const char *want, char *detail, size_t size)
{
	_cleanup_free_ char *hu = NULL, *hv = NULL, *hf = NULL, *wu = NULL, *wv = NULL, *wf = NULL;
	char *s, *n, *v;
	size_t nl, vl;

	if (mnt_split_optstr(have, &hu, &hv, &hf, 0, 0) < 0 || mnt_split_optstr(want, &wu, &wv, &wf, 0, 0) < 0) {
		snprintf(detail, size, "options");
		return true;
	}
	if (hv) {
		s = hv;
		if (mnt_optstr_next_option(&s, &n, &nl, &v, &vl) == 0)
			put_option_name(detail, size, "is not layerctl's nor the user's", n, nl);
		return true;
	}
	if (!streq_null(hf, wf)) {
		snprintf(detail, size, "overlay options");
		return true;
	}
	/* Ours first, so a changed value is named as such rather than as a stranger. */
	for (s = wu; s && mnt_optstr_next_option(&s, &n, &nl, &v, &vl) == 0;)
		if (!optstr_has(hu, n, nl, v, vl)) {
			put_option_name(detail, size, "is missing or has another value", n, nl);
			return true;
		}
	for (s = hu; s && mnt_optstr_next_option(&s, &n, &nl, &v, &vl) == 0;)
		if (!optstr_has(wu, n, nl, v, vl) && !fg_is_user_option(n, nl)) {
			put_option_name(detail, size, "is not layerctl's nor the user's", n, nl);
			return true;
		}
	return false;
}

/* What differs between an existing entry and the wanted one (into detail); false if nothing. */
static bool entry_differs(struct libmnt_fs *have, struct libmnt_fs *want, char *detail, size_t size)
{
	const char *what = NULL;
	if (!streq_null(mnt_fs_get_target(have), mnt_fs_get_target(want)))
		what = "mount point";
	else if (options_differ(mnt_fs_get_options(have), mnt_fs_get_options(want), detail, size))
		return true;
	else if (!streq_null(mnt_fs_get_source(have), mnt_fs_get_source(want)))
		what = "source";
	else if (!streq_null(mnt_fs_get_fstype(have), mnt_fs_get_fstype(want)))
		what = "file system type";
	else if (mnt_fs_get_freq(have) != mnt_fs_get_freq(want) || mnt_fs_get_passno(have) != mnt_fs_get_passno(want))
		what = "dump/pass fields";
	if (what)
		snprintf(detail, size, "%s", what);
	return what != NULL;
}

/*
 * The user's options of an owned entry, in their order, as one
 * comma-separated string (NULL if there are none): carried into the entry
 * that replaces it.
 */
static int user_options_of(struct libmnt_fs *fs, char **ret)
{
	_cleanup_free_ char *u = NULL;
	char *buf = NULL, *s, *n, *v;
	size_t len = 0, nl, vl;

	*ret = NULL;
	int r = mnt_split_optstr(mnt_fs_get_options(fs), &u, NULL, NULL, 0, 0);
	if (r < 0)
		return r;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	/* Each option as written (name, '=', value with any quotes), joined by ','. */
	for (s = u; s && mnt_optstr_next_option(&s, &n, &nl, &v, &vl) == 0;)
		if (fg_is_user_option(n, nl))
			fprintf(f, "%s%.*s", ftell(f) ? "," : "", (int)(v ? (size_t)(v + vl - n) : nl), n);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	if (len)
		*ret = buf;
	else
		free(buf);
	return 0;
}

struct wanted {
	const struct fg_child *child;
	struct libmnt_fs *fs;
	char *line;
	bool seen;
};

static void wanted_free(struct wanted *w, size_t n)
{
	for (size_t i = 0; w && i < n; i++) {
		mnt_unref_fs(w[i].fs);
		free(w[i].line);
	}
	free(w);
}

static struct wanted *find_wanted(struct wanted *w, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (STREQ(w[i].child->name, name))
			return &w[i];
	return NULL;
}

static int build_wanted(const struct fg_child *children, size_t n, struct wanted **ret, struct lc_err *err)
{
	struct wanted *w = calloc(n ? n : 1, sizeof(*w));
	int r = 0;
	if (!w)
		return -ENOMEM;
	for (size_t i = 0; i < n && r == 0; i++) {
		w[i].child = &children[i];
		/* One fstab line cannot mount the image before the overlay; the generator's units can. */
		if (children[i].image)
			r = lc_err_ret(err, -EOPNOTSUPP,
				       "child %s: its base generation is an image (base import --keep-image), which only "
				       "the generator mounts before the child; leave it to the generator",
				       children[i].name);
		else if (find_wanted(w, i, children[i].name))
			r = lc_err_ret(err, -EINVAL, "child %s: given twice", children[i].name);
		if (r == 0)
			r = entry_fs(&children[i], NULL, &w[i].fs, err);
		if (r == 0 && (r = format_fs_line(w[i].fs, &w[i].line)) < 0)
			lc_err_set(err, "child %s: libmount could not format the entry", children[i].name);
	}
	if (r < 0) {
		wanted_free(w, n);
		return r;
	}
	*ret = w;
	return 0;
}

/* The wanted entry's line, with the user's options of the entry it replaces. */
static int replacement_line(struct wanted *want, struct libmnt_fs *old, char **ret, struct lc_err *err)
{
	_cleanup_free_ char *user_opts = NULL;
	_cleanup_fs_ struct libmnt_fs *fs = NULL;
	int r = user_options_of(old, &user_opts);
	if (r < 0)
		return r;
	if (!user_opts)
		return (*ret = strdup(want->line)) ? 0 : -ENOMEM;
	r = entry_fs(want->child, user_opts, &fs, err);
	if (r < 0)
		return r;
	r = format_fs_line(fs, ret);
	return r < 0 ? lc_err_ret(err, r, "child %s: libmount could not format the entry", want->child->name) : 0;
}

/* Decide the fate of one owned entry: keep it verbatim, replace it, or drop it. */
static int merge_owned_line(FILE *out, const struct line *l, unsigned lineno, const char *owner, struct wanted *w,
			    size_t n, struct fg_report *rep, struct lc_err *err)
{
	struct wanted *want = find_wanted(w, n, owner);
	char diff[160];
	if (!want)
		return add_change(rep, FG_REMOVE, owner, lineno, NULL);
	if (want->seen)
		return add_change(rep, FG_DUPLICATE, owner, lineno, NULL);
	want->seen = true;
	rep->n_entries++;
	if (!entry_differs(l->fs, want->fs, diff, sizeof(diff))) {
		fwrite(l->p, 1, l->len, out);
		return 0;
	}
	_cleanup_free_ char *line = NULL;
	int r = replacement_line(want, l->fs, &line, err);
	if (r < 0)
		return r;
	fputs(line, out);
	return add_change(rep, FG_UPDATE, owner, lineno, diff);
}

int fg_fstab_merge(const char *text, size_t len, const char *what, const char *scope,
		   const struct fg_child *children, size_t n, char **ret_text, size_t *ret_len,
		   struct fg_report *rep, struct lc_err *err)
{
	struct parsed p;
	struct wanted *w = NULL;
	char *buf = NULL;
	size_t buflen = 0;
	int r;

	memset(rep, 0, sizeof(*rep));
	r = parse_text(text, len, what, &p, err);
	if (r == 0)
		r = build_wanted(children, n, &w, err);
	if (r < 0) {
		parsed_done(&p);
		return r;
	}
	FILE *out = open_memstream(&buf, &buflen);
	if (!out) {
		r = -ENOMEM;
		goto finish;
	}
	for (size_t i = 0; i < p.n_lines && r == 0; i++) {
		_cleanup_free_ char *owner = p.lines[i].fs ? owner_of(p.lines[i].fs, scope) : NULL;
		if (owner)
			r = merge_owned_line(out, &p.lines[i], (unsigned)(i + 1), owner, w, n, rep, err);
		else
			fwrite(p.lines[i].p, 1, p.lines[i].len, out); /* not ours: byte for byte */
	}
	bool appended = false;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (w[i].seen)
			continue;
		/* The old last line lacked its newline: it needs one before ours. */
		if (!appended) {
			fflush(out);
			if (buflen > 0 && buf[buflen - 1] != '\n')
				fputc('\n', out);
			appended = true;
		}
		fputs(w[i].line, out);
		rep->n_entries++;
		r = add_change(rep, FG_ADD, w[i].child->name, 0, NULL);
	}
	if (fclose(out) != 0 && r == 0)
		r = -ENOMEM;
finish:
	wanted_free(w, n);
	parsed_done(&p);
	if (r < 0) {
		free(buf);
		fg_report_done(rep);
		return r;
	}
	*ret_text = buf;
	*ret_len = buflen;
	return 0;
}

/* Does libmount read the written temp file without complaint? (A last safety net.) */
int fg_verify_written(const char *tmp_path, const char *what, struct lc_err *err)
{
	struct parsed p = {};
	if (!(p.tb = mnt_new_table()))
		return -ENOMEM;
	mnt_table_set_userdata(p.tb, &p);
	mnt_table_set_parser_errcb(p.tb, parse_error_cb);
	int r = mnt_table_parse_fstab(p.tb, tmp_path);
	if (r == 0 && p.bad_line)
		r = lc_err_ret(err, -EBADMSG, "%s: the new text does not parse at line %u (a layerctl bug); not written",
			       what, p.bad_line);
	parsed_done(&p);
	return r;
}
