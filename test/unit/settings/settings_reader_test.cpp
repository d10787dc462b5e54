// SPDX-License-Identifier: MIT
//
// Tests of the settings reader (common/settings/settings_reader.cpp, docs/settings.md):
// parseSettings() on documents, good, invalid and hostile. The file is read
// on the loop side: settings_file_test.cpp.
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

#include "support/settings_support.hpp"
#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;
using namespace checksyncd::test;

TEST_GROUP(SettingsReader){};

// Good files and defaults

TEST(SettingsReader, acceptsTheDesignExampleWithEveryGlobalSetting)
{
	const LoadResult result = parse(kDesignExample);
	const Settings &settings = checkGood(result);
	CHECK_TRUE(result.warnings.empty());

	CHECK_TRUE(settings.challengeChecksync);
	CHECK_TRUE(settings.challengeReboot);
	CHECK_EQUAL(ForcedAction::Reboot, settings.action);
	LONGS_EQUAL(5062, settings.port);
	LONGS_EQUAL(3, settings.algorithms.size());
	CHECK_EQUAL(Algorithm::Sha512_256, settings.algorithms[0]);
	CHECK_EQUAL(Algorithm::Sha256, settings.algorithms[1]);
	CHECK_EQUAL(Algorithm::Md5, settings.algorithms[2]);
	CHECK_EQUAL(QopPolicy::None, settings.qop);
	CHECK_EQUAL((EventPackageSet{EventPackage::CheckSync, EventPackage::Resync,
				     EventPackage::RebootNow}),
		    settings.events);

	LONGS_EQUAL(2, settings.identities.size());
	const Identity &first = settings.identities.at(1);
	LONGS_EQUAL(1, first.idx);
	CHECK_TRUE(first.active);
	STRCMP_EQUAL("340899", first.name.c_str());
	STRCMP_EQUAL("ser.berlin.snom.com", first.host.c_str());
	STRCMP_EQUAL("auth340899", first.pname.c_str());
	CHECK_TRUE(first.pass == "1234");
	CHECK_TRUE(first.hash.empty());

	const Identity &second = settings.identities.at(2);
	LONGS_EQUAL(2, second.idx);
	CHECK_FALSE(second.active);
	STRCMP_EQUAL("340900", second.name.c_str());
	STRCMP_EQUAL("[2001:db8::1]:5060", second.host.c_str());
	CHECK_TRUE(second.pass.empty());
	CHECK_TRUE(second.hash == kHashLower);
}

TEST(SettingsReader, usesDefaultsForAbsentSettings)
{
	const LoadResult result = parse("<settings/>");
	const Settings &settings = checkGood(result);
	CHECK_FALSE(settings.challengeChecksync);
	CHECK_FALSE(settings.challengeReboot);
	CHECK_EQUAL(ForcedAction::None, settings.action);
	LONGS_EQUAL(5060, settings.port);
	LONGS_EQUAL(1, settings.algorithms.size());
	CHECK_EQUAL(Algorithm::Md5, settings.algorithms[0]);
	CHECK_EQUAL(QopPolicy::Auth, settings.qop);
	CHECK_EQUAL(EventPackageSet{EventPackage::CheckSync}, settings.events);
	CHECK_TRUE(settings.identities.empty());
	CHECK_TRUE(settings.fromFile.empty());
}

TEST(SettingsReader, acceptsAnEmptyPhoneSettingsSection)
{
	const Settings &settings = checkGood(parse(wrap("")));
	CHECK_TRUE(settings.identities.empty());
	LONGS_EQUAL(5060, settings.port);
}

TEST(SettingsReader, recordsWhichSettingsCameFromTheFile)
{
	const Settings &settings = checkGood(parse(kDesignExample));
	const std::set<std::string> expected{
		"challenge_checksync",
		"challenge_reboot",
		"checksync_action",
		"network_id_port",
		"checksync_auth_algorithms",
		"checksync_auth_qop",
		"checksync_events",
		"user_active[1]",
		"user_name[1]",
		"user_host[1]",
		"user_pname[1]",
		"user_pass[1]",
		"user_active[2]",
		"user_name[2]",
		"user_host[2]",
		"user_hash[2]",
	};
	CHECK_TRUE(settings.fromFile == expected);
}

TEST(SettingsReader, trimsAsciiWhitespaceAroundValues)
{
	const Settings &settings = checkGood(
		parse(wrap("<challenge_checksync>\n\t on \r\n</challenge_checksync>\n"
			   "<network_id_port> 5070 </network_id_port>\n"
			   "<user_name idx=\"1\">  a b  </user_name>\n"
			   "<user_pass idx=\"1\">\t1234\n</user_pass>\n")));
	CHECK_TRUE(settings.challengeChecksync);
	LONGS_EQUAL(5070, settings.port);
	STRCMP_EQUAL("a b", settings.identities.at(1).name.c_str());
	CHECK_TRUE(settings.identities.at(1).pass == "1234");
}

TEST(SettingsReader, acceptsOnAndOffInAnyCase)
{
	const Settings &settings = checkGood(
		parse(wrap("<challenge_checksync>ON</challenge_checksync>\n"
			   "<challenge_reboot>On</challenge_reboot>\n"
			   "<user_active idx=\"1\">OFF</user_active>\n")));
	CHECK_TRUE(settings.challengeChecksync);
	CHECK_TRUE(settings.challengeReboot);
	CHECK_FALSE(settings.identities.at(1).active);
}

TEST(SettingsReader, acceptsOffForBooleans)
{
	const Settings &settings = checkGood(
		parse(wrap("<challenge_checksync>off</challenge_checksync>\n"
			   "<challenge_reboot>off</challenge_reboot>\n")));
	CHECK_FALSE(settings.challengeChecksync);
	CHECK_FALSE(settings.challengeReboot);
	CHECK_TRUE(settings.fromFile.contains("challenge_checksync"));
}

TEST(SettingsReader, acceptsEveryCheckSyncAction)
{
	CHECK_EQUAL(ForcedAction::None,
		    checkGood(parse(wrap("<checksync_action></checksync_action>\n"))).action);
	CHECK_EQUAL(ForcedAction::None, checkGood(parse(wrap("<checksync_action/>\n"))).action);
	CHECK_EQUAL(ForcedAction::Sync,
		    checkGood(parse(wrap("<checksync_action>sync</checksync_action>\n"))).action);
	CHECK_EQUAL(ForcedAction::Reboot,
		    checkGood(parse(wrap("<checksync_action>Reboot</checksync_action>\n"))).action);
	// Snom's values since firmware 10.1.180, and --check-config writes
	// each one back as the file may spell it.
	const struct {
		const char *text;
		ForcedAction action;
	} snom[] = {
		{"reregister", ForcedAction::Reregister},
		{"delete-contacts", ForcedAction::DeleteContacts},
		{"Factory-Reset", ForcedAction::FactoryReset},
	};
	for (const auto &c : snom) {
		const Settings &settings = checkGood(parse(wrap(
			"<checksync_action>" + std::string(c.text) + "</checksync_action>\n")));
		CHECK_TRUE_TEXT(settings.action == c.action, c.text);
		const std::string line = "checksync_action = " + asciiLower(c.text) + " (file)\n";
		CHECK_TRUE_TEXT(describeSettings(settings).find(line) != std::string::npos, c.text);
	}
	// Near misses are refused, not guessed at.
	for (const char *text : {"delete_contacts", "factory_reset", "factoryreset", "re-register"})
		CHECK_FALSE_TEXT(parse(wrap("<checksync_action>" + std::string(text) +
					    "</checksync_action>\n"))
					 .settings.has_value(),
				 text);
}

