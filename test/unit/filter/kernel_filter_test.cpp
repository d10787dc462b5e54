// SPDX-License-Identifier: MIT
//
// The programs buildKernelFilter() makes, run by the kernel itself: each is
// attached with SO_ATTACH_FILTER to a real UDP socket on loopback (IPv4
// sources from 127.0.0.0/8, IPv6 from ::1, IPv4 ones on an IPv6 socket
// arriving IPv4-mapped), or, for IPv6 sources loopback does not have, to
// one end of a datagram socketpair to which the test sends a crafted IP
// header (the program then reads the header at offset 0 instead of
// SKF_NET_OFF). What arrives is what the program passed.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "base/unique_fd.hpp"
#include "filter/kernel_filter.hpp"

#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

namespace {

IpPrefix prefix(const char *text)
{
	const std::optional<IpPrefix> parsed = IpPrefix::parse(text);
	if (!parsed)
		FAIL((std::string("not a prefix: ") + text).c_str());
	return *parsed;
}

KernelFilterSpec spec(std::vector<const char *> pass, std::uint32_t restOneIn = 0)
{
	KernelFilterSpec s;
	for (const char *text : pass)
		s.pass.push_back(prefix(text));
	s.restOneIn = restOneIn;
	return s;
}

void attach(int fd, const KernelProgram &program)
{
	CHECK_FALSE(program.code.empty());
	sock_fprog fprog{static_cast<unsigned short>(program.code.size()),
			 const_cast<sock_filter *>(program.code.data())};
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) != 0)
		FAIL((std::string("SO_ATTACH_FILTER: ") + std::strerror(errno)).c_str());
}

// Every datagram waiting on `fd` (its payload), once `marker` arrived.
std::set<std::string> drain(int fd, const std::string &marker)
{
	std::set<std::string> got;
	for (int i = 0; i < 200 && !got.count(marker); i++) {
		pollfd p{fd, POLLIN, 0};
		if (poll(&p, 1, 10) <= 0)
			continue;
		char buffer[256];
		ssize_t n;
		while ((n = recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT)) >= 0)
			got.emplace(buffer, static_cast<std::size_t>(n));
	}
	CHECK_TEXT(got.count(marker) == 1, "the marker datagram did not arrive");
	got.erase(marker);
	return got;
}

// A UDP socket on loopback with the program for its family attached.
struct UdpReceiver {
	UniqueFd fd;
	sockaddr_storage address{};
	socklen_t length = 0;

	UdpReceiver(SocketFamily family, const KernelFilterSpec &s)
	{
		const int domain = family == SocketFamily::V4 ? AF_INET : AF_INET6;
		fd.reset(socket(domain, SOCK_DGRAM | SOCK_CLOEXEC, 0));
		CHECK(fd.get() >= 0);
		if (family == SocketFamily::V4) {
			sockaddr_in in{};
			in.sin_family = AF_INET;
			in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			CHECK_EQUAL(0,
				    bind(fd.get(), reinterpret_cast<sockaddr *>(&in), sizeof(in)));
		} else {
			int off = 0; // IPv4 sources too, IPv4-mapped
			CHECK_EQUAL(0, setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off,
						  sizeof(off)));
			sockaddr_in6 in6{};
			in6.sin6_family = AF_INET6;
			in6.sin6_addr = in6addr_any;
			CHECK_EQUAL(
				0, bind(fd.get(), reinterpret_cast<sockaddr *>(&in6), sizeof(in6)));
		}
		length = sizeof(address);
		CHECK_EQUAL(0,
			    getsockname(fd.get(), reinterpret_cast<sockaddr *>(&address), &length));
		attach(fd.get(), buildKernelFilter(s, family));
	}

	std::uint16_t port() const
	{
		return ntohs(address.ss_family == AF_INET
				     ? reinterpret_cast<const sockaddr_in &>(address).sin_port
				     : reinterpret_cast<const sockaddr_in6 &>(address).sin6_port);
	}

	// Sends `payload` from `source` (an IPv4 address in 127.0.0.0/8, or
	// ::1) to this socket.
	void sendFrom(const char *source, const std::string &payload) const
	{
		const bool v6 = std::strchr(source, ':') != nullptr;
		UniqueFd sender(socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
		CHECK(sender.get() >= 0);
		sockaddr_storage from{};
		sockaddr_storage to{};
		socklen_t size = 0;
		if (v6) {
			auto &f = reinterpret_cast<sockaddr_in6 &>(from);
			f.sin6_family = AF_INET6;
			CHECK_EQUAL(1, inet_pton(AF_INET6, source, &f.sin6_addr));
			auto &t = reinterpret_cast<sockaddr_in6 &>(to);
			t.sin6_family = AF_INET6;
			t.sin6_addr = in6addr_loopback;
			t.sin6_port = htons(port());
			size = sizeof(sockaddr_in6);
		} else {
			auto &f = reinterpret_cast<sockaddr_in &>(from);
			f.sin_family = AF_INET;
			CHECK_EQUAL(1, inet_pton(AF_INET, source, &f.sin_addr));
			auto &t = reinterpret_cast<sockaddr_in &>(to);
			t.sin_family = AF_INET;
			t.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			t.sin_port = htons(port());
			size = sizeof(sockaddr_in);
		}
		CHECK_EQUAL(0, bind(sender.get(), reinterpret_cast<sockaddr *>(&from), size));
		CHECK_EQUAL(static_cast<ssize_t>(payload.size()),
			    sendto(sender.get(), payload.data(), payload.size(), 0,
				   reinterpret_cast<sockaddr *>(&to), size));
	}

	// Which of `sources` got through (`marker` must pass).
	std::set<std::string> passed(const std::vector<const char *> &sources, const char *marker)
	{
		for (const char *source : sources)
			sendFrom(source, source);
		sendFrom(marker, "marker");
		return drain(fd.get(), "marker");
	}
};

