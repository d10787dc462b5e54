// SPDX-License-Identifier: MIT
//
// Tests of the D-Bus client (daemon/provisioning/provisioning_client.cpp) on the daemon's bus
// connection (daemon/loop/bus_connection.cpp) hosted in a real su_root, against
// a private dbus-daemon that each test starts and stops.
// The provisioning process is a test double on a second connection,
// hosted in the same loop the same way (fd watch, events before each
// poll): it answers, fails, or holds a call unanswered, as a test says.

#include <poll.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "loop/bus_connection.hpp"
#include "loop/log.hpp"
#include "loop/loop.hpp"
#include "loop/sdbus.hpp"
#include "provisioning/provisioning_client.hpp"
#include "support/daemon_support.hpp"
#include "support/provisioning_double.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;
using checksyncd::test::PrivateBus;
using checksyncd::test::runFor;
using checksyncd::test::StderrCapture;
using checksyncd::test::stepPast;
using checksyncd::test::stepUntil;
using checksyncd::test::TempDir;

namespace {

using checksyncd::test::kProvisioningFailed;
using checksyncd::test::ProvisioningDouble;

constexpr const char *kFailed = kProvisioningFailed;
constexpr const char *kNoReply = "org.freedesktop.DBus.Error.NoReply";

CheckSyncFacts facts()
{
	CheckSyncFacts d;
	d.identity = 2;
	d.remote = "[::1]:5062";
	d.authenticated = true;
	d.callId = "a84b4c76e66710@pbx.example";
	d.event = "check-sync";
	d.userAgent = "PBX/1.0 (\xc3\xa9t\xc3\xa9)";
	return d;
}

std::shared_ptr<const CheckSyncFacts> details()
{
	return std::make_shared<const CheckSyncFacts>(facts());
}

} // namespace

TEST_GROUP(ProvisioningClient)
{
	EventLoop loop;
	TempDir dir;
	std::unique_ptr<PrivateBus> bus;
	std::unique_ptr<ProvisioningDouble> provisioning;
	std::unique_ptr<BusConnection> connection;
	std::unique_ptr<ProvisioningClient> client;
	std::vector<CallOutcome> outcomes;

	void setup() override
	{
		// The client logs the calls it sends (and the failure of a
		// trailing call); the tests look at outcomes, and at the log only
		// where they say so.
		logSetup(LogLevel::Error, LogBackend::Stderr);
		bus = std::make_unique<PrivateBus>(dir.path());
		std::string error = bus->start();
		if (error.empty()) {
			provisioning = std::make_unique<ProvisioningDouble>(loop);
			error = provisioning->connect(bus->address());
		}
		if (!error.empty())
			FAIL(error.c_str());
		connection = std::make_unique<BusConnection>(loop, bus->address());
		client = std::make_unique<ProvisioningClient>(loop, *connection);
	}

	void teardown() override
	{
		client.reset();
		connection.reset();
		provisioning.reset();
		bus.reset();
		logSetup(LogLevel::Info, LogBackend::Stderr);
	}

	ProvisioningClient::Done record()
	{
		return [this](const CallOutcome &outcome) { outcomes.push_back(outcome); };
	}
};

TEST(ProvisioningClient, aCallGoesOutAndItsReplyComesBackThroughTheLoop)
{
	std::optional<CallOutcome> now = client->submit(Action::Resync, details(), record());
	CHECK_FALSE(now.has_value());
	CHECK_TRUE(outcomes.empty()); // later, from the loop

	CHECK_TRUE(stepUntil(loop, [&] { return !outcomes.empty(); }));
	CHECK_EQUAL(1u, outcomes.size());
	CHECK_TRUE(outcomes[0].accepted());
	CHECK_TRUE(outcomes[0].result != CallResult::LocalError);

	CHECK_EQUAL(1u, provisioning->calls.size());
	const ProvisioningDouble::Call &call = provisioning->calls[0];
	STRCMP_EQUAL("Resync", call.method.c_str());
	CHECK_EQUAL(2u, call.identity);
	STRCMP_EQUAL("[::1]:5062", call.remote.c_str());
	CHECK_TRUE(call.authenticated);
	STRCMP_EQUAL("a84b4c76e66710@pbx.example", call.callId.c_str());
	STRCMP_EQUAL("check-sync", call.event.c_str());
	STRCMP_EQUAL("PBX/1.0 (\xc3\xa9t\xc3\xa9)", call.userAgent.c_str());
}

