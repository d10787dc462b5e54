// SPDX-License-Identifier: MIT
//
// org.checksyncd.Handoff1 (DESIGN section 5, etc/org.checksyncd.Handoff1.xml):
// the phone's SIP UA hands over a request it received down its own flow
// (TCP, TLS, a NAT binding) and sends back the answer it gets. Served by
// sd-bus on the daemon's bus connection, on the status object's path.
//
// HandleRequest(ay request, a{sv} context) -> (q, s, a(ss), ay) is
// answered asynchronously: at once for a refusal or a challenge, once the
// provisioning process accepted for a served check-sync (at most 2 s
// later). The request goes through SipService::handOver(), the same path
// as one on the port.
//
// Who may call it: the bus policy lets root and the group checksyncd-ua
// through; behind it the daemon asks the bus driver for the caller's
// uid and groups (GetConnectionCredentials, asynchronously, once per
// caller connection) and refuses anyone else. Bounded: at most
// kMaxInFlight calls at a time (org.checksyncd.Handoff1.Error.Busy beyond),
// each request at most SipService::kMaxRequestBytes.

#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "loop/bus_connection.hpp"
#include "loop/sdbus.hpp"
#include "sip/handoff.hpp"
#include "sip/sip_service.hpp"

namespace checksyncd {

class HandoffService final : public BusConnection::Client
{
public:
	// Calls in flight at once: waiting for the caller's credentials or
	// for the provisioning process.
	static constexpr std::size_t kMaxInFlight = 32;
	// Caller connections whose credentials are remembered.
	static constexpr std::size_t kMaxKnownCallers = 32;
	// The group whose members may hand requests over (and root).
	static constexpr const char *kGroup = "checksyncd-ua";

	// Exports the interface at once (the bus is connected when the
	// daemon starts). `uaGroup`: kGroup's gid, nullopt when it does not
	// exist (then only root may call).
	HandoffService(BusConnection &bus, SipService &sip, std::optional<gid_t> uaGroup);
	~HandoffService();
	HandoffService(const HandoffService &) = delete;
	HandoffService &operator=(const HandoffService &) = delete;

	// kGroup's gid from the group database (at start: a blocking lookup).
	static std::optional<gid_t> lookUpGroup();

private:
	// BusConnection::Client
	void busConnected(sd_bus *bus) override;
	void busLost() override;

	void attach(sd_bus *bus);

	// One HandleRequest in progress.
	struct Call {
		HandoffService *owner = nullptr;
		std::uint64_t id = 0;
		UniqueBusMessage message;
		std::vector<std::uint8_t> request;
		HandoffContext context;
		UniqueSlot credentials; // the bus driver's answer, while asked
	};

	// What sd-bus calls (handoff_service.cpp).
	struct Callbacks;
	friend struct Callbacks;

	int receive(sd_bus_message *message, sd_bus_error *error);
	void credentialsKnown(std::uint64_t id, sd_bus_message *reply);
	void dispatch(std::uint64_t id);
	void answer(std::uint64_t id, const HandoffAnswer &answer);
	void refuse(std::uint64_t id, const char *name, const std::string &message);

	BusConnection &bus_;
	SipService &sip_;
	std::optional<gid_t> uaGroup_;
	UniqueSlot object_;
	std::map<std::uint64_t, Call> calls_;
	std::uint64_t nextId_ = 1;
	// Caller connections (unique names) already checked: allowed or not.
	std::map<std::string, bool> callers_;
};

} // namespace checksyncd
