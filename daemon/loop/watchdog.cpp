// SPDX-License-Identifier: MIT

#include "loop/watchdog.hpp"

#include <systemd/sd-daemon.h>

namespace checksyncd {

Watchdog::Watchdog(EventLoop &loop) : timer_(loop)
{
	std::uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000)
		intervalMs_ = usec / 2000; // half the interval, in ms
}

void Watchdog::start()
{
	if (intervalMs_)
		timer_.arm(intervalMs_, [this] { ping(); });
}

void Watchdog::ping()
{
	(void)sd_notify(0, "WATCHDOG=1");
	start();
}

} // namespace checksyncd