TEST(SettingsReader, acceptsPortNumbersFromOneTo65535)
{
	LONGS_EQUAL(1, checkGood(parse(wrap("<network_id_port>1</network_id_port>\n"))).port);
	LONGS_EQUAL(65535,
		    checkGood(parse(wrap("<network_id_port>65535</network_id_port>\n"))).port);
}

TEST(SettingsReader, keepsTheOrderOfTheAlgorithmListIgnoringCase)
{
	const Settings &settings = checkGood(
		parse(wrap("<checksync_auth_algorithms> md5 ,\tsha-256 "
			   "</checksync_auth_algorithms>\n")));
	LONGS_EQUAL(2, settings.algorithms.size());
	CHECK_EQUAL(Algorithm::Md5, settings.algorithms[0]);
	CHECK_EQUAL(Algorithm::Sha256, settings.algorithms[1]);
}

TEST(SettingsReader, acceptsEveryEventPackageInAnyCaseAndOrder)
{
	const Settings &all = checkGood(
		parse(wrap("<checksync_events> restart_now,Reboot_Now ,reboot,Report,"
			   "\tRESYNC, check-sync ,Service-Control</checksync_events>\n")));
	for (EventPackage package : kEventPackages)
		CHECK_TRUE_TEXT(all.events.contains(package), eventPackageName(package).data());

	const Settings &one = checkGood(
		parse(wrap("<checksync_events>resync</checksync_events>\n")));
	CHECK_TRUE(one.events.contains(EventPackage::Resync));
	// Listing packages replaces the default: check-sync is now refused.
	CHECK_FALSE(one.events.contains(EventPackage::CheckSync));
	CHECK_FALSE(one.events.contains(EventPackage::Reboot));
}

TEST(SettingsReader, acceptsBothQopPolicies)
{
	CHECK_EQUAL(QopPolicy::Auth,
		    checkGood(parse(wrap("<checksync_auth_qop>auth</checksync_auth_qop>\n"))).qop);
	CHECK_EQUAL(QopPolicy::None,
		    checkGood(parse(wrap("<checksync_auth_qop>NONE</checksync_auth_qop>\n"))).qop);
}

TEST(SettingsReader, acceptsEveryEnumeratedSpellingInAnyCase)
{
	const auto untrusted = [](const char *text) {
		return checkGood(parse(wrap("<checksync_untrusted>" + std::string(text) +
					    "</checksync_untrusted>\n")))
			.untrusted;
	};
	CHECK_EQUAL(UntrustedPolicy::Drop, untrusted("drop"));
	CHECK_EQUAL(UntrustedPolicy::Drop, untrusted("DROP"));
	CHECK_EQUAL(UntrustedPolicy::Refuse, untrusted("refuse"));
	CHECK_EQUAL(UntrustedPolicy::Refuse, untrusted("REFUSE"));
	CHECK_EQUAL(QopPolicy::Auth,
		    checkGood(parse(wrap("<checksync_auth_qop>Auth</checksync_auth_qop>\n"))).qop);
	CHECK_EQUAL(ForcedAction::Sync,
		    checkGood(parse(wrap("<checksync_action>SYNC</checksync_action>\n"))).action);
	CHECK_EQUAL(ForcedAction::Reboot,
		    checkGood(parse(wrap("<checksync_action>reboot</checksync_action>\n"))).action);
	const Settings &booleans = checkGood(
		parse(wrap("<filter_registrar>oN</filter_registrar>\n"
			   "<pnp_config>Off</pnp_config>\n"
			   "<user_active idx=\"1\">on</user_active>\n")));
	CHECK_TRUE(booleans.filterRegistrar);
	CHECK_FALSE(booleans.pnp.enabled);
	CHECK_TRUE(booleans.identities.at(1).active);
}

TEST(SettingsReader, storesUserHashInLowerCase)
{
	const Settings &settings = checkGood(
		parse(wrap("<user_hash idx=\"1\">" + std::string(kHashMixed) + "</user_hash>\n")));
	CHECK_TRUE(settings.identities.at(1).hash == kHashLower);
}

TEST(SettingsReader, acceptsAnEmptyUserHash)
{
	const Settings &settings = checkGood(parse(wrap("<user_hash idx=\"1\"></user_hash>\n")));
	CHECK_TRUE(settings.identities.at(1).hash.empty());
	CHECK_TRUE(settings.fromFile.contains("user_hash[1]"));
}

TEST(SettingsReader, readsEscapedCharactersAndCdata)
{
	const Settings &settings = checkGood(
		parse(wrap("<user_name idx=\"1\">a&amp;b&lt;c&#x41;</user_name>\n"
			   "<user_pass idx=\"1\"><![CDATA[p<&>w]]></user_pass>\n")));
	STRCMP_EQUAL("a&b<cA", settings.identities.at(1).name.c_str());
	CHECK_TRUE(settings.identities.at(1).pass == "p<&>w");
}

TEST(SettingsReader, createsAnIdentityForAnyUserSetting)
{
	const Settings &settings = checkGood(parse(wrap("<user_pass idx=\"3\">x</user_pass>\n")));
	LONGS_EQUAL(1, settings.identities.size());
	const Identity &identity = settings.identities.at(3);
	LONGS_EQUAL(3, identity.idx);
	CHECK_TRUE(identity.active);
	CHECK_TRUE(identity.name.empty());
}

TEST(SettingsReader, acceptsAnyPositiveIdx)
{
	const Settings &settings = checkGood(
		parse(wrap("<user_name idx=\"12\">a</user_name>\n"
			   "<user_name idx=\"999999\">b</user_name>\n")));
	STRCMP_EQUAL("a", settings.identities.at(12).name.c_str());
	STRCMP_EQUAL("b", settings.identities.at(999999).name.c_str());
}

// Invalid values

