// SPDX-License-Identifier: MIT
//
// Readers of rtnetlink messages (common/pnp/rtnetlink.cpp), on datagrams built
// here the way the kernel lays them out.

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/if_arp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "pnp/rtnetlink.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

namespace {

constexpr std::uint32_t kOurPid = 4242;
constexpr std::uint32_t kDumpSeq = 7;

std::uint32_t ipv4(const char *text)
{
	in_addr address{};
	inet_pton(AF_INET, text, &address);
	return address.s_addr;
}

// One datagram of netlink messages.
class Datagram
{
public:
	// Starts a message; its fixed header follows.
	template<typename Fixed>
	Datagram &message(std::uint16_t type, const Fixed &fixed, std::uint32_t seq = 0,
			  std::uint32_t pid = 0, std::uint16_t flags = 0)
	{
		start_ = bytes_.size();
		nlmsghdr header{};
		header.nlmsg_type = type;
		header.nlmsg_seq = seq;
		header.nlmsg_pid = pid;
		header.nlmsg_flags = flags;
		append(&header, sizeof(header));
		append(&fixed, sizeof(fixed));
		finish();
		return *this;
	}

	template<typename Value>
	Datagram &attribute(std::uint16_t type, const Value &value)
	{
		return attributeBytes(type, &value, sizeof(value));
	}

	Datagram &attributeBytes(std::uint16_t type, const void *data, std::size_t length)
	{
		rtattr attr{};
		attr.rta_type = type;
		attr.rta_len = static_cast<unsigned short>(RTA_LENGTH(length));
		append(&attr, sizeof(attr));
		append(data, length);
		finish();
		return *this;
	}

	Datagram &done(std::uint32_t seq, std::uint32_t pid)
	{
		return message(NLMSG_DONE, 0, seq, pid, NLM_F_MULTI);
	}

	const void *data() const { return bytes_.data(); }
	std::size_t size() const { return bytes_.size(); }

private:
	void append(const void *data, std::size_t length)
	{
		const auto *p = static_cast<const unsigned char *>(data);
		bytes_.insert(bytes_.end(), p, p + length);
		bytes_.resize(NLMSG_ALIGN(bytes_.size()), 0);
	}
	// The message's length covers everything appended since it started.
	void finish()
	{
		const auto length = static_cast<std::uint32_t>(bytes_.size() - start_);
		std::memcpy(bytes_.data() + start_, &length, sizeof(length));
	}

	std::vector<unsigned char> bytes_;
	std::size_t start_ = 0;
};

ifaddrmsg address(int ifindex, unsigned char family = AF_INET,
		  unsigned char scope = RT_SCOPE_UNIVERSE)
{
	ifaddrmsg message{};
	message.ifa_family = family;
	message.ifa_prefixlen = 24;
	message.ifa_scope = scope;
	message.ifa_index = static_cast<unsigned>(ifindex);
	return message;
}

rtmsg defaultRoute(unsigned char table = RT_TABLE_MAIN, unsigned char dstLen = 0)
{
	rtmsg route{};
	route.rtm_family = AF_INET;
	route.rtm_dst_len = dstLen;
	route.rtm_table = table;
	route.rtm_protocol = RTPROT_BOOT;
	route.rtm_scope = RT_SCOPE_UNIVERSE;
	route.rtm_type = RTN_UNICAST;
	return route;
}

} // namespace

TEST_GROUP(Rtnetlink){};

// Addresses

TEST(Rtnetlink, readsNewAndRemovedIpv4Addresses)
{
	Datagram d;
	d.message(RTM_NEWADDR, address(2))
		.attribute(IFA_ADDRESS, ipv4("10.0.0.1"))
		.attribute(IFA_LOCAL, ipv4("10.0.0.1"));
	d.message(RTM_DELADDR, address(3)).attribute(IFA_LOCAL, ipv4("10.0.1.1"));
	const AddressMessages m = readAddressMessages(d.data(), d.size(), kDumpSeq, kOurPid);
	LONGS_EQUAL(2, m.changes.size());
	CHECK_TRUE(m.changes[0].added);
	LONGS_EQUAL(2, m.changes[0].ifindex);
	CHECK_TRUE(m.changes[0].address == ipv4("10.0.0.1"));
	CHECK_FALSE(m.changes[0].fromDump);
	CHECK_FALSE(m.changes[1].added);
	LONGS_EQUAL(3, m.changes[1].ifindex);
	CHECK_FALSE(m.dumpDone);
}

