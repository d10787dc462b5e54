// SPDX-License-Identifier: MIT

#include "base/net_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <sofia-sip/hostdomain.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "base/text.hpp"

namespace checksyncd {

namespace {

constexpr unsigned kV4Offset = 96; // bits before an IPv4 address in its mapped form
constexpr std::size_t kMaxNameLength = 253;

bool isMapped(const std::array<std::uint8_t, 16> &bytes)
{
	static constexpr std::uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return std::memcmp(bytes.data(), kPrefix, sizeof(kPrefix)) == 0;
}

} // namespace

// IpAddress

std::optional<IpAddress> IpAddress::parse(std::string_view text)
{
	if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
		text = text.substr(1, text.size() - 2);
	// Longest textual IPv6 address: 45 characters.
	if (text.empty() || text.size() > 45)
		return std::nullopt;
	const std::string copy(text);
	if (copy.find(':') == std::string::npos) {
		std::uint8_t v4[4];
		if (inet_pton(AF_INET, copy.c_str(), v4) != 1)
			return std::nullopt;
		return fromV4(v4);
	}
	std::uint8_t v6[16];
	if (inet_pton(AF_INET6, copy.c_str(), v6) != 1)
		return std::nullopt;
	return fromV6(v6);
}

std::optional<IpAddress> IpAddress::fromSockaddr(const sockaddr *address, std::uint16_t *port)
{
	if (!address)
		return std::nullopt;
	if (address->sa_family == AF_INET) {
		sockaddr_in in{};
		std::memcpy(&in, address, sizeof(in));
		std::uint8_t v4[4];
		std::memcpy(v4, &in.sin_addr, sizeof(v4));
		if (port)
			*port = ntohs(in.sin_port);
		return fromV4(v4);
	}
	if (address->sa_family == AF_INET6) {
		sockaddr_in6 in6{};
		std::memcpy(&in6, address, sizeof(in6));
		std::uint8_t v6[16];
		std::memcpy(v6, &in6.sin6_addr, sizeof(v6));
		if (port)
			*port = ntohs(in6.sin6_port);
		return fromV6(v6);
	}
	return std::nullopt;
}

IpAddress IpAddress::fromV4(const std::uint8_t (&bytes)[4])
{
	IpAddress address;
	address.bytes_[10] = 0xff;
	address.bytes_[11] = 0xff;
	std::copy(bytes, bytes + 4, address.bytes_.begin() + 12);
	return address;
}

IpAddress IpAddress::fromV6(const std::uint8_t (&bytes)[16])
{
	IpAddress address;
	std::copy(bytes, bytes + 16, address.bytes_.begin());
	return address;
}

IpAddress IpAddress::fromBytes(const std::array<std::uint8_t, 16> &bytes)
{
	IpAddress address;
	address.bytes_ = bytes;
	return address;
}

bool IpAddress::isV4() const
{
	return isMapped(bytes_);
}

std::string IpAddress::toString() const
{
	char text[INET6_ADDRSTRLEN] = "";
	if (isV4()) {
		// Dotted decimal directly: glibc's inet_ntop goes through sprintf,
		// which was most of the cost of reading a request's source (the
		// request guard does, once per request).
		char *out = text;
		for (std::size_t i = 12; i < 16; ++i) {
			if (i > 12)
				*out++ = '.';
			out = std::to_chars(out, text + sizeof(text), bytes_[i]).ptr;
		}
		return std::string(text, static_cast<std::size_t>(out - text));
	}
	inet_ntop(AF_INET6, bytes_.data(), text, sizeof(text));
	return text;
}

// IpPrefix

IpPrefix::IpPrefix(const IpAddress &address, unsigned length) : network_(address)
{
	bits_ = address.isV4() ? kV4Offset + std::min(length, 32u) : std::min(length, 128u);
	std::uint8_t bytes[16];
	std::copy(address.bytes().begin(), address.bytes().end(), bytes);
	for (unsigned i = 0; i < 16; ++i) {
		const unsigned first = i * 8;
		if (first >= bits_)
			bytes[i] = 0;
		else if (bits_ - first < 8)
			bytes[i] &= static_cast<std::uint8_t>(0xff << (8 - (bits_ - first)));
	}
	network_ = IpAddress::fromV6(bytes);
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text)
{
	const auto slash = text.find('/');
	const std::string_view addressText = text.substr(0, slash);
	const std::optional<IpAddress> address = IpAddress::parse(addressText);
	if (!address)
		return std::nullopt;
	// The length counts in the family the address is written in:
	// "::ffff:192.0.2.0/120" is 192.0.2.0/24.
	const bool writtenV6 = addressText.find(':') != std::string_view::npos;
	const unsigned max = writtenV6 ? 128 : 32;
	if (slash == std::string_view::npos)
		return IpPrefix(*address, address->isV4() ? 32 : 128);
	const std::string_view digits = text.substr(slash + 1);
	unsigned length = 0;
	const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(),
					       length);
	if (digits.empty() || digits.size() > 3 || (digits.size() > 1 && digits[0] == '0') ||
	    ec != std::errc{} || end != digits.data() + digits.size() || length > max)
		return std::nullopt;
	if (address->isV4() && writtenV6) {
		if (length < kV4Offset)
			return std::nullopt; // wider than the mapped range
		length -= kV4Offset;
	}
	return IpPrefix(*address, length);
}

