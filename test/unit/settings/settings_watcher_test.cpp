// SPDX-License-Identifier: MIT
//
// Tests of the settings watcher (daemon/settings/settings_watcher.cpp): real inotify
// on a private directory, events delivered through a real su_root.
//
// Every change is made before the loop is stepped, so all its events are
// queued together and make one burst; after the callback the loop keeps
// running for a few settle intervals to show that no second one follows.

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "loop/loop.hpp"
#include "settings/settings_watcher.hpp"
#include "support/daemon_support.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;
using checksyncd::test::stepPast;
using checksyncd::test::stepUntil;
using checksyncd::test::TempDir;
using checksyncd::test::writeFile;

namespace {

constexpr const char *kSettings = "<settings/>\n";
constexpr const char *kOther = "<settings><phone-settings/></settings>\n";

} // namespace

TEST_GROUP(SettingsWatcher)
{
	EventLoop loop;
	TempDir dir;
	int changes = 0;
	std::unique_ptr<SettingsWatcher> watcher;

	void teardown() override
	{
		watcher.reset();
	}

	void watch(const std::string &path)
	{
		watcher = std::make_unique<SettingsWatcher>(loop, path, [this] { changes++; });
	}

	// Let the loop run past a few settle intervals.
	void settle()
	{
		CHECK_TRUE(stepPast(loop, 3 * SettingsWatcher::kSettleMs));
	}

	// The callback has run `total` times in all, and no more after a while.
	void expectChanges(int total)
	{
		CHECK_TRUE(stepUntil(loop, [&] { return changes >= total; }));
		settle();
		CHECK_EQUAL(total, changes);
	}

	std::string path(const char *name) const
	{
		return dir.path(name);
	}
};

TEST(SettingsWatcher, nothingChangedIsNoChange)
{
	CHECK_TRUE(writeFile(path("settings.xml"), kSettings));
	watch(path("settings.xml"));
	settle();
	CHECK_EQUAL(0, changes);
}

TEST(SettingsWatcher, anInPlaceRewriteIsOneChange)
{
	CHECK_TRUE(writeFile(path("settings.xml"), kSettings));
	watch(path("settings.xml"));
	CHECK_TRUE(writeFile(path("settings.xml"), kOther));
	CHECK_EQUAL(0, changes); // only the loop reports it
	expectChanges(1);
}

TEST(SettingsWatcher, aRenameIntoPlaceIsOneChange)
{
	CHECK_TRUE(writeFile(path("settings.xml"), kSettings));
	watch(path("settings.xml"));
	CHECK_TRUE(writeFile(path(".settings.xml.new"), kOther));
	CHECK_EQUAL(0,
		    std::rename(path(".settings.xml.new").c_str(), path("settings.xml").c_str()));
	expectChanges(1);
}

TEST(SettingsWatcher, aDeletedThenRecreatedFileIsTwoChanges)
{
	CHECK_TRUE(writeFile(path("settings.xml"), kSettings));
	watch(path("settings.xml"));
	CHECK_EQUAL(0, ::unlink(path("settings.xml").c_str()));
	expectChanges(1);
	CHECK_TRUE(writeFile(path("settings.xml"), kOther));
	expectChanges(2);
}

TEST(SettingsWatcher, aBurstOfChangesIsOneChange)
{
	CHECK_TRUE(writeFile(path("settings.xml"), kSettings));
	watch(path("settings.xml"));
	CHECK_TRUE(writeFile(path("settings.xml"), kOther));
	CHECK_TRUE(writeFile(path(".settings.xml.new"), kSettings));
	CHECK_EQUAL(0,
		    std::rename(path(".settings.xml.new").c_str(), path("settings.xml").c_str()));
	CHECK_EQUAL(0, ::chmod(path("settings.xml").c_str(), 0640));
	CHECK_EQUAL(0, ::unlink(path("settings.xml").c_str()));
	CHECK_TRUE(writeFile(path("settings.xml"), kOther));
	expectChanges(1);
}

TEST(SettingsWatcher, otherNamesInTheDirectoryAreNoChange)
{
	CHECK_TRUE(writeFile(path("settings.xml"), kSettings));
	watch(path("settings.xml"));
	CHECK_TRUE(writeFile(path("settings.xml~"), kSettings));
	CHECK_TRUE(writeFile(path("other.xml"), kSettings));
	CHECK_EQUAL(0, ::mkdir(path("backup").c_str(), 0700));
	CHECK_EQUAL(0, ::unlink(path("other.xml").c_str()));
	settle();
	CHECK_EQUAL(0, changes);

	CHECK_TRUE(writeFile(path("settings.xml"), kOther)); // still watching
	expectChanges(1);
}