TEST(Rtnetlink, takesTheLocalAddressOfAPointToPointLink)
{
	Datagram d;
	d.message(RTM_NEWADDR, address(5))
		.attribute(IFA_ADDRESS, ipv4("192.0.2.99"))
		.attribute(IFA_LOCAL, ipv4("192.0.2.1"));
	const AddressMessages m = readAddressMessages(d.data(), d.size(), kDumpSeq, kOurPid);
	LONGS_EQUAL(1, m.changes.size());
	CHECK_TRUE(m.changes[0].address == ipv4("192.0.2.1"));
}

TEST(Rtnetlink, readsThePrefixAnAddressConnects)
{
	Datagram d;
	ifaddrmsg slash20 = address(2);
	slash20.ifa_prefixlen = 20;
	d.message(RTM_NEWADDR, slash20)
		.attribute(IFA_ADDRESS, ipv4("10.1.2.3"))
		.attribute(IFA_LOCAL, ipv4("10.1.2.3"));
	ifaddrmsg host = address(2);
	host.ifa_prefixlen = 32;
	d.message(RTM_NEWADDR, host).attribute(IFA_LOCAL, ipv4("203.0.113.7"));
	const AddressMessages m = readAddressMessages(d.data(), d.size(), kDumpSeq, kOurPid);
	LONGS_EQUAL(2, m.changes.size());
	CHECK_TRUE(m.changes[0].prefixAddress == ipv4("10.1.2.3"));
	LONGS_EQUAL(20, m.changes[0].prefixLength);
	// Without IFA_ADDRESS the prefix is the address's own.
	CHECK_TRUE(m.changes[1].prefixAddress == ipv4("203.0.113.7"));
	LONGS_EQUAL(32, m.changes[1].prefixLength);
}

TEST(Rtnetlink, thePrefixOfAPointToPointLinkIsThePeers)
{
	Datagram d;
	ifaddrmsg peer = address(5);
	peer.ifa_prefixlen = 32;
	d.message(RTM_NEWADDR, peer)
		.attribute(IFA_ADDRESS, ipv4("192.0.2.99"))
		.attribute(IFA_LOCAL, ipv4("192.0.2.1"));
	const AddressMessages m = readAddressMessages(d.data(), d.size(), kDumpSeq, kOurPid);
	LONGS_EQUAL(1, m.changes.size());
	CHECK_TRUE(m.changes[0].address == ipv4("192.0.2.1"));
	CHECK_TRUE(m.changes[0].prefixAddress == ipv4("192.0.2.99"));
	LONGS_EQUAL(32, m.changes[0].prefixLength);
}

TEST(Rtnetlink, leavesOutLoopbackAndIpv6)
{
	Datagram d;
	d.message(RTM_NEWADDR, address(1, AF_INET, RT_SCOPE_HOST))
		.attribute(IFA_LOCAL, ipv4("127.0.0.1"));
	const unsigned char v6[16] = {0x20, 0x01, 0x0d, 0xb8};
	d.message(RTM_NEWADDR, address(2, AF_INET6)).attributeBytes(IFA_ADDRESS, v6, sizeof(v6));
	d.message(RTM_NEWLINK, ifinfomsg{});
	LONGS_EQUAL(0, readAddressMessages(d.data(), d.size(), kDumpSeq, kOurPid).changes.size());
}

