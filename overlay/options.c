/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Overlay option strings and the escaping of their path values. */
#include <stdbool.h>
#include <stdio.h>

#include "overlay/overlay.h"

/*
 * The kernel splits the option string at unescaped ',' and lowerdir= at
 * unescaped ':' and then drops one level of '\' from every path value, so
 * exactly these three characters need a backslash.
 */
static bool needs_escape(char c)
{
	return c == '\\' || c == ',' || c == ':';
}

int ov_escape_path(const char *path, char **ret)
{
	size_t n = 0;
	if (!path || !*path)
		return -EINVAL;
	for (const char *p = path; *p; p++) {
		if (*p == '\n')
			return -EINVAL;
		n += needs_escape(*p) ? 2 : 1;
	}
	char *out = malloc(n + 1), *o = out;
	if (!out)
		return -ENOMEM;
	for (const char *p = path; *p; p++) {
		if (needs_escape(*p))
			*o++ = '\\';
		*o++ = *p;
	}
	*o = '\0';
	*ret = out;
	return 0;
}

int ov_unescape_path(const char *escaped, char **ret)
{
	char *out = malloc(strlen(escaped) + 1), *o = out;
	if (!out)
		return -ENOMEM;
	for (const char *p = escaped; *p; p++) {
		if (*p == '\\') {
			if (!p[1]) {
				free(out);
				return -EINVAL; /* dangling escape */
			}
			p++;
		}
		*o++ = *p;
	}
	*o = '\0';
	*ret = out;
	return 0;
}

/* Append "key=escaped(value)" to a memstream, with a leading comma if needed. */
static int put_path_option(FILE *f, bool *first, const char *key, const char *path)
{
	_cleanup_free_ char *esc = NULL;
	int r = ov_escape_path(path, &esc);
	if (r < 0)
		return r;
	fprintf(f, "%s%s=%s", *first ? "" : ",", key, esc);
	*first = false;
	return 0;
}

int ov_check_layers(const struct ov_layers *l, struct lc_err *err)
{
	if (l->n_lowers == 0)
		return lc_err_ret(err, -EINVAL, "no lower layer");
	if (!l->upper && l->n_lowers < 2)
		return lc_err_ret(err, -EINVAL, "a read-only overlay needs at least two lower layers");
	if (!l->upper != !l->work)
		return lc_err_ret(err, -EINVAL, "upperdir and workdir go together");
	if (l->n_lowers > 500)
		return lc_err_ret(err, -E2BIG, "%zu lower layers (the kernel allows 500)", l->n_lowers);
	return 0;
}

int ov_build_options(const struct ov_layers *l, char **ret, struct lc_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	bool first = true;
	int r = 0;

	if ((r = ov_check_layers(l, err)) < 0)
		return r;

	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fputs("lowerdir=", f);
	first = false;
	for (size_t i = 0; i < l->n_lowers && r == 0; i++) {
		_cleanup_free_ char *esc = NULL;
		r = ov_escape_path(l->lowers[i], &esc);
		if (r == 0)
			fprintf(f, "%s%s", i ? ":" : "", esc);
		else
			lc_err_set(err, "lower layer '%s': not a usable overlay path", l->lowers[i]);
	}
	if (r == 0 && l->upper) {
		r = put_path_option(f, &first, "upperdir", l->upper);
		if (r == 0)
			r = put_path_option(f, &first, "workdir", l->work);
		if (r < 0)
			lc_err_set(err, "upper or work dir: not a usable overlay path (newline?)");
	}
	/* Always explicit, whatever the module defaults: see OVERLAYFS-NOTES.md. */
	fputs(",index=off,metacopy=off,redirect_dir=off", f);
	if (l->volatile_upper && l->upper)
		fputs(",volatile", f);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	if (r < 0) {
		free(buf);
		return r;
	}
	if (len > OV_OPTIONS_MAX) {
		free(buf);
		return lc_err_ret(err, -ENAMETOOLONG,
				  "overlay options are %zu bytes, the kernel takes at most %d (shorter store path?)",
				  len, OV_OPTIONS_MAX);
	}
	*ret = buf;
	return 0;
}
