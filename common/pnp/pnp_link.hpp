// SPDX-License-Identifier: MIT
//
// Which datagrams a plug-and-play round takes: only those from a host on
// the round's own link. The SUBSCRIBE goes out with IP TTL 1, so only a
// server on the link hears it; a NOTIFY or a 2xx to the SUBSCRIBE from
// anywhere else can only be a datagram sprayed at the phone's ephemeral
// ports from off the link (the NOTIFY is taken whatever its Call-ID and
// tags, so a spray that hits the round's port needs to know nothing else).
// Such a datagram is dropped unanswered and counted.
//
// On the link means the kernel's own idea of a connected network: the
// datagram arrived by the interface the SUBSCRIBE left by, and its source
// is inside the prefix of one of that interface's addresses (the prefix
// route the kernel makes of an address and its prefix length: the
// address's own prefix, or the peer's on a point-to-point link), a unicast
// address that is not the interface's own. Nothing through a gateway
// qualifies: a host behind a router has an address outside those
// prefixes. A source on the link that is spoofed (by a host on the link,
// or from off the link through a router that forwards it without checking
// where it came from) cannot be told from a real one by this or any other
// address check.
//
// IPv4 only, as the rounds are (224.0.1.75). Pure: the daemon passes in
// the interface's addresses (rtnetlink) and each datagram's source and
// arrival interface (IP_PKTINFO); docs/security.md says what it decides.

#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/net_address.hpp"
#include "pnp/rtnetlink.hpp"

namespace checksyncd {

// One IPv4 address of the round's interface.
struct LinkAddress {
	IpAddress local;    // the interface's own address
	IpPrefix connected; // the prefix it connects to the link

	bool operator==(const LinkAddress &) const = default;
};

enum class LinkVerdict : unsigned char {
	OnLink,
	OffLink,        // in no prefix of the round's interface: through a gateway, if at all
	OtherInterface, // arrived by another interface (or the kernel did not say which)
	Own,            // one of the interface's own addresses: the phone itself, no server
	NotUnicast,     // never a source (RFC 1122 3.2.1.3): 0/8, 127/8, 224/4, 240/4,
			// a connected prefix's network or broadcast address
};

// What the log says of a datagram that was not taken: "off the link", ...
std::string_view linkVerdictText(LinkVerdict verdict);

class RoundLink
{
public:
	// Addresses kept of one interface; more are left out (no phone has
	// that many on one link, and the table stays bounded).
	static constexpr std::size_t kMaxAddresses = 32;

	// The interface that holds `local`, with all its IPv4 addresses, out
	// of the phone's addresses as an RTM_GETADDR dump lists them (removals
	// are skipped). nullopt when no interface holds `local`.
	static std::optional<RoundLink> holding(const IpAddress &local,
						std::span<const Ipv4AddressChange> addresses);

	int ifindex() const { return ifindex_; }
	const std::vector<LinkAddress> &addresses() const { return addresses_; }
	bool holds(const IpAddress &address) const;
	// Whether any host but the phone itself can be on the link: false
	// when every address is a /32 of the phone's own (a /31, RFC 3021, and
	// a point-to-point peer leave room).
	bool hasRoomForPeers() const;
	// "10.0.0.1/24, 192.0.2.1 peer 192.0.2.99", for the log.
	std::string describe() const;

	// Whether a datagram from `source` that arrived by the interface
	// `arrivedOn` (0: unknown) is from the round's link.
	LinkVerdict judge(const IpAddress &source, int arrivedOn) const;

private:
	int ifindex_ = 0;
	std::vector<LinkAddress> addresses_;
};

} // namespace checksyncd
