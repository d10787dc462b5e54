// SPDX-License-Identifier: MIT
//
// The daemon's one D-Bus connection, hosted in the su_root loop as sd-bus
// documents for a foreign loop: its fd is watched with the events
// sd_bus_get_events() asks for, one timer follows sd_bus_get_timeout(),
// and sd_bus_process() runs until it returns 0. The provisioning client
// and the status object share it.
//
// When the bus goes away every client hears it (and drops what it held on
// the old connection), and the connection is made again: at once when a
// client asks (a check-sync to hand on), else every kReconnectMs, so that
// the status object comes back without a check-sync.

#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "loop/loop.hpp"
#include "loop/sdbus.hpp"

namespace checksyncd {

class BusConnection
{
public:
	static constexpr std::uint64_t kReconnectMs = 5'000;
	// Bounds the few synchronous calls (at start, and the bus driver's
	// answer about a caller's credentials), instead of sd-bus's 25 s.
	static constexpr std::uint64_t kSyncCallTimeoutMs = 2'000;

	class Client
	{
	public:
		// A new connection after one was lost.
		virtual void busConnected(sd_bus *bus) = 0;
		// The connection is gone: drop every slot of it, fail what
		// waits on it. The bus is closed after all clients returned.
		virtual void busLost() = 0;

	protected:
		~Client() = default;
	};

	// bus: "system", "session", or a D-Bus address. Throws when the bus
	// cannot be reached.
	BusConnection(EventLoop &loop, std::string bus);
	BusConnection(const BusConnection &) = delete;
	BusConnection &operator=(const BusConnection &) = delete;

	// nullptr while disconnected.
	sd_bus *get() const { return bus_.get(); }
	const std::string &address() const { return address_; }

	// Connect again if disconnected; throws when that fails.
	void connect();

	void addClient(Client &client);
	void removeClient(Client &client);

private:
	void open();
	void process();
	void prepoll();
	void lose(int error);
	void retryLater();

	EventLoop &loop_;
	std::string address_;
	UniqueBus bus_;
	// Declared after bus_, so destroyed first: the loop stops watching the
	// descriptor before sd-bus closes it.
	std::unique_ptr<FdWatch> watch_;
	Timer busTimer_;
	std::uint64_t busDeadlineUs_ = UINT64_MAX;
	Timer reconnect_;
	bool retryFailed_ = false; // logged once per outage
	std::vector<Client *> clients_;
	PrepollHook prepoll_;
};

} // namespace checksyncd
