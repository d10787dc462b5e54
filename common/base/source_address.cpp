// SPDX-License-Identifier: MIT

#include "base/source_address.hpp"

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

constexpr std::string_view kTransportNames[] = {"udp", "tcp", "tls", "ws", "wss"};

} // namespace

std::string_view transportName(Transport transport)
{
	return kTransportNames[static_cast<std::size_t>(transport)];
}

std::optional<Transport> parseTransport(std::string_view name)
{
	for (std::size_t i = 0; i < std::size(kTransportNames); ++i)
		if (name == kTransportNames[i])
			return static_cast<Transport>(i);
	return std::nullopt;
}

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
	const std::string_view name = transportName(transport);
	std::memcpy(out, name.data(), name.size());
	out += name.size();
	*out++ = ':';
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

std::optional<SourceAddress> SourceAddress::fromAddressPort(std::string_view text,
							    Transport transport)
{
	const std::size_t colon = text.rfind(':');
	if (colon == std::string_view::npos || colon == 0)
		return std::nullopt;
	std::string_view host = text.substr(0, colon);
	const std::string_view portText = text.substr(colon + 1);
	// An IPv6 address only in brackets: "2001:db8::1:5060" is ambiguous.
	if (host.starts_with('[')) {
		if (!host.ends_with(']'))
			return std::nullopt;
		host = host.substr(1, host.size() - 2);
		if (host.find(':') == std::string_view::npos)
			return std::nullopt;
	} else if (host.find(':') != std::string_view::npos) {
		return std::nullopt;
	}
	unsigned port = 0;
	const auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(),
					       port);
	if (ec != std::errc{} || end != portText.data() + portText.size() || portText.empty() ||
	    portText.front() == '+' || port == 0 || port > 65535)
		return std::nullopt;
	return fromText(host, static_cast<std::uint16_t>(port), transport);
}

} // namespace checksyncd
