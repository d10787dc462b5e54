// SPDX-License-Identifier: MIT
//
// What to answer to a request and what it asks the phone to do: the SIP
// answer table (checksyncd(8), "SIP ANSWERS") as pure functions of the
// parsed request (sofia-sip does the parsing) and the settings in force.

#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "settings.hpp"

extern "C" {
struct sip_event_s;
struct sip_s;
}

namespace checksyncd {

enum class Action : unsigned char {
	Resync,
	Reboot,
};

std::string_view actionName(Action action); // "Resync", "Reboot"

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
};

// Classify a parsed Event header (nullptr when the request has none).
EventInfo classifyEvent(const sip_event_s *event);

// checksync_action if set; else by package: check-sync reboots unless
// reboot=false (what Snom phones do), resync resyncs unless reboot=true,
// reboot, reboot_now and restart_now reboot.
Action decideAction(const Settings &settings, const EventInfo &event);

// The Allow-Events value of OPTIONS and 489 answers: the packages
// checksync_events honours, in canonical order ("check-sync, resync");
// the default set while no settings are loaded (settings nullptr).
std::string allowEvents(const Settings *settings);

// challenge_checksync, or challenge_reboot for a reboot.
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
	NotFound,         // 404: no such identity, challenge off
	NoSettings,       // 503: no good settings loaded yet
};

struct RequestFacts {
	std::string_view method; // as on the request line
	EventInfo event;
	bool uriHasUser = false;
	std::string_view uriUser;
};

// The facts of a parsed request (one with a request line); the views
// point into `sip`.
RequestFacts requestFactsOf(const sip_s *sip);

struct Plan {
	Answer answer = Answer::Ignore;
	Action action = Action::Reboot;
	// The identity the request is for; nullptr when none matches (then a
	// Challenge can never succeed).
	const Identity *identity = nullptr;
};

// settings is nullptr while no good settings were ever loaded.
Plan planRequest(const Settings *settings, const RequestFacts &request);

} // namespace checksyncd
