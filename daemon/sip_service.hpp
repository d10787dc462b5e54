// SPDX-License-Identifier: MIT
//
// The SIP side: an nta agent on every listen URI, created with a message
// callback and no default leg, so every new request reaches onRequest() as
// a bare msg_t with no transaction state. Refusals and challenges are
// answered statelessly (nta_msg_treply, RFC 3261 26.3.2.4); only a request
// that will be served becomes a server transaction (nta_incoming_create),
// which then absorbs its retransmissions, and is answered when the
// provisioning process has.

#pragma once

#include <memory>
#include <string>
#include <vector>

#include "auth.hpp"
#include "checksync.hpp"
#include "failure_table.hpp"
#include "loop.hpp"
#include "nonce.hpp"
#include "provisioning.hpp"
#include "response_cache.hpp"
#include "settings.hpp"
#include "sofia.hpp"

extern "C" {
struct nta_agent_s;
struct nta_incoming_s;
}

namespace checksyncd {

class SourceGate;

class SipService
{
public:
	// Binds every URI in `listen`; throws std::runtime_error naming the
	// first one that cannot be bound.
	SipService(EventLoop &loop, ProvisioningClient &provisioning,
		   const std::vector<std::string> &listen);
	~SipService();
	SipService(const SipService &) = delete;
	SipService &operator=(const SipService &) = delete;

	// nullptr: no good settings yet (answer 503).
	void setSettings(std::shared_ptr<const Settings> settings);

	// Source filter (daemon/source_gate.hpp): asked first about every
	// request; nullptr: every source is considered.
	void setSourceGate(SourceGate *gate) { gate_ = gate; }

	// The listen URIs, without "sip:", for the status line.
	const std::string &listening() const { return listening_; }

private:
	struct Pending;

	static int messageTrampoline(void *magic, nta_agent_s *agent, msg_s *msg,
				     sip_s *sip) noexcept;
	void onRequest(msg_s *msg, sip_s *sip);
	void serve(msg_s *msg, sip_s *sip, const Plan &plan, bool authenticated,
		   const std::string &remote, std::string key);
	void finish(Pending &pending, const CallOutcome &outcome);

	ProvisioningClient &provisioning_;
	nta_agent_s *agent_ = nullptr;
	std::shared_ptr<const Settings> settings_;
	std::string listening_;
	NonceAuthority nonces_;
	UsedNonces used_;
	FailureTable failures_;
	ResponseCache answers_;
	std::vector<std::shared_ptr<Pending>> pending_;
	SourceGate *gate_ = nullptr; // source filter
};

} // namespace checksyncd
