// SPDX-License-Identifier: MIT

#include <string>
#include <variant>
#include <vector>

#include "auth/known_sources.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

namespace {

SourcePrefix prefix(const std::string &text)
{
	const std::optional<SourcePrefix> parsed = SourcePrefix::parse(text);
	CHECK_TRUE(parsed.has_value());
	return *parsed;
}

std::string header()
{
	return std::string(KnownSourcesFile::kVersionLine) + "\n";
}

// The reason a text is refused; empty when it is taken.
std::string refusal(const std::string &text)
{
	auto result = KnownSourcesFile::read(text);
	if (const auto *refused = std::get_if<KnownSourcesFile::Refusal>(&result))
		return refused->reason;
	return {};
}

} // namespace

TEST_GROUP(KnownSourcesFile){};

TEST(KnownSourcesFile, writesOnePrefixALineAfterTheVersionAndReadsItBack)
{
	const std::vector<SourcePrefix> sources = {prefix("192.0.2.10"),
						   prefix("2001:db8:1:2::/64")};
	const std::string text = KnownSourcesFile::write(sources);
	STRCMP_EQUAL("checksyncd known-sources 1\n192.0.2.10\n2001:db8:1:2::/64\n", text.c_str());
	auto result = KnownSourcesFile::read(text);
	const auto *read = std::get_if<std::vector<SourcePrefix>>(&result);
	CHECK_TRUE(read != nullptr);
	CHECK_TRUE(*read == sources);
}

TEST(KnownSourcesFile, anEmptyListIsTheVersionLineAlone)
{
	const std::string text = KnownSourcesFile::write({});
	STRCMP_EQUAL(header().c_str(), text.c_str());
	auto result = KnownSourcesFile::read(text);
	CHECK_TRUE(std::get<std::vector<SourcePrefix>>(result).empty());
}

TEST(KnownSourcesFile, writesAtMostTheTablesCapacityAndTheLongestFileFitsTheBound)
{
	std::vector<SourcePrefix> sources;
	for (unsigned i = 0; i < KnownSourcesFile::kMaxEntries + 5; i++)
		sources.push_back(prefix("ffff:ffff:ffff:" + std::to_string(1000 + i) + "::/64"));
	const std::string text = KnownSourcesFile::write(sources);
	CHECK_TRUE(text.size() <= KnownSourcesFile::kMaxBytes);
	auto result = KnownSourcesFile::read(text);
	LONGS_EQUAL(KnownSourcesFile::kMaxEntries,
		    std::get<std::vector<SourcePrefix>>(result).size());
}

TEST(KnownSourcesFile, refusesAnotherVersionOrNoVersionLine)
{
	STRCMP_EQUAL("not a known-sources file of version 1",
		     refusal("checksyncd known-sources 2\n192.0.2.1\n").c_str());
	STRCMP_EQUAL("not a known-sources file of version 1", refusal("192.0.2.1\n").c_str());
	STRCMP_EQUAL("not a known-sources file of version 1",
		     refusal(" " + header() + "192.0.2.1\n").c_str());
}

TEST(KnownSourcesFile, refusesAnIncompleteOrEmptyFile)
{
	STRCMP_EQUAL("does not end with a complete line", refusal("").c_str());
	STRCMP_EQUAL("does not end with a complete line", refusal(header() + "192.0.2.1").c_str());
}

TEST(KnownSourcesFile, refusesAnythingButTheCanonicalTextOfAPrefix)
{
	for (const char *line : {"192.0.2.1 ", " 192.0.2.1", "192.0.2.1/32", "192.0.2.1/64",
				 "2001:db8::1",      // host bits: not the /64's text
				 "2001:DB8::/64",    // not as toString() writes it
				 "::ffff:192.0.2.1", // IPv4 is written as IPv4
				 "[2001:db8::]/64", "pbx.example.com", "", "192.0.2.1\r"}) {
		const std::string reason = refusal(header() + "192.0.2.9\n" + line + "\n");
		STRCMP_EQUAL(("line 3: not a source prefix (" + std::string(line) + ")").c_str(),
			     (reason + " (" + line + ")").c_str());
	}
}

TEST(KnownSourcesFile, refusesASourceListedTwice)
{
	STRCMP_EQUAL("line 4: a source listed twice",
		     refusal(header() + "192.0.2.1\n192.0.2.2\n192.0.2.1\n").c_str());
}

TEST(KnownSourcesFile, refusesMoreEntriesOrBytesThanItWouldEverWrite)
{
	std::string text = header();
	for (unsigned i = 0; i <= KnownSourcesFile::kMaxEntries; i++)
		text += "10.0.0." + std::to_string(i) + "\n";
	STRCMP_EQUAL(("line " + std::to_string(KnownSourcesFile::kMaxEntries + 2) + ": more than " +
		      std::to_string(KnownSourcesFile::kMaxEntries) + " sources")
			     .c_str(),
		     refusal(text).c_str());
	STRCMP_EQUAL("larger than 4096 bytes",
		     refusal(header() + std::string(KnownSourcesFile::kMaxBytes, '\n')).c_str());
}

TEST(KnownSourcesFile, refusesBinaryGarbage)
{
	std::string garbage = header();
	garbage += std::string("\x00\xff\x01", 3);
	garbage += "\n";
	STRCMP_EQUAL("line 2: not a source prefix", refusal(garbage).c_str());
}
