// SPDX-License-Identifier: MIT

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <string>

#include "base/net_address.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

namespace {

IpAddress ip(const char *text)
{
	const std::optional<IpAddress> address = IpAddress::parse(text);
	if (!address)
		FAIL((std::string("not an address: ") + text).c_str());
	return *address;
}

IpPrefix prefix(const char *text)
{
	const std::optional<IpPrefix> parsed = IpPrefix::parse(text);
	if (!parsed)
		FAIL((std::string("not a prefix: ") + text).c_str());
	return *parsed;
}

} // namespace

TEST_GROUP(NetAddress){};

TEST(NetAddress, parsesAndPrintsIpv4AndIpv6)
{
	STRCMP_EQUAL("192.0.2.1", ip("192.0.2.1").toString().c_str());
	CHECK_TRUE(ip("192.0.2.1").isV4());
	STRCMP_EQUAL("2001:db8::1", ip("2001:DB8:0:0::1").toString().c_str());
	CHECK_FALSE(ip("2001:db8::1").isV4());
	STRCMP_EQUAL("2001:db8::1", ip("[2001:db8::1]").toString().c_str());
	STRCMP_EQUAL("::1", ip("::1").toString().c_str());
}

TEST(NetAddress, anIpv4MappedAddressIsTheIpv4Address)
{
	CHECK_TRUE(ip("::ffff:192.0.2.1") == ip("192.0.2.1"));
	CHECK_TRUE(ip("::ffff:192.0.2.1").isV4());
	STRCMP_EQUAL("192.0.2.1", ip("::ffff:192.0.2.1").toString().c_str());
	// IPv4-compatible (::a.b.c.d) and NAT64 addresses are IPv6 addresses.
	CHECK_FALSE(ip("::192.0.2.1").isV4());
	CHECK_FALSE(ip("64:ff9b::192.0.2.1").isV4());
}

TEST(NetAddress, refusesWhatIsNotAnAddress)
{
	for (const char *text :
	     {"", "192.0.2", "192.0.2.256", "192.0.2.1 ", " 192.0.2.1", "192.0.2.1:5060",
	      "[192.0.2.1]x", "2001:db8::1%eth0", "2001:db8:::1", "pbx.example.com", "[2001:db8::1",
	      "01.02.03.04x"}) {
		CHECK_FALSE_TEXT(IpAddress::parse(text).has_value(), text);
	}
}

TEST(NetAddress, readsSocketAddressesOfBothFamilies)
{
	sockaddr_in in{};
	in.sin_family = AF_INET;
	inet_pton(AF_INET, "198.51.100.7", &in.sin_addr);
	std::optional<IpAddress> v4 = IpAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&in));
	CHECK_TRUE(v4 == ip("198.51.100.7"));

	sockaddr_in6 in6{};
	in6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:198.51.100.7", &in6.sin6_addr);
	std::optional<IpAddress> mapped = IpAddress::fromSockaddr(
		reinterpret_cast<sockaddr *>(&in6));
	CHECK_TRUE(mapped == ip("198.51.100.7"));

	inet_pton(AF_INET6, "2001:db8::5", &in6.sin6_addr);
	CHECK_TRUE(IpAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&in6)) ==
		   ip("2001:db8::5"));

	sockaddr_un un{};
	un.sun_family = AF_UNIX;
	CHECK_FALSE(IpAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&un)).has_value());
	CHECK_FALSE(IpAddress::fromSockaddr(nullptr).has_value());
}

TEST(NetAddress, givesThePortOfASocketAddressOnlyWhenItReadsOne)
{
	sockaddr_in in{};
	in.sin_family = AF_INET;
	in.sin_port = htons(5060);
	inet_pton(AF_INET, "198.51.100.7", &in.sin_addr);
	std::uint16_t port = 0;
	CHECK_TRUE(IpAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&in), &port).has_value());
	CHECK_EQUAL(5060, port);

	sockaddr_in6 in6{};
	in6.sin6_family = AF_INET6;
	in6.sin6_port = htons(5070);
	inet_pton(AF_INET6, "2001:db8::5", &in6.sin6_addr);
	CHECK_TRUE(IpAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&in6), &port) ==
		   ip("2001:db8::5"));
	CHECK_EQUAL(5070, port);

	sockaddr_un un{};
	un.sun_family = AF_UNIX;
	port = 1;
	CHECK_FALSE(IpAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&un), &port).has_value());
	CHECK_EQUAL(1, port);
}

