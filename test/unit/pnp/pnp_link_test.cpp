// SPDX-License-Identifier: MIT
//
// Tests of common/pnp/pnp_link.hpp: which sources a plug-and-play round takes
// datagrams from (only its own link), given the interface's addresses as an
// RTM_GETADDR dump lists them.

#include <arpa/inet.h>

#include <string>
#include <vector>

#include "pnp/pnp_link.hpp"

#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

namespace {

constexpr int kEth0 = 2;
constexpr int kWlan0 = 3;

std::uint32_t networkOrder(const char *text)
{
	in_addr address{};
	inet_pton(AF_INET, text, &address);
	return address.s_addr;
}

// An address as the dump lists it: "10.0.0.1/24", or a point-to-point
// address with its peer's prefix.
Ipv4AddressChange dumped(int ifindex, const char *local, unsigned length,
			 const char *peer = nullptr)
{
	Ipv4AddressChange change;
	change.added = true;
	change.fromDump = true;
	change.ifindex = ifindex;
	change.address = networkOrder(local);
	change.prefixAddress = networkOrder(peer ? peer : local);
	change.prefixLength = length;
	return change;
}

IpAddress ip(const char *text)
{
	return *IpAddress::parse(text);
}

RoundLink linkOf(const char *local, const std::vector<Ipv4AddressChange> &all)
{
	std::optional<RoundLink> link = RoundLink::holding(ip(local), all);
	CHECK_TRUE(link.has_value());
	return *link;
}

// The verdict's text (a string literal: NUL-terminated).
const char *verdict(const RoundLink &link, const char *source, int arrivedOn = kEth0)
{
	return linkVerdictText(link.judge(ip(source), arrivedOn)).data();
}

} // namespace

TEST_GROUP(PnpLink){};

TEST(PnpLink, aHostInThePrefixOfTheRoundsAddressIsOnTheLink)
{
	const RoundLink link = linkOf("10.213.0.1", {dumped(kEth0, "10.213.0.1", 24)});
	LONGS_EQUAL(kEth0, link.ifindex());
	CHECK_EQUAL(LinkVerdict::OnLink, link.judge(ip("10.213.0.2"), kEth0));
	CHECK_EQUAL(LinkVerdict::OnLink, link.judge(ip("10.213.0.254"), kEth0));
	STRCMP_EQUAL("10.213.0.1/24", link.describe().c_str());
}

TEST(PnpLink, aHostBehindTheGatewayIsOffTheLink)
{
	const RoundLink link = linkOf("10.213.0.1", {dumped(kEth0, "10.213.0.1", 24)});
	CHECK_EQUAL(LinkVerdict::OffLink, link.judge(ip("10.214.0.2"), kEth0));
	CHECK_EQUAL(LinkVerdict::OffLink, link.judge(ip("10.213.1.2"), kEth0));
	CHECK_EQUAL(LinkVerdict::OffLink, link.judge(ip("198.51.100.7"), kEth0));
	STRCMP_EQUAL("off the link", verdict(link, "198.51.100.7"));
}

TEST(PnpLink, onlyWhatArrivedByTheRoundsInterfaceCounts)
{
	const RoundLink link = linkOf(
		"10.213.0.1", {dumped(kEth0, "10.213.0.1", 24), dumped(kWlan0, "192.168.7.5", 24)});
	// A source of the round's prefix that came in by another interface
	// (forwarded, or spoofed there) is not from the round's link, and
	// neither is one of the other interface's own prefix.
	CHECK_EQUAL(LinkVerdict::OtherInterface, link.judge(ip("10.213.0.2"), kWlan0));
	CHECK_EQUAL(LinkVerdict::OtherInterface, link.judge(ip("192.168.7.9"), kWlan0));
	CHECK_EQUAL(LinkVerdict::OffLink, link.judge(ip("192.168.7.9"), kEth0));
	// Nor when the kernel did not say by which interface.
	CHECK_EQUAL(LinkVerdict::OtherInterface, link.judge(ip("10.213.0.2"), 0));
	// The other interface's address is not the round's.
	CHECK_FALSE(link.holds(ip("192.168.7.5")));
	STRCMP_EQUAL("10.213.0.1/24", link.describe().c_str());
}

