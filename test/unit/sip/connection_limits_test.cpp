// SPDX-License-Identifier: MIT

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "sip/connection_limits.hpp"

#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

namespace {

SourcePrefix source(const std::string &address)
{
	sockaddr_storage storage{};
	if (address.find(':') == std::string::npos) {
		auto *in = reinterpret_cast<sockaddr_in *>(&storage);
		in->sin_family = AF_INET;
		inet_pton(AF_INET, address.c_str(), &in->sin_addr);
	} else {
		auto *in6 = reinterpret_cast<sockaddr_in6 *>(&storage);
		in6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, address.c_str(), &in6->sin6_addr);
	}
	// As the TCP guard reads a peer.
	return SourceAddress::fromSockaddr(reinterpret_cast<const sockaddr *>(&storage),
					   Transport::Tcp)
		->prefix;
}

// What the daemon sees open: grows with connect(), shrinks with gone().
struct World {
	struct Connection {
		ConnectionLimits::Id id;
		SourcePrefix source;
		std::string address;
	};
	using Trust = ConnectionLimits::Trust;

	ConnectionLimits limits;
	std::vector<Connection> open;
	ConnectionLimits::Id next = 1;
	std::uint64_t now = 1000;

	explicit World(ConnectionLimits::Limits l) : limits(l) {}

	// One new connection from `address`; returns the ids the unit closes.
	std::vector<ConnectionLimits::Id> connect(const std::string &address)
	{
		add(address);
		return update();
	}

	void add(const std::string &address) { open.push_back({next++, source(address), address}); }

	// What the caller knows of each source (Allowed unless told).
	std::map<std::string, Trust> trust;

	std::vector<ConnectionLimits::Id> update()
	{
		std::vector<ConnectionLimits::Seen> seen;
		for (const Connection &c : open) {
			auto known = trust.find(c.address);
			seen.push_back({c.id, c.source,
					known == trust.end() ? Trust::Allowed : known->second});
		}
		reasons.clear();
		std::vector<ConnectionLimits::Id> ids;
		for (const ConnectionLimits::Close &close : limits.update(seen, now)) {
			ids.push_back(close.id);
			reasons.push_back(close.reason);
		}
		return ids;
	}

	std::vector<ConnectionLimits::Reason> reasons; // of the last update()

	// The caller closed these: they leave the open set.
	void gone(const std::vector<ConnectionLimits::Id> &ids)
	{
		std::erase_if(open, [&](const Connection &s) {
			return std::find(ids.begin(), ids.end(), s.id) != ids.end();
		});
	}
};

using Ids = std::vector<ConnectionLimits::Id>;

} // namespace

TEST_GROUP(ConnectionLimits)
{
	World world{{.total = 4, .perSource = 2, .firstRequestMs = 10'000, .idleMs = 30'000}};
};

TEST(ConnectionLimits, keepsConnectionsWithinBothLimits)
{
	CHECK_TRUE(world.connect("192.0.2.1").empty());
	CHECK_TRUE(world.connect("192.0.2.2").empty());
	CHECK_TRUE(world.connect("192.0.2.1").empty());
	UNSIGNED_LONGS_EQUAL(3, world.limits.size());
	UNSIGNED_LONGS_EQUAL(2, world.limits.countOf(source("192.0.2.1")));
}

TEST(ConnectionLimits, aSourceOverItsCapLosesItsOwnOldestConnection)
{
	world.connect("192.0.2.1");                  // id 1
	world.connect("192.0.2.9");                  // id 2
	world.connect("192.0.2.1");                  // id 3
	CHECK(world.connect("192.0.2.1") == Ids{1}); // id 4 in, 1 out
	CHECK_EQUAL(std::vector{ConnectionLimits::Reason::SourceFull}, world.reasons);
	UNSIGNED_LONGS_EQUAL(2, world.limits.countOf(source("192.0.2.1")));
	UNSIGNED_LONGS_EQUAL(1, world.limits.countOf(source("192.0.2.9")));
}

