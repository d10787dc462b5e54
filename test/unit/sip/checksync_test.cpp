// SPDX-License-Identifier: MIT
//
// The answer table and the action rules (checksyncd(8), "SIP ANSWERS"), on
// Event headers parsed by sofia-sip.

#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>

#include <string>

#include "base/sofia.hpp"
#include "settings/settings_values.hpp"
#include "sip/checksync.hpp"

#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

TEST_GROUP(Checksync)
{
	SuHome home;
	Settings settings;

	void setup() override
	{
		Identity one;
		one.idx = 1;
		one.name = "340899";
		one.host = "ser.berlin.snom.com:5060";
		one.pass = "1234";
		settings.identities[1] = one;
	}

	EventInfo event(const char *text)
	{
		sip_event_t *o = sip_event_make(home.get(), text);
		CHECK_TRUE(o != nullptr);
		return classifyEvent(o);
	}

	Plan notify(const char *eventText, const char *user = "340899")
	{
		RequestFacts facts;
		facts.method = "NOTIFY";
		if (eventText)
			facts.event = event(eventText);
		facts.uriHasUser = user != nullptr;
		facts.uriUser = user ? user : "";
		return planRequest(&settings, facts);
	}
};

TEST(Checksync, classifiesCheckSyncInAnyCase)
{
	CHECK_EQUAL(EventInfo::Kind::Known, event("check-sync").kind);
	CHECK_EQUAL(EventPackage::CheckSync, event("check-sync").package);
	CHECK_EQUAL(EventInfo::Kind::Known, event("Check-Sync;reboot=false").kind);
	CHECK_EQUAL(EventPackage::CheckSync, event("Check-Sync;reboot=false").package);
	CHECK_EQUAL(EventPackage::CheckSync, event("CHECK-SYNC").package);
	CHECK_EQUAL(EventInfo::Kind::Other, event("presence").kind);
	CHECK_EQUAL(EventInfo::Kind::Other, event("check-sync-foo").kind);
	CHECK_EQUAL(EventInfo::Kind::Missing, classifyEvent(nullptr).kind);
}

TEST(Checksync, readsTheRebootParameter)
{
	CHECK_TRUE(event("check-sync;reboot=true").reboot.value());
	CHECK_FALSE(event("check-sync;reboot=false").reboot.value());
	CHECK_TRUE(event("check-sync;REBOOT=TRUE").reboot.value());
	CHECK_FALSE(event("check-sync").reboot.has_value());
	CHECK_FALSE(event("check-sync;id=5").badRebootValue);
	CHECK_TRUE(event("check-sync;reboot=maybe").badRebootValue);
	CHECK_TRUE(event("check-sync;reboot").badRebootValue);
}

TEST(Checksync, parsesTheCompactForm)
{
	const UniqueMsg msg(msg_create(sip_default_mclass(), 0));
	CHECK_TRUE(msg);
	sip_t *sip = sip_object(msg.get());
	CHECK_EQUAL(0, msg_header_add_str(msg.get(), nullptr, "o: check-sync;reboot=false\r\n"));
	CHECK_TRUE(sip->sip_event != nullptr);
	EventInfo info = classifyEvent(sip->sip_event);
	CHECK_EQUAL(EventInfo::Kind::Known, info.kind);
	CHECK_EQUAL(EventPackage::CheckSync, info.package);
	CHECK_FALSE(info.reboot.value());
}

TEST(Checksync, rebootFalseResyncsAndRebootTrueReboots)
{
	CHECK_EQUAL(Action::Resync, decideAction(settings, event("check-sync;reboot=false")));
	CHECK_EQUAL(Action::Reboot, decideAction(settings, event("check-sync;reboot=true")));
}

TEST(Checksync, aBareCheckSyncReboots)
{
	CHECK_EQUAL(Action::Reboot, decideAction(settings, event("check-sync")));
}