TEST(PnpLink, everyPrefixOfTheInterfaceCounts)
{
	const RoundLink link = linkOf("10.213.0.1", {dumped(kEth0, "10.213.0.1", 24),
						     dumped(kEth0, "172.16.4.1", 22),
						     dumped(kWlan0, "192.168.7.5", 24)});
	LONGS_EQUAL(2, link.addresses().size());
	CHECK_EQUAL(LinkVerdict::OnLink, link.judge(ip("10.213.0.9"), kEth0));
	CHECK_EQUAL(LinkVerdict::OnLink, link.judge(ip("172.16.7.200"), kEth0));
	CHECK_EQUAL(LinkVerdict::OffLink, link.judge(ip("172.16.8.1"), kEth0));
	STRCMP_EQUAL("10.213.0.1/24, 172.16.4.1/22", link.describe().c_str());
}

TEST(PnpLink, thePhonesOwnAddressesAreNoServer)
{
	const RoundLink link = linkOf(
		"10.213.0.1", {dumped(kEth0, "10.213.0.1", 24), dumped(kEth0, "10.213.0.77", 24)});
	CHECK_EQUAL(LinkVerdict::Own, link.judge(ip("10.213.0.1"), kEth0));
	CHECK_EQUAL(LinkVerdict::Own, link.judge(ip("10.213.0.77"), kEth0));
	STRCMP_EQUAL("from the phone's own address", verdict(link, "10.213.0.77"));
}

TEST(PnpLink, sourcesThatAreNeverUnicastAreRefused)
{
	const RoundLink link = linkOf("10.213.0.1", {dumped(kEth0, "10.213.0.1", 24)});
	for (const char *source :
	     {"0.0.0.0", "0.1.2.3", "127.0.0.1", "224.0.1.75", "239.255.255.250", "240.0.0.1",
	      "255.255.255.255", "10.213.0.0", "10.213.0.255"})
		STRCMP_EQUAL_TEXT("not a unicast source", verdict(link, source), source);
}

TEST(PnpLink, aSlash31HasTwoHostsAndNoBroadcast)
{
	const RoundLink link = linkOf("10.9.9.0", {dumped(kEth0, "10.9.9.0", 31)});
	CHECK_TRUE(link.hasRoomForPeers());
	CHECK_EQUAL(LinkVerdict::OnLink, link.judge(ip("10.9.9.1"), kEth0));
	CHECK_EQUAL(LinkVerdict::Own, link.judge(ip("10.9.9.0"), kEth0));
	CHECK_EQUAL(LinkVerdict::OffLink, link.judge(ip("10.9.9.2"), kEth0));
}

TEST(PnpLink, aSlash32AddressConnectsNoPrefixSoNothingIsOnTheLink)
{
	// An address without a connected prefix (a /32, its router reached
	// by an explicit route): every other host is behind a route.
	const RoundLink link = linkOf("203.0.113.7", {dumped(kEth0, "203.0.113.7", 32)});
	CHECK_FALSE(link.hasRoomForPeers());
	CHECK_EQUAL(LinkVerdict::OffLink, link.judge(ip("203.0.113.1"), kEth0));
	CHECK_EQUAL(LinkVerdict::OffLink, link.judge(ip("203.0.113.8"), kEth0));
	CHECK_EQUAL(LinkVerdict::Own, link.judge(ip("203.0.113.7"), kEth0));
	// A second address with a prefix makes room again.
	const RoundLink both = linkOf(
		"203.0.113.7", {dumped(kEth0, "203.0.113.7", 32), dumped(kEth0, "10.1.1.1", 24)});
	CHECK_TRUE(both.hasRoomForPeers());
}

