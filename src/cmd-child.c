/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* layerctl child create|list|show|rm|reset */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "src/commands.h"
#include "src/json.h"
#include "src/log.h"
#include "overlay/overlay.h"

static const char child_help[] =
"Usage: layerctl child COMMAND ...\n"
"\n"
"  create NAME --base BASE [--description TEXT]\n"
"                  create a child of BASE's current generation: an empty\n"
"                  upper and work dir and child.conf, nothing copied\n"
"  list [--json]   list children, with their base and whether mounted\n"
"  show NAME [--json]\n"
"                  show one child and its settings\n"
"  rm NAME         remove a child (refused while mounted or running)\n"
"  reset NAME      throw away everything the child changed: empty its\n"
"                  upper dir (refused while mounted or running)\n";

static int check_name(const char *kind, const char *name)
{
	const char *why;
	if (name_validate(name, &why) < 0) {
		log_error("%s name '%s': %s", kind, name, why);
		return EXIT_FAIL;
	}
	return 0;
}

/* Parses --json/--help; returns -1 after printing help, >0 on usage error. */
static int parse_common(int argc, char **argv, const char *cmd, bool *json, const char **base,
			const char **description)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "base", required_argument, NULL, 'b' },
		{ "description", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "hb:", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			if (!json)
				return usage_error(cmd, "--json is not an option here");
			*json = true;
			break;
		case 'b':
			if (!base)
				return usage_error(cmd, "--base is not an option here");
			*base = optarg;
			break;
		case 'd':
			if (!description)
				return usage_error(cmd, "--description is not an option here");
			*description = optarg;
			break;
		case 'h':
			fputs(child_help, stdout);
			return -1;
		default:
			return option_error(cmd, argc, argv, "hb:");
		}
	}
	return 0;
}

/* The tree root's xattrs (ACLs, security labels…), overlay's own excepted. */
static int copy_root_xattrs(const char *tree, int upper_fd)
{
	char names[65536], value[65536];
	ssize_t n = llistxattr(tree, names, sizeof(names));
	if (n < 0)
		return errno == ENOTSUP ? 0 : -errno;
	for (char *name = names; name < names + n; name += strlen(name) + 1) {
		if (ov_xattr_is_private(name))
			continue;
		ssize_t v = lgetxattr(tree, name, value, sizeof(value));
		if (v < 0)
			return -errno;
		if (fsetxattr(upper_fd, name, value, (size_t)v, 0) < 0)
			return -errno;
	}
	return 0;
}

/*
 * The overlay's root directory is the upper dir's root inode, so the merged
 * "/" shows the upper dir's owner, mode, xattrs and times: give it the base
 * tree's (lstat: the tree root is always a real directory).
 */
