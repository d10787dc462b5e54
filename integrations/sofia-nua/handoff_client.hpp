// SPDX-License-Identifier: MIT
//
// The D-Bus client of checksyncd's hand-off interface
// (org.checksyncd.Handoff1.HandleRequest on /org/checksyncd/CheckSync1,
// service org.checksyncd.CheckSync1; etc/org.checksyncd.Handoff1.xml), on
// the daemon library's bus connection (daemon/loop/bus_connection.hpp: sd-bus
// hosted on the su_root loop). Every call is asynchronous: checksyncd
// answers a served check-sync once the provisioning process accepted, at
// most 2 s later, so a call waits kTimeoutMs before it counts as failed.

#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "handoff_rules.hpp"
#include "loop/bus_connection.hpp"
#include "loop/sdbus.hpp"

namespace checksyncd::nua {

// checksyncd's provisioning timeout (2 s) and a margin for the two bus
// hops and checksyncd's own work.
inline constexpr std::uint64_t kTimeoutMs = 2'500;
// Hand-overs in flight at once; beyond, a request is answered 503 without
// a call. checksyncd takes as many.
inline constexpr std::size_t kMaxInFlight = 32;

inline constexpr const char *kHandoffService = "org.checksyncd.CheckSync1";
inline constexpr const char *kHandoffPath = "/org/checksyncd/CheckSync1";
inline constexpr const char *kHandoffInterface = "org.checksyncd.Handoff1";

// A call that did not bring an answer: the D-Bus error's name and message
// (sd-bus names a timeout org.freedesktop.DBus.Error.NoReply), or an
// empty name and why the call never left.
struct HandoffFailure {
	std::string error;
	std::string message;
};

using HandoffResult = std::variant<HandoffAnswer, HandoffFailure>;

// "org.checksyncd.Handoff1.Error.Busy (32 hand-overs in flight)", or why
// the call never left: for a log line.
std::string failureText(const HandoffFailure &failure);

class HandoffClient;

// One call in flight, owned by whoever waits for it: destroying it
// abandons the call (its slot goes, and its `done` never runs).
class HandoffCall
{
public:
	using Done = std::function<void(const HandoffResult &)>;

	~HandoffCall();
	HandoffCall(const HandoffCall &) = delete;
	HandoffCall &operator=(const HandoffCall &) = delete;

private:
	friend class HandoffClient;
	HandoffCall(HandoffClient &client, Done done);

	static int onReply(sd_bus_message *reply, void *userdata, sd_bus_error *) noexcept;
	// The call has ended: out of the client's list, then `done`, which may
	// destroy this call (nothing here is touched after it).
	void finish(const HandoffResult &result);

	HandoffClient &client_;
	Done done_;
	UniqueSlot slot_;
};

class HandoffClient final : public BusConnection::Client
{
public:
	using Done = HandoffCall::Done;

	explicit HandoffClient(BusConnection &bus);
	~HandoffClient();
	HandoffClient(const HandoffClient &) = delete;
	HandoffClient &operator=(const HandoffClient &) = delete;

	// Hand `request` over with `context`. On its way: the call, whose
	// `done` is called exactly once, from the loop, with its outcome
	// (never, if the call is destroyed first). Otherwise why it could not
	// be made (kMaxInFlight reached, no bus, a message sd-bus would not
	// build); `done` is never called then.
	std::variant<std::unique_ptr<HandoffCall>, HandoffFailure>
	handOver(std::string_view request, const HandoffContext &context, Done done);

	std::size_t inFlight() const { return calls_.size(); }

private:
	friend class HandoffCall;

	void busConnected(sd_bus *) override {}
	void busLost() override;

	BusConnection &bus_;
	std::vector<HandoffCall *> calls_; // the calls in flight, not owned
};

} // namespace checksyncd::nua
