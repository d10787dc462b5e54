// SPDX-License-Identifier: MIT

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <string>
#include <string_view>
#include <vector>

#include "source.hpp"
#include "text.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

TEST_GROUP(Text){};

TEST(Text, validUtf8PassesUnchanged)
{
	STRCMP_EQUAL("Grünstadt PBX ☎", toValidUtf8("Grünstadt PBX ☎", 256).c_str());
}

TEST(Text, latin1BytesBecomeReplacementCharacters)
{
	// Finding 4: "Gr\xfcnstadt PBX" as a Latin-1 PBX sends it.
	STRCMP_EQUAL("Gr\xef\xbf\xbdnstadt PBX", toValidUtf8("Gr\xfcnstadt PBX", 256).c_str());
}

TEST(Text, formsDBusRefusesAreReplaced)
{
	// Overlong '/', a surrogate, past U+10FFFF, a truncated sequence, NUL.
	std::string bad = "\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x98|";
	bad += '\0';
	std::string out = toValidUtf8(bad, 256);
	CHECK_TRUE(out.find('\0') == std::string::npos);
	CHECK_TRUE(out.find("\xc0") == std::string::npos);
	CHECK_TRUE(out.find("\xed\xa0") == std::string::npos);
	CHECK_TRUE(out.find("\xf4\x90") == std::string::npos);
	CHECK_TRUE(out.starts_with("\xef\xbf\xbd"));
}

TEST(Text, aCutFallsOnACharacterBoundary)
{
	std::string out = toValidUtf8("aé☎", 4); // 1 + 2 + 3 bytes
	STRCMP_EQUAL("aé", out.c_str());
	LONGS_EQUAL(3, toValidUtf8(std::string(100, 'x'), 3).size());
}

TEST(Text, printableKeepsALogLineOneLineAndItsQuotes)
{
	STRCMP_EQUAL("a\\nb\\\"c\\\\\\x01", printable("a\nb\"c\\\x01").c_str());
	STRCMP_EQUAL("\"a\\tb\"", quoted("a\tb").c_str());
	CHECK_TRUE(equalsIgnoreCase("SHA-256", "sha-256"));
	CHECK_FALSE(equalsIgnoreCase("SHA-256", "SHA-25"));
	STRCMP_EQUAL(errnoText(EINVAL).c_str(), errnoText(-EINVAL).c_str());
	STRCMP_EQUAL("xxx...", printable(std::string(10, 'x'), 3).c_str());
	STRCMP_EQUAL("xxx", printable("xxx", 3).c_str());
}

TEST(Text, keepsPrintableAsciiAndWellFormedUtf8)
{
	STRCMP_EQUAL("check-sync;reboot=false",
		     printableUtf8("check-sync;reboot=false", 64).c_str());
	// é (2 bytes), € (3 bytes), 😀 (4 bytes).
	STRCMP_EQUAL(
		"J\xc3\xa4s\xc3\xb8n \xe2\x82\xac \xf0\x9f\x98\x80",
		printableUtf8("J\xc3\xa4s\xc3\xb8n \xe2\x82\xac \xf0\x9f\x98\x80", 64).c_str());
}

TEST(Text, replacesControlCharactersSoTheTextStaysOnOneLine)
{
	STRCMP_EQUAL("a?b?c?d?e", printableUtf8(std::string("a\nb\rc\x7f"
							    "d\0e",
							    9),
						64)
					  .c_str());
	// U+0085 (NEL) is a C1 control; U+00A0 is not.
	STRCMP_EQUAL("x?y\xc2\xa0z", printableUtf8("x\xc2\x85y\xc2\xa0z", 64).c_str());
}

TEST(Text, replacesEveryByteOfAMalformedSequence)
{
	// A lone continuation byte, a truncated sequence, an overlong '/', a
	// surrogate (U+D800), a code point above U+10FFFF, and 0xff.
	STRCMP_EQUAL("?", printableUtf8("\x80", 64).c_str());
	STRCMP_EQUAL("??a", printableUtf8("\xe2\x82"
					  "a",
					  64)
				    .c_str());
	STRCMP_EQUAL("??", printableUtf8("\xc0\xaf", 64).c_str());
	STRCMP_EQUAL("???", printableUtf8("\xed\xa0\x80", 64).c_str());
	STRCMP_EQUAL("????", printableUtf8("\xf4\x90\x80\x80", 64).c_str());
	STRCMP_EQUAL("a?b", printableUtf8("a\xff"
					  "b",
					  64)
				    .c_str());
}

TEST(Text, cutsALongTextOnACharacterBoundaryWithAMark)
{
	STRCMP_EQUAL("abcdefg", printableUtf8("abcdefg", 7).c_str());
	STRCMP_EQUAL("abcd...", printableUtf8("abcdefgh", 7).c_str());
	// "ab€€": cutting at 7 bytes must not split the second €.
	std::string cut = printableUtf8("ab\xe2\x82\xac\xe2\x82\xac"
					"c",
					8);
	STRCMP_EQUAL("ab\xe2\x82\xac...", cut.c_str());
	CHECK_TRUE(cut.size() <= 8);
}

TEST(Text, reusesTheBufferItAssignsTo)
{
	std::string out;
	assignPrintableUtf8(out, std::string(200, 'x'), 256);
	const char *buffer = out.data();
	assignPrintableUtf8(out, "short", 256);
	STRCMP_EQUAL("short", out.c_str());
	POINTERS_EQUAL(buffer, out.data());
}

TEST(Text, trimRemovesAsciiWhiteSpaceAtBothEndsOnly)
{
	STRCMP_EQUAL("a b", std::string(trim(" \t\r\na b\f\v ")).c_str());
	CHECK_TRUE(trim(" \t ").empty());
	CHECK_TRUE(trim("").empty());
	// Not ASCII white space: a no-break space stays.
	STRCMP_EQUAL("\xc2\xa0x", std::string(trim("\xc2\xa0x ")).c_str());
}

TEST(Text, listItemsSplitsAtCommasAndKeepsEmptyItemsForTheCallerToRefuse)
{
	const std::vector<std::string_view> items = listItems(" MD5 ,SHA-256,, x ");
	CHECK_EQUAL(4u, items.size());
	STRCMP_EQUAL("MD5", std::string(items[0]).c_str());
	STRCMP_EQUAL("SHA-256", std::string(items[1]).c_str());
	CHECK_TRUE(items[2].empty());
	STRCMP_EQUAL("x", std::string(items[3]).c_str());

	CHECK_EQUAL(1u, listItems("").size());
	CHECK_TRUE(listItems("")[0].empty());
	CHECK_EQUAL(2u, listItems("a,").size());
	CHECK_TRUE(listItems("a,")[1].empty());
}

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
	CHECK_TRUE(v4->transport == Transport::Udp);
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
	CHECK_TRUE(mapped->transport == Transport::Tcp);
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

TEST(Text, aLoneContinuationByteIsNeverTakenForALead)
{
	// libxml2's decoder in Debian 12 reads "\x90\x80" as U+0400; D-Bus
	// refuses it.
	STRCMP_EQUAL("\xef\xbf\xbd\xef\xbf\xbd", toValidUtf8("\x90\x80", 16).c_str());
}