TEST(Checksync, checksyncActionOverridesTheNotify)
{
	settings.action = ForcedAction::Sync;
	CHECK_EQUAL(Action::Resync, decideAction(settings, event("check-sync;reboot=true")));
	CHECK_EQUAL(Action::Resync, decideAction(settings, event("check-sync")));
	settings.action = ForcedAction::Reboot;
	CHECK_EQUAL(Action::Reboot, decideAction(settings, event("check-sync;reboot=false")));
}

TEST(Checksync, challengeRebootChallengesOnlyReboots)
{
	settings.challengeReboot = true;
	CHECK_TRUE(needsChallenge(settings, Action::Reboot));
	CHECK_FALSE(needsChallenge(settings, Action::Resync));
	CHECK_EQUAL(Answer::Serve, notify("check-sync;reboot=false").answer);
	CHECK_EQUAL(Answer::Challenge, notify("check-sync;reboot=true").answer);
	settings.challengeChecksync = true;
	CHECK_EQUAL(Answer::Challenge, notify("check-sync;reboot=false").answer);
}

TEST(Checksync, servesAKnownUserWithoutChallenge)
{
	Plan plan = notify("check-sync;reboot=false");
	CHECK_EQUAL(Answer::Serve, plan.answer);
	CHECK_EQUAL(Action::Resync, plan.action);
	CHECK_TRUE(plan.identity != nullptr);
	LONGS_EQUAL(1, plan.identity->idx);
}

TEST(Checksync, answersOtherMethods)
{
	RequestFacts facts;
	facts.method = "OPTIONS";
	CHECK_EQUAL(Answer::Options, planRequest(&settings, facts).answer);
	facts.method = "MESSAGE";
	CHECK_EQUAL(Answer::MethodNotAllowed, planRequest(&settings, facts).answer);
	facts.method = "INVITE";
	CHECK_EQUAL(Answer::MethodNotAllowed, planRequest(&settings, facts).answer);
	facts.method = "ACK";
	CHECK_EQUAL(Answer::Ignore, planRequest(&settings, facts).answer);
	facts.method = "notify"; // methods are case-sensitive (RFC 3261 7.1)
	CHECK_EQUAL(Answer::MethodNotAllowed, planRequest(&settings, facts).answer);
}

TEST(Checksync, refusesMissingOtherAndMalformedEvents)
{
	CHECK_EQUAL(Answer::MissingEvent, notify(nullptr).answer);
	CHECK_EQUAL(Answer::BadEvent, notify("presence").answer);
	CHECK_EQUAL(Answer::BadRebootValue, notify("check-sync;reboot=yes").answer);
}

TEST(Checksync, answers503WhileNoSettingsAreLoaded)
{
	RequestFacts facts;
	facts.method = "NOTIFY";
	facts.event = event("check-sync");
	CHECK_EQUAL(Answer::NoSettings, planRequest(nullptr, facts).answer);
	// Event checks still come first.
	facts.event = event("presence");
	CHECK_EQUAL(Answer::BadEvent, planRequest(nullptr, facts).answer);
}

TEST(Checksync, unknownUserIs404WithoutChallengeAndAChallengeWithIt)
{
	Plan plan = notify("check-sync;reboot=false", "999");
	CHECK_EQUAL(Answer::NotFound, plan.answer);
	settings.challengeChecksync = true;
	plan = notify("check-sync;reboot=false", "999");
	CHECK_EQUAL(Answer::Challenge, plan.answer);
	CHECK_TRUE(plan.identity == nullptr);
}

TEST(Checksync, inactiveIdentityIsIgnored)
{
	settings.identities[1].active = false;
	CHECK_EQUAL(Answer::NotFound, notify("check-sync;reboot=false").answer);
}

TEST(Checksync, noUserPartMeansTheLowestActiveIdx)
{
	Identity five;
	five.idx = 5;
	five.name = "five";
	settings.identities[5] = five;
	settings.identities[1].active = false;
	Plan plan = notify("check-sync;reboot=false", nullptr);
	CHECK_EQUAL(Answer::Serve, plan.answer);
	LONGS_EQUAL(5, plan.identity->idx);
}

