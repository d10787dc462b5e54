// SPDX-License-Identifier: MIT
//
// How check-syncs become D-Bus calls, for one method (checksyncd(8),
// etc/org.checksyncd.Provisioning1.xml): at most one call in flight, at
// most one call per spacing interval, and a request that arrives while a
// call is in flight or inside the interval is covered by one trailing call
// at the end of the interval, so the last request is always served. Pure:
// the caller passes the time and makes the calls.

#pragma once

#include <cstdint>
#include <optional>

namespace checksyncd {

inline constexpr std::uint64_t kActionSpacingMs = 5'000;

class ActionGate
{
public:
	enum class Admit : unsigned char {
		StartCall,      // make a call now; answer from its outcome
		JoinInFlight,   // answer from the call in flight; a trailing
				// call follows if it succeeds
		AcceptTrailing, // answer 200 now; a trailing call is due
		RecentFailure,  // the last call failed inside the interval:
				// answer 503, Retry-After retryAfterMs()
	};

	explicit ActionGate(std::uint64_t spacingMs = kActionSpacingMs) : spacingMs_(spacingMs) {}

	// Whether one more request may wait for the call in flight; when
	// not, a request is accepted on the trailing call instead.
	enum class Waiters : bool {
		Room,
		Full,
	};
	Admit request(std::uint64_t nowMs, Waiters waiters = Waiters::Room);

	enum class Outcome : unsigned char {
		Accepted,
		Failed, // by the provisioning process, or no answer in time
	};

	// The call in flight has finished.
	void finished(std::uint64_t nowMs, Outcome outcome);

	// The call could not even be sent for a local reason (it never
	// reached the provisioning process): that is no provisioning failure,
	// and what was asked stays owed to a trailing call.
	void abandoned();

	// When a trailing call is owed and none is in flight: the time it is
	// due (the end of the spacing interval). std::nullopt otherwise.
	std::optional<std::uint64_t> trailingDueAt() const;

	// Start the trailing call if it is due at nowMs; true when the caller
	// must make the call now.
	bool startTrailing(std::uint64_t nowMs);

	bool inFlight() const { return inFlight_; }
	std::uint64_t retryAfterMs(std::uint64_t nowMs) const;

private:
	void start(std::uint64_t nowMs);

	std::uint64_t spacingMs_;
	bool inFlight_ = false;
	bool started_ = false; // a call was ever made
	bool lastOk_ = false;
	std::uint64_t lastStartMs_ = 0;
	bool promised_ = false; // someone was answered 200 on the trailing call
	bool joined_ = false;   // someone joined the call in flight
};

} // namespace checksyncd
