// SPDX-License-Identifier: MIT
//
// checksyncd's own D-Bus object (checksyncd(8), "D-BUS INTERFACE"): the service
// org.checksyncd.CheckSync1, object /org/checksyncd/CheckSync1, interface
// org.checksyncd.CheckSync1 (etc/org.checksyncd.CheckSync1.xml), served by
// sd-bus on the daemon's bus connection in the su_root loop.
//
// Properties are read from a StatusModel; PropertiesChanged goes out from a
// timer, coalesced by the model's ChangeTracker (never one per datagram).
// Unlock(s) lifts a lockout through the StatusFeed (the SIP side). It also
// listens for the provisioning process's ActionFinished signal: one log
// line, and the result in LastCheckSync.

#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "loop/bus_connection.hpp"
#include "loop/loop.hpp"
#include "status/status.hpp"

extern "C" {
struct sd_bus;
}

namespace checksyncd {

class StatusService final : public StatusSink, public BusConnection::Client
{
public:
	// Owns the name and exports the object at once (the bus is connected
	// when the daemon starts); a failure to own the name is logged, not
	// fatal: the SIP side does not depend on it. `feed` (the SIP side's
	// lockouts) is never asked while the object is built or destroyed:
	// only when it flushes, a property is read, Unlock is called or a
	// lockout ends.
	StatusService(EventLoop &loop, BusConnection &bus, StatusFeed &feed);
	~StatusService();
	StatusService(const StatusService &) = delete;
	StatusService &operator=(const StatusService &) = delete;

	void setState(ServiceState state);
	void setSettings(std::string_view file, std::string_view error);
	void setListening(std::vector<std::string> uris);
	// Plug and play (PnpService's status).
	void setPlugAndPlay(PnpState state, std::string_view lastServer, std::string_view lastUrl,
			    std::uint64_t droppedOffLink);

	// StatusSink
	void received(Arrival arrival) override;
	void answered(unsigned sipStatus, AnswerTo request) override;
	void authenticationFailed() override;
	void droppedByFilter() override;
	void droppedInKernel(std::uint64_t filtered, std::uint64_t shed) override;
	void silenced() override;
	void checkSyncAnswered(const CheckSyncReport &report) override;

private:
	// BusConnection::Client
	void busConnected(sd_bus *bus) override;
	void busLost() override;

	enum class Attach : bool {
		AtStart,    // take the name before READY=1 (a blocking call)
		Reconnected // take it without blocking the loop
	};
	void attach(sd_bus *bus, Attach when);
	void changed();
	void flush();
	void refreshLockouts();

	// What sd-bus calls: the vtable, the property getter, Unlock, the
	// ActionFinished handler (status_service.cpp).
	struct Callbacks;
	friend struct Callbacks;

	BusConnection &bus_;
	StatusFeed &feed_;
	StatusModel model_;
	Timer flush_;
	Timer expiry_;
	UniqueSlot object_;
	UniqueSlot name_;
	UniqueSlot match_;
};

} // namespace checksyncd
