/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private networking of a container (docs/runner.md, "Networking"):
 *
 *   network-config.c  parsers (--port, the pool, zone names), host-side names
 *   network.c  the plan: the address pool and its allocation records, setup
 *              before/after the clone, release, gc, the status file
 *   netlink.c  links, veth, bridges, addresses, routes (libmnl)
 *   nft.c      port forwarding and masquerading in table inet layerctl
 *              (libnftables)
 *
 * Included by runner.h; the run config carries a struct net_config.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct lc_err;
struct run_config;

enum net_mode {
	NET_HOST,       /* the host's network (or --private-network: loopback only) */
	NET_VETH,       /* --network-veth: a /30 of the pool, host side vl-NAME */
	NET_BRIDGE,     /* --network-bridge=BR: host side enslaved to an existing bridge, no address from us */
	NET_ZONE,       /* --network-zone=Z: bridge vz-Z made on demand, a /24 of the pool per zone */
};

enum resolv_mode {
	RESOLV_OFF,     /* the image's /etc/resolv.conf as it is (nspawn's "off") */
	RESOLV_COPY_HOST,
};

struct net_port {
	uint8_t proto;          /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t host, child;
};

struct net_config {
	enum net_mode mode;
	char *bridge;           /* NET_BRIDGE */
	char *zone;             /* NET_ZONE */
	struct net_port *ports;
	size_t n_ports;
	char *pool;             /* CIDR, NULL for the default */
	enum resolv_mode resolv;
	/* Filled by runner_network_prepare, for attach and release: */
	bool prepared;
	char host_if[16];
	char bridge_if[16];     /* the bridge the host side joins, "" for none */
	uint32_t host_addr, child_addr;   /* host byte order, 0 for none */
	int prefix;
};

#define NET_DEFAULT_POOL "10.234.0.0/16"
#define NET_MAX_PORTS 16

/* Parsers ("tcp:8080:80", "10.234.0.0/16"); -EINVAL when malformed. */
int runner_port_parse(const char *s, struct net_port *ret);
int runner_cidr_parse(const char *s, uint32_t *addr, int *prefix);
/* A name valid for a zone (it becomes part of an interface name). */
bool runner_zone_name_ok(const char *s);
int runner_network_add_port(struct net_config *n, const char *spec);
void runner_network_config_done(struct net_config *n);
/* The host-side name of an interface: prefix + name, shortened with a hash past 15 bytes. */
void runner_network_ifname(const char *prefix, const char *name, char ret[16]);

/*
 * Before the clone (the caller holds the child's run lock): clean what a
 * crash left, check the bridge, allocate addresses under the network lock,
 * make the zone's bridge, add the nft elements, record it all in
 * RUNTIME/children/NAME/network, and write /etc/resolv.conf when asked.
 */
int runner_network_prepare(struct run_config *c, struct lc_err *err);
/* After the clone, before the container may exec: the veth pair, its addresses and routes, both sides. */
int runner_network_attach(struct run_config *c, pid_t pid, struct lc_err *err);
/* After the container ended (or failed to start): undo what prepare did.  Never fails. */
void runner_network_release(struct run_config *c);
/* Remove what children that no longer run left (records, nft elements, links, zone bridges). n: how many. */
int runner_network_gc(const char *runtime, unsigned *n_removed, struct lc_err *err);

/* What `status` shows: RUNTIME/children/NAME/network, key=value lines. */
struct runner_network_state {
	char mode[8];           /* veth, bridge, zone */
	char interface[16];     /* host0 */
	char host_interface[16];
	char bridge[16];
	char zone[64];
	char address[20];       /* 10.234.0.2/30 */
	char host_address[20];
	char ports[NET_MAX_PORTS][24];   /* tcp:8080:80 */
	size_t n_ports;
};
/* 0, -ENOENT when the child has no private network (or is not running), -errno. */
int runner_network_state_read(const char *runtime, const char *name, struct runner_network_state *st);

/* ---- netlink.c (libmnl) ---- */

struct nl;
int nl_open(struct nl **ret);
void nl_close(struct nl *nl);
int nl_link_index(struct nl *nl, const char *name);     /* > 0, or -ENODEV */
int nl_link_kind_is(struct nl *nl, const char *name, const char *kind);   /* 1/0/-errno */
int nl_veth_create(struct nl *nl, const char *host, const char *peer, pid_t peer_pid);
int nl_bridge_create(struct nl *nl, const char *name);
int nl_link_delete(struct nl *nl, const char *name);
int nl_link_up(struct nl *nl, int ifindex);
int nl_link_down(struct nl *nl, int ifindex);
int nl_link_rename(struct nl *nl, int ifindex, const char *name);   /* the link must be down */
int nl_link_set_master(struct nl *nl, int ifindex, int master);
int nl_link_add_altname(struct nl *nl, int ifindex, const char *alt);
int nl_link_set_alias(struct nl *nl, int ifindex, const char *alias);
int nl_link_alias_is(struct nl *nl, const char *name, const char *alias);   /* 1/0, -ENODEV */
int nl_addr_add(struct nl *nl, int ifindex, uint32_t addr, int prefix);
int nl_route_add_default(struct nl *nl, uint32_t gw);
/* IPv4 routes of the main table (not the default route): overlaps(addr, prefix, data) -> nonzero stops. */
int nl_route_each(struct nl *nl, int (*cb)(uint32_t dst, int len, void *data), void *data);

/* ---- nft.c (libnftables) ---- */

/* The table if missing, and the child's forwarded ports. */
int fw_child_add(const char *name, uint32_t child_addr, const struct net_port *ports, size_t n_ports, struct lc_err *err);
/* Remove what fw_child_add added; missing elements are fine. */
void fw_child_remove(const struct net_port *ports, size_t n_ports);
/* Drop the whole table (`net gc`, when no child of ours has a network). */
void fw_table_remove(void);
