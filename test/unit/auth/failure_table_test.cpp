// SPDX-License-Identifier: MIT

#include <string>
#include <vector>

#include "auth/failure_table.hpp"
#include "base/source_address.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

namespace {

SourcePrefix prefix(const std::string &ip)
{
	auto source = SourceAddress::fromText(ip, 5060);
	CHECK_TRUE(source.has_value());
	return source->prefix;
}

} // namespace

TEST_GROUP(FailureTable)
{
	FailureTable table{16};
	SourcePrefix pbx = prefix("192.0.2.1");
};

TEST(FailureTable, locksAnAddressAfterFiveFailuresWithinAMinute)
{
	for (int i = 0; i < 4; i++)
		CHECK_FALSE(table.recordFailure(pbx, 1000 + i * 1000));
	CHECK_FALSE(table.locked(pbx, 5000));
	CHECK_TRUE(table.recordFailure(pbx, 5000));
	CHECK_TRUE(table.locked(pbx, 5001));
}

TEST(FailureTable, theLockLastsOneMinute)
{
	for (int i = 0; i < 5; i++)
		table.recordFailure(pbx, 1000);
	CHECK_TRUE(table.locked(pbx, 60'999));
	CHECK_FALSE(table.locked(pbx, 61'000));
}

TEST(FailureTable, failuresOutsideTheWindowDoNotCount)
{
	for (int i = 0; i < 4; i++)
		table.recordFailure(pbx, 1000);
	// 61 s later the first four have left the window.
	CHECK_FALSE(table.recordFailure(pbx, 62'000));
	CHECK_FALSE(table.locked(pbx, 62'001));
}

TEST(FailureTable, otherAddressesAreUnaffected)
{
	for (int i = 0; i < 5; i++)
		table.recordFailure(pbx, 1000);
	CHECK_TRUE(table.locked(pbx, 2000));
	CHECK_FALSE(table.locked(prefix("127.0.0.2"), 2000));
	CHECK_FALSE(table.recordFailure(prefix("127.0.0.2"), 2000));
}

TEST(FailureTable, ipv6SourcesCountPerSlash64)
{
	// An attacker rotating through its /64 is one source.
	for (int i = 1; i <= 5; i++)
		table.recordFailure(prefix("2001:db8:1:2::" + std::to_string(i)), 1000);
	CHECK_TRUE(table.locked(prefix("2001:db8:1:2:ffff::9"), 1001));
	CHECK_FALSE(table.locked(prefix("2001:db8:1:3::1"), 1001));
	STRCMP_EQUAL("2001:db8:1:2::/64", prefix("2001:db8:1:2::77").toString().c_str());
	// IPv4, also as a v4-mapped IPv6 address, counts per address.
	STRCMP_EQUAL("192.0.2.1", prefix("::ffff:192.0.2.1").toString().c_str());
	CHECK_TRUE(prefix("::ffff:192.0.2.1") == pbx);
}

TEST(FailureTable, aSuccessClearsTheRecord)
{
	for (int i = 0; i < 4; i++)
		table.recordFailure(pbx, 1000);
	table.recordSuccess(pbx, 1000);
	CHECK_FALSE(table.recordFailure(pbx, 1000));
	LONGS_EQUAL(1, table.size());
}

TEST(FailureTable, theGuessBudgetCapsFailuresOverAllSources)
{
	// A /48 (or a botnet): many /64s, four guesses each, none locked out.
	for (unsigned i = 0; i < FailureTable::kGuessBudget; i++) {
		SourcePrefix p = prefix("2001:db8:1:" + std::to_string(i) + "::1");
		CHECK_TRUE(table.mayGuess(p, 1000));
		table.recordFailure(p, 1000);
	}
	SourcePrefix next = prefix("2001:db8:1:ffff::1");
	CHECK_FALSE(table.mayGuess(next, 1000));
	LONGS_EQUAL(FailureTable::kWindowMs, table.budgetRetryAfterMs(1000));
	// The budget refills as failures leave the window.
	CHECK_TRUE(table.mayGuess(next, 1000 + FailureTable::kWindowMs));
}

TEST(FailureTable, aSourceThatAuthenticatedBeforeIsExemptFromTheBudget)
{
	table.recordSuccess(pbx, 500);
	for (unsigned i = 0; i < FailureTable::kGuessBudget; i++)
		table.recordFailure(prefix("198.51.100." + std::to_string(i)), 1000);
	CHECK_FALSE(table.mayGuess(prefix("203.0.113.1"), 1000));
	CHECK_TRUE(table.mayGuess(pbx, 1000));
}

TEST(FailureTable, knownSourcesAreListedMostRecentFirst)
{
	const SourcePrefix other = prefix("2001:db8:1:2::7");
	table.recordSuccess(pbx, 1000);
	table.recordSuccess(other, 2000);
	CHECK_TRUE(table.isKnown(pbx));
	CHECK_FALSE(table.isKnown(prefix("198.51.100.1")));
	const std::vector<SourcePrefix> known = table.authenticatedSources();
	LONGS_EQUAL(2, known.size());
	STRCMP_EQUAL("2001:db8:1:2::/64", known[0].toString().c_str());
	STRCMP_EQUAL("192.0.2.1", known[1].toString().c_str());
}

TEST(FailureTable, theKnownSourcesVersionMovesOnlyWhenTheListChanges)
{
	const SourcePrefix other = prefix("198.51.100.1");
	const std::uint64_t start = table.knownSourcesVersion();
	table.recordSuccess(pbx, 1000);
	const std::uint64_t added = table.knownSourcesVersion();
	CHECK_TRUE(added != start);
	// The most recent one again: the list reads the same, nothing to write.
	table.recordSuccess(pbx, 2000);
	LONGS_EQUAL(added, table.knownSourcesVersion());
	table.recordSuccess(other, 3000);
	const std::uint64_t second = table.knownSourcesVersion();
	CHECK_TRUE(second != added);
	// The order changed: another one is the most recent now.
	table.recordSuccess(pbx, 4000);
	CHECK_TRUE(table.knownSourcesVersion() != second);
}

TEST(FailureTable, restoredSourcesAreExemptAndQueueBehindThisRunsOwn)
{
	// A restart: what the last run knew comes back, behind the sources
	// that authenticated since, and never pushes one of those out.
	FailureTable before{16};
	before.recordSuccess(prefix("198.51.100.1"), 1000);
	before.recordSuccess(pbx, 2000);
	FailureTable after{16};
	const SourcePrefix sinceRestart = prefix("203.0.113.9");
	after.recordSuccess(sinceRestart, 10);
	const std::uint64_t version = after.knownSourcesVersion();
	after.restoreKnownSources(before.authenticatedSources());
	CHECK_TRUE(after.knownSourcesVersion() != version);
	const std::vector<SourcePrefix> known = after.authenticatedSources();
	LONGS_EQUAL(3, known.size());
	CHECK_TRUE(known[0] == sinceRestart);
	CHECK_TRUE(known[1] == pbx);
	STRCMP_EQUAL("198.51.100.1", known[2].toString().c_str());
	for (unsigned i = 0; i < FailureTable::kGuessBudget; i++)
		after.recordFailure(prefix("2001:db8:9:" + std::to_string(i) + "::1"), 1000);
	CHECK_FALSE(after.mayGuess(prefix("192.0.2.77"), 1000));
	CHECK_TRUE(after.mayGuess(pbx, 1000));
}

TEST(FailureTable, aRestoreIsBoundedAndKeepsTheSourcesOfThisRun)
{
	std::vector<SourcePrefix> many;
	for (unsigned i = 0; i < 2 * FailureTable::kKnownGood; i++)
		many.push_back(
			prefix("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256)));
	table.recordSuccess(pbx, 1000);
	table.restoreKnownSources(many);
	const std::vector<SourcePrefix> known = table.authenticatedSources();
	LONGS_EQUAL(FailureTable::kKnownGood, known.size());
	CHECK_TRUE(known.front() == pbx);
	CHECK_TRUE(known[1] == many[0]);
	CHECK_TRUE(known.back() == many[FailureTable::kKnownGood - 2]);
	// Nothing new: the version stays.
	const std::uint64_t version = table.knownSourcesVersion();
	table.restoreKnownSources(many);
	LONGS_EQUAL(version, table.knownSourcesVersion());
}

TEST(FailureTable, listsTheSourcesThatAuthenticatedMostRecentFirstAndBounded)
{
	CHECK_TRUE(table.authenticatedSources().empty());
	table.recordFailure(prefix("198.51.100.1"), 1000); // a failure is no success
	table.recordSuccess(pbx, 1000);
	table.recordSuccess(prefix("2001:db8:1:2::7"), 2000);
	std::vector<SourcePrefix> sources = table.authenticatedSources();
	LONGS_EQUAL(2, sources.size());
	STRCMP_EQUAL("2001:db8:1:2::/64", sources[0].toString().c_str());
	CHECK_TRUE(pbx == sources[1]);
	for (int i = 0; i < 100; i++)
		table.recordSuccess(prefix("10.0.0." + std::to_string(i)), 3000 + i);
	LONGS_EQUAL(FailureTable::kKnownGood, table.authenticatedSources().size());
}

TEST(FailureTable, listsAndUnlocksLockouts)
{
	for (int i = 0; i < 5; i++)
		table.recordFailure(pbx, 1000);
	for (int i = 0; i < 5; i++)
		table.recordFailure(prefix("2001:db8::1"), 1000);
	auto locked = table.lockedOut(2000);
	LONGS_EQUAL(2, locked.size());
	STRCMP_EQUAL("2001:db8::/64", locked[0].source.c_str());
	LONGS_EQUAL(61'000, locked[0].untilMs);
	CHECK_TRUE(table.unlock("192.0.2.1", 2000));
	CHECK_FALSE(table.locked(pbx, 2000));
	CHECK_FALSE(table.unlock("192.0.2.1", 2000));
	CHECK_TRUE(table.unlock("2001:db8::5", 2000)); // any address of the /64
	CHECK_FALSE(table.unlock("not an address", 2000));
	LONGS_EQUAL(0, table.lockedOut(2000).size());
}

TEST(FailureTable, staysBoundedUnderSpoofedSources)
{
	for (int i = 0; i < 10'000; i++)
		table.recordFailure(
			prefix("10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256)),
			1000);
	LONGS_EQUAL(16, table.size());
	CHECK_TRUE(table.bytesBound() < 16 * 1024);
}

TEST(FailureTable, evictsTheLeastRecentlyActiveAddressFirst)
{
	for (int i = 0; i < 5; i++)
		table.recordFailure(pbx, 1000);
	for (int i = 0; i < 15; i++)
		table.recordFailure(prefix("198.51.100." + std::to_string(i)), 1000);
	CHECK_TRUE(table.locked(pbx, 2000));
	table.recordFailure(prefix("198.51.100.200"), 2000);
	CHECK_FALSE(table.locked(pbx, 2000)); // the oldest entry went
	LONGS_EQUAL(16, table.size());
}

TEST(FailureTable, listsTheLockedOutAddressesWithTheEndOfTheirLock)
{
	for (int i = 0; i < 5; i++)
		table.recordFailure(prefix("192.0.2.1"), 1000);
	for (int i = 0; i < 5; i++)
		table.recordFailure(prefix("2001:db8::1"), 3000);
	for (int i = 0; i < 4; i++)
		table.recordFailure(prefix("198.51.100.7"), 3000); // not (yet) locked
	std::vector<Lockout> locked = table.lockedOut(4000);
	LONGS_EQUAL(2, locked.size());
	// Most recently active first.
	STRCMP_EQUAL("2001:db8::/64", locked[0].source.c_str());
	CHECK_EQUAL(3000 + FailureTable::kLockMs, locked[0].untilMs);
	STRCMP_EQUAL("192.0.2.1", locked[1].source.c_str());
	CHECK_EQUAL(1000 + FailureTable::kLockMs, locked[1].untilMs);
}

TEST(FailureTable, anExpiredLockIsNoLongerListed)
{
	for (int i = 0; i < 5; i++)
		table.recordFailure(prefix("192.0.2.1"), 1000);
	LONGS_EQUAL(1, table.lockedOut(1000 + FailureTable::kLockMs - 1).size());
	LONGS_EQUAL(0, table.lockedOut(1000 + FailureTable::kLockMs).size());
}

TEST(FailureTable, listingDoesNotChangeWhichAddressIsEvictedFirst)
{
	for (int i = 0; i < 5; i++)
		table.recordFailure(prefix("192.0.2.1"), 1000);
	for (int i = 0; i < 15; i++)
		table.recordFailure(prefix("198.51.100." + std::to_string(i)), 1000);
	(void)table.lockedOut(2000);
	// 192.0.2.1 is the least recently active: the next address evicts it.
	table.recordFailure(prefix("198.51.100.200"), 2000);
	CHECK_FALSE(table.locked(prefix("192.0.2.1"), 2000));
	LONGS_EQUAL(0, table.lockedOut(2000).size());
}

TEST(FailureTable, unlockLiftsTheLockAndForgetsTheFailures)
{
	for (int i = 0; i < 5; i++)
		table.recordFailure(prefix("192.0.2.1"), 1000);
	CHECK_TRUE(table.unlock("192.0.2.1", 1000));
	CHECK_FALSE(table.locked(prefix("192.0.2.1"), 1001));
	LONGS_EQUAL(0, table.lockedOut(1001).size());
	// A fresh start: four more failures do not lock it again.
	for (int i = 0; i < 4; i++)
		CHECK_FALSE(table.recordFailure(prefix("192.0.2.1"), 1002));
	CHECK_FALSE(table.locked(prefix("192.0.2.1"), 1003));
}

TEST(FailureTable, unlockRefusesAnAddressThatWasNeverLocked)
{
	for (int i = 0; i < 4; i++)
		table.recordFailure(prefix("192.0.2.1"), 1000);
	CHECK_FALSE(table.unlock("192.0.2.1", 1000));
	CHECK_FALSE(table.unlock("192.0.2.99", 1000));
	// The failures recorded so far still count.
	CHECK_TRUE(table.recordFailure(prefix("192.0.2.1"), 1001));
}