TEST(Rtnetlink, tellsDumpRepliesFromNotifications)
{
	Datagram d;
	d.message(RTM_NEWADDR, address(2), kDumpSeq, kOurPid, NLM_F_MULTI)
		.attribute(IFA_LOCAL, ipv4("10.0.0.1"));
	d.message(RTM_NEWADDR, address(2), kDumpSeq, 999).attribute(IFA_LOCAL, ipv4("10.0.0.2"));
	d.done(kDumpSeq, kOurPid);
	const AddressMessages m = readAddressMessages(d.data(), d.size(), kDumpSeq, kOurPid);
	LONGS_EQUAL(2, m.changes.size());
	CHECK_TRUE(m.changes[0].fromDump);
	CHECK_FALSE(m.changes[1].fromDump);
	CHECK_TRUE(m.dumpDone);
	LONGS_EQUAL(0, m.dumpError);
}

TEST(Rtnetlink, someoneElsesDoneIsNotOurs)
{
	Datagram d;
	d.done(kDumpSeq + 1, kOurPid);
	d.done(kDumpSeq, kOurPid + 1);
	CHECK_FALSE(readAddressMessages(d.data(), d.size(), kDumpSeq, kOurPid).dumpDone);
}

TEST(Rtnetlink, aFailedDumpEndsWithItsError)
{
	nlmsgerr error{};
	error.error = -EPERM;
	Datagram d;
	d.message(NLMSG_ERROR, error, kDumpSeq, kOurPid);
	const AddressMessages m = readAddressMessages(d.data(), d.size(), kDumpSeq, kOurPid);
	CHECK_TRUE(m.dumpDone);
	LONGS_EQUAL(EPERM, m.dumpError);
}

TEST(Rtnetlink, truncatedDatagramsAreReadSafely)
{
	Datagram d;
	d.message(RTM_NEWADDR, address(2)).attribute(IFA_LOCAL, ipv4("10.0.0.1"));
	for (std::size_t length = 0; length < d.size(); ++length)
		LONGS_EQUAL(
			0, readAddressMessages(d.data(), length, kDumpSeq, kOurPid).changes.size());
	// A message length beyond the datagram, and one too small.
	std::vector<unsigned char> bytes(static_cast<const unsigned char *>(d.data()),
					 static_cast<const unsigned char *>(d.data()) + d.size());
	std::uint32_t huge = 100000;
	std::memcpy(bytes.data(), &huge, sizeof(huge));
	LONGS_EQUAL(
		0,
		readAddressMessages(bytes.data(), bytes.size(), kDumpSeq, kOurPid).changes.size());
	std::uint32_t tiny = 4;
	std::memcpy(bytes.data(), &tiny, sizeof(tiny));
	LONGS_EQUAL(
		0,
		readAddressMessages(bytes.data(), bytes.size(), kDumpSeq, kOurPid).changes.size());
}

TEST(Rtnetlink, trackerTellsNewAddressesFromRenewedOnes)
{
	AddressTracker tracker;
	CHECK_TRUE(tracker.add(2, ipv4("10.0.0.1")));
	CHECK_FALSE(tracker.add(2, ipv4("10.0.0.1"))); // DHCP renewal: the same again
	CHECK_TRUE(tracker.add(3, ipv4("10.0.0.1")));  // another interface
	CHECK_TRUE(tracker.add(2, ipv4("10.0.0.2")));
	tracker.remove(2, ipv4("10.0.0.1"));
	CHECK_TRUE(tracker.add(2, ipv4("10.0.0.1"))); // gone and back: new again
}

TEST(Rtnetlink, trackerIsBounded)
{
	AddressTracker tracker(2);
	CHECK_TRUE(tracker.add(1, 1));
	CHECK_TRUE(tracker.add(1, 2));
	CHECK_TRUE(tracker.add(1, 3)); // forgets (1, 1)
	LONGS_EQUAL(2, tracker.size());
	CHECK_FALSE(tracker.add(1, 3));
	CHECK_TRUE(tracker.add(1, 1));
}

// The default route and its interface's MAC