bool IpPrefix::contains(const IpAddress &address) const
{
	const auto &a = address.bytes();
	const auto &n = network_.bytes();
	const unsigned whole = bits_ / 8;
	if (std::memcmp(a.data(), n.data(), whole) != 0)
		return false;
	const unsigned rest = bits_ % 8;
	if (rest == 0)
		return true;
	const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
	return (a[whole] & mask) == n[whole];
}

unsigned IpPrefix::length() const
{
	return network_.isV4() && bits_ >= kV4Offset ? bits_ - kV4Offset : bits_;
}

std::string IpPrefix::toString() const
{
	const unsigned full = network_.isV4() ? 32 : 128;
	if (length() == full)
		return network_.toString();
	return network_.toString() + "/" + std::to_string(length());
}

// checksync_trusted

std::string TrustedSource::toString() const
{
	return prefix ? prefix->toString() : name;
}

TrustedSources parseTrustedSources(std::string_view list)
{
	TrustedSources out;
	if (trim(list).empty())
		return out;
	bool full = false;
	for (const std::string_view item : listItems(list)) {
		// Not an address, prefix or host name at all; or refused as such.
		const auto invalid = [&](std::string reason) {
			out.errors.push_back({.reason = std::move(reason),
					      .entry = std::string(item),
					      .invalid = true});
		};
		const auto refuse = [&](std::string reason) {
			out.errors.push_back({.reason = std::move(reason),
					      .entry = std::string(item),
					      .invalid = false});
		};
		TrustedSource source;
		if (item.empty()) {
			out.errors.push_back({.reason = "empty entry in",
					      .entry = std::string(trim(list)),
					      .invalid = false});
		} else if (item.find_first_of("/:[") != std::string_view::npos ||
			   item.find_first_not_of("0123456789.") == std::string_view::npos) {
			// Looks like an address: it must be one (no host:port).
			source.prefix = IpPrefix::parse(item);
			if (!source.prefix)
				invalid("invalid address or prefix");
		} else {
			std::string name = lowerCaseHost(item);
			if (name.size() > kMaxNameLength || !host_is_domain(name.c_str()) ||
			    host_is_ip_address(name.c_str()))
				invalid("invalid host name");
			else
				source.name = std::move(name);
		}
		if (source.prefix || !source.name.empty()) {
			if (std::find(out.sources.begin(), out.sources.end(), source) !=
			    out.sources.end()) {
				refuse("duplicate entry");
			} else if (out.sources.size() == kMaxTrustedSources) {
				if (!full)
					refuse("more than " + std::to_string(kMaxTrustedSources) +
					       " entries at");
				full = true;
			} else {
				out.sources.push_back(std::move(source));
			}
		}
	}
	return out;
}

std::string lowerCaseHost(std::string_view name)
{
	std::string out(name);
	for (char &c : out) {
		if (c >= 'A' && c <= 'Z')
			c = static_cast<char>(c - 'A' + 'a');
	}
	return out;
}

std::string_view hostPart(std::string_view hostPort)
{
	if (hostPort.starts_with('[')) {
		const auto close = hostPort.find(']');
		return close == std::string_view::npos ? hostPort : hostPort.substr(0, close + 1);
	}
	const auto colon = hostPort.find(':');
	// Several colons without brackets: a bare IPv6 address, kept whole.
	if (colon != std::string_view::npos &&
	    hostPort.find(':', colon + 1) == std::string_view::npos)
		return hostPort.substr(0, colon);
	return hostPort;
}

} // namespace checksyncd
