// SPDX-License-Identifier: MIT
//
// Readers of rtnetlink messages (rtnetlink(7)) for plug and play: which
// IPv4 addresses come and go (with the prefix each connects to its link),
// which interface holds the default IPv4 route, and that interface's MAC
// address. Pure: the daemon's socket code (daemon/pnp/address_watch.cpp) passes in
// the bytes it received.
//
// rtnetlink and not /proc/net/route: the service runs with ProcSubset=pid,
// which hides /proc/net.

#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace checksyncd {

struct Ipv4AddressChange {
	bool added = false; // RTM_NEWADDR; false: RTM_DELADDR
	int ifindex = 0;
	std::uint32_t address = 0; // network byte order: the interface's own (IFA_LOCAL)
	// The prefix the address connects to its link: IFA_ADDRESS (the
	// peer's address on a point-to-point link, else the same as
	// `address`) and ifa_prefixlen, as the kernel makes the address's
	// prefix route of them (fib_add_ifaddr()).
	std::uint32_t prefixAddress = 0; // network byte order
	unsigned prefixLength = 32;
	bool fromDump = false; // a reply to our RTM_GETADDR dump
};

struct AddressMessages {
	std::vector<Ipv4AddressChange> changes;
	bool dumpDone = false; // NLMSG_DONE or NLMSG_ERROR of our dump
	int dumpError = 0;     // its errno, when it failed
};

// The RTM_NEWADDR and RTM_DELADDR messages of AF_INET in one datagram read
// from an rtnetlink socket. Host-scope addresses (127.0.0.1 on lo) are
// left out. Messages with nlmsg_seq == dumpSeq and nlmsg_pid == ourPid are
// the replies to our dump; the rest are the kernel's notifications.
AddressMessages readAddressMessages(const void *data, std::size_t length, std::uint32_t dumpSeq,
				    std::uint32_t ourPid);

// The IPv4 addresses the phone has, to tell a new address from a known
// one whose lifetimes were renewed (a DHCP renewal sends RTM_NEWADDR for
// the same address again). Bounded: beyond `capacity` the oldest entry is
// forgotten.
class AddressTracker
{
public:
	explicit AddressTracker(std::size_t capacity = 64) : capacity_(capacity) {}

	// True when (ifindex, address) was not known.
	bool add(int ifindex, std::uint32_t address);
	void remove(int ifindex, std::uint32_t address);
	std::size_t size() const { return known_.size(); }

private:
	std::size_t capacity_;
	std::vector<std::pair<int, std::uint32_t>> known_; // oldest first
};

// Reads the replies to an RTM_GETROUTE dump of AF_INET, datagram by
// datagram, and finds the interface of the default route (destination
// 0.0.0.0/0, main table, unicast) with the lowest metric; for a multipath
// route, its first next hop.
class DefaultRouteReader
{
public:
	explicit DefaultRouteReader(std::uint32_t seq) : seq_(seq) {}

	void feed(const void *data, std::size_t length);
	bool done() const { return done_; }
	int error() const { return error_; }
	std::optional<int> ifindex() const { return ifindex_; }

private:
	std::uint32_t seq_;
	bool done_ = false;
	int error_ = 0;
	std::optional<int> ifindex_;
	std::uint32_t metric_ = 0;
};

// The MAC address in the RTM_NEWLINK reply to an RTM_GETLINK request, as
// 12 upper-case hex digits; nullopt when the interface is not Ethernet-like
// (6-byte address) or the address is all zero.
std::optional<std::string> readLinkMac(const void *data, std::size_t length);

} // namespace checksyncd
