// SPDX-License-Identifier: MIT

#include <string>
#include <vector>

#include "status/status.hpp"

#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

namespace {

std::string names(const std::vector<Property> &properties)
{
	std::string out;
	for (Property property : properties) {
		if (!out.empty())
			out += ",";
		out += propertyName(property);
	}
	return out;
}

CheckSyncReport servedReport()
{
	CheckSyncReport report;
	report.remote = "tls:192.0.2.1:5061";
	report.transport = "tls";
	report.handedOver = true;
	report.callId = "1234@192.168.137.1";
	report.event = "check-sync;reboot=false";
	report.action = "Resync";
	report.identity = 1;
	report.authenticated = true;
	report.sipStatus = 200;
	report.provisioning = Provisioning::Accepted;
	return report;
}

} // namespace

TEST_GROUP(ChangeTracker)
{
	ChangeTracker tracker;
};

TEST(ChangeTracker, nothingIsDueWhileNothingChanged)
{
	CHECK_FALSE(tracker.pending());
	CHECK_FALSE(tracker.dueAt(1000).has_value());
	CHECK_TRUE(tracker.take(1000).empty());
}

TEST(ChangeTracker, theFirstChangeAfterAQuietSpellIsDueAtOnce)
{
	tracker.mark(Property::Counters);
	CHECK_EQUAL(1000u, tracker.dueAt(1000).value());
}

TEST(ChangeTracker, changesSoonAfterASignalWaitForTheEndOfTheInterval)
{
	tracker.mark(Property::Counters);
	STRCMP_EQUAL("Counters", names(tracker.take(1000)).c_str());
	CHECK_FALSE(tracker.pending());
	tracker.mark(Property::Counters);
	CHECK_EQUAL(1000u + ChangeTracker::kMinIntervalMs, tracker.dueAt(1010).value());
	// Later than one interval after the last signal: due at once.
	CHECK_EQUAL(2000u, tracker.dueAt(2000).value());
}

TEST(ChangeTracker, takeNamesEveryChangedPropertyOnceInAFixedOrder)
{
	tracker.mark(Property::LockedOut);
	tracker.mark(Property::Counters);
	tracker.mark(Property::State);
	tracker.mark(Property::Counters);
	STRCMP_EQUAL("State,Counters,LockedOut", names(tracker.take(0)).c_str());
	CHECK_TRUE(tracker.take(0).empty());
}

TEST(ChangeTracker, aFloodOfChangesGivesOneSignalPerInterval)
{
	// 10 000 changes, one every 0.3 ms over 3 s, each followed by the
	// timer the service would arm: count the signals.
	unsigned signals = 0;
	std::uint64_t timerAt = 0;
	bool armed = false;
	for (std::uint64_t i = 0; i < 10'000; i++) {
		std::uint64_t now = 5000 + i * 3 / 10;
		if (armed && now >= timerAt) {
			signals += tracker.take(timerAt).empty() ? 0 : 1;
			armed = false;
		}
		tracker.mark(Property::Counters);
		if (!armed) {
			timerAt = tracker.dueAt(now).value();
			armed = true;
		}
	}
	signals += tracker.take(timerAt).empty() ? 0 : 1;
	// 3 s / 250 ms = 12 intervals, plus the first signal at once.
	CHECK_TRUE(signals >= 12);
	CHECK_TRUE(signals <= 13);
}

TEST_GROUP(StatusModel)
{
	StatusModel model;
};

TEST(StatusModel, namesTheStatesAndPropertiesAsTheInterfaceDoes)
{
	STRCMP_EQUAL("serving", std::string(stateName(ServiceState::Serving)).c_str());
	STRCMP_EQUAL("no-settings", std::string(stateName(ServiceState::NoSettings)).c_str());
	STRCMP_EQUAL("stopping", std::string(stateName(ServiceState::Stopping)).c_str());
	STRCMP_EQUAL("SettingsError", std::string(propertyName(Property::SettingsError)).c_str());
	STRCMP_EQUAL("LastCheckSync", std::string(propertyName(Property::LastCheckSync)).c_str());
	STRCMP_EQUAL("not-asked", std::string(provisioningName(Provisioning::NotAsked)).c_str());
}