TEST(Checksync, noUserPartAndNoIdentityServesIdentityZero)
{
	settings.identities.clear();
	Plan plan = notify("check-sync;reboot=false", nullptr);
	CHECK_EQUAL(Answer::Serve, plan.answer);
	CHECK_TRUE(plan.identity == nullptr);
}

TEST(Checksync, headerValueEncodesLongEventHeadersWhole)
{
	// Debian's sip_header_as_string() leaves values this long unterminated.
	std::string text = "check-sync;reboot=false;x=" + std::string(300, 'a');
	sip_event_t *o = sip_event_make(home.get(), text.c_str());
	CHECK_TRUE(o != nullptr);
	STRCMP_EQUAL(text.c_str(), headerValue(reinterpret_cast<sip_header_t *>(o)).c_str());
	STRCMP_EQUAL("", headerValue(nullptr).c_str());
}

// Other dialects (checksync_events)

namespace {

// Every dialect with the Event header a real sender puts on the wire for it
// and the action it asks for when nothing overrides it.
struct Dialect {
	const char *header;
	EventPackage package;
	Action action;
};

const Dialect kDialects[] = {
	{"check-sync", EventPackage::CheckSync, Action::Reboot},
	{"check-sync;reboot=false", EventPackage::CheckSync, Action::Resync},
	{"check-sync;reboot=true", EventPackage::CheckSync, Action::Reboot},
	{"resync", EventPackage::Resync, Action::Resync},
	{"resync;reboot=false", EventPackage::Resync, Action::Resync},
	{"resync;reboot=true", EventPackage::Resync, Action::Reboot},
	{"reboot", EventPackage::Reboot, Action::Reboot},
	{"reboot_now", EventPackage::RebootNow, Action::Reboot},
	{"restart_now", EventPackage::RestartNow, Action::Reboot},
	{"report", EventPackage::Report, Action::Report},
};

EventPackageSet allPackages()
{
	EventPackageSet set;
	for (EventPackage package : kEventPackages)
		set.insert(package);
	return set;
}

} // namespace

TEST(Checksync, classifiesEveryDialectInAnyCase)
{
	for (const Dialect &d : kDialects) {
		EventInfo info = event(d.header);
		CHECK_TRUE_TEXT(info.kind == EventInfo::Kind::Known, d.header);
		CHECK_TRUE_TEXT(info.package == d.package, d.header);
	}
	CHECK_EQUAL(EventPackage::Resync, event("RESYNC").package);
	CHECK_EQUAL(EventPackage::Reboot, event("Reboot").package);
	CHECK_EQUAL(EventPackage::RebootNow, event("Reboot_Now").package);
	CHECK_EQUAL(EventPackage::RestartNow, event("RESTART_NOW;id=1").package);
	CHECK_EQUAL(EventInfo::Kind::Other, event("reboot-now").kind);
	CHECK_EQUAL(EventInfo::Kind::Other, event("restart").kind);
	CHECK_EQUAL(EventInfo::Kind::Other, event("resync2").kind);
	CHECK_EQUAL(EventPackage::Report, event("Report").package);
	CHECK_EQUAL(EventPackage::ServiceControl, event("SERVICE-CONTROL").package);
	CHECK_EQUAL(EventInfo::Kind::Other, event("get-report").kind);
	CHECK_EQUAL(EventInfo::Kind::Other, event("service_control").kind);
}

TEST(Checksync, resyncReadsTheRebootParameterLikeCheckSync)
{
	CHECK_TRUE(event("resync;reboot=true").reboot.value());
	CHECK_FALSE(event("resync;Reboot=FALSE").reboot.value());
	CHECK_FALSE(event("resync").reboot.has_value());
	CHECK_TRUE(event("resync;reboot=maybe").badRebootValue);
	CHECK_TRUE(event("resync;reboot").badRebootValue);
}