TEST(SettingsReader, readsTheSourceFilterSettings)
{
	const Settings &settings = checkGood(
		parse(wrap("<filter_registrar>ON</filter_registrar>\n"
			   "<checksync_trusted> 192.0.2.1, 198.51.100.0/24 ,2001:db8::/32,"
			   "[2001:db8::7], PBX.Example.COM </checksync_trusted>\n"
			   "<checksync_untrusted>Refuse</checksync_untrusted>\n"
			   "<user_outbound idx=\"1\">proxy.example.com:5070</user_outbound>\n"
			   "<user_outbound idx=\"2\">[2001:db8::9]</user_outbound>\n")));
	CHECK_TRUE(settings.filterRegistrar);
	CHECK_EQUAL(UntrustedPolicy::Refuse, settings.untrusted);
	LONGS_EQUAL(5, settings.trusted.size());
	STRCMP_EQUAL("192.0.2.1", settings.trusted[0].toString().c_str());
	STRCMP_EQUAL("198.51.100.0/24", settings.trusted[1].toString().c_str());
	STRCMP_EQUAL("2001:db8::/32", settings.trusted[2].toString().c_str());
	STRCMP_EQUAL("2001:db8::7", settings.trusted[3].toString().c_str());
	CHECK_FALSE(settings.trusted[4].prefix.has_value());
	STRCMP_EQUAL("pbx.example.com", settings.trusted[4].name.c_str());
	STRCMP_EQUAL("proxy.example.com:5070", settings.identities.at(1).outbound.c_str());
	STRCMP_EQUAL("[2001:db8::9]", settings.identities.at(2).outbound.c_str());
	CHECK_TRUE(settings.fromFile.contains("user_outbound[1]"));
	CHECK_TRUE(settings.fromFile.contains("checksync_trusted"));
}

TEST(SettingsReader, theSourceFilterIsOffByDefault)
{
	const Settings &settings = checkGood(
		parse(wrap("<checksync_trusted></checksync_trusted>\n")));
	CHECK_FALSE(settings.filterRegistrar);
	CHECK_TRUE(settings.trusted.empty());
	CHECK_EQUAL(UntrustedPolicy::Drop, settings.untrusted);
}

TEST(SettingsReader, reportsEveryBadEntryOfTheTrustedList)
{
	const LoadResult result = parse(wrap(
		"<checksync_trusted>192.0.2.1/40, ok.example.com, bad_name</checksync_trusted>\n"));
	CHECK_FALSE(result.settings.has_value());
	LONGS_EQUAL(2, result.errors.size());
	CHECK_TRUE(contains(result.errors[0].message, "\"192.0.2.1/40\""));
	CHECK_TRUE(contains(result.errors[1].message, "\"bad_name\""));
}

TEST(SettingsReader, refusesMoreThan64TrustedEntriesOnce)
{
	std::string list;
	for (int i = 0; i < 70; i++)
		list += (i ? "," : "") + std::string("192.0.2.") + std::to_string(i);
	const LoadResult result = parse(
		wrap("<checksync_trusted>" + list + "</checksync_trusted>\n"));
	checkOneError(result, 4, "checksync_trusted: more than 64 entries at \"192.0.2.64\"");
}

