// SPDX-License-Identifier: MIT

#include "provisioning/action_gate.hpp"

#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;
using Admit = ActionGate::Admit;

TEST_GROUP(ActionGate)
{
	ActionGate gate{5000};
};

TEST(ActionGate, firstRequestStartsACall)
{
	CHECK_EQUAL(Admit::StartCall, gate.request(1000));
	CHECK_TRUE(gate.inFlight());
}

TEST(ActionGate, requestsDuringACallJoinIt)
{
	CHECK_EQUAL(Admit::StartCall, gate.request(1000));
	CHECK_EQUAL(Admit::JoinInFlight, gate.request(1100));
	CHECK_EQUAL(Admit::JoinInFlight, gate.request(1200));
}

TEST(ActionGate, joinersOfASuccessfulCallAreCoveredByOneTrailingCall)
{
	gate.request(1000);
	gate.request(1100);
	gate.finished(1300, ActionGate::Outcome::Accepted);
	CHECK_TRUE(gate.trailingDueAt().has_value());
	LONGS_EQUAL(6000, *gate.trailingDueAt());
	CHECK_FALSE(gate.startTrailing(5999));
	CHECK_TRUE(gate.startTrailing(6000));
	CHECK_TRUE(gate.inFlight());
	CHECK_FALSE(gate.trailingDueAt().has_value());
	gate.finished(6100, ActionGate::Outcome::Accepted);
	CHECK_FALSE(gate.trailingDueAt().has_value());
}

TEST(ActionGate, joinersOfAFailedCallAreNotOwedATrailingCall)
{
	gate.request(1000);
	gate.request(1100);
	gate.finished(1300, ActionGate::Outcome::Failed);
	CHECK_FALSE(gate.trailingDueAt().has_value());
}

TEST(ActionGate, requestsInsideTheSpacingAreAcceptedAndShareOneTrailingCall)
{
	gate.request(1000);
	gate.finished(1100, ActionGate::Outcome::Accepted);
	CHECK_EQUAL(Admit::AcceptTrailing, gate.request(2000));
	CHECK_EQUAL(Admit::AcceptTrailing, gate.request(3000));
	CHECK_EQUAL(Admit::AcceptTrailing, gate.request(5999));
	LONGS_EQUAL(6000, *gate.trailingDueAt());
	CHECK_TRUE(gate.startTrailing(6000));
	gate.finished(6050, ActionGate::Outcome::Accepted);
	CHECK_FALSE(gate.trailingDueAt().has_value());
}

TEST(ActionGate, neverMoreThanOneCallPerSpacing)
{
	// A request every 100 ms for a minute: count the calls.
	int calls = 0;
	std::uint64_t lastCall = 0;
	bool first = true;
	for (std::uint64_t t = 0; t <= 60'000; t += 100) {
		if (gate.startTrailing(t)) {
			CHECK_TRUE(first || t - lastCall >= 5000);
			calls++, lastCall = t, first = false;
			gate.finished(t + 50, ActionGate::Outcome::Accepted);
		}
		if (gate.request(t) == Admit::StartCall) {
			CHECK_TRUE(first || t - lastCall >= 5000);
			calls++, lastCall = t, first = false;
			gate.finished(t + 50, ActionGate::Outcome::Accepted);
		}
	}
	CHECK_TRUE(calls >= 12 && calls <= 13);
}

TEST(ActionGate, afterTheSpacingARequestStartsACallAgain)
{
	gate.request(1000);
	gate.finished(1100, ActionGate::Outcome::Accepted);
	CHECK_EQUAL(Admit::StartCall, gate.request(6000));
}

TEST(ActionGate, aRecentFailureIsReportedWithTheTimeLeft)
{
	gate.request(1000);
	gate.finished(1100, ActionGate::Outcome::Failed);
	CHECK_EQUAL(Admit::RecentFailure, gate.request(2000));
	LONGS_EQUAL(4000, gate.retryAfterMs(2000));
	CHECK_FALSE(gate.trailingDueAt().has_value());
	CHECK_EQUAL(Admit::StartCall, gate.request(6000));
}

TEST(ActionGate, aRequestThatMayNotWaitIsCoveredByTheTrailingCallEvenIfTheCallFails)
{
	gate.request(1000);
	CHECK_EQUAL(Admit::AcceptTrailing, gate.request(1100, ActionGate::Waiters::Full));
	gate.finished(1300, ActionGate::Outcome::Failed);
	CHECK_TRUE(gate.trailingDueAt().has_value());
	LONGS_EQUAL(6000, *gate.trailingDueAt());
}

TEST(ActionGate, aCallThatCouldNotBeSentIsNoFailureAndStaysOwed)
{
	CHECK_EQUAL(Admit::StartCall, gate.request(1000));
	gate.abandoned(); // built or sent nowhere: a local fault
	// No 503s for the interval: the next request is promised the
	// trailing call, which retries what was asked.
	CHECK_EQUAL(Admit::AcceptTrailing, gate.request(1500));
	CHECK_TRUE(gate.trailingDueAt().has_value());
	LONGS_EQUAL(6000, *gate.trailingDueAt());
	CHECK_TRUE(gate.startTrailing(6000));
	// A trailing call abandoned in turn stays owed one interval later,
	// never sooner (no busy retry while the fault lasts).
	gate.abandoned();
	LONGS_EQUAL(11000, *gate.trailingDueAt());
}
