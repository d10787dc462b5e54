// SPDX-License-Identifier: MIT
//
// Tests of common/base/source_address.hpp: a request's source as the guard, the TCP
// guard and the logs see it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <string>

#include "base/source_address.hpp"

#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

TEST_GROUP(Source){};

TEST(Source, remoteNamesTheTransportAddressAndPort)
{
	auto v4 = SourceAddress::fromText("192.0.2.1", 5060);
	STRCMP_EQUAL("udp:192.0.2.1:5060", v4->remote.c_str());
	auto v6 = SourceAddress::fromText("2001:db8::1", 5070, Transport::Tcp);
	STRCMP_EQUAL("tcp:[2001:db8::1]:5070", v6->remote.c_str());
	auto mapped = SourceAddress::fromText("::ffff:192.0.2.1", 1);
	STRCMP_EQUAL("192.0.2.1", mapped->ip.c_str());
	CHECK_FALSE(SourceAddress::fromText("example.com", 1).has_value());
	auto tls = SourceAddress::fromText("192.0.2.1", 5061, Transport::Tls);
	STRCMP_EQUAL("tls:192.0.2.1:5061", tls->remote.c_str());
	auto wss = SourceAddress::fromText("2001:db8::1", 443, Transport::Wss);
	STRCMP_EQUAL("wss:[2001:db8::1]:443", wss->remote.c_str());
}

TEST(Source, transportNamesRoundTripAndOnlyUdpIsConnectionless)
{
	for (Transport transport :
	     {Transport::Udp, Transport::Tcp, Transport::Tls, Transport::Ws, Transport::Wss}) {
		const std::string_view name = transportName(transport);
		CHECK_EQUAL(transport, parseTransport(name));
		CHECK_EQUAL(transport != Transport::Udp, isConnection(transport));
	}
	STRCMP_EQUAL("wss", std::string(transportName(Transport::Wss)).c_str());
	CHECK_FALSE(parseTransport("sctp").has_value());
	CHECK_FALSE(parseTransport("").has_value());
}

TEST(Source, readsSocketAddressesOfBothFamiliesAndAMappedOneAsIpv4)
{
	sockaddr_in in{};
	in.sin_family = AF_INET;
	in.sin_port = htons(5060);
	inet_pton(AF_INET, "192.0.2.1", &in.sin_addr);
	auto v4 = SourceAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&in), Transport::Udp);
	CHECK_TRUE(v4.has_value());
	STRCMP_EQUAL("192.0.2.1", v4->ip.c_str());
	STRCMP_EQUAL("udp:192.0.2.1:5060", v4->remote.c_str());
	CHECK_EQUAL(5060, v4->port);
	CHECK_EQUAL(Transport::Udp, v4->transport);
	STRCMP_EQUAL("192.0.2.1", v4->prefix.toString().c_str());

	// An IPv4 peer on an IPv6 socket: the same source in every form.
	sockaddr_in6 in6{};
	in6.sin6_family = AF_INET6;
	in6.sin6_port = htons(5061);
	inet_pton(AF_INET6, "::ffff:192.0.2.1", &in6.sin6_addr);
	auto mapped = SourceAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&in6),
						  Transport::Tcp);
	CHECK_TRUE(mapped.has_value());
	STRCMP_EQUAL("192.0.2.1", mapped->ip.c_str());
	STRCMP_EQUAL("tcp:192.0.2.1:5061", mapped->remote.c_str());
	CHECK_EQUAL(5061, mapped->port);
	CHECK_EQUAL(Transport::Tcp, mapped->transport);
	CHECK_TRUE(mapped->address == v4->address);
	CHECK_TRUE(mapped->prefix == v4->prefix);

	inet_pton(AF_INET6, "2001:db8:1:2::1234", &in6.sin6_addr);
	auto v6 = SourceAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&in6), Transport::Udp);
	CHECK_TRUE(v6.has_value());
	STRCMP_EQUAL("2001:db8:1:2::1234", v6->ip.c_str());
	STRCMP_EQUAL("udp:[2001:db8:1:2::1234]:5061", v6->remote.c_str());
	STRCMP_EQUAL("2001:db8:1:2::/64", v6->prefix.toString().c_str());

	sockaddr_un un{};
	un.sun_family = AF_UNIX;
	CHECK_FALSE(SourceAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&un), Transport::Udp));
	CHECK_FALSE(SourceAddress::fromSockaddr(nullptr, Transport::Udp));
}

TEST(Source, isTheAddressTheSourceFilterReads)
{
	for (const char *text : {"192.0.2.1", "::ffff:192.0.2.1", "2001:db8::1", "::1"}) {
		auto source = SourceAddress::fromText(text, 5060);
		CHECK_TRUE_TEXT(source.has_value(), text);
		CHECK_TEXT(source->address == *IpAddress::parse(text), text);
		STRCMP_EQUAL(IpAddress::parse(text)->toString().c_str(), source->ip.c_str());
	}
}

TEST(Source, aPrefixReadsBackFromItsText)
{
	const char *texts[] = {"192.0.2.1", "2001:db8:1:2::/64", "::/64",
			       "fe80::/64", "0.0.0.0",           "255.255.255.255"};
	for (const char *text : texts) {
		std::optional<SourcePrefix> prefix = SourcePrefix::parse(text);
		CHECK_TRUE_TEXT(prefix.has_value(), text);
		STRCMP_EQUAL(text, prefix->toString().c_str());
		CHECK_TEXT(SourcePrefix::parse(prefix->toString()) == prefix, text);
	}
	// Every address of a /64 is that /64; two /64s are two prefixes.
	CHECK_TRUE(SourcePrefix::parse("2001:db8:1:2::1") ==
		   SourcePrefix::parse("2001:db8:1:2:ffff:ffff:ffff:ffff"));
	CHECK_FALSE(SourcePrefix::parse("2001:db8:1:2::1") ==
		    SourcePrefix::parse("2001:db8:1:3::1"));
}

TEST(Source, takesAddressesAndSlash64sWrittenBareOnly)
{
	// IpAddress::parse takes brackets and other lengths; a source does not.
	CHECK_FALSE(SourceAddress::fromText("[2001:db8::1]", 5060).has_value());
	CHECK_FALSE(SourcePrefix::parse("[2001:db8::1]").has_value());
	CHECK_FALSE(SourcePrefix::parse("2001:db8::/48").has_value());
	CHECK_FALSE(SourcePrefix::parse("192.0.2.0/24").has_value());
}