// A crafted IPv4 or IPv6 header with `source`, as the payload of a
// datagram socketpair (the program reads it at offset 0).
std::string header(const char *source)
{
	std::string packet;
	if (std::strchr(source, ':')) {
		std::array<std::uint8_t, 16> address{};
		CHECK_EQUAL(1, inet_pton(AF_INET6, source, address.data()));
		packet.assign(40, '\0');
		packet[0] = 0x60;
		packet.replace(8, 16, reinterpret_cast<const char *>(address.data()), 16);
	} else {
		std::array<std::uint8_t, 4> address{};
		CHECK_EQUAL(1, inet_pton(AF_INET, source, address.data()));
		packet.assign(20, '\0');
		packet[0] = 0x45;
		packet.replace(12, 4, reinterpret_cast<const char *>(address.data()), 4);
	}
	return packet + source; // tells the datagrams apart
}

struct CraftedReceiver {
	UniqueFd receiver;
	UniqueFd sender;

	explicit CraftedReceiver(const KernelProgram &program)
	{
		int pair[2];
		CHECK_EQUAL(0, socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair));
		receiver.reset(pair[0]);
		sender.reset(pair[1]);
		attach(receiver.get(), program);
	}

	// Whether a datagram with this source gets through.
	bool passes(const char *source)
	{
		const std::string packet = header(source);
		CHECK_EQUAL(static_cast<ssize_t>(packet.size()),
			    send(sender.get(), packet.data(), packet.size(), 0));
		char buffer[256];
		const ssize_t n = recv(receiver.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
		if (n < 0) {
			CHECK_EQUAL(EAGAIN, errno);
			return false;
		}
		CHECK_EQUAL(static_cast<ssize_t>(packet.size()), n);
		return true;
	}
};

KernelProgram crafted(const KernelFilterSpec &s, SocketFamily family = SocketFamily::V6,
		      std::size_t maxInstructions = BPF_MAXINSNS)
{
	return buildKernelFilter(s, family, maxInstructions, 0);
}

std::string v6Address(unsigned i) // 2001:db8:0:I::1, one per /64
{
	char text[64];
	std::snprintf(text, sizeof(text), "2001:db8:0:%x::1", i);
	return text;
}

} // namespace

TEST_GROUP(KernelFilter){};

TEST(KernelFilter, anIpv4SocketPassesItsAddressesAndPrefixesAndDropsTheRest)
{
	UdpReceiver socket(SocketFamily::V4, spec({"127.0.0.2", "127.0.1.0/24", "::1"}));
	const std::set<std::string> expected{"127.0.0.2", "127.0.1.9"};
	CHECK(expected ==
	      socket.passed({"127.0.0.2", "127.0.0.3", "127.0.1.9", "127.0.2.1"}, "127.0.0.2"));
}

