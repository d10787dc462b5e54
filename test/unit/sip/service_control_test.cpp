// SPDX-License-Identifier: MIT
//
// The body of a Cisco service-control NOTIFY (common/sip/service_control.hpp):
// the bodies real senders write, byte for byte, and every malformed one.

#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "sip/service_control.hpp"

#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

namespace {

constexpr std::string_view kPlain = "text/plain";
constexpr const char *kCallId = "001b2a89-3698011e-280209a4-567e339c@192.0.2.33";

// Asterisk's res_pjsip_cisco_service_control, sc_send_notify(): restart and
// reset carry the three all-zero version stamps, prt-report only the first
// two lines; every line ends in CRLF.
std::string asteriskBody(const std::string &action, const std::string &callId = kCallId)
{
	std::string body = "action=" + action + "\r\nRegisterCallId={" + callId + "}\r\n";
	if (action != "prt-report")
		body += "ConfigVersionStamp={00000000-0000-0000-0000-000000000000}\r\n"
			"DialplanVersionStamp={00000000-0000-0000-0000-000000000000}\r\n"
			"SoftkeyVersionStamp={00000000-0000-0000-0000-000000000000}\r\n";
	return body;
}

ServiceControl parse(std::string_view body, std::optional<std::string_view> type = kPlain)
{
	return parseServiceControl(type, body);
}

} // namespace

TEST_GROUP(ServiceControl){};

TEST(ServiceControl, readsAsterisksFourActionsByteForByte)
{
	const struct {
		const char *action;
		ServiceControlVerb verb;
	} cases[] = {
		{"restart", ServiceControlVerb::Restart},
		{"reset", ServiceControlVerb::Reset},
		{"check-version", ServiceControlVerb::CheckVersion},
		{"prt-report", ServiceControlVerb::PrtReport},
	};
	for (const auto &c : cases) {
		const std::string body = asteriskBody(c.action);
		const ServiceControl sc = parse(body);
		CHECK_TRUE_TEXT(sc.problem == BodyProblem::None, c.action);
		CHECK_TRUE_TEXT(sc.verb == c.verb, c.action);
		CHECK_TRUE_TEXT(sc.registerCallId.has_value(), c.action);
		STRCMP_EQUAL(kCallId, std::string(*sc.registerCallId).c_str());
		STRCMP_EQUAL(c.action, std::string(serviceControlVerbName(c.verb)).c_str());
	}
	// The length the bound is measured against (service_control.hpp).
	LONGS_EQUAL(215 + std::strlen(kCallId), asteriskBody("restart").size());
}

TEST(ServiceControl, readsCmesCheckVersionWithBareLfAndATrailingBlank)
{
	// Cisco Unified CME's example: LF line ends, an empty stamp, a blank
	// after the last value, and a blank line before the boundary.
	const ServiceControl sc = parse(
		"action=check-version\n"
		"RegisterCallId={001b2a89-3698011e-280209a4-567e339c@28.18.88.33}\n"
		"ConfigVersionStamp={0106514225374329}\n"
		"DialplanVersionStamp={}\n"
		"SoftkeyVersionStamp={0106514225374329} \n"
		"\n");
	CHECK_EQUAL(BodyProblem::None, sc.problem);
	CHECK_EQUAL(ServiceControlVerb::CheckVersion, sc.verb);
	STRCMP_EQUAL("001b2a89-3698011e-280209a4-567e339c@28.18.88.33",
		     std::string(*sc.registerCallId).c_str());
}

TEST(ServiceControl, acceptsCrlfAndLfMixedAndALastLineWithoutEnd)
{
	ServiceControl sc = parse("RegisterCallId={a@b}\nAction=Reset");
	CHECK_EQUAL(BodyProblem::None, sc.problem);
	CHECK_EQUAL(ServiceControlVerb::Reset, sc.verb);
	sc = parse("action = PRT-REPORT \r\n\r\n\t\r\n");
	CHECK_EQUAL(BodyProblem::None, sc.problem);
	CHECK_EQUAL(ServiceControlVerb::PrtReport, sc.verb);
	CHECK_FALSE(sc.registerCallId.has_value()); // absent: nullopt, not ""
	sc = parse("action=restart\r\nRegisterCallId={}\r\n");
	CHECK_EQUAL(BodyProblem::None, sc.problem);
	STRCMP_EQUAL("", std::string(*sc.registerCallId).c_str());
}

TEST(ServiceControl, aLoneCrIsMalformedWhereverItIs)
{
	CHECK_EQUAL(BodyProblem::Malformed,
		    parse("action=restart\rRegisterCallId={a}\r\n").problem);
	CHECK_EQUAL(BodyProblem::Malformed, parse("action=restart\r").problem);
	CHECK_EQUAL(BodyProblem::Malformed, parse("action=restart\r\r\n").problem);
}

TEST(ServiceControl, theMediaTypeMustBeTextPlain)
{
	const std::string body = asteriskBody("restart");
	CHECK_EQUAL(BodyProblem::None, parse(body, "Text/Plain").problem);
	CHECK_EQUAL(BodyProblem::NotTextPlain,
		    parse(body, "application/x-www-form-urlencoded").problem);
	CHECK_EQUAL(BodyProblem::NotTextPlain, parse(body, "text/html").problem);
	// A body without a Content-Type is not known to be text.
	CHECK_EQUAL(BodyProblem::NotTextPlain, parse(body, std::nullopt).problem);
	// Neither a type nor a body: nothing was asked.
	CHECK_EQUAL(BodyProblem::MissingAction, parse("", std::nullopt).problem);
	CHECK_EQUAL(BodyProblem::MissingAction, parse("", kPlain).problem);
}