TEST(ConnectionLimits, aFullTableClosesTheOldestOfTheLargestHolderForANewcomer)
{
	world.connect("192.0.2.9");                  // id 1: the PBX, oldest
	world.connect("192.0.2.1");                  // id 2
	world.connect("192.0.2.2");                  // id 3
	world.connect("192.0.2.2");                  // id 4
	CHECK(world.connect("192.0.2.3") == Ids{3}); // .2 holds most
	CHECK_EQUAL(std::vector{ConnectionLimits::Reason::TableFull}, world.reasons);
	UNSIGNED_LONGS_EQUAL(4, world.limits.size());
	UNSIGNED_LONGS_EQUAL(1, world.limits.countOf(source("192.0.2.9")));
	UNSIGNED_LONGS_EQUAL(1, world.limits.countOf(source("192.0.2.3")));
}

TEST(ConnectionLimits, aChurningAttackerCannotPushOutAConnectionThatCarriedARequest)
{
	// Every source holds one connection, as a PBX does; the PBX's is the
	// oldest, and it sent its check-sync on it.
	world.connect("192.0.2.9"); // id 1: the PBX
	world.limits.requestSeen(1, world.now);
	for (int i = 0; i < 20; i++) {
		const Ids closed = world.connect("198.51.100." + std::to_string(i));
		world.gone(closed);
		if (i >= 3) {
			LONGS_EQUAL(1, closed.size());
			CHECK_TRUE(closed[0] != 1);
		}
	}
	CHECK_TRUE(world.limits.contains(1));
}

TEST(ConnectionLimits, aSourceThatIsKeptGoesLastEvenAgainstRequestsFromEveryoneElse)
{
	// The attackers send requests too; the PBX authenticated before (or
	// the filter names it).
	world.trust["192.0.2.9"] = World::Trust::Kept;
	world.connect("192.0.2.9"); // id 1
	for (int i = 0; i < 20; i++) {
		world.add("198.51.100." + std::to_string(i));
		world.limits.requestSeen(world.next - 1, world.now); // not seen yet: ignored
		const Ids closed = world.update();
		world.limits.requestSeen(world.next - 1, world.now);
		world.gone(closed);
		CHECK_TRUE(std::find(closed.begin(), closed.end(), 1) == closed.end());
	}
	CHECK_TRUE(world.limits.contains(1));
}

TEST(ConnectionLimits, aRequestFromASourceTheFilterDropsProvesNothing)
{
	world.trust["198.51.100.1"] = World::Trust::Filtered;
	world.connect("198.51.100.1"); // id 1, oldest, carries a request
	world.limits.requestSeen(1, world.now);
	world.connect("192.0.2.2"); // id 2, silent
	world.connect("192.0.2.3"); // id 3, carries a request
	world.limits.requestSeen(3, world.now);
	world.connect("192.0.2.4"); // id 4, silent
	// The filtered one and the silent ones rank alike: the oldest goes.
	CHECK(world.connect("192.0.2.5") == Ids{1});
	CHECK(world.connect("192.0.2.6") == Ids{2});
	CHECK(world.connect("192.0.2.7") == Ids{4});
	CHECK(world.connect("192.0.2.8") == Ids{5});
}

TEST(ConnectionLimits, aSourceBecomesKeptOnceItAuthenticates)
{
	world.connect("192.0.2.9"); // id 1: silent so far
	world.connect("192.0.2.1");
	world.connect("192.0.2.2");
	world.connect("192.0.2.3");
	// It authenticated (on this connection or another): the next look
	// knows.
	world.trust["192.0.2.9"] = World::Trust::Kept;
	CHECK(world.connect("192.0.2.4") == Ids{2});
}

TEST(ConnectionLimits, whenEveryConnectionIsKeptANewcomerStillGetsIn)
{
	for (const char *a : {"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"}) {
		world.trust[a] = World::Trust::Kept;
		world.connect(a);
	}
	CHECK(world.connect("198.51.100.1") == Ids{1});
}

