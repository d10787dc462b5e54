// SPDX-License-Identifier: MIT

#include "source.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

namespace checksyncd {

namespace {

SourceAddress make(const in6_addr &address, std::uint16_t port, bool tcp)
{
	SourceAddress source;
	source.port = port;
	source.tcp = tcp;
	char text[INET6_ADDRSTRLEN] = "";
	bool v4 = IN6_IS_ADDR_V4MAPPED(&address);
	if (v4)
		inet_ntop(AF_INET, &address.s6_addr[12], text, sizeof(text));
	else
		inet_ntop(AF_INET6, &address, text, sizeof(text));
	source.ip = text;
	// "udp:" [ ip ] ":" port, without a format parser on the hot path.
	char remote[INET6_ADDRSTRLEN + 16];
	char *out = remote;
	std::memcpy(out, tcp ? "tcp:" : "udp:", 4);
	out += 4;
	if (!v4)
		*out++ = '[';
	std::size_t length = source.ip.size();
	std::memcpy(out, text, length);
	out += length;
	if (!v4)
		*out++ = ']';
	*out++ = ':';
	out = std::to_chars(out, remote + sizeof(remote), port).ptr;
	source.remote.assign(remote, static_cast<std::size_t>(out - remote));
	std::memcpy(source.prefix.bytes.data(), address.s6_addr, 16);
	if (!v4)
		std::memset(source.prefix.bytes.data() + 8, 0, 8);
	return source;
}

in6_addr mapped(const in_addr &address)
{
	in6_addr out{};
	out.s6_addr[10] = 0xff;
	out.s6_addr[11] = 0xff;
	std::memcpy(&out.s6_addr[12], &address, 4);
	return out;
}

} // namespace

std::string SourcePrefix::toString() const
{
	in6_addr address{};
	std::memcpy(address.s6_addr, bytes.data(), 16);
	char text[INET6_ADDRSTRLEN] = "";
	if (IN6_IS_ADDR_V4MAPPED(&address)) {
		inet_ntop(AF_INET, &address.s6_addr[12], text, sizeof(text));
		return text;
	}
	inet_ntop(AF_INET6, &address, text, sizeof(text));
	return std::string(text) + "/64";
}

std::optional<SourcePrefix> SourcePrefix::parse(std::string_view text)
{
	if (text.ends_with("/64"))
		text.remove_suffix(3);
	std::optional<SourceAddress> source = SourceAddress::fromText(text, 0);
	if (!source)
		return std::nullopt;
	return source->prefix;
}

std::optional<SourceAddress> SourceAddress::fromSockaddr(const sockaddr *address, bool tcp)
{
	if (!address)
		return std::nullopt;
	if (address->sa_family == AF_INET) {
		const auto *in = reinterpret_cast<const sockaddr_in *>(address);
		return make(mapped(in->sin_addr), ntohs(in->sin_port), tcp);
	}
	if (address->sa_family == AF_INET6) {
		const auto *in6 = reinterpret_cast<const sockaddr_in6 *>(address);
		return make(in6->sin6_addr, ntohs(in6->sin6_port), tcp);
	}
	return std::nullopt;
}

std::optional<SourceAddress> SourceAddress::fromText(std::string_view ip, std::uint16_t port,
						     bool tcp)
{
	std::string text(ip);
	in_addr v4{};
	if (inet_pton(AF_INET, text.c_str(), &v4) == 1)
		return make(mapped(v4), port, tcp);
	in6_addr v6{};
	if (inet_pton(AF_INET6, text.c_str(), &v6) == 1)
		return make(v6, port, tcp);
	return std::nullopt;
}

} // namespace checksyncd
