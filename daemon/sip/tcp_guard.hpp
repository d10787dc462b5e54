// SPDX-License-Identifier: MIT
//
// Keeps the inbound SIP-over-TCP connections of sofia-sip's tport within
// bounds (ConnectionLimits decides which: in total, per source, a first
// request soon, a request now and then), and keeps descriptors free for
// the daemon itself.
//
// Why not in sofia-sip: tport (1.12.11, and upstream to this day) accepts
// every connection it is offered and has no connection limit; when
// accept() fails (EMFILE) it only reports the error, the listening socket
// stays readable, and the loop wakes up again at once: 100 % CPU. Its idle
// timer (TPTAG_IDLE) starts only once a connection carried a message, so a
// connection that never sends a byte is kept for good, and one that
// trickles a byte now and then dodges both it and TPTAG_TIMEOUT. Its
// public API cannot adopt a socket accepted by someone else, cannot pause
// its listening socket's registration, and cannot list its connections
// (tport_secondary() gives the root of a tree that tport_next() walks only
// to the right). What it does offer is used: TPTAG_IDLE and TPTAG_TIMEOUT
// (kIdleMs, kStalledRequestMs; passed to nta_agent_add_tport).
//
// So the guard works on the descriptors themselves, which the process
// owns anyway: before every poll it checks, with one dup(), whether the
// lowest free descriptor moved (tport accepted or closed something) and
// only then looks at its descriptors (fstat; getsockname and getpeername
// for a new socket) to find the connections on the TCP listening sockets.
// The SIP service tells it of every request nta delivers (sawRequest()),
// and a timer wakes it when the next connection is due. A connection to
// give up is shut down (shutdown(2), never close(2): the descriptor stays
// tport's); tport reads the end of stream at once and closes it itself.
// (The kernel's TCP_INFO would tell when data last moved without the
// SIP service's help, but qemu-user, which the cross-built tests run
// under, truncates it to 4 bytes; and a request, unlike a byte, cannot be
// trickled.)
//
// Descriptors: at most kMaxConnections connections, fewer when the
// descriptor limit (RLIMIT_NOFILE) leaves less than kReservedDescriptors
// for the daemon's own. So tport's accept() does not fail for want of a
// descriptor, and the listening socket never stays readable. Should
// descriptors run out anyway (a limit lowered at run time, a leak), the
// guard gives back a reserve descriptor, so that tport's pending accept()
// succeeds, and sheds the oldest connection of the largest holder before
// every poll until there is room again: each wakeup does work, none spins.

#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <sys/socket.h>

#include "base/unique_fd.hpp"
#include "loop/loop.hpp"
#include "sip/connection_limits.hpp"

extern "C" {
struct msg_s;
}

namespace checksyncd {

class TcpGuard
{
public:
	// A phone talks to one or two PBXs, each of which needs one connection
	// at a time, maybe a few while one is being replaced: 64 in all and 8
	// per source leave room for a PBX cluster and for the other sources
	// while one source is misbehaving, at 64 descriptors and a few KiB of
	// tport buffers each.
	static constexpr std::size_t kMaxConnections = 64;
	static constexpr std::size_t kMaxConnectionsPerSource = 8;
	// Descriptors kept for the daemon itself: it uses about 15 (stdio,
	// epoll, su_root's wakeup pair, 4 SIP sockets, D-Bus, signalfd,
	// inotify, /dev/urandom, this guard's reserve) and briefly a few more
	// (a settings read, a D-Bus reconnect, sd_notify, the journal socket,
	// connections accepted but not yet shut down). 32 leaves a wide margin.
	static constexpr unsigned kReservedDescriptors = 32;
	// A connection is closed when it has carried no complete request for
	// this long since its last one (the guard), or moved no data for this
	// long with no transaction open (tport; nta's default is 30 minutes).
	// A PBX has its answer within the 2 s the daemon waits for D-Bus; 30 s
	// more let it reuse the connection for the next request or an OPTIONS
	// keepalive.
	static constexpr unsigned kIdleMs = 30'000;
	// A connection that has not carried a complete request this long after
	// it opened is closed: a PBX connects to send its request at once, and
	// whoever sends nothing, or a byte now and then, holds no place longer.
	static constexpr std::uint64_t kFirstRequestMs = 10'000;
	// tport gives up a request whose next bytes do not arrive within this
	// long: answered 400 and the connection shut when its Via was read,
	// else dropped. A PBX writes a request in one go; 5 s covers two TCP
	// retransmissions, and comes before kFirstRequestMs so that the 400 is
	// sent before the guard closes the connection.
	static constexpr unsigned kStalledRequestMs = 5'000;

	// What the SIP side knows of a connection's peer: whether the source
	// filter lets it in, names it, or it authenticated before (what makes
	// room goes least proven first: connection_limits.hpp). Asked about
	// every connection each time the guard looks; without it, every peer
	// is Trust::Allowed.
	using TrustOf = std::function<ConnectionLimits::Trust(const SourceAddress &peer)>;

	explicit TcpGuard(EventLoop &loop, TrustOf trust = {});
	TcpGuard(const TcpGuard &) = delete;
	TcpGuard &operator=(const TcpGuard &) = delete;

	const ConnectionLimits::Limits &limits() const { return limits_.limits(); }

	// nta delivered a complete request: over TCP, it restarts its
	// connection's idle time.
	void sawRequest(msg_s *msg);

private:
	struct Listener {
		int fd;
		sockaddr_storage address; // a wildcard address matches any
	};
	struct Socket {
		int fd;
		std::uint64_t inode;
		bool connection;    // inbound, on one of listeners_
		SourceAddress peer; // of a connection (IPv4-mapped as IPv4)
	};

	void beforePoll();
	enum class Descriptors : bool {
		Available,
		Exhausted, // shed one more connection
	};
	// Look at every descriptor, let limits_ decide, shut down what it
	// says; shed one more connection when descriptors ran out.
	void scan(Descriptors descriptors);
	bool isConnection(int fd, Socket &socket) const;
	void shutDown(ConnectionLimits::Close close);
	void armTimer();

	ConnectionLimits limits_;
	std::vector<Listener> listeners_;
	std::vector<Socket> sockets_; // every socket of the last scan
	UniqueFd reserve_;            // /dev/null, given back when descriptors run out
	int lowestFree_ = -1;         // as of the last probe
	int scanEnd_ = 0;             // first descriptor not looked at
	std::uint64_t nextExhaustedLogMs_ = 0;
	TrustOf trust_;
	Timer timer_; // the next connection's deadline, or a recheck
	PrepollHook beforePoll_;
};

} // namespace checksyncd
