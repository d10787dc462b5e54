// SPDX-License-Identifier: MIT

#include "sip/tcp_guard.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sofia-sip/msg_addr.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "loop/log.hpp"

namespace checksyncd {

namespace {

// The first scan looks at descriptors below this; later ones up to the
// highest open descriptor they found plus kScanSlack. New descriptors are
// always the lowest free ones (POSIX), and the guard looks again before
// the next poll whenever the lowest free one moved, so it only has to find
// what one wakeup opened above the last highest: an accept() per ready
// listening socket (sofia-sip takes at most 4 events per wakeup) and a
// settings read or a D-Bus reconnect.
constexpr int kFirstScanEnd = 1024;
constexpr int kScanSlack = 16;

constexpr std::uint64_t kExhaustedLogIntervalMs = 60'000;

// While a connection it shut down has not been seen gone, the guard looks
// again after this long: tport may close it and accept a new connection
// into the same descriptor in one wakeup, which leaves the lowest free
// descriptor where it was.
constexpr std::uint64_t kRecheckMs = 1'000;

rlim_t descriptorLimit()
{
	rlimit limit{};
	if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
		return 1024;
	return limit.rlim_cur;
}

ConnectionLimits::Limits limitsFor(rlim_t descriptors)
{
	const rlim_t reserved = TcpGuard::kReservedDescriptors;
	std::size_t room = TcpGuard::kMaxConnections;
	if (descriptors != RLIM_INFINITY)
		room = descriptors > reserved ? static_cast<std::size_t>(descriptors - reserved)
					      : 0;
	std::size_t total = std::min(TcpGuard::kMaxConnections, room);
	return {total, std::min(TcpGuard::kMaxConnectionsPerSource, total),
		TcpGuard::kFirstRequestMs, TcpGuard::kIdleMs};
}

bool isWildcard(const sockaddr_storage &address)
{
	if (address.ss_family == AF_INET)
		return reinterpret_cast<const sockaddr_in &>(address).sin_addr.s_addr ==
		       htonl(INADDR_ANY);
	const auto &in6 = reinterpret_cast<const sockaddr_in6 &>(address);
	return IN6_IS_ADDR_UNSPECIFIED(&in6.sin6_addr);
}

// Same family and port, and the same address unless `listener` is a
// wildcard.
bool listensOn(const sockaddr_storage &listener, const sockaddr_storage &local)
{
	if (listener.ss_family != local.ss_family)
		return false;
	if (listener.ss_family == AF_INET) {
		const auto &l = reinterpret_cast<const sockaddr_in &>(listener);
		const auto &a = reinterpret_cast<const sockaddr_in &>(local);
		return l.sin_port == a.sin_port &&
		       (isWildcard(listener) || l.sin_addr.s_addr == a.sin_addr.s_addr);
	}
	const auto &l = reinterpret_cast<const sockaddr_in6 &>(listener);
	const auto &a = reinterpret_cast<const sockaddr_in6 &>(local);
	return l.sin6_port == a.sin6_port &&
	       (isWildcard(listener) || IN6_ARE_ADDR_EQUAL(&l.sin6_addr, &a.sin6_addr));
}

bool isInet(const sockaddr_storage &address)
{
	return address.ss_family == AF_INET || address.ss_family == AF_INET6;
}

// The same peer: sofia-sip's source of a request and getpeername()'s,
// whichever of them gave an IPv4 client of an IPv6 socket IPv4-mapped.
bool samePeer(const SourceAddress &a, const IpAddress &address, std::uint16_t port)
{
	return a.port == port && a.address == address;
}

bool streamSocket(int fd, bool &listening)
{
	int type = 0;
	socklen_t length = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_STREAM)
		return false;
	int accepting = 0;
	length = sizeof(accepting);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) != 0)
		return false;
	listening = accepting != 0;
	return true;
}

