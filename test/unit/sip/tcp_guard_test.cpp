// SPDX-License-Identifier: MIT
//
// The TCP guard in process (daemon/sip/tcp_guard.cpp): a real TcpGuard on a
// real su_root, with the test in tport's place. The test listens on
// 127.0.0.1 before the guard starts (it finds the listening socket among
// the process's descriptors, as it finds tport's), accepts every
// connection as tport would, and sees what the guard shuts down as the end
// of stream at the client's end. Clients bind addresses of 127.0.0.0/8 of
// their own, so that each is a source of its own.

#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>

#include <arpa/inet.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/sofia.hpp"
#include "base/unique_fd.hpp"
#include "loop/log.hpp"
#include "loop/loop.hpp"
#include "sip/tcp_guard.hpp"

#include "support/daemon_support.hpp"
#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;
using checksyncd::test::stepPast;
using checksyncd::test::stepUntil;

namespace {

sockaddr_in loopback(const char *address, std::uint16_t port = 0)
{
	sockaddr_in in{};
	in.sin_family = AF_INET;
	in.sin_port = htons(port);
	inet_pton(AF_INET, address, &in.sin_addr);
	return in;
}

// One connection: the client's end (the test's) and the accepted one
// (tport's).
struct Connection {
	std::string source;
	UniqueFd client;
	UniqueFd accepted;

	// The guard shut the accepted end down: the client reads the end of
	// the stream.
	bool closed() const
	{
		pollfd p{client.get(), POLLIN, 0};
		if (::poll(&p, 1, 0) <= 0)
			return false;
		char c;
		return ::recv(client.get(), &c, 1, MSG_DONTWAIT | MSG_PEEK) == 0;
	}
};

} // namespace

