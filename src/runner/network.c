/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A container's private network: veth (a /30 of the pool), an existing
 * bridge, or a zone (a bridge made on demand, a /24 of the pool), port
 * forwarding and masquerading (nft.c).  docs/runner.md, "Networking", has
 * the decisions; in short:
 *
 * - The record RUNTIME/children/NAME/network is at once the allocation
 *   (which subnet and addresses are taken), what has to be undone, and what
 *   `status` shows.  It is written before anything is made, under
 *   RUNTIME/network.lock, and removed last.
 * - Its owner is alive exactly while the child's run lock is held (state.c:
 *   the kernel drops it with the process), so after a kill -9 of run the
 *   next start, run, or `net gc` knows the record is stale and undoes it.
 * - The container's side (host0, its address, the default route) is set by
 *   the parent through a netlink socket made inside the container's network
 *   namespace, before the container may exec: the command never sees a
 *   half-configured network, and the image needs no tools.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "src/runner/runner.h"
#include "src/basic/fileio.h"
#include "src/basic/fsutil.h"

#define PREFIX_VETH "vl-"    /* not nspawn's ve-: systemd-networkd would configure those itself */
#define PREFIX_ZONE "vlz-"
#define ZONE_PREFIX_LEN 24

static void ip_text(uint32_t a, char buf[INET_ADDRSTRLEN])
{
	uint32_t n = htonl(a);
	inet_ntop(AF_INET, &n, buf, INET_ADDRSTRLEN);
}

/*
 * What layerctl made carries "layerctl:STORE:NAME" as its ifalias (STORE: a
 * hash of the runtime dir).  Names alone are not proof: child c of another
 * store, or an administrator's interface, may be called vl-c too; only a
 * link with our alias is ever deleted.
 */
#define ALIAS_MAX 256   /* IFALIASZ */
static void link_alias(const char *runtime, const char *kind, const char *name, char buf[ALIAS_MAX])
{
	unsigned long long h = (unsigned long long)XXH3_64bits(runtime, strlen(runtime));
	snprintf(buf, ALIAS_MAX, "layerctl:%016llx:%.8s%.200s", h, kind, name);
}

static void delete_if_ours(struct nl *nl, const char *runtime, const char *kind, const char *name, const char *ifname)
{
	char alias[ALIAS_MAX];
	link_alias(runtime, kind, name, alias);
	if (nl_link_alias_is(nl, ifname, alias) == 1)
		nl_link_delete(nl, ifname);
}

static uint32_t mask_of(int prefix)
{
	return prefix ? 0xffffffffu << (32 - prefix) : 0;
}

static bool overlaps(uint32_t a, int la, uint32_t b, int lb)
{
	uint32_t m = mask_of(la < lb ? la : lb);
	return (a & m) == (b & m);
}

/* ---- records ---- */

struct record {
	char name[256];
	enum net_mode mode;
	char host_if[16], bridge_if[16], zone[64];
	uint32_t subnet, host_addr, child_addr;
	int prefix;
	struct net_port ports[NET_MAX_PORTS];
	size_t n_ports;
	bool live;
};

static const char *const mode_names[] = { [NET_HOST] = "host", [NET_VETH] = "veth", [NET_BRIDGE] = "bridge",
					   [NET_ZONE] = "zone" };

static int record_format(const struct record *rec, char **ret)
{
	char s[INET_ADDRSTRLEN], a[INET_ADDRSTRLEN], h[INET_ADDRSTRLEN];
	size_t len = 0;
	FILE *f = open_memstream(ret, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "Mode=%s\nInterface=host0\nHostInterface=%s\n", mode_names[rec->mode], rec->host_if);
	if (rec->bridge_if[0])
		fprintf(f, "Bridge=%s\n", rec->bridge_if);
	if (rec->zone[0])
		fprintf(f, "Zone=%s\n", rec->zone);
	if (rec->subnet) {
		ip_text(rec->subnet, s);
		ip_text(rec->child_addr, a);
		ip_text(rec->host_addr, h);
		fprintf(f, "Subnet=%s/%d\nAddress=%s/%d\nHostAddress=%s/%d\n", s, rec->prefix, a, rec->prefix, h,
			rec->prefix);
	}
	for (size_t i = 0; i < rec->n_ports; i++)
		fprintf(f, "Port=%s:%u:%u\n", rec->ports[i].proto == IPPROTO_UDP ? "udp" : "tcp", rec->ports[i].host,
			rec->ports[i].child);
	return fclose(f) == 0 ? 0 : -ENOMEM;
}

