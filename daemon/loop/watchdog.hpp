// SPDX-License-Identifier: MIT
//
// systemd's watchdog: WATCHDOG=1 at half of WatchdogSec (sd_watchdog_enabled)
// for as long as the loop runs, so a loop that stops turning gets the
// service restarted. Nothing at all when the unit sets no WatchdogSec.

#pragma once

#include <cstdint>

#include "loop/loop.hpp"

namespace checksyncd {

class Watchdog
{
public:
	explicit Watchdog(EventLoop &loop);
	Watchdog(const Watchdog &) = delete;
	Watchdog &operator=(const Watchdog &) = delete;

	// The first ping is due half an interval from now.
	void start();

private:
	void ping();

	Timer timer_;
	std::uint64_t intervalMs_ = 0; // 0: no watchdog
};

} // namespace checksyncd
