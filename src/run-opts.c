/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The run config of run, start and exec: the options of the command line
 * (parsed here), the child's child.conf under them, and the runtime dir
 * they are recorded in.  The commands themselves are src/cmd-run.c (run,
 * start) and src/cmd-machine.c (stop, exec, ps).
 */
#include <getopt.h>
#include <stdio.h>

#include "src/log.h"
#include "src/run-opts.h"

enum {
	OPT_BIND = 0x100, OPT_BIND_RO, OPT_TMPFS, OPT_CHDIR, OPT_HOSTNAME, OPT_PRIVNET,
	OPT_CAP, OPT_DROPCAP, OPT_CONSOLE, OPT_PRIVUSERS, OPT_PROPERTY, OPT_LIMITS,
	OPT_NET_BRIDGE, OPT_NET_ZONE, OPT_NET_POOL, OPT_RESOLV_CONF,
};

/* Split argv at the first "--": options before, the command after. */
int run_opts_split_command(int argc, char **argv, char ***cmd)
{
	for (int i = 1; i < argc; i++)
		if (STREQ(argv[i], "--")) {
			*cmd = argv + i + 1;
			argv[i] = NULL;
			return i;
		}
	*cmd = NULL;
	return argc;
}

/* Options that shape a new container; exec joins one whose mounts, hostname, network and capabilities are set. */
static bool run_only(int c)
{
	return c == 'b' || c == OPT_BIND || c == OPT_BIND_RO || c == OPT_TMPFS ||
	       c == OPT_HOSTNAME || c == OPT_PRIVNET || c == OPT_CAP || c == OPT_DROPCAP || c == OPT_PRIVUSERS ||
	       c == OPT_PROPERTY || c == OPT_LIMITS || c == 'n' || c == 'p' || c == OPT_NET_BRIDGE || c == OPT_NET_ZONE ||
	       c == OPT_NET_POOL || c == OPT_RESOLV_CONF;
}

/* --property=KEY=VALUE: checked now (an error names the key, nothing starts), applied over child.conf later. */
static int parse_property_opt(const char *cmd, const char *arg, struct run_opts *o)
{
	struct lc_err e = { "" };
	int r = runner_limit_parse_assignment(&o->limits, arg, &e);
	if (r == -ENOMEM)
		return log_fail(EXIT_FAIL, "out of memory");
	if (r < 0)
		return usage_error(cmd, "--property %s", lc_err_msg(&e, r));
	char **nv = realloc(o->properties, (o->n_properties + 2) * sizeof(char *));
	if (!nv)
		return log_fail(EXIT_FAIL, "out of memory");
	o->properties = nv;
	nv[o->n_properties++] = (char *)arg;
	nv[o->n_properties] = NULL;
	return 0;
}

static int set_net_mode(const char *cmd, struct net_config *n, enum net_mode mode, const char *arg)
{
	if (n->mode != NET_HOST && n->mode != mode)
		return usage_error(cmd, "--network-veth, --network-bridge and --network-zone exclude each other");
	n->mode = mode;
	char **field = mode == NET_BRIDGE ? &n->bridge : mode == NET_ZONE ? &n->zone : NULL;
	if (field) {
		free(*field);
		if (!(*field = strdup(arg)))
			return log_fail(EXIT_FAIL, "out of memory");
	}
	return 0;
}

/* The private-network options (src/runner/network.c): into o->lists.net. */
static int parse_net_opt(const char *cmd, int c, const char *arg, struct run_opts *o)
{
	struct net_config *n = &o->lists.net;
	uint32_t a;
	int len, r;
	switch (c) {
	case 'n':
		return set_net_mode(cmd, n, NET_VETH, NULL);
	case OPT_NET_BRIDGE:
		if (!*arg || strlen(arg) > 15)
			return usage_error(cmd, "--network-bridge %s: not an interface name", arg);
		return set_net_mode(cmd, n, NET_BRIDGE, arg);
	case OPT_NET_ZONE:
		if (!runner_zone_name_ok(arg))
			return usage_error(cmd, "--network-zone %s: 1 to 48 letters, digits, '-', '_' or '.'", arg);
		return set_net_mode(cmd, n, NET_ZONE, arg);
	case 'p':
		if ((r = runner_network_add_port(n, arg)) == -EINVAL)
			return usage_error(cmd, "--port %s: needs [tcp:|udp:]HOST[:CHILD] with ports 1-65535", arg);
		if (r == -E2BIG)
			return usage_error(cmd, "--port %s: at most 16 ports", arg);
		return r < 0 ? log_fail(EXIT_FAIL, "out of memory") : 0;
	case OPT_NET_POOL:
		if (runner_cidr_parse(arg, &a, &len) < 0)
			return usage_error(cmd, "--network-pool %s: needs an IPv4 subnet a.b.c.d/8..30 (host bits zero)", arg);
		free(n->pool);
		return (n->pool = strdup(arg)) ? 0 : log_fail(EXIT_FAIL, "out of memory");
	default: /* OPT_RESOLV_CONF */
		if (!STREQ(arg, "off") && !STREQ(arg, "copy-host"))
			return usage_error(cmd, "--resolv-conf %s: off or copy-host", arg);
		o->resolv_conf = arg;
		return 0;
	}
}

