// SPDX-License-Identifier: MIT
//
// libFuzzer target for the Event header handling: the input is the value
// of an Event header. It is parsed three ways by sofia-sip (sip_event_make
// on the value alone; a whole NOTIFY carrying "Event: <input>"; the same
// with the compact "o: <input>"), then classified with classifyEvent and
// planned with planRequest under a few settings, as the daemon's
// SipService::onRequest does; the daemon's re-encoding of a served Event
// header for the provisioning call (headerValue) is exercised too. The
// settings variants enable every dialect of checksync_events (check-sync,
// resync, reboot, reboot_now, restart_now, service-control, report), some
// of them, or the default, and force every checksync_action. The input is
// also read as a service-control body (common/sip/service_control.hpp).
//
// Invariants checked (a failure aborts, which libFuzzer reports): the long
// and the compact form classify alike; the value alone classifies like the
// header in a message when it is one line; and planRequest follows the
// answer table (checksyncd(8), "SIP ANSWERS") for every settings variant;
// a body is read within its bounds and only as its rules say.

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "settings/settings.hpp"
#include "sip/checksync.hpp"
#include "sip/service_control.hpp"

using namespace checksyncd;
using namespace checksyncd::fuzz;

namespace {

constexpr std::string_view kHead =
	"NOTIFY sip:340899@192.168.137.181:5305 SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 192.168.137.1:55561;branch=z9hG4bK.22fe21d5;rport;alias\r\n"
	"To: sip:340899@192.168.137.181:5305\r\n"
	"From: sip:sipsak@192.168.137.1\r\n"
	"CSeq: 10 NOTIFY\r\n"
	"Call-ID: 1234@192.168.137.1\r\n";
constexpr std::string_view kTail = "\r\nContent-Length: 0\r\n\r\n";

constexpr std::string_view kIdentity = "<user_name idx=\"1\">340899</user_name>"
				       "<user_host idx=\"1\">ser.berlin.snom.com</user_host>"
				       "<user_pass idx=\"1\">1234</user_pass>";

const std::vector<Settings> &variants()
{
	static const std::vector<Settings> settings = [] {
		std::string identity(kIdentity);
		std::vector<Settings> all;
		all.push_back(settingsFrom(identity));
		all.push_back(
			settingsFrom(identity + "<challenge_checksync>on</challenge_checksync>"));
		all.push_back(settingsFrom(identity + "<challenge_reboot>on</challenge_reboot>"));
		all.push_back(settingsFrom(identity + "<checksync_action>sync</checksync_action>"));
		all.push_back(settingsFrom(identity + "<checksync_action>reboot</checksync_action>"
						      "<challenge_reboot>on</challenge_reboot>"));
		all.push_back(settingsFrom("<challenge_checksync>off</challenge_checksync>"));
		const std::string every = "<checksync_events>check-sync,resync,reboot,reboot_now,"
					  "restart_now,service-control,report</checksync_events>";
		all.push_back(settingsFrom(identity + every));
		all.push_back(
			settingsFrom(identity + every + "<challenge_reboot>on</challenge_reboot>"));
		all.push_back(settingsFrom(identity + every +
					   "<checksync_action>sync</checksync_action>"
					   "<challenge_reboot>on</challenge_reboot>"));
		all.push_back(settingsFrom(identity +
					   "<checksync_events>resync,reboot_now</checksync_events>"
					   "<challenge_checksync>on</challenge_checksync>"));
		const std::string cisco = "<checksync_events>check-sync,service-control,report"
					  "</checksync_events>";
		all.push_back(
			settingsFrom(identity + cisco + "<challenge_reboot>on</challenge_reboot>"));
		for (const char *action : {"reregister", "delete-contacts", "factory-reset"})
			all.push_back(settingsFrom(identity + every + "<checksync_action>" +
						   action + "</checksync_action>"));
		// What destroys data, and no password to authenticate it with.
		all.push_back(settingsFrom("<user_name idx=\"1\">340899</user_name>" + cisco +
					   "<checksync_action>factory-reset</checksync_action>"));
		return all;
	}();
	return settings;
}

bool sameInfo(const EventInfo &a, const EventInfo &b)
{
	return a.kind == b.kind && (a.kind != EventInfo::Kind::Known || a.package == b.package) &&
	       a.reboot == b.reboot && a.badRebootValue == b.badRebootValue;
}

// planRequest against the answer table, for one settings variant (nullptr:
// no good settings loaded).
void checkPlan(const Settings *settings, const RequestFacts &facts)
{
	Plan plan = planRequest(settings, facts);
	if (facts.method == "ACK") {
		FUZZ_CHECK(plan.answer == Answer::Ignore);
		return;
	}
	if (facts.method == "OPTIONS") {
		FUZZ_CHECK(plan.answer == Answer::Options);
		return;
	}
	if (facts.method != "NOTIFY") {
		FUZZ_CHECK(plan.answer == Answer::MethodNotAllowed);
		return;
	}
	switch (facts.event.kind) {
	case EventInfo::Kind::Missing:
		FUZZ_CHECK(plan.answer == Answer::MissingEvent);
		return;
	case EventInfo::Kind::Other:
		FUZZ_CHECK(plan.answer == Answer::BadEvent);
		return;
	case EventInfo::Kind::Known:
		break;
	}
	const EventPackage package = facts.event.package;
	const bool readsReboot = package == EventPackage::CheckSync ||
				 package == EventPackage::Resync;
	// Only the packages that carry a reboot choice report one.
	if (!readsReboot)
		FUZZ_CHECK(!facts.event.reboot.has_value() && !facts.event.badRebootValue);
	// Allow-Events names exactly the packages that are not refused 489.
	const std::string allowed = allowEvents(settings);
	const std::string name(eventPackageName(package));
	bool listed = false;
	for (std::string_view rest = allowed; !rest.empty();) {
		const auto comma = rest.find(", ");
		listed = listed || rest.substr(0, comma) == name;
		rest = comma == std::string_view::npos ? std::string_view()
						       : rest.substr(comma + 2);
	}
	if (!listed) {
		FUZZ_CHECK(plan.answer == Answer::BadEvent);
		return;
	}
	FUZZ_CHECK(plan.answer != Answer::BadEvent);
	if (facts.event.badRebootValue) {
		FUZZ_CHECK(!facts.event.reboot.has_value());
		FUZZ_CHECK(plan.answer == Answer::BadRebootValue);
		return;
	}
	const ServiceControl &body = facts.event.serviceControl;
	if (package == EventPackage::ServiceControl && body.problem != BodyProblem::None) {
		FUZZ_CHECK(plan.answer == Answer::BadBody);
		return;
	}
	if (!settings) {
		FUZZ_CHECK(plan.answer == Answer::NoSettings);
		return;
	}

	Action expected = Action::Reboot;
	RebootKind kind = RebootKind::Unspecified;
	switch (settings->action) {
	case ForcedAction::Sync:
		expected = Action::Resync;
		break;
	case ForcedAction::Reboot:
		expected = Action::Reboot;
		break;
	case ForcedAction::Reregister:
		expected = Action::Reregister;
		break;
	case ForcedAction::DeleteContacts:
		expected = Action::DeleteContacts;
		break;
	case ForcedAction::FactoryReset:
		expected = Action::FactoryReset;
		break;
	case ForcedAction::None:
		if (package == EventPackage::CheckSync)
			expected = facts.event.reboot == false ? Action::Resync : Action::Reboot;
		else if (package == EventPackage::Resync)
			expected = facts.event.reboot == true ? Action::Reboot : Action::Resync;
		else if (package == EventPackage::Report)
			expected = Action::Report;
		else if (package != EventPackage::ServiceControl)
			expected = Action::Reboot;
		else if (body.verb == ServiceControlVerb::Restart)
			kind = RebootKind::Soft;
		else if (body.verb == ServiceControlVerb::Reset)
			kind = RebootKind::Hard;
		else
			expected = body.verb == ServiceControlVerb::CheckVersion ? Action::Resync
										 : Action::Report;
		break;
	}
	FUZZ_CHECK(plan.action == expected);
	FUZZ_CHECK(plan.rebootKind == kind);
	const bool destroys = expected == Action::FactoryReset ||
			      expected == Action::DeleteContacts;
	bool challenge = settings->challengeChecksync || destroys ||
			 (expected == Action::Reboot && settings->challengeReboot);
	bool password = false;
	for (const auto &[idx, identity] : settings->identities)
		password = password || (identity.active && identity.hasCredentials() &&
					(!facts.uriHasUser || identity.name == facts.uriUser));
	if (destroys && plan.identity && !password)
		FUZZ_CHECK(plan.answer == Answer::NoPassword);
	else if (challenge)
		FUZZ_CHECK(plan.answer == Answer::Challenge);
	else if (facts.uriHasUser && !plan.identity)
		FUZZ_CHECK(plan.answer == Answer::NotFound);
	else
		FUZZ_CHECK(plan.answer == Answer::Serve);
	if (plan.identity)
		FUZZ_CHECK(plan.identity->active);
}

void checkPlans(const RequestFacts &facts)
{
	checkPlan(nullptr, facts);
	for (const Settings &settings : variants()) {
		checkPlan(&settings, facts);
		RequestFacts noUser = facts;
		noUser.uriHasUser = false;
		noUser.uriUser = "";
		checkPlan(&settings, noUser);
	}
}

// A NOTIFY carrying the input under `name`, through the daemon's path.
// std::nullopt when sofia-sip made no request of it.
std::optional<EventInfo> throughMessage(std::string_view name, std::string_view value)
{
	std::string text(kHead);
	text += name;
	text += value;
	text += kTail;
	UniqueMsg msg = parseDatagram(text);
	sip_t *sip = msg ? sip_object(msg.get()) : nullptr;
	if (!sip || !sip->sip_request)
		return std::nullopt;

	const RequestFacts facts = requestFactsOf(sip);
	checkPlans(facts);

	// The daemon hands the header's text to the provisioning call when it
	// serves a NOTIFY of a known package (SipService::serve).
	bool servable = facts.event.kind == EventInfo::Kind::Known && !facts.event.badRebootValue;
	if (servable) {
		// The daemon's own encoder (common/base/sofia.hpp).
		std::string text = headerValue(
			reinterpret_cast<const sip_header_t *>(sip->sip_event));
		// Re-parsing what we would pass on gives the same classification.
		SuHome home;
		sip_event_t *again = sip_event_make(home.get(), text.c_str());
		FUZZ_CHECK(again != nullptr);
		FUZZ_CHECK(sameInfo(classifyEvent(again), facts.event));
	}
	return facts.event;
}

// The input as a service-control body: a verdict only within the bounds,
// and an action only from a body made of key=value lines of printable
// ASCII.
void checkBody(std::string_view body)
{
	const ServiceControl sc = parseServiceControl(std::string_view("text/plain"), body);
	if (body.size() > kMaxServiceControlBytes)
		FUZZ_CHECK(sc.problem == BodyProblem::TooLarge);
	if (sc.registerCallId) {
		FUZZ_CHECK(sc.problem == BodyProblem::None);
		FUZZ_CHECK(sc.registerCallId->size() + 2 <= kMaxServiceControlValueBytes);
		// A view into the body, never a copy.
		FUZZ_CHECK(sc.registerCallId->data() >= body.data() &&
			   sc.registerCallId->data() + sc.registerCallId->size() <=
				   body.data() + body.size());
	}
	if (sc.problem != BodyProblem::None)
		return;
	FUZZ_CHECK(body.find("=") != std::string_view::npos);
	for (std::size_t i = 0; i < body.size(); ++i) {
		const auto byte = static_cast<unsigned char>(body[i]);
		const bool crlf = byte == '\r' && i + 1 < body.size() && body[i + 1] == '\n';
		FUZZ_CHECK((byte >= 0x20 && byte < 0x7f) || byte == '\t' || byte == '\n' || crlf);
	}
	// Without a type it is no text (415), whatever it says.
	FUZZ_CHECK(parseServiceControl(std::nullopt, body).problem ==
		   (body.empty() ? BodyProblem::MissingAction : BodyProblem::NotTextPlain));
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
	initLibraries();
	(void)variants();
	return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	if (size > kMaxMessage / 2)
		return 0;
	std::string_view value(reinterpret_cast<const char *>(data), size);
	checkBody(value);

	// The value alone (a C string: it ends at the first NUL).
	std::optional<EventInfo> alone;
	{
		SuHome home;
		std::string cstring(value);
		sip_event_t *event = sip_event_make(home.get(), cstring.c_str());
		EventInfo info = classifyEvent(event);
		if (event)
			alone = info;
		RequestFacts facts;
		facts.method = "NOTIFY";
		facts.event = info;
		facts.uriHasUser = true;
		facts.uriUser = "340899";
		checkPlans(facts);
	}

	std::optional<EventInfo> full = throughMessage("Event: ", value);
	std::optional<EventInfo> compact = throughMessage("o: ", value);

	FUZZ_CHECK(full.has_value() == compact.has_value());
	if (full && compact)
		FUZZ_CHECK(sameInfo(*full, *compact));
	bool oneLine = value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
	if (oneLine && alone && full)
		FUZZ_CHECK(sameInfo(*alone, *full));
	return 0;
}