TEST(StatusModel, aSetterMarksItsPropertyOnlyWhenTheValueChanges)
{
	model.setState(ServiceState::Serving);
	model.setSettings("/etc/checksyncd/settings.xml", "");
	model.setListening({"sip:127.0.0.1:5060"});
	STRCMP_EQUAL("State,SettingsFile,Listening", names(model.changes().take(0)).c_str());

	model.setState(ServiceState::Serving);
	model.setSettings("/etc/checksyncd/settings.xml", "");
	model.setListening({"sip:127.0.0.1:5060"});
	CHECK_FALSE(model.changes().pending());

	model.setSettings("/etc/checksyncd/settings.xml", "settings.xml:7: bad value");
	STRCMP_EQUAL("SettingsError", names(model.changes().take(0)).c_str());
	STRCMP_EQUAL("settings.xml:7: bad value", model.settingsError().c_str());
}

TEST(StatusModel, plugAndPlayIsMarkedWhenItChangesAndKeptPrintable)
{
	STRCMP_EQUAL("PlugAndPlay", std::string(propertyName(Property::PlugAndPlay)).c_str());
	CHECK_EQUAL(PnpState::Idle, model.plugAndPlay().state);
	model.setPlugAndPlay(PnpState::Idle, "", "", 0);
	CHECK_FALSE(model.changes().pending());

	model.setPlugAndPlay(PnpState::RoundInProgress, "", "", 0);
	STRCMP_EQUAL("PlugAndPlay", names(model.changes().take(0)).c_str());
	model.setPlugAndPlay(PnpState::UrlHandedOver, "udp:192.0.2.10:5060",
			     "https://prov.example.com/{mac}.xml", 0);
	STRCMP_EQUAL("PlugAndPlay", names(model.changes().take(0)).c_str());
	STRCMP_EQUAL("udp:192.0.2.10:5060", model.plugAndPlay().lastServer.c_str());
	STRCMP_EQUAL("https://prov.example.com/{mac}.xml", model.plugAndPlay().lastUrl.c_str());
	model.setPlugAndPlay(PnpState::UrlHandedOver, "udp:192.0.2.10:5060",
			     "https://prov.example.com/{mac}.xml", 0);
	CHECK_FALSE(model.changes().pending());

	// A URL of the longest kind fits; what could break a line does not.
	const std::string longest = "https://h/" + std::string(kPnpMaxUrlBytes - 10, 'a');
	model.setPlugAndPlay(PnpState::UrlHandedOver, "udp:192.0.2.10:5060\n", longest, 0);
	STRCMP_EQUAL(longest.c_str(), model.plugAndPlay().lastUrl.c_str());
	STRCMP_EQUAL("udp:192.0.2.10:5060?", model.plugAndPlay().lastServer.c_str());
}

TEST(StatusModel, plugAndPlaysOffLinkDropsAreShownAndMarked)
{
	model.setPlugAndPlay(PnpState::RoundInProgress, "", "", 0);
	(void)model.changes().take(0);
	model.setPlugAndPlay(PnpState::RoundInProgress, "", "", 3);
	STRCMP_EQUAL("PlugAndPlay", names(model.changes().take(0)).c_str());
	CHECK_EQUAL(3u, model.plugAndPlay().droppedOffLink);
	model.setPlugAndPlay(PnpState::RoundInProgress, "", "", 3);
	CHECK_FALSE(model.changes().pending());
}

TEST(StatusModel, countsAnswersByKind)
{
	model.countReceived(Arrival::Port);
	model.countReceived(Arrival::HandedOver);
	model.countAnswer(401, AnswerTo::CheckSync);
	model.countAnswer(200, AnswerTo::CheckSync);
	model.countAnswer(403, AnswerTo::CheckSync);
	model.countAnswer(503, AnswerTo::CheckSync);
	model.countAnswer(489, AnswerTo::OtherRequest);
	model.countAnswer(200, AnswerTo::OtherRequest); // OPTIONS: none of these
	model.countAuthFailure();
	model.countDroppedByFilter();
	const Counters &c = model.counters();
	CHECK_EQUAL(2u, c.received);
	CHECK_EQUAL(1u, c.handedOver);
	CHECK_EQUAL(1u, c.challenged);
	CHECK_EQUAL(1u, c.served);
	CHECK_EQUAL(3u, c.refused);
	CHECK_EQUAL(1u, c.authFailures);
	CHECK_EQUAL(1u, c.droppedByFilter);
	STRCMP_EQUAL("Counters", names(model.changes().take(0)).c_str());
}