TEST(Checksync, packagesThatAreARebootByNameIgnoreTheRebootParameter)
{
	for (const char *header :
	     {"reboot;reboot=false", "reboot_now;reboot=maybe", "restart_now;reboot"}) {
		EventInfo info = event(header);
		CHECK_TRUE_TEXT(info.kind == EventInfo::Kind::Known, header);
		CHECK_FALSE_TEXT(info.reboot.has_value(), header);
		CHECK_FALSE_TEXT(info.badRebootValue, header);
		CHECK_TRUE_TEXT(decideAction(settings, info) == Action::Reboot, header);
	}
}

TEST(Checksync, parsesTheCompactFormOfEveryDialect)
{
	for (const Dialect &d : kDialects) {
		const UniqueMsg msg(msg_create(sip_default_mclass(), 0));
		CHECK_TRUE(msg);
		std::string line = std::string("o: ") + d.header + "\r\n";
		CHECK_EQUAL(0, msg_header_add_str(msg.get(), nullptr, line.c_str()));
		EventInfo info = classifyEvent(sip_object(msg.get())->sip_event);
		CHECK_TRUE_TEXT(info.kind == EventInfo::Kind::Known, d.header);
		CHECK_TRUE_TEXT(info.package == d.package, d.header);
		CHECK_TRUE_TEXT(decideAction(settings, info) == d.action, d.header);
	}
}

TEST(Checksync, eachDialectAsksForItsAction)
{
	for (const Dialect &d : kDialects)
		CHECK_TRUE_TEXT(decideAction(settings, event(d.header)) == d.action, d.header);
}

TEST(Checksync, checksyncActionOverridesEveryDialect)
{
	settings.action = ForcedAction::Sync;
	for (const Dialect &d : kDialects)
		CHECK_TRUE_TEXT(decideAction(settings, event(d.header)) == Action::Resync,
				d.header);
	settings.action = ForcedAction::Reboot;
	for (const Dialect &d : kDialects)
		CHECK_TRUE_TEXT(decideAction(settings, event(d.header)) == Action::Reboot,
				d.header);
}

TEST(Checksync, onlyCheckSyncIsHonouredByDefault)
{
	for (const Dialect &d : kDialects) {
		Plan plan = notify(d.header);
		Answer expected = d.package == EventPackage::CheckSync ? Answer::Serve
								       : Answer::BadEvent;
		CHECK_TRUE_TEXT(plan.answer == expected, d.header);
	}
}

TEST(Checksync, everyEnabledDialectIsServedWithItsAction)
{
	settings.events = allPackages();
	for (const Dialect &d : kDialects) {
		Plan plan = notify(d.header);
		CHECK_TRUE_TEXT(plan.answer == Answer::Serve, d.header);
		CHECK_TRUE_TEXT(plan.action == d.action, d.header);
		CHECK_TRUE_TEXT(plan.identity == &settings.identities[1], d.header);
	}
}

TEST(Checksync, aDialectLeftOutOfChecksyncEventsGets489)
{
	for (EventPackage only : kEventPackages) {
		settings.events = EventPackageSet{only};
		for (const Dialect &d : kDialects) {
			Answer answer = notify(d.header).answer;
			Answer expected = d.package == only ? Answer::Serve : Answer::BadEvent;
			CHECK_TRUE_TEXT(answer == expected, d.header);
		}
	}
}

TEST(Checksync, aDisabledDialectGets489BeforeItsRebootValueIsJudged)
{
	CHECK_EQUAL(Answer::BadEvent, notify("resync;reboot=maybe").answer);
	settings.events = EventPackageSet{EventPackage::Resync};
	CHECK_EQUAL(Answer::BadRebootValue, notify("resync;reboot=maybe").answer);
	CHECK_EQUAL(Answer::BadEvent, notify("check-sync;reboot=maybe").answer);
}

