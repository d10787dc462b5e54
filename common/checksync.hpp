// SPDX-License-Identifier: MIT
//
// What to answer to a request and what it asks the phone to do: the SIP
// answer table of DESIGN section 4 as pure functions of the parsed request
// (sofia-sip does the parsing) and the settings in force.

#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "settings.hpp"

extern "C" {
struct sip_event_s;
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
		Missing,   // no Event header
		CheckSync, // check-sync, any case
		Other,	   // another event package
	};
	Kind kind = Kind::Missing;
	// reboot=true / reboot=false; nullopt when the parameter is absent.
	std::optional<bool> reboot;
	// reboot= present with a value other than true/false (any case).
	bool badRebootValue = false;
};

// Classify a parsed Event header (nullptr when the request has none).
EventInfo classifyEvent(const sip_event_s *event);

// checksync_action if set; else reboot=true reboots, reboot=false resyncs,
// no parameter reboots (what Snom phones do).
Action decideAction(const Settings &settings, const EventInfo &event);

// challenge_checksync, or challenge_reboot for a reboot.
bool needsChallenge(const Settings &settings, Action action);

enum class Answer : unsigned char {
	Serve,		  // 200 once the provisioning process accepted
	Challenge,	  // verify credentials, 401 unless they are good
	Options,	  // 200 to OPTIONS
	Ignore,		  // ACK: no answer
	MethodNotAllowed, // 405
	MissingEvent,	  // 400 Missing Event header
	BadEvent,	  // 489
	BadRebootValue,	  // 400
	NotFound,	  // 404: no such identity, challenge off
	NoSettings,	  // 503: no good settings loaded yet
};

struct RequestFacts {
	std::string_view method; // as on the request line
	EventInfo event;
	bool uriHasUser = false;
	std::string_view uriUser;
};

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
