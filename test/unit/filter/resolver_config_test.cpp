// SPDX-License-Identifier: MIT

#include <string>
#include <vector>

#include "filter/resolver_config.hpp"

#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

namespace {

DnsServer server(const char *address, std::uint16_t port = 53)
{
	return {*IpAddress::parse(address), port};
}

} // namespace

TEST_GROUP(ResolverConfig){};

TEST(ResolverConfig, nameserversPortAndOptionsAreRead)
{
	const ResolverConfig config = parseResolverConfig(
		"# written by the DHCP client\n"
		"search example.com\n"
		"nameserver 192.0.2.53\n"
		"nameserver  2001:db8::53 ; the v6 one\n"
		"port 5353\n"
		"options ndots:2 timeout:2 attempts:4 rotate\n");
	CHECK(config.servers ==
	      (std::vector<DnsServer>{server("192.0.2.53", 5353), server("2001:db8::53", 5353)}));
	LONGS_EQUAL(2, config.timeoutS);
	LONGS_EQUAL(4, config.attempts);
	CHECK(config.rotate);
	CHECK_EQUAL(Edns::On, config.edns);
}

TEST(ResolverConfig, withoutANameserverTheLocalOneIsAsked)
{
	for (const char *text : {"", "search example.com\n", "nameserver not-an-address\n",
				 "# nameserver 192.0.2.1\n"}) {
		const ResolverConfig config = parseResolverConfig(text);
		CHECK_TEXT(config.servers == std::vector<DnsServer>{server("127.0.0.1")}, text);
		LONGS_EQUAL(1, config.timeoutS);
		LONGS_EQUAL(3, config.attempts);
		CHECK_FALSE(config.rotate);
	}
}

TEST(ResolverConfig, atMostThreeServersAndNoZoneIndex)
{
	const ResolverConfig config = parseResolverConfig("nameserver fe80::1%eth0\n"
							  "nameserver 192.0.2.1\n"
							  "nameserver 192.0.2.2\n"
							  "nameserver 192.0.2.3\n"
							  "nameserver 192.0.2.4\n");
	CHECK(config.servers == (std::vector<DnsServer>{server("192.0.2.1"), server("192.0.2.2"),
							server("192.0.2.3")}));
}

TEST(ResolverConfig, theEnvironmentOverridesTheFileAndSresOptionsComeLast)
{
	const ResolverConfig config = parseResolverConfig(
		"nameserver 192.0.2.1\noptions timeout:4 no-edns0\n", "timeout:3 rotate",
		"attempts:1 no-rotate edns0");
	LONGS_EQUAL(3, config.timeoutS);
	LONGS_EQUAL(1, config.attempts);
	CHECK_FALSE(config.rotate);
	CHECK_EQUAL(Edns::On, config.edns);
	CHECK_EQUAL(Edns::Off, parseResolverConfig("options no-edns0").edns);
}

TEST(ResolverConfig, valuesOutsideTheirRangeAreClampedAndBadOnesIgnored)
{
	ResolverConfig config = parseResolverConfig("options timeout:0 attempts:99\nport 0\n");
	LONGS_EQUAL(1, config.timeoutS);
	LONGS_EQUAL(5, config.attempts);
	LONGS_EQUAL(53, config.servers[0].port);
	config = parseResolverConfig("options timeout:999 attempts:x timeout:\nport 65536\n");
	LONGS_EQUAL(30, config.timeoutS);
	LONGS_EQUAL(3, config.attempts);
	LONGS_EQUAL(53, config.servers[0].port);
}

TEST(ResolverConfig, aQueryGoesRoundTheServersWaitingTwiceAsLongEachRound)
{
	const ResolverConfig config = parseResolverConfig("nameserver 192.0.2.1\n"
							  "nameserver 192.0.2.2\n"
							  "options attempts:3\n");
	LONGS_EQUAL(6, config.sends());
	CHECK(config.serverFor(0, 0) == server("192.0.2.1"));
	CHECK(config.serverFor(1, 0) == server("192.0.2.2"));
	CHECK(config.serverFor(2, 0) == server("192.0.2.1"));
	CHECK(config.serverFor(0, 1) == server("192.0.2.2"));
	LONGS_EQUAL(1000, config.waitAfterMs(0));
	LONGS_EQUAL(1000, config.waitAfterMs(1));
	LONGS_EQUAL(2000, config.waitAfterMs(2));
	LONGS_EQUAL(4000, config.waitAfterMs(5));
}
