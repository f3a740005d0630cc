/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rtnetlink through libmnl: the few link, address and route requests a
 * container's network needs.  libmnl only frames and parses messages (no
 * object cache, no daemon): every request here is one message and one ack,
 * which is what keeps a veth start in the low milliseconds.  A socket
 * belongs to the network namespace it was made in: network.c makes one
 * inside the container's namespace for the container's side.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <time.h>

#include "src/runner/mnl-dl.h"
#include "src/runner/runner.h"

struct nl {
	struct mnl_socket *sock;
	unsigned portid;
	unsigned seq;
	char buf[32768];   /* MNL_SOCKET_BUFFER_SIZE is not a constant; a dump of many links needs room */
};

int nl_open(struct nl **ret)
{
	struct nl *nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->sock || mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;
		if (nl->sock)
			mnl_socket_close(nl->sock);
		free(nl);
		return -e;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (unsigned)time(NULL);
	*ret = nl;
	return 0;
}

void nl_close(struct nl *nl)
{
	if (!nl)
		return;
	mnl_socket_close(nl->sock);
	free(nl);
}

static struct nlmsghdr *nl_msg(struct nl *nl, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *h = mnl_nlmsg_put_header(nl->buf);
	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST | flags;
	h->nlmsg_seq = ++nl->seq;
	return h;
}

/* Send h and read the answer until its ack (or, for a dump, its end), calling cb on each message. */
static int nl_call(struct nl *nl, struct nlmsghdr *h, mnl_cb_t cb, void *data)
{
	unsigned seq = h->nlmsg_seq;
	/* NLM_F_EXCL shares its bit with NLM_F_MATCH: only a GET is a dump (RTM_GET* are 2 mod 4). */
	bool dump = (h->nlmsg_type & 3) == 2 && (h->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
	if (!dump)
		h->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nl->sock, h, h->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->buf, sizeof(nl->buf));
		if (n < 0)
			return -errno;
		int r = mnl_cb_run(nl->buf, n, seq, nl->portid, cb, data);
		if (r < 0)
			return -errno;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

static struct ifinfomsg *put_ifinfo(struct nlmsghdr *h, int index)
{
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	return ifi;
}

int nl_link_index(struct nl *nl, const char *name)
{
	unsigned idx = if_nametoindex(name);
	if (idx == 0)
		return errno == ENXIO || errno == ENODEV ? -ENODEV : -errno;
	return (int)idx;
}

struct kind_query {
	const char *want;
	int found;
};

static int link_kind_attr(const struct nlattr *a, void *data)
{
	struct kind_query *q = data;
	if (mnl_attr_get_type(a) == IFLA_INFO_KIND && mnl_attr_validate(a, MNL_TYPE_STRING) >= 0)
		q->found = STREQ(mnl_attr_get_str(a), q->want);
	return MNL_CB_OK;
}

static int link_kind_cb(const struct nlmsghdr *h, void *data)
{
	struct nlattr *a;
	mnl_attr_for_each(a, h, sizeof(struct ifinfomsg))
		if (mnl_attr_get_type(a) == IFLA_LINKINFO)
			mnl_attr_parse_nested(a, link_kind_attr, data);
	return MNL_CB_OK;
}

int nl_link_kind_is(struct nl *nl, const char *name, const char *kind)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_GETLINK, 0);
	struct kind_query q = { kind, 0 };
	put_ifinfo(h, 0);
	mnl_attr_put_strz(h, IFLA_IFNAME, name);
	int r = nl_call(nl, h, link_kind_cb, &q);
	return r < 0 ? r : q.found;
}

/* The start of an RTM_NEWLINK that creates NAME (the caller adds its IFLA_LINKINFO). */
static struct nlmsghdr *newlink(struct nl *nl, const char *name)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	put_ifinfo(h, 0);
	mnl_attr_put_strz(h, IFLA_IFNAME, name);
	return h;
}

/*
 * The pair is made with its peer already in the container's namespace (the
 * peer's IFLA_NET_NS_PID): no moment where host0 sits in the host's.
 */
int nl_veth_create(struct nl *nl, const char *host, const char *peer, pid_t peer_pid)
{
	struct nlmsghdr *h = newlink(nl, host);
	struct nlattr *info = mnl_attr_nest_start(h, IFLA_LINKINFO);
	mnl_attr_put_strz(h, IFLA_INFO_KIND, "veth");
	struct nlattr *data = mnl_attr_nest_start(h, IFLA_INFO_DATA);
	struct nlattr *p = mnl_attr_nest_start(h, VETH_INFO_PEER);
	/* The peer's attributes follow an ifinfomsg of their own. */
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(h, IFLA_IFNAME, peer);
	mnl_attr_put_u32(h, IFLA_NET_NS_PID, (uint32_t)peer_pid);
	mnl_attr_nest_end(h, p);
	mnl_attr_nest_end(h, data);
	mnl_attr_nest_end(h, info);
	return nl_call(nl, h, NULL, NULL);
}

int nl_bridge_create(struct nl *nl, const char *name)
{
	struct nlmsghdr *h = newlink(nl, name);
	struct nlattr *info = mnl_attr_nest_start(h, IFLA_LINKINFO);
	mnl_attr_put_strz(h, IFLA_INFO_KIND, "bridge");
	mnl_attr_nest_end(h, info);
	return nl_call(nl, h, NULL, NULL);
}