const char *reasonText(ConnectionLimits::Reason reason)
{
	switch (reason) {
	case ConnectionLimits::Reason::SourceFull:
		return "too many connections from its source, and it had proven the least";
	case ConnectionLimits::Reason::TableFull:
		return "too many connections, it had proven the least and its source holds the "
		       "most";
	case ConnectionLimits::Reason::NoRoom:
		return "the descriptor limit leaves no room for TCP";
	case ConnectionLimits::Reason::NoRequest:
		return "no complete request since it opened";
	case ConnectionLimits::Reason::Idle:
		return "no request since the last one";
	case ConnectionLimits::Reason::Shed:
		return "out of file descriptors";
	}
	return "";
}

} // namespace

TcpGuard::TcpGuard(EventLoop &loop, TrustOf trust)
	: limits_(limitsFor(descriptorLimit())), trust_(std::move(trust)), timer_(loop)
{
	// The TCP listening sockets: tport's, as the daemon has no other.
	for (int fd = 0; fd < kFirstScanEnd; fd++) {
		bool listening = false;
		sockaddr_storage local{};
		socklen_t length = sizeof(local);
		if (!streamSocket(fd, listening) || !listening ||
		    getsockname(fd, reinterpret_cast<sockaddr *>(&local), &length) != 0 ||
		    !isInet(local))
			continue;
		listeners_.push_back({fd, local});
	}
	if (listeners_.empty())
		return; // no TCP transport: nothing to guard

	const ConnectionLimits::Limits &l = limits_.limits();
	rlim_t descriptors = descriptorLimit();
	if (l.total == 0)
		logMessage(LogLevel::Warning, "the descriptor limit (" +
						      std::to_string(descriptors) +
						      ") leaves no room for SIP over TCP: every "
						      "TCP connection is closed at once");
	else
		logMessage(LogLevel::Debug, "SIP over TCP: at most " + std::to_string(l.total) +
						    " connections, " + std::to_string(l.perSource) +
						    " per source (descriptor limit " +
						    std::to_string(descriptors) + ")");

	reserve_.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
	scanEnd_ = kFirstScanEnd;
	scan(Descriptors::Available);
	beforePoll_ = loop.addPrepoll([this] { beforePoll(); });
}

void TcpGuard::beforePoll()
{
	if (!reserve_)
		reserve_.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
	// The lowest free descriptor: any descriptor tport accepts or closes
	// moves it, and it costs two system calls to learn.
	UniqueFd probe(fcntl(listeners_.front().fd, F_DUPFD_CLOEXEC, 0));
	if (probe) {
		const int lowestFree = probe.get();
		probe.reset(); // before the scan, which must not see it
		if (lowestFree != lowestFree_) {
			lowestFree_ = lowestFree;
			scan(Descriptors::Available);
		}
		return;
	}
	if (errno != EMFILE)
		return;
	// Once a minute at most: while the limit is too tight, every new
	// connection runs into it.
	std::uint64_t now = EventLoop::nowMs();
	if (now >= nextExhaustedLogMs_) {
		nextExhaustedLogMs_ = now + kExhaustedLogIntervalMs;
		logMessage(LogLevel::Warning,
			   "out of file descriptors: closing SIP TCP connections "
			   "to make room");
	}
	// Give one back at once, so that tport's pending accept() succeeds
	// instead of failing again, and shed a connection for the next one.
	reserve_.reset();
	lowestFree_ = -1;
	scan(Descriptors::Exhausted);
}

bool TcpGuard::isConnection(int fd, Socket &socket) const
{
	bool listening = false;
	if (!streamSocket(fd, listening) || listening)
		return false;
	sockaddr_storage local{};
	socklen_t length = sizeof(local);
	if (getsockname(fd, reinterpret_cast<sockaddr *>(&local), &length) != 0 || !isInet(local))
		return false;
	if (std::none_of(listeners_.begin(), listeners_.end(),
			 [&](const Listener &l) { return listensOn(l.address, local); }))
		return false;
	sockaddr_storage peer{};
	length = sizeof(peer);
	if (getpeername(fd, reinterpret_cast<sockaddr *>(&peer), &length) != 0)
		return false;
	std::optional<SourceAddress> source = SourceAddress::fromSockaddr(
		reinterpret_cast<sockaddr *>(&peer), Transport::Tcp);
	if (!source)
		return false;
	socket.peer = std::move(*source);
	return true;
}

