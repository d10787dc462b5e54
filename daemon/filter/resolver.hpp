// SPDX-License-Identifier: MIT
//
// Looks up the names of the source filter on the daemon's loop: queries go
// out and answers come back through non-blocking sockets the loop watches,
// never a blocking call, so a DNS server that never answers delays nothing
// but its own lookup.
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
// Each query (RFC 5452 sections 9.2 and 10):
// - leaves from a socket of its own, so from a port the kernel picks at
//   random in net.ipv4.ip_local_port_range (Linux, udp_lib_get_port(): a
//   random start in the range), and carries an ID from getrandom();
// - takes as its answer only a datagram from a server it was sent to (its
//   address and port), with its ID and its question
//   (common/filter/dns_message.hpp, acceptDnsAnswer()); every other datagram is
//   ignored and the query goes on waiting;
// - believes only the CNAME chain from the name asked and the records of
//   the type asked at its end, and asks again for the chain's end when the
//   answer stops at a CNAME (at most kDnsMaxCnames from one name).
// At most kMaxOpenQueries queries have a socket at a time; the others wait
// their turn (a name's lookup still ends within kLookupTimeoutMs).
//
// sofia-sip's sresolv, used before, sent every query from one socket per
// server for the life of the process, with IDs counting up by one from a
// random start (sres.c: sres_server_socket(), sres_gen_id()), and took the
// first datagram with a pending ID as its answer whatever its question.
//
// The DNS servers are the system's (/etc/resolv.conf, read again when it
// changes; common/filter/resolver_config.hpp says what is read).

#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "filter/resolver_config.hpp"
#include "filter/source_filter.hpp"
#include "loop/loop.hpp"

namespace checksyncd {

class Resolver
{
public:
	// Called once per lookup, always later than the lookup() that started
	// it, and within kLookupTimeoutMs.
	using Done = std::function<void(const ResolveTarget &, const Resolution &)>;

	// Queries with a socket at a time: each holds one descriptor, out of
	// the few TcpGuard keeps for the daemon itself (sresolv held one per
	// DNS server).
	static constexpr std::size_t kMaxOpenQueries = 6;

	// resolvConf: where the DNS servers are named (a test's own file).
	explicit Resolver(EventLoop &loop, Done done, std::string resolvConf = "/etc/resolv.conf");
	~Resolver();
	Resolver(const Resolver &) = delete;
	Resolver &operator=(const Resolver &) = delete;

	// Start looking `target` up; a lookup of it still running is dropped
	// (without a call to done).
	void lookup(const ResolveTarget &target);
	// Drop the lookup of `target`, if one is running.
	void cancel(const ResolveTarget &target);
	std::size_t running() const { return lookups_.size(); }
	// Queries with a socket now, and queries waiting for one.
	std::size_t openQueries() const { return open_; }
	std::size_t waitingQueries() const { return waiting_.size(); }

private:
	class Lookup;
	class Query;

	// Reads resolv.conf again when it changed (or vanished).
	void updateConfig();
	// A query wants its socket: now, or when another one is done.
	void admit(Query &query);
	// A query is done with its socket, or gone while it waited.
	void leave(Query &query);
	void finished(const ResolveTarget &target, const Resolution &result);

	struct FileStamp {
		bool exists = false;
		dev_t device = 0;
		ino_t inode = 0;
		off_t size = 0;
		std::int64_t mtimeNs = 0;

		bool operator==(const FileStamp &) const = default;
	};

	EventLoop &loop_;
	Done done_;
	std::string resolvConf_;
	std::optional<FileStamp> stamp_; // nullopt: not read yet
	ResolverConfig config_;
	std::size_t nextServer_ = 0; // options rotate
	std::size_t open_ = 0;
	std::vector<Query *> waiting_; // the oldest first
	bool closing_ = false;
	std::map<ResolveTarget, std::unique_ptr<Lookup>> lookups_;
};

} // namespace checksyncd
