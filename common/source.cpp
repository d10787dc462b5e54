// SPDX-License-Identifier: MIT

#include "source.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace checksyncd {

namespace {

// The longest address text (45) plus "[]", the transport and the port.
constexpr std::size_t kMaxRemote = 64;

// An address as the request guard writes it: IpAddress::parse also takes
// "[2001:db8::1]", which a source or a prefix never is.
std::optional<IpAddress> parseBare(std::string_view text)
{
	if (text.starts_with('['))
		return std::nullopt;
	return IpAddress::parse(text);
}

} // namespace

SourcePrefix SourcePrefix::of(const IpAddress &address)
{
	SourcePrefix prefix;
	prefix.bytes = address.bytes();
	if (!address.isV4())
		std::fill(prefix.bytes.begin() + 8, prefix.bytes.end(), 0);
	return prefix;
}

std::string SourcePrefix::toString() const
{
	// An IPv6 /64 never looks IPv4-mapped: its bytes 10 and 11 are zero.
	const IpAddress network = IpAddress::fromBytes(bytes);
	return IpPrefix(network, network.isV4() ? 32 : 64).toString();
}

std::optional<SourcePrefix> SourcePrefix::parse(std::string_view text)
{
	if (text.ends_with("/64"))
		text.remove_suffix(3);
	const std::optional<IpAddress> address = parseBare(text);
	if (!address)
		return std::nullopt;
	return of(*address);
}

SourceAddress SourceAddress::of(const IpAddress &address, std::uint16_t port, Transport transport)
{
	SourceAddress source;
	source.address = address;
	source.ip = address.toString();
	source.port = port;
	source.transport = transport;
	source.prefix = SourcePrefix::of(address);
	// "udp:" [ ip ] ":" port, without a format parser on the hot path.
	const bool v6 = !address.isV4();
	char remote[kMaxRemote];
	char *out = remote;
	std::memcpy(out, transport == Transport::Tcp ? "tcp:" : "udp:", 4);
	out += 4;
	if (v6)
		*out++ = '[';
	std::memcpy(out, source.ip.data(), source.ip.size());
	out += source.ip.size();
	if (v6)
		*out++ = ']';
	*out++ = ':';
	out = std::to_chars(out, remote + sizeof(remote), port).ptr;
	source.remote.assign(remote, static_cast<std::size_t>(out - remote));
	return source;
}

std::optional<SourceAddress> SourceAddress::fromSockaddr(const sockaddr *address,
							 Transport transport)
{
	std::uint16_t port = 0;
	const std::optional<IpAddress> ip = IpAddress::fromSockaddr(address, &port);
	if (!ip)
		return std::nullopt;
	return of(*ip, port, transport);
}

std::optional<SourceAddress> SourceAddress::fromText(std::string_view ip, std::uint16_t port,
						     Transport transport)
{
	const std::optional<IpAddress> address = parseBare(ip);
	if (!address)
		return std::nullopt;
	return of(*address, port, transport);
}

} // namespace checksyncd