TEST(SettingsReader, reportsEachInvalidValueWithItsLine)
{
	struct Case {
		const char *element;
		const char *message;
	};
	const Case cases[] = {
		{"<challenge_checksync>maybe</challenge_checksync>",
		 "challenge_checksync: invalid value \"maybe\" (expected on or off)"},
		{"<challenge_checksync></challenge_checksync>",
		 "challenge_checksync: invalid value \"\" (expected on or off)"},
		{"<challenge_checksync>1</challenge_checksync>",
		 "challenge_checksync: invalid value \"1\" (expected on or off)"},
		{"<challenge_reboot>yes</challenge_reboot>",
		 "challenge_reboot: invalid value \"yes\" (expected on or off)"},
		{"<checksync_action>restart</checksync_action>",
		 "checksync_action: invalid value \"restart\" (expected sync, reboot, reregister, "
		 "delete-contacts, "
		 "factory-reset or empty)"},
		{"<checksync_action>sync reboot</checksync_action>",
		 "checksync_action: invalid value \"sync reboot\" (expected sync, reboot, "
		 "reregister, delete-contacts, factory-reset or "
		 "empty)"},
		{"<network_id_port>0</network_id_port>",
		 "network_id_port: invalid value \"0\" (expected a port number from 1 to 65535)"},
		{"<network_id_port>65536</network_id_port>",
		 "network_id_port: invalid value \"65536\" (expected a port number from 1 to "
		 "65535)"},
		{"<network_id_port>-1</network_id_port>",
		 "network_id_port: invalid value \"-1\" (expected a port number from 1 to 65535)"},
		{"<network_id_port>+5060</network_id_port>",
		 "network_id_port: invalid value \"+5060\" (expected a port number from 1 to "
		 "65535)"},
		{"<network_id_port>5060x</network_id_port>",
		 "network_id_port: invalid value \"5060x\" (expected a port number from 1 to "
		 "65535)"},
		{"<network_id_port>50 60</network_id_port>",
		 "network_id_port: invalid value \"50 60\" (expected a port number from 1 to "
		 "65535)"},
		{"<network_id_port>0x13c4</network_id_port>",
		 "network_id_port: invalid value \"0x13c4\" (expected a port number from 1 to "
		 "65535)"},
		{"<network_id_port></network_id_port>",
		 "network_id_port: invalid value \"\" (expected a port number from 1 to 65535)"},
		{"<network_id_port>99999999999999999999999</network_id_port>",
		 "network_id_port: invalid value \"99999999999999999999999\" (expected a port "
		 "number "
		 "from 1 to 65535)"},
		{"<checksync_auth_algorithms></checksync_auth_algorithms>",
		 "checksync_auth_algorithms: empty (expected a comma-separated list of "
		 "SHA-512-256, "
		 "SHA-256 and MD5)"},
		{"<checksync_auth_algorithms>MD5,,SHA-256</checksync_auth_algorithms>",
		 "checksync_auth_algorithms: empty item in \"MD5,,SHA-256\""},
		{"<checksync_auth_algorithms>MD5, </checksync_auth_algorithms>",
		 "checksync_auth_algorithms: empty item in \"MD5,\""},
		{"<checksync_auth_algorithms>SHA-1</checksync_auth_algorithms>",
		 "checksync_auth_algorithms: unknown algorithm \"SHA-1\" (expected SHA-512-256, "
		 "SHA-256 "
		 "or MD5)"},
		{"<checksync_auth_algorithms>MD5-sess</checksync_auth_algorithms>",
		 "checksync_auth_algorithms: unknown algorithm \"MD5-sess\" (expected SHA-512-256, "
		 "SHA-256 or MD5)"},
		{"<checksync_auth_algorithms>MD5 SHA-256</checksync_auth_algorithms>",
		 "checksync_auth_algorithms: unknown algorithm \"MD5 SHA-256\" (expected "
		 "SHA-512-256, "
		 "SHA-256 or MD5)"},
		{"<checksync_auth_algorithms>MD5,SHA-256,md5</checksync_auth_algorithms>",
		 "checksync_auth_algorithms: MD5 listed twice"},
		{"<checksync_events></checksync_events>",
		 "checksync_events: empty (expected a comma-separated list of check-sync, resync, "
		 "reboot, reboot_now, restart_now, service-control or report)"},
		{"<checksync_events>check-sync,,resync</checksync_events>",
		 "checksync_events: empty item in \"check-sync,,resync\""},
		{"<checksync_events>check-sync,</checksync_events>",
		 "checksync_events: empty item in \"check-sync,\""},
		{"<checksync_events>presence</checksync_events>",
		 "checksync_events: unknown event package \"presence\" (expected check-sync, "
		 "resync, "
		 "reboot, reboot_now, restart_now, service-control or report)"},
		{"<checksync_events>check-sync;reboot=true</checksync_events>",
		 "checksync_events: unknown event package \"check-sync;reboot=true\" (expected "
		 "check-sync, resync, reboot, reboot_now, restart_now, service-control or report)"},
		{"<checksync_events>resync reboot</checksync_events>",
		 "checksync_events: unknown event package \"resync reboot\" (expected check-sync, "
		 "resync, reboot, reboot_now, restart_now, service-control or report)"},
		{"<checksync_events>resync,Resync</checksync_events>",
		 "checksync_events: resync listed twice"},
		{"<checksync_auth_qop>auth-int</checksync_auth_qop>",
		 "checksync_auth_qop: invalid value \"auth-int\" (expected auth or none)"},
		{"<checksync_auth_qop></checksync_auth_qop>",
		 "checksync_auth_qop: invalid value \"\" (expected auth or none)"},
		{"<user_active idx=\"1\">yes</user_active>",
		 "user_active[1]: invalid value \"yes\" (expected on or off)"},
		{"<user_hash idx=\"2\">abc</user_hash>",
		 "user_hash[2]: invalid value (expected empty or 32 hex digits)"},
		{"<user_hash idx=\"2\">0123456789abcdef0123456789abcde</user_hash>",
		 "user_hash[2]: invalid value (expected empty or 32 hex digits)"},
		{"<user_hash idx=\"2\">0123456789abcdef0123456789abcdef0</user_hash>",
		 "user_hash[2]: invalid value (expected empty or 32 hex digits)"},
		{"<user_hash idx=\"2\">0123456789abcdef0123456789abcdeg</user_hash>",
		 "user_hash[2]: invalid value (expected empty or 32 hex digits)"},
		{"<filter_registrar>yes</filter_registrar>",
		 "filter_registrar: invalid value \"yes\" (expected on or off)"},
		{"<checksync_untrusted>reject</checksync_untrusted>",
		 "checksync_untrusted: invalid value \"reject\" (expected drop or refuse)"},
		{"<checksync_untrusted></checksync_untrusted>",
		 "checksync_untrusted: invalid value \"\" (expected drop or refuse)"},
		{"<checksync_trusted>192.0.2.300</checksync_trusted>",
		 "checksync_trusted: invalid address or prefix \"192.0.2.300\" (expected an IP "
		 "address, a CIDR prefix or a host name)"},
		{"<checksync_trusted>192.0.2.0/33</checksync_trusted>",
		 "checksync_trusted: invalid address or prefix \"192.0.2.0/33\" (expected an IP "
		 "address, a CIDR prefix or a host name)"},
		{"<checksync_trusted>2001:db8::/129</checksync_trusted>",
		 "checksync_trusted: invalid address or prefix \"2001:db8::/129\" (expected an IP "
		 "address, a CIDR prefix or a host name)"},
		{"<checksync_trusted>pbx.example.com:5060</checksync_trusted>",
		 "checksync_trusted: invalid address or prefix \"pbx.example.com:5060\" (expected "
		 "an "
		 "IP address, a CIDR prefix or a host name)"},
		{"<checksync_trusted>pbx_example.com</checksync_trusted>",
		 "checksync_trusted: invalid host name \"pbx_example.com\" (expected an IP "
		 "address, a "
		 "CIDR prefix or a host name)"},
		{"<checksync_trusted>192.0.2.1 192.0.2.2</checksync_trusted>",
		 "checksync_trusted: invalid host name \"192.0.2.1 192.0.2.2\" (expected an IP "
		 "address, a CIDR prefix or a host name)"},
		{"<checksync_trusted>192.0.2.1,,pbx.example.com</checksync_trusted>",
		 "checksync_trusted: empty entry in \"192.0.2.1,,pbx.example.com\""},
		{"<checksync_trusted>192.0.2.1, ::ffff:192.0.2.1</checksync_trusted>",
		 "checksync_trusted: duplicate entry \"::ffff:192.0.2.1\""},
		{"<checksync_trusted>pbx.example.com,PBX.Example.com</checksync_trusted>",
		 "checksync_trusted: duplicate entry \"PBX.Example.com\""},
		{"<user_outbound idx=\"1\">proxy.example.com:0</user_outbound>",
		 "user_outbound[1]: invalid value \"proxy.example.com:0\" (expected host[:port])"},
		{"<user_outbound idx=\"1\">sip:proxy.example.com</user_outbound>",
		 "user_outbound[1]: invalid value \"sip:proxy.example.com\" (expected "
		 "host[:port])"},
		{"<user_outbound idx=\"1\">proxy example</user_outbound>",
		 "user_outbound[1]: invalid value \"proxy example\" (expected host[:port])"},
	};
	for (const Case &c : cases) {
		// Line 4 is a valid setting, the invalid one is on line 5.
		const LoadResult result = parse(wrap("<user_name idx=\"1\">340899</user_name>\n" +
						     std::string(c.element) + "\n"));
		CHECK_FALSE_TEXT(result.settings.has_value(), c.element);
		LONGS_EQUAL_TEXT(1, result.errors.size(), c.element);
		LONGS_EQUAL_TEXT(5, result.errors[0].line, c.element);
		STRCMP_EQUAL_TEXT(c.message, result.errors[0].message.c_str(), c.element);
	}
}

TEST(SettingsReader, reportsEveryEmptyItemOfAnAlgorithmList)
{
	const LoadResult result = parse(
		wrap("<checksync_auth_algorithms>,</checksync_auth_algorithms>\n"));
	CHECK_FALSE(result.settings.has_value());
	STRCMP_EQUAL("settings.xml:4: checksync_auth_algorithms: empty item in \",\"\n"
		     "settings.xml:4: checksync_auth_algorithms: empty item in \",\"\n",
		     allErrors(result).c_str());
}

TEST(SettingsReader, neverQuotesAnInvalidUserHash)
{
	const std::string secret = std::string(kPassword) + "0123456789abcdef0123456789";
	const LoadResult result = parse(wrap("<user_hash idx=\"1\">" + secret + "</user_hash>\n"));
	CHECK_FALSE(result.settings.has_value());
	CHECK_FALSE(contains(allErrors(result), kPassword));
	checkOneError(result, 4, "user_hash[1]: invalid value (expected empty or 32 hex digits)");
}

