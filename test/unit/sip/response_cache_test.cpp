// SPDX-License-Identifier: MIT
//
// The answers kept for retransmissions (common/sip/response_cache.hpp): the
// keyed request identity, the ring of fixed-size answers and its index,
// and the two tables of the guard.

#include <cstdint>
#include <map>
#include <random>
#include <string>

#include "sip/response_cache.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

using Sender = ResponseCache::Sender;

TEST_GROUP(ResponseCache)
{
	RequestKeyer keyer{RequestKeyer::Key{1, 2, 3}};
};

TEST(ResponseCache, remembersAnAnswerForTimerJ)
{
	ResponseCache cache(8, 8);
	RequestKey key = keyer.key("udp:192.0.2.1:5060", "z9hG4bK.1", "1234@host", 10, "NOTIFY");
	cache.remember(key, Sender::Unauthenticated, 503, 5, 1000);
	auto answer = cache.lookup(key, 1000 + ResponseCache::kLifetimeMs - 1);
	CHECK_TRUE(answer.has_value());
	LONGS_EQUAL(503, answer->status);
	LONGS_EQUAL(5, answer->retryAfterS);
	CHECK_FALSE(cache.lookup(key, 1000 + ResponseCache::kLifetimeMs).has_value());
	LONGS_EQUAL(0, cache.size());
}

TEST(ResponseCache, anotherBranchCallIdCseqOrSourceIsAnotherRequest)
{
	ResponseCache cache(8, 8);
	cache.remember(keyer.key("udp:192.0.2.1:5060", "b1", "c", 10, "NOTIFY"),
		       Sender::Unauthenticated, 200, 0, 0);
	CHECK_TRUE(cache.lookup(keyer.key("udp:192.0.2.1:5060", "b1", "c", 10, "NOTIFY"), 1)
			   .has_value());
	CHECK_FALSE(cache.lookup(keyer.key("udp:192.0.2.1:5060", "b2", "c", 10, "NOTIFY"), 1)
			    .has_value());
	CHECK_FALSE(cache.lookup(keyer.key("udp:192.0.2.1:5060", "b1", "d", 10, "NOTIFY"), 1)
			    .has_value());
	CHECK_FALSE(cache.lookup(keyer.key("udp:192.0.2.1:5060", "b1", "c", 11, "NOTIFY"), 1)
			    .has_value());
	CHECK_FALSE(cache.lookup(keyer.key("udp:192.0.2.2:5060", "b1", "c", 10, "NOTIFY"), 1)
			    .has_value());
	// Field boundaries count: "b1"+"c" is not "b"+"1c".
	CHECK_FALSE(cache.lookup(keyer.key("udp:192.0.2.1:5060", "b", "1c", 10, "NOTIFY"), 1)
			    .has_value());
}

