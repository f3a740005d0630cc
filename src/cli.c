/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every command does the same way: usage errors, the store, names, opening a child, subcommands, warnings. */
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>

#include "src/cli.h"
#include "src/log.h"
#include "src/output.h"
#include "diff/diff.h"

int usage_error(const char *cmd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	char line[8192];
	escape_message(line, sizeof(line), buf);
	/* One line, like every other error (scripts grep the first line). */
	fprintf(stderr, "layerctl %s: %s\n", cmd, line);
	return EXIT_USAGE;
}

int option_error(const char *cmd, int argc, char **argv, const char *optstring)
{
	/* getopt_long (opterr = 0) has left the offending word at argv[optind - 1]. */
	const char *word = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
	if (strncmp(word, "--", 2) == 0) {
		size_t n = strcspn(word, "=");
		if (optopt == 0)
			return usage_error(cmd, "unknown option '%.*s'", (int)n, word);
		if (word[n] == '=')
			return usage_error(cmd, "option '%.*s' takes no value", (int)n, word);
		return usage_error(cmd, "option '%s' requires an argument", word);
	}
	if (optopt && optopt != ':' && strchr(optstring, optopt))
		return usage_error(cmd, "option '-%c' requires an argument", optopt);
	if (optopt)
		return usage_error(cmd, "unknown option '-%c'", optopt);
	return usage_error(cmd, "unknown option '%s'", word);
}

int check_arg_count(const char *cmd, int argc, char **argv, int min, int max, const char *needs)
{
	int n = argc - optind;
	if (n > max)
		return usage_error(cmd, "unexpected argument '%s'", argv[optind + max]);
	if (n < min)
		return usage_error(cmd, "%s", needs);
	return 0;
}

/* Every command's store prints the library's warnings. */
static int store_opened(struct ctx *ctx)
{
	ctx->store.warn = (struct lc_warn){ cli_print_warning, NULL };
	ctx->store_open = true;
	return 0;
}

int ctx_store(struct ctx *ctx, bool create)
{
	if (ctx->store_open)
		return 0;
	int r = store_open(&ctx->store, ctx->root_arg, ctx->runtime_arg, create);
	if (r < 0) {
		const char *root = ctx->root_arg ? ctx->root_arg : getenv("LAYERCTL_ROOT");
		if (!root || !*root)
			root = STORE_DEFAULT_ROOT;
		if (r == -ENOENT && !create)
			log_error("store %s: does not exist (nothing imported yet?)", root);
		else if (r == -EINVAL && strpbrk(root, "\n\""))
			log_error("store %s: the path holds %s; choose another directory", root,
				  strchr(root, '\n') ? "a newline, which the kernel's mount table and fstab cannot carry"
						       : "'\"', which libmount reads as quoting in mount options");
		else
			log_error("store %s: %s", root, strerror(-r));
		return EXIT_FAIL;
	}
	return store_opened(ctx);
}

int ctx_store_or_empty(struct ctx *ctx, bool *empty)
{
	*empty = false;
	if (ctx->store_open)
		return 0;
	int r = store_open(&ctx->store, ctx->root_arg, ctx->runtime_arg, false);
	if (r == -ENOENT) {
		*empty = true;
		return 0;
	}
	if (r < 0)
		return ctx_store(ctx, false);
	return store_opened(ctx);
}

int cli_check_name(const char *cmd, const char *kind, const char *name)
{
	const char *why;
	if (name_validate(name, &why) == 0)
		return 0;
	if (cmd)
		log_error("%s: %s name '%s': %s", cmd, kind, name, why);
	else
		log_error("%s name '%s': %s", kind, name, why);
	return EXIT_FAIL;
}

void cli_print_warning(void *userdata, const char *msg)
{
	const char *prefix = userdata;
	if (prefix)
		log_warning("%s: %s", prefix, msg);
	else
		log_warning("%s", msg);
}

void cli_print_info(void *userdata, const char *msg)
{
	log_info("%s", msg);
}

