// SPDX-License-Identifier: MIT
//
// What to answer to a request and what it asks the phone to do: the SIP
// answer table (checksyncd(8), "SIP ANSWERS") as pure functions of the
// parsed request (sofia-sip does the parsing) and the settings in force.

#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "base/source_address.hpp"
#include "settings/settings.hpp"
#include "sip/service_control.hpp"

extern "C" {
struct sip_event_s;
struct sip_s;
}

namespace checksyncd {

// What a request asks the provisioning process for: one method each
// (etc/org.checksyncd.Provisioning1.xml).
enum class Action : unsigned char {
	Resync,
	Reboot,
	Reregister,     // checksync_action reregister
	DeleteContacts, // checksync_action delete-contacts
	FactoryReset,   // checksync_action factory-reset
	Report,         // Cisco service-control prt-report, Cisco SPA Event: report
};

inline constexpr Action kActions[] = {
	Action::Resync,         Action::Reboot,       Action::Reregister,
	Action::DeleteContacts, Action::FactoryReset, Action::Report,
};

// The D-Bus method: "Resync", "Reboot", "Reregister", "DeleteContacts",
// "FactoryReset", "Report".
std::string_view actionName(Action action);

// An action that erases what cannot be fetched again (the phone's own
// settings, its local phonebook entries): it is served only to a request
// that authenticated with digest, whatever the settings say.
bool destroysData(Action action);

// Which reboot a Reboot is, in its details' `kind` (Cisco's restart is a
// soft one, its reset a hard one); Unspecified for every other request.
enum class RebootKind : unsigned char {
	Unspecified,
	Soft,
	Hard,
};

// "soft", "hard"; "" for Unspecified.
std::string_view rebootKindName(RebootKind kind);

// A check-sync that is served (handed to the provisioning process), as
// one record built once from the request (checkSyncFactsOf(),
// request_guard.hpp) and shared by everything that tells of it: the
// provisioning call's details, the request waiting for its outcome, its
// log line and the status object's LastCheckSync. Each text is kept in the
// form its readers take, made so when the record is built.
struct CheckSyncFacts {
	// The most of each text from the wire passed on to the provisioning
	// process (its details' call_id, event, user_agent).
	static constexpr std::size_t kMaxDetailBytes = 256;

	std::string remote; // "udp:192.0.2.1:5060" (SourceAddress::remote)
	Transport transport = Transport::Udp;
	bool handedOver = false; // by the phone's SIP UA, not on the port
	// For D-Bus: valid UTF-8 of at most kMaxDetailBytes (toValidUtf8()).
	std::string callId;
	std::string event; // the Event header's value
	std::string userAgent;
	// The Call-ID and the Event header as received, only where they differ
	// from callId and event (invalid UTF-8, longer than kMaxDetailBytes):
	// the status object makes its own printable text of what was received
	// (StatusModel::checkSyncAnswered), as for a check-sync answered
	// without a call. Read them with callIdAsReceived(), eventAsReceived().
	std::string receivedCallId;
	std::string receivedEvent;
	std::string user; // the Request-URI user, printable(): for the log line
	Action action = Action::Reboot;
	RebootKind rebootKind = RebootKind::Unspecified; // a Reboot's `kind`
	unsigned identity = 0;                           // idx, 0 if none
	bool authenticated = false;

	std::string_view callIdAsReceived() const
	{
		return receivedCallId.empty() ? callId : receivedCallId;
	}
	std::string_view eventAsReceived() const
	{
		return receivedEvent.empty() ? event : receivedEvent;
	}
};

// The Event header as far as check-sync cares.
struct EventInfo {
	enum class Kind : unsigned char {
		Missing, // no Event header
		Known,   // one of the EventPackage dialects, any case
		Other,   // another event package
	};
	Kind kind = Kind::Missing;
	// The dialect, when kind is Known.
	EventPackage package = EventPackage::CheckSync;
	// reboot=true / reboot=false; nullopt when the parameter is absent or
	// the package does not read it (only check-sync and resync do).
	std::optional<bool> reboot;
	// reboot= present with a value other than true/false (any case), on a
	// package that reads it.
	bool badRebootValue = false;
	// service-control's body (common/sip/service_control.hpp), when package is
	// ServiceControl and the facts come from requestFactsOf().
	ServiceControl serviceControl;
};

// Classify a parsed Event header (nullptr when the request has none).
EventInfo classifyEvent(const sip_event_s *event);

// checksync_action if set; else by package: check-sync reboots unless
// reboot=false (what Snom phones do), resync resyncs unless reboot=true,
// reboot, reboot_now and restart_now reboot; service-control's restart and
// reset reboot, check-version resyncs, prt-report reports; report reports.
Action decideAction(const Settings &settings, const EventInfo &event);

// Soft for service-control's restart, Hard for its reset, when
// checksync_action leaves the choice to the request; else Unspecified.
RebootKind decideRebootKind(const Settings &settings, const EventInfo &event);

// The Allow-Events value of OPTIONS and 489 answers: the packages
// checksync_events honours, in canonical order ("check-sync, resync");
// the default set while no settings are loaded (settings nullptr).
std::string allowEvents(const Settings *settings);

// challenge_checksync, challenge_reboot for a reboot, and always for an
// action that destroys data.
bool needsChallenge(const Settings &settings, Action action);

enum class Answer : unsigned char {
	Serve,            // 200 once the provisioning process accepted
	Challenge,        // verify credentials, 401 unless they are good
	Options,          // 200 to OPTIONS
	Ignore,           // ACK: no answer
	MethodNotAllowed, // 405
	MissingEvent,     // 400 Missing Event header
	BadEvent,         // 489: an unknown package, or one checksync_events leaves out
	BadRebootValue,   // 400
	BadBody,          // 400, 413 or 415: service-control's body (its problem)
	NotFound,         // 404: no such identity, challenge off
	NoPassword,       // 403: data would be destroyed, and no digest can succeed
	NoSettings,       // 503: no good settings loaded yet
};

struct RequestFacts {
	std::string_view method; // as on the request line
	EventInfo event;
	bool uriHasUser = false;
	std::string_view uriUser;
};

// Whether any active identity the request can be for has a password or an
// HA1 (user_pass, user_hash): one whose user_name is the Request-URI user,
// or any one without a user part. Without one a digest can never succeed.
bool mayAuthenticate(const Settings &settings, const RequestFacts &request);

// The facts of a parsed request (one with a request line), the body of a
// service-control NOTIFY read too; the views point into `sip`.
RequestFacts requestFactsOf(const sip_s *sip);

struct Plan {
	Answer answer = Answer::Ignore;
	Action action = Action::Reboot;
	RebootKind rebootKind = RebootKind::Unspecified;
	// The identity the request is for; nullptr when none matches (then a
	// Challenge can never succeed).
	const Identity *identity = nullptr;
};

// settings is nullptr while no good settings were ever loaded.
Plan planRequest(const Settings *settings, const RequestFacts &request);

} // namespace checksyncd