TEST(SettingsReader, neverQuotesUserPassInErrors)
{
	// Every error a user_pass element can cause: a bad idx, a duplicate,
	// an undefined entity and bytes that are not UTF-8.
	const std::string secret(kPassword);
	const std::string documents[] = {
		wrap("<user_pass idx=\"x\">" + secret + "</user_pass>\n"),
		wrap("<user_pass idx=\"1\">" + secret + "</user_pass>\n<user_pass idx=\"1\">" +
		     secret + "</user_pass>\n"),
		wrap("<user_pass idx=\"1\">ab&" + secret + ";cd</user_pass>\n"),
		wrap("<user_pass idx=\"1\">\xff" + secret + "</user_pass>\n"),
		wrap("<user_pass idx=\"1\">" + secret + "\xc3(</user_pass>\n"),
	};
	for (const std::string &document : documents) {
		const LoadResult result = parse(document);
		CHECK_FALSE(result.settings.has_value());
		CHECK_FALSE(result.errors.empty());
		const std::string errors = allErrors(result);
		CHECK_FALSE(contains(errors, kPassword));
		CHECK_FALSE(contains(errors, "0x"));
	}
}

TEST(SettingsReader, cutsLongValuesInErrors)
{
	const LoadResult result = parse(
		wrap("<checksync_action>" + std::string(500, 'x') + "</checksync_action>\n"));
	LONGS_EQUAL(1, result.errors.size());
	const std::string &message = result.errors[0].message;
	CHECK_TRUE(message.size() < 200);
	CHECK_TRUE(contains(message, "xxx...\""));
}

TEST(SettingsReader, escapesControlCharactersInErrors)
{
	const LoadResult result = parse(
		wrap("<checksync_action>a&#10;b&#9;\"c</checksync_action>\n"));
	checkOneError(result, 4,
		      "checksync_action: invalid value \"a\\nb\\t\\\"c\" (expected sync, reboot, "
		      "reregister, delete-contacts, factory-reset or empty)");
}

TEST(SettingsReader, collectsEveryErrorInDocumentOrder)
{
	const LoadResult result = parse(wrap("<challenge_checksync>maybe</challenge_checksync>\n"
					     "<user_name>no idx</user_name>\n"
					     "<network_id_port>0</network_id_port>\n"
					     "<user_name idx=\"1\">a</user_name>\n"
					     "<user_name idx=\"1\">b</user_name>\n"
					     "<checksync_auth_qop>x</checksync_auth_qop>\n"));
	CHECK_FALSE(result.settings.has_value());
	STRCMP_EQUAL(
		"settings.xml:4: challenge_checksync: invalid value \"maybe\" (expected on or "
		"off)\n"
		"settings.xml:5: user_name: idx must be a positive integer\n"
		"settings.xml:6: network_id_port: invalid value \"0\" (expected a port number from "
		"1 to "
		"65535)\n"
		"settings.xml:8: user_name[1] given twice (first at line 7)\n"
		"settings.xml:9: checksync_auth_qop: invalid value \"x\" (expected auth or none)\n",
		allErrors(result).c_str());
}

// Structure, perm and idx

TEST(SettingsReader, ignoresUnknownSettingsAndOtherSections)
{
	const Settings &settings = checkGood(parse(
		"<?xml version=\"1.0\"?>\n"
		"<settings>\n"
		"<phone-settings>\n"
		"<unknown_setting perm=\"\">whatever</unknown_setting>\n"
		"<Challenge_Checksync>maybe</Challenge_Checksync>\n"
		"<user_realname idx=\"1\">Somebody</user_realname>\n"
		"<!-- <challenge_checksync>maybe</challenge_checksync> -->\n"
		"<?some-pi data?>\n"
		"text between settings\n"
		"</phone-settings>\n"
		"<functionKeys><fkey idx=\"0\">line</fkey></functionKeys>\n"
		"<tbook><item><challenge_checksync>maybe</challenge_checksync></item></tbook>\n"
		"<challenge_checksync>maybe</challenge_checksync>\n"
		"<dialplan><template match=\"1\"/></dialplan>\n"
		"</settings>\n"));
	CHECK_FALSE(settings.challengeChecksync);
	CHECK_TRUE(settings.identities.empty());
	CHECK_TRUE(settings.fromFile.empty());
}

TEST(SettingsReader, ignoresSettingsNestedInsideUnknownElements)
{
	const Settings &settings = checkGood(
		parse(wrap("<group><challenge_checksync>maybe</challenge_checksync></group>\n")));
	CHECK_FALSE(settings.challengeChecksync);
}

TEST(SettingsReader, readsEveryPhoneSettingsSection)
{
	const Settings &settings = checkGood(
		parse("<settings>\n"
		      "<phone-settings><user_name idx=\"1\">a</user_name></phone-settings>\n"
		      "<functionKeys/>\n"
		      "<phone-settings><user_name idx=\"2\">b</user_name></phone-settings>\n"
		      "</settings>\n"));
	LONGS_EQUAL(2, settings.identities.size());
	STRCMP_EQUAL("b", settings.identities.at(2).name.c_str());
}

TEST(SettingsReader, acceptsEveryPermValue)
{
	const char *const perms[] = {
		" perm=\"!\"",
		" perm=\"&amp;\"",
		" perm=\"$\"",
		" perm=\"R\"",
		" perm=\"RW\"",
		" perm=\"V\"",
		" perm=\" \"",
		" perm=\"\"",
		"",
		" perm=\"anything else\"",
	};
	for (const char *perm : perms) {
		const LoadResult result = parse(wrap("<challenge_checksync" + std::string(perm) +
						     ">on</challenge_checksync>\n"
						     "<user_name idx=\"1\"" +
						     perm + ">340899</user_name>\n"));
		STRCMP_EQUAL_TEXT("", allErrors(result).c_str(), perm);
		CHECK_TRUE_TEXT(result.settings.has_value(), perm);
		CHECK_TRUE_TEXT(result.settings->challengeChecksync, perm);
		STRCMP_EQUAL_TEXT("340899", result.settings->identities.at(1).name.c_str(), perm);
	}
}

TEST(SettingsReader, ignoresIdxOnGlobalSettings)
{
	const Settings &settings = checkGood(
		parse(wrap("<challenge_checksync idx=\"junk\">on</challenge_checksync>\n"
			   "<network_id_port idx=\"3\">5061</network_id_port>\n")));
	CHECK_TRUE(settings.challengeChecksync);
	LONGS_EQUAL(5061, settings.port);
	CHECK_TRUE(settings.identities.empty());
}

TEST(SettingsReader, rejectsAMissingOrInvalidIdx)
{
	const char *const idxs[] = {
		"",
		" idx=\"\"",
		" idx=\"0\"",
		" idx=\"000\"",
		" idx=\"-1\"",
		" idx=\"+1\"",
		" idx=\"abc\"",
		" idx=\" 1\"",
		" idx=\"1x\"",
		" idx=\"1.0\"",
		" idx=\"1000000\"",
		" idx=\"99999999999999999999999\"",
	};
	for (const char *idx : idxs) {
		const LoadResult result = parse(wrap("<user_name idx=\"1\">a</user_name>\n"
						     "<user_name" +
						     std::string(idx) + ">340899</user_name>\n"));
		CHECK_FALSE_TEXT(result.settings.has_value(), idx);
		LONGS_EQUAL_TEXT(1, result.errors.size(), idx);
		LONGS_EQUAL_TEXT(5, result.errors[0].line, idx);
		STRCMP_EQUAL_TEXT("user_name: idx must be a positive integer",
				  result.errors[0].message.c_str(), idx);
	}
}

