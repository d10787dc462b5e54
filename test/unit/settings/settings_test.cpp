// SPDX-License-Identifier: MIT
//
// Tests of what common/settings/settings.cpp holds beside the reader: the event
// packages' names, the Identity and Settings helpers, and the
// description --check-config prints (describeSettings()).
//
// Secrets: assertions on passwords and hashes use CHECK on a comparison
// with a named constant, so a failure prints the expression, never the
// value.

#include <string>
#include <string_view>
#include <vector>

#include "settings/settings.hpp"
#include "settings/settings_values.hpp"

#include "support/settings_support.hpp"
#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;
using namespace checksyncd::test;

TEST_GROUP(Settings){};

// Event packages

TEST(Settings, namesEventPackagesAndParsesThemBack)
{
	STRCMP_EQUAL("check-sync", eventPackageName(EventPackage::CheckSync).data());
	STRCMP_EQUAL("resync", eventPackageName(EventPackage::Resync).data());
	STRCMP_EQUAL("reboot", eventPackageName(EventPackage::Reboot).data());
	STRCMP_EQUAL("reboot_now", eventPackageName(EventPackage::RebootNow).data());
	STRCMP_EQUAL("restart_now", eventPackageName(EventPackage::RestartNow).data());
	STRCMP_EQUAL("service-control", eventPackageName(EventPackage::ServiceControl).data());
	STRCMP_EQUAL("report", eventPackageName(EventPackage::Report).data());
	for (EventPackage package : kEventPackages)
		CHECK_EQUAL(package, parseEventPackage(eventPackageName(package)));
	CHECK_EQUAL(EventPackage::CheckSync, parseEventPackage("Check-Sync"));
	CHECK_FALSE(parseEventPackage("reboot-now").has_value());
	CHECK_FALSE(parseEventPackage("restart").has_value());
	CHECK_FALSE(parseEventPackage("check-sync;reboot=true").has_value());
	CHECK_FALSE(parseEventPackage("").has_value());
}

TEST(Settings, joinsEventPackagesInCanonicalOrder)
{
	EventPackageSet set;
	CHECK_TRUE(set.empty());
	STRCMP_EQUAL("", joinEventPackages(set, ", ").c_str());
	set.insert(EventPackage::RestartNow);
	set.insert(EventPackage::CheckSync);
	set.insert(EventPackage::Resync);
	CHECK_FALSE(set.empty());
	STRCMP_EQUAL("check-sync, resync, restart_now", joinEventPackages(set, ", ").c_str());
	STRCMP_EQUAL("check-sync,resync,restart_now", joinEventPackages(set, ",").c_str());
}

// Identity and Settings helpers

TEST(Settings, realmDropsThePort)
{
	Identity identity;
	identity.host = "ser.berlin.snom.com:5060";
	STRCMP_EQUAL("ser.berlin.snom.com", identity.realm().c_str());
}

TEST(Settings, realmOfAHostWithoutPortIsTheHost)
{
	Identity identity;
	identity.host = "ser.berlin.snom.com";
	STRCMP_EQUAL("ser.berlin.snom.com", identity.realm().c_str());
	identity.host = "192.0.2.7:5061";
	STRCMP_EQUAL("192.0.2.7", identity.realm().c_str());
	identity.host = "";
	STRCMP_EQUAL("", identity.realm().c_str());
}

TEST(Settings, realmKeepsTheBracketsOfIpv6)
{
	Identity identity;
	identity.host = "[2001:db8::1]:5060";
	STRCMP_EQUAL("[2001:db8::1]", identity.realm().c_str());
	identity.host = "[2001:db8::1]";
	STRCMP_EQUAL("[2001:db8::1]", identity.realm().c_str());
}

TEST(Settings, realmKeepsABareIpv6AddressWhole)
{
	Identity identity;
	identity.host = "2001:db8::1";
	STRCMP_EQUAL("2001:db8::1", identity.realm().c_str());
}

TEST(Settings, authUserIsPnameWhenSet)
{
	Identity identity;
	identity.name = "340899";
	identity.pname = "auth340899";
	STRCMP_EQUAL("auth340899", identity.authUser().c_str());
}

