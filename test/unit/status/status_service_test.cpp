// SPDX-License-Identifier: MIT
//
// The status object in process (daemon/status/status_service.cpp): a real
// StatusService on the daemon's BusConnection, on a real su_root, and a
// second connection on the same loop that reads its properties, calls
// Unlock and listens for PropertiesChanged the way busctl would, all on a
// private dbus-daemon; the provisioning double broadcasts ActionFinished.
// Every call goes out asynchronously and the loop runs until its answer:
// the service answers from the same loop.

#include <systemd/sd-bus.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loop/bus_connection.hpp"
#include "loop/log.hpp"
#include "loop/loop.hpp"
#include "loop/sdbus.hpp"
#include "status/status_service.hpp"

#include "support/daemon_support.hpp"
#include "support/provisioning_double.hpp"
#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;
using checksyncd::test::PrivateBus;
using checksyncd::test::ProvisioningDouble;
using checksyncd::test::stepPast;
using checksyncd::test::stepUntil;
using checksyncd::test::TempDir;

namespace {

constexpr const char *kService = "org.checksyncd.CheckSync1";
constexpr const char *kPath = "/org/checksyncd/CheckSync1";
constexpr const char *kInterface = "org.checksyncd.CheckSync1";

// The SIP side as the status object asks it: the sources locked out, and
// which of them Unlock lifted.
class FeedDouble final : public StatusFeed
{
public:
	std::vector<Lockout> lockedOut(std::uint64_t nowMs) override
	{
		std::vector<Lockout> now;
		for (const Lockout &lockout : lockouts)
			if (lockout.untilMs > nowMs)
				now.push_back(lockout);
		return now;
	}
	bool unlock(std::string_view source) override
	{
		asked.emplace_back(source);
		for (auto it = lockouts.begin(); it != lockouts.end(); ++it) {
			if (it->source == source) {
				lockouts.erase(it);
				return true;
			}
		}
		return false;
	}

	std::vector<Lockout> lockouts;
	std::vector<std::string> asked;
};

// A reply, or the error that came instead.
struct Reply {
	UniqueBusMessage message;
	std::string error; // its D-Bus name; empty for a method return
};

// A client of the bus on the test's loop: busctl's part.
class Peer
{
public:
	Peer(EventLoop &loop, const std::string &address) : loop_(loop), connection_(loop, address)
	{
		sd_bus_slot *slot = nullptr;
		const int r = sd_bus_match_signal(connection_.get(), &slot, nullptr, kPath,
						  "org.freedesktop.DBus.Properties",
						  "PropertiesChanged", &Peer::onChanged, this);
		match_.reset(slot);
		if (r < 0)
			FAIL("cannot listen for PropertiesChanged");
	}

	// Call a method on the status object and run the loop until the
	// answer; the message is positioned at its first argument.
	template<typename... Args>
	Reply call(const char *interface, const char *member, const char *types, Args... args)
	{
		sd_bus_slot *slot = nullptr;
		Reply reply;
		bool done = false;
		Pending pending{&reply, &done};
		const int r = sd_bus_call_method_async(connection_.get(), &slot, kService, kPath,
						       interface, member, &Peer::onReply, &pending,
						       types, args...);
		const UniqueSlot owned(slot);
		if (r < 0)
			FAIL("cannot send the call");
		if (!stepUntil(loop_, [&] { return done; }))
			FAIL("no answer");
		return reply;
	}

	// A property's value, positioned at the variant's contents.
	UniqueBusMessage get(const char *property, const char *signature)
	{
		Reply reply = call("org.freedesktop.DBus.Properties", "Get", "ss", kInterface,
				   property);
		STRCMP_EQUAL("", reply.error.c_str());
		CHECK_TRUE(sd_bus_message_enter_container(reply.message.get(), 'v', signature) > 0);
		return std::move(reply.message);
	}

	std::string getString(const char *property)
	{
		UniqueBusMessage m = get(property, "s");
		const char *text = nullptr;
		CHECK_TRUE(sd_bus_message_read(m.get(), "s", &text) >= 0);
		return text;
	}