TEST(ProvisioningClient, eachActionHasItsOwnCallInFlight)
{
	provisioning->answer = ProvisioningDouble::Answer::Hold;
	CHECK_FALSE(client->submit(Action::Resync, details(), record()).has_value());
	CHECK_FALSE(client->submit(Action::Reboot, details(), record()).has_value());
	CHECK_TRUE(stepUntil(loop, [&] { return provisioning->held() == 2; }));
	STRCMP_EQUAL("Resync", provisioning->calls[0].method.c_str());
	STRCMP_EQUAL("Reboot", provisioning->calls[1].method.c_str());
	CHECK_TRUE(outcomes.empty());

	provisioning->answerHeld(ProvisioningDouble::Reply::Success);
	CHECK_TRUE(stepUntil(loop, [&] { return outcomes.size() == 2; }));
	CHECK_TRUE(outcomes[0].accepted());
	CHECK_TRUE(outcomes[1].accepted());
}

TEST(ProvisioningClient, everyActionCallsItsOwnMethodBehindItsOwnGate)
{
	provisioning->answer = ProvisioningDouble::Answer::Hold;
	for (Action action : kActions)
		CHECK_FALSE(client->submit(action, details(), record()).has_value());
	// All six in flight at once: no gate holds another's call back.
	CHECK_TRUE(stepUntil(loop, [&] { return provisioning->held() == std::size(kActions); }));
	for (std::size_t i = 0; i < std::size(kActions); ++i) {
		const ProvisioningDouble::Call &call = provisioning->calls[i];
		STRCMP_EQUAL(std::string(actionName(kActions[i])).c_str(), call.method.c_str());
		CHECK_EQUAL(2u, call.identity);
		STRCMP_EQUAL("a84b4c76e66710@pbx.example", call.callId.c_str());
		CHECK_FALSE(call.kind.has_value());
	}
	// A second FactoryReset joins its own call in flight.
	CHECK_FALSE(client->submit(Action::FactoryReset, details(), record()).has_value());
	CHECK_TRUE(stepPast(loop, 20));
	CHECK_EQUAL(std::size(kActions), provisioning->calls.size());
	provisioning->answerHeld(ProvisioningDouble::Reply::Success);
	CHECK_TRUE(stepUntil(loop, [&] { return outcomes.size() == std::size(kActions) + 1; }));
}

TEST(ProvisioningClient, aRebootCarriesItsKindWhenTheRequestNamedOne)
{
	CheckSyncFacts soft = facts();
	soft.rebootKind = RebootKind::Soft;
	CHECK_FALSE(client->submit(Action::Reboot, std::make_shared<const CheckSyncFacts>(soft),
				   record())
			    .has_value());
	CHECK_TRUE(stepUntil(loop, [&] { return outcomes.size() == 1; }));
	CheckSyncFacts hard = facts();
	hard.rebootKind = RebootKind::Hard;
	CHECK_FALSE(client->submit(Action::Resync, std::make_shared<const CheckSyncFacts>(hard),
				   record())
			    .has_value());
	CHECK_TRUE(stepUntil(loop, [&] { return outcomes.size() == 2; }));
	LONGS_EQUAL(2, provisioning->calls.size());
	STRCMP_EQUAL("Reboot", provisioning->calls[0].method.c_str());
	STRCMP_EQUAL("soft", provisioning->calls[0].kind.value_or("(none)").c_str());
	// The six keys are still all there.
	STRCMP_EQUAL("[::1]:5062", provisioning->calls[0].remote.c_str());
	STRCMP_EQUAL("PBX/1.0 (\xc3\xa9t\xc3\xa9)", provisioning->calls[0].userAgent.c_str());
	CHECK_TRUE(provisioning->calls[0].authenticated);
	// The client passes on what it is given; the guard names a kind for
	// Reboots only (checksync.cpp, decideRebootKind()).
	STRCMP_EQUAL("hard", provisioning->calls[1].kind.value_or("(none)").c_str());
}

TEST(ProvisioningClient, requestsWhileACallIsInFlightWaitForItsOutcome)
{
	provisioning->answer = ProvisioningDouble::Answer::Hold;
	for (int i = 0; i < 3; i++)
		CHECK_FALSE(client->submit(Action::Resync, details(), record()).has_value());
	CHECK_TRUE(stepUntil(loop, [&] { return provisioning->held() == 1; }));
	CHECK_TRUE(stepPast(loop, 20));
	CHECK_EQUAL(1u, provisioning->calls.size()); // one call for the three

	provisioning->answerHeld(ProvisioningDouble::Reply::Success);
	CHECK_TRUE(stepUntil(loop, [&] { return outcomes.size() == 3; }));
	for (const CallOutcome &outcome : outcomes)
		CHECK_TRUE(outcome.accepted());
}