TEST(Settings, authUserFallsBackToName)
{
	Identity identity;
	identity.name = "340899";
	STRCMP_EQUAL("340899", identity.authUser().c_str());
}

TEST(Settings, hasCredentialsWithPasswordOrHash)
{
	Identity identity;
	CHECK_FALSE(identity.hasCredentials());
	identity.hash = kHashLower;
	CHECK_TRUE(identity.hasCredentials());
	identity.hash.clear();
	identity.pass = kPassword;
	CHECK_TRUE(identity.hasCredentials());
}

TEST(Settings, findActiveByUserMatchesTheNameExactly)
{
	const Settings &settings = checkGood(
		parse(wrap("<user_name idx=\"1\">alice</user_name>\n"
			   "<user_name idx=\"2\">340899</user_name>\n")));
	const Identity *found = settings.findActiveByUser("340899");
	CHECK_TRUE(found != nullptr);
	LONGS_EQUAL(2, found->idx);
	POINTERS_EQUAL(nullptr, settings.findActiveByUser("Alice"));
	POINTERS_EQUAL(nullptr, settings.findActiveByUser("34089"));
	POINTERS_EQUAL(nullptr, settings.findActiveByUser("3408990"));
	POINTERS_EQUAL(nullptr, settings.findActiveByUser(""));
}

TEST(Settings, findActiveByUserIgnoresInactiveIdentities)
{
	const Settings &settings = checkGood(
		parse(wrap("<user_name idx=\"1\">340899</user_name>\n"
			   "<user_active idx=\"1\">off</user_active>\n"
			   "<user_name idx=\"2\">bob</user_name>\n"
			   "<user_name idx=\"3\">340899</user_name>\n")));
	const Identity *found = settings.findActiveByUser("340899");
	CHECK_TRUE(found != nullptr);
	LONGS_EQUAL(3, found->idx);
}

TEST(Settings, findActiveByUserFindsNothingWhenAllAreInactive)
{
	const Settings &settings = checkGood(
		parse(wrap("<user_name idx=\"1\">340899</user_name>\n"
			   "<user_active idx=\"1\">off</user_active>\n")));
	POINTERS_EQUAL(nullptr, settings.findActiveByUser("340899"));
}

TEST(Settings, findActiveByUserIgnoresIdentitiesWithoutName)
{
	const Settings &settings = checkGood(parse(wrap("<user_pass idx=\"1\">x</user_pass>\n")));
	POINTERS_EQUAL(nullptr, settings.findActiveByUser(""));
}

TEST(Settings, lowestActiveSkipsInactiveAndNamelessIdentities)
{
	const Settings &settings = checkGood(
		parse(wrap("<user_name idx=\"5\">five</user_name>\n"
			   "<user_name idx=\"2\">two</user_name>\n"
			   "<user_active idx=\"2\">off</user_active>\n"
			   "<user_pass idx=\"1\">x</user_pass>\n"
			   "<user_name idx=\"3\">three</user_name>\n")));
	const Identity *lowest = settings.lowestActive();
	CHECK_TRUE(lowest != nullptr);
	LONGS_EQUAL(3, lowest->idx);
}

TEST(Settings, lowestActiveIsNullWithoutActiveIdentities)
{
	POINTERS_EQUAL(nullptr, checkGood(parse("<settings/>")).lowestActive());
	const Settings &settings = checkGood(
		parse(wrap("<user_name idx=\"1\">a</user_name>\n"
			   "<user_active idx=\"1\">off</user_active>\n")));
	POINTERS_EQUAL(nullptr, settings.lowestActive());
}

TEST(Settings, errorToStringHasFileLineAndMessage)
{
	const SettingsError error{"/etc/checksyncd/settings.xml", 12,
				  "root element is <x>, expected <settings>"};
	STRCMP_EQUAL("/etc/checksyncd/settings.xml:12: root element is <x>, expected <settings>",
		     error.toString().c_str());
}

TEST(Settings, errorToStringLeavesOutLineZero)
{
	const SettingsError error{"/etc/checksyncd/settings.xml", 0, "not a regular file"};
	STRCMP_EQUAL("/etc/checksyncd/settings.xml: not a regular file", error.toString().c_str());
}

