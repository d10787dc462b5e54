// SPDX-License-Identifier: MIT
//
// Tests of the daemon's D-Bus connection (daemon/loop/bus_connection.cpp): sd-bus
// hosted in a real su_root against a private dbus-daemon that each test
// starts and stops, and what its clients hear when the bus goes and comes
// back.

#include <systemd/sd-bus.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "loop/bus_connection.hpp"
#include "loop/log.hpp"
#include "loop/loop.hpp"
#include "support/daemon_support.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;
using checksyncd::test::PrivateBus;
using checksyncd::test::StderrCapture;
using checksyncd::test::stepPast;
using checksyncd::test::stepUntil;
using checksyncd::test::TempDir;

namespace {

// Counts what a client of the connection is told.
class ClientProbe final : public BusConnection::Client
{
public:
	explicit ClientProbe(BusConnection &bus) : bus_(bus) { bus_.addClient(*this); }
	~ClientProbe() { bus_.removeClient(*this); }
	ClientProbe(const ClientProbe &) = delete;
	ClientProbe &operator=(const ClientProbe &) = delete;

	void busConnected(sd_bus *bus) override
	{
		connected++;
		seen = bus;
	}
	void busLost() override { lost++; }

	int connected = 0;
	int lost = 0;
	sd_bus *seen = nullptr;

private:
	BusConnection &bus_;
};

} // namespace

TEST_GROUP(BusConnection)
{
	EventLoop loop;
	TempDir dir;
	std::unique_ptr<PrivateBus> bus;
	std::unique_ptr<BusConnection> connection;

	void setup() override
	{
		// Losing the bus is a warning; the tests look at the log only
		// where they say so.
		logSetup(LogLevel::Error, LogBackend::Stderr);
		bus = std::make_unique<PrivateBus>(dir.path());
		const std::string error = bus->start();
		if (!error.empty())
			FAIL(error.c_str());
		connection = std::make_unique<BusConnection>(loop, bus->address());
	}

	void teardown() override
	{
		// No loop step after this: the connection's hook stays in the loop.
		connection.reset();
		bus.reset();
		logSetup(LogLevel::Info, LogBackend::Stderr);
	}

	// Stop the bus and step until the connection has noticed.
	void loseTheBus(ClientProbe & probe)
	{
		bus->stop();
		CHECK_TRUE(stepUntil(loop, [&] { return probe.lost > 0; }));
		CHECK_TRUE(connection->get() == nullptr);
	}
};

TEST(BusConnection, aCallIsAnsweredThroughTheLoop)
{
	std::string id;
	sd_bus_slot *added = nullptr;
	const int r = sd_bus_call_method_async(
		connection->get(), &added, "org.freedesktop.DBus", "/org/freedesktop/DBus",
		"org.freedesktop.DBus", "GetId",
		[](sd_bus_message *reply, void *userdata, sd_bus_error *) noexcept {
			const char *text = nullptr;
			if (sd_bus_message_read(reply, "s", &text) > 0)
				*static_cast<std::string *>(userdata) = text;
			return 0;
		},
		&id, "");
	const UniqueSlot slot(added);
	CHECK_TRUE(r >= 0);
	CHECK_TRUE(id.empty()); // only the loop delivers the answer
	CHECK_TRUE(stepUntil(loop, [&] { return !id.empty(); }));
	CHECK_EQUAL(32u, id.size()); // the bus's GUID, in hex
}

TEST(BusConnection, aMessageReadDuringASynchronousCallIsStillDispatched)
{
	// dbus-daemon sends NameAcquired before the answer to RequestName, so
	// the synchronous call leaves it queued in sd-bus, where no poll sees
	// it: sd-bus asks for a zero timeout instead, which the connection
	// must follow.
	std::string acquired;
	sd_bus_slot *added = nullptr;
	const int r = sd_bus_match_signal(
		connection->get(), &added, "org.freedesktop.DBus", "/org/freedesktop/DBus",
		"org.freedesktop.DBus", "NameAcquired",
		[](sd_bus_message *m, void *userdata, sd_bus_error *) noexcept {
			const char *name = nullptr;
			if (sd_bus_message_read(m, "s", &name) > 0 &&
			    std::string(name) == "org.checksyncd.Test1")
				*static_cast<std::string *>(userdata) = name;
			return 0;
		},
		&acquired);
	const UniqueSlot slot(added);
	CHECK_TRUE(r >= 0);
	CHECK_TRUE(sd_bus_request_name(connection->get(), "org.checksyncd.Test1", 0) >= 0);
	CHECK_TRUE(stepUntil(loop, [&] { return !acquired.empty(); }));
}

TEST(BusConnection, everyClientHearsTheBusGoAndComeBack)
{
	ClientProbe first(*connection);
	ClientProbe second(*connection);
	auto removed = std::make_unique<ClientProbe>(*connection);
	removed.reset();
	CHECK_TRUE(stepPast(loop, 20));
	CHECK_EQUAL(0, first.connected); // not for the first connection

	loseTheBus(first);
	CHECK_EQUAL(1, first.lost);
	CHECK_EQUAL(1, second.lost);

	// Asked for (a check-sync to hand on): at once.
	const std::string error = bus->start();
	if (!error.empty())
		FAIL(error.c_str());
	connection->connect();
	CHECK_TRUE(connection->get() != nullptr);
	CHECK_EQUAL(1, first.connected);
	CHECK_EQUAL(1, second.connected);
	CHECK_TRUE(first.seen == connection->get());
	CHECK_TRUE(stepPast(loop, 20));
	CHECK_EQUAL(1, first.lost);
}

TEST(BusConnection, connectThrowsWhileTheBusIsStillAway)
{
	ClientProbe probe(*connection);
	loseTheBus(probe);
	CHECK_THROWS(std::runtime_error, connection->connect());
	CHECK_TRUE(connection->get() == nullptr);
	CHECK_EQUAL(0, probe.connected);
}

TEST(BusConnection, itConnectsAgainByItselfAfterAWhile)
{
	// So that the status object comes back without a check-sync.
	logSetup(LogLevel::Notice, LogBackend::Stderr);
	StderrCapture log;
	ClientProbe probe(*connection);
	loseTheBus(probe);
	CHECK_TRUE(log.contains("lost the connection to the unix:path="));
	const std::string error = bus->start();
	if (!error.empty())
		FAIL(error.c_str());

	CHECK_TRUE(stepUntil(
		loop, [&] { return probe.connected > 0; }, BusConnection::kReconnectMs + 2000));
	CHECK_TRUE(connection->get() != nullptr);
	CHECK_TRUE(probe.seen == connection->get());
}

TEST(BusConnection, aBusThatCannotBeReachedIsAnErrorAtStart)
{
	CHECK_THROWS(std::runtime_error,
		     BusConnection(loop, "unix:path=" + dir.path("nobody-listens")));
}
