// SPDX-License-Identifier: MIT
//
// The D-Bus client of the provisioning process (checksyncd(8),
// etc/org.checksyncd.Provisioning1.xml), on the daemon's bus connection:
// every call is asynchronous with a 2 s timeout.
// Each method goes through an ActionGate: one call in flight, one call per
// 5 s, and a trailing call for what arrived meanwhile.

#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/retry_after.hpp"
#include "loop/bus_connection.hpp"
#include "loop/loop.hpp"
#include "provisioning/action_gate.hpp"
#include "sip/checksync.hpp"

namespace checksyncd {

inline constexpr std::uint64_t kProvisioningTimeoutMs = 2'000;
// Retry-After for a call that failed: the action gate makes no new call
// before the spacing has passed anyway.
inline constexpr std::uint64_t kFailedRetryAfterMs = kActionSpacingMs;
// Requests that may wait for the outcome of one call in flight.
inline constexpr std::size_t kMaxWaiters = 8;

// Details of a Provision call (plug and play: the URL a PnP server handed
// over). Every string is valid UTF-8.
struct ProvisionDetails {
	std::string url;
	std::string remote; // the PnP server, e.g. udp:192.0.2.1:5060
	std::string callId;
	std::string event;
	std::string userAgent;
};

// The provisioning process on the bus (DESIGN.md section 5,
// etc/org.checksyncd.Provisioning1.xml).
inline constexpr const char *kProvisioningService = "org.checksyncd.Provisioning1";
inline constexpr const char *kProvisioningPath = "/org/checksyncd/Provisioning1";
inline constexpr const char *kProvisioningInterface = "org.checksyncd.Provisioning1";

// What became of a provisioning call, for the request that waits for it.
enum class CallResult : unsigned char {
	// Not asked (the gate holds calls back after a failure, the bus is
	// not connected): answer 503; `error` says why, in words.
	Unavailable,
	// The provisioning process accepted (or the trailing call will ask).
	Accepted,
	// The provisioning process, or sd-bus for it (a timeout, a bus that
	// went away), answered with a D-Bus error: `error` is its name. 503.
	Refused,
	// Not accepted because the call could not even be built or sent here
	// (not because the provisioning process failed): answer 500.
	LocalError,
};

struct CallOutcome {
	CallResult result = CallResult::Unavailable;
	std::uint64_t retryAfterMs = 0; // when not accepted
	std::string error;              // D-Bus error name or reason
	// What the provisioning process or the bus said besides (the D-Bus
	// error's message, why the bus could not be reached); for the log.
	std::string detail;

	bool accepted() const { return result == CallResult::Accepted; }
	// `error` is a D-Bus error name (DBUS_ERROR in the log).
	bool busError() const { return result == CallResult::Refused; }
};

// The Retry-After of a call that was not accepted (0: accepted).
inline unsigned retryAfterSeconds(const CallOutcome &outcome)
{
	return outcome.accepted() ? 0 : retryAfterSeconds(outcome.retryAfterMs);
}

// A failed call for a log line: "what the process asked: error (detail)"
// reads "org.checksyncd.Provisioning1.Error.Failed (disk full)", and a
// call that never reached it "not connected (cannot connect to …)".
std::string failureText(const CallOutcome &outcome);

// Who logs a call's outcome: whoever receives it (the request it answers).
// The client itself logs what it does on its own: each call it sends, and
// the outcome of a trailing call that nobody waits for.
class ProvisioningClient final : public BusConnection::Client
{
public:
	using Done = std::function<void(const CallOutcome &)>;

	ProvisioningClient(EventLoop &loop, BusConnection &bus);
	~ProvisioningClient();
	ProvisioningClient(const ProvisioningClient &) = delete;
	ProvisioningClient &operator=(const ProvisioningClient &) = delete;

	// Ask for `action`. When the outcome is known at once it is returned
	// and `done` is never called; otherwise std::nullopt is returned and
	// `done` is called exactly once later, from the loop, when the D-Bus
	// call has ended (never, if the client is destroyed first). The call
	// carries the check-sync's identity, remote, authenticated, call_id,
	// event and user_agent (valid UTF-8, as checkSyncFactsOf() makes
	// them), and a Reboot's kind unless Unspecified; the client keeps the
	// record for the trailing call.
	std::optional<CallOutcome> submit(Action action,
					  std::shared_ptr<const CheckSyncFacts> facts, Done done);

	// Hand a plug-and-play provisioning URL over (Provision), with the
	// rules of submit(): the outcome returned when known at once, else
	// `done` later; 2 s timeout; a gate of its own (one call in flight,
	// one per 5 s, a trailing call).
	std::optional<CallOutcome> provision(ProvisionDetails details, Done done);

private:
	// One D-Bus method of the provisioning process (one per Action, and
	// Provision) behind its own action gate: the call in flight, the
	// requests waiting for its outcome, and the trailing call.
	class GatedMethod
	{
	public:
		enum class Carries : bool {
			Details,       // the six keys of every call (and a Reboot's kind)
			DetailsAndUrl, // Provision's: and "url"
		};

		GatedMethod(EventLoop &loop, BusConnection &bus, const char *member,
			    Carries carries);
		GatedMethod(const GatedMethod &) = delete;
		GatedMethod &operator=(const GatedMethod &) = delete;

		// The gate's answer to a request for this method; `url` is
		// Provision's only.
		std::optional<CallOutcome> request(std::shared_ptr<const CheckSyncFacts> facts,
						   std::string url, Done done);
		// The bus is gone: the call in flight has failed.
		void busLost();

	private:
		// Send the call for the newest details; std::nullopt when it is
		// in flight, else the outcome of a call that could not be sent
		// (the gate is told).
		std::optional<CallOutcome> call();
		void finish(const CallOutcome &outcome);
		void armTrailing();
		void logUnheard(const CallOutcome &outcome) const;
		static int onReply(sd_bus_message *reply, void *userdata) noexcept;

		BusConnection &bus_;
		const char *member_;
		Carries carries_;
		ActionGate gate_;
		std::vector<Done> waiters_;
		std::shared_ptr<const CheckSyncFacts> latest_; // the newest request's
		std::string url_;                              // Provision's only
		UniqueSlot inFlight_;
		Timer trailing_;
	};

	GatedMethod &method(Action action);

	// BusConnection::Client
	void busConnected(sd_bus *) override {}
	void busLost() override;

	BusConnection &bus_;
	GatedMethod resync_;
	GatedMethod reboot_;
	GatedMethod reregister_;
	GatedMethod deleteContacts_;
	GatedMethod factoryReset_;
	GatedMethod report_;
	GatedMethod provision_;
};

} // namespace checksyncd