// --check-config

TEST(Settings, describeSettingsShowsEveryValueAndItsSource)
{
	const Settings &settings = checkGood(
		parse(wrap("<challenge_checksync>on</challenge_checksync>\n"
			   "<checksync_auth_algorithms>sha-256,MD5</checksync_auth_algorithms>\n"
			   "<checksync_events>report,restart_now,Service-Control,reboot_now"
			   "</checksync_events>\n"
			   "<user_name idx=\"1\">340899</user_name>\n"
			   "<user_host idx=\"1\">ser.berlin.snom.com</user_host>\n"
			   "<user_pass idx=\"1\">1234</user_pass>\n"
			   "<filter_registrar>on</filter_registrar>\n"
			   "<checksync_trusted>192.0.2.7/24, [2001:DB8::1], "
			   "PBX.example.com</checksync_trusted>\n"
			   "<checksync_untrusted>refuse</checksync_untrusted>\n"
			   "<user_outbound idx=\"1\">proxy.example.com:5061</user_outbound>\n")));
	STRCMP_EQUAL("challenge_checksync = on (file)\n"
		     "challenge_reboot = off (default)\n"
		     "checksync_action = (empty) (default)\n"
		     "network_id_port = 5060 (default)\n"
		     "checksync_auth_algorithms = SHA-256,MD5 (file)\n"
		     "checksync_auth_qop = auth (default)\n"
		     "checksync_auth_userhash = off (default)\n"
		     "checksync_events = reboot_now,restart_now,service-control,report (file)\n"
		     "filter_registrar = on (file)\n"
		     "checksync_trusted = 192.0.2.0/24,2001:db8::1,pbx.example.com (file)\n"
		     "checksync_untrusted = refuse (file)\n"
		     "pnp_config = on (default)\n"
		     "setting_server = (empty) (default)\n"
		     "pnp_vendor = checksyncd (default)\n"
		     "pnp_model = generic (default)\n"
		     "pnp_version = " CHECKSYNCD_VERSION " (default)\n"
		     "pnp_mac = (empty) (default)\n"
		     "pnp_url_schemes = https (default)\n"
		     "user_active[1] = on (default)\n"
		     "user_name[1] = 340899 (file)\n"
		     "user_host[1] = ser.berlin.snom.com (file)\n"
		     "user_pname[1] = (empty) (default)\n"
		     "user_pass[1] = ******** (file)\n"
		     "user_hash[1] = (unset) (default)\n"
		     "user_outbound[1] = proxy.example.com:5061 (file)\n",
		     describeSettings(settings).c_str());
}

TEST(Settings, describeSettingsShowsDefaults)
{
	STRCMP_EQUAL("challenge_checksync = off (default)\n"
		     "challenge_reboot = off (default)\n"
		     "checksync_action = (empty) (default)\n"
		     "network_id_port = 5060 (default)\n"
		     "checksync_auth_algorithms = MD5 (default)\n"
		     "checksync_auth_qop = auth (default)\n"
		     "checksync_auth_userhash = off (default)\n"
		     "checksync_events = check-sync (default)\n"
		     "filter_registrar = off (default)\n"
		     "checksync_trusted = (empty) (default)\n"
		     "checksync_untrusted = drop (default)\n"
		     "pnp_config = on (default)\n"
		     "setting_server = (empty) (default)\n"
		     "pnp_vendor = checksyncd (default)\n"
		     "pnp_model = generic (default)\n"
		     "pnp_version = " CHECKSYNCD_VERSION " (default)\n"
		     "pnp_mac = (empty) (default)\n"
		     "pnp_url_schemes = https (default)\n",
		     describeSettings(Settings{}).c_str());
}

