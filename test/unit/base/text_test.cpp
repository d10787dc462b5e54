// SPDX-License-Identifier: MIT

#include <string>
#include <string_view>
#include <vector>

#include "base/text.hpp"

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

TEST(Text, aLoneContinuationByteIsNeverTakenForALead)
{
	// libxml2's decoder in Debian 12 reads "\x90\x80" as U+0400; D-Bus
	// refuses it.
	STRCMP_EQUAL("\xef\xbf\xbd\xef\xbf\xbd", toValidUtf8("\x90\x80", 16).c_str());
}

TEST(Text, toHexWritesTwoDigitsPerByteInEitherCase)
{
	const unsigned char bytes[] = {0x00, 0x0f, 0xa5, 0xff};
	STRCMP_EQUAL("000fa5ff", toHex(bytes).c_str());
	STRCMP_EQUAL("000FA5FF", toHex(bytes, HexCase::Upper).c_str());
	STRCMP_EQUAL("", toHex(std::span<const unsigned char>()).c_str());
}

TEST(Text, joinPutsTheSeparatorOnlyBetweenItems)
{
	const auto same = [](std::string_view s) { return std::string(s); };
	const std::vector<std::string_view> none;
	STRCMP_EQUAL("", join(none, ", ", same).c_str());
	const std::vector<std::string_view> one{"a"};
	STRCMP_EQUAL("a", join(one, ", ", same).c_str());
	const std::vector<int> numbers{1, 22, 333};
	STRCMP_EQUAL("1 | 22 | 333",
		     join(numbers, " | ", [](int n) { return std::to_string(n); }).c_str());
}