TEST(Checksync, challengeRebootChallengesEveryDialectThatReboots)
{
	settings.events = allPackages();
	settings.challengeReboot = true;
	for (const Dialect &d : kDialects) {
		Answer expected = d.action == Action::Reboot ? Answer::Challenge : Answer::Serve;
		CHECK_TRUE_TEXT(notify(d.header).answer == expected, d.header);
	}
}

TEST(Checksync, challengeChecksyncChallengesEveryDialect)
{
	settings.events = allPackages();
	settings.challengeChecksync = true;
	for (const Dialect &d : kDialects) {
		Plan plan = notify(d.header);
		CHECK_TRUE_TEXT(plan.answer == Answer::Challenge, d.header);
		CHECK_TRUE_TEXT(plan.action == d.action, d.header);
	}
	// Still only the enabled ones: a disabled dialect is never challenged.
	settings.events = EventPackageSet{EventPackage::CheckSync};
	CHECK_EQUAL(Answer::BadEvent, notify("reboot_now").answer);
}

TEST(Checksync, checksyncActionDecidesWhatChallengeRebootSees)
{
	settings.events = allPackages();
	settings.challengeReboot = true;
	// Forced to resync: a reboot_now resyncs and is not challenged.
	settings.action = ForcedAction::Sync;
	for (const Dialect &d : kDialects) {
		Plan plan = notify(d.header);
		CHECK_TRUE_TEXT(plan.answer == Answer::Serve, d.header);
		CHECK_TRUE_TEXT(plan.action == Action::Resync, d.header);
	}
	// Forced to reboot: a plain resync reboots and is challenged.
	settings.action = ForcedAction::Reboot;
	for (const Dialect &d : kDialects) {
		Plan plan = notify(d.header);
		CHECK_TRUE_TEXT(plan.answer == Answer::Challenge, d.header);
		CHECK_TRUE_TEXT(plan.action == Action::Reboot, d.header);
	}
}

TEST(Checksync, withoutSettingsOnlyCheckSyncWaitsForThem)
{
	RequestFacts facts;
	facts.method = "NOTIFY";
	for (const Dialect &d : kDialects) {
		facts.event = event(d.header);
		Answer expected = d.package == EventPackage::CheckSync ? Answer::NoSettings
								       : Answer::BadEvent;
		CHECK_TRUE_TEXT(planRequest(nullptr, facts).answer == expected, d.header);
	}
}

TEST(Checksync, allowEventsNamesExactlyTheEnabledPackagesInCanonicalOrder)
{
	STRCMP_EQUAL("check-sync", allowEvents(nullptr).c_str());
	STRCMP_EQUAL("check-sync", allowEvents(&settings).c_str());
	settings.events = EventPackageSet{EventPackage::RestartNow, EventPackage::Resync};
	STRCMP_EQUAL("resync, restart_now", allowEvents(&settings).c_str());
	settings.events = allPackages();
	STRCMP_EQUAL("check-sync, resync, reboot, reboot_now, restart_now, service-control, report",
		     allowEvents(&settings).c_str());
}

TEST(Checksync, allowEventsAndThe489AgreeForEverySingleDialect)
{
	// What Allow-Events names is served; what it leaves out gets 489.
	for (EventPackage only : kEventPackages) {
		settings.events = EventPackageSet{only};
		std::string allowed = allowEvents(&settings);
		for (EventPackage package : kEventPackages) {
			std::string name(eventPackageName(package));
			bool listed = allowed == name;
			Answer answer = notify(name.c_str()).answer;
			CHECK_TRUE_TEXT(listed == (answer != Answer::BadEvent), name.c_str());
		}
	}
}

// Cisco service-control, through sofia-sip's parser