TEST(StatusModel, whatTheKernelDroppedCountsAsFilteredOrShed)
{
	model.countDroppedByFilter();
	model.countDroppedInKernel(0, 0);
	model.changes().take(0);
	model.countDroppedInKernel(0, 0);
	CHECK_FALSE(model.changes().pending());
	model.countDroppedInKernel(63, 5);
	const Counters &c = model.counters();
	CHECK_EQUAL(64u, c.droppedByFilter);
	CHECK_EQUAL(63u, c.droppedInKernel);
	CHECK_EQUAL(5u, c.shed);
	STRCMP_EQUAL("Counters", names(model.changes().take(0)).c_str());
}

TEST(StatusModel, anOptionsAnswerChangesNothing)
{
	model.countAnswer(200, AnswerTo::OtherRequest);
	CHECK_FALSE(model.changes().pending());
}

TEST(StatusModel, countersHaveStableKeys)
{
	Counters c;
	c.received = 1;
	c.served = 2;
	c.challenged = 3;
	c.authFailures = 4;
	c.refused = 5;
	c.lockedOut = 6;
	c.droppedByFilter = 7;
	c.handedOver = 8;
	c.droppedInKernel = 9;
	c.shed = 10;
	c.silenced = 11;
	auto entries = counterEntries(c);
	const char *keys[] = {
		"received",          "served",     "challenged",        "auth_failures",
		"refused",           "locked_out", "dropped_by_filter", "handed_over",
		"dropped_in_kernel", "shed",       "silenced"};
	CHECK_EQUAL(std::size(keys), entries.size());
	for (std::size_t i = 0; i < entries.size(); i++) {
		STRCMP_EQUAL(keys[i], std::string(entries[i].first).c_str());
		CHECK_EQUAL(i + 1, entries[i].second);
	}
}