static uint32_t addr_of(const char *v)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr in;
	size_t n = strcspn(v, "/");
	if (n >= sizeof(buf))
		return 0;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return inet_pton(AF_INET, buf, &in) == 1 ? ntohl(in.s_addr) : 0;
}

static void record_parse_line(struct record *rec, const char *key, const char *v)
{
	if (STREQ(key, "Mode")) {
		for (size_t i = 0; i < ELEMENTSOF(mode_names); i++)
			if (STREQ(v, mode_names[i]))
				rec->mode = (enum net_mode)i;
	} else if (STREQ(key, "HostInterface"))
		snprintf(rec->host_if, sizeof(rec->host_if), "%s", v);
	else if (STREQ(key, "Bridge"))
		snprintf(rec->bridge_if, sizeof(rec->bridge_if), "%s", v);
	else if (STREQ(key, "Zone"))
		snprintf(rec->zone, sizeof(rec->zone), "%s", v);
	else if (STREQ(key, "Subnet")) {
		rec->subnet = addr_of(v);
		const char *slash = strchr(v, '/');
		rec->prefix = slash ? atoi(slash + 1) : 32;
	} else if (STREQ(key, "Address"))
		rec->child_addr = addr_of(v);
	else if (STREQ(key, "HostAddress"))
		rec->host_addr = addr_of(v);
	else if (STREQ(key, "Port") && rec->n_ports < NET_MAX_PORTS &&
		 runner_port_parse(v, &rec->ports[rec->n_ports]) == 0)
		rec->n_ports++;
}

static int record_read_at(int dirfd, const char *name, struct record *rec)
{
	char path[300], line[256];
	snprintf(path, sizeof(path), "%s/network", name);
	int fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	_cleanup_fclose_ FILE *f = fdopen(fd, "re");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	memset(rec, 0, sizeof(*rec));
	snprintf(rec->name, sizeof(rec->name), "%s", name);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *eq = strchr(line, '=');
		if (eq) {
			*eq = '\0';
			record_parse_line(rec, line, eq + 1);
		}
	}
	return rec->mode == NET_HOST ? -EBADMSG : 0;
}

struct records {
	struct record *v;
	size_t n;
};

static void records_done(struct records *rs)
{
	free(rs->v);
	rs->v = NULL;
	rs->n = 0;
}

/* Every record under RUNTIME/children, live = its child's run lock is held (self: never, it is starting over). */
static int records_load(const char *runtime, const char *self, struct records *rs)
{
	_cleanup_free_ char *dir = NULL;
	*rs = (struct records){};
	if (asprintf(&dir, "%s/children", runtime) < 0)
		return -ENOMEM;
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *de;
	while ((de = readdir(d))) {
		struct record rec;
		if (de->d_name[0] == '.' || record_read_at(dirfd(d), de->d_name, &rec) < 0)
			continue;
		rec.live = !(self && STREQ(self, rec.name)) && runner_state_is_locked(runtime, rec.name) > 0;
		struct record *nv = realloc(rs->v, (rs->n + 1) * sizeof(*nv));
		if (!nv) {
			records_done(rs);
			return -ENOMEM;
		}
		rs->v = nv;
		rs->v[rs->n++] = rec;
	}
	return 0;
}

static bool zone_has_live(const struct records *rs, const char *zone)
{
	for (size_t i = 0; i < rs->n; i++)
		if (rs->v[i].live && rs->v[i].mode == NET_ZONE && STREQ(rs->v[i].zone, zone))
			return true;
	return false;
}

