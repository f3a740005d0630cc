/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The private network's configuration side (network.h): nspawn's --port
 * syntax, the pool's CIDR, zone names, the host-side interface names.
 * Pure functions, unit-tested (tests/unit/test-runner-network.c); the plan
 * that uses them is network.c.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <xxhash.h>

#include "src/runner/runner.h"

static int parse_u16(const char *s, size_t len, uint16_t *ret)
{
	char buf[8], *end;
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	long v = strtol(buf, &end, 10);
	if (*end || v < 1 || v > 65535 || buf[0] == '+' || buf[0] == '-')
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

/* nspawn's syntax: [tcp|udp:]HOST[:CHILD]; CHILD defaults to HOST. */
int runner_port_parse(const char *s, struct net_port *ret)
{
	struct net_port p = { .proto = IPPROTO_TCP };
	if (strncmp(s, "tcp:", 4) == 0)
		s += 4;
	else if (strncmp(s, "udp:", 4) == 0) {
		p.proto = IPPROTO_UDP;
		s += 4;
	}
	const char *colon = strchr(s, ':');
	if (parse_u16(s, colon ? (size_t)(colon - s) : strlen(s), &p.host) < 0)
		return -EINVAL;
	if (!colon)
		p.child = p.host;
	else if (parse_u16(colon + 1, strlen(colon + 1), &p.child) < 0)
		return -EINVAL;
	*ret = p;
	return 0;
}

int runner_cidr_parse(const char *s, uint32_t *addr, int *prefix)
{
	char buf[32], *end;
	const char *slash = strchr(s, '/');
	struct in_addr in;
	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, slash - s);
	buf[slash - s] = '\0';
	long len = strtol(slash + 1, &end, 10);
	if (inet_pton(AF_INET, buf, &in) != 1 || *end || !slash[1] || len < 8 || len > 30)
		return -EINVAL;
	uint32_t a = ntohl(in.s_addr);
	if (a & (0xffffffffu >> len))
		return -EINVAL;   /* host bits set: say what is meant */
	*addr = a;
	*prefix = (int)len;
	return 0;
}

bool runner_zone_name_ok(const char *s)
{
	if (!*s || strlen(s) > 48)
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

int runner_network_add_port(struct net_config *n, const char *spec)
{
	struct net_port p;
	if (runner_port_parse(spec, &p) < 0)
		return -EINVAL;
	if (n->n_ports >= NET_MAX_PORTS)
		return -E2BIG;
	struct net_port *np = realloc(n->ports, (n->n_ports + 1) * sizeof(*np));
	if (!np)
		return -ENOMEM;
	n->ports = np;
	n->ports[n->n_ports++] = p;
	return 0;
}

void runner_network_config_done(struct net_config *n)
{
	free(n->bridge);
	free(n->zone);
	free(n->ports);
	free(n->pool);
	memset(n, 0, sizeof(*n));
}

/*
 * Interface names have 15 bytes.  A longer prefix+name keeps the name's
 * first bytes (still recognisable in `ip link`) and ends in a hash of the
 * whole name, so two children that share a long prefix get two names; the
 * full name goes on the link as an alternative name (attach).
 */
void runner_network_ifname(const char *prefix, const char *name, char ret[16])
{
	size_t pl = strlen(prefix), nl = strlen(name);
	if (pl + nl <= 15) {
		memcpy(ret, prefix, pl);
		memcpy(ret + pl, name, nl + 1);
		return;
	}
	unsigned h = (unsigned)(XXH3_64bits(name, nl) & 0xffffff);
	int keep = (int)(15 - pl - 7);   /* "-" and six hex digits */
	snprintf(ret, 16, "%s%.*s-%06x", prefix, keep, name, h);
}
