// SPDX-License-Identifier: MIT
//
// The SIP side: an nta agent on every listen URI, created with a message
// callback and no default leg, so every new request reaches onRequest() as
// a bare msg_t with no transaction state. What to do with a request is
// decided by the RequestGuard (common/request_guard.hpp); this class only
// translates between sofia-sip and it. Refusals and challenges are
// answered statelessly (nta_msg_treply, RFC 3261 26.3.2.4); only a request
// that waits for the provisioning process becomes a server transaction
// (nta_incoming_create), which then absorbs its retransmissions.

#pragma once

#include <list>
#include <memory>
#include <string>
#include <vector>

#include "loop.hpp"
#include "provisioning.hpp"
#include "request_guard.hpp"
#include "settings.hpp"
#include "sofia.hpp"
#include "status.hpp"
#include "status_report.hpp"

namespace checksyncd {

class SocketFilter;
class SourceGate;
class TcpGuard;

class SipService final : public StatusFeed
{
public:
	// The largest request accepted, in bytes (NTATAG_MAXSIZE): see
	// docs/security.md.
	static constexpr std::size_t kMaxRequestBytes = 8192;
	// The most of each text passed on to the provisioning process.
	static constexpr std::size_t kMaxDetailBytes = 256;

	// Binds every URI in `listen`; throws std::runtime_error naming the
	// first one that cannot be bound. `status` (may be null) hears about
	// every request and answer.
	SipService(EventLoop &loop, ProvisioningClient &provisioning,
		   const std::vector<std::string> &listen, StatusSink *status = nullptr);
	~SipService() override;
	SipService(const SipService &) = delete;
	SipService &operator=(const SipService &) = delete;

	// nullptr: no good settings yet (answer 503).
	void setSettings(std::shared_ptr<const Settings> settings);

	// Source filter (daemon/source_gate.hpp): asked first about every
	// request; nullptr: every source is considered. The kernel's socket
	// filter (socket_filter.hpp) is built from it too.
	void setSourceGate(SourceGate *gate);

	// The listen URIs, without "sip:", for the status line.
	const std::string &listening() const { return listening_; }

	// StatusFeed
	std::vector<Lockout> lockedOut(std::uint64_t nowMs) override
	{
		return guard_.lockedOut(nowMs);
	}
	bool unlock(std::string_view source) override
	{
		return guard_.unlock(source, EventLoop::nowMs());
	}

private:
	// A served request waiting for its D-Bus call in a server transaction.
	struct Waiting {
		UniqueIncoming irq; // the server transaction
		std::string remote;
		std::string user;
		Action action = Action::Reboot;
		CheckSyncNote note; // for the status object
	};

	static int messageTrampoline(void *magic, nta_agent_s *agent, msg_s *msg,
				     sip_s *sip) noexcept;
	void onRequest(msg_s *msg, sip_s *sip);
	// Answer statelessly (the caller reports the answer to the status).
	void reply(UniqueMsg msg, sip_s *sip, const Verdict &verdict, const SourceAddress &source);
	void serve(UniqueMsg msg, sip_s *sip, const Verdict &verdict, const SourceAddress &source);
	void answerWaiting(std::list<Waiting>::iterator waiting, const CallOutcome &outcome);

	ProvisioningClient &provisioning_;
	StatusSink *status_;
	UniqueAgent agent_;
	std::shared_ptr<const Settings> settings_;
	std::string listening_;
	RequestGuard guard_;
	std::list<Waiting> waiting_;
	SourceGate *gate_ = nullptr; // source filter
	std::unique_ptr<TcpGuard> tcpGuard_;
	std::unique_ptr<SocketFilter> socketFilter_; // the UDP sockets' BPF program
};

} // namespace checksyncd
