/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Port forwarding and masquerading in nftables table `inet layerctl`, and
 * nowhere else: every command names that table, so other tables (the
 * host's firewall, docker's, nspawn's io.systemd.nat) are never touched.
 *
 * The table's rules are fixed; a child adds and removes only elements of
 *
 *   map ports  proto . host port : child address . child port   (DNAT)
 *
 * so "remove this child's rules" is "delete these elements": no rule
 * handles to look up, nothing to parse back.  Masquerading needs no
 * element at all: it matches what comes in through our own interfaces
 * (vl-*, vlz-*) and leaves through another one.
 *
 * The table stays when the last child goes (empty, it matches only traffic
 * of our interfaces): a transaction that deletes anything costs the
 * closing process a kernel RCU grace period, about 10 ms here, which every
 * stop would pay.  So only children with --port delete (their elements);
 * `layerctl net gc` drops the table when no child of ours runs.
 *
 * libnftables rather than libnftnl: the same text an administrator reads
 * with `nft list table inet layerctl` is what we send, parsed and checked
 * by nft's own parser and applied as one atomic transaction per call.
 * libnftnl would have us assemble the fib/map/dnat expressions register by
 * register, the very thing a library should do for us.  The cost, well
 * under a millisecond per call, is paid only by children with a private
 * network.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <time.h>

#include "src/runner/mnl-dl.h"
#include "src/runner/nft-dl.h"
#include "src/runner/runner.h"

#define TABLE "inet layerctl"

static const char skeleton[] =
	"add table " TABLE "\n"
	"add map " TABLE " ports { type inet_proto . inet_service : ipv4_addr . inet_service; }\n"
	/* From outside: only what is addressed to one of the host's own addresses. */
	"add chain " TABLE " prerouting { type nat hook prerouting priority dstnat; policy accept; }\n"
	"add rule " TABLE " prerouting meta nfproto ipv4 fib daddr type local "
	"dnat ip to meta l4proto . th dport map @ports\n"
	/* From the host itself, to its own addresses; 127/8 would need route_localnet (as nspawn). */
	"add chain " TABLE " output { type nat hook output priority -100; policy accept; }\n"
	"add rule " TABLE " output meta nfproto ipv4 ip daddr != 127.0.0.0/8 fib daddr type local "
	"dnat ip to meta l4proto . th dport map @ports\n"
	"add chain " TABLE " postrouting { type nat hook postrouting priority srcnat; policy accept; }\n"
	"add rule " TABLE " postrouting meta nfproto ipv4 iifname \"vl*\" oifname != \"vl*\" masquerade\n";

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

/* "tcp . 8080 : 10.234.0.2 . 80, ..." (with_data: to add; without: keys, to delete). */
static char *port_elements(uint32_t child_addr, const struct net_port *ports, size_t n_ports, bool with_data)
{
	char a[INET_ADDRSTRLEN];
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	ip_text(child_addr, a);
	for (size_t i = 0; i < n_ports; i++) {
		fprintf(f, "%s%s . %u", i ? ", " : "", proto_name(ports[i].proto), ports[i].host);
		if (with_data)
			fprintf(f, " : %s . %u", a, ports[i].child);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * Is table inet layerctl there?  One NFT_MSG_GETTABLE through libmnl: a
 * child without ports needs nothing else from nftables, and a libnftables
 * context (it reads its config files and fills a cache) costs it about a
 * millisecond more.  1, 0, or -errno.
 */
static int table_exists(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE < 8192 ? MNL_SOCKET_BUFFER_SIZE : 8192];
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	int r;
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		mnl_socket_close(nl);
		return r;
	}
	struct nlmsghdr *h = mnl_nlmsg_put_header(buf);
	h->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = (unsigned)time(NULL);
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(h, sizeof(*g));
	g->nfgen_family = NFPROTO_INET;
	g->version = NFNETLINK_V0;
	mnl_attr_put_strz(h, NFTA_TABLE_NAME, "layerctl");
	unsigned seq = h->nlmsg_seq, portid = mnl_socket_get_portid(nl);
	r = mnl_socket_sendto(nl, h, h->nlmsg_len) < 0 ? -errno : 1;
	while (r == 1) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			r = -errno;
			break;
		}
		int cb = mnl_cb_run(buf, n, seq, portid, NULL, NULL);
		if (cb < 0)
			r = errno == ENOENT ? 0 : -errno;
		else if (cb == MNL_CB_STOP)
			break;   /* the table, then the ack */
	}
	mnl_socket_close(nl);
	return r;
}

int fw_child_add(const char *name, uint32_t child_addr, const struct net_port *ports, size_t n_ports, struct lc_err *err)
{
	_cleanup_(nft_freep) struct nft_ctx *c = NULL;
	_cleanup_free_ char *pe = NULL, *cmd = NULL;
	int r = table_exists();
	/* The table once (callers hold the network lock, so nobody makes it twice). */
	if (r == 1 && n_ports == 0)
		return 0;
	if (!(c = nft_open()))
		return lc_err_ret(err, -ENOMEM, "nftables: no context");
	if (r < 0)   /* could not ask: ask libnftables (the skeleton twice would double its rules) */
		r = nft_run(c, "list table " TABLE, NULL) == 0;
	if (r == 0 && (r = nft_run(c, skeleton, err)) < 0)
		return r;
	if (n_ports == 0)
		return 0;
	if (!(pe = port_elements(child_addr, ports, n_ports, true)) ||
	    asprintf(&cmd, "add element " TABLE " ports { %s }", pe) < 0)
		return -ENOMEM;
	r = nft_run(c, cmd, err);
	if (r < 0)
		lc_err_wrap(err, "%s: forwarding", name);
	return r;
}

void fw_child_remove(const struct net_port *ports, size_t n_ports)
{
	if (n_ports == 0)
		return;
	_cleanup_(nft_freep) struct nft_ctx *c = nft_open();
	_cleanup_free_ char *pe = NULL, *cmd = NULL;
	if (!c || !(pe = port_elements(0, ports, n_ports, false)))
		return;
	if (asprintf(&cmd, "delete element " TABLE " ports { %s }", pe) > 0)
		nft_run(c, cmd, NULL);   /* missing (a half-done start): nothing to do */
}

/* Only when its map is empty: another store's children (records of their own) may still forward ports. */
void fw_table_remove(void)
{
	_cleanup_(nft_freep) struct nft_ctx *c = nft_open();
	if (!c || nft_run(c, "list map " TABLE " ports", NULL) < 0)
		return;
	const char *out = nft_ctx_get_output_buffer(c);
	if (out && !strstr(out, "elements"))
		nft_run(c, "delete table " TABLE, NULL);
}