/* --bind, --bind-ro, --tmpfs and --setenv append to the lists. */
static int parse_list_opt(const char *cmd, int c, const char *arg, struct run_opts *o)
{
	int r;
	switch (c) {
	case OPT_BIND:
	case OPT_BIND_RO:
		if ((r = runner_config_add_bind(&o->lists, arg, c == OPT_BIND_RO)) < 0)
			return usage_error(cmd, "--bind %s: %s", arg,
					   r == -EINVAL ? "needs SRC[:DST[:ro]], absolute paths without '..'" : strerror(-r));
		return 0;
	case OPT_TMPFS:
		if ((r = runner_config_add_tmpfs(&o->lists, arg)) < 0)
			return usage_error(cmd, "--tmpfs %s: needs an absolute DST[:OPTS] other than /", arg);
		return 0;
	default: /* 'E' */
		if (runner_config_add_env(&o->lists, arg) < 0)
			return usage_error(cmd, "--setenv %s: needs KEY=VALUE", arg);
		return 0;
	}
}

static int parse_caps_opt(const char *cmd, int c, const char *arg, struct run_opts *o)
{
	uint64_t m;
	if (runner_caps_parse(arg, &m) < 0)
		return usage_error(cmd, "%s: unknown capability in '%s'",
				   c == OPT_CAP ? "--capability" : "--drop-capability", arg);
	if (c == OPT_CAP)
		o->caps_add |= m;
	else
		o->caps_drop |= m;
	return 0;
}

int run_opts_parse_limit_opt(const char *cmd, bool property, const char *arg, struct run_opts *o)
{
	if (property)
		return parse_property_opt(cmd, arg, o);
	if (!STREQ(arg, "strict") && !STREQ(arg, "best-effort"))
		return usage_error(cmd, "--limits %s: strict or best-effort", arg);
	o->limits_mode = arg;
	return 0;
}

/* One option (not --help): 0, an exit code after printing, or -1 when it is not one of ours. */
static int parse_one_opt(const char *cmd, int c, const char *arg, struct run_opts *o)
{
	switch (c) {
	case 'b': o->boot = true; return 0;
	case OPT_BIND:
	case OPT_BIND_RO:
	case OPT_TMPFS:
	case 'E':
		return parse_list_opt(cmd, c, arg, o);
	case 'u':
		if (!*arg)
			return usage_error(cmd, "--user: empty name");
		o->user = arg;
		return 0;
	case OPT_CHDIR:
		if (arg[0] != '/')
			return usage_error(cmd, "--chdir %s: needs an absolute path", arg);
		o->chdir = arg;
		return 0;
	case OPT_HOSTNAME:
		if (!*arg || strlen(arg) > 64)
			return usage_error(cmd, "--hostname: 1 to 64 bytes");
		o->hostname = arg;
		return 0;
	case OPT_PRIVNET: o->private_network = true; return 0;
	case OPT_PRIVUSERS: {
		enum private_users m;
		uint32_t b, n;
		if (runner_private_users_parse(arg, &m, &b, &n) < 0)
			return usage_error(cmd, "--private-users %s: needs pick, no, or BASE[:COUNT] (BASE > 0)", arg);
		o->private_users = arg;
		return 0;
	}
	case OPT_CAP:
	case OPT_DROPCAP:
		return parse_caps_opt(cmd, c, arg, o);
	case OPT_PROPERTY:
	case OPT_LIMITS:
		return run_opts_parse_limit_opt(cmd, c == OPT_PROPERTY, arg, o);
	case 'n':
	case 'p':
	case OPT_NET_BRIDGE:
	case OPT_NET_ZONE:
	case OPT_NET_POOL:
	case OPT_RESOLV_CONF:
		return parse_net_opt(cmd, c, arg, o);
	case OPT_CONSOLE:
		if (!STREQ(arg, "auto") && !STREQ(arg, "pty") && !STREQ(arg, "pipe"))
			return usage_error(cmd, "--console: auto, pty or pipe");
		o->console = arg;
		return 0;
	default:
		return -1;
	}
}

