// SPDX-License-Identifier: MIT
//
// IP addresses and prefixes as the source filter sees them: in
// checksync_trusted, in DNS answers, and as the source of a datagram.
//
// An address is held as 16 bytes, an IPv4 address in its IPv4-mapped IPv6
// form (::ffff:192.0.2.1). A datagram from an IPv4 peer that reached an
// IPv6 socket (source ::ffff:192.0.2.1) is therefore the same address as
// 192.0.2.1, and an IPv4 prefix /n is the 128-bit prefix /(96+n): one
// comparison serves both families. Text is read with inet_pton; an IPv6
// address is written with inet_ntop, an IPv4 one by hand (inet_ntop goes
// through sprintf, and this runs once per request).

#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sockaddr;

namespace checksyncd {

class IpAddress
{
public:
	IpAddress() = default;

	// "192.0.2.1", "2001:db8::1", "[2001:db8::1]", "::ffff:192.0.2.1"
	// (the last one is 192.0.2.1). No zone index, no port, no blanks.
	static std::optional<IpAddress> parse(std::string_view text);
	// An AF_INET or AF_INET6 socket address; nullopt for anything else.
	// `port`, when given, receives the port (host order) on success.
	static std::optional<IpAddress> fromSockaddr(const sockaddr *address,
						     std::uint16_t *port = nullptr);
	static IpAddress fromV4(const std::uint8_t (&bytes)[4]);
	static IpAddress fromV6(const std::uint8_t (&bytes)[16]);
	// The 16-byte form as bytes() gives it (IPv4 as ::ffff:a.b.c.d).
	static IpAddress fromBytes(const std::array<std::uint8_t, 16> &bytes);

	bool isV4() const;
	// "192.0.2.1" for IPv4 (also when it arrived IPv4-mapped), RFC 5952
	// text for IPv6.
	std::string toString() const;
	const std::array<std::uint8_t, 16> &bytes() const { return bytes_; }

	auto operator<=>(const IpAddress &) const = default;

private:
	std::array<std::uint8_t, 16> bytes_{};
};

class IpPrefix
{
public:
	// `length` counts in the address's own family: 0..32 for IPv4,
	// 0..128 for IPv6. Host bits are cleared.
	IpPrefix(const IpAddress &address, unsigned length);

	// "192.0.2.0/24", "2001:db8::/32", or a single address (/32, /128).
	// Host bits may be set ("192.0.2.7/24" is 192.0.2.0/24).
	static std::optional<IpPrefix> parse(std::string_view text);

	bool contains(const IpAddress &address) const;
	// The prefix length in the address's own family.
	unsigned length() const;
	const IpAddress &network() const { return network_; }
	// "192.0.2.0/24"; a single address without its length.
	std::string toString() const;

	auto operator<=>(const IpPrefix &) const = default;

private:
	IpAddress network_;
	unsigned bits_ = 128; // over the 16-byte form
};

// One entry of checksync_trusted: an address or prefix, or a host name
// (looked up with A/AAAA).
struct TrustedSource {
	std::optional<IpPrefix> prefix;
	std::string name; // lower case; set when prefix is not

	std::string toString() const;
	bool operator==(const TrustedSource &) const = default;
};

struct TrustedSourceError {
	std::string reason;   // "invalid host name", followed by the entry
	std::string entry;    // as written (the caller quotes it)
	bool invalid = false; // not an address, prefix or host name
};

struct TrustedSources {
	std::vector<TrustedSource> sources;
	std::vector<TrustedSourceError> errors; // one per bad entry
};

// Most entries checksync_trusted may hold.
inline constexpr std::size_t kMaxTrustedSources = 64;

// Parse a comma-separated checksync_trusted value (blanks around entries
// are ignored; an empty value is an empty list).
TrustedSources parseTrustedSources(std::string_view list);

// A host name as the source filter keeps and compares it: ASCII lower case
// (DNS names compare without regard to case).
std::string lowerCaseHost(std::string_view name);

// The host part of host[:port] as in user_host and user_outbound: an IPv6
// reference keeps its brackets; a bare IPv6 address (several colons, no
// brackets) is all host.
std::string_view hostPart(std::string_view hostPort);

} // namespace checksyncd
