// SPDX-License-Identifier: MIT
//
// The kernel's headers define the layouts; the bytes are copied out with
// memcpy rather than cast in place, so that a buffer of any alignment (a
// test's, or a truncated datagram) is read safely.

#include "base/text.hpp"
#include "pnp/rtnetlink.hpp"

#include <linux/if_addr.h>
#include <linux/if_arp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace checksyncd {

namespace {

struct Bytes {
	const unsigned char *data = nullptr;
	std::size_t length = 0;
};

// Calls fn(header, payload) for every whole message in a datagram.
template<typename Fn>
void forEachMessage(const void *data, std::size_t length, Fn fn)
{
	const auto *bytes = static_cast<const unsigned char *>(data);
	std::size_t offset = 0;
	while (length - offset >= sizeof(nlmsghdr)) {
		nlmsghdr header{};
		std::memcpy(&header, bytes + offset, sizeof(header));
		if (header.nlmsg_len < NLMSG_HDRLEN || header.nlmsg_len > length - offset)
			return;
		fn(header, Bytes{bytes + offset + NLMSG_HDRLEN, header.nlmsg_len - NLMSG_HDRLEN});
		offset += NLMSG_ALIGN(header.nlmsg_len);
		if (offset > length)
			return;
	}
}

// Calls fn(type, value) for every attribute in `area`.
template<typename Fn>
void forEachAttribute(Bytes area, Fn fn)
{
	std::size_t offset = 0;
	while (area.length - offset >= sizeof(rtattr)) {
		rtattr attribute{};
		std::memcpy(&attribute, area.data + offset, sizeof(attribute));
		if (attribute.rta_len < sizeof(rtattr) || attribute.rta_len > area.length - offset)
			return;
		fn(attribute.rta_type,
		   Bytes{area.data + offset + RTA_LENGTH(0), attribute.rta_len - RTA_LENGTH(0)});
		offset += RTA_ALIGN(attribute.rta_len);
		if (offset > area.length)
			return;
	}
}

// The fixed header of a message and the attributes after it (aligned).
template<typename Fixed>
bool split(Bytes payload, Fixed &fixed, Bytes &attributes)
{
	if (payload.length < sizeof(Fixed))
		return false;
	std::memcpy(&fixed, payload.data, sizeof(Fixed));
	const std::size_t skip = NLMSG_ALIGN(sizeof(Fixed));
	attributes = skip <= payload.length ? Bytes{payload.data + skip, payload.length - skip}
					    : Bytes{};
	return true;
}

template<typename T>
bool readValue(Bytes value, T &out)
{
	if (value.length < sizeof(T))
		return false;
	std::memcpy(&out, value.data, sizeof(T));
	return true;
}

int errorOf(Bytes payload)
{
	nlmsgerr error{};
	if (payload.length < sizeof(error))
		return 0;
	std::memcpy(&error, payload.data, sizeof(error));
	return error.error < 0 ? -error.error : error.error;
}

} // namespace

AddressMessages readAddressMessages(const void *data, std::size_t length, std::uint32_t dumpSeq,
				    std::uint32_t ourPid)
{
	AddressMessages out;
	forEachMessage(data, length, [&](const nlmsghdr &header, Bytes payload) {
		const bool fromDump = header.nlmsg_seq == dumpSeq && header.nlmsg_pid == ourPid;
		if (header.nlmsg_type == NLMSG_DONE || header.nlmsg_type == NLMSG_ERROR) {
			if (fromDump) {
				out.dumpDone = true;
				if (header.nlmsg_type == NLMSG_ERROR)
					out.dumpError = errorOf(payload);
			}
			return;
		}
		if (header.nlmsg_type != RTM_NEWADDR && header.nlmsg_type != RTM_DELADDR)
			return;
		ifaddrmsg message{};
		Bytes attributes;
		if (!split(payload, message, attributes) || message.ifa_family != AF_INET ||
		    message.ifa_scope == RT_SCOPE_HOST)
			return;
		// IFA_LOCAL is the address of the interface; IFA_ADDRESS is the
		// peer's on a point-to-point link and the same otherwise.
		std::optional<std::uint32_t> local, address;
		forEachAttribute(attributes, [&](unsigned short type, Bytes value) {
			std::uint32_t v = 0;
			if (type == IFA_LOCAL && readValue(value, v))
				local = v;
			else if (type == IFA_ADDRESS && readValue(value, v))
				address = v;
		});
		if (!local && !address)
			return;
		Ipv4AddressChange change;
		change.added = header.nlmsg_type == RTM_NEWADDR;
		change.ifindex = static_cast<int>(message.ifa_index);
		change.address = local ? *local : *address;
		change.prefixAddress = address ? *address : *local;
		change.prefixLength = std::min<unsigned>(message.ifa_prefixlen, 32);
		change.fromDump = fromDump;
		out.changes.push_back(change);
	});
	return out;
}