void TcpGuard::scan(Descriptors descriptors)
{
	std::vector<Socket> sockets;
	std::vector<ConnectionLimits::Seen> open;
	auto previous = sockets_.begin();
	int highest = -1;
	for (int fd = 0; fd < scanEnd_; fd++) {
		struct stat st {
		};
		if (fstat(fd, &st) != 0)
			continue;
		highest = fd;
		if (!S_ISSOCK(st.st_mode))
			continue;
		// sockets_ is in descriptor order: walk it alongside, and classify
		// only what was not there last time (a new inode on a descriptor
		// is a new socket).
		while (previous != sockets_.end() && previous->fd < fd)
			++previous;
		Socket socket{.fd = fd, .inode = st.st_ino, .connection = false};
		if (previous != sockets_.end() && previous->fd == fd &&
		    previous->inode == socket.inode)
			socket = *previous;
		else
			socket.connection = isConnection(fd, socket);
		if (socket.connection)
			open.push_back(
				{socket.inode, socket.peer.prefix,
				 trust_ ? trust_(socket.peer) : ConnectionLimits::Trust::Allowed});
		sockets.push_back(std::move(socket));
	}
	sockets_ = std::move(sockets);
	scanEnd_ = highest + 1 + kScanSlack;

	for (const ConnectionLimits::Close &close : limits_.update(open, EventLoop::nowMs()))
		shutDown(close);
	if (descriptors == Descriptors::Exhausted) {
		if (std::optional<ConnectionLimits::Close> close = limits_.shed())
			shutDown(*close);
	}
	armTimer();
}

void TcpGuard::sawRequest(msg_s *msg)
{
	su_addrinfo_t *ai = msg_addrinfo(msg);
	if (listeners_.empty() || !ai || ai->ai_protocol != IPPROTO_TCP || !ai->ai_addr)
		return;
	std::uint16_t port = 0;
	const std::optional<IpAddress> address = IpAddress::fromSockaddr(ai->ai_addr, &port);
	if (!address)
		return;
	auto find = [&] {
		return std::find_if(sockets_.begin(), sockets_.end(), [&](const Socket &s) {
			return s.connection && samePeer(s.peer, *address, port);
		});
	};
	auto socket = find();
	if (socket == sockets_.end()) {
		// Accepted into a descriptor that a closed connection left in the
		// same wakeup: the lowest free descriptor did not move.
		scan(Descriptors::Available);
		socket = find();
		if (socket == sockets_.end())
			return;
	}
	limits_.requestSeen(socket->inode, EventLoop::nowMs());
	armTimer();
}

void TcpGuard::shutDown(ConnectionLimits::Close close)
{
	auto socket = std::find_if(sockets_.begin(), sockets_.end(),
				   [&](const Socket &s) { return s.inode == close.id; });
	if (socket == sockets_.end())
		return;
	// Not close(2): the descriptor is tport's. It reads the end of stream
	// (or the hang-up) on its next wakeup and closes the connection itself.
	(void)shutdown(socket->fd, SHUT_RDWR);
	if (logEnabled(LogLevel::Debug))
		logMessage(LogLevel::Debug,
			   "closing TCP connection from " + socket->peer.remote + ": " +
				   reasonText(close.reason),
			   {{"SIP_REMOTE", socket->peer.remote}});
}

void TcpGuard::armTimer()
{
	std::uint64_t now = EventLoop::nowMs();
	std::optional<std::uint64_t> expiry = limits_.nextExpiryMs();
	if (limits_.closing() > 0)
		expiry = std::min(expiry.value_or(UINT64_MAX), now + kRecheckMs);
	if (!expiry) {
		timer_.cancel();
		return;
	}
	timer_.arm(*expiry > now ? *expiry - now : 0, [this] { scan(Descriptors::Available); });
}

} // namespace checksyncd