TEST(ProvisioningClient, anErrorAnswerIsAFailureOfProvisioning)
{
	provisioning->answer = ProvisioningDouble::Answer::Fail;
	CHECK_FALSE(client->submit(Action::Reboot, details(), record()).has_value());
	CHECK_TRUE(stepUntil(loop, [&] { return !outcomes.empty(); }));
	CHECK_FALSE(outcomes[0].accepted());
	CHECK_TRUE(outcomes[0].result != CallResult::LocalError);
	STRCMP_EQUAL(kFailed, outcomes[0].error.c_str());
	CHECK_TRUE(outcomes[0].busError());
	CHECK_EQUAL(kFailedRetryAfterMs, outcomes[0].retryAfterMs);

	// The client leaves the failure to the request it answers (which logs
	// one line with the error and its message).
	STRCMP_EQUAL("told to fail", outcomes[0].detail.c_str());

	// Right after a failure the answer is known at once: no new call.
	std::optional<CallOutcome> again = client->submit(Action::Reboot, details(), record());
	CHECK_TRUE(again.has_value());
	CHECK_FALSE(again->accepted());
	CHECK_TRUE(again->retryAfterMs > 0 && again->retryAfterMs <= kFailedRetryAfterMs);
	CHECK_TRUE(stepPast(loop, 20));
	CHECK_EQUAL(1u, provisioning->calls.size());
	CHECK_EQUAL(1u, outcomes.size());
}

TEST(ProvisioningClient, aFailureIsLoggedOnceByWhoeverHearsIt)
{
	logSetup(LogLevel::Warning, LogBackend::Stderr);
	StderrCapture log;

	// Heard by a request: the client logs nothing of it.
	provisioning->answer = ProvisioningDouble::Answer::Fail;
	CHECK_FALSE(client->submit(Action::Resync, details(), record()).has_value());
	CHECK_TRUE(stepUntil(loop, [&] { return outcomes.size() == 1; }));
	CHECK_FALSE(outcomes[0].accepted());
	CHECK_FALSE(log.contains("Resync"));

	// A trailing call nobody waits for (the request was answered 200 at
	// once on it): its failure is the client's to log, once.
	provisioning->answer = ProvisioningDouble::Answer::Accept;
	CHECK_FALSE(client->submit(Action::Reboot, details(), record()).has_value());
	CHECK_TRUE(stepUntil(loop, [&] { return outcomes.size() == 2; }));
	CHECK_TRUE(outcomes[1].accepted());
	provisioning->answer = ProvisioningDouble::Answer::Fail;
	std::optional<CallOutcome> promised = client->submit(Action::Reboot, details(), record());
	CHECK_TRUE(promised.has_value() && promised->accepted());
	CHECK_TRUE(stepUntil(
		loop, [&] { return provisioning->calls.size() == 3; }, kActionSpacingMs + 2000));
	CHECK_TRUE(stepUntil(loop, [&] { return log.contains("did not accept Reboot"); }));
	CHECK_TRUE(log.contains("warning: the provisioning process did not accept Reboot: " +
				std::string(kFailed) + " (told to fail)"));
	CHECK_EQUAL(2u, outcomes.size()); // no callback for the trailing call
	CHECK_FALSE(log.contains("Resync"));
}

TEST(ProvisioningClient, aCallSentFromATimerFailsAfterItsTimeout)
{
	// The action gate's trailing call is sent from a timer callback. Run
	// as the daemon runs, with the provisioning process hung and the
	// connection otherwise idle: only the client's own timer may end the
	// call.
	CHECK_TRUE(stepPast(loop, 50)); // the client's Hello and the like done with
	provisioning->hang();
	std::uint64_t sentMs = 0;
	std::uint64_t endedMs = 0;
	Timer trailing(loop);
	trailing.arm(1, [&] {
		sentMs = EventLoop::nowMs();
		(void)client->submit(Action::Resync, details(), [&](const CallOutcome &outcome) {
			endedMs = EventLoop::nowMs();
			outcomes.push_back(outcome);
			loop.stop();
		});
	});

	CHECK_TRUE(runFor(loop, kProvisioningTimeoutMs + 2000));
	CHECK_EQUAL(1u, outcomes.size());
	CHECK_FALSE(outcomes[0].accepted());
	CHECK_TRUE(outcomes[0].result != CallResult::LocalError);
	STRCMP_EQUAL(kNoReply, outcomes[0].error.c_str());
	CHECK_TRUE(outcomes[0].busError());
	CHECK_EQUAL(kFailedRetryAfterMs, outcomes[0].retryAfterMs);
	CHECK_TRUE(endedMs >= sentMs + kProvisioningTimeoutMs);
}