bool AddressTracker::add(int ifindex, std::uint32_t address)
{
	const std::pair<int, std::uint32_t> entry{ifindex, address};
	if (std::find(known_.begin(), known_.end(), entry) != known_.end())
		return false;
	if (capacity_ == 0)
		return true;
	if (known_.size() >= capacity_)
		known_.erase(known_.begin());
	known_.push_back(entry);
	return true;
}

void AddressTracker::remove(int ifindex, std::uint32_t address)
{
	std::erase(known_, std::pair<int, std::uint32_t>{ifindex, address});
}

void DefaultRouteReader::feed(const void *data, std::size_t length)
{
	forEachMessage(data, length, [&](const nlmsghdr &header, Bytes payload) {
		if (done_ || header.nlmsg_seq != seq_)
			return;
		if (header.nlmsg_type == NLMSG_DONE || header.nlmsg_type == NLMSG_ERROR) {
			done_ = true;
			if (header.nlmsg_type == NLMSG_ERROR)
				error_ = errorOf(payload);
			return;
		}
		if (header.nlmsg_type != RTM_NEWROUTE)
			return;
		rtmsg route{};
		Bytes attributes;
		if (!split(payload, route, attributes) || route.rtm_family != AF_INET ||
		    route.rtm_dst_len != 0 || route.rtm_type != RTN_UNICAST)
			return;
		std::uint32_t table = route.rtm_table;
		std::uint32_t metric = 0;
		std::optional<int> oif;
		forEachAttribute(attributes, [&](unsigned short type, Bytes value) {
			std::uint32_t v = 0;
			if (type == RTA_TABLE && readValue(value, v)) {
				table = v;
			} else if (type == RTA_PRIORITY && readValue(value, v)) {
				metric = v;
			} else if (type == RTA_OIF && readValue(value, v)) {
				oif = static_cast<int>(v);
			} else if (type == RTA_MULTIPATH && !oif) {
				rtnexthop hop{};
				if (readValue(value, hop) && hop.rtnh_len >= sizeof(hop))
					oif = hop.rtnh_ifindex;
			}
		});
		if (table != RT_TABLE_MAIN || !oif || *oif <= 0)
			return;
		if (!ifindex_ || metric < metric_) {
			ifindex_ = oif;
			metric_ = metric;
		}
	});
}

std::optional<std::string> readLinkMac(const void *data, std::size_t length)
{
	std::optional<std::string> mac;
	forEachMessage(data, length, [&](const nlmsghdr &header, Bytes payload) {
		if (mac || header.nlmsg_type != RTM_NEWLINK)
			return;
		ifinfomsg link{};
		Bytes attributes;
		if (!split(payload, link, attributes) || link.ifi_type != ARPHRD_ETHER)
			return;
		forEachAttribute(attributes, [&](unsigned short type, Bytes value) {
			if (type != IFLA_ADDRESS || value.length != 6 ||
			    std::all_of(value.data, value.data + 6,
					[](unsigned char b) { return b == 0; }))
				return;
			mac = toHex(std::span<const unsigned char>(value.data, 6), HexCase::Upper);
		});
	});
	return mac;
}

} // namespace checksyncd