namespace {

// The NOTIFY of Asterisk's res_pjsip_cisco_service_control (From without a
// user part, Event and Subscription-State: active, a text/plain body of
// CRLF lines), with `body` and `type` as given.
std::string serviceControlRequest(const std::string &body, const char *type = "text/plain")
{
	std::string text = "NOTIFY sip:340899@192.0.2.9:5060 SIP/2.0\r\n"
			   "Via: SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bKPj1\r\n"
			   "From: <sip:192.0.2.1>;tag=t1\r\n"
			   "To: <sip:340899@192.0.2.9>\r\n"
			   "Call-ID: c1\r\n"
			   "CSeq: 1 NOTIFY\r\n"
			   "Event: service-control\r\n"
			   "Subscription-State: active\r\n";
	if (type)
		text += std::string("Content-Type: ") + type + "\r\n";
	text += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
	return text;
}

std::string ciscoBody(const char *action)
{
	std::string body = std::string("action=") + action +
			   "\r\nRegisterCallId={r1@192.0.2.9}\r\n";
	if (std::string(action) != "prt-report")
		body += "ConfigVersionStamp={00000000-0000-0000-0000-000000000000}\r\n"
			"DialplanVersionStamp={00000000-0000-0000-0000-000000000000}\r\n"
			"SoftkeyVersionStamp={00000000-0000-0000-0000-000000000000}\r\n";
	return body;
}

} // namespace

TEST_GROUP_BASE(ChecksyncServiceControl, TEST_GROUP_CppUTestGroupChecksync)
{
	UniqueMsg msg;

	RequestFacts facts(const std::string &text)
	{
		msg = parseDatagram(text, 8192);
		CHECK_TRUE(msg);
		const sip_t *sip = sip_object(msg.get());
		CHECK_TRUE(sip && sip->sip_request);
		return requestFactsOf(sip);
	}
};

TEST(ChecksyncServiceControl, eachActionAsksForItsMethodAndRebootsSayWhich)
{
	settings.events = EventPackageSet{EventPackage::ServiceControl};
	const struct {
		const char *action;
		Action method;
		RebootKind kind;
	} cases[] = {
		{"restart", Action::Reboot, RebootKind::Soft},
		{"reset", Action::Reboot, RebootKind::Hard},
		{"check-version", Action::Resync, RebootKind::Unspecified},
		{"prt-report", Action::Report, RebootKind::Unspecified},
	};
	for (const auto &c : cases) {
		const RequestFacts f = facts(serviceControlRequest(ciscoBody(c.action)));
		CHECK_TRUE_TEXT(f.event.package == EventPackage::ServiceControl, c.action);
		CHECK_TRUE_TEXT(f.event.serviceControl.problem == BodyProblem::None, c.action);
		STRCMP_EQUAL("r1@192.0.2.9",
			     std::string(*f.event.serviceControl.registerCallId).c_str());
		const Plan plan = planRequest(&settings, f);
		CHECK_TRUE_TEXT(plan.answer == Answer::Serve, c.action);
		CHECK_TRUE_TEXT(plan.action == c.method, c.action);
		CHECK_TRUE_TEXT(plan.rebootKind == c.kind, c.action);
	}
	STRCMP_EQUAL("soft", std::string(rebootKindName(RebootKind::Soft)).c_str());
	STRCMP_EQUAL("hard", std::string(rebootKindName(RebootKind::Hard)).c_str());
	STRCMP_EQUAL("", std::string(rebootKindName(RebootKind::Unspecified)).c_str());
}

