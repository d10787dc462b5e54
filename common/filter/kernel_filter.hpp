// SPDX-License-Identifier: MIT
//
// The kernel's share of the source filter and of overload protection
// (docs/security.md, "The source filter", "Overload"), as pure code: the
// classic BPF socket filter (SO_ATTACH_FILTER, socket(7): unprivileged,
// unlike eBPF) for a UDP socket of the SIP transport, and the governor
// that says when the daemon cannot keep up. daemon/filter/socket_filter.hpp
// attaches the program and feeds the governor.
//
// The program reads the datagram's IP header (SKF_NET_OFF: the network
// header, in front of the UDP header the socket filter's data starts at)
// and passes a datagram whole when its source is inside one of the
// `pass` prefixes; any other passes with probability 1 in `restOneIn`
// (SKF_AD_RANDOM, the kernel's per-packet pseudo-random number), and the
// kernel drops the rest before they are queued: the daemon never wakes up
// for them, and sofia-sip never parses them. An IPv6 socket also gets
// IPv4 datagrams (IPv4-mapped sources, IPV6_V6ONLY off), and on Linux 6.x
// an IPv6 datagram whose source is an IPv4-mapped address reaches a socket
// too (seen on 6.18 over loopback); IpAddress treats both as the IPv4
// address, so the program does too: both are compared with the IPv4
// prefixes. An IPv6 prefix that covers IPv4-mapped addresses (::/0) lets
// every IPv4 source pass, as it does in decideSource().
//
// The program may pass more than the source filter allows, never less:
// every datagram that passes is still judged by SourceGate. So a program
// too long for the kernel (BPF_MAXINSNS, 4096 instructions; the socket's
// option memory, net.core.optmem_max, may allow fewer) falls back to a
// coarser one, each IPv4 source widened to its /24 and each IPv6 source to
// its /64, and when even that does not fit, to no program at all.

#pragma once

#include <linux/filter.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "base/net_address.hpp"
#include "base/source_address.hpp"

namespace checksyncd {

enum class SocketFamily : bool {
	V4, // AF_INET: IPv4 datagrams only
	V6, // AF_INET6: IPv6 datagrams, and IPv4 ones unless IPV6_V6ONLY
};

struct KernelFilterSpec {
	std::vector<IpPrefix> pass; // datagrams from these always pass
	// Every other datagram passes with probability 1 in restOneIn: 1 lets
	// all pass (no program is needed), 0 none.
	std::uint32_t restOneIn = 0;
};

struct KernelProgram {
	enum class Precision : unsigned char {
		Exact,  // every prefix as given
		Coarse, // IPv4 sources widened to /24, IPv6 ones to /64: more pass
		Unfit,  // too long even so: no program, the daemon filters alone
	};
	// Empty: no program is needed (every datagram passes), or Unfit.
	std::vector<sock_filter> code;
	Precision precision = Precision::Exact;
	std::size_t prefixes = 0; // compared by the program
};

// The program that keeps the datagrams `spec` lets through on a socket of
// `family`, in at most maxInstructions. `networkOffset` is where the IP
// header starts for the program's loads: SKF_NET_OFF on a UDP socket; 0
// where the test sends a crafted IP header as the payload of a datagram
// socketpair.
KernelProgram buildKernelFilter(const KernelFilterSpec &spec, SocketFamily family,
				std::size_t maxInstructions = BPF_MAXINSNS,
				std::int32_t networkOffset = SKF_NET_OFF);

// The addresses a SourcePrefix stands for: an IPv4 address as /32, an
// IPv6 /64 as /64.
IpPrefix ipPrefixOf(const SourcePrefix &source);

// When the daemon cannot keep up with what reaches its UDP sockets.
//
// The level says how much of the rest (datagrams from sources that neither
// authenticated before nor are named by the source filter) the kernel lets
// through: 1 in 4^level. Level 0 is normal service: no shedding.
//
// - Raised one step when a socket's receive queue overflowed or is three
//   quarters full (the daemon is falling behind, and a queue that
//   overflows drops the PBX's datagrams with everyone else's); at most
//   every kRaiseHoldMs, which is time for the queue to drain after the
//   last step (208 KiB by default, a few hundred datagrams). A busy CPU
//   alone is no reason: a client that sends as fast as it is answered
//   keeps the daemon busy with a short queue (test_status's flood of 64
//   datagrams in flight filled it to 38 % at most, measured).
// - Lowered one step once kCalmMs have passed at the current level with
//   every reading calm: the queue under 1/8 full and the CPU under 1/8
//   busy, so that the next level down, which lets four times as much of
//   the rest through, still leaves the daemon half idle.
class OverloadGovernor
{
public:
	static constexpr unsigned kMaxLevel = 6; // 1 in 4096 of the rest
	static constexpr double kRaiseFill = 0.75;
	static constexpr double kCalm = 0.125;
	static constexpr std::uint64_t kRaiseHoldMs = 250;
	static constexpr std::uint64_t kCalmMs = 5'000;

	struct Reading {
		// The fullest socket's queued bytes over its buffer (nullopt: not
		// known, SO_MEMINFO unsupported).
		std::optional<double> queueFill;
		// A socket dropped datagrams for want of room (only known while
		// no program drops any).
		bool overflowed = false;
		// The daemon's CPU time over wall time since the last reading.
		std::optional<double> busy;
	};

	// Returns true when the level changed.
	bool observe(const Reading &reading, std::uint64_t nowMs);

	unsigned level() const { return level_; }
	std::uint32_t restOneIn() const { return std::uint32_t{1} << (2 * level_); }
	// When the level last changed.
	std::uint64_t changedMs() const { return changedMs_; }

private:
	unsigned level_ = 0;
	std::uint64_t changedMs_ = 0;
	std::optional<std::uint64_t> calmSinceMs_;
};

} // namespace checksyncd