static int record_unlink(const char *runtime, const char *name)
{
	_cleanup_free_ char *p = NULL;
	if (asprintf(&p, "%s/children/%s/network", runtime, name) < 0)
		return -ENOMEM;
	return unlink(p) < 0 && errno != ENOENT ? -errno : 0;
}

static int record_write(const char *runtime, const struct record *rec)
{
	_cleanup_free_ char *dir = runner_state_dir(runtime, rec->name), *text = NULL;
	int r;
	if (!dir)
		return -ENOMEM;
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if ((r = record_format(rec, &text)) < 0)
		return r;
	/* Atomic, not durable: the runtime dir is /run (tmpfs), and a reboot ends every child anyway. */
	return lc_write_atomic(dfd, "network", text, strlen(text), 0644, false);
}

/* ---- the lock ---- */

static int network_lock(const char *runtime)
{
	_cleanup_free_ char *p = NULL;
	if (asprintf(&p, "%s/network.lock", runtime) < 0)
		return -ENOMEM;
	int fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			int e = errno;
			close(fd);
			return -e;
		}
	return fd;
}

/* ---- undo ---- */

/*
 * The host side of a container that just ended goes with its network
 * namespace, which the kernel tears down asynchronously a moment later.
 * Deleting it ourselves would make every stop wait for that teardown's RCU
 * grace periods (12-30 ms measured, more than a whole run), and a quick
 * restart would find the name still taken and have to wait the same.  So
 * it is taken down and renamed out of the way (vlx-RANDOM: both cheap, no
 * grace period) and left to the kernel.
 */
static void retire_link(struct nl *nl, const char *runtime, const struct record *rec)
{
	char alias[ALIAS_MAX], tmp[16];
	uint64_t rnd;
	link_alias(runtime, "", rec->name, alias);
	if (nl_link_alias_is(nl, rec->host_if, alias) != 1)
		return;   /* gone already, or not ours */
	int idx = nl_link_index(nl, rec->host_if);
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint64_t)getpid() << 32 ^ (uint64_t)idx;
	snprintf(tmp, sizeof(tmp), "vlx-%011llx", (unsigned long long)(rnd & 0xfffffffffffULL));
	if (idx <= 0 || nl_link_down(nl, idx) < 0 || nl_link_rename(nl, idx, tmp) < 0)
		nl_link_delete(nl, rec->host_if);   /* the slow way, but the name must be free */
}

/*
 * Undo one stale record: its forwarded ports, its host-side link, the
 * record.  Own (the release after the container ended): the link is
 * retired, see above.  One that a crash left is deleted: something may pin
 * that namespace.
 */
static void record_undo(struct nl *nl, const char *runtime, const struct record *rec, bool own)
{
	fw_child_remove(rec->ports, rec->n_ports);
	if (nl && own && rec->host_if[0])
		retire_link(nl, runtime, rec);
	else if (nl && rec->host_if[0])
		delete_if_ours(nl, runtime, "", rec->name, rec->host_if);   /* usually gone with the namespace */
	record_unlink(runtime, rec->name);
}

/*
 * Under the network lock: undo every record whose owner is gone (and self's),
 * then the bridges of zones nobody lives in any more.  1 when live records
 * remain, 0 when none, -errno.
 */
static int gc_locked(const char *runtime, const char *self, bool released, unsigned *n_removed)
{
	struct records rs;
	struct nl *nl = NULL;
	unsigned n = 0;
	int r = records_load(runtime, self, &rs);
	if (r < 0)
		return r;
	bool any_live = false, any_stale = false;
	for (size_t i = 0; i < rs.n; i++) {
		any_live |= rs.v[i].live;
		any_stale |= !rs.v[i].live;
	}
	if (any_stale && (r = nl_open(&nl)) < 0) {
		records_done(&rs);
		return r;
	}
	for (size_t i = 0; i < rs.n; i++) {
		struct record *rec = &rs.v[i];
		if (rec->live)
			continue;
		bool own = self && STREQ(self, rec->name) && released;
		record_undo(nl, runtime, rec, own);
		if (!self || !STREQ(self, rec->name))
			n++;
		if (rec->mode != NET_ZONE || zone_has_live(&rs, rec->zone))
			continue;
		/* The zone's last member: its bridge goes (a second stale member finds it gone). */
		delete_if_ours(nl, runtime, "zone:", rec->zone, rec->bridge_if);
	}
	nl_close(nl);
	records_done(&rs);
	if (n_removed)
		*n_removed = n;
	return any_live ? 1 : 0;
}