TEST(Rtnetlink, findsTheDefaultRouteWithTheLowestMetric)
{
	DefaultRouteReader reader(kDumpSeq);
	Datagram first;
	first.message(RTM_NEWROUTE, defaultRoute(), kDumpSeq, kOurPid, NLM_F_MULTI)
		.attribute(RTA_TABLE, std::uint32_t{RT_TABLE_MAIN})
		.attribute(RTA_PRIORITY, std::uint32_t{600})
		.attribute(RTA_OIF, std::uint32_t{3});
	first.message(RTM_NEWROUTE, defaultRoute(RT_TABLE_MAIN, 24), kDumpSeq, kOurPid, NLM_F_MULTI)
		.attribute(RTA_OIF, std::uint32_t{7}); // not a default route
	reader.feed(first.data(), first.size());
	CHECK_FALSE(reader.done());
	Datagram second;
	second.message(RTM_NEWROUTE, defaultRoute(), kDumpSeq, kOurPid, NLM_F_MULTI)
		.attribute(RTA_PRIORITY, std::uint32_t{100})
		.attribute(RTA_OIF, std::uint32_t{2});
	second.message(RTM_NEWROUTE, defaultRoute(RT_TABLE_LOCAL), kDumpSeq, kOurPid, NLM_F_MULTI)
		.attribute(RTA_OIF, std::uint32_t{9}); // another table
	second.done(kDumpSeq, kOurPid);
	reader.feed(second.data(), second.size());
	CHECK_TRUE(reader.done());
	LONGS_EQUAL(2, reader.ifindex().value());
}

TEST(Rtnetlink, takesTheFirstHopOfAMultipathDefaultRoute)
{
	DefaultRouteReader reader(kDumpSeq);
	rtnexthop hop{};
	hop.rtnh_len = sizeof(hop);
	hop.rtnh_ifindex = 4;
	Datagram d;
	d.message(RTM_NEWROUTE, defaultRoute(), kDumpSeq, kOurPid).attribute(RTA_MULTIPATH, hop);
	d.done(kDumpSeq, kOurPid);
	reader.feed(d.data(), d.size());
	LONGS_EQUAL(4, reader.ifindex().value());
}

TEST(Rtnetlink, noDefaultRoute)
{
	DefaultRouteReader reader(kDumpSeq);
	Datagram d;
	d.message(RTM_NEWROUTE, defaultRoute(RT_TABLE_MAIN, 8), kDumpSeq, kOurPid)
		.attribute(RTA_OIF, std::uint32_t{2});
	d.done(kDumpSeq, kOurPid);
	reader.feed(d.data(), d.size());
	CHECK_TRUE(reader.done());
	CHECK_FALSE(reader.ifindex().has_value());
}

TEST(Rtnetlink, readsTheMacOfAnEthernetLink)
{
	ifinfomsg link{};
	link.ifi_family = AF_UNSPEC;
	link.ifi_type = ARPHRD_ETHER;
	link.ifi_index = 2;
	const unsigned char mac[6] = {0x00, 0x04, 0x13, 0xa1, 0xb2, 0xc3};
	Datagram d;
	d.message(RTM_NEWLINK, link).attributeBytes(IFLA_ADDRESS, mac, sizeof(mac));
	STRCMP_EQUAL("000413A1B2C3", readLinkMac(d.data(), d.size()).value().c_str());
}

TEST(Rtnetlink, noMacForOtherLinks)
{
	ifinfomsg tunnel{};
	tunnel.ifi_type = ARPHRD_NONE;
	const unsigned char mac[6] = {1, 2, 3, 4, 5, 6};
	Datagram d;
	d.message(RTM_NEWLINK, tunnel).attributeBytes(IFLA_ADDRESS, mac, sizeof(mac));
	CHECK_FALSE(readLinkMac(d.data(), d.size()).has_value());

	ifinfomsg ether{};
	ether.ifi_type = ARPHRD_ETHER;
	const unsigned char zero[6] = {};
	Datagram z;
	z.message(RTM_NEWLINK, ether).attributeBytes(IFLA_ADDRESS, zero, sizeof(zero));
	CHECK_FALSE(readLinkMac(z.data(), z.size()).has_value());
}
