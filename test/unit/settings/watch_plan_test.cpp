// SPDX-License-Identifier: MIT

#include "settings/watch_plan.hpp"

#include <map>
#include <string>

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

namespace {

using Names = std::set<std::string>;
using Directories = std::map<std::string, Names>;

} // namespace

TEST_GROUP(WatchPlan)
{
	// A file system: path -> entry; what is not listed is absent.
	std::map<std::string, Entry> fs;
	std::map<std::string, int> looked; // how often each path was looked up

	void dir(const std::string &path)
	{
		fs[path] = Entry{EntryKind::Directory, {}};
	}
	void file(const std::string &path)
	{
		fs[path] = Entry{EntryKind::Other, {}};
	}
	void link(const std::string &path, const std::string &target)
	{
		fs[path] = Entry{EntryKind::Symlink, target};
	}
	WatchPlan plan(const std::string &path, int maxSymlinks = kMaxSymlinks)
	{
		return planWatches(
			path,
			[this](const std::string &p) {
				looked[p]++;
				auto it = fs.find(p);
				return it == fs.end() ? Entry{} : it->second;
			},
			maxSymlinks);
	}
	void checkDirectories(const Directories &expected, const WatchPlan &got)
	{
		std::string text;
		for (const auto &[directory, names] : got.directories) {
			text += directory + ":";
			for (const std::string &name : names)
				text += " " + name;
			text += "; ";
		}
		CHECK_TEXT(got.directories == expected, text.c_str());
	}
	void etc()
	{
		dir("/etc");
		dir("/etc/checksyncd");
		file("/etc/checksyncd/settings.xml");
	}
};

TEST(WatchPlan, splitsAPathIntoItsComponents)
{
	CHECK((pathComponents("/a//./b/") == std::vector<std::string>{"a", "b"}));
	CHECK((pathComponents("a/../b") == std::vector<std::string>{"a", "..", "b"}));
	CHECK(pathComponents("/").empty());
	CHECK(pathComponents("").empty());
	CHECK(pathComponents("./.").empty());
	CHECK((pathComponents("settings.xml") == std::vector<std::string>{"settings.xml"}));
}

TEST(WatchPlan, joinsANameToItsDirectory)
{
	STRCMP_EQUAL("/a", childPath("/", "a").c_str());
	STRCMP_EQUAL("a", childPath(".", "a").c_str());
	STRCMP_EQUAL("a/b", childPath("a", "b").c_str());
	STRCMP_EQUAL("../b", childPath("..", "b").c_str());
	STRCMP_EQUAL("/a/b", childPath("/a", "b").c_str());
}

TEST(WatchPlan, goesUpLexicallyAndStopsAtTheRoot)
{
	STRCMP_EQUAL("/a", parentPath("/a/b").c_str());
	STRCMP_EQUAL("/", parentPath("/a").c_str());
	STRCMP_EQUAL("/", parentPath("/").c_str());
	STRCMP_EQUAL(".", parentPath("a").c_str());
	STRCMP_EQUAL("a", parentPath("a/b").c_str());
	STRCMP_EQUAL("..", parentPath(".").c_str());
	STRCMP_EQUAL("../..", parentPath("..").c_str());
	STRCMP_EQUAL("..", parentPath("../a").c_str());
}

TEST(WatchPlan, watchesEveryComponentInTheDirectoryThatHoldsIt)
{
	etc();
	WatchPlan got = plan("/etc/checksyncd/settings.xml");
	checkDirectories(
		{{"/", {"etc"}}, {"/etc", {"checksyncd"}}, {"/etc/checksyncd", {"settings.xml"}}},
		got);
	LONGS_EQUAL(0, got.symlinks);
}

TEST(WatchPlan, aMissingFileIsWatchedForInItsDirectory)
{
	dir("/etc");
	dir("/etc/checksyncd");
	checkDirectories(
		{{"/", {"etc"}}, {"/etc", {"checksyncd"}}, {"/etc/checksyncd", {"settings.xml"}}},
		plan("/etc/checksyncd/settings.xml"));
}

TEST(WatchPlan, aMissingDirectoryIsWatchedForInItsParentAndNothingBeyond)
{
	dir("/etc");
	checkDirectories({{"/", {"etc"}}, {"/etc", {"checksyncd"}}},
			 plan("/etc/checksyncd/settings.xml"));
	LONGS_EQUAL(0, looked.count("/etc/checksyncd/settings.xml"));
}

TEST(WatchPlan, aFileInTheMiddleEndsTheWalk)
{
	file("/etc");
	checkDirectories({{"/", {"etc"}}}, plan("/etc/checksyncd/settings.xml"));
}

TEST(WatchPlan, aRelativePathStartsFromTheWorkingDirectory)
{
	file("settings.xml");
	checkDirectories({{".", {"settings.xml"}}}, plan("settings.xml"));
	checkDirectories({{".", {"settings.xml"}}}, plan("./settings.xml"));

	dir("../conf");
	file("../conf/s.xml");
	checkDirectories({{"..", {"conf"}}, {"../conf", {"s.xml"}}}, plan("../conf/s.xml"));
}

TEST(WatchPlan, dotDotAtTheRootStaysAtTheRoot)
{
	etc();
	checkDirectories(
		{{"/", {"etc"}}, {"/etc", {"checksyncd"}}, {"/etc/checksyncd", {"settings.xml"}}},
		plan("/../../etc/./checksyncd/../checksyncd/settings.xml"));
}

