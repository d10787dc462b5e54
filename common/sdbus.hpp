// SPDX-License-Identifier: MIT
//
// sd-bus objects that release themselves: the sd-bus member of the RAII
// family (unique_fd.hpp, sofia.hpp, openssl.hpp, xml.hpp). One deleter,
// overloaded per type. A bus is flushed and closed as it goes, so that
// what was queued on it (a reply, a signal) still leaves.

#pragma once

#include <memory>

#include <systemd/sd-bus.h>

namespace checksyncd {

struct SdBusDeleter {
	void operator()(sd_bus *bus) const noexcept { (void)sd_bus_flush_close_unref(bus); }
	void operator()(sd_bus_slot *slot) const noexcept { (void)sd_bus_slot_unref(slot); }
	void operator()(sd_bus_message *message) const noexcept
	{
		(void)sd_bus_message_unref(message);
	}
	void operator()(sd_bus_creds *creds) const noexcept { (void)sd_bus_creds_unref(creds); }
};

using UniqueBus = std::unique_ptr<sd_bus, SdBusDeleter>;
using UniqueSlot = std::unique_ptr<sd_bus_slot, SdBusDeleter>;
using UniqueBusMessage = std::unique_ptr<sd_bus_message, SdBusDeleter>;
using UniqueCreds = std::unique_ptr<sd_bus_creds, SdBusDeleter>;

} // namespace checksyncd
