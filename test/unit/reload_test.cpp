// SPDX-License-Identifier: MIT

#include "reload.hpp"

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
	CHECK(decideReload(nullptr, good()) == ReloadDecision::Apply);
}

TEST(Reload, aRefusedFileKeepsWhatIsInForce)
{
	CHECK(decideReload(&current, bad()) == ReloadDecision::Refused);
	CHECK(decideReload(nullptr, bad()) == ReloadDecision::Refused);
}

TEST(Reload, theSameSettingsChangeNothing)
{
	CHECK(decideReload(&current, good()) == ReloadDecision::Unchanged);
}

TEST(Reload, anyDifferenceIsApplied)
{
	LoadResult changed = good();
	changed.settings->challengeChecksync = true;
	CHECK(decideReload(&current, changed) == ReloadDecision::Apply);

	changed = good();
	Identity one;
	one.idx = 1;
	one.pass = "1234";
	changed.settings->identities[1] = one;
	LoadResult again = changed;
	CHECK(decideReload(&current, changed) == ReloadDecision::Apply);
	current = *changed.settings;
	CHECK(decideReload(&current, again) == ReloadDecision::Unchanged);
	again.settings->identities[1].pass = "12345"; // a new password matters
	CHECK(decideReload(&current, again) == ReloadDecision::Apply);
}