void child_handle_done(struct child_handle *h)
{
	child_info_done(&h->c);
	diff_manifest_free(h->base);
	free(h->manifest_path);
	if (h->child_fd >= 0)
		close(h->child_fd);
	if (h->upper_fd >= 0)
		close(h->upper_fd);
	if (h->lock_fd >= 0)
		close(h->lock_fd);
	memset(h, 0, sizeof(*h));
	h->child_fd = h->upper_fd = h->lock_fd = -1;
}

/*
 * Load child.conf.  With CLI_CHILD_ANY_CONF a broken one is no obstacle:
 * unmounting and removing need only the name, and are how a broken child
 * gets cleaned up.
 */
static int load_conf(struct ctx *ctx, const char *cmd, const char *name, unsigned flags, struct child_handle *h)
{
	struct lc_err e = { "" };
	int r = store_child_load(&ctx->store, name, &h->c, &e);
	if (r == -EBADMSG && (flags & CLI_CHILD_ANY_CONF) && store_child_exists(&ctx->store, name) > 0) {
		memset(&h->c, 0, sizeof(h->c));
		h->conf_broken = true;
		h->conf_error = e;
		if (!(h->c.name = strdup(name)))
			return log_fail(EXIT_FAIL, "%s %s: out of memory", cmd, name);
		return 0;
	}
	if (r == -ENOENT)
		return log_fail(EXIT_FAIL, "%s %s: no such child", cmd, name);
	if (r < 0)
		return log_fail(EXIT_FAIL, "%s %s: %s", cmd, name, lc_err_msg(&e, r));
	return 0;
}

static int check_idle(struct ctx *ctx, const char *cmd, const char *name, struct child_handle *h)
{
	if (child_is_running(ctx, name) > 0)
		return log_fail(EXIT_FAIL, "%s %s: the child is running; stop it first (layerctl stop %s)", cmd, name, name);
	int r = store_child_is_mounted(&ctx->store, &h->c);
	if (r > 0)
		return log_fail(EXIT_FAIL, "%s %s: the child is mounted; unmount it first (layerctl umount %s)", cmd, name,
				name);
	if (r < 0)
		return log_fail(EXIT_FAIL, "%s %s: %s", cmd, name,
				r == -EBUSY ? "something is mounted on its root dir" : strerror(-r));
	return 0;
}

