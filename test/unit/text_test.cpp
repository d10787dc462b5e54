// SPDX-License-Identifier: MIT

#include <string>

#include "text.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

TEST_GROUP(Text){};

TEST(Text, keepsPrintableAsciiAndWellFormedUtf8)
{
	STRCMP_EQUAL("check-sync;reboot=false", printableUtf8("check-sync;reboot=false", 64).c_str());
	// é (2 bytes), € (3 bytes), 😀 (4 bytes).
	STRCMP_EQUAL("J\xc3\xa4s\xc3\xb8n \xe2\x82\xac \xf0\x9f\x98\x80",
		     printableUtf8("J\xc3\xa4s\xc3\xb8n \xe2\x82\xac \xf0\x9f\x98\x80", 64).c_str());
}

TEST(Text, replacesControlCharactersSoTheTextStaysOnOneLine)
{
	STRCMP_EQUAL("a?b?c?d?e", printableUtf8(std::string("a\nb\rc\x7f" "d\0e", 9), 64).c_str());
	// U+0085 (NEL) is a C1 control; U+00A0 is not.
	STRCMP_EQUAL("x?y\xc2\xa0z", printableUtf8("x\xc2\x85y\xc2\xa0z", 64).c_str());
}

TEST(Text, replacesEveryByteOfAMalformedSequence)
{
	// A lone continuation byte, a truncated sequence, an overlong '/', a
	// surrogate (U+D800), a code point above U+10FFFF, and 0xff.
	STRCMP_EQUAL("?", printableUtf8("\x80", 64).c_str());
	STRCMP_EQUAL("??a", printableUtf8("\xe2\x82" "a", 64).c_str());
	STRCMP_EQUAL("??", printableUtf8("\xc0\xaf", 64).c_str());
	STRCMP_EQUAL("???", printableUtf8("\xed\xa0\x80", 64).c_str());
	STRCMP_EQUAL("????", printableUtf8("\xf4\x90\x80\x80", 64).c_str());
	STRCMP_EQUAL("a?b", printableUtf8("a\xff" "b", 64).c_str());
}

TEST(Text, cutsALongTextOnACharacterBoundaryWithAMark)
{
	STRCMP_EQUAL("abcdefg", printableUtf8("abcdefg", 7).c_str());
	STRCMP_EQUAL("abcd...", printableUtf8("abcdefgh", 7).c_str());
	// "ab€€": cutting at 7 bytes must not split the second €.
	std::string cut = printableUtf8("ab\xe2\x82\xac\xe2\x82\xac" "c", 8);
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
