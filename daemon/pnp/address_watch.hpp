// SPDX-License-Identifier: MIT
//
// rtnetlink for plug and play: a watch on the phone's IPv4 addresses
// (RTMGRP_IPV4_IFADDR, registered with the su_root loop, no polling), the
// list of those addresses with their prefixes, and the MAC address of the
// interface that holds the default IPv4 route. common/pnp/rtnetlink.cpp reads
// the messages.

#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.hpp"
#include "loop/loop.hpp"
#include "pnp/rtnetlink.hpp"

namespace checksyncd {

// The MAC address (12 upper-case hex digits) of the interface that holds
// the default IPv4 route. The kernel answers an rtnetlink request at once
// (nothing goes over the network), so this is asked synchronously, with a
// receive timeout as a guard. nullopt, with `problem` set, when there is
// no default route or its interface has no Ethernet address.
std::optional<std::string> defaultRouteMac(std::string &problem);

// The phone's IPv4 addresses now (an RTM_GETADDR dump, asked and read
// synchronously like defaultRouteMac()), host-scope ones left out. nullopt,
// with `problem` set, when the kernel could not be asked.
std::optional<std::vector<Ipv4AddressChange>> ipv4Addresses(std::string &problem);

// "eth0", or "interface 7" when it has no name (any more).
std::string interfaceName(int ifindex);

class AddressWatch
{
public:
	// Calls `added` whenever an IPv4 address appears that the phone did
	// not have (not when a known address is renewed). The addresses the
	// phone has at start are learnt from a dump and call nothing.
	// `changed` (may be empty) is called after any notification of an
	// address added, renewed or removed, and when notifications were lost
	// (ENOBUFS): whoever keeps a view of the addresses reads them again.
	// Throws std::system_error when the socket cannot be made.
	AddressWatch(EventLoop &loop, std::function<void()> added,
		     std::function<void()> changed = {});
	AddressWatch(const AddressWatch &) = delete;
	AddressWatch &operator=(const AddressWatch &) = delete;

private:
	void requestDump();
	void onReadable();

	UniqueFd fd_;
	std::uint32_t pid_ = 0;
	std::uint32_t seq_ = 0;
	bool dumping_ = false;
	bool seeded_ = false; // the first dump is done: later addresses are new
	AddressTracker known_;
	std::function<void()> added_;
	std::function<void()> changed_;
	std::unique_ptr<FdWatch> watch_;
};

} // namespace checksyncd
