// SPDX-License-Identifier: MIT

#include "pnp/pnp_link.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace checksyncd {

namespace {

// An IPv4 address in host byte order, for the arithmetic on prefixes.
std::uint32_t hostOrder(const IpAddress &address)
{
	const auto &bytes = address.bytes();
	return static_cast<std::uint32_t>(bytes[12]) << 24 |
	       static_cast<std::uint32_t>(bytes[13]) << 16 |
	       static_cast<std::uint32_t>(bytes[14]) << 8 | static_cast<std::uint32_t>(bytes[15]);
}

// An IPv4 address as rtnetlink gives it (network byte order).
IpAddress fromNetworkOrder(std::uint32_t address)
{
	std::uint8_t bytes[4];
	std::memcpy(bytes, &address, sizeof(bytes));
	return IpAddress::fromV4(bytes);
}

// RFC 1122 3.2.1.3: "this network" (0/8), loopback (127/8), and what is
// not unicast at all: multicast (224/4, RFC 1112) and the reserved 240/4
// with the limited broadcast 255.255.255.255 in it. None of them is ever
// the source of a datagram on the wire (RFC 1812 5.3.7 calls them
// martians).
bool isMartian(std::uint32_t address)
{
	const std::uint32_t first = address >> 24;
	return first == 0 || first == 127 || first >= 224;
}

} // namespace

std::string_view linkVerdictText(LinkVerdict verdict)
{
	switch (verdict) {
	case LinkVerdict::OnLink:
		return "on the link";
	case LinkVerdict::OffLink:
		return "off the link";
	case LinkVerdict::OtherInterface:
		return "arrived by another interface";
	case LinkVerdict::Own:
		return "from the phone's own address";
	case LinkVerdict::NotUnicast:
		return "not a unicast source";
	}
	return "off the link";
}

std::optional<RoundLink> RoundLink::holding(const IpAddress &local,
					    std::span<const Ipv4AddressChange> addresses)
{
	const auto holder = std::find_if(
		addresses.begin(), addresses.end(), [&](const Ipv4AddressChange &a) {
			return a.added && fromNetworkOrder(a.address) == local;
		});
	if (holder == addresses.end())
		return std::nullopt;
	RoundLink link;
	link.ifindex_ = holder->ifindex;
	for (const Ipv4AddressChange &a : addresses) {
		if (!a.added || a.ifindex != link.ifindex_)
			continue;
		LinkAddress entry{fromNetworkOrder(a.address),
				  IpPrefix(fromNetworkOrder(a.prefixAddress), a.prefixLength)};
		if (std::find(link.addresses_.begin(), link.addresses_.end(), entry) !=
		    link.addresses_.end())
			continue;
		// The round's own address first, so that it is never the one
		// left out.
		if (entry.local == local)
			link.addresses_.insert(link.addresses_.begin(), std::move(entry));
		else if (link.addresses_.size() < kMaxAddresses)
			link.addresses_.push_back(std::move(entry));
	}
	if (link.addresses_.size() > kMaxAddresses)
		link.addresses_.pop_back();
	return link;
}

bool RoundLink::holds(const IpAddress &address) const
{
	return std::any_of(addresses_.begin(), addresses_.end(),
			   [&](const LinkAddress &a) { return a.local == address; });
}

bool RoundLink::hasRoomForPeers() const
{
	return std::any_of(addresses_.begin(), addresses_.end(), [&](const LinkAddress &a) {
		return a.connected.length() < 32 || !holds(a.connected.network());
	});
}

std::string RoundLink::describe() const
{
	std::string text;
	for (const LinkAddress &a : addresses_) {
		if (!text.empty())
			text += ", ";
		text += a.local.toString();
		if (a.connected.contains(a.local))
			text += "/" + std::to_string(a.connected.length());
		else
			text += " peer " + a.connected.toString();
	}
	return text;
}

LinkVerdict RoundLink::judge(const IpAddress &source, int arrivedOn) const
{
	if (arrivedOn <= 0 || arrivedOn != ifindex_)
		return LinkVerdict::OtherInterface;
	if (!source.isV4())
		return LinkVerdict::OffLink;
	const std::uint32_t address = hostOrder(source);
	if (isMartian(address))
		return LinkVerdict::NotUnicast;
	if (holds(source))
		return LinkVerdict::Own;
	bool inside = false;
	for (const LinkAddress &a : addresses_) {
		if (!a.connected.contains(source))
			continue;
		// RFC 1122 3.2.1.3 (d, e) and its rule that no host number is 0
		// or all ones: a prefix's first and last address are no host's.
		// A /31 (RFC 3021) and a /32 have no such addresses.
		const unsigned length = a.connected.length();
		if (length <= 30) {
			const std::uint32_t network = hostOrder(a.connected.network());
			const std::uint32_t broadcast = network | (0xffffffffu >> length);
			if (address == network || address == broadcast)
				return LinkVerdict::NotUnicast;
		}
		inside = true;
	}
	return inside ? LinkVerdict::OnLink : LinkVerdict::OffLink;
}

} // namespace checksyncd
