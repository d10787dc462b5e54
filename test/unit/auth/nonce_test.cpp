// SPDX-License-Identifier: MIT

#include <string>

#include "auth/nonce.hpp"

#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

namespace {

NonceAuthority::Key testKey(unsigned char fill)
{
	NonceAuthority::Key key{};
	key.fill(fill);
	return key;
}

} // namespace

TEST_GROUP(Nonce)
{
	NonceAuthority authority{testKey(7)};
};

TEST(Nonce, carriesItsAlgorithmQopAndIssueTime)
{
	std::string nonce = authority.issue(123456, Algorithm::Sha256, QopPolicy::Auth, "realm",
					    "192.0.2.1");
	auto facts = authority.verify(nonce, "realm", "192.0.2.1");
	CHECK_TRUE(facts.has_value());
	CHECK_EQUAL(Algorithm::Sha256, facts->algorithm);
	CHECK_TRUE(facts->qop);
	LONGS_EQUAL(123456, facts->issuedMs);

	std::string plain = authority.issue(5, Algorithm::Sha512_256, QopPolicy::None, "realm",
					    "192.0.2.1");
	facts = authority.verify(plain, "realm", "192.0.2.1");
	CHECK_TRUE(facts.has_value());
	CHECK_EQUAL(Algorithm::Sha512_256, facts->algorithm);
	CHECK_FALSE(facts->qop);
}

TEST(Nonce, isUniquePerIssue)
{
	std::string a = authority.issue(1000, Algorithm::Md5, QopPolicy::Auth, "realm",
					"192.0.2.1");
	std::string b = authority.issue(1000, Algorithm::Md5, QopPolicy::Auth, "realm",
					"192.0.2.1");
	CHECK_TRUE(a != b);
}

TEST(Nonce, usesOnlyTheUrlSafeBase64Alphabet)
{
	for (int i = 0; i < 200; i++) {
		std::string nonce = authority.issue(static_cast<std::uint64_t>(i) * 7919,
						    Algorithm::Md5, QopPolicy::Auth, "realm",
						    "192.0.2.1");
		LONGS_EQUAL(48, nonce.size());
		CHECK_EQUAL(std::string::npos, nonce.find_first_of("+/=\"\\"));
	}
}

TEST(Nonce, isBoundToTheRealm)
{
	std::string nonce = authority.issue(1, Algorithm::Md5, QopPolicy::Auth, "realm",
					    "192.0.2.1");
	CHECK_FALSE(authority.verify(nonce, "other", "192.0.2.1").has_value());
}

TEST(Nonce, isBoundToTheSourceAddressButNotThePort)
{
	std::string nonce = authority.issue(1, Algorithm::Md5, QopPolicy::Auth, "realm",
					    "192.0.2.1");
	CHECK_FALSE(authority.verify(nonce, "realm", "192.0.2.2").has_value());
	CHECK_TRUE(authority.verify(nonce, "realm", "192.0.2.1").has_value());
}

TEST(Nonce, fromAnotherKeyIsRefused)
{
	NonceAuthority other(testKey(8));
	std::string nonce = other.issue(1, Algorithm::Md5, QopPolicy::Auth, "realm", "192.0.2.1");
	CHECK_FALSE(authority.verify(nonce, "realm", "192.0.2.1").has_value());
}

TEST(Nonce, withAnyByteAlteredIsRefused)
{
	std::string nonce = authority.issue(1, Algorithm::Md5, QopPolicy::Auth, "realm",
					    "192.0.2.1");
	for (std::size_t i = 0; i < nonce.size(); i++) {
		std::string altered = nonce;
		altered[i] = altered[i] == 'A' ? 'B' : 'A';
		CHECK_FALSE(authority.verify(altered, "realm", "192.0.2.1").has_value());
	}
}

