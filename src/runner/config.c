/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The run configuration: nspawn's defaults, the .nspawn-style keys of
 * child.conf, and the parsers the command-line options share with them.
 */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <signal.h>
#include "src/runner/cap-dl.h"   /* libcap, loaded on first use */
#include <sys/syscall.h>

#include "src/runner/runner.h"
#include "src/store/settings.h"

void runner_config_done(struct run_config *c)
{
	free(c->name);
	free(c->root);
	free(c->root_attach);
	if (c->argv)
		for (char **a = c->argv; *a; a++)
			free(*a);
	free(c->argv);
	free(c->hostname);
	if (c->env)
		for (char **e = c->env; *e; e++)
			free(*e);
	free(c->env);
	free(c->user);
	free(c->chdir);
	for (size_t i = 0; i < c->n_binds; i++) {
		free(c->binds[i].src);
		free(c->binds[i].dst);
	}
	free(c->binds);
	for (size_t i = 0; i < c->n_tmpfs; i++) {
		free(c->tmpfs[i].dst);
		free(c->tmpfs[i].opts);
	}
	free(c->tmpfs);
	free(c->limits_applied);
	runner_network_config_done(&c->net);
	memset(c, 0, sizeof(*c));
	c->log_fd = -1;
}

#define CAPBIT(c) (UINT64_C(1) << (c))

uint64_t runner_caps_nspawn_default(void)
{
	static const int keep[] = {
		CAP_AUDIT_CONTROL, CAP_AUDIT_WRITE, CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
		CAP_FOWNER, CAP_FSETID, CAP_IPC_OWNER, CAP_KILL, CAP_LEASE, CAP_LINUX_IMMUTABLE,
		CAP_MKNOD, CAP_NET_BIND_SERVICE, CAP_NET_BROADCAST, CAP_NET_RAW, CAP_SETFCAP,
		CAP_SETGID, CAP_SETPCAP, CAP_SETUID, CAP_SYS_ADMIN, CAP_SYS_BOOT, CAP_SYS_CHROOT,
		CAP_SYS_NICE, CAP_SYS_PTRACE, CAP_SYS_RESOURCE, CAP_SYS_TTY_CONFIG,
	};
	uint64_t m = 0;
	for (size_t i = 0; i < ELEMENTSOF(keep); i++)
		m |= CAPBIT(keep[i]);
	return m;
}

uint64_t runner_config_caps(const struct run_config *c)
{
	uint64_t m = runner_caps_nspawn_default();
	if (!c->boot)
		m &= ~CAPBIT(CAP_SYS_ADMIN);
	return (m | c->caps_add) & ~c->caps_drop;
}

static int cap_one(const char *name, uint64_t *m)
{
	cap_value_t v;
	char buf[64];
	if (strcasecmp(name, "all") == 0) {
		*m = ~UINT64_C(0);
		return 0;
	}
	/* libcap knows "cap_sys_admin"; accept nspawn's "CAP_SYS_ADMIN" and plain "sys_admin". */
	if (strncasecmp(name, "cap_", 4) != 0)
		snprintf(buf, sizeof(buf), "cap_%s", name);
	else
		snprintf(buf, sizeof(buf), "%s", name);
	for (char *p = buf; *p; p++)
		*p = tolower((unsigned char)*p);
	if (cap_from_name(buf, &v) < 0 || v < 0 || v > 63)
		return -EINVAL;
	*m |= CAPBIT(v);
	return 0;
}

int runner_caps_parse(const char *list, uint64_t *ret)
{
	_cleanup_free_ char *copy = strdup(list);
	uint64_t m = 0;
	char *save = NULL;
	if (!copy)
		return -ENOMEM;
	for (char *w = strtok_r(copy, " ,", &save); w; w = strtok_r(NULL, " ,", &save))
		if (cap_one(w, &m) < 0)
			return -EINVAL;
	*ret = m;
	return 0;
}