TEST(SettingsReader, requiresIdxOnEveryIdentitySetting)
{
	for (const char *name :
	     {"user_active", "user_name", "user_host", "user_pname", "user_pass", "user_hash"}) {
		const std::string element = std::string("<") + name + ">x</" + name + ">\n";
		const LoadResult result = parse(wrap(element));
		LONGS_EQUAL_TEXT(1, result.errors.size(), name);
		STRCMP_EQUAL_TEXT((std::string(name) + ": idx must be a positive integer").c_str(),
				  result.errors[0].message.c_str(), name);
	}
}

TEST(SettingsReader, rejectsAGlobalSettingGivenTwice)
{
	const LoadResult result = parse(
		wrap("<challenge_checksync>on</challenge_checksync>\n"
		     "<user_name idx=\"1\">a</user_name>\n"
		     "<challenge_checksync idx=\"1\">on</challenge_checksync>\n"));
	checkOneError(result, 6, "challenge_checksync given twice (first at line 4)");
}

TEST(SettingsReader, rejectsAnIdentitySettingGivenTwice)
{
	const LoadResult result = parse(wrap("<user_name idx=\"1\">a</user_name>\n"
					     "<user_name idx=\"2\">b</user_name>\n"
					     "<user_name idx=\"1\">a</user_name>\n"));
	checkOneError(result, 6, "user_name[1] given twice (first at line 4)");
}

TEST(SettingsReader, rejectsADuplicateEvenWhenTheFirstWasInvalid)
{
	const LoadResult result = parse(wrap("<user_active idx=\"1\">yes</user_active>\n"
					     "<user_active idx=\"1\">on</user_active>\n"));
	STRCMP_EQUAL("settings.xml:4: user_active[1]: invalid value \"yes\" (expected on or off)\n"
		     "settings.xml:5: user_active[1] given twice (first at line 4)\n",
		     allErrors(result).c_str());
}

TEST(SettingsReader, rejectsADuplicateAcrossPhoneSettingsSections)
{
	const LoadResult result = parse(
		"<settings>\n"
		"<phone-settings><user_pass idx=\"1\">a</user_pass></phone-settings>\n"
		"<phone-settings>\n"
		"<user_pass idx=\"1\">a</user_pass>\n"
		"</phone-settings>\n"
		"</settings>\n");
	checkOneError(result, 4, "user_pass[1] given twice (first at line 2)");
}

TEST(SettingsReader, comparesIdxByValueForDuplicates)
{
	const LoadResult result = parse(wrap("<user_host idx=\"1\">a</user_host>\n"
					     "<user_host idx=\"01\">b</user_host>\n"));
	checkOneError(result, 5, "user_host[1] given twice (first at line 4)");
}

// Hostile and broken documents

TEST(SettingsReader, rejectsADoctype)
{
	const LoadResult result = parse("<?xml version=\"1.0\"?>\n"
					"<!DOCTYPE settings>\n"
					"<settings/>\n");
	checkOneError(result, 2, "DOCTYPE and entity declarations are not allowed");
}

TEST(SettingsReader, rejectsAnInternalEntityAndDoesNotExpandIt)
{
	const LoadResult result = parse("<?xml version=\"1.0\"?>\n"
					"<!DOCTYPE settings [\n"
					"  <!ENTITY on \"on\">\n"
					"]>\n"
					"<settings><phone-settings>\n"
					"<challenge_checksync>&on;</challenge_checksync>\n"
					"</phone-settings></settings>\n");
	checkOneError(result, 2, "DOCTYPE and entity declarations are not allowed");
}