int run_opts_parse(const char *cmd, int argc, char **argv, struct run_opts *o, bool exec_only, const char *help)
{
	static const struct option opts[] = {
		{ "boot", no_argument, NULL, 'b' },
		{ "bind", required_argument, NULL, OPT_BIND },
		{ "bind-ro", required_argument, NULL, OPT_BIND_RO },
		{ "tmpfs", required_argument, NULL, OPT_TMPFS },
		{ "setenv", required_argument, NULL, 'E' },
		{ "user", required_argument, NULL, 'u' },
		{ "chdir", required_argument, NULL, OPT_CHDIR },
		{ "hostname", required_argument, NULL, OPT_HOSTNAME },
		{ "private-network", no_argument, NULL, OPT_PRIVNET },
		{ "private-users", required_argument, NULL, OPT_PRIVUSERS },
		{ "capability", required_argument, NULL, OPT_CAP },
		{ "drop-capability", required_argument, NULL, OPT_DROPCAP },
		{ "console", required_argument, NULL, OPT_CONSOLE },
		{ "property", required_argument, NULL, OPT_PROPERTY },
		{ "limits", required_argument, NULL, OPT_LIMITS },
		{ "network-veth", no_argument, NULL, 'n' },
		{ "network-bridge", required_argument, NULL, OPT_NET_BRIDGE },
		{ "network-zone", required_argument, NULL, OPT_NET_ZONE },
		{ "port", required_argument, NULL, 'p' },
		{ "network-pool", required_argument, NULL, OPT_NET_POOL },
		{ "resolv-conf", required_argument, NULL, OPT_RESOLV_CONF },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c, r, idx;

	optind = 0;
	while ((idx = -1, c = getopt_long(argc, argv, "bE:u:hnp:", opts, &idx)) != -1) {
		/* Name the option, not its value (optind is past a separate value). */
		if (exec_only && run_only(c)) {
			if (idx >= 0)
				return usage_error(cmd, "--%s is not an option of exec", opts[idx].name);
			return usage_error(cmd, "-%c is not an option of exec", c);
		}
		if (c == 'h') {
			fputs(help, stdout);
			return -1;
		}
		if ((r = parse_one_opt(cmd, c, optarg, o)) < 0)
			return option_error(cmd, argc, argv, "bE:u:hnp:");
		if (r)
			return r;
	}
	return 0;
}

void run_opts_done(struct run_opts *o)
{
	runner_config_done(&o->lists);
	free(o->properties);
	o->properties = NULL;
	o->n_properties = 0;
}

static int strv_copy(char ***dst, char **src)
{
	size_t n = 0;
	while (src && src[n])
		n++;
	char **v = calloc(n + 1, sizeof(char *));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!(v[i] = strdup(src[i])))
			return -ENOMEM;
	if (*dst)
		for (char **p = *dst; *p; p++)
			free(*p);
	free(*dst);
	*dst = v;
	return 0;
}

static int replace_str(char **dst, const char *v)
{
	if (!v)
		return 0;
	free(*dst);
	*dst = strdup(v);
	return *dst ? 0 : -ENOMEM;
}

/* An option's network mode replaces child.conf's; ports append. */
static int apply_net_opts(struct net_config *n, struct run_opts *o)
{
	struct net_config *on = &o->lists.net;
	if (on->mode != NET_HOST) {
		n->mode = on->mode;
		if ((on->bridge && replace_str(&n->bridge, on->bridge) < 0) || (on->zone && replace_str(&n->zone, on->zone) < 0))
			return -ENOMEM;
	}
	if (on->pool && replace_str(&n->pool, on->pool) < 0)
		return -ENOMEM;
	if (o->resolv_conf)
		n->resolv = STREQ(o->resolv_conf, "copy-host") ? RESOLV_COPY_HOST : RESOLV_OFF;
	for (size_t i = 0; i < on->n_ports; i++) {
		struct net_port *np = realloc(n->ports, (n->n_ports + 1) * sizeof(*np));
		if (!np)
			return -ENOMEM;
		n->ports = np;
		n->ports[n->n_ports++] = on->ports[i];
	}
	return 0;
}