TEST(KernelFilter, anIpv6SocketJudgesIpv4SourcesAsIpv4AndIpv6OnesAsIpv6)
{
	UdpReceiver both(SocketFamily::V6, spec({"127.0.0.2", "::1"}));
	const std::set<std::string> expected{"127.0.0.2", "::1"};
	CHECK(expected == both.passed({"127.0.0.2", "127.0.0.3", "::1"}, "127.0.0.2"));

	UdpReceiver v4only(SocketFamily::V6, spec({"127.0.0.0/30"}));
	const std::set<std::string> mapped{"127.0.0.1", "127.0.0.3"};
	CHECK(mapped == v4only.passed({"127.0.0.1", "127.0.0.3", "127.0.0.4", "::1"}, "127.0.0.2"));
}

TEST(KernelFilter, ipv6PrefixesOfEveryLengthPassWhatTheyContain)
{
	CraftedReceiver r(crafted(spec({"2001:db8::/32", "2001:db8:1:2::/64", "2001:db9::7",
					"2001:dba:abcd:e000::/51", "fe80::/10"})));
	CHECK(r.passes("2001:db8:ffff::1"));
	CHECK(r.passes("2001:db9::7"));
	CHECK_FALSE(r.passes("2001:db9::8"));
	CHECK_FALSE(r.passes("2001:db9:0:0:1::7"));
	CHECK(r.passes("2001:dba:abcd:e000::1"));
	CHECK(r.passes("2001:dba:abcd:ffff::1"));
	CHECK_FALSE(r.passes("2001:dba:abcd:dfff::1"));
	CHECK(r.passes("febf::1"));
	CHECK_FALSE(r.passes("fec0::1"));
	CHECK_FALSE(r.passes("2001:dbb::1"));
	CHECK_FALSE(r.passes("192.0.2.1"));
}

TEST(KernelFilter, ipv4PrefixesOfEveryLengthPassWhatTheyContain)
{
	CraftedReceiver r(
		crafted(spec({"192.0.2.1", "198.51.100.128/25", "10.0.0.0/8"}), SocketFamily::V4));
	CHECK(r.passes("192.0.2.1"));
	CHECK_FALSE(r.passes("192.0.2.2"));
	CHECK(r.passes("198.51.100.200"));
	CHECK_FALSE(r.passes("198.51.100.127"));
	CHECK(r.passes("10.255.0.1"));
	CHECK_FALSE(r.passes("11.0.0.1"));
}

TEST(KernelFilter, anIpv6DatagramFromAnIpv4MappedSourceIsJudgedAsIpv4)
{
	CraftedReceiver r(crafted(spec({"192.0.2.0/24", "2001:db8::/32"})));
	CHECK(r.passes("::ffff:192.0.2.9"));
	CHECK(r.passes("192.0.2.9"));
	CHECK_FALSE(r.passes("::ffff:198.51.100.1"));
	CHECK_FALSE(r.passes("::192.0.2.9")); // IPv4-compatible, not mapped
	CHECK_FALSE(r.passes("::fffe:192.0.2.9"));
}

TEST(KernelFilter, anIpv6PrefixThatCoversIpv4MappedAddressesLetsIpv4In)
{
	// As IpPrefix::contains() says: ::/0 contains ::ffff:192.0.2.1.
	CHECK(prefix("::/0").contains(*IpAddress::parse("192.0.2.1")));
	CraftedReceiver r(crafted(spec({"::/0"})));
	CHECK(r.passes("192.0.2.1"));
	CHECK(r.passes("2001:db8::1"));
	CraftedReceiver v4(crafted(spec({"::/0"}), SocketFamily::V4));
	CHECK(v4.passes("192.0.2.1"));
}

TEST(KernelFilter, theRestPassesOneInRestOneIn)
{
	CraftedReceiver none(crafted(spec({"192.0.2.1"}, 0)));
	CHECK(none.passes("192.0.2.1"));
	CHECK_FALSE(none.passes("192.0.2.2"));

	// 1 in 4 of 4000: 1000 expected, a standard deviation of 27.
	CraftedReceiver quarter(crafted(spec({"192.0.2.1"}, 4)));
	unsigned passed = 0;
	for (unsigned i = 0; i < 4000; i++)
		passed += quarter.passes("203.0.113.1") ? 1 : 0;
	CHECK_TEXT(passed > 800 && passed < 1200, std::to_string(passed).c_str());
	for (unsigned i = 0; i < 100; i++)
		CHECK(quarter.passes("192.0.2.1"));
}