namespace {

// Every setting the daemon reads, set to a value that is not its default,
// in the order --check-config lists them. The names are DESIGN.md's
// (section 3) and docs/settings.md's.
struct Sample {
	std::string_view name;
	std::string_view value;
};
const std::vector<Sample> kEverySetting{
	{"challenge_checksync", "on"},
	{"challenge_reboot", "on"},
	{"checksync_action", "Reboot"},
	{"network_id_port", "5070"},
	{"checksync_auth_algorithms", "sha-512-256, SHA-256"},
	{"checksync_auth_qop", "none"},
	{"checksync_auth_userhash", "on"},
	{"checksync_events", "resync,check-sync"},
	{"filter_registrar", "on"},
	{"checksync_trusted", "198.51.100.0/24"},
	{"checksync_untrusted", "refuse"},
	{"pnp_config", "off"},
	{"setting_server", "https://prov.example.com/{mac}.xml"},
	{"pnp_vendor", "Snom"},
	{"pnp_model", "D785"},
	{"pnp_version", "10.1.54.13"},
	{"pnp_mac", "000413a1b2c3"},
	{"pnp_url_schemes", "HTTPS,http"},
};
const std::vector<Sample> kEveryIdentitySetting{
	{"user_active", "off"},
	{"user_name", "340899"},
	{"user_host", "ser.berlin.snom.com:5061"},
	{"user_pname", "auth340899"},
	{"user_pass", kPassword},
	{"user_hash", kHashMixed},
	{"user_outbound", "proxy.example.com"},
};

std::string everySettingDocument()
{
	std::string body;
	for (const auto &[name, value] : kEverySetting)
		body += "<" + std::string(name) + ">" + std::string(value) + "</" +
			std::string(name) + ">\n";
	for (const auto &[name, value] : kEveryIdentitySetting)
		body += "<" + std::string(name) + " idx=\"3\">" + std::string(value) + "</" +
			std::string(name) + ">\n";
	return wrap(body);
}

} // namespace

TEST(Settings, describeSettingsShowsAFileThatSetsEverySetting)
{
	const std::string text = describeSettings(checkGood(parse(everySettingDocument())));
	CHECK_FALSE(contains(text, kPassword));
	CHECK_FALSE(contains(text, kHashLower));
	CHECK_FALSE(contains(text, kHashMixed));
	STRCMP_EQUAL("challenge_checksync = on (file)\n"
		     "challenge_reboot = on (file)\n"
		     "checksync_action = reboot (file)\n"
		     "network_id_port = 5070 (file)\n"
		     "checksync_auth_algorithms = SHA-512-256,SHA-256 (file)\n"
		     "checksync_auth_qop = none (file)\n"
		     "checksync_auth_userhash = on (file)\n"
		     "checksync_events = check-sync,resync (file)\n"
		     "filter_registrar = on (file)\n"
		     "checksync_trusted = 198.51.100.0/24 (file)\n"
		     "checksync_untrusted = refuse (file)\n"
		     "pnp_config = off (file)\n"
		     "setting_server = https://prov.example.com/{mac}.xml (file)\n"
		     "pnp_vendor = Snom (file)\n"
		     "pnp_model = D785 (file)\n"
		     "pnp_version = 10.1.54.13 (file)\n"
		     "pnp_mac = 000413A1B2C3 (file)\n"
		     "pnp_url_schemes = https,http (file)\n"
		     "user_active[3] = off (file)\n"
		     "user_name[3] = 340899 (file)\n"
		     "user_host[3] = ser.berlin.snom.com:5061 (file)\n"
		     "user_pname[3] = auth340899 (file)\n"
		     "user_pass[3] = ******** (file)\n"
		     "user_hash[3] = ******** (file)\n"
		     "user_outbound[3] = proxy.example.com (file)\n",
		     text.c_str());
}

