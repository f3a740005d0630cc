/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Port forwarding and masquerading in nftables table `inet layerctl`, and
 * nowhere else: every command names that table, so other tables (the
 * host's firewall, docker's, nspawn's io.systemd.nat) are never touched.
 *
 * The table is fixed; a child adds and removes only elements:
 *
 *   map ports  proto . host port : child address . child port   (DNAT)
 *   set masq   the child's /30 or its zone's /24                (masquerade)
 *
 * so "remove this child's rules" is "delete these elements" — no rule
 * handles to look up, nothing to parse back — and the table is dropped
 * when the last child of ours is gone (network.c knows that from its
 * records).
 *
 * libnftables rather than libnftnl: the same text an administrator reads
 * with `nft list table inet layerctl` is what we send, parsed and checked
 * by nft's own parser and applied as one atomic transaction per call.
 * libnftnl would have us assemble the fib/map/dnat expressions register by
 * register, the very thing a library should do for us.  The cost, about a
 * millisecond of parsing per start, is paid only by children with a
 * private network.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>

#include "src/runner/runner.h"

#define TABLE "inet layerctl"

static const char skeleton[] =
	"add table " TABLE "\n"
	"add map " TABLE " ports { type inet_proto . inet_service : ipv4_addr . inet_service; }\n"
	"add set " TABLE " masq { type ipv4_addr; flags interval; }\n"
	/* From outside: only what is addressed to one of the host's own addresses. */
	"add chain " TABLE " prerouting { type nat hook prerouting priority dstnat; policy accept; }\n"
	"add rule " TABLE " prerouting meta nfproto ipv4 fib daddr type local "
	"dnat ip to meta l4proto . th dport map @ports\n"
	/* From the host itself, to its own addresses; 127/8 would need route_localnet (as nspawn). */
	"add chain " TABLE " output { type nat hook output priority -100; policy accept; }\n"
	"add rule " TABLE " output meta nfproto ipv4 ip daddr != 127.0.0.0/8 fib daddr type local "
	"dnat ip to meta l4proto . th dport map @ports\n"
	"add chain " TABLE " postrouting { type nat hook postrouting priority srcnat; policy accept; }\n"
	"add rule " TABLE " postrouting meta nfproto ipv4 ip saddr @masq ip daddr != @masq masquerade\n";

static void nft_freep(struct nft_ctx **c)
{
	if (*c)
		nft_ctx_free(*c);
}

static struct nft_ctx *nft_open(void)
{
	struct nft_ctx *c = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!c)
		return NULL;
	/* Quiet: nothing of libnftables goes to our stdout/stderr; errors are read back. */
	nft_ctx_buffer_output(c);
	nft_ctx_buffer_error(c);
	return c;
}

/* Run cmds; on failure the first line of nft's error text in *err. */
static int nft_run(struct nft_ctx *c, const char *cmds, struct lc_err *err)
{
	if (nft_run_cmd_from_buffer(c, cmds) == 0)
		return 0;
	const char *e = nft_ctx_get_error_buffer(c);
	if (err) {
		size_t n = e ? strcspn(e, "\n") : 0;
		lc_err_set(err, "nftables: %.*s", (int)(n > 300 ? 300 : n), n ? e : "failed");
	}
	return -EIO;
}

static const char *proto_name(uint8_t p)
{
	return p == IPPROTO_UDP ? "udp" : "tcp";
}

static void ip_text(uint32_t a, char buf[INET_ADDRSTRLEN])
{
	uint32_t n = htonl(a);
	inet_ntop(AF_INET, &n, buf, INET_ADDRSTRLEN);
}

/* The elements of one child: its ports (with their data to add, without to delete) and its subnet. */
static int child_elements(uint32_t subnet, int prefix, uint32_t child_addr, const struct net_port *ports, size_t n_ports,
			  bool with_data, char **ret_ports, char **ret_masq)
{
	char a[INET_ADDRSTRLEN], s[INET_ADDRSTRLEN];
	size_t len = 0;
	FILE *f = open_memstream(ret_ports, &len);
	if (!f)
		return -ENOMEM;
	ip_text(child_addr, a);
	ip_text(subnet, s);
	for (size_t i = 0; i < n_ports; i++) {
		fprintf(f, "%s%s . %u", i ? ", " : "", proto_name(ports[i].proto), ports[i].host);
		if (with_data)
			fprintf(f, " : %s . %u", a, ports[i].child);
	}
	if (fclose(f) != 0)
		return -ENOMEM;
	if (asprintf(ret_masq, "%s/%d", s, prefix) < 0) {
		free(*ret_ports);
		return -ENOMEM;
	}
	return 0;
}

int nft_child_add(const char *name, uint32_t subnet, int prefix, uint32_t child_addr, const struct net_port *ports,
		  size_t n_ports, bool masq, struct lc_err *err)
{
	_cleanup_(nft_freep) struct nft_ctx *c = nft_open();
	_cleanup_free_ char *pe = NULL, *me = NULL, *cmds = NULL;
	int r;
	if (!c)
		return lc_err_ret(err, -ENOMEM, "nftables: no context");
	/* The skeleton once (callers hold the network lock, so nobody makes it twice). */
	if (nft_run(c, "list table " TABLE, NULL) < 0 && (r = nft_run(c, skeleton, err)) < 0)
		return r;
	if ((r = child_elements(subnet, prefix, child_addr, ports, n_ports, true, &pe, &me)) < 0)
		return r;
	if (asprintf(&cmds, "%s%s%s%s%s%s", masq ? "add element " TABLE " masq { " : "", masq ? me : "", masq ? " }\n" : "",
		     n_ports ? "add element " TABLE " ports { " : "", n_ports ? pe : "", n_ports ? " }\n" : "") < 0)
		return -ENOMEM;
	if (!*cmds)
		return 0;
	r = nft_run(c, cmds, err);
	if (r < 0)
		lc_err_wrap(err, "%s: forwarding", name);
	return r;
}

void nft_child_remove(uint32_t subnet, int prefix, uint32_t child_addr, const struct net_port *ports, size_t n_ports,
		      bool masq)
{
	_cleanup_(nft_freep) struct nft_ctx *c = nft_open();
	_cleanup_free_ char *pe = NULL, *me = NULL, *cmd = NULL;
	if (!c || child_elements(subnet, prefix, child_addr, ports, n_ports, false, &pe, &me) < 0)
		return;
	/* One command per element kind: a missing one (a half-done start) must not keep the other. */
	if (n_ports && asprintf(&cmd, "delete element " TABLE " ports { %s }", pe) > 0) {
		nft_run(c, cmd, NULL);
		free(TAKE_PTR(cmd));
	}
	if (masq && asprintf(&cmd, "delete element " TABLE " masq { %s }", me) > 0)
		nft_run(c, cmd, NULL);
}

void nft_table_remove(void)
{
	_cleanup_(nft_freep) struct nft_ctx *c = nft_open();
	if (c && nft_run(c, "list table " TABLE, NULL) == 0)
		nft_run(c, "delete table " TABLE, NULL);
}