int runner_network_gc(const char *runtime, unsigned *n_removed, struct lc_err *err)
{
	struct stat st;
	*n_removed = 0;
	if (stat(runtime, &st) < 0 && errno == ENOENT)
		return 0;   /* nothing ever ran */
	_cleanup_close_ int lock = network_lock(runtime);
	if (lock < 0)
		return lc_err_ret(err, lock, "%s/network.lock: %s", runtime, strerror(-lock));
	int r = gc_locked(runtime, NULL, false, n_removed);
	if (r < 0)
		return lc_err_ret(err, r, "network gc: %s", strerror(-r));
	if (r == 0)
		fw_table_remove();   /* nobody of ours has a network: the table goes too (see nft.c) */
	return 0;
}

/* ---- allocation ---- */

struct taken {
	uint32_t *addr;
	int *len;
	size_t n;
};

static int taken_add(uint32_t dst, int len, void *data)
{
	struct taken *t = data;
	uint32_t *na = realloc(t->addr, (t->n + 1) * sizeof(*na));
	int *nl = na ? realloc(t->len, (t->n + 1) * sizeof(*nl)) : NULL;
	if (na)
		t->addr = na;
	if (!nl)
		return 1;
	t->len = nl;
	t->addr[t->n] = dst;
	t->len[t->n++] = len;
	return 0;
}

/* The first block of /want in the pool that overlaps no record's subnet and no route of the host. */
static int pick_subnet(struct nl *nl, const struct records *rs, uint32_t pool, int pool_len, int want, uint32_t *ret)
{
	struct taken t = {};
	int r = nl_route_each(nl, taken_add, &t);
	for (size_t i = 0; r == 0 && i < rs->n; i++)
		if (rs->v[i].live && rs->v[i].subnet)
			taken_add(rs->v[i].subnet, rs->v[i].prefix, &t);
	r = r < 0 ? r : -ENOSPC;
	if (want >= pool_len)
		for (uint64_t b = pool; r == -ENOSPC && b < (uint64_t)pool + (UINT64_C(1) << (32 - pool_len));
		     b += UINT64_C(1) << (32 - want)) {
			bool free_block = true;
			for (size_t i = 0; free_block && i < t.n; i++)
				free_block = !overlaps((uint32_t)b, want, t.addr[i], t.len[i]);
			if (free_block) {
				*ret = (uint32_t)b;
				r = 0;
			}
		}
	free(t.addr);
	free(t.len);
	return r;
}

/* A zone member: the zone's subnet if it has live members (else a new /24), and the lowest free address in it. */
static int pick_zone_address(struct nl *nl, const struct records *rs, uint32_t pool, int pool_len, struct record *rec)
{
	int r;
	rec->subnet = 0;
	for (size_t i = 0; i < rs->n && !rec->subnet; i++)
		if (rs->v[i].live && rs->v[i].mode == NET_ZONE && STREQ(rs->v[i].zone, rec->zone))
			rec->subnet = rs->v[i].subnet;
	if (!rec->subnet && (r = pick_subnet(nl, rs, pool, pool_len, ZONE_PREFIX_LEN, &rec->subnet)) < 0)
		return r;
	rec->prefix = ZONE_PREFIX_LEN;
	rec->host_addr = rec->subnet + 1;
	for (uint32_t a = rec->subnet + 2; a < rec->subnet + (1u << (32 - ZONE_PREFIX_LEN)) - 1; a++) {
		bool used = false;
		for (size_t i = 0; i < rs->n && !used; i++)
			used = rs->v[i].live && rs->v[i].mode == NET_ZONE && rs->v[i].child_addr == a;
		if (!used) {
			rec->child_addr = a;
			return 0;
		}
	}
	return -ENOSPC;
}