TEST(WatchPlan, aSymlinkedFileIsWatchedWhereTheLinkIsAndWhereItPoints)
{
	etc();
	link("/etc/checksyncd/settings.xml", "data/a.xml");
	dir("/etc/checksyncd/data");
	file("/etc/checksyncd/data/a.xml");
	WatchPlan got = plan("/etc/checksyncd/settings.xml");
	checkDirectories({{"/", {"etc"}},
			  {"/etc", {"checksyncd"}},
			  {"/etc/checksyncd", {"settings.xml", "data"}},
			  {"/etc/checksyncd/data", {"a.xml"}}},
			 got);
	LONGS_EQUAL(1, got.symlinks);
}

TEST(WatchPlan, aSymlinkedDirectoryInTheMiddleIsFollowed)
{
	// /etc/checksyncd -> /srv/cfg-1 (absolute), as `ln -sfn` makes it
	dir("/etc");
	link("/etc/checksyncd", "/srv/cfg-1");
	dir("/srv");
	dir("/srv/cfg-1");
	file("/srv/cfg-1/settings.xml");
	checkDirectories({{"/", {"etc", "srv"}},
			  {"/etc", {"checksyncd"}},
			  {"/srv", {"cfg-1"}},
			  {"/srv/cfg-1", {"settings.xml"}}},
			 plan("/etc/checksyncd/settings.xml"));
}

TEST(WatchPlan, aChainOfRelativeLinksIsResolvedFromEachLinksDirectory)
{
	// /etc -> ../flash/etc; /flash/etc/checksyncd -> current;
	// /flash/etc/current -> ../cfg/v2 (a ".." after a link climbs from
	// where the link's target is, not lexically from the link's name)
	link("/etc", "../flash/etc");
	dir("/flash");
	dir("/flash/etc");
	link("/flash/etc/checksyncd", "current");
	link("/flash/etc/current", "../cfg/v2");
	dir("/flash/cfg");
	dir("/flash/cfg/v2");
	file("/flash/cfg/v2/settings.xml");
	WatchPlan got = plan("/etc/checksyncd/settings.xml");
	checkDirectories({{"/", {"etc", "flash"}},
			  {"/flash", {"etc", "cfg"}},
			  {"/flash/etc", {"checksyncd", "current"}},
			  {"/flash/cfg", {"v2"}},
			  {"/flash/cfg/v2", {"settings.xml"}}},
			 got);
	LONGS_EQUAL(3, got.symlinks);
}

TEST(WatchPlan, dotDotAfterASymlinkedDirectoryClimbsFromItsTarget)
{
	// /a/link -> /x/y; /a/link/../s.xml is /x/s.xml, not /a/s.xml
	dir("/a");
	link("/a/link", "/x/y");
	dir("/x");
	dir("/x/y");
	file("/x/s.xml");
	checkDirectories({{"/", {"a", "x"}}, {"/a", {"link"}}, {"/x", {"y", "s.xml"}}},
			 plan("/a/link/../s.xml"));
}

TEST(WatchPlan, aDanglingLinkIsWatchedUpToWhereItsTargetIsMissing)
{
	dir("/etc");
	link("/etc/checksyncd", "/srv/gone/cfg");
	dir("/srv");
	checkDirectories({{"/", {"etc", "srv"}}, {"/etc", {"checksyncd"}}, {"/srv", {"gone"}}},
			 plan("/etc/checksyncd/settings.xml"));
}

TEST(WatchPlan, anUnreadableLinkEndsTheWalk)
{
	dir("/etc");
	link("/etc/checksyncd", "");
	checkDirectories({{"/", {"etc"}}, {"/etc", {"checksyncd"}}},
			 plan("/etc/checksyncd/settings.xml"));
}

TEST(WatchPlan, aLinkLoopEndsAfterTheKernelsBound)
{
	dir("/l");
	link("/l/a", "b");
	link("/l/b", "a");
	WatchPlan got = plan("/l/a/settings.xml");
	checkDirectories({{"/", {"l"}}, {"/l", {"a", "b"}}}, got);
	LONGS_EQUAL(kMaxSymlinks, got.symlinks);
	LONGS_EQUAL(kMaxSymlinks + 1, looked["/l/a"] + looked["/l/b"]);
}

TEST(WatchPlan, aChainLongerThanTheBoundIsNotFollowedToItsEnd)
{
	// /c/0 -> 1 -> 2 -> 3 -> /d; with a bound of 2 the walk stops at /c/2.
	dir("/c");
	link("/c/0", "1");
	link("/c/1", "2");
	link("/c/2", "3");
	link("/c/3", "/d");
	dir("/d");
	file("/d/s.xml");
	WatchPlan got = plan("/c/0/s.xml", 2);
	checkDirectories({{"/", {"c"}}, {"/c", {"0", "1", "2"}}}, got);
	LONGS_EQUAL(2, got.symlinks);
	got = plan("/c/0/s.xml", 4);
	checkDirectories({{"/", {"c", "d"}}, {"/c", {"0", "1", "2", "3"}}, {"/d", {"s.xml"}}}, got);
}

TEST(WatchPlan, theSamePathAndFileSystemGiveTheSamePlan)
{
	etc();
	link("/etc/checksyncd/settings.xml", "a.xml");
	file("/etc/checksyncd/a.xml");
	CHECK(plan("/etc/checksyncd/settings.xml") == plan("/etc/checksyncd/settings.xml"));
	WatchPlan before = plan("/etc/checksyncd/settings.xml");
	link("/etc/checksyncd/settings.xml", "b.xml");
	CHECK_FALSE(before == plan("/etc/checksyncd/settings.xml"));
}
