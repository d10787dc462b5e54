// SPDX-License-Identifier: MIT
//
// The DNS servers the source filter's resolver asks, and how long it waits
// for them, from /etc/resolv.conf as the daemon reads it (pure: the file's
// text and the environment's values in, the settings out).
//
// What is read, as sofia-sip's resolver read it before (sres.c,
// sres_parse_config) and glibc's resolv.conf(5) says:
// - `nameserver ADDRESS`: IPv4 or IPv6, at most kMaxDnsServers; without
//   one, 127.0.0.1. An address with a zone index (fe80::1%eth0) is skipped.
// - `port N`: sofia-sip's extension, the servers' port (53 by default).
// - `options`: timeout:N (the first wait for an answer, 1 to 30 s),
//   attempts:N (rounds over the servers, 1 to 5), rotate (each query starts
//   at the next server), edns0 / no-edns0 (EDNS(0) is on unless turned
//   off); the same options in RES_OPTIONS, then SRES_OPTIONS, override the
//   file's. Everything else (search, domain, ndots, ...) is ignored: the
//   filter's names are absolute.
// - Comments start with '#' or ';', anywhere on a line.
//
// A query goes to one server at a time: send k goes to server
// (first + k) mod n, and waits timeout x 2^(k / n) for an answer, up to
// attempts x n sends. The lookup's own limit (kLookupTimeoutMs) ends every
// query still waiting.

#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "base/net_address.hpp"
#include "filter/dns_message.hpp"

namespace checksyncd {

inline constexpr std::size_t kMaxDnsServers = 3; // glibc's MAXNS

struct DnsServer {
	IpAddress address;
	std::uint16_t port = 53;

	auto operator<=>(const DnsServer &) const = default;
};

struct ResolverConfig {
	std::vector<DnsServer> servers; // never empty
	unsigned timeoutS = 1;
	unsigned attempts = 3;
	bool rotate = false;
	Edns edns = Edns::On;

	bool operator==(const ResolverConfig &) const = default;

	// How many datagrams one query may send.
	std::size_t sends() const { return attempts * servers.size(); }
	// The server of send `k` of a query that starts at server `first`.
	const DnsServer &serverFor(std::size_t k, std::size_t first) const
	{
		return servers[(first + k) % servers.size()];
	}
	// How long send `k` waits for an answer before the next one.
	std::uint64_t waitAfterMs(std::size_t k) const;
};

ResolverConfig parseResolverConfig(std::string_view resolvConf, std::string_view resOptions = {},
				   std::string_view sresOptions = {});

} // namespace checksyncd