TEST(ProvisioningClient, eachCallInFlightHasItsOwnTimeout)
{
	// The second call's timeout is due after the first one's: it must be
	// followed once the first has timed out (from the bus timer).
	provisioning->hang();
	const std::uint64_t resyncSentMs = EventLoop::nowMs();
	CHECK_FALSE(client->submit(Action::Resync, details(), record()).has_value());
	CHECK_TRUE(stepPast(loop, 300));
	const std::uint64_t rebootSentMs = EventLoop::nowMs();
	CHECK_FALSE(client->submit(Action::Reboot, details(), record()).has_value());

	std::uint64_t endedMs[2] = {};
	CHECK_TRUE(stepUntil(
		loop,
		[&] {
			if (outcomes.size() == 1 && endedMs[0] == 0)
				endedMs[0] = EventLoop::nowMs();
			return outcomes.size() == 2;
		},
		kProvisioningTimeoutMs + 2000));
	endedMs[1] = EventLoop::nowMs();
	for (const CallOutcome &outcome : outcomes) {
		CHECK_FALSE(outcome.accepted());
		STRCMP_EQUAL(kNoReply, outcome.error.c_str());
	}
	CHECK_TRUE(endedMs[0] >= resyncSentMs + kProvisioningTimeoutMs);
	CHECK_TRUE(endedMs[1] >= rebootSentMs + kProvisioningTimeoutMs);
}

TEST(ProvisioningClient, aBusThatGoesAwayFailsTheCallInFlightOnce)
{
	provisioning->answer = ProvisioningDouble::Answer::Hold;
	CHECK_FALSE(client->submit(Action::Resync, details(), record()).has_value());
	CHECK_TRUE(stepUntil(loop, [&] { return provisioning->held() == 1; }));

	bus->stop();
	CHECK_TRUE(stepUntil(loop, [&] { return !outcomes.empty(); }));
	CHECK_TRUE(stepPast(loop, 50));
	CHECK_EQUAL(1u, outcomes.size());
	CHECK_FALSE(outcomes[0].accepted());
	CHECK_TRUE(outcomes[0].result != CallResult::LocalError); // 503, not 500
	CHECK_EQUAL(kFailedRetryAfterMs, outcomes[0].retryAfterMs);
	// sd-bus ends the calls in flight itself ("Connection terminated")
	// before it reports the disconnection.
	STRCMP_EQUAL(kNoReply, outcomes[0].error.c_str());

	// No bus to call on: the answer is known at once.
	std::optional<CallOutcome> next = client->submit(Action::Reboot, details(), record());
	CHECK_TRUE(next.has_value());
	CHECK_FALSE(next->accepted());
	CHECK_TRUE(next->result != CallResult::LocalError);
	STRCMP_EQUAL("not connected", next->error.c_str());
	CHECK_FALSE(next->busError()); // no D-Bus error name: the reason
	CHECK_TRUE(next->detail.find("cannot connect to the unix:path=") == 0);
}

TEST(ProvisioningClient, aCallAfterTheBusCameBackConnectsAgain)
{
	logSetup(LogLevel::Warning, LogBackend::Stderr);
	StderrCapture log;
	bus->stop();
	CHECK_TRUE(stepUntil(
		loop, [&] { return log.contains("lost the connection to the unix:path="); }));

	std::string error = bus->start();
	if (error.empty())
		error = provisioning->connect(bus->address());
	if (!error.empty())
		FAIL(error.c_str());
	CHECK_FALSE(client->submit(Action::Resync, details(), record()).has_value());
	CHECK_TRUE(stepUntil(loop, [&] { return !outcomes.empty(); }));
	CHECK_TRUE(outcomes[0].accepted());
	CHECK_EQUAL(1u, provisioning->calls.size());
}
