// SPDX-License-Identifier: MIT
//
// The state file of the sources that authenticated, on a real loop and in
// a private directory: read at start (defensively), written atomically
// when the list changes, at most once per interval, and at stop.

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "auth/known_sources.hpp"
#include "auth/known_sources_store.hpp"
#include "loop/log.hpp"
#include "loop/loop.hpp"
#include "sip/request_guard.hpp"
#include "support/daemon_support.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;
using namespace checksyncd::test;

namespace {

SourcePrefix prefix(const char *text)
{
	return *SourcePrefix::parse(text);
}

std::string readFile(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string fileOf(std::vector<SourcePrefix> sources)
{
	return KnownSourcesFile::write(sources);
}

} // namespace

TEST_GROUP(KnownSourcesStore)
{
	EventLoop loop;
	TempDir dir;
	RequestGuard guard{NonceAuthority::Key{1}, RequestKeyer::Key{2}};

	// The lines looked for are at Info and Warning: set here, not left
	// to whichever group ran before.
	void setup() override
	{
		logSetup(LogLevel::Info, LogBackend::Stderr);
	}

	std::string file() const
	{
		return dir.path(KnownSourcesStore::kFileName);
	}

	// What a source that authenticates does to the list, as far as the
	// store can tell (the version moves).
	void authenticated(const char *source)
	{
		const SourcePrefix p = prefix(source);
		guard.restoreKnownSources(std::vector<SourcePrefix>{p});
	}
};

TEST(KnownSourcesStore, withoutADirectoryItKeepsNothingAndSaysSoOnce)
{
	StderrCapture log;
	KnownSourcesStore store(loop, guard, "");
	CHECK_TRUE(store.path().empty());
	authenticated("192.0.2.1");
	CHECK_TRUE(stepPast(loop, 50));
	store.flush();
	CHECK_TRUE(log.contains("no state directory ($STATE_DIRECTORY unset)"));
	const std::string text = log.text();
	LONGS_EQUAL(1, std::count(text.begin(), text.end(), '\n'));
}

TEST(KnownSourcesStore, aDirectoryThatCannotBeUsedIsSaidOnceAndNothingIsWritten)
{
	StderrCapture log;
	const std::string missing = dir.path("missing");
	KnownSourcesStore store(loop, guard, missing);
	CHECK_TRUE(store.path().empty());
	authenticated("192.0.2.1");
	CHECK_TRUE(stepPast(loop, 50));
	store.flush();
	CHECK_TRUE(log.contains("state directory " + missing + " cannot be used"));
	CHECK_FALSE(std::filesystem::exists(missing));
	// A file where the directory should be.
	CHECK_TRUE(writeFile(missing, "x"));
	KnownSourcesStore again(loop, guard, missing);
	CHECK_TRUE(again.path().empty());
	CHECK_TRUE(log.contains("(not a directory)"));
}

TEST(KnownSourcesStore, writesTheFirstChangeAtOnceAndReadsItBackAfterARestart)
{
	{
		KnownSourcesStore store(loop, guard, dir.path());
		STRCMP_EQUAL(file().c_str(), store.path().c_str());
		CHECK_FALSE(std::filesystem::exists(file())); // nothing to keep yet
		authenticated("192.0.2.10");
		CHECK_TRUE(stepUntil(loop, [&] { return std::filesystem::exists(file()); }));
		STRCMP_EQUAL(fileOf({prefix("192.0.2.10")}).c_str(), readFile(file()).c_str());
		CHECK_FALSE(std::filesystem::exists(file() + ".tmp"));
		struct stat st {
		};
		CHECK_EQUAL(0, stat(file().c_str(), &st));
		LONGS_EQUAL(0600, st.st_mode & 0777);
	}
	StderrCapture log;
	RequestGuard restarted{NonceAuthority::Key{3}, RequestKeyer::Key{4}};
	KnownSourcesStore store(loop, restarted, dir.path());
	CHECK_TRUE(restarted.isKnownSource(prefix("192.0.2.10")));
	CHECK_TRUE(log.contains(file() + ": 1 source that authenticated before"));
	// What was read is not written again.
	const auto written = std::filesystem::last_write_time(file());
	CHECK_TRUE(stepPast(loop, 50));
	store.flush();
	CHECK_TRUE(written == std::filesystem::last_write_time(file()));
}

TEST(KnownSourcesStore, writesAtMostOncePerIntervalAndWhatIsLeftAtStop)
{
	KnownSourcesStore store(loop, guard, dir.path());
	authenticated("192.0.2.10");
	CHECK_TRUE(stepUntil(loop, [&] { return std::filesystem::exists(file()); }));
	const std::string first = readFile(file());
	// More changes soon after: not written before the interval is over.
	authenticated("192.0.2.11");
	authenticated("2001:db8:1:2::/64");
	CHECK_TRUE(stepPast(loop, 500));
	STRCMP_EQUAL(first.c_str(), readFile(file()).c_str());
	// The stop writes them.
	store.flush();
	STRCMP_EQUAL(fileOf(guard.authenticatedSources()).c_str(), readFile(file()).c_str());
	LONGS_EQUAL(3, guard.authenticatedSources().size());
}

TEST(KnownSourcesStore, aCorruptOrHostileFileIsIgnoredWithOneLine)
{
	const std::vector<std::pair<std::string, std::string>> files = {
		{"checksyncd known-sources 7\n192.0.2.1\n", "not a known-sources file"},
		{fileOf({prefix("192.0.2.1")}) + "192.0.2.1\n", "line 3: a source listed twice"},
		{fileOf({prefix("192.0.2.1")}) + "192.0.2.2", "does not end with a complete line"},
		{fileOf({}) + std::string(5000, 'x') + "\n", "larger than 4096 bytes"},
	};
	for (const auto &[text, reason] : files) {
		RequestGuard fresh{NonceAuthority::Key{5}, RequestKeyer::Key{6}};
		CHECK_TRUE(writeFile(file(), text));
		StderrCapture log;
		KnownSourcesStore store(loop, fresh, dir.path());
		CHECK_TRUE(fresh.authenticatedSources().empty());
		CHECK_TRUE(log.contains(file() + ": ignored (" + reason));
		const std::string lines = log.text();
		LONGS_EQUAL(1, std::count(lines.begin(), lines.end(), '\n'));
	}
}

TEST(KnownSourcesStore, aLinkOrAFifoIsNeverFollowedNorWaitedFor)
{
	const std::string elsewhere = dir.path("elsewhere");
	CHECK_TRUE(writeFile(elsewhere, fileOf({prefix("192.0.2.1")})));
	CHECK_EQUAL(0, symlink(elsewhere.c_str(), file().c_str()));
	{
		StderrCapture log;
		KnownSourcesStore store(loop, guard, dir.path());
		CHECK_TRUE(guard.authenticatedSources().empty());
		CHECK_TRUE(log.contains(file() + ": ignored (a symbolic link)"));
		// The next write replaces the link, and never writes through it.
		authenticated("192.0.2.99");
		store.flush();
		STRCMP_EQUAL(fileOf({prefix("192.0.2.1")}).c_str(), readFile(elsewhere).c_str());
		CHECK_FALSE(std::filesystem::is_symlink(file()));
	}
	CHECK_EQUAL(0, unlink(file().c_str()));
	CHECK_EQUAL(0, mkfifo(file().c_str(), 0600));
	StderrCapture log;
	RequestGuard fresh{NonceAuthority::Key{5}, RequestKeyer::Key{6}};
	KnownSourcesStore store(loop, fresh, dir.path());
	CHECK_TRUE(log.contains(file() + ": ignored (not a regular file)"));
}

TEST(KnownSourcesStore, aWriteThatFailsIsSaidOnceAndPersistenceStops)
{
	KnownSourcesStore store(loop, guard, dir.path());
	// A directory where the temporary file goes: the write cannot be made.
	CHECK_EQUAL(0, mkdir((file() + ".tmp").c_str(), 0700));
	StderrCapture log;
	authenticated("192.0.2.10");
	CHECK_TRUE(stepUntil(loop, [&] { return log.contains("forgotten at a restart"); }));
	CHECK_TRUE(log.contains("cannot create " + file() + ".tmp"));
	CHECK_TRUE(store.path().empty());
	authenticated("192.0.2.11");
	CHECK_TRUE(stepPast(loop, 50));
	store.flush();
	const std::string lines = log.text();
	LONGS_EQUAL(1, std::count(lines.begin(), lines.end(), '\n'));
}

TEST(KnownSourcesStore, theDirectoryComesFromStateDirectory)
{
	const char *saved = std::getenv("STATE_DIRECTORY");
	const std::string before = saved ? saved : "";
	unsetenv("STATE_DIRECTORY");
	STRCMP_EQUAL("", KnownSourcesStore::directoryFromEnvironment().c_str());
	setenv("STATE_DIRECTORY", "/var/lib/checksyncd", 1);
	STRCMP_EQUAL("/var/lib/checksyncd", KnownSourcesStore::directoryFromEnvironment().c_str());
	setenv("STATE_DIRECTORY", "/var/lib/checksyncd:/var/lib/other", 1);
	STRCMP_EQUAL("/var/lib/checksyncd", KnownSourcesStore::directoryFromEnvironment().c_str());
	setenv("STATE_DIRECTORY", "relative", 1);
	STRCMP_EQUAL("", KnownSourcesStore::directoryFromEnvironment().c_str());
	if (saved)
		setenv("STATE_DIRECTORY", before.c_str(), 1);
	else
		unsetenv("STATE_DIRECTORY");
}