	// An a{st} property (Counters, LockedOut).
	std::map<std::string, std::uint64_t> getMap(const char *property)
	{
		UniqueBusMessage m = get(property, "a{st}");
		std::map<std::string, std::uint64_t> entries;
		CHECK_TRUE(sd_bus_message_enter_container(m.get(), 'a', "{st}") > 0);
		const char *key = nullptr;
		std::uint64_t value = 0;
		while (sd_bus_message_read(m.get(), "{st}", &key, &value) > 0)
			entries[key] = value;
		return entries;
	}

	// The keys of LastCheckSync with their values as text.
	std::map<std::string, std::string> getLastCheckSync()
	{
		UniqueBusMessage m = get("LastCheckSync", "a{sv}");
		std::map<std::string, std::string> entries;
		CHECK_TRUE(sd_bus_message_enter_container(m.get(), 'a', "{sv}") > 0);
		while (sd_bus_message_enter_container(m.get(), 'e', "sv") > 0) {
			const char *key = nullptr;
			CHECK_TRUE(sd_bus_message_read(m.get(), "s", &key) >= 0);
			const std::string name = key;
			char type = 0;
			const char *contents = nullptr;
			CHECK_TRUE(sd_bus_message_peek_type(m.get(), &type, &contents) > 0);
			CHECK_TRUE(sd_bus_message_enter_container(m.get(), 'v', contents) > 0);
			if (contents[0] == 's') {
				const char *text = nullptr;
				CHECK_TRUE(sd_bus_message_read(m.get(), "s", &text) >= 0);
				entries[name] = text;
			} else if (contents[0] == 'b') {
				int flag = 0;
				CHECK_TRUE(sd_bus_message_read(m.get(), "b", &flag) >= 0);
				entries[name] = flag ? "true" : "false";
			} else if (contents[0] == 'u') {
				std::uint32_t n = 0;
				CHECK_TRUE(sd_bus_message_read(m.get(), "u", &n) >= 0);
				entries[name] = std::to_string(n);
			} else {
				std::uint64_t n = 0;
				CHECK_TRUE(sd_bus_message_read(m.get(), "t", &n) >= 0);
				entries[name] = std::to_string(n);
			}
			CHECK_TRUE(sd_bus_message_exit_container(m.get()) >= 0); // v
			CHECK_TRUE(sd_bus_message_exit_container(m.get()) >= 0); // e
		}
		return entries;
	}

	sd_bus *bus() const { return connection_.get(); }

	// Every PropertiesChanged received: the names it said changed.
	std::vector<std::vector<std::string>> signals;

private:
	struct Pending {
		Reply *reply;
		bool *done;
	};

	static int onReply(sd_bus_message *m, void *userdata, sd_bus_error *) noexcept
	{
		auto *pending = static_cast<Pending *>(userdata);
		if (const sd_bus_error *error = sd_bus_message_get_error(m))
			pending->reply->error = error->name;
		pending->reply->message.reset(sd_bus_message_ref(m));
		*pending->done = true;
		return 0;
	}

	static int onChanged(sd_bus_message *m, void *userdata, sd_bus_error *) noexcept
	{
		auto *self = static_cast<Peer *>(userdata);
		std::vector<std::string> names;
		const char *interface = nullptr;
		if (sd_bus_message_read(m, "s", &interface) < 0 ||
		    sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
			return 0;
		while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
			const char *name = nullptr;
			if (sd_bus_message_read(m, "s", &name) < 0 ||
			    sd_bus_message_skip(m, "v") < 0)
				return 0;
			names.emplace_back(name);
			(void)sd_bus_message_exit_container(m);
		}
		(void)sd_bus_message_exit_container(m);
		const char *invalidated = nullptr;
		if (sd_bus_message_enter_container(m, 'a', "s") > 0)
			while (sd_bus_message_read(m, "s", &invalidated) > 0)
				names.emplace_back(invalidated);
		self->signals.push_back(std::move(names));
		return 0;
	}

	EventLoop &loop_;
	BusConnection connection_;
	UniqueSlot match_;
};

bool holds(const std::vector<std::string> &names, const char *name)
{
	return std::find(names.begin(), names.end(), name) != names.end();
}

} // namespace