TEST(KernelFilter, noProgramIsNeededWhenEverythingPasses)
{
	const KernelProgram program = buildKernelFilter(spec({"192.0.2.1"}, 1), SocketFamily::V6);
	CHECK(program.code.empty());
	CHECK_EQUAL(KernelProgram::Precision::Exact, program.precision);
}

TEST(KernelFilter, prefixesInsideOthersAreNotComparedTwice)
{
	const KernelProgram program = buildKernelFilter(
		spec({"10.0.0.0/8", "10.1.2.3", "10.1.0.0/16", "2001:db8::/32", "2001:db8::1",
		      "192.0.2.1", "192.0.2.1"}),
		SocketFamily::V6);
	LONGS_EQUAL(3, program.prefixes);
	LONGS_EQUAL(1, buildKernelFilter(spec({"10.0.0.0/8", "10.1.2.3", "2001:db8::/32"}),
					 SocketFamily::V4)
			       .prefixes);
}

TEST(KernelFilter, jumpsReachPastHundredsOfPrefixes)
{
	// 400 IPv4 and 150 IPv6 addresses: far more than a conditional jump's
	// 255 instructions between the first comparison and the end, and
	// within the 20 KiB of option memory a socket has on Debian 12.
	std::vector<std::string> texts;
	for (unsigned i = 0; i < 400; i++)
		texts.push_back("10.0." + std::to_string(i / 200) + "." +
				std::to_string(i % 200 + 1));
	for (unsigned i = 0; i < 150; i++) {
		char text[64];
		std::snprintf(text, sizeof(text), "2001:db8:0:%x::7", i);
		texts.push_back(text);
	}
	KernelFilterSpec s;
	for (const std::string &text : texts)
		s.pass.push_back(prefix(text.c_str()));
	const KernelProgram program = crafted(s);
	CHECK_EQUAL(KernelProgram::Precision::Exact, program.precision);
	CHECK(program.code.size() > 400 + 150 * 8);
	CHECK(program.code.size() <= BPF_MAXINSNS);
	CraftedReceiver r(program);
	for (const std::string &text : texts)
		CHECK_TEXT(r.passes(text.c_str()), text.c_str());
	CHECK_FALSE(r.passes("10.0.0.201"));
	CHECK_FALSE(r.passes("10.0.2.1"));
	CHECK_FALSE(r.passes("2001:db8:0:1::8"));
	CHECK_FALSE(r.passes("2001:db8:0:96::7"));
}

TEST(KernelFilter, aListTooLongForOneProgramIsWidenedThenGivenUp)
{
	// 1000 addresses in 10 /64s: 8 instructions each exactly, too many;
	// widened to their 10 /64s, which then pass whole.
	KernelFilterSpec few;
	for (unsigned i = 0; i < 1000; i++) {
		char text[64];
		std::snprintf(text, sizeof(text), "2001:db8:0:%x::%x", i % 10, i + 1);
		few.pass.push_back(prefix(text));
	}
	const KernelProgram coarse = crafted(few);
	CHECK_EQUAL(KernelProgram::Precision::Coarse, coarse.precision);
	LONGS_EQUAL(10, coarse.prefixes);
	CraftedReceiver r(coarse);
	CHECK(r.passes("2001:db8:0:3::1:0"));
	CHECK_FALSE(r.passes("2001:db8:0:a::1"));

	// 1100 addresses in 1100 /64s: too many either way.
	KernelFilterSpec many;
	for (unsigned i = 0; i < 1100; i++)
		many.pass.push_back(prefix(v6Address(i).c_str()));
	const KernelProgram unfit = crafted(many);
	CHECK_EQUAL(KernelProgram::Precision::Unfit, unfit.precision);
	CHECK(unfit.code.empty());

	// A smaller limit (what the socket's option memory allows).
	const KernelProgram limited = crafted(spec({"2001:db8::1", "2001:db8::2"}),
					      SocketFamily::V6, 30);
	CHECK_EQUAL(KernelProgram::Precision::Coarse, limited.precision);
	CHECK(limited.code.size() <= 30);
}