TEST(ConnectionLimits, aSourceOverItsCapLosesItsLeastProvenConnectionFirst)
{
	world.connect("192.0.2.1"); // id 1, carries a request
	world.limits.requestSeen(1, world.now);
	world.connect("192.0.2.1");                  // id 2, silent
	CHECK(world.connect("192.0.2.1") == Ids{2}); // id 3 in
	CHECK_EQUAL(std::vector{ConnectionLimits::Reason::SourceFull}, world.reasons);
}

TEST(ConnectionLimits, amongEqualHoldersTheOldestConnectionGoes)
{
	world.connect("192.0.2.1");
	world.connect("192.0.2.2");
	world.connect("192.0.2.3");
	world.connect("192.0.2.4");
	CHECK(world.connect("192.0.2.5") == Ids{1});
}

TEST(ConnectionLimits, whatItClosedIsNotCountedAgainWhileItIsStillReportedOpen)
{
	world.connect("192.0.2.1");
	world.connect("192.0.2.1");
	Ids closed = world.connect("192.0.2.1");
	CHECK(closed == Ids{1});
	// The caller has shut it down, but it is still open for one more look.
	CHECK_TRUE(world.update().empty());
	UNSIGNED_LONGS_EQUAL(2, world.limits.size());
	UNSIGNED_LONGS_EQUAL(1, world.limits.closing());
	world.gone(closed);
	CHECK_TRUE(world.update().empty());
	UNSIGNED_LONGS_EQUAL(2, world.limits.size());
	UNSIGNED_LONGS_EQUAL(0, world.limits.closing());
}

TEST(ConnectionLimits, connectionsThatWentAwayFreeTheirPlaces)
{
	world.connect("192.0.2.1");
	world.connect("192.0.2.1");
	world.gone({1, 2});
	CHECK_TRUE(world.update().empty());
	UNSIGNED_LONGS_EQUAL(0, world.limits.size());
	CHECK_TRUE(world.connect("192.0.2.1").empty());
	CHECK_TRUE(world.connect("192.0.2.1").empty());
}

TEST(ConnectionLimits, manyNewConnectionsAtOnceStayWithinTheLimits)
{
	for (int i = 0; i < 10; i++)
		world.add("192.0.2." + std::to_string(1 + i % 3));
	Ids closed = world.update();
	UNSIGNED_LONGS_EQUAL(6, closed.size());
	UNSIGNED_LONGS_EQUAL(4, world.limits.size());
	for (const char *a : {"192.0.2.1", "192.0.2.2", "192.0.2.3"})
		CHECK_TRUE(world.limits.countOf(source(a)) <= 2);
}