TEST(NetAddress, isRebuiltFromItsBytes)
{
	for (const char *text : {"192.0.2.1", "2001:db8::5", "::"})
		CHECK_TEXT(IpAddress::fromBytes(ip(text).bytes()) == ip(text), text);
	CHECK_TRUE(IpAddress::fromBytes(ip("::ffff:192.0.2.1").bytes()).isV4());
}

TEST(NetAddress, writesEveryIpv4AddressAsInetNtopDoes)
{
	// Every value in every position, and the ends of the range.
	for (unsigned position = 0; position < 4; ++position) {
		for (unsigned value = 0; value < 256; ++value) {
			std::uint8_t v4[4] = {192, 0, 2, 1};
			v4[position] = static_cast<std::uint8_t>(value);
			char expected[INET_ADDRSTRLEN] = "";
			inet_ntop(AF_INET, v4, expected, sizeof(expected));
			STRCMP_EQUAL(expected, IpAddress::fromV4(v4).toString().c_str());
		}
	}
	const std::uint8_t zero[4] = {0, 0, 0, 0};
	const std::uint8_t ones[4] = {255, 255, 255, 255};
	STRCMP_EQUAL("0.0.0.0", IpAddress::fromV4(zero).toString().c_str());
	STRCMP_EQUAL("255.255.255.255", IpAddress::fromV4(ones).toString().c_str());
}

TEST(NetAddress, ipv4PrefixesMatchTheirNetworkOnly)
{
	const IpPrefix net = prefix("192.0.2.0/24");
	CHECK_TRUE(net.contains(ip("192.0.2.0")));
	CHECK_TRUE(net.contains(ip("192.0.2.255")));
	CHECK_TRUE(net.contains(ip("::ffff:192.0.2.9")));
	CHECK_FALSE(net.contains(ip("192.0.3.0")));
	CHECK_FALSE(net.contains(ip("::192.0.2.9")));
	CHECK_FALSE(net.contains(ip("2001:db8::1")));

	const IpPrefix odd = prefix("10.0.0.0/9");
	CHECK_TRUE(odd.contains(ip("10.127.255.255")));
	CHECK_FALSE(odd.contains(ip("10.128.0.0")));
}

TEST(NetAddress, ipv6PrefixesMatchTheirNetworkOnly)
{
	const IpPrefix net = prefix("2001:db8:ab00::/40");
	CHECK_TRUE(net.contains(ip("2001:db8:abff:ffff::1")));
	CHECK_FALSE(net.contains(ip("2001:db8:ac00::1")));
	CHECK_FALSE(net.contains(ip("192.0.2.1")));
	const IpPrefix odd = prefix("2001:db8::/33");
	CHECK_TRUE(odd.contains(ip("2001:db8:7fff::1")));
	CHECK_FALSE(odd.contains(ip("2001:db8:8000::1")));
}

TEST(NetAddress, aZeroLengthPrefixHoldsItsWholeFamily)
{
	const IpPrefix v4 = prefix("0.0.0.0/0");
	CHECK_TRUE(v4.contains(ip("203.0.113.5")));
	CHECK_FALSE(v4.contains(ip("2001:db8::1")));
	const IpPrefix v6 = prefix("::/0");
	CHECK_TRUE(v6.contains(ip("2001:db8::1")));
	// ::/0 is every IPv6 address, and so also holds the IPv4-mapped ones.
	CHECK_TRUE(v6.contains(ip("203.0.113.5")));
}