TEST_GROUP(StatusService)
{
	EventLoop loop;
	TempDir dir;
	std::unique_ptr<PrivateBus> bus;
	std::unique_ptr<BusConnection> connection;
	std::unique_ptr<StatusService> status;
	std::unique_ptr<Peer> peer;
	FeedDouble feed;

	void setup() override
	{
		logSetup(getenv("DEBUGLOG") ? LogLevel::Debug : LogLevel::Error,
			 LogBackend::Stderr);
		bus = std::make_unique<PrivateBus>(dir.path());
		const std::string error = bus->start();
		if (!error.empty())
			FAIL(error.c_str());
		connection = std::make_unique<BusConnection>(loop, bus->address());
		status = std::make_unique<StatusService>(loop, *connection, feed);
		peer = std::make_unique<Peer>(loop, bus->address());
	}

	void teardown() override
	{
		peer.reset();
		status.reset();
		connection.reset();
		bus.reset();
	}

	// Who owns the status object's name now (empty: no one).
	std::string owner()
	{
		const char *name = nullptr;
		sd_bus_creds *creds = nullptr;
		if (sd_bus_get_name_creds(peer->bus(), kService, SD_BUS_CREDS_UNIQUE_NAME, &creds) <
		    0)
			return {};
		const UniqueCreds owned(creds);
		if (sd_bus_creds_get_unique_name(creds, &name) < 0)
			return {};
		return name;
	}

	CheckSyncReport report(const char *callId)
	{
		CheckSyncReport r;
		r.remote = "udp:192.0.2.1:5060";
		r.transport = "udp";
		r.callId = callId;
		r.event = "check-sync;reboot=false";
		r.action = "Resync";
		r.identity = 1;
		r.authenticated = true;
		r.sipStatus = 200;
		r.provisioning = Provisioning::Accepted;
		return r;
	}
};

TEST(StatusService, ownsItsNameAtOnceAndShowsWhatItWasTold)
{
	const char *unique = nullptr;
	CHECK_TRUE(sd_bus_get_unique_name(connection->get(), &unique) >= 0);
	STRCMP_EQUAL(unique, owner().c_str());
	STRCMP_EQUAL("no-settings", peer->getString("State").c_str());
	status->setState(ServiceState::Serving);
	status->setSettings("/etc/checksyncd/settings.xml", "line 3: bad value");
	status->setListening({"sip:*:5060;transport=udp", "sip:*:5060;transport=tcp"});
	STRCMP_EQUAL("serving", peer->getString("State").c_str());
	STRCMP_EQUAL("/etc/checksyncd/settings.xml", peer->getString("SettingsFile").c_str());
	STRCMP_EQUAL("line 3: bad value", peer->getString("SettingsError").c_str());
	UniqueBusMessage listening = peer->get("Listening", "as");
	char **uris = nullptr;
	CHECK_TRUE(sd_bus_message_read_strv(listening.get(), &uris) >= 0);
	std::vector<std::string> read;
	for (char **uri = uris; uri && *uri; ++uri) {
		read.emplace_back(*uri);
		free(*uri);
	}
	free(uris);
	CHECK_TRUE(read == (std::vector<std::string>{"sip:*:5060;transport=udp",
						     "sip:*:5060;transport=tcp"}));
}

TEST(StatusService, countsWhatTheSipSideReports)
{
	status->received(Arrival::Port);
	status->received(Arrival::HandedOver);
	status->received(Arrival::Port);
	status->answered(401, AnswerTo::CheckSync);
	status->answered(200, AnswerTo::CheckSync);
	status->answered(200, AnswerTo::OtherRequest);
	status->answered(403, AnswerTo::CheckSync);
	status->authenticationFailed();
	status->droppedByFilter();
	status->droppedInKernel(5, 2);
	status->silenced();
	const std::map<std::string, std::uint64_t> counters = peer->getMap("Counters");
	LONGS_EQUAL(kCounterCount, counters.size());
	LONGS_EQUAL(3, counters.at("received"));
	LONGS_EQUAL(1, counters.at("handed_over"));
	LONGS_EQUAL(1, counters.at("served")); // the 200 to OPTIONS is no check-sync served
	LONGS_EQUAL(1, counters.at("challenged"));
	LONGS_EQUAL(1, counters.at("refused"));
	LONGS_EQUAL(1, counters.at("auth_failures"));
	// One by the daemon, five by the kernel.
	LONGS_EQUAL(6, counters.at("dropped_by_filter"));
	LONGS_EQUAL(5, counters.at("dropped_in_kernel"));
	LONGS_EQUAL(2, counters.at("shed"));
	LONGS_EQUAL(1, counters.at("silenced"));
}

