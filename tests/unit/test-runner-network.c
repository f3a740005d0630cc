/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The network plan's parsers and host-side names (src/runner/network.c); the links themselves: test-network.sh. */
#include <netinet/in.h>

#include "src/runner/runner.h"
#include "tests/unit/test.h"

TEST(port_syntax_is_nspawns)
{
	struct net_port p;
	CHECK_INT(runner_port_parse("8080", &p), 0);
	CHECK_INT(p.proto, IPPROTO_TCP);
	CHECK_INT(p.host, 8080);
	CHECK_INT(p.child, 8080);
	CHECK_INT(runner_port_parse("udp:53:5353", &p), 0);
	CHECK_INT(p.proto, IPPROTO_UDP);
	CHECK_INT(p.host, 53);
	CHECK_INT(p.child, 5353);
	CHECK_INT(runner_port_parse("tcp:8080:80", &p), 0);
	CHECK_INT(p.child, 80);
	const char *bad[] = { "", "tcp:", "0", "65536", "sctp:80", "80:", ":80", "80:90:100", "-1", "+80", "8o", "tcp:80:0" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(runner_port_parse(bad[i], &p), -EINVAL);
}

TEST(pool_is_a_subnet_with_host_bits_zero)
{
	uint32_t a;
	int len;
	CHECK_INT(runner_cidr_parse("10.234.0.0/16", &a, &len), 0);
	CHECK_INT(a, 0x0aea0000);
	CHECK_INT(len, 16);
	CHECK_INT(runner_cidr_parse("10.234.0.1/16", &a, &len), -EINVAL);
	CHECK_INT(runner_cidr_parse("10.234.0.0/31", &a, &len), -EINVAL);
	CHECK_INT(runner_cidr_parse("10.234.0.0", &a, &len), -EINVAL);
	CHECK_INT(runner_cidr_parse("10.234.0.0/x", &a, &len), -EINVAL);
	CHECK_INT(runner_cidr_parse("fd00::/64", &a, &len), -EINVAL);
}

TEST(host_side_names_fit_and_differ)
{
	char a[16], b[16];
	runner_network_ifname("vl-", "web", a);
	CHECK_STREQ(a, "vl-web");
	runner_network_ifname("vl-", "abcdefghijkl", a);   /* exactly 15 */
	CHECK_STREQ(a, "vl-abcdefghijkl");
	runner_network_ifname("vl-", "webserver-production-one", a);
	runner_network_ifname("vl-", "webserver-production-two", b);
	CHECK_INT(strlen(a), 15);
	CHECK_INT(strlen(b), 15);
	CHECK(strcmp(a, b) != 0);
	CHECK(strncmp(a, "vl-webse-", 9) == 0);
	/* Stable: the same child gets the same name every time. */
	runner_network_ifname("vl-", "webserver-production-one", b);
	CHECK_STREQ(a, b);
}

TEST(zone_names)
{
	CHECK(runner_zone_name_ok("lab"));
	CHECK(runner_zone_name_ok("a-b_c.d"));
	CHECK(!runner_zone_name_ok(""));
	CHECK(!runner_zone_name_ok("a/b"));
	CHECK(!runner_zone_name_ok("a b"));
}

TEST_MAIN()