static int check_ports(const struct records *rs, const struct record *rec, struct lc_err *err)
{
	for (size_t i = 0; i < rs->n; i++)
		for (size_t j = 0; rs->v[i].live && j < rs->v[i].n_ports; j++)
			for (size_t k = 0; k < rec->n_ports; k++)
				if (rs->v[i].ports[j].proto == rec->ports[k].proto &&
				    rs->v[i].ports[j].host == rec->ports[k].host)
					return lc_err_ret(err, -EADDRINUSE, "port %s:%u is already forwarded to child %s",
							  rec->ports[k].proto == IPPROTO_UDP ? "udp" : "tcp",
							  rec->ports[k].host, rs->v[i].name);
	return 0;
}

static int allocate(struct nl *nl, const struct records *rs, const struct net_config *n, struct record *rec,
		    struct lc_err *err)
{
	const char *pool_text = n->pool ? n->pool : NET_DEFAULT_POOL;
	uint32_t pool;
	int pool_len, r;
	if (runner_cidr_parse(pool_text, &pool, &pool_len) < 0)
		return lc_err_ret(err, -EINVAL, "address pool %s: not an IPv4 subnet a.b.c.d/8..30", pool_text);
	if (rec->mode == NET_ZONE)
		r = pick_zone_address(nl, rs, pool, pool_len, rec);
	else {
		r = pick_subnet(nl, rs, pool, pool_len, 30, &rec->subnet);
		rec->prefix = 30;
		rec->host_addr = rec->subnet + 1;
		rec->child_addr = rec->subnet + 2;
	}
	if (r == -ENOSPC)
		return lc_err_ret(err, r, "address pool %s exhausted (every %s in it is taken or routed on the host)",
				  pool_text, rec->mode == NET_ZONE ? "/24" : "/30");
	if (r < 0)
		return lc_err_ret(err, r, "routes: %s", strerror(-r));
	return 0;
}

/* ---- prepare: before the clone ---- */

/* Forwarded and masqueraded traffic crosses the host: ip_forward on where the host side lives (as networkd does). */
static int enable_ip_forward(void)
{
	_cleanup_close_ int fd = open("/proc/sys/net/ipv4/ip_forward", O_RDWR | O_CLOEXEC);
	char v = 0;
	if (fd < 0)
		return -errno;
	if (read(fd, &v, 1) == 1 && v == '1')
		return 0;
	return pwrite(fd, "1\n", 2, 0) == 2 ? 0 : -errno;
}

static int make_zone_bridge(struct nl *nl, const char *runtime, const struct record *rec, struct lc_err *err)
{
	char alias[ALIAS_MAX];
	link_alias(runtime, "zone:", rec->zone, alias);
	int r = nl_link_alias_is(nl, rec->bridge_if, alias);
	if (r == 1)
		return 0;   /* a live member made it */
	if (r == 0)
		return lc_err_ret(err, -EEXIST, "zone bridge %s: an interface of that name exists and is not this store's zone",
				  rec->bridge_if);
	if ((r = nl_bridge_create(nl, rec->bridge_if)) < 0)
		return lc_err_ret(err, r, "zone bridge %s: %s", rec->bridge_if, strerror(-r));
	int idx = nl_link_index(nl, rec->bridge_if);
	if (idx < 0 || (r = nl_link_set_alias(nl, idx, alias)) < 0 || (r = nl_addr_add(nl, idx, rec->host_addr, rec->prefix)) < 0 ||
	    (r = nl_link_up(nl, idx)) < 0)
		return lc_err_ret(err, idx < 0 ? idx : r, "zone bridge %s: %s", rec->bridge_if,
				  strerror(idx < 0 ? -idx : -r));
	return 0;
}

static int check_bridge(struct nl *nl, const char *br, struct lc_err *err)
{
	int r = nl_link_kind_is(nl, br, "bridge");
	if (r == -ENODEV)
		return lc_err_ret(err, r, "bridge %s: no such interface", br);
	if (r < 0)
		return lc_err_ret(err, r, "bridge %s: %s", br, strerror(-r));
	if (r == 0)
		return lc_err_ret(err, -EINVAL, "bridge %s: not a bridge", br);
	return 0;
}