TEST(ConnectionLimits, aConnectionWithoutARequestIsClosedAfterTheFirstRequestTime)
{
	world.connect("192.0.2.1"); // 1 at 1000, never completes a request
	world.now = 2000;
	world.connect("192.0.2.2"); // 2 at 2000
	CHECK((world.limits.nextExpiryMs() == std::optional<std::uint64_t>{11'000}));
	world.now = 10'999;
	CHECK_TRUE(world.update().empty());
	world.now = 11'000;
	CHECK(world.update() == Ids{1});
	CHECK_EQUAL(std::vector{ConnectionLimits::Reason::NoRequest}, world.reasons);
	CHECK((world.limits.nextExpiryMs() == std::optional<std::uint64_t>{12'000}));
}

TEST(ConnectionLimits, eachRequestStartsTheIdleTimeAfresh)
{
	world.connect("192.0.2.1"); // at 1000
	world.now = 5000;
	world.limits.requestSeen(1, world.now);
	world.now = 11'000;
	CHECK_TRUE(world.update().empty()); // past the first-request time: fine
	CHECK((world.limits.nextExpiryMs() == std::optional<std::uint64_t>{35'000}));
	world.now = 34'999;
	world.limits.requestSeen(1, world.now);
	CHECK_TRUE(world.update().empty());
	world.now = 64'998;
	CHECK_TRUE(world.update().empty());
	world.now = 64'999;
	CHECK(world.update() == Ids{1});
	CHECK_EQUAL(std::vector{ConnectionLimits::Reason::Idle}, world.reasons);
	CHECK_FALSE(world.limits.nextExpiryMs().has_value());
}

TEST(ConnectionLimits, requestsOnConnectionsItDoesNotKnowAreIgnored)
{
	world.connect("192.0.2.1");
	world.limits.requestSeen(99, 5000);
	CHECK_FALSE(world.limits.contains(99));
	CHECK_TRUE(world.limits.contains(1));
	UNSIGNED_LONGS_EQUAL(1, world.limits.size());
}

TEST(ConnectionLimits, noExpiryWithoutConnections)
{
	CHECK_FALSE(world.limits.nextExpiryMs().has_value());
}

TEST(ConnectionLimits, shedGivesUpTheOldestOfTheLargestHolder)
{
	world.connect("192.0.2.1"); // 1
	world.connect("192.0.2.2"); // 2
	world.connect("192.0.2.2"); // 3
	for (ConnectionLimits::Id expected : {2, 1, 3}) {
		std::optional<ConnectionLimits::Close> shed = world.limits.shed();
		CHECK_TRUE(shed.has_value());
		UNSIGNED_LONGS_EQUAL(expected, shed->id);
		CHECK_EQUAL(ConnectionLimits::Reason::Shed, shed->reason);
	}
	CHECK_FALSE(world.limits.shed().has_value());
	// Shed connections are closing, not new, while still reported.
	CHECK_TRUE(world.update().empty());
}

TEST(ConnectionLimits, shedGivesUpTheLeastProvenFirst)
{
	world.trust["192.0.2.9"] = World::Trust::Kept;
	world.connect("192.0.2.9"); // 1
	world.connect("192.0.2.1"); // 2, carries a request
	world.limits.requestSeen(2, world.now);
	world.connect("192.0.2.2"); // 3, silent
	for (ConnectionLimits::Id expected : {3, 2, 1})
		UNSIGNED_LONGS_EQUAL(expected, world.limits.shed()->id);
}

TEST(ConnectionLimits, noRoomAtAllClosesEveryNewConnection)
{
	World none{{.total = 0, .perSource = 8, .firstRequestMs = 1000, .idleMs = 1000}};
	CHECK(none.connect("192.0.2.1") == Ids{1});
	CHECK_EQUAL(std::vector{ConnectionLimits::Reason::NoRoom}, none.reasons);
	UNSIGNED_LONGS_EQUAL(0, none.limits.size());
}

TEST(ConnectionLimits, ipv6SourcesCountPerSlash64)
{
	world.connect("2001:db8:1:2::1");
	world.connect("2001:db8:1:2:ffff::77");
	CHECK(world.connect("2001:db8:1:2::3") == Ids{1});
	CHECK_TRUE(world.connect("2001:db8:1:3::1").empty());
}

TEST(ConnectionLimits, anIpv4MappedAddressCountsAsItsIpv4Address)
{
	CHECK(source("::ffff:192.0.2.1") == source("192.0.2.1"));
	CHECK_FALSE(source("::ffff:192.0.2.1") == source("::192.0.2.1"));
	CHECK_FALSE(source("192.0.2.1") == source("192.0.2.2"));
}

TEST(ConnectionLimits, otherFamiliesHaveNoSource)
{
	sockaddr_storage storage{};
	storage.ss_family = AF_UNIX;
	CHECK_FALSE(SourceAddress::fromSockaddr(reinterpret_cast<const sockaddr *>(&storage),
						Transport::Tcp)
			    .has_value());
	CHECK_FALSE(SourceAddress::fromSockaddr(nullptr, Transport::Tcp).has_value());
}