TEST(NetAddress, aSingleAddressIsAFullLengthPrefix)
{
	const IpPrefix one = prefix("192.0.2.7");
	LONGS_EQUAL(32, one.length());
	CHECK_TRUE(one.contains(ip("192.0.2.7")));
	CHECK_FALSE(one.contains(ip("192.0.2.6")));
	STRCMP_EQUAL("192.0.2.7", one.toString().c_str());
	STRCMP_EQUAL("2001:db8::7", prefix("[2001:db8::7]").toString().c_str());
	LONGS_EQUAL(128, prefix("2001:db8::7").length());
}

TEST(NetAddress, hostBitsAreClearedAndTheLengthKeptInTheOwnFamily)
{
	STRCMP_EQUAL("192.0.2.0/24", prefix("192.0.2.77/24").toString().c_str());
	LONGS_EQUAL(24, prefix("192.0.2.77/24").length());
	STRCMP_EQUAL("2001:db8::/32", prefix("2001:db8:1:2::3/32").toString().c_str());
	// Written in IPv6 bits over the mapped range: the same IPv4 prefix.
	CHECK_TRUE(prefix("::ffff:192.0.2.0/120") == prefix("192.0.2.0/24"));
}

TEST(NetAddress, refusesBadPrefixes)
{
	for (const char *text :
	     {"192.0.2.0/33", "192.0.2.0/", "192.0.2.0/-1", "192.0.2.0/+8", "192.0.2.0/24/8",
	      "192.0.2.0/ 24", "2001:db8::/129", "2001:db8::/0x10", "/24", "::ffff:192.0.2.0/95",
	      "pbx/24", "192.0.2.0/0024"}) {
		CHECK_FALSE_TEXT(IpPrefix::parse(text).has_value(), text);
	}
}

TEST(NetAddress, readsATrustedListOfAddressesPrefixesAndNames)
{
	const TrustedSources parsed = parseTrustedSources(
		" 192.0.2.1 ,2001:db8::/48, Pbx.Example.com.,[::1] ");
	LONGS_EQUAL(0, parsed.errors.size());
	LONGS_EQUAL(4, parsed.sources.size());
	CHECK_TRUE(parsed.sources[0].prefix == prefix("192.0.2.1"));
	CHECK_TRUE(parsed.sources[1].prefix == prefix("2001:db8::/48"));
	STRCMP_EQUAL("pbx.example.com.", parsed.sources[2].name.c_str());
	STRCMP_EQUAL("::1", parsed.sources[3].toString().c_str());
	CHECK_TRUE(parseTrustedSources("").sources.empty());
	CHECK_TRUE(parseTrustedSources(" \t").errors.empty());
}

TEST(NetAddress, reportsEachBadTrustedEntry)
{
	const TrustedSources parsed = parseTrustedSources("1.2.3.4.5,a..b,,pbx:5060,ok.example");
	LONGS_EQUAL(4, parsed.errors.size());
	STRCMP_EQUAL("invalid address or prefix", parsed.errors[0].reason.c_str());
	STRCMP_EQUAL("1.2.3.4.5", parsed.errors[0].entry.c_str());
	CHECK_TRUE(parsed.errors[0].invalid);
	STRCMP_EQUAL("invalid host name", parsed.errors[1].reason.c_str());
	STRCMP_EQUAL("empty entry in", parsed.errors[2].reason.c_str());
	CHECK_FALSE(parsed.errors[2].invalid);
	STRCMP_EQUAL("pbx:5060", parsed.errors[3].entry.c_str());
	LONGS_EQUAL(1, parsed.sources.size());
}

TEST(NetAddress, theHostPartOfHostPort)
{
	STRCMP_EQUAL("pbx.example.com", std::string(hostPart("pbx.example.com:5060")).c_str());
	STRCMP_EQUAL("pbx.example.com", std::string(hostPart("pbx.example.com")).c_str());
	STRCMP_EQUAL("192.0.2.1", std::string(hostPart("192.0.2.1:5070")).c_str());
	STRCMP_EQUAL("[2001:db8::1]", std::string(hostPart("[2001:db8::1]:5060")).c_str());
	STRCMP_EQUAL("2001:db8::1", std::string(hostPart("2001:db8::1")).c_str());
}