TEST(ResponseCache, keysAreFixedSizeWhateverTheCallIdAndDependOnTheKey)
{
	std::string huge(60'000, 'x');
	RequestKey a = keyer.key("udp:192.0.2.1:5060", "b", huge, 1, "NOTIFY");
	RequestKey b = keyer.key("udp:192.0.2.1:5060", "b", huge, 1, "NOTIFY");
	CHECK_TRUE(a == b);
	LONGS_EQUAL(16, a.size());
	RequestKeyer other{RequestKeyer::Key{9}};
	CHECK_FALSE(a == other.key("udp:192.0.2.1:5060", "b", huge, 1, "NOTIFY"));
	STRCMP_EQUAL(toTagFor(a).c_str(), toTagFor(b).c_str());
	LONGS_EQUAL(16, toTagFor(a).size());
}

TEST(ResponseCache, anUnauthenticatedFloodCannotPushOutAnAuthenticatedAnswer)
{
	ResponseCache cache(8, 8);
	RequestKey pbx = keyer.key("udp:192.0.2.1:5060", "z9hG4bK.pbx", "c", 1, "NOTIFY");
	cache.remember(pbx, Sender::Authenticated, 200, 0, 0);
	for (int i = 0; i < 1000; i++)
		cache.remember(
			keyer.key("udp:203.0.113.9:5060", std::to_string(i), "c", 1, "NOTIFY"),
			Sender::Unauthenticated, 200, 0, 0);
	LONGS_EQUAL(9, cache.size());
	auto answer = cache.lookup(pbx, ResponseCache::kLifetimeMs - 1);
	CHECK_TRUE(answer.has_value());
	LONGS_EQUAL(200, answer->status);
}

TEST(ResponseCache, isBoundedInEntriesAndBytes)
{
	ResponseCache cache(1024, 1024);
	std::string huge(60'000, 'x');
	for (int i = 0; i < 1100; i++)
		cache.remember(
			keyer.key("udp:192.0.2.1:5060", std::to_string(i), huge, 1, "NOTIFY"),
			Sender::Unauthenticated, 200, 0, 0);
	LONGS_EQUAL(1024, cache.size());
	// Fixed-size entries: 32 bytes each whatever the request, in both tables.
	LONGS_EQUAL(2 * 1024 * 32, cache.bytesBound());
}

namespace {

RequestKey keyOf(std::uint64_t n)
{
	RequestKey key{};
	for (std::size_t i = 0; i < key.size(); ++i)
		key[i] = static_cast<std::uint8_t>(n >> (8 * (i % 8)));
	return key;
}

} // namespace

TEST_GROUP(AnswerTable){};

TEST(AnswerTable, keepsEachAnswerForTimerJExactly)
{
	AnswerTable table(4, AnswerTable::WhenFull::Refuse);
	CHECK_TRUE(table.remember(keyOf(1), 200, 0, 1000));
	CHECK_TRUE(table.remember(keyOf(2), 503, 7, 1500));
	auto one = table.lookup(keyOf(1), 1000 + AnswerTable::kLifetimeMs - 1);
	CHECK_TRUE(one.has_value());
	LONGS_EQUAL(200, one->status);
	CHECK_FALSE(table.lookup(keyOf(1), 1000 + AnswerTable::kLifetimeMs).has_value());
	auto two = table.lookup(keyOf(2), 1000 + AnswerTable::kLifetimeMs);
	CHECK_TRUE(two.has_value());
	LONGS_EQUAL(503, two->status);
	LONGS_EQUAL(7, two->retryAfterS);
	LONGS_EQUAL(1, table.size());
	CHECK_FALSE(table.lookup(keyOf(3), 0).has_value());
}

TEST(AnswerTable, aFullRefusingTableTakesNothingUntilItsOldestExpires)
{
	AnswerTable table(3, AnswerTable::WhenFull::Refuse);
	for (std::uint64_t i = 0; i < 3; ++i)
		CHECK_TRUE(table.remember(keyOf(i), 200, 0, 100 * i));
	CHECK_FALSE(table.hasRoom(1000));
	CHECK_FALSE(table.remember(keyOf(9), 200, 0, 1000));
	LONGS_EQUAL(AnswerTable::kLifetimeMs, table.roomAtMs(1000));
	// Nothing was pushed out for it.
	for (std::uint64_t i = 0; i < 3; ++i)
		CHECK_TRUE(table.lookup(keyOf(i), 1000).has_value());
	CHECK_TRUE(table.hasRoom(AnswerTable::kLifetimeMs));
	CHECK_TRUE(table.remember(keyOf(9), 200, 0, AnswerTable::kLifetimeMs));
	CHECK_FALSE(table.lookup(keyOf(0), AnswerTable::kLifetimeMs).has_value());
	CHECK_TRUE(table.lookup(keyOf(9), AnswerTable::kLifetimeMs).has_value());
}

TEST(AnswerTable, aFullPushingTableForgetsItsOldest)
{
	AnswerTable table(3, AnswerTable::WhenFull::PushOutOldest);
	for (std::uint64_t i = 0; i < 5; ++i)
		CHECK_TRUE(table.remember(keyOf(i), 200, 0, 0));
	LONGS_EQUAL(3, table.size());
	CHECK_FALSE(table.lookup(keyOf(0), 0).has_value());
	CHECK_FALSE(table.lookup(keyOf(1), 0).has_value());
	for (std::uint64_t i = 2; i < 5; ++i)
		CHECK_TRUE(table.lookup(keyOf(i), 0).has_value());
}

TEST(AnswerTable, theSameRequestAnsweredAgainKeepsOneEntry)
{
	AnswerTable table(2, AnswerTable::WhenFull::Refuse);
	CHECK_TRUE(table.remember(keyOf(1), 503, 1, 0));
	CHECK_TRUE(table.remember(keyOf(1), 200, 0, 10));
	LONGS_EQUAL(1, table.size());
	LONGS_EQUAL(200, table.lookup(keyOf(1), 10)->status);
}

TEST(AnswerTable, staysRightUnderChurnAgainstAPlainMap)
{
	// Tags chosen to collide in the index (the same low bits), keys added
	// and expired in a long random run, checked against a std::map.
	AnswerTable table(64, AnswerTable::WhenFull::Refuse);
	std::map<std::uint64_t, std::uint64_t> model; // tag -> expiry
	std::mt19937_64 random(7);
	std::uint64_t now = 0;
	for (int step = 0; step < 200'000; ++step) {
		now += random() % 3;
		const std::uint64_t tag = (random() % 512) << 20 | (random() % 4);
		std::erase_if(model, [&](const auto &entry) { return entry.second <= now; });
		const bool known = model.contains(tag);
		const bool taken = table.remember(keyOf(tag), 200, 0, now);
		CHECK_EQUAL(known || model.size() < 64, taken);
		if (taken && !known)
			model[tag] = now + AnswerTable::kLifetimeMs;
		LONGS_EQUAL(model.size(), table.size());
		const std::uint64_t probe = (random() % 512) << 20 | (random() % 4);
		CHECK_EQUAL(model.contains(probe), table.lookup(keyOf(probe), now).has_value());
	}
}

TEST(AnswerTable, isBoundedInBytesFromTheStart)
{
	AnswerTable table(32'768, AnswerTable::WhenFull::Refuse);
	LONGS_EQUAL(32'768 * 32, table.bytesBound());
	for (std::uint64_t i = 0; i < 40'000; ++i)
		table.remember(keyOf(i), 200, 0, 0);
	LONGS_EQUAL(32'768, table.size());
	LONGS_EQUAL(32'768 * 32, table.bytesBound());
}
