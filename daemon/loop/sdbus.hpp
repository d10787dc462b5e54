// SPDX-License-Identifier: MIT
//
// libsystemd objects that release themselves (sd-bus, and the sd-event
// loop the provisioning stand-in runs on): the libsystemd member of the
// RAII family (unique_fd.hpp, sofia.hpp, openssl.hpp, xml.hpp). One
// deleter, overloaded per type. A bus is flushed and closed as it goes, so
// that what was queued on it (a reply, a signal) still leaves; an event
// source is disabled as it goes.

#pragma once

#include <memory>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

namespace checksyncd {

struct SdBusDeleter {
	void operator()(sd_bus *bus) const noexcept { (void)sd_bus_flush_close_unref(bus); }
	void operator()(sd_bus_slot *slot) const noexcept { (void)sd_bus_slot_unref(slot); }
	void operator()(sd_bus_message *message) const noexcept
	{
		(void)sd_bus_message_unref(message);
	}
	void operator()(sd_bus_creds *creds) const noexcept { (void)sd_bus_creds_unref(creds); }
	void operator()(sd_event *event) const noexcept { (void)sd_event_unref(event); }
	void operator()(sd_event_source *source) const noexcept
	{
		(void)sd_event_source_disable_unref(source);
	}
};

using UniqueBus = std::unique_ptr<sd_bus, SdBusDeleter>;
using UniqueSlot = std::unique_ptr<sd_bus_slot, SdBusDeleter>;
using UniqueBusMessage = std::unique_ptr<sd_bus_message, SdBusDeleter>;
using UniqueCreds = std::unique_ptr<sd_bus_creds, SdBusDeleter>;
using UniqueEvent = std::unique_ptr<sd_event, SdBusDeleter>;
using UniqueEventSource = std::unique_ptr<sd_event_source, SdBusDeleter>;

} // namespace checksyncd