// The key table (settings_values.cpp) reads and describes the settings
// above and no others: a key added to it, or dropped from it, without its
// value here fails.
TEST(Settings, theKeyTableHoldsEverySettingOnceInTheOrderItIsDescribed)
{
	const auto names = [](const auto &keys) {
		std::string out;
		for (const auto &key : keys)
			out += std::string(key.name) + "\n";
		return out;
	};
	STRCMP_EQUAL(names(kEverySetting).c_str(), names(settingKeys()).c_str());
	STRCMP_EQUAL(names(kEveryIdentitySetting).c_str(), names(identityKeys()).c_str());
	for (const SettingKey<Settings> &key : settingKeys())
		CHECK_TRUE_TEXT(key.read && key.describe, std::string(key.name).c_str());
	for (const SettingKey<Identity> &key : identityKeys())
		CHECK_TRUE_TEXT(key.read && key.describe, std::string(key.name).c_str());

	// Each key is read from the file and described as from it, one line
	// each, in the table's order.
	const Settings &settings = checkGood(parse(everySettingDocument()));
	std::string described;
	for (const SettingKey<Settings> &key : settingKeys()) {
		CHECK_TRUE_TEXT(settings.fromFile.contains(std::string(key.name)),
				std::string(key.name).c_str());
		described += std::string(key.name) + " = " + key.describe(settings) + " (file)\n";
	}
	for (const SettingKey<Identity> &key : identityKeys()) {
		const std::string name = identityKey(key.name, 3);
		CHECK_TRUE_TEXT(settings.fromFile.contains(name), name.c_str());
		described += name + " = " + key.describe(settings.identities.at(3)) + " (file)\n";
	}
	LONGS_EQUAL(settingKeys().size() + identityKeys().size(), settings.fromFile.size());
	STRCMP_EQUAL(described.c_str(), describeSettings(settings).c_str());
}

TEST(Settings, describeSettingsWritesEnumeratedValuesInLowerCase)
{
	const auto described = [](const std::string &xml) {
		return describeSettings(checkGood(parse(wrap(xml))));
	};
	CHECK_TRUE(contains(described("<checksync_action>SYNC</checksync_action>\n"),
			    "checksync_action = sync (file)\n"));
	CHECK_TRUE(contains(described("<checksync_action>Reboot</checksync_action>\n"),
			    "checksync_action = reboot (file)\n"));
	CHECK_TRUE(contains(described("<checksync_action></checksync_action>\n"),
			    "checksync_action = (empty) (file)\n"));
	CHECK_TRUE(contains(described("<checksync_auth_qop>NONE</checksync_auth_qop>\n"),
			    "checksync_auth_qop = none (file)\n"));
	CHECK_TRUE(contains(described("<checksync_untrusted>DROP</checksync_untrusted>\n"),
			    "checksync_untrusted = drop (file)\n"));
}

TEST(Settings, describeSettingsMasksSecrets)
{
	const Settings &settings = checkGood(
		parse(wrap("<user_name idx=\"1\">340899</user_name>\n"
			   "<user_pass idx=\"1\">" +
			   std::string(kPassword) +
			   "</user_pass>\n"
			   "<user_hash idx=\"2\">" +
			   std::string(kHashMixed) + "</user_hash>\n")));
	const std::string text = describeSettings(settings);
	CHECK_FALSE(contains(text, kPassword));
	CHECK_FALSE(contains(text, kHashLower));
	CHECK_FALSE(contains(text, kHashMixed));
	CHECK_FALSE(contains(text, "0123456789"));
	CHECK_TRUE(contains(text, "user_pass[1] = ******** (file)\n"));
	CHECK_TRUE(contains(text, "user_hash[1] = (unset) (default)\n"));
	CHECK_TRUE(contains(text, "user_pass[2] = (unset) (default)\n"));
	CHECK_TRUE(contains(text, "user_hash[2] = ******** (file)\n"));
}

TEST(Settings, describeSettingsKeepsOneLinePerSetting)
{
	const Settings &settings = checkGood(
		parse(wrap("<user_name idx=\"1\">a&#10;b</user_name>\n")));
	CHECK_TRUE(contains(describeSettings(settings), "user_name[1] = a\\nb (file)\n"));
}

// --check-config: the plug-and-play settings

TEST(Settings, describeSettingsMasksTheSettingServerPassword)
{
	const std::string text = describeSettings(
		checkGood(parse(wrap("<setting_server>https://prov:" + std::string(kPassword) +
				     "@prov.example.com/{mac}.xml</setting_server>\n"))));
	CHECK_FALSE(contains(text, kPassword));
	CHECK_TRUE(contains(
		text,
		"setting_server = https://prov:********@prov.example.com/{mac}.xml (file)\n"));
	CHECK_TRUE(contains(describeSettings(checkGood(parse(wrap(
				    "<setting_server>https://user@h/a:b</setting_server>\n")))),
			    "setting_server = https://user@h/a:b (file)\n"));
}
