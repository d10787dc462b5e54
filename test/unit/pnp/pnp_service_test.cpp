// SPDX-License-Identifier: MIT
//
// Plug and play in process (daemon/pnp/pnp_service.cpp): a real PnpService on a
// real su_root, the daemon's D-Bus client and the provisioning double on a
// private dbus-daemon, and a PnP server played by the test.
//
// A round multicasts to 224.0.1.75 from the address of the route to the
// group, so it must never run on the host's network: every test makes two
// network namespaces of its own (iproute2), the phone's and the LAN's,
// joined by a veth pair (phone pv0 10.213.0.1/24, LAN pv1 10.213.0.2/24,
// the group routed by pv0), and the test's thread enters the phone's for
// the test (sockets keep the namespace they were made in: the server's
// socket is made in the LAN's). That needs root, and a kernel that says
// by which interface each datagram came (IP_PKTINFO); where either is
// missing (no root, no ip, qemu-user), the tests say so and check nothing,
// unless CHECKSYNCD_TEST_NETNS=required (CI's native run), which makes
// that a failure.

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.hpp"
#include "loop/bus_connection.hpp"
#include "loop/log.hpp"
#include "loop/loop.hpp"
#include "pnp/pnp_service.hpp"
#include "provisioning/provisioning_client.hpp"
#include "settings/settings.hpp"

#include "support/daemon_support.hpp"
#include "support/provisioning_double.hpp"
#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

extern char **environ;

using namespace checksyncd;
using checksyncd::test::PrivateBus;
using checksyncd::test::ProvisioningDouble;
using checksyncd::test::stepPast;
using checksyncd::test::stepUntil;
using checksyncd::test::TempDir;