TEST(SettingsWatcher, aFileInADirectoryNotYetMadeIsSeenWhenItComes)
{
	watch(path("conf/settings.xml"));
	CHECK_EQUAL(0, ::mkdir(path("conf").c_str(), 0700));
	expectChanges(1);
	CHECK_TRUE(writeFile(path("conf/settings.xml"), kSettings));
	expectChanges(2);
}

TEST(SettingsWatcher, aReplacedDirectoryIsFollowed)
{
	CHECK_EQUAL(0, ::mkdir(path("conf").c_str(), 0700));
	CHECK_TRUE(writeFile(path("conf/settings.xml"), kSettings));
	watch(path("conf/settings.xml"));

	CHECK_EQUAL(0, std::rename(path("conf").c_str(), path("conf.old").c_str()));
	CHECK_EQUAL(0, ::mkdir(path("conf").c_str(), 0700));
	CHECK_TRUE(writeFile(path("conf/settings.xml"), kOther));
	expectChanges(1);

	CHECK_TRUE(writeFile(path("conf.old/settings.xml"), kOther)); // no longer the path
	settle();
	CHECK_EQUAL(1, changes);
	CHECK_TRUE(writeFile(path("conf/settings.xml"), kSettings));
	expectChanges(2);
}

TEST(SettingsWatcher, aRepointedSymlinkedDirectoryIsFollowed)
{
	// An A/B layout: current -> a, then current -> b, replaced atomically.
	CHECK_EQUAL(0, ::mkdir(path("a").c_str(), 0700));
	CHECK_EQUAL(0, ::mkdir(path("b").c_str(), 0700));
	CHECK_TRUE(writeFile(path("a/settings.xml"), kSettings));
	CHECK_TRUE(writeFile(path("b/settings.xml"), kOther));
	CHECK_EQUAL(0, ::symlink("a", path("current").c_str()));
	watch(path("current/settings.xml"));

	CHECK_TRUE(writeFile(path("a/settings.xml"), kOther)); // through the link
	expectChanges(1);

	CHECK_EQUAL(0, ::symlink("b", path("current.new").c_str()));
	CHECK_EQUAL(0, std::rename(path("current.new").c_str(), path("current").c_str()));
	expectChanges(2);

	CHECK_TRUE(writeFile(path("a/settings.xml"), kSettings)); // no longer the path
	settle();
	CHECK_EQUAL(2, changes);
	CHECK_TRUE(writeFile(path("b/settings.xml"), kSettings));
	expectChanges(3);
}

TEST(SettingsWatcher, aRepointedSymlinkedFileIsFollowed)
{
	CHECK_TRUE(writeFile(path("v1.xml"), kSettings));
	CHECK_TRUE(writeFile(path("v2.xml"), kOther));
	CHECK_EQUAL(0, ::symlink("v1.xml", path("settings.xml").c_str()));
	watch(path("settings.xml"));

	CHECK_EQUAL(0, ::symlink("v2.xml", path("settings.xml.new").c_str()));
	CHECK_EQUAL(0, std::rename(path("settings.xml.new").c_str(), path("settings.xml").c_str()));
	expectChanges(1);

	CHECK_TRUE(writeFile(path("v1.xml"), kOther)); // no longer the target
	settle();
	CHECK_EQUAL(1, changes);
	CHECK_TRUE(writeFile(path("v2.xml"), kSettings));
	expectChanges(2);
}

TEST(SettingsWatcher, rearmReportsNothingOfItselfAndKeepsWatching)
{
	CHECK_EQUAL(0, ::mkdir(path("conf").c_str(), 0700));
	CHECK_TRUE(writeFile(path("conf/settings.xml"), kSettings));
	watch(path("conf/settings.xml"));
	watcher->rearm();
	watcher->rearm();
	settle();
	CHECK_EQUAL(0, changes);

	CHECK_TRUE(writeFile(path("conf/settings.xml"), kOther));
	expectChanges(1);
}

TEST(SettingsWatcher, rearmFromTheCallbackAsOnSighupKeepsWatching)
{
	// The daemon re-arms on SIGHUP, which may come while a burst settles.
	CHECK_TRUE(writeFile(path("settings.xml"), kSettings));
	watcher = std::make_unique<SettingsWatcher>(loop, path("settings.xml"), [this] {
		changes++;
		watcher->rearm();
	});
	CHECK_TRUE(writeFile(path("settings.xml"), kOther));
	expectChanges(1);
	CHECK_EQUAL(0, ::unlink(path("settings.xml").c_str()));
	expectChanges(2);
}