static void record_from_config(const struct run_config *c, struct record *rec)
{
	memset(rec, 0, sizeof(*rec));
	snprintf(rec->name, sizeof(rec->name), "%s", c->name);
	rec->mode = c->net.mode;
	runner_network_ifname(PREFIX_VETH, c->name, rec->host_if);
	if (c->net.mode == NET_BRIDGE)
		snprintf(rec->bridge_if, sizeof(rec->bridge_if), "%s", c->net.bridge);
	if (c->net.mode == NET_ZONE) {
		snprintf(rec->zone, sizeof(rec->zone), "%s", c->net.zone);
		runner_network_ifname(PREFIX_ZONE, c->net.zone, rec->bridge_if);
	}
	for (size_t i = 0; i < c->net.n_ports && i < NET_MAX_PORTS; i++)
		rec->ports[rec->n_ports++] = c->net.ports[i];
}

static int prepare_locked(struct run_config *c, struct nl *nl, struct record *rec, struct lc_err *err)
{
	struct records rs;
	int r = gc_locked(c->runtime, c->name, false, NULL);
	if (r < 0)
		return lc_err_ret(err, r, "cleaning up after children that are gone: %s", strerror(-r));
	if ((r = records_load(c->runtime, c->name, &rs)) < 0)
		return r;
	if ((r = check_ports(&rs, rec, err)) == 0 && rec->mode != NET_BRIDGE)
		r = allocate(nl, &rs, &c->net, rec, err);
	records_done(&rs);
	if (r < 0)
		return r;
	/* The record first: whatever follows, a release or gc finds what to undo. */
	if ((r = record_write(c->runtime, rec)) < 0)
		return lc_err_ret(err, r, "record: %s", strerror(-r));
	c->net.prepared = true;
	if (rec->mode == NET_ZONE && (r = make_zone_bridge(nl, c->runtime, rec, err)) < 0)
		return r;
	if (rec->mode != NET_BRIDGE) {
		if ((r = fw_child_add(c->name, rec->child_addr, rec->ports, rec->n_ports, err)) < 0)
			return r;
		if ((r = enable_ip_forward()) < 0)
			return lc_err_ret(err, r, "net.ipv4.ip_forward: %s", strerror(-r));
	}
	return 0;
}

/*
 * resolv.conf: the host's copied in only when asked, and written with a
 * rename inside the image's /etc resolved in the image (RESOLVE_IN_ROOT):
 * an /etc/resolv.conf symlink is replaced, never followed out of the image.
 */
