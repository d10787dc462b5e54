// SPDX-License-Identifier: MIT

#include <string>
#include <vector>

#include "bounded_lru.hpp"
#include "failure_table.hpp"
#include "response_cache.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

TEST_GROUP(FailureTable)
{
	FailureTable table{16};
};

TEST(FailureTable, locksAnAddressAfterFiveFailuresWithinAMinute)
{
	for (int i = 0; i < 4; i++)
		CHECK_FALSE(table.recordFailure("192.0.2.1", 1000 + i * 1000));
	CHECK_FALSE(table.locked("192.0.2.1", 5000));
	CHECK_TRUE(table.recordFailure("192.0.2.1", 5000));
	CHECK_TRUE(table.locked("192.0.2.1", 5001));
}

TEST(FailureTable, theLockLastsOneMinute)
{
	for (int i = 0; i < 5; i++)
		table.recordFailure("192.0.2.1", 1000);
	CHECK_TRUE(table.locked("192.0.2.1", 60'999));
	CHECK_FALSE(table.locked("192.0.2.1", 61'000));
}

TEST(FailureTable, failuresOutsideTheWindowDoNotCount)
{
	for (int i = 0; i < 4; i++)
		table.recordFailure("192.0.2.1", 1000);
	// 61 s later the first four have left the window.
	CHECK_FALSE(table.recordFailure("192.0.2.1", 62'000));
	CHECK_FALSE(table.locked("192.0.2.1", 62'001));
}

TEST(FailureTable, otherAddressesAreUnaffected)
{
	for (int i = 0; i < 5; i++)
		table.recordFailure("192.0.2.1", 1000);
	CHECK_TRUE(table.locked("192.0.2.1", 2000));
	CHECK_FALSE(table.locked("127.0.0.2", 2000));
	CHECK_FALSE(table.recordFailure("127.0.0.2", 2000));
}

TEST(FailureTable, aSuccessClearsTheRecord)
{
	for (int i = 0; i < 4; i++)
		table.recordFailure("192.0.2.1", 1000);
	table.recordSuccess("192.0.2.1");
	CHECK_FALSE(table.recordFailure("192.0.2.1", 1000));
	LONGS_EQUAL(1, table.size());
}

TEST(FailureTable, staysBoundedUnderSpoofedSources)
{
	for (int i = 0; i < 10'000; i++)
		table.recordFailure("198.51.100." + std::to_string(i), 1000);
	LONGS_EQUAL(16, table.size());
}

TEST(FailureTable, evictsTheLeastRecentlyActiveAddressFirst)
{
	for (int i = 0; i < 5; i++)
		table.recordFailure("192.0.2.1", 1000);
	for (int i = 0; i < 15; i++)
		table.recordFailure("198.51.100." + std::to_string(i), 1000);
	// The locked address was touched last by locked(): it stays.
	CHECK_TRUE(table.locked("192.0.2.1", 2000));
	table.recordFailure("198.51.100.200", 2000);
	CHECK_TRUE(table.locked("192.0.2.1", 2000));
	LONGS_EQUAL(16, table.size());
}

TEST(FailureTable, listsTheLockedOutAddressesWithTheEndOfTheirLock)
{
	for (int i = 0; i < 5; i++)
		table.recordFailure("192.0.2.1", 1000);
	for (int i = 0; i < 5; i++)
		table.recordFailure("2001:db8::1", 3000);
	for (int i = 0; i < 4; i++)
		table.recordFailure("198.51.100.7", 3000); // not (yet) locked
	std::vector<Lockout> locked = table.lockedOut(4000);
	LONGS_EQUAL(2, locked.size());
	// Most recently active first.
	STRCMP_EQUAL("2001:db8::1", locked[0].source.c_str());
	CHECK_EQUAL(3000 + FailureTable::kLockMs, locked[0].untilMs);
	STRCMP_EQUAL("192.0.2.1", locked[1].source.c_str());
	CHECK_EQUAL(1000 + FailureTable::kLockMs, locked[1].untilMs);
}

TEST(FailureTable, anExpiredLockIsNoLongerListed)
{
	for (int i = 0; i < 5; i++)
		table.recordFailure("192.0.2.1", 1000);
	LONGS_EQUAL(1, table.lockedOut(1000 + FailureTable::kLockMs - 1).size());
	LONGS_EQUAL(0, table.lockedOut(1000 + FailureTable::kLockMs).size());
}

TEST(FailureTable, listingDoesNotChangeWhichAddressIsEvictedFirst)
{
	for (int i = 0; i < 5; i++)
		table.recordFailure("192.0.2.1", 1000);
	for (int i = 0; i < 15; i++)
		table.recordFailure("198.51.100." + std::to_string(i), 1000);
	(void)table.lockedOut(2000);
	// 192.0.2.1 is the least recently active: the next address evicts it.
	table.recordFailure("198.51.100.200", 2000);
	CHECK_FALSE(table.locked("192.0.2.1", 2000));
	LONGS_EQUAL(0, table.lockedOut(2000).size());
}

TEST(FailureTable, unlockLiftsTheLockAndForgetsTheFailures)
{
	for (int i = 0; i < 5; i++)
		table.recordFailure("192.0.2.1", 1000);
	CHECK_TRUE(table.unlock("192.0.2.1"));
	CHECK_FALSE(table.locked("192.0.2.1", 1001));
	LONGS_EQUAL(0, table.lockedOut(1001).size());
	// A fresh start: four more failures do not lock it again.
	for (int i = 0; i < 4; i++)
		CHECK_FALSE(table.recordFailure("192.0.2.1", 1002));
	CHECK_FALSE(table.locked("192.0.2.1", 1003));
}

TEST(FailureTable, unlockRefusesAnAddressThatWasNeverLocked)
{
	for (int i = 0; i < 4; i++)
		table.recordFailure("192.0.2.1", 1000);
	CHECK_FALSE(table.unlock("192.0.2.1"));
	CHECK_FALSE(table.unlock("192.0.2.99"));
	// The failures recorded so far still count.
	CHECK_TRUE(table.recordFailure("192.0.2.1", 1001));
}

TEST_GROUP(BoundedLru){};

TEST(BoundedLru, forgetsTheLeastRecentlyUsedEntryAtCapacity)
{
	BoundedLru<int> lru(2);
	lru.get("a") = 1;
	lru.get("b") = 2;
	CHECK_TRUE(lru.find("a") != nullptr); // a is now most recent
	lru.get("c") = 3;
	CHECK_TRUE(lru.find("b") == nullptr);
	LONGS_EQUAL(1, *lru.find("a"));
	LONGS_EQUAL(3, *lru.find("c"));
	LONGS_EQUAL(2, lru.size());
	lru.erase("a");
	CHECK_TRUE(lru.find("a") == nullptr);
	LONGS_EQUAL(1, lru.size());
}

TEST(BoundedLru, keysMayBeLongerThanAnySmallStringBuffer)
{
	BoundedLru<int> lru(4);
	std::string key(300, 'k');
	lru.get(key) = 7;
	for (int i = 0; i < 3; i++)
		lru.get(std::to_string(i)) = i;
	LONGS_EQUAL(7, *lru.find(key));
}

TEST_GROUP(ResponseCache){};

TEST(ResponseCache, remembersAnAnswerForTimerJ)
{
	ResponseCache cache(8);
	std::string key = requestKey("udp:192.0.2.1:5060", "z9hG4bK.1", "1234@host", 10, "NOTIFY");
	cache.remember(key, 503, 5, 1000);
	auto answer = cache.lookup(key, 1000 + ResponseCache::kLifetimeMs - 1);
	CHECK_TRUE(answer.has_value());
	LONGS_EQUAL(503, answer->status);
	LONGS_EQUAL(5, answer->retryAfterS);
	CHECK_FALSE(cache.lookup(key, 1000 + ResponseCache::kLifetimeMs).has_value());
	LONGS_EQUAL(0, cache.size());
}

TEST(ResponseCache, anotherBranchCallIdCseqOrSourceIsAnotherRequest)
{
	ResponseCache cache(8);
	cache.remember(requestKey("udp:192.0.2.1:5060", "b1", "c", 10, "NOTIFY"), 200, 0, 0);
	CHECK_TRUE(cache.lookup(requestKey("udp:192.0.2.1:5060", "b1", "c", 10, "NOTIFY"), 1).has_value());
	CHECK_FALSE(cache.lookup(requestKey("udp:192.0.2.1:5060", "b2", "c", 10, "NOTIFY"), 1).has_value());
	CHECK_FALSE(cache.lookup(requestKey("udp:192.0.2.1:5060", "b1", "d", 10, "NOTIFY"), 1).has_value());
	CHECK_FALSE(cache.lookup(requestKey("udp:192.0.2.1:5060", "b1", "c", 11, "NOTIFY"), 1).has_value());
	CHECK_FALSE(cache.lookup(requestKey("udp:192.0.2.2:5060", "b1", "c", 10, "NOTIFY"), 1).has_value());
}

TEST(ResponseCache, isBounded)
{
	ResponseCache cache(8);
	for (int i = 0; i < 1000; i++)
		cache.remember(requestKey("udp:192.0.2.1:5060", std::to_string(i), "c", 1, "NOTIFY"), 200, 0, 0);
	LONGS_EQUAL(8, cache.size());
}