TEST(ChecksyncServiceControl, aBadBodyIsRefusedOnlyWhenTheDialectIsEnabled)
{
	const std::string unknown = serviceControlRequest("action=shutdown\r\n");
	CHECK_EQUAL(Answer::BadEvent, planRequest(&settings, facts(unknown)).answer);
	settings.events = EventPackageSet{EventPackage::ServiceControl};
	const Plan plan = planRequest(&settings, facts(unknown));
	CHECK_EQUAL(Answer::BadBody, plan.answer);
	CHECK_EQUAL(BodyProblem::UnknownAction, facts(unknown).event.serviceControl.problem);
	// Whatever checksync_action forces: the request itself is wrong.
	settings.action = ForcedAction::Sync;
	CHECK_EQUAL(Answer::BadBody, planRequest(&settings, facts(unknown)).answer);
	// And before the settings are looked at.
	CHECK_EQUAL(BodyProblem::NotTextPlain,
		    facts(serviceControlRequest(ciscoBody("reset"), "text/html"))
			    .event.serviceControl.problem);
	CHECK_EQUAL(BodyProblem::MissingAction,
		    facts(serviceControlRequest("", nullptr)).event.serviceControl.problem);
}

TEST(ChecksyncServiceControl, theBodyIsReadOnlyForServiceControl)
{
	settings.events = allPackages();
	std::string text = serviceControlRequest("action=restart\r\n");
	text.replace(text.find("service-control"), 15, "check-sync;reboot=false");
	const RequestFacts f = facts(text);
	CHECK_EQUAL(EventPackage::CheckSync, f.event.package);
	CHECK_EQUAL(Action::Resync, planRequest(&settings, f).action);
	CHECK_EQUAL(RebootKind::Unspecified, planRequest(&settings, f).rebootKind);
}

TEST(ChecksyncServiceControl, challengeRebootChallengesRestartAndResetOnly)
{
	settings.events = EventPackageSet{EventPackage::ServiceControl};
	settings.challengeReboot = true;
	for (const char *action : {"restart", "reset"})
		CHECK_TRUE_TEXT(
			planRequest(&settings, facts(serviceControlRequest(ciscoBody(action))))
					.answer == Answer::Challenge,
			action);
	for (const char *action : {"check-version", "prt-report"})
		CHECK_TRUE_TEXT(
			planRequest(&settings, facts(serviceControlRequest(ciscoBody(action))))
					.answer == Answer::Serve,
			action);
}

TEST(ChecksyncServiceControl, aForcedActionTakesTheKindAwayToo)
{
	settings.events = EventPackageSet{EventPackage::ServiceControl};
	settings.action = ForcedAction::Reboot;
	const Plan plan = planRequest(&settings,
				      facts(serviceControlRequest(ciscoBody("restart"))));
	CHECK_EQUAL(Action::Reboot, plan.action);
	CHECK_EQUAL(RebootKind::Unspecified, plan.rebootKind);
}

// Snom's checksync_action values and what destroys data

TEST(Checksync, everyChecksyncActionValueForcesItsMethodForEveryDialect)
{
	settings.events = allPackages();
	const struct {
		const char *value;
		Action action;
	} cases[] = {
		{"sync", Action::Resync},
		{"reboot", Action::Reboot},
		{"reregister", Action::Reregister},
		{"delete-contacts", Action::DeleteContacts},
		{"factory-reset", Action::FactoryReset},
	};
	for (const auto &c : cases) {
		const std::optional<ForcedAction> forced = choose(kActionChoices, c.value);
		CHECK_TRUE_TEXT(forced.has_value(), c.value);
		settings.action = *forced;
		for (const Dialect &d : kDialects) {
			CHECK_TRUE_TEXT(decideAction(settings, event(d.header)) == c.action,
					d.header);
			CHECK_TRUE_TEXT(decideRebootKind(settings, event(d.header)) ==
						RebootKind::Unspecified,
					d.header);
		}
	}
	STRCMP_EQUAL("Reregister", std::string(actionName(Action::Reregister)).c_str());
	STRCMP_EQUAL("DeleteContacts", std::string(actionName(Action::DeleteContacts)).c_str());
	STRCMP_EQUAL("FactoryReset", std::string(actionName(Action::FactoryReset)).c_str());
	STRCMP_EQUAL("Report", std::string(actionName(Action::Report)).c_str());
}

