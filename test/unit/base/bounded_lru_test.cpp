// SPDX-License-Identifier: MIT
//
// The table with a fixed maximum size behind every table that traffic
// can fill (common/base/bounded_lru.hpp): which entry it forgets, and the
// entries it queues at the back.

#include "base/bounded_lru.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

TEST_GROUP(BoundedLru){};

TEST(BoundedLru, forgetsTheLeastRecentlyUsedEntryAtCapacity)
{
	using Key = ByteKey<2>;
	BoundedLru<Key, int> lru(2);
	lru.get(Key{'a'}) = 1;
	lru.get(Key{'b'}) = 2;
	CHECK_TRUE(lru.find(Key{'a'}) != nullptr); // a is now most recent
	lru.get(Key{'c'}) = 3;
	CHECK_TRUE(lru.find(Key{'b'}) == nullptr);
	LONGS_EQUAL(1, *lru.find(Key{'a'}));
	LONGS_EQUAL(3, *lru.find(Key{'c'}));
	LONGS_EQUAL(2, lru.size());
	lru.erase(Key{'a'});
	CHECK_TRUE(lru.find(Key{'a'}) == nullptr);
	LONGS_EQUAL(1, lru.size());
}

TEST(BoundedLru, addOldestQueuesAtTheBackAndNeverEvicts)
{
	using Key = ByteKey<2>;
	BoundedLru<Key, int> lru(2);
	lru.get(Key{'a'}) = 1;
	CHECK_TRUE(lru.isNewest(Key{'a'}));
	*lru.addOldest(Key{'b'}) = 2;
	CHECK_TRUE(lru.isNewest(Key{'a'}));
	CHECK_TRUE(lru.oldest() && *lru.oldest() == 2);
	CHECK_TRUE(lru.addOldest(Key{'a'}) == nullptr); // present already
	CHECK_TRUE(lru.addOldest(Key{'c'}) == nullptr); // full
	LONGS_EQUAL(2, lru.size());
	LONGS_EQUAL(1, *lru.find(Key{'a'}));
	LONGS_EQUAL(2, *lru.find(Key{'b'}));
	CHECK_TRUE(lru.isNewest(Key{'b'}));
}