static bool path_ok(const char *p)
{
	/* Absolute, and no ".." component: a bind target may not climb out of the root. */
	if (!p || p[0] != '/')
		return false;
	for (const char *s = p; (s = strstr(s, "..")); s += 2)
		if ((s == p || s[-1] == '/') && (s[2] == '/' || s[2] == '\0'))
			return false;
	return true;
}

/* SRC[:DST[:OPTS]] with OPTS "ro" or "rw"; DST defaults to SRC. */
int runner_bind_parse(const char *arg, bool ro, struct bind_spec *ret)
{
	_cleanup_free_ char *copy = strdup(arg);
	if (!copy)
		return -ENOMEM;
	char *src = copy, *dst = strchr(copy, ':'), *opts = NULL;
	if (dst) {
		*dst++ = '\0';
		opts = strchr(dst, ':');
		if (opts)
			*opts++ = '\0';
		if (!*dst)
			dst = src;
	} else
		dst = src;
	if (opts) {
		if (STREQ(opts, "ro"))
			ro = true;
		else if (!STREQ(opts, "rw") && *opts)
			return -EINVAL;
	}
	if (!path_ok(src) || !path_ok(dst))
		return -EINVAL;
	ret->src = strdup(src);
	ret->dst = strdup(dst);
	ret->ro = ro;
	if (!ret->src || !ret->dst) {
		free(ret->src);
		free(ret->dst);
		return -ENOMEM;
	}
	return 0;
}

/* DST[:OPTS] */
int runner_tmpfs_parse(const char *arg, struct tmpfs_spec *ret)
{
	const char *colon = strchr(arg, ':');
	ret->dst = colon ? strndup(arg, colon - arg) : strdup(arg);
	ret->opts = colon && colon[1] ? strdup(colon + 1) : NULL;
	if (!ret->dst || (colon && colon[1] && !ret->opts)) {
		free(ret->dst);
		free(ret->opts);
		return -ENOMEM;
	}
	if (!path_ok(ret->dst) || STREQ(ret->dst, "/")) {
		free(ret->dst);
		free(ret->opts);
		return -EINVAL;
	}
	return 0;
}

int runner_env_assignment_ok(const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return 0;
	for (const char *p = kv; p < eq; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_') || (p == kv && isdigit((unsigned char)*p)))
			return 0;
	return 1;
}

static int strv_push(char ***v, const char *s)
{
	size_t n = 0;
	while (*v && (*v)[n])
		n++;
	char **nv = realloc(*v, (n + 2) * sizeof(char *));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[n] = strdup(s);
	nv[n + 1] = NULL;
	return nv[n] ? 0 : -ENOMEM;
}

int runner_config_add_env(struct run_config *c, const char *kv)
{
	if (!runner_env_assignment_ok(kv))
		return -EINVAL;
	return strv_push(&c->env, kv);
}

int runner_config_add_bind(struct run_config *c, const char *arg, bool ro)
{
	struct bind_spec b;
	int r = runner_bind_parse(arg, ro, &b);
	if (r < 0)
		return r;
	struct bind_spec *nb = realloc(c->binds, (c->n_binds + 1) * sizeof(*nb));
	if (!nb) {
		free(b.src);
		free(b.dst);
		return -ENOMEM;
	}
	c->binds = nb;
	c->binds[c->n_binds++] = b;
	return 0;
}

int runner_config_add_tmpfs(struct run_config *c, const char *arg)
{
	struct tmpfs_spec t;
	int r = runner_tmpfs_parse(arg, &t);
	if (r < 0)
		return r;
	struct tmpfs_spec *nt = realloc(c->tmpfs, (c->n_tmpfs + 1) * sizeof(*nt));
	if (!nt) {
		free(t.dst);
		free(t.opts);
		return -ENOMEM;
	}
	c->tmpfs = nt;
	c->tmpfs[c->n_tmpfs++] = t;
	return 0;
}

int runner_signal_from_name(const char *s)
{
	static const struct { const char *name; int sig; } names[] = {
		{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "KILL", SIGKILL },
		{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "TERM", SIGTERM }, { "PWR", SIGPWR },
	};
	char *end;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	if (strncasecmp(s, "RTMIN+", 6) == 0) {
		long n = strtol(s + 6, &end, 10);
		if (*end || n < 0 || SIGRTMIN + n > SIGRTMAX)
			return -EINVAL;
		return SIGRTMIN + (int)n;
	}
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (strcasecmp(s, names[i].name) == 0)
			return names[i].sig;
	long n = strtol(s, &end, 10);
	if (*s && !*end && n > 0 && n <= SIGRTMAX)
		return (int)n;
	return -EINVAL;
}

/*
 * The host looks into the image before the container exists (which init,
 * is there an os-release).  A path there must resolve as it will inside:
 * an absolute symlink (/sbin/init -> /bin/busybox) or a ".." is taken
 * relative to the image's root, never the host's (RESOLVE_IN_ROOT).
 */
int runner_image_open(const char *root, const char *path, int flags)
{
	_cleanup_close_ int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC),
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	if (rootfd < 0)
		return -errno;
	int fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	return fd < 0 ? -errno : fd;
}

