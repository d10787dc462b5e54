// SPDX-License-Identifier: MIT
//
// What the tests of the settings (common/settings/settings.cpp and
// common/settings/settings_reader.cpp) share: documents to parse, checks of what
// came back, files with a given mode, and DESIGN.md's example.
//
// Secrets: assertions on passwords and hashes use CHECK on a comparison
// with a named constant, so a failure prints the expression, never the
// value.

#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "base/unique_fd.hpp"
#include "settings/settings.hpp"

#include <CppUTest/TestHarness.h>

namespace checksyncd::test {

inline constexpr const char *kFile = "settings.xml";
inline constexpr std::string_view kPassword = "s3cr3t-Pa55";
inline constexpr std::string_view kHashMixed = "0123456789ABCDEF0123456789abcdef";
inline constexpr std::string_view kHashLower = "0123456789abcdef0123456789abcdef";

// A document whose phone-settings section holds `body`; the first line of
// `body` is line 4 of the document.
inline std::string wrap(std::string_view body)
{
	return "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	       "<settings>\n"
	       "<phone-settings e=\"2\">\n" +
	       std::string(body) +
	       "</phone-settings>\n"
	       "</settings>\n";
}

inline LoadResult parse(std::string_view xml)
{
	return parseSettings(xml, kFile);
}

inline std::string allErrors(const LoadResult &result)
{
	std::string text;
	for (const SettingsError &error : result.errors)
		text += error.toString() + "\n";
	return text;
}

inline bool contains(std::string_view text, std::string_view part)
{
	return text.find(part) != std::string_view::npos;
}

// Exactly one error, with this line and message, and no settings.
inline void checkOneError(const LoadResult &result, long line, std::string_view message)
{
	CHECK_FALSE(result.settings.has_value());
	if (result.errors.size() != 1)
		FAIL(("expected one error, got:\n" + allErrors(result)).c_str());
	STRCMP_EQUAL(kFile, result.errors[0].file.c_str());
	LONGS_EQUAL(line, result.errors[0].line);
	STRCMP_EQUAL(std::string(message).c_str(), result.errors[0].message.c_str());
}

// No error, and the settings (a copy: callers often pass a temporary).
inline Settings checkGood(const LoadResult &result)
{
	STRCMP_EQUAL("", allErrors(result).c_str());
	CHECK_TRUE(result.settings.has_value());
	return *result.settings;
}

// A private directory under the system temp directory, removed with its
// contents.
class SettingsDir
{
public:
	SettingsDir()
	{
		std::string pattern =
			(std::filesystem::temp_directory_path() / "settings_test.XXXXXX").string();
		if (::mkdtemp(pattern.data()) == nullptr)
			FAIL("mkdtemp failed");
		path_ = pattern;
	}
	~SettingsDir()
	{
		std::error_code ec;
		std::filesystem::remove_all(path_, ec);
	}
	SettingsDir(const SettingsDir &) = delete;
	SettingsDir &operator=(const SettingsDir &) = delete;

	std::string path(std::string_view name) const { return path_ + "/" + std::string(name); }

	std::string write(std::string_view name, std::string_view content, mode_t mode = 0600) const
	{
		const std::string file = path(name);
		const UniqueFd fd(
			::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
		CHECK_TRUE(fd);
		CHECK_EQUAL(0, ::fchmod(fd.get(), mode));
		std::size_t done = 0;
		while (done < content.size()) {
			const ssize_t n = ::write(fd.get(), content.data() + done,
						  content.size() - done);
			CHECK_TRUE(n > 0);
			done += static_cast<std::size_t>(n);
		}
		return file;
	}

private:
	std::string path_;
};

inline const char *const kDesignExample = R"(<?xml version="1.0" encoding="utf-8"?>
<settings>
  <phone-settings e="2">
    <challenge_checksync perm="">on</challenge_checksync>
    <user_active idx="1" perm="">on</user_active>
    <user_name idx="1" perm="">340899</user_name>
    <user_host idx="1" perm="">ser.berlin.snom.com</user_host>
    <user_pass idx="1" perm="">1234</user_pass>
    <challenge_reboot perm="">on</challenge_reboot>
    <checksync_action perm="">reboot</checksync_action>
    <network_id_port perm="">5062</network_id_port>
    <checksync_auth_algorithms perm="">SHA-512-256, SHA-256,MD5</checksync_auth_algorithms>
    <checksync_auth_qop perm="">none</checksync_auth_qop>
    <checksync_events perm="">resync, check-sync,REBOOT_NOW</checksync_events>
    <user_pname idx="1" perm="">auth340899</user_pname>
    <user_hash idx="2" perm="">0123456789ABCDEF0123456789abcdef</user_hash>
    <user_name idx="2" perm="">340900</user_name>
    <user_host idx="2" perm="">[2001:db8::1]:5060</user_host>
    <user_active idx="2" perm="">off</user_active>
  </phone-settings>
</settings>
)";

} // namespace checksyncd::test