TEST(Nonce, malformedTextIsRefused)
{
	CHECK_FALSE(authority.verify("", "realm", "192.0.2.1").has_value());
	CHECK_FALSE(authority.verify("b5e73bf9ef0fc8b2", "realm", "192.0.2.1").has_value());
	CHECK_FALSE(authority.verify(std::string(48, '='), "realm", "192.0.2.1").has_value());
	CHECK_FALSE(authority.verify(std::string(4096, 'A'), "realm", "192.0.2.1").has_value());
	std::string nonce = authority.issue(1, Algorithm::Md5, QopPolicy::Auth, "realm",
					    "192.0.2.1");
	std::string standard = nonce;
	for (char &c : standard)
		c = c == '-' ? '+' : c == '_' ? '/' : c;
	if (standard != nonce)
		CHECK_FALSE(authority.verify(standard, "realm", "192.0.2.1").has_value());
}

TEST(Nonce, expiresAfterThirtySeconds)
{
	NonceFacts facts;
	facts.issuedMs = 10'000;
	CHECK_FALSE(facts.expired(10'000));
	CHECK_FALSE(facts.expired(40'000));
	CHECK_TRUE(facts.expired(40'001));
	CHECK_TRUE(facts.expired(9'999)); // from the future: not ours to trust
}

TEST_GROUP(UsedNonces){};

TEST(UsedNonces, acceptsANonceOnceOnly)
{
	UsedNonces used(64);
	CHECK_EQUAL(UsedNonces::Mark::Fresh, used.markUsed(5, 10));
	CHECK_EQUAL(UsedNonces::Mark::AlreadyUsed, used.markUsed(5, 10));
	CHECK_EQUAL(UsedNonces::Mark::AlreadyUsed, used.markUsed(5, 30));
	CHECK_EQUAL(UsedNonces::Mark::Fresh, used.markUsed(6, 30));
}

TEST(UsedNonces, aNonceOlderThanTheWindowIsOutOfWindowNeverFull)
{
	UsedNonces used(64);
	// Thousands of authenticated requests: no ceiling, no 503.
	for (std::uint32_t serial = 1; serial < 10'000; serial++)
		CHECK_EQUAL(UsedNonces::Mark::Fresh, used.markUsed(serial, serial));
	CHECK_EQUAL(UsedNonces::Mark::OutOfWindow, used.markUsed(9'999 - 64, 9'999));
	CHECK_EQUAL(UsedNonces::Mark::AlreadyUsed, used.markUsed(9'999 - 63, 9'999));
	LONGS_EQUAL(8, used.bytes());
}

TEST(UsedNonces, theSlotOfASerialThatLeftTheWindowIsFreeForTheNewOne)
{
	UsedNonces used(64);
	CHECK_EQUAL(UsedNonces::Mark::Fresh, used.markUsed(3, 3));
	// Serial 67 shares serial 3's bit; issuing it moved the window on.
	CHECK_EQUAL(UsedNonces::Mark::Fresh, used.markUsed(67, 67));
	CHECK_EQUAL(UsedNonces::Mark::OutOfWindow, used.markUsed(3, 67));
	// A jump of more than the window clears it all.
	CHECK_EQUAL(UsedNonces::Mark::Fresh, used.markUsed(1000, 1000));
	CHECK_EQUAL(UsedNonces::Mark::Fresh, used.markUsed(999, 1000));
}

TEST(UsedNonces, theSerialMayWrapAround)
{
	UsedNonces used(64);
	CHECK_EQUAL(UsedNonces::Mark::Fresh, used.markUsed(0xffffffff, 0xffffffff));
	CHECK_EQUAL(UsedNonces::Mark::Fresh, used.markUsed(2, 2));
	CHECK_EQUAL(UsedNonces::Mark::AlreadyUsed, used.markUsed(0xffffffff, 2));
	CHECK_EQUAL(UsedNonces::Mark::Fresh, used.markUsed(0xfffffffe, 2));
}

TEST(UsedNonces, theDefaultWindowIsEightKilobytes)
{
	UsedNonces used;
	LONGS_EQUAL(65536, used.size());
	LONGS_EQUAL(8192, used.bytes());
}
