// SPDX-License-Identifier: MIT

#include "pnp/address_watch.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "base/text.hpp"
#include "loop/log.hpp"

namespace checksyncd {

namespace {

// Dump replies come in datagrams of up to 16 KiB (NLMSG_GOODSIZE on 4 KiB
// pages is smaller); a larger buffer never truncates one.
constexpr std::size_t kReceiveBytes = 32 * 1024;
// Guard for the synchronous queries: the kernel answers at once.
constexpr long kQueryTimeoutUs = 250'000;
// Datagrams read per wake-up of the watch before the loop gets its turn.
constexpr int kMaxReadsPerWakeup = 64;

UniqueFd netlinkSocket(int flags)
{
	return UniqueFd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | flags, NETLINK_ROUTE));
}

template<typename Body>
struct Request {
	nlmsghdr header;
	Body body;
};

template<typename Body>
bool sendRequest(int fd, std::uint16_t type, std::uint16_t flags, std::uint32_t seq,
		 const Body &body)
{
	Request<Body> request{};
	request.header.nlmsg_len = NLMSG_LENGTH(sizeof(Body));
	request.header.nlmsg_type = type;
	request.header.nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
	request.header.nlmsg_seq = seq;
	request.body = body;
	sockaddr_nl kernel{};
	kernel.nl_family = AF_NETLINK;
	return ::sendto(fd, &request, request.header.nlmsg_len, 0,
			reinterpret_cast<const sockaddr *>(&kernel), sizeof(kernel)) >= 0;
}

// Aligned for the netlink headers the readers copy out of it.
struct alignas(nlmsghdr) Buffer {
	unsigned char bytes[kReceiveBytes];
};

// A socket for a synchronous query: the kernel answers at once.
UniqueFd querySocket(std::string &problem)
{
	UniqueFd socket = netlinkSocket(0);
	if (!socket) {
		problem = std::string("cannot open an rtnetlink socket: ") + errnoText(errno);
		return socket;
	}
	timeval timeout{0, kQueryTimeoutUs};
	(void)::setsockopt(socket.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	return socket;
}

} // namespace

std::string interfaceName(int ifindex)
{
	char name[IF_NAMESIZE] = "";
	if (ifindex > 0 && if_indextoname(static_cast<unsigned>(ifindex), name))
		return name;
	return "interface " + std::to_string(ifindex);
}

std::optional<std::vector<Ipv4AddressChange>> ipv4Addresses(std::string &problem)
{
	const UniqueFd socket = querySocket(problem);
	if (!socket)
		return std::nullopt;
	ifaddrmsg request{};
	request.ifa_family = AF_INET;
	constexpr std::uint32_t kAddressSeq = 1;
	if (!sendRequest(socket.get(), RTM_GETADDR, NLM_F_DUMP, kAddressSeq, request)) {
		problem = std::string("cannot ask for the addresses: ") + errnoText(errno);
		return std::nullopt;
	}
	// The port id the replies carry: the kernel binds the socket on its
	// first send.
	sockaddr_nl local{};
	socklen_t length = sizeof(local);
	if (::getsockname(socket.get(), reinterpret_cast<sockaddr *>(&local), &length) < 0) {
		problem = std::string("cannot read the rtnetlink socket's address: ") +
			  errnoText(errno);
		return std::nullopt;
	}
	auto buffer = std::make_unique<Buffer>();
	std::vector<Ipv4AddressChange> addresses;
	for (;;) {
		const ssize_t n = ::recv(socket.get(), buffer->bytes, sizeof(buffer->bytes), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			problem = std::string("cannot read the addresses: ") +
				  (n < 0 ? errnoText(errno) : "end of stream");
			return std::nullopt;
		}
		AddressMessages messages = readAddressMessages(
			buffer->bytes, static_cast<std::size_t>(n), kAddressSeq, local.nl_pid);
		for (const Ipv4AddressChange &change : messages.changes)
			if (change.fromDump)
				addresses.push_back(change);
		if (!messages.dumpDone)
			continue;
		if (messages.dumpError != 0) {
			problem = "the address list failed: " + errnoText(messages.dumpError);
			return std::nullopt;
		}
		return addresses;
	}
}