int nl_link_delete(struct nl *nl, const char *name)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_DELLINK, 0);
	put_ifinfo(h, 0);
	mnl_attr_put_strz(h, IFLA_IFNAME, name);
	return nl_call(nl, h, NULL, NULL);
}

int nl_link_up(struct nl *nl, int ifindex)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = put_ifinfo(h, ifindex);
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	return nl_call(nl, h, NULL, NULL);
}

int nl_link_down(struct nl *nl, int ifindex)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = put_ifinfo(h, ifindex);
	ifi->ifi_change = IFF_UP;
	return nl_call(nl, h, NULL, NULL);
}

int nl_link_rename(struct nl *nl, int ifindex, const char *name)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_NEWLINK, 0);
	put_ifinfo(h, ifindex);
	mnl_attr_put_strz(h, IFLA_IFNAME, name);
	return nl_call(nl, h, NULL, NULL);
}

int nl_link_set_master(struct nl *nl, int ifindex, int master)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_NEWLINK, 0);
	put_ifinfo(h, ifindex);
	mnl_attr_put_u32(h, IFLA_MASTER, (uint32_t)master);
	return nl_call(nl, h, NULL, NULL);
}

/* The full name, findable with `ip link show ALT`, when the 15-byte one had to be shortened. */
int nl_link_add_altname(struct nl *nl, int ifindex, const char *alt)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_NEWLINKPROP, NLM_F_EXCL | NLM_F_APPEND);
	put_ifinfo(h, ifindex);
	struct nlattr *list = mnl_attr_nest_start(h, IFLA_PROP_LIST);
	mnl_attr_put_strz(h, IFLA_ALT_IFNAME, alt);
	mnl_attr_nest_end(h, list);
	return nl_call(nl, h, NULL, NULL);
}

/* The link's ifalias: layerctl marks what it made, so it never removes an interface of someone else's. */
int nl_link_set_alias(struct nl *nl, int ifindex, const char *alias)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_NEWLINK, 0);
	put_ifinfo(h, ifindex);
	mnl_attr_put_strz(h, IFLA_IFALIAS, alias);
	return nl_call(nl, h, NULL, NULL);
}

struct alias_query {
	const char *want;
	int match;
};

static int alias_cb(const struct nlmsghdr *h, void *data)
{
	struct alias_query *q = data;
	struct nlattr *a;
	mnl_attr_for_each(a, h, sizeof(struct ifinfomsg))
		if (mnl_attr_get_type(a) == IFLA_IFALIAS && mnl_attr_validate(a, MNL_TYPE_STRING) >= 0)
			q->match = STREQ(mnl_attr_get_str(a), q->want);
	return MNL_CB_OK;
}

int nl_link_alias_is(struct nl *nl, const char *name, const char *alias)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_GETLINK, 0);
	struct alias_query q = { alias, 0 };
	put_ifinfo(h, 0);
	mnl_attr_put_strz(h, IFLA_IFNAME, name);
	int r = nl_call(nl, h, alias_cb, &q);
	return r < 0 ? r : q.match;
}

int nl_addr_add(struct nl *nl, int ifindex, uint32_t addr, int prefix)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(h, sizeof(*ifa));
	uint32_t a = htonl(addr);
	uint32_t brd = htonl(prefix < 31 ? addr | (0xffffffffu >> prefix) : 0);
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_index = (unsigned)ifindex;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	mnl_attr_put_u32(h, IFA_LOCAL, a);
	mnl_attr_put_u32(h, IFA_ADDRESS, a);
	if (brd)
		mnl_attr_put_u32(h, IFA_BROADCAST, brd);
	return nl_call(nl, h, NULL, NULL);
}

int nl_route_add_default(struct nl *nl, uint32_t gw)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
	struct rtmsg *rt = mnl_nlmsg_put_extra_header(h, sizeof(*rt));
	rt->rtm_family = AF_INET;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_STATIC;
	rt->rtm_scope = RT_SCOPE_UNIVERSE;
	rt->rtm_type = RTN_UNICAST;
	mnl_attr_put_u32(h, RTA_GATEWAY, htonl(gw));
	return nl_call(nl, h, NULL, NULL);
}

struct route_walk {
	int (*cb)(uint32_t dst, int len, void *data);
	void *data;
	int stopped;
};

static int route_cb(const struct nlmsghdr *h, void *data)
{
	struct route_walk *w = data;
	struct rtmsg *rt = mnl_nlmsg_get_payload(h);
	uint32_t dst = 0, table = rt->rtm_table;
	struct nlattr *a;
	mnl_attr_for_each(a, h, sizeof(*rt)) {
		if (mnl_attr_get_type(a) == RTA_DST)
			dst = ntohl(mnl_attr_get_u32(a));
		else if (mnl_attr_get_type(a) == RTA_TABLE)
			table = mnl_attr_get_u32(a);
	}
	/* The default route routes everything; what counts is a subnet someone already uses. */
	if (table != RT_TABLE_MAIN || rt->rtm_dst_len == 0 || w->stopped)
		return MNL_CB_OK;
	w->stopped = w->cb(dst, rt->rtm_dst_len, w->data);
	return MNL_CB_OK;
}

int nl_route_each(struct nl *nl, int (*cb)(uint32_t dst, int len, void *data), void *data)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_GETROUTE, NLM_F_DUMP);
	struct rtmsg *rt = mnl_nlmsg_put_extra_header(h, sizeof(*rt));
	struct route_walk w = { cb, data, 0 };
	rt->rtm_family = AF_INET;
	return nl_call(nl, h, route_cb, &w);
}