TEST(PnpLink, aPointToPointLinkHasItsPeerOnIt)
{
	const RoundLink link = linkOf("192.0.2.1", {dumped(kEth0, "192.0.2.1", 32, "192.0.2.99")});
	CHECK_TRUE(link.hasRoomForPeers());
	CHECK_EQUAL(LinkVerdict::OnLink, link.judge(ip("192.0.2.99"), kEth0));
	CHECK_EQUAL(LinkVerdict::OffLink, link.judge(ip("192.0.2.2"), kEth0));
	STRCMP_EQUAL("192.0.2.1 peer 192.0.2.99", link.describe().c_str());
}

TEST(PnpLink, noLinkWhenNoInterfaceHoldsTheAddress)
{
	// The round's address went away (DHCP gave another, the cable was
	// pulled): there is no link to take anything from.
	CHECK_FALSE(RoundLink::holding(ip("10.213.0.1"), {}).has_value());
	Ipv4AddressChange removed = dumped(kEth0, "10.213.0.1", 24);
	removed.added = false;
	CHECK_FALSE(RoundLink::holding(ip("10.213.0.1"), std::vector{removed}).has_value());
	CHECK_FALSE(
		RoundLink::holding(ip("10.213.0.1"), std::vector{dumped(kEth0, "10.213.0.2", 24)})
			.has_value());
}

TEST(PnpLink, theLinkFollowsTheInterfacesAddresses)
{
	// Read again after the addresses changed: a prefix that went away no
	// longer counts, one that came does.
	const RoundLink before = linkOf(
		"10.213.0.1", {dumped(kEth0, "10.213.0.1", 24), dumped(kEth0, "172.16.0.1", 24)});
	CHECK_EQUAL(LinkVerdict::OnLink, before.judge(ip("172.16.0.5"), kEth0));
	const RoundLink after = linkOf(
		"10.213.0.1", {dumped(kEth0, "10.213.0.1", 24), dumped(kEth0, "192.168.50.1", 24)});
	CHECK_EQUAL(LinkVerdict::OffLink, after.judge(ip("172.16.0.5"), kEth0));
	CHECK_EQUAL(LinkVerdict::OnLink, after.judge(ip("192.168.50.5"), kEth0));
}

TEST(PnpLink, ipv6SourcesAreNeverOnAnIpv4RoundsLink)
{
	const RoundLink link = linkOf("10.213.0.1", {dumped(kEth0, "10.213.0.1", 24)});
	CHECK_EQUAL(LinkVerdict::OffLink, link.judge(ip("fe80::1"), kEth0));
	CHECK_EQUAL(LinkVerdict::OffLink, link.judge(ip("2001:db8::1"), kEth0));
	// The mapped form of an on-link address is that address.
	CHECK_EQUAL(LinkVerdict::OnLink, link.judge(ip("::ffff:10.213.0.2"), kEth0));
}

TEST(PnpLink, theTableIsBoundedAndKeepsTheRoundsAddress)
{
	std::vector<Ipv4AddressChange> all;
	for (unsigned i = 0; i < RoundLink::kMaxAddresses + 8; ++i) {
		const std::string address = "172.16." + std::to_string(i) + ".1";
		all.push_back(dumped(kEth0, address.c_str(), 24));
	}
	all.push_back(dumped(kEth0, "10.213.0.1", 24));
	// Repeated lines (a dump read twice) are one address.
	all.push_back(dumped(kEth0, "10.213.0.1", 24));
	const RoundLink link = linkOf("10.213.0.1", all);
	LONGS_EQUAL(RoundLink::kMaxAddresses, link.addresses().size());
	CHECK_TRUE(link.holds(ip("10.213.0.1")));
	CHECK_EQUAL(LinkVerdict::OnLink, link.judge(ip("10.213.0.2"), kEth0));
}