/* The base manifest, the child dir and its upper dir: what diff, audit and vacuum read. */
static int open_manifest(struct ctx *ctx, const char *cmd, const char *name, struct child_handle *h)
{
	_cleanup_free_ char *rel = NULL;
	struct lc_err e = { "" };

	h->manifest_path = store_gen_manifest(&ctx->store, h->c.base, h->c.gen);
	if (!h->manifest_path)
		return log_fail(EXIT_FAIL, "out of memory");
	int r = diff_manifest_open(h->manifest_path, &h->base, &e);
	if (r == -ENOENT) {
		struct lc_err missing = { "" };
		if (store_child_check_base(&ctx->store, &h->c, &missing) < 0)
			return log_fail(EXIT_FAIL, "%s %s: %s", cmd, name, lc_err_msg(&missing, r));
	}
	if (r < 0) {
		log_error("%s %s: manifest of base %s generation %u (%s): %s", cmd, name, h->c.base, h->c.gen,
			  h->manifest_path, r == -ENOENT ? "missing" : e.msg);
		if (r == -ENOENT)
			log_hint("bases imported before manifests existed need a re-import");
		return EXIT_FAIL;
	}
	if (asprintf(&rel, "children/%s", name) < 0)
		return log_fail(EXIT_FAIL, "out of memory");
	h->child_fd = openat(ctx->store.root_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (h->child_fd < 0)
		return log_fail(EXIT_FAIL, "%s %s: %s/%s: %m", cmd, name, ctx->store.root, rel);
	h->upper_fd = openat(h->child_fd, "upper", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (h->upper_fd < 0)
		return log_fail(EXIT_FAIL, "%s %s: upper dir: %m", cmd, name);
	return 0;
}

static int open_child(struct ctx *ctx, const char *cmd, const char *name, unsigned flags, struct child_handle *h)
{
	int r;
	if ((r = cli_check_name(cmd, "child", name)) || (r = ctx_store(ctx, false)))
		return r;
	if (flags & CLI_CHILD_LOCK) {
		h->lock_fd = store_lock(&ctx->store, LOCK_CHILD, name, LOCK_EX);
		if (h->lock_fd < 0)
			return log_fail(EXIT_FAIL, "%s %s: lock: %s", cmd, name, strerror(-h->lock_fd));
	}
	if ((r = load_conf(ctx, cmd, name, flags, h)))
		return r;
	if ((flags & CLI_CHILD_IDLE) && (r = check_idle(ctx, cmd, name, h)))
		return r;
	if ((flags & CLI_CHILD_MANIFEST) && (r = open_manifest(ctx, cmd, name, h)))
		return r;
	return 0;
}

int cli_open_child(struct ctx *ctx, const char *cmd, const char *name, unsigned flags, struct child_handle *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->lock_fd = ret->child_fd = ret->upper_fd = -1;
	int r = open_child(ctx, cmd, name, flags, ret);
	if (r)
		child_handle_done(ret);
	return r;
}

int cli_list_store(struct ctx *ctx, const char *cmd, bool bases, char ***ret, size_t *ret_n)
{
	bool empty;
	int r;
	*ret = NULL;
	*ret_n = 0;
	if ((r = ctx_store_or_empty(ctx, &empty)) || empty)
		return r;
	r = bases ? store_list_bases(&ctx->store, ret, ret_n) : store_list_children(&ctx->store, ret, ret_n);
	if (r < 0)
		return log_fail(EXIT_FAIL, "%s: %s", cmd, strerror(-r));
	return 0;
}

const struct cli_verb *cli_find_verb(const struct cli_verb *table, const char *word)
{
	for (; table->name; table++)
		if (STREQ(table->name, word))
			return table;
	return NULL;
}

int cli_dispatch_family(struct ctx *ctx, const struct cli_verb *family, int argc, char **argv)
{
	if (argc < 2) {
		char list[256] = "";
		for (const struct cli_verb *v = family->sub; v->name; v++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", v == family->sub ? "" : ", ",
				 v->name);
		return usage_error(family->name, "needs a subcommand (%s)", list);
	}
	const char *sub = argv[1];
	if (STREQ(sub, "-h") || STREQ(sub, "--help")) {
		fputs(family->help, stdout);
		return EXIT_OK;
	}
	const struct cli_verb *v = cli_find_verb(family->sub, sub);
	if (!v)
		return usage_error(family->name, "unknown subcommand '%s'", sub);
	return v->fn(ctx, argc - 1, argv + 1);
}

/* Generation number argument: 1.., no sign, no junk. */
int cli_parse_gen_arg(const char *cmd, const char *what, const char *arg, unsigned *ret)
{
	char *end;
	errno = 0;
	unsigned long g = strtoul(arg, &end, 10);
	if (errno || *end || !*arg || g == 0 || g > UINT_MAX || arg[0] == '-' || arg[0] == '+')
		return usage_error(cmd, "%s: '%s' is not a generation number", what, arg);
	*ret = (unsigned)g;
	return 0;
}

int verify_files_find(const char *cmd, const char *name, bool verify, const char *src_arg, struct verify_files *vf)
{
	*vf = (struct verify_files){};
	if (!verify)
		return 0;
	if (asprintf(&vf->manifest, "%s.manifest", src_arg) < 0 || asprintf(&vf->checksum, "%s.xxh128", src_arg) < 0)
		return log_fail(EXIT_FAIL, "out of memory");
	if (access(vf->manifest, R_OK) < 0) {
		int r = log_fail(EXIT_FAIL, "%s %s: --verify: %s: %m (base export writes it next to FILE)", cmd, name,
				 vf->manifest);
		verify_files_done(vf);
		return r;
	}
	if (access(vf->checksum, F_OK) < 0 && errno == ENOENT) {
		free(vf->checksum);
		vf->checksum = NULL;
	}
	return 0;
}

void verify_files_done(struct verify_files *vf)
{
	free(vf->manifest);
	free(vf->checksum);
	*vf = (struct verify_files){};
}