std::optional<std::string> defaultRouteMac(std::string &problem)
{
	const UniqueFd socket = querySocket(problem);
	if (!socket)
		return std::nullopt;
	auto buffer = std::make_unique<Buffer>();

	rtmsg route{};
	route.rtm_family = AF_INET;
	constexpr std::uint32_t kRouteSeq = 1;
	if (!sendRequest(socket.get(), RTM_GETROUTE, NLM_F_DUMP, kRouteSeq, route)) {
		problem = std::string("cannot ask for the routes: ") + errnoText(errno);
		return std::nullopt;
	}
	DefaultRouteReader reader(kRouteSeq);
	while (!reader.done()) {
		ssize_t n = ::recv(socket.get(), buffer->bytes, sizeof(buffer->bytes), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			problem = std::string("cannot read the routes: ") +
				  (n < 0 ? errnoText(errno) : "end of stream");
			return std::nullopt;
		}
		reader.feed(buffer->bytes, static_cast<std::size_t>(n));
	}
	if (!reader.ifindex()) {
		problem = "no default IPv4 route";
		return std::nullopt;
	}

	ifinfomsg link{};
	link.ifi_family = AF_UNSPEC;
	link.ifi_index = *reader.ifindex();
	constexpr std::uint32_t kLinkSeq = 2;
	if (!sendRequest(socket.get(), RTM_GETLINK, 0, kLinkSeq, link)) {
		problem = std::string("cannot ask for the interface: ") + errnoText(errno);
		return std::nullopt;
	}
	ssize_t n;
	do {
		n = ::recv(socket.get(), buffer->bytes, sizeof(buffer->bytes), 0);
	} while (n < 0 && errno == EINTR);
	if (n <= 0) {
		problem = std::string("cannot read the interface: ") +
			  (n < 0 ? errnoText(errno) : "end of stream");
		return std::nullopt;
	}
	std::optional<std::string> mac = readLinkMac(buffer->bytes, static_cast<std::size_t>(n));
	if (!mac)
		problem = interfaceName(*reader.ifindex()) +
			  " (the default route's interface) has no Ethernet MAC address";
	return mac;
}

AddressWatch::AddressWatch(EventLoop &loop, std::function<void()> added,
			   std::function<void()> changed)
	: added_(std::move(added)), changed_(std::move(changed))
{
	UniqueFd socket = netlinkSocket(SOCK_NONBLOCK);
	if (!socket)
		throw std::system_error(errno, std::generic_category(), "rtnetlink socket");
	sockaddr_nl address{};
	address.nl_family = AF_NETLINK;
	address.nl_groups = RTMGRP_IPV4_IFADDR;
	if (::bind(socket.get(), reinterpret_cast<const sockaddr *>(&address), sizeof(address)) < 0)
		throw std::system_error(errno, std::generic_category(), "rtnetlink bind");
	socklen_t length = sizeof(address);
	if (::getsockname(socket.get(), reinterpret_cast<sockaddr *>(&address), &length) < 0)
		throw std::system_error(errno, std::generic_category(), "rtnetlink getsockname");
	pid_ = address.nl_pid;
	fd_ = std::move(socket);
	watch_ = std::make_unique<FdWatch>(loop, fd_.get(), POLLIN, [this](int) { onReadable(); });
	requestDump();
}

void AddressWatch::requestDump()
{
	ifaddrmsg request{};
	request.ifa_family = AF_INET;
	++seq_;
	dumping_ = sendRequest(fd_.get(), RTM_GETADDR, NLM_F_DUMP, seq_, request);
	if (!dumping_) {
		// Without the dump, the addresses known are those seen since.
		seeded_ = true;
		logMessage(LogLevel::Debug,
			   std::string("pnp: cannot list the IPv4 addresses: ") + errnoText(errno));
	}
}

void AddressWatch::onReadable()
{
	auto buffer = std::make_unique<Buffer>();
	bool added = false;
	bool changed = false;
	bool lost = false;
	for (int i = 0; i < kMaxReadsPerWakeup; ++i) {
		ssize_t n = ::recv(fd_.get(), buffer->bytes, sizeof(buffer->bytes), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			// ENOBUFS: notifications were dropped; list the addresses
			// again to catch up.
			lost = lost || errno == ENOBUFS;
			if (errno != ENOBUFS)
				break;
			continue;
		}
		if (n == 0)
			break;
		AddressMessages messages = readAddressMessages(
			buffer->bytes, static_cast<std::size_t>(n), seq_, pid_);
		for (const Ipv4AddressChange &change : messages.changes) {
			changed = changed || !change.fromDump;
			if (!change.added) {
				known_.remove(change.ifindex, change.address);
				continue;
			}
			if (known_.add(change.ifindex, change.address) && seeded_)
				added = true;
		}
		if (messages.dumpDone) {
			dumping_ = false;
			seeded_ = true;
		}
	}
	if (lost && !dumping_)
		requestDump();
	if (added)
		added_();
	if ((changed || lost) && changed_)
		changed_();
}

} // namespace checksyncd
