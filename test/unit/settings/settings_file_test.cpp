// SPDX-License-Identifier: MIT
//
// Tests of the settings file read from disk (daemon/settings/settings_file.cpp):
// loadSettingsFile() on files of every kind and mode.
//
// Secrets: assertions on passwords and hashes use CHECK on a comparison
// with a named constant, so a failure prints the expression, never the
// value.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "base/text.hpp"
#include "base/unique_fd.hpp"
#include "config.h"
#include "settings/settings.hpp"
#include "settings/settings_file.hpp"

#include "support/settings_support.hpp"
#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;
using namespace checksyncd::test;

TEST_GROUP(SettingsFile){};

TEST(SettingsFile, loadsAGoodFile)
{
	SettingsDir dir;
	const std::string path = dir.write("settings.xml", kDesignExample);
	const LoadResult result = loadSettingsFile(path);
	STRCMP_EQUAL("", allErrors(result).c_str());
	CHECK_TRUE(result.warnings.empty());
	CHECK_TRUE(result.settings.has_value());
	STRCMP_EQUAL("340899", result.settings->identities.at(1).name.c_str());
}

TEST(SettingsFile, namesTheFileInParseErrors)
{
	SettingsDir dir;
	const std::string path = dir.write("settings.xml",
					   "<settings>\n<phone-settings>\n</settings>\n");
	const LoadResult result = loadSettingsFile(path);
	CHECK_FALSE(result.settings.has_value());
	LONGS_EQUAL(1, result.errors.size());
	STRCMP_EQUAL(path.c_str(), result.errors[0].file.c_str());
	LONGS_EQUAL(3, result.errors[0].line);
}

TEST(SettingsFile, reportsAMissingFile)
{
	SettingsDir dir;
	const std::string path = dir.path("absent.xml");
	const LoadResult result = loadSettingsFile(path);
	CHECK_FALSE(result.settings.has_value());
	LONGS_EQUAL(1, result.errors.size());
	STRCMP_EQUAL((path + ": No such file or directory").c_str(),
		     result.errors[0].toString().c_str());
}

TEST(SettingsFile, refusesAFifoWithoutBlocking)
{
	SettingsDir dir;
	const std::string path = dir.path("settings.xml");
	CHECK_EQUAL(0, ::mkfifo(path.c_str(), 0600));
	const LoadResult result = loadSettingsFile(path);
	CHECK_FALSE(result.settings.has_value());
	LONGS_EQUAL(1, result.errors.size());
	STRCMP_EQUAL((path + ": not a regular file").c_str(), result.errors[0].toString().c_str());
}

TEST(SettingsFile, refusesADirectory)
{
	SettingsDir dir;
	const std::string path = dir.path("settings.xml");
	CHECK_EQUAL(0, ::mkdir(path.c_str(), 0700));
	const LoadResult result = loadSettingsFile(path);
	LONGS_EQUAL(1, result.errors.size());
	STRCMP_EQUAL((path + ": not a regular file").c_str(), result.errors[0].toString().c_str());
}

TEST(SettingsFile, refusesADevice)
{
	const LoadResult result = loadSettingsFile("/dev/null");
	LONGS_EQUAL(1, result.errors.size());
	STRCMP_EQUAL("/dev/null: not a regular file", result.errors[0].toString().c_str());
}

TEST(SettingsFile, followsASymlinkToARegularFile)
{
	SettingsDir dir;
	const std::string target = dir.write("real.xml", "<settings/>");
	const std::string link = dir.path("settings.xml");
	CHECK_EQUAL(0, ::symlink(target.c_str(), link.c_str()));
	CHECK_TRUE(loadSettingsFile(link).settings.has_value());
}

TEST(SettingsFile, refusesAFileLargerThanOneMiB)
{
	SettingsDir dir;
	std::string content = wrap("");
	content += std::string(kMaxSettingsBytes + 1 - content.size(), '\n');
	const std::string path = dir.write("settings.xml", content);
	const LoadResult result = loadSettingsFile(path);
	CHECK_FALSE(result.settings.has_value());
	LONGS_EQUAL(1, result.errors.size());
	STRCMP_EQUAL((path + ": larger than 1 MiB").c_str(), result.errors[0].toString().c_str());
}

TEST(SettingsFile, acceptsAFileOfExactlyOneMiB)
{
	SettingsDir dir;
	std::string content = wrap("<challenge_checksync>on</challenge_checksync>\n");
	content += std::string(kMaxSettingsBytes - content.size(), '\n');
	const std::string path = dir.write("settings.xml", content);
	const LoadResult result = loadSettingsFile(path);
	STRCMP_EQUAL("", allErrors(result).c_str());
	CHECK_TRUE(result.settings.has_value());
	CHECK_TRUE(result.settings->challengeChecksync);
}

TEST(SettingsFile, rejectsAnEmptyFile)
{
	SettingsDir dir;
	const std::string path = dir.write("settings.xml", "");
	const LoadResult result = loadSettingsFile(path);
	CHECK_FALSE(result.settings.has_value());
	LONGS_EQUAL(1, result.errors.size());
}

TEST(SettingsFile, warnsWhenOtherUsersMayReadTheFile)
{
	SettingsDir dir;
	const std::string path = dir.write("settings.xml", kDesignExample, 0644);
	const LoadResult result = loadSettingsFile(path);
	CHECK_TRUE(result.settings.has_value());
	LONGS_EQUAL(1, result.warnings.size());
	STRCMP_EQUAL(
		(path + ": readable or writable by other users; it holds SIP passwords").c_str(),
		result.warnings[0].c_str());
}

TEST(SettingsFile, warnsWhenOtherUsersMayWriteTheFile)
{
	SettingsDir dir;
	const std::string path = dir.write("settings.xml", kDesignExample, 0602);
	const LoadResult result = loadSettingsFile(path);
	CHECK_TRUE(result.settings.has_value());
	LONGS_EQUAL(1, result.warnings.size());
}

TEST(SettingsFile, warnsAlsoWhenTheFileIsRejected)
{
	SettingsDir dir;
	const std::string path = dir.write("settings.xml", "<nope/>", 0644);
	const LoadResult result = loadSettingsFile(path);
	CHECK_FALSE(result.settings.has_value());
	LONGS_EQUAL(1, result.errors.size());
	LONGS_EQUAL(1, result.warnings.size());
}

TEST(SettingsFile, doesNotWarnForAFileOnlyTheOwnerAndGroupMayRead)
{
	SettingsDir dir;
	const std::string path = dir.write("settings.xml", kDesignExample, 0640);
	const LoadResult result = loadSettingsFile(path);
	CHECK_TRUE(result.settings.has_value());
	CHECK_TRUE(result.warnings.empty());
}

TEST(SettingsFile, reportsAnUnreadableFile)
{
	if (::geteuid() == 0)
		return; // root reads any file: nothing to test
	SettingsDir dir;
	const std::string path = dir.write("settings.xml", kDesignExample, 0000);
	const LoadResult result = loadSettingsFile(path);
	CHECK_FALSE(result.settings.has_value());
	LONGS_EQUAL(1, result.errors.size());
	STRCMP_EQUAL((path + ": Permission denied").c_str(), result.errors[0].toString().c_str());
}