TEST(StatusModel, recordsTheLastCheckSync)
{
	CHECK_FALSE(model.lastCheckSync().seen);
	model.checkSyncAnswered(servedReport(), 1'700'000'000'000'000);
	const LastCheckSync &last = model.lastCheckSync();
	CHECK_TRUE(last.seen);
	CHECK_EQUAL(1'700'000'000'000'000u, last.timeUs);
	STRCMP_EQUAL("tls:192.0.2.1:5061", last.remote.c_str());
	STRCMP_EQUAL("tls", last.transport.c_str());
	CHECK_TRUE(last.handedOver);
	STRCMP_EQUAL("1234@192.168.137.1", last.callId.c_str());
	STRCMP_EQUAL("check-sync;reboot=false", last.event.c_str());
	STRCMP_EQUAL("Resync", last.action.c_str());
	CHECK_EQUAL(1u, last.identity);
	CHECK_TRUE(last.authenticated);
	CHECK_EQUAL(200u, last.sipStatus);
	CHECK_EQUAL(Provisioning::Accepted, last.provisioning);
	CHECK_FALSE(last.result.has_value());
	STRCMP_EQUAL("LastCheckSync", names(model.changes().take(0)).c_str());
}

TEST(StatusModel, keepsNetworkTextPrintableAndBounded)
{
	std::string event = "check-sync;x=\x01\xff" + std::string(1000, 'e');
	CheckSyncReport report = servedReport();
	report.event = event;
	report.callId = "a\r\nInjected: header";
	model.checkSyncAnswered(report, 0);
	const LastCheckSync &last = model.lastCheckSync();
	CHECK_TRUE(last.event.size() <= StatusModel::kMaxTextBytes);
	STRCMP_EQUAL("check-sync;x=??eee", last.event.substr(0, 18).c_str());
	STRCMP_EQUAL("a??Injected: header", last.callId.c_str());
}

TEST(StatusModel, anActionResultForTheSameCallIdCompletesTheLastCheckSync)
{
	model.checkSyncAnswered(servedReport(), 1000);
	model.changes().take(0);
	CHECK_TRUE(model.actionFinished("1234@192.168.137.1", ActionOutcome::Failed,
					"download failed:\n404", 2000));
	const LastCheckSync &last = model.lastCheckSync();
	CHECK_TRUE(last.result.has_value());
	CHECK_FALSE(last.result->success);
	STRCMP_EQUAL("download failed:?404", last.result->message.c_str());
	CHECK_EQUAL(2000u, last.result->timeUs);
	STRCMP_EQUAL("LastCheckSync", names(model.changes().take(0)).c_str());
}

TEST(StatusModel, anActionResultForAnotherCallIdIsNotShown)
{
	// Nothing seen yet.
	CHECK_FALSE(model.actionFinished("1234@192.168.137.1", ActionOutcome::Succeeded, "", 0));
	model.checkSyncAnswered(servedReport(), 1000);
	model.changes().take(0);
	CHECK_FALSE(model.actionFinished("other@host", ActionOutcome::Succeeded, "done", 2000));
	CHECK_FALSE(model.lastCheckSync().result.has_value());
	CHECK_FALSE(model.changes().pending());
}

TEST(StatusModel, aNewCheckSyncClearsThePreviousResult)
{
	model.checkSyncAnswered(servedReport(), 1000);
	model.actionFinished("1234@192.168.137.1", ActionOutcome::Succeeded, "done", 2000);
	CheckSyncReport challenged = servedReport();
	challenged.sipStatus = 401;
	challenged.authenticated = false;
	challenged.provisioning = Provisioning::NotAsked;
	model.checkSyncAnswered(challenged, 3000);
	CHECK_FALSE(model.lastCheckSync().result.has_value());
	CHECK_EQUAL(401u, model.lastCheckSync().sipStatus);
}

TEST(StatusModel, lockoutsAreSortedAndCounted)
{
	model.setLockouts({{"192.0.2.9", 70'000}, {"192.0.2.1", 65'000}});
	LONGS_EQUAL(2, model.lockouts().size());
	STRCMP_EQUAL("192.0.2.1", model.lockouts()[0].source.c_str());
	CHECK_EQUAL(2u, model.counters().lockedOut);
	CHECK_EQUAL(65'000u, model.nextExpiryMs().value());
	STRCMP_EQUAL("Counters,LockedOut", names(model.changes().take(0)).c_str());
}

TEST(StatusModel, theSameLockoutsInAnotherOrderAreNoChange)
{
	model.setLockouts({{"192.0.2.9", 70'000}, {"192.0.2.1", 65'000}});
	model.changes().take(0);
	model.setLockouts({{"192.0.2.1", 65'000}, {"192.0.2.9", 70'000}});
	CHECK_FALSE(model.changes().pending());
}

TEST(StatusModel, anExpiredLockoutChangesTheListAndTheCount)
{
	model.setLockouts({{"192.0.2.9", 70'000}, {"192.0.2.1", 65'000}});
	model.changes().take(0);
	model.setLockouts({{"192.0.2.9", 70'000}});
	CHECK_EQUAL(1u, model.counters().lockedOut);
	STRCMP_EQUAL("Counters,LockedOut", names(model.changes().take(0)).c_str());
	model.setLockouts({});
	CHECK_FALSE(model.nextExpiryMs().has_value());
	CHECK_EQUAL(0u, model.counters().lockedOut);
}

TEST(StatusModel, convertsAMonotonicTimeToRealtimeMicroseconds)
{
	// 60 s from now, now being 1000 ms monotonic and 1.7e15 us realtime.
	CHECK_EQUAL(1'700'000'060'000'000u, realtimeUsOf(61'000, 1000, 1'700'000'000'000'000));
	CHECK_EQUAL(1'699'999'999'500'000u, realtimeUsOf(500, 1000, 1'700'000'000'000'000));
	CHECK_EQUAL(0u, realtimeUsOf(0, 5000, 1000));
}

TEST(StatusModel, unlockTakesASourceTheWayLockedOutWritesIt)
{
	// Unlock(s) is given what LockedOut shows, or any address of it.
	STRCMP_EQUAL("192.0.2.1", SourcePrefix::parse("192.0.2.1")->toString().c_str());
	STRCMP_EQUAL("192.0.2.1", SourcePrefix::parse("::ffff:192.0.2.1")->toString().c_str());
	STRCMP_EQUAL("2001:db8::/64", SourcePrefix::parse("2001:DB8:0::0001")->toString().c_str());
	STRCMP_EQUAL("2001:db8::/64", SourcePrefix::parse("2001:db8::/64")->toString().c_str());
	CHECK_FALSE(SourcePrefix::parse("").has_value());
	CHECK_FALSE(SourcePrefix::parse("pbx.example.com").has_value());
	CHECK_FALSE(SourcePrefix::parse("192.0.2.1:5060").has_value());
	CHECK_FALSE(SourcePrefix::parse(std::string(100, '1')).has_value());
}