bool runner_image_exists(const char *root, const char *path)
{
	int fd = runner_image_open(root, path, O_PATH);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/*
 * How to ask init to power off: systemd wants SIGRTMIN+3 (SIGTERM would make
 * it re-execute), busybox init powers off on SIGUSR2 (SIGTERM means reboot).
 * Anything else gets systemd's signal, as nspawn does.  One link level is
 * read (what distributions use: /sbin/init -> ../lib/systemd/systemd or
 * -> /bin/busybox), its directory resolved inside the image.
 */
int runner_kill_signal_for_init(const char *root, const char *init_path)
{
	char dir[PATH_MAX], target[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", init_path);
	char *slash = strrchr(dir, '/');
	const char *what = init_path;
	ssize_t n = -1;
	if (slash) {
		*slash = '\0';
		_cleanup_close_ int dfd = runner_image_open(root, *dir ? dir : "/", O_PATH | O_DIRECTORY);
		if (dfd >= 0)
			n = readlinkat(dfd, slash + 1, target, sizeof(target) - 1);
	}
	if (n > 0) {
		target[n] = '\0';
		what = target;
	}
	const char *base = strrchr(what, '/');
	base = base ? base + 1 : what;
	if (STREQ(base, "busybox"))
		return SIGUSR2;
	return SIGRTMIN + 3;
}

/*
 * child.conf's run settings, one table like nspawn's nspawn-gperf.gperf:
 * the section and key (nspawn's names), whether the key may repeat, and the
 * parser that applies one value.  A parser returns 0, -ENOMEM, or -EINVAL
 * with *why saying what is wrong with the value.
 */
typedef int (*setting_parser)(struct run_config *c, const char *value, const char **why);

static int set_string(char **field, const char *value)
{
	char *copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

static int parse_boot(struct run_config *c, const char *v, const char **why)
{
	int r = settings_value_bool(v);
	if (r < 0) {
		*why = "not a boolean";
		return -EINVAL;
	}
	c->boot = r;
	return 0;
}

static int parse_hostname(struct run_config *c, const char *v, const char **why)
{
	return set_string(&c->hostname, v);
}

static int parse_user(struct run_config *c, const char *v, const char **why)
{
	return set_string(&c->user, v);
}

static int parse_workdir(struct run_config *c, const char *v, const char **why)
{
	if (v[0] != '/') {
		*why = "not an absolute path";
		return -EINVAL;
	}
	return set_string(&c->chdir, v);
}

static int parse_kill_signal(struct run_config *c, const char *v, const char **why)
{
	int sig = runner_signal_from_name(v);
	if (sig < 0) {
		*why = "unknown signal";
		return -EINVAL;
	}
	c->kill_signal = sig;
	return 0;
}

/* Parameters= is the command line for a plain run and init's arguments with Boot=yes; split at blanks. */
static int parse_parameters(struct run_config *c, const char *v, const char **why)
{
	if (c->argv)
		return 0; /* a command given on the command line wins */
	_cleanup_free_ char *copy = strdup(v);
	char *save = NULL;
	if (!copy)
		return -ENOMEM;
	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		if (strv_push(&c->argv, w) < 0)
			return -ENOMEM;
	return 0;
}

/* nspawn allows several space-separated assignments per line; we keep one per line. */
static int parse_environment(struct run_config *c, const char *v, const char **why)
{
	int r = runner_config_add_env(c, v);
	if (r == -EINVAL)
		*why = "not a KEY=VALUE assignment";
	return r;
}

static int parse_caps(const char *v, uint64_t *set, const char **why)
{
	uint64_t m;
	int r = runner_caps_parse(v, &m);
	if (r == -EINVAL)
		*why = "unknown capability";
	if (r == 0)
		*set |= m;
	return r;
}

static int parse_capability(struct run_config *c, const char *v, const char **why)
{
	return parse_caps(v, &c->caps_add, why);
}

static int parse_drop_capability(struct run_config *c, const char *v, const char **why)
{
	return parse_caps(v, &c->caps_drop, why);
}

static int parse_bind_common(struct run_config *c, const char *v, bool ro, const char **why)
{
	int r = runner_config_add_bind(c, v, ro);
	if (r == -EINVAL)
		*why = "needs absolute paths without '..'";
	return r;
}

static int parse_bind(struct run_config *c, const char *v, const char **why)
{
	return parse_bind_common(c, v, false, why);
}

static int parse_bind_ro(struct run_config *c, const char *v, const char **why)
{
	return parse_bind_common(c, v, true, why);
}

static int parse_tmpfs(struct run_config *c, const char *v, const char **why)
{
	int r = runner_config_add_tmpfs(c, v);
	if (r == -EINVAL)
		*why = "needs absolute paths without '..'";
	return r;
}

static int parse_private_users(struct run_config *c, const char *v, const char **why)
{
	if (runner_private_users_parse(v, &c->private_users, &c->uid_base, &c->uid_count) < 0) {
		*why = "needs pick, no, or BASE[:COUNT] (BASE > 0)";
		return -EINVAL;
	}
	return 0;
}

/* [Network]: nspawn's keys (network.c does the work); AddressPool= is ours. */
static int parse_veth(struct run_config *c, const char *v, const char **why)
{
	int r = settings_value_bool(v);
	if (r < 0) {
		*why = "not a boolean";
		return -EINVAL;
	}
	if (r)
		c->net.mode = NET_VETH;
	else if (c->net.mode == NET_VETH)
		c->net.mode = NET_HOST;
	return 0;
}

static int parse_net_bridge(struct run_config *c, const char *v, const char **why)
{
	if (!*v || strlen(v) > 15) {
		*why = "not an interface name";
		return -EINVAL;
	}
	c->net.mode = NET_BRIDGE;
	return set_string(&c->net.bridge, v);
}

static int parse_net_zone(struct run_config *c, const char *v, const char **why)
{
	if (!runner_zone_name_ok(v)) {
		*why = "1 to 48 letters, digits, '-', '_' or '.'";
		return -EINVAL;
	}
	c->net.mode = NET_ZONE;
	return set_string(&c->net.zone, v);
}

static int parse_port(struct run_config *c, const char *v, const char **why)
{
	int r = runner_network_add_port(&c->net, v);
	if (r == -EINVAL)
		*why = "needs [tcp:|udp:]HOST[:CHILD] with ports 1-65535";
	if (r == -E2BIG) {
		*why = "at most 16 ports";
		r = -EINVAL;
	}
	return r;
}

static int parse_pool(struct run_config *c, const char *v, const char **why)
{
	uint32_t a;
	int len;
	if (runner_cidr_parse(v, &a, &len) < 0) {
		*why = "needs an IPv4 subnet a.b.c.d/8..30 (host bits zero)";
		return -EINVAL;
	}
	return set_string(&c->net.pool, v);
}

static int parse_resolv_conf(struct run_config *c, const char *v, const char **why)
{
	if (STREQ(v, "off"))
		c->net.resolv = RESOLV_OFF;
	else if (STREQ(v, "copy-host"))
		c->net.resolv = RESOLV_COPY_HOST;
	else {
		*why = "off or copy-host";
		return -EINVAL;
	}
	return 0;
}

static const struct run_setting {
	const char *section, *key;
	bool multi;             /* every occurrence counts (else the last one) */
	setting_parser parse;
} run_settings[] = {
	{ "Exec",  "Boot",                false, parse_boot },
	{ "Exec",  "Hostname",            false, parse_hostname },
	{ "Exec",  "User",                false, parse_user },
	{ "Exec",  "WorkingDirectory",    false, parse_workdir },
	{ "Exec",  "KillSignal",          false, parse_kill_signal },
	{ "Exec",  "Parameters",          false, parse_parameters },
	{ "Exec",  "Environment",         true,  parse_environment },
	{ "Exec",  "Capability",          true,  parse_capability },
	{ "Exec",  "DropCapability",      true,  parse_drop_capability },
	{ "Exec",  "PrivateUsers",        false, parse_private_users },
	{ "Files", "Bind",                true,  parse_bind },
	{ "Files", "BindReadOnly",        true,  parse_bind_ro },
	{ "Files", "TemporaryFileSystem", true,  parse_tmpfs },
	{ "Exec",  "ResolvConf",          false, parse_resolv_conf },
	{ "Network", "VirtualEthernet",   false, parse_veth },
	{ "Network", "Bridge",            false, parse_net_bridge },
	{ "Network", "Zone",              false, parse_net_zone },
	{ "Network", "Port",              true,  parse_port },
	{ "Network", "AddressPool",       false, parse_pool },
};

static int apply_setting(struct run_config *c, const struct run_setting *t, const char *value, struct lc_err *err)
{
	const char *why = NULL;
	int r = t->parse(c, value, &why);
	if (r == -EINVAL)
		return lc_err_ret(err, r, "%s.%s=%s: %s", t->section, t->key, value, why ? why : "invalid value");
	return r;
}

/*
 * [Resources]: systemd's resource-control names (limits.c).  Every key is
 * checked, an unknown one too: a typo must not silently start a child
 * without its limit.  The last assignment of a key wins; "Key=" resets.
 */
static int resources_from_settings(struct run_config *c, const struct settings *s, struct lc_err *err)
{
	_cleanup_free_ const char **keys = settings_section_keys(s, "Resources");
	if (!keys)
		return -ENOMEM;
	for (const char **k = keys; *k; k++) {
		const char *v = settings_get(s, "Resources", *k);
		int r = runner_limit_parse(&c->limits, *k, v ? v : "", err);
		if (r < 0) {
			if (r != -ENOMEM)
				lc_err_wrap(err, "Resources");
			return r == -ENOENT ? -EINVAL : r;
		}
	}
	return 0;
}

int runner_config_from_settings(struct run_config *c, const struct settings *s, struct lc_err *err)
{
	int rr = resources_from_settings(c, s, err);
	if (rr < 0)
		return rr;
	for (size_t i = 0; i < ELEMENTSOF(run_settings); i++) {
		const struct run_setting *t = &run_settings[i];
		int r = 0;
		if (!t->multi) {
			const char *v = settings_get(s, t->section, t->key);
			if (v)
				r = apply_setting(c, t, v, err);
		} else {
			_cleanup_free_ const char **vals = settings_get_all(s, t->section, t->key, NULL);
			if (!vals)
				return -ENOMEM;
			for (const char **p = vals; *p && r == 0; p++)
				r = apply_setting(c, t, *p, err);
		}
		if (r < 0)
			return r;
	}
	return 0;
}
