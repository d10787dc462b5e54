// SPDX-License-Identifier: MIT
//
// UTF-8 checks for network text on its way to D-Bus (common/utf8.cpp).

#include <string>

#include "utf8.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

TEST_GROUP(Utf8){};

TEST(Utf8, acceptsAsciiAndWellFormedSequences)
{
	CHECK_TRUE(isValidUtf8(""));
	CHECK_TRUE(isValidUtf8("https://prov.example.com/{mac}.xml"));
	CHECK_TRUE(isValidUtf8("J\xc3\xa4s\xc3\xb8n"));	    // Jäsøn
	CHECK_TRUE(isValidUtf8("\xe2\x82\xac"));	    // U+20AC
	CHECK_TRUE(isValidUtf8("\xf0\x9f\x93\x9e"));	    // U+1F4DE
	CHECK_TRUE(isValidUtf8("\xf4\x8f\xbf\xbf"));	    // U+10FFFF
	CHECK_TRUE(isValidUtf8("\xed\x9f\xbf"));	    // U+D7FF, below the surrogates
}

TEST(Utf8, refusesMalformedSequences)
{
	CHECK_FALSE(isValidUtf8("\xc0\xaf"));	      // overlong '/'
	CHECK_FALSE(isValidUtf8("\xe0\x80\xaf"));     // overlong '/'
	CHECK_FALSE(isValidUtf8("\xed\xa0\x80"));     // U+D800, a surrogate
	CHECK_FALSE(isValidUtf8("\xf4\x90\x80\x80")); // above U+10FFFF
	CHECK_FALSE(isValidUtf8("\xc3"));	      // truncated
	CHECK_FALSE(isValidUtf8("a\x80"));	      // a lone continuation byte
	CHECK_FALSE(isValidUtf8("\xff"));
	CHECK_FALSE(isValidUtf8(std::string("a\0b", 3))); // D-Bus strings cannot hold NUL
}

TEST(Utf8, makesTextValidByReplacingBadBytes)
{
	STRCMP_EQUAL("abc", toValidUtf8("abc").c_str());
	STRCMP_EQUAL("J\xc3\xa4s", toValidUtf8("J\xc3\xa4s").c_str());
	STRCMP_EQUAL("a?b", toValidUtf8("a\xff" "b").c_str());
	STRCMP_EQUAL("??x", toValidUtf8("\xc0\xaf" "x").c_str());
	STRCMP_EQUAL("a??", toValidUtf8("a\xe2\x82").c_str()); // a truncated sequence
	STRCMP_EQUAL("a?b", toValidUtf8(std::string("a\0b", 3)).c_str());
	CHECK_TRUE(isValidUtf8(toValidUtf8("\xed\xa0\x80\xf4\x90\x80\x80\xc3")));
}