namespace {

constexpr const char *kPhoneIp = "10.213.0.1";
constexpr const char *kServerIp = "10.213.0.2";
constexpr const char *kOffLinkIp = "10.99.0.2"; // the LAN's, outside the phone's prefix
constexpr const char *kUrl = "https://prov.example.com/snom/{mac}.xml";

// Run a command quietly; true when it exited 0.
bool run(std::vector<std::string> args)
{
	std::vector<char *> argv;
	for (std::string &arg : args)
		argv.push_back(arg.data());
	argv.push_back(nullptr);
	posix_spawn_file_actions_t actions;
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	pid_t pid = -1;
	const int r = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
	posix_spawn_file_actions_destroy(&actions);
	int status = 0;
	return r == 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

bool enter(const UniqueFd &ns)
{
	return ::setns(ns.get(), CLONE_NEWNET) == 0;
}

// The phone's and the LAN's namespaces; the thread is in the phone's
// while this lives.
class Network
{
public:
	// Empty on success, else why not.
	std::string make()
	{
		home_.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
		const std::string tag = std::to_string(::getpid());
		phone_ = "checksyncd-unit-phone-" + tag;
		lan_ = "checksyncd-unit-lan-" + tag;
		if (!home_ || !run({"ip", "netns", "add", phone_}))
			return "cannot make a network namespace (root and iproute2 needed)";
		made_ = true;
		const std::vector<std::vector<std::string>> steps = {
			{"ip", "netns", "add", lan_},
			{"ip", "-n", phone_, "link", "set", "lo", "up"},
			{"ip", "-n", lan_, "link", "set", "lo", "up"},
			{"ip", "-n", phone_, "link", "add", "pv0", "type", "veth", "peer", "name",
			 "pv1", "netns", lan_},
			{"ip", "-n", phone_, "link", "set", "pv0", "multicast", "on", "up"},
			{"ip", "-n", lan_, "link", "set", "pv1", "multicast", "on", "up"},
			{"ip", "-n", phone_, "addr", "add", std::string(kPhoneIp) + "/24", "dev",
			 "pv0"},
			{"ip", "-n", phone_, "route", "add", "224.0.0.0/4", "dev", "pv0"},
			{"ip", "-n", phone_, "route", "add", "default", "via", kServerIp},
			{"ip", "-n", lan_, "addr", "add", std::string(kServerIp) + "/24", "dev",
			 "pv1"},
			{"ip", "-n", lan_, "addr", "add", std::string(kOffLinkIp) + "/24", "dev",
			 "pv1"},
			{"ip", "-n", lan_, "route", "add", "224.0.0.0/4", "dev", "pv1"},
		};
		for (const std::vector<std::string> &step : steps)
			if (!run(step))
				return "cannot set up the test's network: " + step[3] + " " +
				       step[4];
		phoneNs_.reset(::open(("/run/netns/" + phone_).c_str(), O_RDONLY | O_CLOEXEC));
		lanNs_.reset(::open(("/run/netns/" + lan_).c_str(), O_RDONLY | O_CLOEXEC));
		if (!phoneNs_ || !lanNs_ || !enter(phoneNs_))
			return "cannot enter the phone's namespace";
		entered_ = true;
		// The kernel sees the veth's carrier a moment after it is up.
		const UniqueFd probe(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
		ifreq request{};
		std::strcpy(request.ifr_name, "pv0");
		for (int i = 0; i < 100; ++i) {
			if (::ioctl(probe.get(), SIOCGIFFLAGS, &request) == 0 &&
			    (request.ifr_flags & IFF_RUNNING))
				return {};
			::usleep(50'000);
		}
		return "pv0 has no carrier";
	}

	~Network()
	{
		if (entered_)
			(void)enter(home_);
		if (made_) {
			(void)run({"ip", "netns", "del", phone_});
			(void)run({"ip", "netns", "del", lan_});
		}
	}

	// A UDP socket of the LAN's, bound to address:port.
	UniqueFd lanSocket(const char *address, std::uint16_t port)
	{
		UniqueFd fd;
		if (!enter(lanNs_))
			return fd;
		fd.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
		(void)enter(phoneNs_);
		const int on = 1;
		sockaddr_in in{};
		in.sin_family = AF_INET;
		in.sin_port = htons(port);
		inet_pton(AF_INET, address, &in.sin_addr);
		if (!fd || ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
		    ::bind(fd.get(), reinterpret_cast<sockaddr *>(&in), sizeof(in)) != 0)
			fd.reset();
		return fd;
	}

private:
	UniqueFd home_;
	UniqueFd phoneNs_;
	UniqueFd lanNs_;
	std::string phone_;
	std::string lan_;
	bool made_ = false;
	bool entered_ = false;
};

struct Datagram {
	std::string text;
	sockaddr_in from{};
};

std::optional<Datagram> receive(int fd)
{
	char buffer[8192];
	Datagram d;
	socklen_t length = sizeof(d.from);
	const ssize_t n = ::recvfrom(fd, buffer, sizeof(buffer), MSG_DONTWAIT,
				     reinterpret_cast<sockaddr *>(&d.from), &length);
	if (n <= 0)
		return std::nullopt;
	d.text.assign(buffer, static_cast<std::size_t>(n));
	return d;
}

std::string header(const std::string &message, const std::string &name)
{
	const std::size_t at = message.find("\r\n" + name + ": ");
	if (at == std::string::npos)
		return {};
	const std::size_t start = at + name.size() + 4;
	return message.substr(start, message.find("\r\n", start) - start);
}

} // namespace

TEST_GROUP(PnpService)
{
	EventLoop loop;
	TempDir dir;
	std::unique_ptr<Network> network;
	bool ready = false;
	std::unique_ptr<PrivateBus> bus;
	std::unique_ptr<ProvisioningDouble> provisioning;
	std::unique_ptr<BusConnection> connection;
	std::unique_ptr<ProvisioningClient> client;
	std::unique_ptr<PnpService> pnp;
	std::vector<PnpState> states;
	UniqueFd server;  // the PnP server, on the LAN at 10.213.0.2:5060
	UniqueFd offLink; // a host whose address is not on the phone's link
	std::optional<Datagram> subscribe;
	int cseq = 0;

	void setup() override
	{
		logSetup(getenv("DEBUGLOG") ? LogLevel::Debug : LogLevel::Error,
			 LogBackend::Stderr);
		network = std::make_unique<Network>();
		std::string problem = network->make();
		if (problem.empty())
			problem = listen();
		if (!problem.empty()) {
			network.reset();
			const char *required = getenv("CHECKSYNCD_TEST_NETNS");
			if (required && std::string(required) == "required")
				FAIL(problem.c_str());
			UT_PRINT(("PnpService: not tested here: " + problem).c_str());
			return;
		}
		bus = std::make_unique<PrivateBus>(dir.path());
		const std::string error = bus->start();
		if (!error.empty())
			FAIL(error.c_str());
		provisioning = std::make_unique<ProvisioningDouble>(loop);
		const std::string served = provisioning->connect(bus->address());
		if (!served.empty())
			FAIL(served.c_str());
		connection = std::make_unique<BusConnection>(loop, bus->address());
		client = std::make_unique<ProvisioningClient>(loop, *connection);

		pnp = std::make_unique<PnpService>(loop, *client, [this](const PnpStatus &status) {
			if (states.empty() || states.back() != status.state)
				states.push_back(status.state);
		});
		ready = true;
	}

	// The server's sockets on the LAN, in the group; and whether the
	// kernel says by which interface a datagram came (IP_PKTINFO), which
	// the round's link check needs: qemu-user, which the cross-built
	// tests run under, does not translate it. Empty when all is well.
	std::string listen()
	{
		server = network->lanSocket("0.0.0.0", 5060);
		offLink = network->lanSocket(kOffLinkIp, 5060);
		ip_mreq group{};
		inet_pton(AF_INET, kPnpGroup, &group.imr_multiaddr);
		inet_pton(AF_INET, kServerIp, &group.imr_interface);
		if (!server || !offLink ||
		    ::setsockopt(server.get(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &group,
				 sizeof(group)) != 0)
			return "cannot listen on the test's LAN";

		UniqueFd phone(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
		sockaddr_in at{};
		at.sin_family = AF_INET;
		inet_pton(AF_INET, kPhoneIp, &at.sin_addr);
		socklen_t length = sizeof(at);
		const int on = 1;
		if (!phone ||
		    ::bind(phone.get(), reinterpret_cast<sockaddr *>(&at), sizeof(at)) != 0 ||
		    ::getsockname(phone.get(), reinterpret_cast<sockaddr *>(&at), &length) != 0 ||
		    ::setsockopt(phone.get(), IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)) != 0 ||
		    ::sendto(server.get(), "x", 1, 0, reinterpret_cast<sockaddr *>(&at),
			     sizeof(at)) != 1)
			return "cannot send on the test's link";
		pollfd p{phone.get(), POLLIN, 0};
		char data;
		iovec io{&data, 1};
		alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(in_pktinfo))] = {};
		msghdr message{};
		message.msg_iov = &io;
		message.msg_iovlen = 1;
		message.msg_control = control;
		message.msg_controllen = sizeof(control);
		if (::poll(&p, 1, 2000) != 1 || ::recvmsg(phone.get(), &message, 0) != 1)
			return "nothing arrives on the test's link";
		for (cmsghdr *c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
			in_pktinfo info{};
			if (c->cmsg_level != IPPROTO_IP || c->cmsg_type != IP_PKTINFO)
				continue;
			std::memcpy(&info, CMSG_DATA(c), sizeof(info));
			if (info.ipi_ifindex == static_cast<int>(::if_nametoindex("pv0")))
				return {};
		}
		return "the kernel (or an emulator) does not say by which interface a datagram "
		       "came (IP_PKTINFO)";
	}

	void teardown() override
	{
		pnp.reset();
		client.reset();
		connection.reset();
		provisioning.reset();
		bus.reset();
		server.reset();
		offLink.reset();
		network.reset(); // back in the test process's own namespace
	}

	std::shared_ptr<Settings> settings(const std::string &settingServer = {})
	{
		auto s = std::make_shared<Settings>();
		s->pnp.mac = "000413939050";
		s->pnp.settingServer = settingServer;
		return s;
	}

	// Start a round and read its SUBSCRIBE at the server.
	void startRound()
	{
		pnp->setSettings(settings());
		CHECK_TRUE(stepUntil(loop, [&] { return (subscribe = receive(server.get())); }));
	}

	// A NOTIFY to the round's port, from `from` (the server's socket by
	// default); a new transaction each time.
	void notify(const std::string &body = kUrl, int from = -1)
	{
		const int n = ++cseq;
		const std::string text = "NOTIFY sip:" + std::string(kPhoneIp) +
					 " SIP/2.0\r\n"
					 "Via: SIP/2.0/UDP " +
					 kServerIp + ":5060;branch=z9hG4bKsrv" + std::to_string(n) +
					 "\r\n"
					 "From: <sip:pnp@" +
					 kServerIp + ">;tag=s" + std::to_string(n) +
					 "\r\n"
					 "To: " +
					 header(subscribe->text, "From") +
					 "\r\n"
					 "Call-ID: server-" +
					 std::to_string(n) +
					 "\r\n"
					 "CSeq: " +
					 std::to_string(n) +
					 " NOTIFY\r\n"
					 "Event: ua-profile\r\n"
					 "Content-Type: application/url\r\n"
					 "Content-Length: " +
					 std::to_string(body.size()) + "\r\n\r\n" + body;
		const int fd = from >= 0 ? from : server.get();
		CHECK_EQUAL(static_cast<ssize_t>(text.size()),
			    ::sendto(fd, text.data(), text.size(), 0,
				     reinterpret_cast<const sockaddr *>(&subscribe->from),
				     sizeof(subscribe->from)));
	}

	// The next answer the server receives (not a retransmitted SUBSCRIBE).
	std::string answerAt(int fd)
	{
		std::string answer;
		CHECK_TRUE(stepUntil(loop, [&] {
			for (std::optional<Datagram> d; (d = receive(fd));)
				if (d->text.starts_with("SIP/2.0 "))
					answer = d->text;
			return !answer.empty();
		}));
		return answer;
	}
};

TEST(PnpService, aRoundMulticastsTheSubscribeAndHandsTheFirstGoodUrlOver)
{
	if (!ready)
		return;
	startRound();
	// From the phone's address on the link, to the server's port.
	char from[INET_ADDRSTRLEN] = "";
	inet_ntop(AF_INET, &subscribe->from.sin_addr, from, sizeof(from));
	STRCMP_EQUAL(kPhoneIp, from);
	CHECK_TRUE(subscribe->text.starts_with("SUBSCRIBE sip:MAC%3a000413939050@224.0.1.75"));
	const std::string event = header(subscribe->text, "Event");
	CHECK_TEXT(event.starts_with("ua-profile;") &&
			   event.find("vendor=\"checksyncd\"") != std::string::npos,
		   event.c_str());
	CHECK_EQUAL(PnpState::RoundInProgress, pnp->status().state);

	notify();
	const std::string answer = answerAt(server.get());
	CHECK_TRUE(answer.starts_with("SIP/2.0 200 "));
	LONGS_EQUAL(1, provisioning->calls.size());
	STRCMP_EQUAL("Provision", provisioning->calls[0].method.c_str());
	STRCMP_EQUAL(kUrl, provisioning->calls[0].url.c_str());
	STRCMP_EQUAL("udp:10.213.0.2:5060", provisioning->calls[0].remote.c_str());
	CHECK_EQUAL(PnpState::UrlHandedOver, pnp->status().state);
	STRCMP_EQUAL("udp:10.213.0.2:5060", pnp->status().lastServer.c_str());
	STRCMP_EQUAL(kUrl, pnp->status().lastUrl.c_str());
	CHECK_TRUE(states == (std::vector<PnpState>{PnpState::Idle, PnpState::RoundInProgress,
						    PnpState::UrlHandedOver}));

	// The round's URL is taken: a later NOTIFY is answered 481.
	notify("https://other.example/p.xml");
	CHECK_TRUE(answerAt(server.get()).starts_with("SIP/2.0 481 "));
	LONGS_EQUAL(1, provisioning->calls.size());
}

TEST(PnpService, aUrlTheProvisioningProcessDoesNotTakeIsAnswered503AndTheRoundGoesOn)
{
	if (!ready)
		return;
	provisioning->answer = ProvisioningDouble::Answer::Fail;
	startRound();
	notify();
	const std::string answer = answerAt(server.get());
	CHECK_TRUE(answer.starts_with("SIP/2.0 503 "));
	CHECK_FALSE(header(answer, "Retry-After").empty());
	LONGS_EQUAL(1, provisioning->calls.size());
	CHECK_EQUAL(PnpState::RoundInProgress, pnp->status().state);
	STRCMP_EQUAL("", pnp->status().lastUrl.c_str());
}

TEST(PnpService, aNotifyWithABadUrlIsRefusedAndNothingIsHandedOver)
{
	if (!ready)
		return;
	startRound();
	notify("http://prov.example.com/plain.xml"); // pnp_url_schemes: https only
	const std::string answer = answerAt(server.get());
	CHECK_FALSE(answer.starts_with("SIP/2.0 200 "));
	CHECK_TRUE(answer.starts_with("SIP/2.0 4"));
	CHECK_TRUE(stepPast(loop, 100));
	LONGS_EQUAL(0, provisioning->calls.size());
	CHECK_EQUAL(PnpState::RoundInProgress, pnp->status().state);
}

TEST(PnpService, aDatagramFromOffTheLinkIsDroppedUnansweredAndCounted)
{
	if (!ready)
		return;
	startRound();
	notify(kUrl, offLink.get());
	CHECK_TRUE(stepUntil(loop, [&] { return pnp->status().droppedOffLink == 1; }));
	CHECK_TRUE(stepPast(loop, 200));
	CHECK_FALSE(receive(offLink.get()).has_value());
	LONGS_EQUAL(0, provisioning->calls.size());
	// The server on the link is still heard.
	notify();
	CHECK_TRUE(answerAt(server.get()).starts_with("SIP/2.0 200 "));
}

TEST(PnpService, aSettingServerEndsTheRound)
{
	if (!ready)
		return;
	startRound();
	pnp->setSettings(settings("https://prov.example.com/"));
	CHECK_EQUAL(PnpState::Idle, pnp->status().state);
	CHECK_TRUE(stepPast(loop, 50));
	while (receive(server.get())) // what the round sent before it ended
		;
	notify();
	CHECK_TRUE(stepPast(loop, 200));
	CHECK_FALSE(receive(server.get()).has_value());
	LONGS_EQUAL(0, provisioning->calls.size());
}
