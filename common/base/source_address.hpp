// SPDX-License-Identifier: MIT
//
// Where a request came from, in the forms the request path needs: the
// address as text for logs and nonces, "proto:ip:port" for D-Bus, and the
// fixed-size prefix that brute-force protection counts by (an IPv4
// address, or the /64 of an IPv6 address: one host's share of a subnet, so
// rotating through a /64 gains an attacker nothing). The address itself is
// an IpAddress (net_address.hpp), read and written as the source filter
// does: an IPv4-mapped source is its IPv4 address.

#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/net_address.hpp"

struct sockaddr;

namespace checksyncd {

// 16 bytes: an IPv6 /64 with its host half zeroed, or an IPv4 address as
// ::ffff:a.b.c.d (IpAddress's own form). Comparable and hashable as bytes.
struct SourcePrefix {
	std::array<std::uint8_t, 16> bytes{};

	// The prefix `address` is counted in.
	static SourcePrefix of(const IpAddress &address);

	bool operator==(const SourcePrefix &) const = default;
	// "192.0.2.1" or "2001:db8:1:2::/64".
	std::string toString() const;
	// The inverse of toString(); also takes a plain IPv6 address (its /64).
	static std::optional<SourcePrefix> parse(std::string_view text);
};

// How a request arrived: on the daemon's own port (UDP, TCP), or handed
// over by the phone's SIP UA, which may also have received it over TLS or
// a WebSocket (DESIGN section 5).
enum class Transport : unsigned char {
	Udp,
	Tcp,
	Tls,
	Ws,
	Wss,
};

// "udp", "tcp", "tls", "ws", "wss": the prefix of SourceAddress::remote,
// and the hand-off context's "transport" value.
std::string_view transportName(Transport transport);
// The inverse of transportName() (lower case only); nullopt for anything
// else.
std::optional<Transport> parseTransport(std::string_view name);
// Every transport but UDP keeps a connection: a request over it came from
// whoever is at the other end of a connection (no spoofed source).
inline bool isConnection(Transport transport)
{
	return transport != Transport::Udp;
}

struct SourceAddress {
	IpAddress address;
	std::string ip;     // address.toString(): "192.0.2.1", "2001:db8::1"
	std::string remote; // "udp:192.0.2.1:5060", "tcp:[2001:db8::1]:5060"
	std::uint16_t port = 0;
	Transport transport = Transport::Udp;
	SourcePrefix prefix; // SourcePrefix::of(address)

	static SourceAddress of(const IpAddress &address, std::uint16_t port, Transport transport);
	// From a socket address (AF_INET or AF_INET6); std::nullopt otherwise.
	static std::optional<SourceAddress> fromSockaddr(const sockaddr *address,
							 Transport transport);
	// From text, for tests and tools: "192.0.2.1", "2001:db8::1" (no
	// brackets).
	static std::optional<SourceAddress> fromText(std::string_view ip, std::uint16_t port,
						     Transport transport = Transport::Udp);
	// From "ADDRESS:PORT" as a UA names its peer: "192.0.2.1:5060" or
	// "[2001:db8::1]:5060" (brackets required for IPv6, port 1..65535).
	static std::optional<SourceAddress> fromAddressPort(std::string_view text,
							    Transport transport);
};

} // namespace checksyncd
