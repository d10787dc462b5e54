// SPDX-License-Identifier: MIT

#include <string>

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
	std::string bad("\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x98|", 18);
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
	STRCMP_EQUAL("a\\x0ab\\\"c\\\\", printable("a\nb\"c\\").c_str());
	STRCMP_EQUAL("xxx...", printable(std::string(10, 'x'), 3).c_str());
	STRCMP_EQUAL("xxx", printable("xxx", 3).c_str());
}

TEST_GROUP(Source){};

TEST(Source, remoteNamesTheTransportAddressAndPort)
{
	auto v4 = SourceAddress::fromText("192.0.2.1", 5060);
	STRCMP_EQUAL("udp:192.0.2.1:5060", v4->remote.c_str());
	auto v6 = SourceAddress::fromText("2001:db8::1", 5070, true);
	STRCMP_EQUAL("tcp:[2001:db8::1]:5070", v6->remote.c_str());
	auto mapped = SourceAddress::fromText("::ffff:192.0.2.1", 1);
	STRCMP_EQUAL("192.0.2.1", mapped->ip.c_str());
	CHECK_FALSE(SourceAddress::fromText("example.com", 1).has_value());
}
