// SPDX-License-Identifier: MIT
//
// A DNS server in the test itself: a UDP socket on 127.0.0.1 at a port the
// kernel picks, watched by the test's loop; `serve` decides what becomes of
// each query (answer it, forge, stay silent). A resolv.conf of the test's
// names it with `port` (writeResolvConf()). Shared by the tests of the
// resolver and of the source gate.

#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/unique_fd.hpp"
#include "loop/loop.hpp"

#include "support/dns_support.hpp"

#include <CppUTest/TestHarness.h>

namespace checksyncd::test {

struct Received {
	SeenQuery query;
	sockaddr_in from{};
	std::uint16_t port() const { return ntohs(from.sin_port); }
};

// A UDP socket on 127.0.0.1; `serve` decides what to do with each query.
class FakeDns
{
public:
	using Serve = std::function<void(FakeDns &, const Received &)>;

	FakeDns(EventLoop &loop, Serve serve) : serve_(std::move(serve))
	{
		socket_ = bound(0);
		sockaddr_in address{};
		socklen_t length = sizeof(address);
		::getsockname(socket_.get(), reinterpret_cast<sockaddr *>(&address), &length);
		port_ = ntohs(address.sin_port);
		watch_ = std::make_unique<FdWatch>(loop, socket_.get(), POLLIN, [this](int) {
			std::uint8_t buffer[4096];
			Received received;
			socklen_t length = sizeof(received.from);
			const ssize_t n = ::recvfrom(
				socket_.get(), buffer, sizeof(buffer), MSG_DONTWAIT,
				reinterpret_cast<sockaddr *>(&received.from), &length);
			if (n <= 0 ||
			    !readQuery(buffer, static_cast<std::size_t>(n), received.query))
				return;
			seen.push_back(received);
			serve_(*this, received);
		});
	}

	static UniqueFd bound(std::uint16_t port)
	{
		UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
		sockaddr_in address{};
		address.sin_family = AF_INET;
		address.sin_port = htons(port);
		address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (!fd ||
		    ::bind(fd.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)) != 0)
			FAIL("cannot bind a UDP socket on 127.0.0.1");
		return fd;
	}

	void send(const Bytes &message, const sockaddr_in &to, int from = -1) const
	{
		(void)::sendto(from >= 0 ? from : socket_.get(), message.data(), message.size(), 0,
			       reinterpret_cast<const sockaddr *>(&to), sizeof(to));
	}

	// The true answer: an A record for every A query, nothing for AAAA.
	static Response answerTo(const SeenQuery &query, const char *address = "192.0.2.1")
	{
		Response response;
		response.id = query.id;
		response.qname = query.name;
		response.qtype = query.type;
		if (query.type == 1)
			response.answers = {{query.name, 1, rdataA(address), 60}};
		return response;
	}

	std::uint16_t port() const { return port_; }
	std::vector<Received> seen;

private:
	Serve serve_;
	UniqueFd socket_;
	std::uint16_t port_ = 0;
	std::unique_ptr<FdWatch> watch_;
};

// A resolv.conf naming `dns` as the only server.
inline void writeResolvConf(const std::string &path, const FakeDns &dns,
			    const char *options = "timeout:1 attempts:1")
{
	std::ofstream(path) << "nameserver 127.0.0.1\nport " << dns.port() << "\noptions "
			    << options << "\n";
}

} // namespace checksyncd::test