TEST(Checksync, onlyFactoryResetAndDeleteContactsDestroyData)
{
	for (Action action : kActions) {
		const bool destroys = action == Action::FactoryReset ||
				      action == Action::DeleteContacts;
		CHECK_TRUE_TEXT(destroysData(action) == destroys,
				std::string(actionName(action)).c_str());
	}
}

TEST(Checksync, whatDestroysDataIsChallengedEvenWithBothChallengesOff)
{
	settings.events = allPackages();
	for (ForcedAction forced : {ForcedAction::FactoryReset, ForcedAction::DeleteContacts}) {
		settings.action = forced;
		for (const Dialect &d : kDialects) {
			const Plan plan = notify(d.header);
			CHECK_TRUE_TEXT(plan.answer == Answer::Challenge, d.header);
			CHECK_TRUE_TEXT(plan.identity == &settings.identities[1], d.header);
		}
		// Without a user part too.
		CHECK_EQUAL(Answer::Challenge, notify("check-sync", nullptr).answer);
	}
	// Reregister destroys nothing: challenge_reboot does not see it either.
	settings.action = ForcedAction::Reregister;
	settings.challengeReboot = true;
	CHECK_EQUAL(Answer::Serve, notify("check-sync").answer);
	CHECK_EQUAL(Action::Reregister, notify("check-sync").action);
}

TEST(Checksync, whatDestroysDataIsRefusedWhereNoPasswordCanAnswer)
{
	settings.action = ForcedAction::FactoryReset;
	settings.identities[1].pass.clear();
	Plan plan = notify("check-sync");
	CHECK_EQUAL(Answer::NoPassword, plan.answer);
	CHECK_EQUAL(Action::FactoryReset, plan.action);
	CHECK_EQUAL(Answer::NoPassword, notify("check-sync", nullptr).answer);
	// With challenge_checksync on just the same.
	settings.challengeChecksync = true;
	CHECK_EQUAL(Answer::NoPassword, notify("check-sync").answer);
	// An unknown user gets the 401 every user gets: no account enumeration.
	CHECK_EQUAL(Answer::Challenge, notify("check-sync", "nobody").answer);
	// An HA1 is a password to answer with.
	settings.identities[1].hash = "5b9e4bcc5a0e3bb0d4ed3b4a22ad8b68";
	CHECK_EQUAL(Answer::Challenge, notify("check-sync").answer);
	// Without one, the others are never asked for it.
	settings.identities[1].hash.clear();
	settings.action = ForcedAction::Sync;
	settings.challengeChecksync = false;
	CHECK_EQUAL(Answer::Serve, notify("check-sync").answer);
}

TEST(Checksync, anyIdentityTheRequestCanBeForMayCarryThePassword)
{
	// Two PBXs, the same user name: the answer's realm picks the identity,
	// so the one with a password may answer for the user.
	settings.action = ForcedAction::DeleteContacts;
	settings.identities[1].pass.clear();
	Identity two;
	two.idx = 2;
	two.name = "340899";
	two.host = "pbx.example.net";
	two.pass = "secret";
	settings.identities[2] = two;
	RequestFacts facts;
	facts.method = "NOTIFY";
	facts.uriHasUser = true;
	facts.uriUser = "340899";
	CHECK_TRUE(mayAuthenticate(settings, facts));
	CHECK_EQUAL(Answer::Challenge, notify("check-sync").answer);
	// An inactive one does not count, nor one of another user name.
	settings.identities[2].active = false;
	CHECK_FALSE(mayAuthenticate(settings, facts));
	CHECK_EQUAL(Answer::NoPassword, notify("check-sync").answer);
	settings.identities[2].active = true;
	settings.identities[2].name = "77";
	CHECK_FALSE(mayAuthenticate(settings, facts));
	// Without a user part any active identity may answer.
	facts.uriHasUser = false;
	facts.uriUser = "";
	CHECK_TRUE(mayAuthenticate(settings, facts));
	CHECK_EQUAL(Answer::Challenge, notify("check-sync", nullptr).answer);
}
