// SPDX-License-Identifier: MIT

#include "loop/bus_connection.hpp"

#include <poll.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "base/text.hpp"
#include "loop/log.hpp"

namespace checksyncd {

BusConnection::BusConnection(EventLoop &loop, std::string bus)
	: loop_(loop), address_(std::move(bus)), busTimer_(loop), reconnect_(loop)
{
	open();
	prepoll_ = loop_.addPrepoll([this] { prepoll(); });
}

void BusConnection::open()
{
	sd_bus *opened = nullptr;
	int r;
	UniqueBus bus;
	if (address_ == "system") {
		r = sd_bus_open_system_with_description(&opened, "checksyncd");
		bus.reset(opened);
	} else if (address_ == "session") {
		r = sd_bus_open_user_with_description(&opened, "checksyncd");
		bus.reset(opened);
	} else {
		r = sd_bus_new(&opened);
		bus.reset(opened);
		if (r >= 0)
			r = sd_bus_set_address(bus.get(), address_.c_str());
		if (r >= 0)
			r = sd_bus_set_bus_client(bus.get(), 1);
		if (r >= 0)
			r = sd_bus_set_description(bus.get(), "checksyncd");
		if (r >= 0)
			r = sd_bus_start(bus.get());
	}
	if (r >= 0)
		r = sd_bus_set_method_call_timeout(bus.get(), kSyncCallTimeoutMs * 1000);
	if (r < 0)
		throw std::runtime_error("cannot connect to the " + address_ +
					 " bus: " + errnoText(r));
	int fd = sd_bus_get_fd(bus.get());
	if (fd < 0)
		throw std::runtime_error("cannot get the bus descriptor: " + errnoText(fd));
	bus_ = std::move(bus);
	busDeadlineUs_ = UINT64_MAX;
	watch_ = std::make_unique<FdWatch>(loop_, fd, POLLIN, [this](int) { process(); });
}

void BusConnection::connect()
{
	if (bus_)
		return;
	open();
	reconnect_.cancel();
	if (retryFailed_)
		logMessage(LogLevel::Notice, "connected to the " + address_ + " bus again");
	retryFailed_ = false;
	// A client may drop itself or others from the list meanwhile.
	std::vector<Client *> clients = clients_;
	for (Client *client : clients)
		if (bus_ && std::find(clients_.begin(), clients_.end(), client) != clients_.end())
			client->busConnected(bus_.get());
}

void BusConnection::addClient(Client &client)
{
	clients_.push_back(&client);
}

void BusConnection::removeClient(Client &client)
{
	std::erase(clients_, &client);
}

void BusConnection::lose(int error)
{
	logMessage(LogLevel::Warning,
		   "lost the connection to the " + address_ + " bus: " + errnoText(error));
	watch_.reset();
	busTimer_.cancel();
	std::vector<Client *> clients = clients_;
	for (Client *client : clients)
		if (std::find(clients_.begin(), clients_.end(), client) != clients_.end())
			client->busLost();
	bus_.reset();
	retryLater();
}

void BusConnection::retryLater()
{
	reconnect_.arm(kReconnectMs, [this] {
		try {
			connect();
		} catch (const std::exception &e) {
			if (!retryFailed_)
				logMessage(LogLevel::Warning,
					   std::string(e.what()) + "; trying again every " +
						   std::to_string(kReconnectMs / 1000) + " s");
			retryFailed_ = true;
			retryLater();
		}
	});
}

void BusConnection::process()
{
	while (bus_) {
		int r = sd_bus_process(bus_.get(), nullptr);
		if (r < 0) {
			lose(r);
			return;
		}
		if (r == 0)
			break;
	}
	// su_root runs the pre-poll hook before the timers: when this ran
	// from busTimer_, the events set then (none while sd-bus held queued
	// messages) would be the ones the loop waits with.
	prepoll();
}

void BusConnection::prepoll()
{
	if (!bus_)
		return;
	int events = sd_bus_get_events(bus_.get());
	if (events < 0) {
		lose(events);
		return;
	}
	watch_->setEvents(events);

	std::uint64_t deadline = UINT64_MAX;
	if (sd_bus_get_timeout(bus_.get(), &deadline) < 0)
		deadline = UINT64_MAX;
	if (deadline == busDeadlineUs_ && (deadline == UINT64_MAX || busTimer_.armed()))
		return;
	busDeadlineUs_ = deadline;
	if (deadline == UINT64_MAX) {
		busTimer_.cancel();
		return;
	}
	std::uint64_t nowUs = EventLoop::nowMs() * 1000;
	std::uint64_t waitMs = deadline > nowUs ? (deadline - nowUs + 999) / 1000 : 0;
	busTimer_.arm(waitMs, [this] {
		busDeadlineUs_ = UINT64_MAX;
		process();
	});
}

} // namespace checksyncd