TEST(StatusService, aBurstOfChangesIsOneSignalNowAndOneAtTheEndOfTheInterval)
{
	// A quiet spell first: the first change goes out at once, the rest of
	// the burst waits for the end of the interval.
	CHECK_TRUE(stepPast(loop, ChangeTracker::kMinIntervalMs + 50));
	peer->signals.clear();
	const std::uint64_t started = EventLoop::nowMs();
	status->received(Arrival::Port);
	CHECK_TRUE(stepUntil(loop, [&] { return peer->signals.size() == 1; }));
	for (int i = 0; i < 1000; ++i) {
		status->received(Arrival::Port);
		status->answered(401, AnswerTo::CheckSync);
	}
	status->setState(ServiceState::Serving);
	CHECK_TRUE(stepUntil(loop, [&] { return peer->signals.size() == 2; }));
	CHECK_TRUE(EventLoop::nowMs() - started >= ChangeTracker::kMinIntervalMs);
	CHECK_TRUE(holds(peer->signals[0], "Counters"));
	CHECK_TRUE(holds(peer->signals[1], "Counters"));
	CHECK_TRUE(holds(peer->signals[1], "State"));
	// Nothing more: the burst is said.
	CHECK_TRUE(stepPast(loop, 2 * ChangeTracker::kMinIntervalMs));
	LONGS_EQUAL(2, peer->signals.size());
	LONGS_EQUAL(1001, peer->getMap("Counters").at("received"));
}

TEST(StatusService, stoppingIsSaidAtOnceNotFromATimer)
{
	status->received(Arrival::Port); // a signal goes out, the interval starts
	CHECK_TRUE(stepUntil(loop, [&] { return peer->signals.size() == 1; }));
	status->setState(ServiceState::Stopping);
	// Sent already, within the interval: one step reads it.
	CHECK_TRUE(stepUntil(
		loop, [&] { return peer->signals.size() == 2; }, 100));
	CHECK_TRUE(holds(peer->signals[1], "State"));
	STRCMP_EQUAL("stopping", peer->getString("State").c_str());
}

TEST(StatusService, unlockLiftsALockoutThroughTheSipSide)
{
	const std::uint64_t now = EventLoop::nowMs();
	feed.lockouts = {{"192.0.2.7", now + 60'000}, {"2001:db8::/64", now + 60'000}};
	const std::map<std::string, std::uint64_t> locked = peer->getMap("LockedOut");
	LONGS_EQUAL(2, locked.size());
	CHECK_TRUE(locked.count("192.0.2.7") == 1);
	LONGS_EQUAL(2, peer->getMap("Counters").at("locked_out"));

	// An address in the locked prefix names the prefix.
	const Reply lifted = peer->call(kInterface, "Unlock", "s", "2001:db8::1");
	STRCMP_EQUAL("", lifted.error.c_str());
	CHECK_TRUE(feed.asked == std::vector<std::string>{"2001:db8::/64"});
	const std::map<std::string, std::uint64_t> left = peer->getMap("LockedOut");
	LONGS_EQUAL(1, left.size());
	CHECK_TRUE(left.count("192.0.2.7") == 1);
}

TEST(StatusService, unlockRefusesWhatIsNotLockedOutOrNotAnAddress)
{
	const Reply notLocked = peer->call(kInterface, "Unlock", "s", "198.51.100.1");
	STRCMP_EQUAL("org.checksyncd.CheckSync1.Error.NotLockedOut", notLocked.error.c_str());
	const Reply notAnAddress = peer->call(kInterface, "Unlock", "s", "pbx.example.com");
	STRCMP_EQUAL(SD_BUS_ERROR_INVALID_ARGS, notAnAddress.error.c_str());
	// Only the address reached the SIP side.
	CHECK_TRUE(feed.asked == std::vector<std::string>{"198.51.100.1"});
}