TEST(ServiceControl, aBodyOverTheLimitIsTooLargeBeforeItIsRead)
{
	std::string body = "action=restart\r\n";
	body += std::string(kMaxServiceControlBytes - body.size(), '\n');
	LONGS_EQUAL(kMaxServiceControlBytes, body.size());
	CHECK_EQUAL(BodyProblem::None, parse(body).problem);
	body += "\n";
	CHECK_EQUAL(BodyProblem::TooLarge, parse(body).problem);
	// The type is judged first: a large HTML body is not text/plain.
	CHECK_EQUAL(BodyProblem::NotTextPlain, parse(body, "text/html").problem);
}

TEST(ServiceControl, missingAndUnknownActions)
{
	CHECK_EQUAL(BodyProblem::MissingAction, parse("RegisterCallId={a@b}\r\n").problem);
	CHECK_EQUAL(BodyProblem::MissingAction, parse("action=\r\n").problem);
	CHECK_EQUAL(BodyProblem::UnknownAction, parse("action=reboot\r\n").problem);
	CHECK_EQUAL(BodyProblem::UnknownAction, parse("action=restart-now\r\n").problem);
	CHECK_EQUAL(BodyProblem::UnknownAction, parse("action=restart reset\r\n").problem);
	CHECK_EQUAL(BodyProblem::UnknownAction, parse("action=\"restart\"\r\n").problem);
}

TEST(ServiceControl, aKeyGivenTwiceInAnyCaseIsRefused)
{
	CHECK_EQUAL(BodyProblem::DuplicateKey,
		    parse("action=restart\r\naction=prt-report\r\n").problem);
	CHECK_EQUAL(BodyProblem::DuplicateKey, parse("action=reset\r\nACTION=reset\r\n").problem);
	CHECK_EQUAL(BodyProblem::DuplicateKey,
		    parse("action=reset\r\nRegisterCallId={a}\r\nregistercallid={b}\r\n").problem);
	// Keys that are read and not used count too.
	CHECK_EQUAL(BodyProblem::DuplicateKey,
		    parse("action=reset\r\nConfigVersionStamp={}\r\nConfigVersionStamp={}\r\n")
			    .problem);
	// A refusal never leaves a RegisterCallId behind.
	CHECK_FALSE(
		parse("RegisterCallId={a}\r\naction=x\r\naction=y\r\n").registerCallId.has_value());
}

TEST(ServiceControl, linesThatAreNotKeyEqualsValueAreMalformed)
{
	CHECK_EQUAL(BodyProblem::Malformed, parse("action restart\r\n").problem);
	CHECK_EQUAL(BodyProblem::Malformed, parse("action=restart\r\ngarbage\r\n").problem);
	CHECK_EQUAL(BodyProblem::Malformed, parse("=restart\r\n").problem);
	// RegisterCallId's braces are part of its syntax.
	CHECK_EQUAL(BodyProblem::Malformed,
		    parse("action=restart\r\nRegisterCallId=a@b\r\n").problem);
	CHECK_EQUAL(BodyProblem::Malformed,
		    parse("action=restart\r\nRegisterCallId={a@b\r\n").problem);
	CHECK_EQUAL(BodyProblem::Malformed,
		    parse("action=restart\r\nRegisterCallId={\r\n").problem);
}

TEST(ServiceControl, valuesLongerThanTheLimitAreMalformed)
{
	// Braces included: 256 bytes pass, 257 do not.
	const std::string fits(kMaxServiceControlValueBytes - 2, 'c');
	ServiceControl sc = parse("action=reset\r\nRegisterCallId={" + fits + "}\r\n");
	CHECK_EQUAL(BodyProblem::None, sc.problem);
	LONGS_EQUAL(kMaxServiceControlValueBytes - 2, sc.registerCallId->size());
	sc = parse("action=reset\r\nRegisterCallId={" + fits + "c}\r\n");
	CHECK_EQUAL(BodyProblem::Malformed, sc.problem);
	// Any key's value: a stamp too.
	CHECK_EQUAL(BodyProblem::Malformed,
		    parse("action=reset\r\nX=" +
			  std::string(kMaxServiceControlValueBytes + 1, '0') + "\r\n")
			    .problem);
}

TEST(ServiceControl, moreLinesThanTheLimitAreMalformed)
{
	std::string body = "action=reset\r\n";
	for (std::size_t i = 1; i < kMaxServiceControlLines; ++i)
		body += "Stamp" + std::to_string(i) + "={}\r\n";
	CHECK_EQUAL(BodyProblem::None, parse(body).problem);
	// Blank lines do not count.
	CHECK_EQUAL(BodyProblem::None, parse(body + "\r\n\r\n").problem);
	CHECK_EQUAL(BodyProblem::Malformed, parse(body + "One=more\r\n").problem);
}

TEST(ServiceControl, everyByteOutsidePrintableAsciiIsMalformed)
{
	// Latin-1 (not UTF-8), UTF-8, NUL, other control bytes, DEL.
	const char *bodies[] = {
		"action=restart\r\nRegisterCallId={caf\xe9@pbx}\r\n",
		"action=restart\r\nRegisterCallId={caf\xc3\xa9@pbx}\r\n",
		"action=restart\r\nX=\xff\xfe\r\n",
		"action=restart\x1b[2J\r\n",
		"action=restart\r\nX=a\x7f\r\n",
	};
	for (const char *body : bodies)
		CHECK_TRUE_TEXT(parse(body).problem == BodyProblem::Malformed, body);
	const std::string withNul("action=restart\r\nX=a\0b\r\n", 24);
	CHECK_EQUAL(BodyProblem::Malformed, parse(withNul).problem);
	// A tab is a blank, not a control byte.
	CHECK_EQUAL(BodyProblem::None, parse("action=\trestart\t\r\n").problem);
}