TEST_GROUP(TcpGuard)
{
	EventLoop loop;
	UniqueFd listener;
	std::uint16_t port = 0;
	std::unique_ptr<TcpGuard> guard;
	std::vector<std::unique_ptr<Connection>> connections;
	rlimit savedLimit{};

	void setup() override
	{
		logSetup(getenv("DEBUGLOG") ? LogLevel::Debug : LogLevel::Error,
			 LogBackend::Stderr);
		CHECK_EQUAL(0, ::getrlimit(RLIMIT_NOFILE, &savedLimit));
		listener.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
		sockaddr_in in = loopback("127.0.0.1");
		socklen_t length = sizeof(in);
		CHECK_TRUE(listener &&
			   ::bind(listener.get(), reinterpret_cast<sockaddr *>(&in), sizeof(in)) ==
				   0 &&
			   ::listen(listener.get(), 128) == 0 &&
			   ::getsockname(listener.get(), reinterpret_cast<sockaddr *>(&in),
					 &length) == 0);
		port = ntohs(in.sin_port);
	}

	void teardown() override
	{
		guard.reset();
		connections.clear();
		listener.reset();
		(void)::setrlimit(RLIMIT_NOFILE, &savedLimit);
	}

	void startGuard(TcpGuard::TrustOf trust = {})
	{
		guard = std::make_unique<TcpGuard>(loop, std::move(trust));
	}

	// Connect from `source` and accept, as tport does; the guard looks
	// before the next poll.
	Connection &connect(const char *source)
	{
		auto c = std::make_unique<Connection>();
		c->source = source;
		c->client.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
		const sockaddr_in from = loopback(source);
		const sockaddr_in to = loopback("127.0.0.1", port);
		CHECK_TRUE(c->client &&
			   ::bind(c->client.get(), reinterpret_cast<const sockaddr *>(&from),
				  sizeof(from)) == 0 &&
			   ::connect(c->client.get(), reinterpret_cast<const sockaddr *>(&to),
				     sizeof(to)) == 0);
		pollfd p{listener.get(), POLLIN, 0};
		CHECK_EQUAL(1, ::poll(&p, 1, 1000));
		c->accepted.reset(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
		CHECK_TRUE(c->accepted);
		connections.push_back(std::move(c));
		CHECK_TRUE(stepPast(loop, 0));
		return *connections.back();
	}

	// What nta delivers when a request arrived on `c`: a message whose
	// address is the client's.
	void request(const Connection &c)
	{
		UniqueMsg msg(msg_create(sip_default_mclass(), 0));
		sockaddr_storage peer{};
		socklen_t length = sizeof(peer);
		CHECK_EQUAL(0, ::getsockname(c.client.get(), reinterpret_cast<sockaddr *>(&peer),
					     &length));
		CHECK_EQUAL(0, msg_set_address(msg.get(), reinterpret_cast<su_sockaddr_t *>(&peer),
					       length));
		msg_addrinfo(msg.get())->ai_protocol = IPPROTO_TCP;
		guard->sawRequest(msg.get());
	}

	std::vector<std::string> closedSources() const
	{
		std::vector<std::string> closed;
		for (const auto &c : connections)
			if (c->closed())
				closed.push_back(c->source);
		return closed;
	}

	std::size_t closedCount() const
	{
		return closedSources().size();
	}
};

TEST(TcpGuard, findsTheListeningSocketAndSetsItsLimitsByTheDescriptorLimit)
{
	startGuard();
	LONGS_EQUAL(TcpGuard::kMaxConnections, guard->limits().total);
	LONGS_EQUAL(TcpGuard::kMaxConnectionsPerSource, guard->limits().perSource);
	Connection &one = connect("127.0.0.2");
	CHECK_TRUE(stepPast(loop, 50));
	CHECK_FALSE(one.closed());
}

TEST(TcpGuard, aSourceOverItsCapLosesItsOwnOldestConnection)
{
	startGuard();
	for (std::size_t i = 0; i < TcpGuard::kMaxConnectionsPerSource; ++i)
		connect("127.0.0.2");
	Connection &other = connect("127.0.0.3");
	CHECK_TRUE(stepPast(loop, 50));
	LONGS_EQUAL(0, closedCount());
	connect("127.0.0.2"); // one too many
	CHECK_TRUE(stepUntil(loop, [&] { return closedCount() == 1; }));
	CHECK_TRUE(connections.front()->closed()); // the oldest of the source
	CHECK_FALSE(other.closed());
	CHECK_FALSE(connections.back()->closed());
}

TEST(TcpGuard, aFullTableKeepsTheSourcesThatProvedThemselves)
{
	startGuard([](const SourceAddress &peer) {
		return peer.address.toString() == "127.0.0.2" ? ConnectionLimits::Trust::Kept
							      : ConnectionLimits::Trust::Allowed;
	});
	Connection &pbx = connect("127.0.0.2"); // the oldest of all
	for (std::size_t i = 1; i < TcpGuard::kMaxConnections; ++i)
		connect(("127.0.1." + std::to_string(i)).c_str());
	CHECK_TRUE(stepPast(loop, 50));
	LONGS_EQUAL(0, closedCount());
	connect("127.0.2.1"); // the table is full
	CHECK_TRUE(stepUntil(loop, [&] { return closedCount() == 1; }));
	CHECK_FALSE(pbx.closed());
	CHECK_TRUE(connections[1]->closed()); // the oldest of those that proved less
}

TEST(TcpGuard, aConnectionWithoutACompleteRequestIsClosedTheOneWithARequestKept)
{
	startGuard();
	Connection &silent = connect("127.0.0.2");
	Connection &pbx = connect("127.0.0.3");
	request(pbx);
	const std::uint64_t started = EventLoop::nowMs();
	CHECK_TRUE(stepUntil(
		loop, [&] { return silent.closed(); }, TcpGuard::kFirstRequestMs + 3000));
	CHECK_TRUE(EventLoop::nowMs() - started >= TcpGuard::kFirstRequestMs - 100);
	CHECK_FALSE(pbx.closed()); // its idle time runs for kIdleMs since its request
}

TEST(TcpGuard, aTightDescriptorLimitLeavesRoomForFewerConnections)
{
	rlimit tight = savedLimit;
	tight.rlim_cur = TcpGuard::kReservedDescriptors + 3;
	CHECK_EQUAL(0, ::setrlimit(RLIMIT_NOFILE, &tight));
	startGuard();
	LONGS_EQUAL(3, guard->limits().total);
	LONGS_EQUAL(3, guard->limits().perSource);
	(void)::setrlimit(RLIMIT_NOFILE, &savedLimit); // the test's own sockets
	for (const char *source : {"127.0.0.2", "127.0.0.3", "127.0.0.4"})
		connect(source);
	CHECK_TRUE(stepPast(loop, 50));
	LONGS_EQUAL(0, closedCount());
	connect("127.0.0.5");
	CHECK_TRUE(stepUntil(loop, [&] { return closedCount() == 1; }));
	CHECK_TRUE(connections.front()->closed());
}