/* child.conf first, then the options on top; lists append. */
static int apply_opts(struct run_config *c, struct run_opts *o, char **cmdv)
{
	int r;
	if (o->boot)
		c->boot = true;
	if (c->boot && (o->user || c->user))
		return -EINVAL;   /* an init runs as root; said by the caller */
	if (o->private_network)
		c->private_network = true;
	if (o->private_users)
		runner_private_users_parse(o->private_users, &c->private_users, &c->uid_base, &c->uid_count);
	c->caps_add = (c->caps_add & ~o->caps_drop) | o->caps_add;
	c->caps_drop = (c->caps_drop & ~o->caps_add) | o->caps_drop;
	if ((r = replace_str(&c->user, o->user)) < 0 || (r = replace_str(&c->chdir, o->chdir)) < 0 ||
	    (r = replace_str(&c->hostname, o->hostname)) < 0)
		return r;
	if (o->console)
		c->console = STREQ(o->console, "pty") ? CONSOLE_PTY : STREQ(o->console, "pipe") ? CONSOLE_PIPE : CONSOLE_AUTO;
	/* Each --property over child.conf's [Resources], key by key (already checked when parsed). */
	for (size_t i = 0; i < o->n_properties; i++)
		if ((r = runner_limit_parse_assignment(&c->limits, o->properties[i], NULL)) < 0)
			return r == -ENOMEM ? r : -EBADMSG;
	if (o->limits_mode)
		c->limits.best_effort = STREQ(o->limits_mode, "best-effort");
	if (cmdv && cmdv[0] && (r = strv_copy(&c->argv, cmdv)) < 0)
		return r;
	if ((r = apply_net_opts(&c->net, o)) < 0)
		return r;
	for (char **e = o->lists.env; e && *e; e++)
		if ((r = runner_config_add_env(c, *e)) < 0)
			return r;
	for (size_t i = 0; i < o->lists.n_binds; i++) {
		struct bind_spec *b = &o->lists.binds[i];
		_cleanup_free_ char *arg = NULL;
		if (asprintf(&arg, "%s:%s", b->src, b->dst) < 0 || (r = runner_config_add_bind(c, arg, b->ro)) < 0)
			return -ENOMEM;
	}
	for (size_t i = 0; i < o->lists.n_tmpfs; i++) {
		struct tmpfs_spec *t = &o->lists.tmpfs[i];
		_cleanup_free_ char *arg = NULL;
		if (asprintf(&arg, "%s%s%s", t->dst, t->opts ? ":" : "", t->opts ? t->opts : "") < 0 ||
		    (r = runner_config_add_tmpfs(c, arg)) < 0)
			return -ENOMEM;
	}
	return 0;
}

int run_opts_apply(const char *cmd, struct run_config *c, struct run_opts *o, char **cmdv)
{
	int r = apply_opts(c, o, cmdv);
	if (r == -EINVAL && STREQ(cmd, "start"))
		return log_fail(EXIT_FAIL, "start %s: User=%s in child.conf does not go with start, which boots the init "
			       "(an init runs as root)", c->name, c->user);
	if (r == -EINVAL)
		return log_fail(EXIT_FAIL, "%s %s: --user/User= does not go with --boot/Boot=yes (an init runs as root)", cmd, c->name);
	if (r == -EBADMSG)
		return log_fail(EXIT_FAIL, "%s %s: --property: a value changed meaning since it was read", cmd, c->name);
	if (r < 0)
		return log_fail(EXIT_FAIL, "out of memory");
	return 0;
}

/* The terminal may still be in raw mode: a line of its own, with carriage returns. */
static void print_console_notice(void *userdata, const char *msg)
{
	fprintf(stderr, "\r\n%s\r\n", msg);
}

/* Load a child and its settings into c.  Prints; returns an exit code. */
int run_opts_load_child(struct ctx *ctx, const char *cmd, const char *name, struct child_info *ci, struct run_config *c)
{
	struct lc_err e = { "" };
	struct child_handle h;
	int r;
	if ((r = cli_open_child(ctx, cmd, name, 0, &h)))
		return r;
	*ci = h.c; /* no lock, no manifest: nothing else to release */
	c->name = strdup(name);
	c->root = store_child_path(&ctx->store, name, "root");
	c->runtime = ctx->store.runtime;
	c->warn = (struct lc_warn){ cli_print_warning, NULL };
	c->notice = (struct lc_warn){ print_console_notice, NULL };
	if (!c->name || !c->root)
		return log_fail(EXIT_FAIL, "out of memory");
	r = runner_config_from_settings(c, ci->conf, &e);
	if (r < 0)
		return log_fail(EXIT_FAIL, "%s %s: child.conf: %s", cmd, name, lc_err_msg(&e, r));
	return 0;
}

/*
 * The runtime dir decides what stop signals and which seccomp program a
 * container loads: refuse one that someone other than root could change
 * (see runner_trusted_dir_open).  Not there yet is fine: nothing runs, and run
 * creates it.
 */
int run_opts_check_runtime_dir(struct ctx *ctx, const char *cmd, const char *name)
{
	char why[512];
	int fd = runner_trusted_dir_open(ctx->store.runtime, why, sizeof(why));
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return log_fail(EXIT_FAIL, "%s %s: runtime dir %s: %s", cmd, name, ctx->store.runtime,
				fd == -EPERM ? why : strerror(-fd));
	close(fd);
	return 0;
}