static int write_resolv_conf(const struct run_config *c, struct lc_err *err)
{
	char buf[8192];
	_cleanup_close_ int src = open("/etc/resolv.conf", O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return lc_err_ret(err, -errno, "resolv.conf: host's /etc/resolv.conf: %s", strerror(errno));
	ssize_t n = read(src, buf, sizeof(buf));
	if (n < 0)
		return lc_err_ret(err, -errno, "resolv.conf: %s", strerror(errno));
	_cleanup_close_ int etc = runner_image_open(c->root, "/etc", O_RDONLY | O_DIRECTORY);
	if (etc < 0)
		return lc_err_ret(err, etc, "resolv.conf: the child's /etc: %s", strerror(-etc));
	int r = atomic_write_at(etc, "resolv.conf", buf, (size_t)n, 0644);
	if (r < 0)
		return lc_err_ret(err, r, "resolv.conf: %s", strerror(-r));
	return 0;
}

int runner_network_prepare(struct run_config *c, struct lc_err *err)
{
	struct net_config *n = &c->net;
	struct record rec;
	struct nl *nl = NULL;
	int r;

	if (n->mode == NET_HOST)
		return 0;
	c->private_network = true;
	if (n->n_ports && n->mode == NET_BRIDGE)
		return lc_err_ret(err, -EINVAL, "--port needs --network-veth or --network-zone (a bridged child's address is not ours to know)");
	if (!c->runtime)
		return lc_err_ret(err, -EINVAL, "no runtime dir for the network records");
	if ((r = nl_open(&nl)) < 0)
		return lc_err_ret(err, r, "netlink: %s", strerror(-r));
	if (n->mode == NET_BRIDGE && (r = check_bridge(nl, n->bridge, err)) < 0)
		goto out;
	record_from_config(c, &rec);
	int lock = network_lock(c->runtime);
	if (lock < 0) {
		r = lc_err_ret(err, lock, "%s/network.lock: %s", c->runtime, strerror(-lock));
		goto out;
	}
	r = prepare_locked(c, nl, &rec, err);
	close(lock);
	if (r < 0)
		goto out;
	snprintf(n->host_if, sizeof(n->host_if), "%s", rec.host_if);
	snprintf(n->bridge_if, sizeof(n->bridge_if), "%s", rec.bridge_if);
	n->host_addr = rec.host_addr;
	n->child_addr = rec.child_addr;
	n->prefix = rec.prefix;
	if (n->resolv == RESOLV_COPY_HOST)
		r = write_resolv_conf(c, err);
out:
	nl_close(nl);
	if (r < 0)
		runner_network_release(c);
	return r;
}

/* ---- attach: after the clone ---- */

static int host_side(struct nl *nl, const struct run_config *c, pid_t pid, struct lc_err *err)
{
	const struct net_config *n = &c->net;
	char alias[ALIAS_MAX];
	link_alias(c->runtime, "", c->name, alias);
	int r = nl_veth_create(nl, n->host_if, "host0", pid);
	/*
	 * Ours from the last run, which the kernel is still dropping with that
	 * run's namespace (record_undo): delete it, or wait until it is gone
	 * (a fifth of a second at most).  One without our alias is not ours.
	 */
	for (int i = 0; r == -EEXIST && i < 200; i++) {
		int ours = nl_link_alias_is(nl, n->host_if, alias);
		if (ours == 0)
			break;
		if (ours == 1)
			nl_link_delete(nl, n->host_if);
		else
			usleep(1000);
		r = nl_veth_create(nl, n->host_if, "host0", pid);
	}
	if (r == -EEXIST)
		return lc_err_ret(err, r, "veth %s: an interface of that name exists already (not this child's)", n->host_if);
	if (r < 0)
		return lc_err_ret(err, r, "veth %s: %s", n->host_if, strerror(-r));
	int idx = nl_link_index(nl, n->host_if);
	if (idx < 0)
		return lc_err_ret(err, idx, "veth %s: %s", n->host_if, strerror(-idx));
	if ((r = nl_link_set_alias(nl, idx, alias)) < 0)
		return lc_err_ret(err, r, "veth %s: alias: %s", n->host_if, strerror(-r));
	char full[128];
	snprintf(full, sizeof(full), PREFIX_VETH "%s", c->name);
	if (!STREQ(full, n->host_if) && strlen(full) < sizeof(full) - 1 && (r = nl_link_add_altname(nl, idx, full)) < 0 &&
	    r != -EEXIST)
		return lc_err_ret(err, r, "veth %s: alternative name %s: %s", n->host_if, full, strerror(-r));
	if (n->bridge_if[0]) {
		int br = nl_link_index(nl, n->bridge_if);
		if (br < 0 || (r = nl_link_set_master(nl, idx, br)) < 0)
			return lc_err_ret(err, br < 0 ? br : r, "veth %s: joining bridge %s: %s", n->host_if, n->bridge_if,
					  strerror(br < 0 ? -br : -r));
	} else if ((r = nl_addr_add(nl, idx, n->host_addr, n->prefix)) < 0)
		return lc_err_ret(err, r, "veth %s: address: %s", n->host_if, strerror(-r));
	if ((r = nl_link_up(nl, idx)) < 0)
		return lc_err_ret(err, r, "veth %s: up: %s", n->host_if, strerror(-r));
	return 0;
}

static int container_side(struct nl *nl, const struct net_config *n, struct lc_err *err)
{
	int r, lo = nl_link_index(nl, "lo"), idx = nl_link_index(nl, "host0");
	if (idx < 0)
		return lc_err_ret(err, idx, "host0: %s", strerror(-idx));
	if (lo > 0 && (r = nl_link_up(nl, lo)) < 0)
		return lc_err_ret(err, r, "lo: %s", strerror(-r));
	if (n->child_addr && (r = nl_addr_add(nl, idx, n->child_addr, n->prefix)) < 0)
		return lc_err_ret(err, r, "host0: address: %s", strerror(-r));
	if ((r = nl_link_up(nl, idx)) < 0)
		return lc_err_ret(err, r, "host0: up: %s", strerror(-r));
	if (n->host_addr && (r = nl_route_add_default(nl, n->host_addr)) < 0)
		return lc_err_ret(err, r, "host0: default route: %s", strerror(-r));
	return 0;
}

/*
 * A netlink socket stays in the namespace it was made in: step into the
 * container's network namespace only to make it (and to resolve host0),
 * then straight back.  The caller is single-threaded and holds nothing
 * that depends on its network namespace meanwhile.
 */
static int inside(const struct net_config *n, pid_t pid, struct lc_err *err)
{
	char path[64];
	struct nl *nl = NULL;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	_cleanup_close_ int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int target = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || target < 0)
		return lc_err_ret(err, -errno, "container's network namespace: %s", strerror(errno));
	if (setns(target, CLONE_NEWNET) < 0)
		return lc_err_ret(err, -errno, "entering the container's network namespace: %s", strerror(errno));
	int r = nl_open(&nl);
	if (r == 0)
		r = container_side(nl, n, err);
	else
		lc_err_set(err, "netlink: %s", strerror(-r));
	if (setns(self, CLONE_NEWNET) < 0)
		abort();   /* we would go on configuring the container's network as the host's */
	nl_close(nl);
	return r;
}

