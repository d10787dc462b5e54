// SPDX-License-Identifier: MIT
//
// Looks up the names of the source filter with sofia-sip's asynchronous
// DNS resolver (sresolv) on the daemon's su_root: queries go out and
// answers come back through the loop, never a blocking call, so a DNS
// server that never answers delays nothing but its own lookup.
//
// A lookup follows RFC 3263 section 4 for a SIP server's name: NAPTR
// records for SIP over UDP or TCP ("SIP+D2U", "SIP+D2T") lead to SRV
// names; without them the SRV names are _sip._udp.NAME and _sip._tcp.NAME;
// the SRV targets, or NAME itself when there is no SRV record, are looked
// up with A and AAAA. A name with an explicit port, and a checksync_trusted
// name, go straight to A and AAAA. The result holds every address found
// (every SRV target, both families: the filter accepts a request from any
// of the PBX's servers) and the smallest TTL of the records used.
//
// The DNS servers are the system's: sofia-sip reads /etc/resolv.conf
// (nameserver, port, options; RES_OPTIONS and SRES_OPTIONS from the
// environment) and reads it again when it changes.

#pragma once

#include <functional>
#include <map>
#include <memory>

#include "loop.hpp"
#include "source_filter.hpp"

extern "C" {
struct sres_resolver_s;
}

namespace checksyncd {

class Resolver
{
public:
	// Called once per lookup, always later than the lookup() that started
	// it, and within kLookupTimeoutMs.
	using Done = std::function<void(const ResolveTarget &, const Resolution &)>;

	// Throws std::runtime_error when sofia-sip cannot create its resolver.
	Resolver(EventLoop &loop, Done done);
	~Resolver();
	Resolver(const Resolver &) = delete;
	Resolver &operator=(const Resolver &) = delete;

	// Start looking `target` up; a lookup of it still running is dropped
	// (without a call to done).
	void lookup(const ResolveTarget &target);
	// Drop the lookup of `target`, if one is running.
	void cancel(const ResolveTarget &target);
	std::size_t running() const { return lookups_.size(); }

private:
	class Lookup;

	void finished(const ResolveTarget &target, const Resolution &result);

	EventLoop &loop_;
	sres_resolver_s *sres_ = nullptr;
	Done done_;
	std::map<ResolveTarget, std::unique_ptr<Lookup>> lookups_;
};

} // namespace checksyncd