TEST(SettingsReader, rejectsABillionLaughs)
{
	std::string xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE settings [\n<!ENTITY lol0 \"lol\">\n";
	for (int level = 1; level <= 9; ++level) {
		xml += "<!ENTITY lol" + std::to_string(level) + " \"";
		for (int i = 0; i < 10; ++i)
			xml += "&lol" + std::to_string(level - 1) + ";";
		xml += "\">\n";
	}
	xml += "]>\n<settings><phone-settings><user_name idx=\"1\">&lol9;</user_name>"
	       "</phone-settings></settings>\n";

	const LoadResult result = parse(xml);
	checkOneError(result, 2, "DOCTYPE and entity declarations are not allowed");
}

TEST(SettingsReader, rejectsAQuadraticBlowup)
{
	std::string xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE settings [\n<!ENTITY a \"" +
			  std::string(50000, 'a') +
			  "\">\n]>\n<settings><phone-settings><user_name idx=\"1\">";
	for (int i = 0; i < 10000; ++i)
		xml += "&a;";
	xml += "</user_name></phone-settings></settings>\n";

	const LoadResult result = parse(xml);
	checkOneError(result, 2, "DOCTYPE and entity declarations are not allowed");
}

TEST(SettingsReader, rejectsAnExternalEntityWithoutReadingIt)
{
	for (const char *target : {"file:///etc/passwd", "/etc/passwd", "http://192.0.2.1/x.xml"}) {
		const LoadResult result = parse("<?xml version=\"1.0\"?>\n"
						"<!DOCTYPE settings [\n"
						"  <!ENTITY xxe SYSTEM \"" +
						std::string(target) +
						"\">\n"
						"]>\n"
						"<settings><phone-settings>\n"
						"<user_name idx=\"1\">&xxe;</user_name>\n"
						"</phone-settings></settings>\n");
		checkOneError(result, 2, "DOCTYPE and entity declarations are not allowed");
		CHECK_FALSE(contains(allErrors(result), "root:"));
	}
}

TEST(SettingsReader, rejectsAnExternalEntityPointingAtALocalFileWithoutTouchingIt)
{
	// The entity's target is a FIFO: reading it would block, so a return
	// at all shows that it is never opened.
	SettingsDir dir;
	const std::string fifo = dir.path("secret");
	CHECK_EQUAL(0, ::mkfifo(fifo.c_str(), 0600));
	const LoadResult result = parse(
		"<?xml version=\"1.0\"?>\n"
		"<!DOCTYPE settings [<!ENTITY xxe SYSTEM \"file://" +
		fifo +
		"\">]>\n"
		"<settings><phone-settings><user_name idx=\"1\">&xxe;</user_name>"
		"</phone-settings></settings>\n");
	checkOneError(result, 2, "DOCTYPE and entity declarations are not allowed");
}

TEST(SettingsReader, rejectsAnExternalDtd)
{
	const LoadResult result = parse("<?xml version=\"1.0\"?>\n"
					"<!DOCTYPE settings SYSTEM \"file:///etc/passwd\">\n"
					"<settings/>\n");
	checkOneError(result, 2, "DOCTYPE and entity declarations are not allowed");
	const LoadResult remote = parse(
		"<?xml version=\"1.0\"?>\n"
		"\n"
		"<!DOCTYPE settings PUBLIC \"-//x//y\" \"http://192.0.2.1/settings.dtd\">\n"
		"<settings/>\n");
	checkOneError(remote, 3, "DOCTYPE and entity declarations are not allowed");
}

TEST(SettingsReader, rejectsParameterEntities)
{
	const LoadResult result = parse(
		"<!DOCTYPE settings [\n"
		"  <!ENTITY % remote SYSTEM \"http://192.0.2.1/evil.dtd\">\n"
		"  %remote;\n"
		"]>\n"
		"<settings/>\n");
	checkOneError(result, 1, "DOCTYPE and entity declarations are not allowed");
}

TEST(SettingsReader, rejectsADoctypeAfterTheRootElement)
{
	const LoadResult result = parse("<settings/>\n<!DOCTYPE settings>\n");
	CHECK_FALSE(result.settings.has_value());
	LONGS_EQUAL(1, result.errors.size());
	LONGS_EQUAL(2, result.errors[0].line);
}

TEST(SettingsReader, rejectsXmlThatIsNotWellFormedWithItsLine)
{
	const LoadResult result = parse(wrap("<user_name idx=\"1\">a</user_name>\n"
					     "<user_host idx=\"1\">b</user_pass>\n"));
	checkOneError(result, 5,
		      "not well-formed XML: Opening and ending tag mismatch: user_host line 5 and "
		      "user_pass");
}

TEST(SettingsReader, rejectsAnUnescapedAmpersand)
{
	const LoadResult result = parse(wrap("\n<user_name idx=\"1\">a & b</user_name>\n"));
	CHECK_FALSE(result.settings.has_value());
	LONGS_EQUAL(1, result.errors.size());
	LONGS_EQUAL(5, result.errors[0].line);
	CHECK_TRUE(result.errors[0].message.starts_with("not well-formed XML: "));
}

TEST(SettingsReader, rejectsAnUndefinedEntityWithoutNamingIt)
{
	const LoadResult result = parse(wrap("<user_name idx=\"1\">a&nbsp;b</user_name>\n"));
	checkOneError(result, 4,
		      "not well-formed XML: undefined entity reference (write & as &amp;)");
}

TEST(SettingsReader, rejectsInvalidUtf8WithItsLine)
{
	const LoadResult result = parse(wrap("<user_name idx=\"1\">a</user_name>\n"
					     "<user_host idx=\"1\">\xc3\x28</user_host>\n"));
	checkOneError(result, 5,
		      "not well-formed XML: Input is not proper UTF-8, indicate encoding !");
}

TEST(SettingsReader, rejectsBinaryGarbage)
{
	const char garbage[] = "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe";
	const LoadResult result = parse(std::string_view(garbage, sizeof garbage - 1));
	CHECK_FALSE(result.settings.has_value());
	LONGS_EQUAL(1, result.errors.size());
	LONGS_EQUAL(1, result.errors[0].line);
	CHECK_TRUE(result.errors[0].message.starts_with("not well-formed XML"));
}

TEST(SettingsReader, rejectsANulByte)
{
	const std::string xml = wrap("<user_name idx=\"1\">a") + std::string(1, '\0') +
				"b</user_name>\n";
	const LoadResult result = parse(xml);
	CHECK_FALSE(result.settings.has_value());
	LONGS_EQUAL(1, result.errors.size());
}

TEST(SettingsReader, rejectsAnEmptyDocument)
{
	checkOneError(parse(""), 1, "not well-formed XML: Document is empty");
	CHECK_FALSE(parse("  \n\n").settings.has_value());
	CHECK_FALSE(parse("<?xml version=\"1.0\"?>\n").settings.has_value());
}

TEST(SettingsReader, rejectsAnUndeclaredNamespacePrefix)
{
	const LoadResult result = parse(wrap("<x:user_name idx=\"1\">a</x:user_name>\n"));
	CHECK_FALSE(result.settings.has_value());
	LONGS_EQUAL(1, result.errors.size());
	LONGS_EQUAL(4, result.errors[0].line);
}

TEST(SettingsReader, rejectsTheWrongRootElement)
{
	const LoadResult result = parse("<?xml version=\"1.0\"?>\n"
					"<!-- provisioning -->\n"
					"<phone-settings>\n"
					"<challenge_checksync>on</challenge_checksync>\n"
					"</phone-settings>\n");
	checkOneError(result, 3, "root element is <phone-settings>, expected <settings>");
}

TEST(SettingsReader, refusesExcessiveNesting)
{
	std::string xml = "<settings><phone-settings>\n";
	for (int i = 0; i < 100000; ++i)
		xml += "<a>";
	for (int i = 0; i < 100000; ++i)
		xml += "</a>";
	xml += "\n</phone-settings></settings>\n";
	const LoadResult result = parse(xml);
	CHECK_FALSE(result.settings.has_value());
	LONGS_EQUAL(1, result.errors.size());
	LONGS_EQUAL(2, result.errors[0].line);
	CHECK_TRUE(result.errors[0].message.starts_with("not well-formed XML: "));
}

TEST(SettingsReader, toleratesModerateNestingInIgnoredElements)
{
	std::string body;
	for (int i = 0; i < 100; ++i)
		body += "<a>";
	body += "<challenge_checksync>maybe</challenge_checksync>";
	for (int i = 0; i < 100; ++i)
		body += "</a>";
	const Settings &settings = checkGood(parse(wrap(body + "\n")));
	CHECK_FALSE(settings.challengeChecksync);
}

TEST(SettingsReader, doesNotProcessXInclude)
{
	const Settings &settings = checkGood(
		parse("<settings xmlns:xi=\"http://www.w3.org/2001/XInclude\">\n"
		      "<phone-settings>\n"
		      "<xi:include href=\"/etc/passwd\" parse=\"text\"/>\n"
		      "<user_name idx=\"1\"><xi:include href=\"/etc/passwd\" "
		      "parse=\"text\"/></user_name>\n"
		      "</phone-settings>\n"
		      "</settings>\n"));
	STRCMP_EQUAL("", settings.identities.at(1).name.c_str());
}

TEST(SettingsReader, rejectsADocumentOverTheSizeLimit)
{
	const std::string big = wrap(std::string(kMaxSettingsBytes, ' '));
	const LoadResult result = parse(big);
	CHECK_FALSE(result.settings.has_value());
	LONGS_EQUAL(1, result.errors.size());
	LONGS_EQUAL(0, result.errors[0].line);
	STRCMP_EQUAL("settings.xml: larger than 1 MiB", result.errors[0].toString().c_str());
}

// Plug and play

TEST(SettingsReader, plugAndPlayDefaults)
{
	const PnpSettings pnp = checkGood(parse(wrap(""))).pnp;
	CHECK_TRUE(pnp.enabled);
	CHECK_TRUE(pnp.settingServer.empty());
	CHECK_TRUE(pnp.wanted());
	STRCMP_EQUAL("checksyncd", pnp.vendor.c_str());
	STRCMP_EQUAL("generic", pnp.model.c_str());
	STRCMP_EQUAL(CHECKSYNCD_VERSION, pnp.version.c_str());
	CHECK_TRUE(pnp.mac.empty());
	LONGS_EQUAL(1, pnp.urlSchemes.size());
	STRCMP_EQUAL("https", pnp.urlSchemes[0].c_str());
}

TEST(SettingsReader, readsThePlugAndPlaySettings)
{
	const Settings settings = checkGood(
		parse(wrap("<pnp_config perm=\"\">off</pnp_config>\n"
			   "<setting_server>https://prov.example.com/x</setting_server>\n"
			   "<pnp_vendor>Snom</pnp_vendor>\n"
			   "<pnp_model>D785 Ümlaut</pnp_model>\n"
			   "<pnp_version>10.1.54.13</pnp_version>\n"
			   "<pnp_mac>000413a1b2c3</pnp_mac>\n"
			   "<pnp_url_schemes> HTTPS , http </pnp_url_schemes>\n")));
	const PnpSettings &pnp = settings.pnp;
	CHECK_FALSE(pnp.enabled);
	STRCMP_EQUAL("https://prov.example.com/x", pnp.settingServer.c_str());
	CHECK_FALSE(pnp.wanted());
	STRCMP_EQUAL("Snom", pnp.vendor.c_str());
	STRCMP_EQUAL("D785 Ümlaut", pnp.model.c_str());
	STRCMP_EQUAL("10.1.54.13", pnp.version.c_str());
	STRCMP_EQUAL("000413A1B2C3", pnp.mac.c_str());
	LONGS_EQUAL(2, pnp.urlSchemes.size());
	STRCMP_EQUAL("https", pnp.urlSchemes[0].c_str());
	STRCMP_EQUAL("http", pnp.urlSchemes[1].c_str());
	for (const char *key : {"pnp_config", "setting_server", "pnp_vendor", "pnp_model",
				"pnp_version", "pnp_mac", "pnp_url_schemes"})
		CHECK_TRUE(settings.fromFile.contains(key));
}

TEST(SettingsReader, aSettingServerTurnsPlugAndPlayOff)
{
	CHECK_FALSE(checkGood(parse(wrap("<setting_server>http://x/</setting_server>\n")))
			    .pnp.wanted());
	CHECK_TRUE(checkGood(parse(wrap("<setting_server>  </setting_server>\n"))).pnp.wanted());
	CHECK_FALSE(checkGood(parse(wrap("<pnp_config>OFF</pnp_config>\n"))).pnp.wanted());
}

TEST(SettingsReader, emptyPlugAndPlayValuesMeanTheDefaults)
{
	const PnpSettings pnp = checkGood(parse(wrap("<pnp_vendor/>\n<pnp_model></pnp_model>\n"
						     "<pnp_version> </pnp_version>\n<pnp_mac/>\n"
						     "<pnp_url_schemes/>\n")))
					.pnp;
	CHECK_TRUE(pnp == PnpSettings{});
}

TEST(SettingsReader, refusesEventParametersThatCannotBeQuoted)
{
	checkOneError(parse(wrap("<pnp_vendor>a\"b</pnp_vendor>\n")), 4,
		      "pnp_vendor: invalid value \"a\\\"b\" (at most 64 bytes, no '\"', no '\\', "
		      "no control characters)");
	CHECK_FALSE(parse(wrap("<pnp_model>a\\b</pnp_model>\n")).settings.has_value());
	CHECK_FALSE(parse(wrap("<pnp_model>a&#9;b</pnp_model>\n")).settings.has_value());
	CHECK_FALSE(parse(wrap("<pnp_version>" + std::string(65, 'v') + "</pnp_version>\n"))
			    .settings.has_value());
	CHECK_TRUE(parse(wrap("<pnp_version>" + std::string(64, 'v') + "</pnp_version>\n"))
			   .settings.has_value());
}

TEST(SettingsReader, refusesAMacThatIsNotTwelveHexDigits)
{
	checkOneError(parse(wrap("<pnp_mac>00:04:13:a1:b2:c3</pnp_mac>\n")), 4,
		      "pnp_mac: invalid value \"00:04:13:a1:b2:c3\" (expected 12 hex digits, e.g. "
		      "000413939050, or empty)");
	CHECK_FALSE(parse(wrap("<pnp_mac>000413a1b2c</pnp_mac>\n")).settings.has_value());
	CHECK_FALSE(parse(wrap("<pnp_mac>000413a1b2cg</pnp_mac>\n")).settings.has_value());
}

TEST(SettingsReader, refusesBadUrlSchemes)
{
	checkOneError(parse(wrap("<pnp_url_schemes>https,,http</pnp_url_schemes>\n")), 4,
		      "pnp_url_schemes: invalid scheme \"\" in \"https,,http\"");
	checkOneError(parse(wrap("<pnp_url_schemes>https,HTTPS</pnp_url_schemes>\n")), 4,
		      "pnp_url_schemes: https listed twice");
	CHECK_FALSE(parse(wrap("<pnp_url_schemes>1http</pnp_url_schemes>\n")).settings.has_value());
	CHECK_FALSE(parse(wrap("<pnp_url_schemes>ht tp</pnp_url_schemes>\n")).settings.has_value());
	CHECK_FALSE(parse(wrap("<pnp_url_schemes>a,b,c,d,e,f,g,h,i</pnp_url_schemes>\n"))
			    .settings.has_value());
	CHECK_TRUE(parse(wrap("<pnp_url_schemes>a,b,c,d,e,f,g,h</pnp_url_schemes>\n"))
			   .settings.has_value());
}

// User hosts

TEST(SettingsReader, acceptsHostNamesAddressesAndPortsAsUserHost)
{
	for (const char *host : {"ser.berlin.snom.com", "pbx.example.com:5060", "192.0.2.10",
				 "192.0.2.10:5061", "[2001:db8::1]", "[2001:db8::1]:5060", "pbx"}) {
		const LoadResult result = parse(
			wrap(std::string("<user_host idx=\"1\">") + host + "</user_host>\n"));
		if (!result.settings)
			FAIL((std::string(host) + " refused:\n" + allErrors(result)).c_str());
	}
}

TEST(SettingsReader, refusesAUserHostThatWouldBreakTheQuotedRealm)
{
	checkOneError(parse(wrap("<user_host idx=\"1\">pbx\"example.com</user_host>\n")), 4,
		      "user_host[1]: invalid value \"pbx\\\"example.com\" (expected host[:port])");
	for (const char *host :
	     {"pbx example.com", "pbx\\example", "pbx.example.com:0", "pbx.example.com:65536",
	      "pbx.example.com:50x", "[2001:db8::1", ":5060"}) {
		const LoadResult result = parse(
			wrap(std::string("<user_host idx=\"1\">") + host + "</user_host>\n"));
		if (result.settings)
			FAIL((std::string(host) + " was accepted").c_str());
	}
}
