// SPDX-License-Identifier: MIT
//
// The answer table and action rules of DESIGN section 4, on Event headers
// parsed by sofia-sip.

#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>

#include <string>

#include "checksync.hpp"
#include "sofia.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

TEST_GROUP(Checksync)
{
	su_home_t home[1] = {};
	Settings settings;

	void setup() override
	{
		su_home_init(home);
		Identity one;
		one.idx = 1;
		one.name = "340899";
		one.host = "ser.berlin.snom.com:5060";
		one.pass = "1234";
		settings.identities[1] = one;
	}
	void teardown() override { su_home_deinit(home); }

	EventInfo event(const char *text)
	{
		sip_event_t *o = sip_event_make(home, text);
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
	CHECK(event("check-sync").kind == EventInfo::Kind::CheckSync);
	CHECK(event("Check-Sync;reboot=false").kind == EventInfo::Kind::CheckSync);
	CHECK(event("CHECK-SYNC").kind == EventInfo::Kind::CheckSync);
	CHECK(event("presence").kind == EventInfo::Kind::Other);
	CHECK(event("check-sync-foo").kind == EventInfo::Kind::Other);
	CHECK(classifyEvent(nullptr).kind == EventInfo::Kind::Missing);
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
	msg_t *msg = sip_default_mclass() ? msg_create(sip_default_mclass(), 0) : nullptr;
	CHECK_TRUE(msg != nullptr);
	sip_t *sip = sip_object(msg);
	CHECK_EQUAL(0, msg_header_add_str(msg, nullptr, "o: check-sync;reboot=false\r\n"));
	CHECK_TRUE(sip->sip_event != nullptr);
	EventInfo info = classifyEvent(sip->sip_event);
	CHECK(info.kind == EventInfo::Kind::CheckSync);
	CHECK_FALSE(info.reboot.value());
	msg_destroy(msg);
}

TEST(Checksync, rebootFalseResyncsAndRebootTrueReboots)
{
	CHECK(decideAction(settings, event("check-sync;reboot=false")) == Action::Resync);
	CHECK(decideAction(settings, event("check-sync;reboot=true")) == Action::Reboot);
}

TEST(Checksync, aBareCheckSyncReboots)
{
	CHECK(decideAction(settings, event("check-sync")) == Action::Reboot);
}

TEST(Checksync, checksyncActionOverridesTheNotify)
{
	settings.action = ForcedAction::Sync;
	CHECK(decideAction(settings, event("check-sync;reboot=true")) == Action::Resync);
	CHECK(decideAction(settings, event("check-sync")) == Action::Resync);
	settings.action = ForcedAction::Reboot;
	CHECK(decideAction(settings, event("check-sync;reboot=false")) == Action::Reboot);
}

TEST(Checksync, challengeRebootChallengesOnlyReboots)
{
	settings.challengeReboot = true;
	CHECK_TRUE(needsChallenge(settings, Action::Reboot));
	CHECK_FALSE(needsChallenge(settings, Action::Resync));
	CHECK(notify("check-sync;reboot=false").answer == Answer::Serve);
	CHECK(notify("check-sync;reboot=true").answer == Answer::Challenge);
	settings.challengeChecksync = true;
	CHECK(notify("check-sync;reboot=false").answer == Answer::Challenge);
}

TEST(Checksync, servesAKnownUserWithoutChallenge)
{
	Plan plan = notify("check-sync;reboot=false");
	CHECK(plan.answer == Answer::Serve);
	CHECK(plan.action == Action::Resync);
	CHECK_TRUE(plan.identity != nullptr);
	LONGS_EQUAL(1, plan.identity->idx);
}

TEST(Checksync, answersOtherMethods)
{
	RequestFacts facts;
	facts.method = "OPTIONS";
	CHECK(planRequest(&settings, facts).answer == Answer::Options);
	facts.method = "MESSAGE";
	CHECK(planRequest(&settings, facts).answer == Answer::MethodNotAllowed);
	facts.method = "INVITE";
	CHECK(planRequest(&settings, facts).answer == Answer::MethodNotAllowed);
	facts.method = "ACK";
	CHECK(planRequest(&settings, facts).answer == Answer::Ignore);
	facts.method = "notify"; // methods are case-sensitive (RFC 3261 7.1)
	CHECK(planRequest(&settings, facts).answer == Answer::MethodNotAllowed);
}

TEST(Checksync, refusesMissingOtherAndMalformedEvents)
{
	CHECK(notify(nullptr).answer == Answer::MissingEvent);
	CHECK(notify("presence").answer == Answer::BadEvent);
	CHECK(notify("check-sync;reboot=yes").answer == Answer::BadRebootValue);
}

TEST(Checksync, answers503WhileNoSettingsAreLoaded)
{
	RequestFacts facts;
	facts.method = "NOTIFY";
	facts.event = event("check-sync");
	CHECK(planRequest(nullptr, facts).answer == Answer::NoSettings);
	// Event checks still come first.
	facts.event = event("presence");
	CHECK(planRequest(nullptr, facts).answer == Answer::BadEvent);
}

TEST(Checksync, unknownUserIs404WithoutChallengeAndAChallengeWithIt)
{
	Plan plan = notify("check-sync;reboot=false", "999");
	CHECK(plan.answer == Answer::NotFound);
	settings.challengeChecksync = true;
	plan = notify("check-sync;reboot=false", "999");
	CHECK(plan.answer == Answer::Challenge);
	CHECK_TRUE(plan.identity == nullptr);
}

TEST(Checksync, inactiveIdentityIsIgnored)
{
	settings.identities[1].active = false;
	CHECK(notify("check-sync;reboot=false").answer == Answer::NotFound);
}

TEST(Checksync, noUserPartMeansTheLowestActiveIdx)
{
	Identity five;
	five.idx = 5;
	five.name = "five";
	settings.identities[5] = five;
	settings.identities[1].active = false;
	Plan plan = notify("check-sync;reboot=false", nullptr);
	CHECK(plan.answer == Answer::Serve);
	LONGS_EQUAL(5, plan.identity->idx);
}

TEST(Checksync, noUserPartAndNoIdentityServesIdentityZero)
{
	settings.identities.clear();
	Plan plan = notify("check-sync;reboot=false", nullptr);
	CHECK(plan.answer == Answer::Serve);
	CHECK_TRUE(plan.identity == nullptr);
}

TEST(Checksync, headerValueEncodesLongEventHeadersWhole)
{
	// Debian's sip_header_as_string() leaves values this long unterminated.
	std::string text = "check-sync;reboot=false;x=" + std::string(300, 'a');
	sip_event_t *o = sip_event_make(home, text.c_str());
	CHECK_TRUE(o != nullptr);
	STRCMP_EQUAL(text.c_str(), headerValue(reinterpret_cast<sip_header_t *>(o)).c_str());
	STRCMP_EQUAL("", headerValue(nullptr).c_str());
}
