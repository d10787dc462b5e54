// SPDX-License-Identifier: MIT
//
// Who has proven it receives our answers, and the token buckets that bound
// the answers to everyone else (common/sip/unproven.hpp).

#include <string>

#include "sip/unproven.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

namespace {

IpAddress ip(const char *text)
{
	return *IpAddress::parse(text);
}

} // namespace

TEST_GROUP(Unproven){};

TEST(Unproven, aSourceStaysProvenAndIsCountedByItsPrefix)
{
	ProvenSources proven;
	const SourcePrefix pbx = SourcePrefix::of(ip("192.0.2.1"));
	CHECK_FALSE(proven.proven(pbx));
	proven.prove(pbx);
	CHECK_TRUE(proven.proven(pbx));
	CHECK_FALSE(proven.proven(SourcePrefix::of(ip("192.0.2.2"))));
	// An IPv6 host proves its /64.
	proven.prove(SourcePrefix::of(ip("2001:db8:1:2::7")));
	CHECK_TRUE(proven.proven(SourcePrefix::of(ip("2001:db8:1:2::8"))));
}

TEST(Unproven, provenSourcesAreBounded)
{
	ProvenSources proven;
	const std::size_t bytes = proven.bytesBound();
	for (unsigned i = 0; i < 3 * ProvenSources::kCapacity; i++)
		proven.prove(SourcePrefix::of(
			ip(("10." + std::to_string(i / 65536) + "." +
			    std::to_string(i / 256 % 256) + "." + std::to_string(i % 256))
				   .c_str())));
	LONGS_EQUAL(ProvenSources::kCapacity, proven.size());
	LONGS_EQUAL(bytes, proven.bytesBound());
}

TEST(Unproven, destinationsCountByTheirSlash24OrSlash48)
{
	STRCMP_EQUAL("192.0.2.0/24",
		     AnswerRateLimit::prefixOf(ip("192.0.2.77")).toString().c_str());
	STRCMP_EQUAL("2001:db8:1::/48",
		     AnswerRateLimit::prefixOf(ip("2001:db8:1:2::7")).toString().c_str());
}

TEST(Unproven, aPrefixGetsItsBurstThenItsRate)
{
	AnswerRateLimit limit;
	unsigned allowed = 0;
	for (int i = 0; i < 100; i++)
		allowed += limit.allow(ip("192.0.2.1"), 1000) ? 1 : 0;
	LONGS_EQUAL(AnswerRateLimit::kPerPrefixBurst, allowed);
	// kPerPrefixRate a second: one every 100 ms.
	CHECK_FALSE(limit.allow(ip("192.0.2.200"), 1099));
	CHECK_TRUE(limit.allow(ip("192.0.2.200"), 1100));
	CHECK_FALSE(limit.allow(ip("192.0.2.200"), 1100));
	// Another prefix has its own bucket.
	CHECK_TRUE(limit.allow(ip("192.0.3.1"), 1100));
	// A long pause refills to the burst, no more.
	allowed = 0;
	for (int i = 0; i < 100; i++)
		allowed += limit.allow(ip("192.0.2.1"), 1'000'000) ? 1 : 0;
	LONGS_EQUAL(AnswerRateLimit::kPerPrefixBurst, allowed);
}

TEST(Unproven, allPrefixesTogetherGetTheTotal)
{
	AnswerRateLimit limit;
	unsigned allowed = 0;
	for (int net = 0; net < 1000; net++)
		allowed += limit.allow(ip(("10." + std::to_string(net / 250) + "." +
					   std::to_string(net % 250) + ".1")
						  .c_str()),
				       5000)
				   ? 1
				   : 0;
	LONGS_EQUAL(AnswerRateLimit::kTotalBurst, allowed);
	// A prefix refused by the total keeps its own token for later.
	CHECK_TRUE(limit.allow(ip("172.16.0.1"), 5000 + 1000 / AnswerRateLimit::kTotalRate));
}

TEST(Unproven, theTableOfPrefixesIsBoundedInBytes)
{
	AnswerRateLimit limit;
	const std::size_t bytes = limit.bytesBound();
	for (unsigned i = 0; i < 5000; i++)
		limit.allow(
			ip(("10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".1")
				   .c_str()),
			i);
	LONGS_EQUAL(bytes, limit.bytesBound());
	LONGS_EQUAL(2 * 300, unprovenAnswerBound(300));
}
