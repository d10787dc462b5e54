// SPDX-License-Identifier: MIT
//
// The kernel's share of the source filter and of overload protection
// (common/filter/kernel_filter.hpp; docs/security.md, "The source filter" and
// "Overload"): a classic BPF program attached (SO_ATTACH_FILTER) to every
// UDP socket the SIP transport bound, rebuilt whenever what it is built
// from changes. TCP is left to the TCP guard's bounds (tcp_guard.hpp).
//
// - With the source filter dropping the other sources (checksync_untrusted
//   drop), the kernel drops them before they are queued: only the filter's
//   addresses and prefixes pass, and 1 in kSampleOneIn of the rest, which
//   SourceGate counts by prefix (as standing for kSampleOneIn each) for
//   its once-a-minute lines. What the kernel dropped is read from the
//   sockets' drop counters (SO_MEMINFO's SK_MEMINFO_DROPS, which counts
//   filtered datagrams as well as those lost for want of buffer room) and
//   counted as dropped by the filter.
// - When the daemon cannot keep up (OverloadGovernor: a receive queue
//   overflowing or three quarters full), with or without the filter,
//   the kernel lets through only the sources that authenticated before
//   (RequestGuard's, read through a callback) and the filter's, and 1 in
//   4^level of the rest, until five calm seconds per level have passed.
//   The drop counters then count what was shed.
//
// Readings are cheap and only taken when needed: every kProbeEvery UDP
// datagrams, when they came faster than 1000/s (an idle or lightly used
// daemon never looks), every second while overloaded, and the drop
// counters every second while they move (then less often, up to once a
// minute) whenever a program drops anything.
//
// Why not in sofia-sip: tport (1.12.11) has no accessor for a transport's
// socket; the descriptors are found, as the TCP guard finds its own, by
// the addresses tport_get_address() says the primary UDP transports are
// bound to.

#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/source_address.hpp"
#include "filter/kernel_filter.hpp"
#include "filter/source_filter.hpp"
#include "loop/loop.hpp"

extern "C" {
struct nta_agent_s;
}

namespace checksyncd {

class SourceGate;
class StatusSink;

class SocketFilter
{
public:
	// 1 in 128 of the datagrams the filter drops still reach the daemon,
	// so that a flood's sources show in the log. Each costs a parse and a
	// wakeup, about 0.5 of a served datagram (docs/benchmarks.md): 1 in 64
	// came to 0.04-0.045 of a served one in CPU per dropped datagram,
	// close to the 0.05 aimed at; 1 in 128 halves it and still names a
	// prefix that sends a few hundred datagrams a minute.
	static constexpr std::uint32_t kSampleOneIn = 128;
	// The sockets are looked at every kProbeEvery UDP datagrams when those
	// came within kProbeEvery ms (over 1000/s): at 50 000 datagrams/s a
	// queue that is falling behind is seen within a millisecond.
	static constexpr unsigned kProbeEvery = 32;
	static constexpr std::uint64_t kTickMs = 1'000;     // while overloaded
	static constexpr std::uint64_t kBusyWindowMs = 100; // CPU share measured over
	static constexpr std::uint64_t kCountMinMs = 1'000;
	static constexpr std::uint64_t kCountMaxMs = 60'000;
	static constexpr std::uint64_t kOverloadLogMs = 60'000;

	// The sources that authenticated before (RequestGuard's).
	using AuthenticatedSources = std::function<std::vector<SourcePrefix>()>;

	// Finds the UDP sockets of `agent`'s primary transports and builds
	// their programs from `gate`, the source filter, now and whenever it
	// says its sources changed (it outlives the filter). `status` (may be
	// null) hears of what the kernel dropped.
	SocketFilter(EventLoop &loop, nta_agent_s *agent, SourceGate &gate, StatusSink *status,
		     AuthenticatedSources authenticated);
	~SocketFilter();
	SocketFilter(const SocketFilter &) = delete;
	SocketFilter &operator=(const SocketFilter &) = delete;

	// How many requests the source filter drops one UDP request it drops
	// in the daemon stands for: kSampleOneIn (or fewer still while
	// overloaded) while the kernel drops the others, else 1.
	std::uint32_t sampleWeight() const { return weight_; }
	enum class Datagram : bool {
		Passed,
		Filtered, // the source filter dropped it (a sample)
	};
	// A UDP request reached the daemon (every one nta delivers).
	void sawDatagram(Datagram datagram);

	// The UDP sockets found ("udp 0.0.0.0:5060"), for the log and tests.
	std::vector<std::string> sockets() const;

private:
	// What a socket's drop counter counts under its program.
	enum class Drops : unsigned char {
		Overflow, // no program: only datagrams lost for want of room
		Filter,   // the source filter's drops (and overflow)
		Shed,     // overload's shedding (and overflow)
	};
	enum class State : unsigned char {
		None,      // no program
		Filtering, // the source filter's program
		Shedding,  // overload's program
		Coarse,    // a program with widened prefixes
		Unfit,     // too long even so: none
		Failed,    // SO_ATTACH_FILTER failed
	};
	struct Socket {
		int fd = -1;
		SocketFamily family = SocketFamily::V4;
		std::string name;
		std::uint32_t drops = 0; // SK_MEMINFO_DROPS when last read
		Drops counts = Drops::Overflow;
		State state = State::None;
		bool attached = false;
	};
	struct Meminfo {
		std::uint64_t overflowed = 0; // dropped without a program
		std::optional<double> fill;   // the fullest queue
	};

	void rebuild();
	void attach(Socket &socket, const KernelFilterSpec &spec, State state);
	void detach(Socket &socket);
	void setState(Socket &socket, State state, const std::string &why = {});
	// Reads every socket's drop counter and queue, reports what the
	// kernel dropped since the last read.
	Meminfo readSockets();
	void probe(std::uint64_t nowMs);
	void tick();
	void countDrops();
	void countSoon(std::uint64_t ms);
	std::optional<double> busy(std::uint64_t nowMs);
	std::vector<IpPrefix> authenticatedPrefixes() const;
	void levelChanged(unsigned before, std::uint64_t nowMs);

	SourceGate &gate_;
	StatusSink *status_;
	AuthenticatedSources authenticated_;
	std::vector<Socket> sockets_;
	OverloadGovernor governor_;
	std::vector<IpPrefix> builtAuthenticated_; // in the program now
	std::uint32_t weight_ = 1;
	bool dropping_ = false; // a program drops something
	unsigned datagrams_ = 0;
	std::uint64_t batchStartMs_ = 0;
	std::uint64_t busyWallMs_ = 0;
	std::uint64_t busyCpuNs_ = 0;
	std::uint64_t countDelayMs_ = kCountMinMs;
	std::uint64_t overloadSinceMs_ = 0;
	std::uint64_t overloadLoggedMs_ = 0;
	std::uint64_t shedTotal_ = 0;    // since the overload began
	std::uint64_t shedSinceLog_ = 0; // since its last line
	Timer tickTimer_;
	Timer countTimer_;
};

} // namespace checksyncd
