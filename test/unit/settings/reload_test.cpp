// SPDX-License-Identifier: MIT

#include "settings/reload.hpp"

#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

TEST_GROUP(Reload)
{
	Settings current;
	LoadResult good()
	{
		LoadResult result;
		result.settings = current;
		return result;
	}
	LoadResult bad()
	{
		LoadResult result;
		result.errors.push_back({"settings.xml", 3, "challenge_checksync: invalid value"});
		return result;
	}
};

TEST(Reload, theFirstGoodFileIsApplied)
{
	CHECK_EQUAL(ReloadDecision::Apply, decideReload(nullptr, good()));
}

TEST(Reload, aRefusedFileKeepsWhatIsInForce)
{
	CHECK_EQUAL(ReloadDecision::Refused, decideReload(&current, bad()));
	CHECK_EQUAL(ReloadDecision::Refused, decideReload(nullptr, bad()));
}

TEST(Reload, theSameSettingsChangeNothing)
{
	CHECK_EQUAL(ReloadDecision::Unchanged, decideReload(&current, good()));
}

TEST(Reload, anyDifferenceIsApplied)
{
	LoadResult changed = good();
	changed.settings->challengeChecksync = true;
	CHECK_EQUAL(ReloadDecision::Apply, decideReload(&current, changed));

	changed = good();
	Identity one;
	one.idx = 1;
	one.pass = "1234";
	changed.settings->identities[1] = one;
	LoadResult again = changed;
	CHECK_EQUAL(ReloadDecision::Apply, decideReload(&current, changed));
	current = *changed.settings;
	CHECK_EQUAL(ReloadDecision::Unchanged, decideReload(&current, again));
	again.settings->identities[1].pass = "12345"; // a new password matters
	CHECK_EQUAL(ReloadDecision::Apply, decideReload(&current, again));
}