static int copy_root_attributes(const char *tree, int upper_fd)
{
	struct stat st;
	int r;
	if (lstat(tree, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (fchown(upper_fd, st.st_uid, st.st_gid) < 0 || fchmod(upper_fd, st.st_mode & 07777) < 0)
		return -errno;
	if ((r = copy_root_xattrs(tree, upper_fd)) < 0)
		return r;
	struct timespec ts[2] = { st.st_atim, st.st_mtim };
	return futimens(upper_fd, ts) < 0 ? -errno : 0;
}

/* Make dir/upper, dir/work and dir/root (dir: fd of the new child dir). */
static int make_child_dirs(int dirfd, const char *tree)
{
	if (mkdirat(dirfd, "upper", 0755) < 0 || mkdirat(dirfd, "work", 0700) < 0 || mkdirat(dirfd, "root", 0755) < 0)
		return -errno;
	_cleanup_close_ int ufd = openat(dirfd, "upper", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ufd < 0)
		return -errno;
	return copy_root_attributes(tree, ufd);
}

static int child_create(struct ctx *ctx, int argc, char **argv)
{
	const char *base = NULL, *description = NULL;
	struct base_info b;
	_cleanup_free_ char *err = NULL, *tmp_rel = NULL, *final_rel = NULL, *tree = NULL;
	char gen[32];
	int r;

	if ((r = parse_common(argc, argv, "child create", NULL, &base, &description)))
		return r < 0 ? EXIT_OK : r;
	if ((r = check_arg_count("child create", argc, argv, 1, 1, "needs NAME and --base BASE")))
		return r;
	if (!base)
		return usage_error("child create", "needs --base BASE");
	const char *name = argv[optind];
	if (check_name("child", name) || check_name("base", base))
		return EXIT_FAIL;
	if (description && !settings_value_ok(description))
		return log_fail(EXIT_FAIL, "child create %s: --description must be one line", name);
	if ((r = ctx_store(ctx, true)))
		return r;
	struct store *s = &ctx->store;

	/*
	 * Base lock shared (the base stays while we add a child of it), then the
	 * child lock (one create of NAME at a time) — base before child, the
	 * store's lock order.
	 */
	_cleanup_close_ int block = store_lock(s, LOCK_BASE, base, LOCK_SH);
	_cleanup_close_ int clock = block >= 0 ? store_lock(s, LOCK_CHILD, name, LOCK_EX) : -1;
	if (clock < 0 || block < 0)
		return log_fail(EXIT_FAIL, "child create %s: lock: %s", name, strerror(-(block < 0 ? block : clock)));
	if (asprintf(&final_rel, "children/%s", name) < 0 ||
	    asprintf(&tmp_rel, "children/.new-%s@%d", name, (int)getpid()) < 0)
		return EXIT_FAIL;
	if (faccessat(s->root_fd, final_rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return log_fail(EXIT_FAIL, "child create %s: a child of that name already exists", name);
	r = store_base_load(s, base, &b, &err);
	if (r == -ENOENT)
		return log_fail(EXIT_FAIL, "child create %s: no base named %s", name, base);
	if (r < 0)
		return log_fail(EXIT_FAIL, "child create %s: base %s: %s", name, base, err ? err : strerror(-r));
	snprintf(gen, sizeof(gen), "%u", b.current);
	tree = store_gen_tree(s, base, b.current);
	base_info_done(&b);

	_cleanup_settings_ struct settings *conf = settings_new();
	if (!conf || settings_set(conf, "Child", "Base", base) < 0 || settings_set(conf, "Child", "Generation", gen) < 0 ||
	    (description && settings_set(conf, "Child", "Description", description) < 0))
		return log_fail(EXIT_FAIL, "out of memory");

	store_sweep(s);
	if (mkdirat(s->root_fd, tmp_rel, 0755) < 0)
		return log_fail(EXIT_FAIL, "child create %s: mkdir %s/%s: %m", name, s->root, tmp_rel);
	_cleanup_close_ int dfd = openat(s->root_fd, tmp_rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || (r = make_child_dirs(dfd, tree)) < 0 || (r = settings_save(conf, dfd, "child.conf")) < 0 ||
	    (r = fsync_dir_at(dfd, ".")) < 0) {
		r = dfd < 0 ? -errno : r;
		rm_rf_at(s->root_fd, tmp_rel);
		return log_fail(EXIT_FAIL, "child create %s: setting up %s/%s (base tree %s): %s", name, s->root,
				final_rel, tree, strerror(-r));
	}
	/* NOREPLACE: if another create won (it cannot while we hold the lock), we fail cleanly. */
	if (renameat2(s->root_fd, tmp_rel, s->root_fd, final_rel, RENAME_NOREPLACE) < 0) {
		r = errno;
		rm_rf_at(s->root_fd, tmp_rel);
		return log_fail(EXIT_FAIL, "child create %s: %s", name,
				r == EEXIST ? "a child of that name already exists" : strerror(r));
	}
	fsync_dir_at(s->root_fd, "children");
	log_info("Created child %s of base %s (generation %s).", name, base, gen);
	return EXIT_OK;
}

static void print_child_json(struct ctx *ctx, struct json *j, const struct child_info *c, bool with_settings)
{
	struct store *s = &ctx->store;
	int m = store_child_is_mounted(s, c);
	_cleanup_free_ char *dir = store_child_dir(s, c->name);
	_cleanup_free_ char *root = store_child_path(s, c->name, "root");
	_cleanup_free_ char *upper = store_child_path(s, c->name, "upper");
	_cleanup_free_ char *work = store_child_path(s, c->name, "work");
	json_begin_object(j);
	json_kv_string(j, "name", c->name);
	json_kv_string(j, "base", c->base);
	json_kv_uint(j, "generation", c->gen);
	json_kv_string(j, "description", settings_get(c->conf, "Child", "Description"));
	json_kv_bool(j, "mounted", m > 0);
	json_kv_bool(j, "running", child_is_running(ctx, c->name) > 0);
	json_kv_bool(j, "automount", settings_get_bool(c->conf, "Child", "Automount", false) > 0);
	json_kv_string(j, "path", dir);
	json_kv_string(j, "root", root);
	json_kv_string(j, "upper", upper);
	json_kv_string(j, "work", work);
	if (with_settings) {
		_cleanup_free_ char *text = settings_to_string(c->conf);
		json_kv_string(j, "settings", text);
	}
	json_end_object(j);
}

static int child_list(struct ctx *ctx, int argc, char **argv)
{
	bool json = false;
	char **names = NULL;
	size_t n = 0;
	int r, ret = EXIT_OK;

	if ((r = parse_common(argc, argv, "child list", &json, NULL, NULL)))
		return r < 0 ? EXIT_OK : r;
	if (argc != optind)
		return usage_error("child list", "takes no arguments");
	r = store_open(&ctx->store, ctx->root_arg, ctx->runtime_arg, false);
	if (r == 0) {
		ctx->store_open = true;
		if ((r = store_list_children(&ctx->store, &names, &n)) < 0)
			return log_fail(EXIT_FAIL, "child list: %s", strerror(-r));
	} else if (r != -ENOENT)
		return ctx_store(ctx, false);

	struct json j;
	if (json) {
		json_init(&j, stdout);
		json_begin_array(&j);
	} else if (n)
		printf("%-24s %-20s %4s %-8s %s\n", "NAME", "BASE", "GEN", "MOUNTED", "RUNNING");
	for (size_t i = 0; i < n; i++) {
		struct child_info c;
		_cleanup_free_ char *err = NULL;
		if (store_child_load(&ctx->store, names[i], &c, &err) < 0) {
			log_error("child %s: %s", names[i], err ? err : "cannot be read");
			ret = EXIT_FAIL;
			continue;
		}
		if (json)
			print_child_json(ctx, &j, &c, false);
		else
			printf("%-24s %-20s %4u %-8s %s\n", c.name, c.base, c.gen,
			       store_child_is_mounted(&ctx->store, &c) > 0 ? "yes" : "no",
			       child_is_running(ctx, c.name) > 0 ? "yes" : "no");
		child_info_done(&c);
	}
	if (json) {
		json_end_array(&j);
		json_done(&j);
	} else if (n == 0 && !log_quiet)
		fprintf(stderr, "No children.\n");
	strv_free(names);
	return ret;
}

/* Load NAME or print why not.  Returns 0 or an exit code. */
static int load_child(struct ctx *ctx, const char *cmd, const char *name, struct child_info *c)
{
	_cleanup_free_ char *err = NULL;
	int r;
	if (check_name("child", name) || (r = ctx_store(ctx, false)))
		return EXIT_FAIL;
	r = store_child_load(&ctx->store, name, c, &err);
	if (r == -ENOENT)
		return log_fail(EXIT_FAIL, "%s %s: no such child", cmd, name);
	if (r < 0)
		return log_fail(EXIT_FAIL, "%s %s: %s", cmd, name, err ? err : strerror(-r));
	return 0;
}

static int child_show(struct ctx *ctx, int argc, char **argv)
{
	bool json = false;
	struct child_info c;
	int r;

	if ((r = parse_common(argc, argv, "child show", &json, NULL, NULL)))
		return r < 0 ? EXIT_OK : r;
	if ((r = check_arg_count("child show", argc, argv, 1, 1, "needs NAME")))
		return r;
	if ((r = load_child(ctx, "child show", argv[optind], &c)))
		return r;
	if (json) {
		struct json j;
		json_init(&j, stdout);
		print_child_json(ctx, &j, &c, true);
		json_done(&j);
	} else {
		_cleanup_free_ char *dir = store_child_dir(&ctx->store, c.name);
		_cleanup_free_ char *text = settings_to_string(c.conf);
		int m = store_child_is_mounted(&ctx->store, &c);
		printf("Name:        %s\n", c.name);
		printf("Base:        %s (generation %u)\n", c.base, c.gen);
		printf("Path:        %s\n", dir);
		printf("Mounted:     %s\n", m > 0 ? "yes" : m == -EBUSY ? "no (something else is mounted on root/)" : "no");
		printf("Running:     %s\n", child_is_running(ctx, c.name) > 0 ? "yes" : "no");
		printf("Automount:   %s\n", settings_get_bool(c.conf, "Child", "Automount", false) > 0 ? "yes" : "no");
		printf("\n# child.conf\n%s", text ? text : "");
	}
	child_info_done(&c);
	return EXIT_OK;
}

int lock_and_load_child(struct ctx *ctx, const char *cmd, const char *name, struct child_info *c)
{
	_cleanup_free_ char *err = NULL;
	const char *why;
	int r;

	if (name_validate(name, &why) < 0)
		return -log_fail(EXIT_FAIL, "%s: child name '%s': %s", cmd, name, why);
	if ((r = ctx_store(ctx, false)))
		return -r;
	int lock = store_lock(&ctx->store, LOCK_CHILD, name, LOCK_EX);
	if (lock < 0)
		return -log_fail(EXIT_FAIL, "%s %s: lock: %s", cmd, name, strerror(-lock));
	r = store_child_load(&ctx->store, name, c, &err);
	if (r < 0) {
		close(lock);
		if (r == -ENOENT)
			return -log_fail(EXIT_FAIL, "%s %s: no such child", cmd, name);
		return -log_fail(EXIT_FAIL, "%s %s: %s", cmd, name, err ? err : strerror(-r));
	}
	return lock;
}

/*
 * Lock NAME exclusively, then load it and check it is neither mounted nor
 * running — the common start of rm and reset.  With tolerate_corrupt (rm), a
 * child.conf that cannot be read is no obstacle: the mount check needs only
 * the name, and removing is how a broken child gets cleaned up.
 * Returns the lock fd or -exit code.
 */
static int lock_idle_child(struct ctx *ctx, const char *cmd, const char *name, struct child_info *c,
			   bool tolerate_corrupt)
{
	_cleanup_free_ char *err = NULL, *rel = NULL;
	int r;

	memset(c, 0, sizeof(*c));
	if (check_name("child", name) || (r = ctx_store(ctx, false)))
		return -EXIT_FAIL;
	int lock = store_lock(&ctx->store, LOCK_CHILD, name, LOCK_EX);
	if (lock < 0)
		return -log_fail(EXIT_FAIL, "%s %s: lock: %s", cmd, name, strerror(-lock));
	r = store_child_load(&ctx->store, name, c, &err);
	if (r == -EBADMSG && tolerate_corrupt && asprintf(&rel, "children/%s", name) >= 0 &&
	    faccessat(ctx->store.root_fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		log_warning("%s %s: %s (removing it anyway)", cmd, name, err ? err : "child.conf cannot be read");
		c->name = strdup(name);
		r = c->name ? 0 : -ENOMEM;
	}
	if (r < 0) {
		close(lock);
		if (r == -ENOENT)
			return -log_fail(EXIT_FAIL, "%s %s: no such child", cmd, name);
		return -log_fail(EXIT_FAIL, "%s %s: %s", cmd, name, err ? err : strerror(-r));
	}
	if (child_is_running(ctx, name) > 0)
		r = log_fail(EXIT_FAIL, "%s %s: the child is running; stop it first (layerctl stop %s)", cmd, name, name);
	else if ((r = store_child_is_mounted(&ctx->store, c)) != 0)
		r = r > 0 ? log_fail(EXIT_FAIL, "%s %s: the child is mounted; unmount it first (layerctl umount %s)", cmd,
				     name, name)
			  : log_fail(EXIT_FAIL, "%s %s: %s", cmd, name,
				     r == -EBUSY ? "something is mounted on its root dir" : strerror(-r));
	if (r) {
		close(lock);
		child_info_done(c);
		return -r;
	}
	return lock;
}

static int child_rm(struct ctx *ctx, int argc, char **argv)
{
	struct child_info c;
	_cleanup_free_ char *rel = NULL;
	int r;

	if ((r = parse_common(argc, argv, "child rm", NULL, NULL, NULL)))
		return r < 0 ? EXIT_OK : r;
	if ((r = check_arg_count("child rm", argc, argv, 1, 1, "needs NAME")))
		return r;
	const char *name = argv[optind];
	_cleanup_close_ int lock = lock_idle_child(ctx, "child rm", name, &c, true);
	if (lock < 0)
		return -lock;
	child_info_done(&c);
	store_sweep(&ctx->store);
	if (asprintf(&rel, "children/%s", name) < 0)
		return EXIT_FAIL;
	if ((r = remove_atomically(ctx->store.root_fd, rel)) < 0)
		return log_fail(EXIT_FAIL, "child rm %s: %s", name, strerror(-r));
	log_info("Removed child %s.", name);
	return EXIT_OK;
}

static int child_reset(struct ctx *ctx, int argc, char **argv)
{
	struct child_info c;
	_cleanup_free_ char *dir_rel = NULL, *tree = NULL;
	int r;

	if ((r = parse_common(argc, argv, "child reset", NULL, NULL, NULL)))
		return r < 0 ? EXIT_OK : r;
	if ((r = check_arg_count("child reset", argc, argv, 1, 1, "needs NAME")))
		return r;
	const char *name = argv[optind];
	_cleanup_close_ int lock = lock_idle_child(ctx, "child reset", name, &c, false);
	if (lock < 0)
		return -lock;
	tree = store_gen_tree(&ctx->store, c.base, c.gen);
	child_info_done(&c);
	if (asprintf(&dir_rel, "children/%s", name) < 0)
		return EXIT_FAIL;
	_cleanup_close_ int dfd = openat(ctx->store.root_fd, dir_rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return log_fail(EXIT_FAIL, "child reset %s: %s/%s: %m", name, ctx->store.root, dir_rel);

	/* A fresh upper, swapped in with one atomic RENAME_EXCHANGE; then drop the old one. */
	rm_rf_at(dfd, ".upper-new");
	if (mkdirat(dfd, ".upper-new", 0755) < 0)
		return log_fail(EXIT_FAIL, "child reset %s: mkdir: %m", name);
	_cleanup_close_ int ufd = openat(dfd, ".upper-new", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ufd < 0 || (r = copy_root_attributes(tree, ufd)) < 0 || fsync(ufd) < 0) {
		r = ufd < 0 || r == 0 ? -errno : r;
		rm_rf_at(dfd, ".upper-new");
		return log_fail(EXIT_FAIL, "child reset %s: %s", name, strerror(-r));
	}
	if (renameat2(dfd, ".upper-new", dfd, "upper", RENAME_EXCHANGE) < 0) {
		r = errno;
		rm_rf_at(dfd, ".upper-new");
		return log_fail(EXIT_FAIL, "child reset %s: swap upper dir: %s", name, strerror(r));
	}
	fsync(dfd);
	if ((r = rm_rf_at(dfd, ".upper-new")) < 0)
		log_warning("child reset %s: removing the old upper dir: %s", name, strerror(-r));
	/* The work dir is the kernel's scratch space; empty it too. */
	_cleanup_close_ int wfd = openat(dfd, "work", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (wfd >= 0) {
		rm_rf_at(wfd, "work");
		rm_rf_at(wfd, "index");
	}
	log_info("Reset child %s: its upper dir is empty.", name);
	return EXIT_OK;
}

int cmd_child(struct ctx *ctx, int argc, char **argv)
{
	if (argc < 2)
		return usage_error("child", "needs a subcommand (create, list, show, rm, reset)");
	const char *sub = argv[1];
	if (STREQ(sub, "-h") || STREQ(sub, "--help")) {
		fputs(child_help, stdout);
		return EXIT_OK;
	}
	static const struct {
		const char *name;
		int (*fn)(struct ctx *, int, char **);
	} subs[] = {
		{ "create", child_create }, { "list", child_list }, { "show", child_show },
		{ "rm", child_rm },	    { "reset", child_reset },
	};
	for (size_t i = 0; i < ELEMENTSOF(subs); i++)
		if (STREQ(sub, subs[i].name))
			return subs[i].fn(ctx, argc - 1, argv + 1);
	return usage_error("child", "unknown subcommand '%s'", sub);
}