TEST(StatusService, aLockoutThatEndsIsSaidWithoutBeingAsked)
{
	feed.lockouts = {{"192.0.2.7", EventLoop::nowMs() + 300}};
	status->authenticationFailed(); // the lockout began with a failure
	CHECK_TRUE(stepUntil(loop, [&] { return peer->signals.size() == 1; }));
	CHECK_TRUE(holds(peer->signals[0], "LockedOut"));
	// Its end is a change of its own, from the expiry timer.
	CHECK_TRUE(stepUntil(loop, [&] { return peer->signals.size() == 2; }));
	CHECK_TRUE(holds(peer->signals[1], "LockedOut"));
	CHECK_TRUE(peer->getMap("LockedOut").empty());
}

TEST(StatusService, theProvisioningProcesssActionFinishedEndsTheLastCheckSync)
{
	ProvisioningDouble provisioning(loop);
	const std::string served = provisioning.connect(bus->address());
	if (!served.empty())
		FAIL(served.c_str());
	CHECK_TRUE(peer->getLastCheckSync().empty()); // none yet
	status->checkSyncAnswered(report("cs-1@pbx"));
	std::map<std::string, std::string> last = peer->getLastCheckSync();
	STRCMP_EQUAL("cs-1@pbx", last.at("call_id").c_str());
	STRCMP_EQUAL("accepted", last.at("provisioning").c_str());
	CHECK_TRUE(last.count("result") == 0);

	// About another check-sync: not this one's end.
	CHECK_TRUE(provisioning.emitActionFinished("Resync", "other@pbx", true, "done"));
	CHECK_TRUE(stepPast(loop, 100));
	CHECK_TRUE(peer->getLastCheckSync().count("result") == 0);

	CHECK_TRUE(provisioning.emitActionFinished("Resync", "cs-1@pbx", false, "no route"));
	CHECK_TRUE(stepUntil(loop, [&] { return peer->getLastCheckSync().count("result") == 1; }));
	last = peer->getLastCheckSync();
	STRCMP_EQUAL("failure", last.at("result").c_str());
	STRCMP_EQUAL("no route", last.at("result_message").c_str());
}

TEST(StatusService, anActionFinishedFromAnyoneButTheProvisioningProcessIsIgnored)
{
	status->checkSyncAnswered(report("cs-2@pbx"));
	// The peer owns no provisioning name: its broadcast does not match,
	// and one addressed to the daemon is not believed whoever sent it.
	CHECK_TRUE(sd_bus_emit_signal(peer->bus(), "/org/checksyncd/Provisioning1",
				      "org.checksyncd.Provisioning1", "ActionFinished", "ssbs",
				      "Resync", "cs-2@pbx", 1, "forged") >= 0);
	const char *daemon = nullptr;
	CHECK_TRUE(sd_bus_get_unique_name(connection->get(), &daemon) >= 0);
	sd_bus_message *signal = nullptr;
	CHECK_TRUE(sd_bus_message_new_signal(peer->bus(), &signal, "/org/checksyncd/Provisioning1",
					     "org.checksyncd.Provisioning1",
					     "ActionFinished") >= 0);
	const UniqueBusMessage unicast(signal);
	CHECK_TRUE(sd_bus_message_set_destination(signal, daemon) >= 0);
	CHECK_TRUE(sd_bus_message_append(signal, "ssbs", "Resync", "cs-2@pbx", 1, "forged") >= 0);
	CHECK_TRUE(sd_bus_send(peer->bus(), signal, nullptr) >= 0);
	CHECK_TRUE(stepPast(loop, 200));
	CHECK_TRUE(peer->getLastCheckSync().count("result") == 0);
}

TEST(StatusService, theNameComesBackWhenTheBusDoes)
{
	status->setState(ServiceState::Serving);
	peer.reset();
	bus->stop();
	CHECK_TRUE(stepUntil(loop, [&] { return connection->get() == nullptr; }));
	const std::string error = bus->start();
	if (!error.empty())
		FAIL(error.c_str());
	peer = std::make_unique<Peer>(loop, bus->address());
	// BusConnection reconnects on its own, and the object is exported
	// and the name taken again without a check-sync to ask for it.
	CHECK_TRUE(stepUntil(
		loop, [&] { return !owner().empty(); }, BusConnection::kReconnectMs + 3000));
	const char *unique = nullptr;
	CHECK_TRUE(sd_bus_get_unique_name(connection->get(), &unique) >= 0);
	STRCMP_EQUAL(unique, owner().c_str());
	STRCMP_EQUAL("serving", peer->getString("State").c_str());
}