int runner_network_attach(struct run_config *c, pid_t pid, struct lc_err *err)
{
	struct nl *nl = NULL;
	if (!c->net.prepared)
		return 0;
	int r = nl_open(&nl);
	if (r < 0)
		return lc_err_ret(err, r, "netlink: %s", strerror(-r));
	r = host_side(nl, c, pid, err);
	nl_close(nl);
	if (r < 0)
		return r;
	return inside(&c->net, pid, err);
}

/* ---- release ---- */

void runner_network_release(struct run_config *c)
{
	if (!c->net.prepared)
		return;
	int lock = network_lock(c->runtime);
	if (lock < 0)
		return;   /* the next start or `net gc` finds the record */
	gc_locked(c->runtime, c->name, true, NULL);
	close(lock);
	c->net.prepared = false;
}

/* ---- status ---- */

int runner_network_state_read(const char *runtime, const char *name, struct runner_network_state *st)
{
	_cleanup_free_ char *dir = NULL;
	struct record rec;
	char s[INET_ADDRSTRLEN];
	if (asprintf(&dir, "%s/children", runtime) < 0)
		return -ENOMEM;
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	int r = record_read_at(dfd, name, &rec);
	if (r < 0)
		return r;
	memset(st, 0, sizeof(*st));
	snprintf(st->mode, sizeof(st->mode), "%s", mode_names[rec.mode]);
	snprintf(st->interface, sizeof(st->interface), "host0");
	snprintf(st->host_interface, sizeof(st->host_interface), "%s", rec.host_if);
	snprintf(st->bridge, sizeof(st->bridge), "%s", rec.bridge_if);
	snprintf(st->zone, sizeof(st->zone), "%s", rec.zone);
	if (rec.child_addr) {
		ip_text(rec.child_addr, s);
		snprintf(st->address, sizeof(st->address), "%s/%d", s, rec.prefix);
		ip_text(rec.host_addr, s);
		snprintf(st->host_address, sizeof(st->host_address), "%s/%d", s, rec.prefix);
	}
	for (size_t i = 0; i < rec.n_ports && i < ELEMENTSOF(st->ports); i++)
		snprintf(st->ports[st->n_ports++], sizeof(st->ports[0]), "%s:%u:%u",
			 rec.ports[i].proto == IPPROTO_UDP ? "udp" : "tcp", rec.ports[i].host, rec.ports[i].child);
	return 0;
}