TEST(KernelFilter, anAuthenticatedSourcePrefixStandsForItsAddressOrSlash64)
{
	const SourcePrefix v4 = SourcePrefix::of(*IpAddress::parse("192.0.2.7"));
	CHECK(prefix("192.0.2.7") == ipPrefixOf(v4));
	const SourcePrefix v6 = SourcePrefix::of(*IpAddress::parse("2001:db8:1:2:3::4"));
	CHECK(prefix("2001:db8:1:2::/64") == ipPrefixOf(v6));
}

TEST_GROUP(OverloadGovernor){};

TEST(OverloadGovernor, aQueueThreeQuartersFullRaisesTheLevelAStepAtATime)
{
	OverloadGovernor governor;
	LONGS_EQUAL(1, governor.restOneIn());
	CHECK_FALSE(governor.observe({.queueFill = 0.74}, 1000));
	CHECK(governor.observe({.queueFill = 0.75}, 1000));
	LONGS_EQUAL(1, governor.level());
	LONGS_EQUAL(4, governor.restOneIn());
	// Not again before the queue had time to drain.
	CHECK_FALSE(
		governor.observe({.queueFill = 0.9}, 1000 + OverloadGovernor::kRaiseHoldMs - 1));
	CHECK(governor.observe({.queueFill = 0.9}, 1000 + OverloadGovernor::kRaiseHoldMs));
	LONGS_EQUAL(16, governor.restOneIn());
	std::uint64_t now = 1000 + OverloadGovernor::kRaiseHoldMs;
	while (governor.level() < OverloadGovernor::kMaxLevel) {
		now += OverloadGovernor::kRaiseHoldMs;
		CHECK(governor.observe({.queueFill = 1.0}, now));
	}
	now += OverloadGovernor::kRaiseHoldMs;
	CHECK_FALSE(governor.observe({.queueFill = 1.0}, now));
	LONGS_EQUAL(4096, governor.restOneIn());
}

TEST(OverloadGovernor, anOverflowRaisesItAndABusyCpuAloneDoesNot)
{
	OverloadGovernor overflow;
	CHECK(overflow.observe({.overflowed = true}, 0));
	OverloadGovernor busy;
	CHECK_FALSE(busy.observe({.queueFill = 0.3, .busy = 1.0}, 0));
	LONGS_EQUAL(0, busy.level());
	OverloadGovernor unknown;
	CHECK_FALSE(unknown.observe({}, 0));
	LONGS_EQUAL(0, unknown.level());
}

TEST(OverloadGovernor, fiveCalmSecondsLowerItOneStepEach)
{
	OverloadGovernor governor;
	CHECK(governor.observe({.queueFill = 0.8}, 0));
	CHECK(governor.observe({.queueFill = 0.8}, 300));
	LONGS_EQUAL(2, governor.level());
	const OverloadGovernor::Reading calm{.queueFill = 0.1, .busy = 0.1};
	CHECK_FALSE(governor.observe(calm, 1000));
	CHECK_FALSE(governor.observe(calm, 5999));
	CHECK(governor.observe(calm, 6000));
	LONGS_EQUAL(1, governor.level());
	CHECK_FALSE(governor.observe(calm, 10999));
	CHECK(governor.observe(calm, 11000));
	LONGS_EQUAL(0, governor.level());
	CHECK_FALSE(governor.observe(calm, 20000));
	LONGS_EQUAL(0, governor.level());
}

TEST(OverloadGovernor, aBusyReadingRestartsTheCalm)
{
	OverloadGovernor governor;
	CHECK(governor.observe({.queueFill = 0.8}, 0));
	CHECK_FALSE(governor.observe({.queueFill = 0.0, .busy = 0.05}, 1000));
	// Neither raising nor calm: a quarter busy.
	CHECK_FALSE(governor.observe({.queueFill = 0.0, .busy = 0.25}, 4000));
	CHECK_FALSE(governor.observe({.queueFill = 0.0, .busy = 0.05}, 6000));
	CHECK_FALSE(governor.observe({.queueFill = 0.0, .busy = 0.05}, 10999));
	CHECK(governor.observe({.queueFill = 0.0, .busy = 0.05}, 11000));
	LONGS_EQUAL(0, governor.level());
}
