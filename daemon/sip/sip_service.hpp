// SPDX-License-Identifier: MIT
//
// The SIP side: an nta agent on every listen URI, created with a message
// callback and no default leg, so every new request reaches onRequest() as
// a bare msg_t with no transaction state. What to do with a request is
// decided by the RequestGuard (common/sip/request_guard.hpp); this class only
// translates between sofia-sip and it. Refusals and challenges are
// answered statelessly (nta_msg_treply, RFC 3261 26.3.2.4); only a request
// that waits for the provisioning process becomes a server transaction
// (nta_incoming_create), which then absorbs its retransmissions.
//
// A request handed over by the phone's SIP UA (handOver(), DESIGN section
// 5) takes the same path from the source filter on: only where it came
// from is read from the UA's context instead of the socket, and its answer
// is built as a message and given back instead of sent. Its
// retransmissions, which the UA may hand over again, are absorbed here
// (the request waiting) and by the guard's response cache (answered).

#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <sofia-sip/su_tag.h>

#include "base/sofia.hpp"
#include "filter/source_filter.hpp"
#include "loop/loop.hpp"
#include "provisioning/provisioning_client.hpp"
#include "settings/settings.hpp"
#include "sip/connection_limits.hpp"
#include "sip/handoff.hpp"
#include "sip/request_guard.hpp"
#include "status/status.hpp"
#include "status/status_report.hpp"

namespace checksyncd {

class SocketFilter;
class SourceGate;
class TcpGuard;

// The answer to a handed-over request (HandleRequest's reply): status 0
// means no answer at all (the source filter drops the source, an ACK), as
// a datagram on the port would get none.
struct HandoffAnswer {
	unsigned status = 0;
	std::string reason;
	// What the UA adds to its own answer: every header of `response` but
	// the ones it copies from the request (Via, From, To, Call-ID, CSeq)
	// and Content-Length.
	std::vector<std::pair<std::string, std::string>> headers;
	std::string response; // the whole answer, for a UA that forwards bytes
};

// A handed-over request that is not one: a D-Bus error for the caller.
struct HandoffRefusal {
	const char *error; // a D-Bus error name
	std::string message;
};

// What handOver() returns: the answer when it is known at once, the
// refusal of bytes that are no request, or monostate when the answer
// comes later, through the callback.
using HandoffResult = std::variant<std::monostate, HandoffAnswer, HandoffRefusal>;

class SipService final
{
public:
	// The largest request accepted, in bytes (NTATAG_MAXSIZE): see
	// docs/security.md.
	static constexpr std::size_t kMaxRequestBytes = 8192;
	// Memory nta preloads for each message it creates (NTATAG_PRELOAD).
	static constexpr unsigned kPreloadBytes = 1500;
	// Requests from the port waiting for the provisioning process at once,
	// each in a server transaction (kept by nta for Timer J after its
	// answer): only those that arrive while a call is in flight wait (the
	// action gate answers the others at once), so this is reached only
	// when the provisioning process is slow and the rate high. Beyond it:
	// 503 with Retry-After, no transaction.
	static constexpr std::size_t kMaxWaiting = 256;

	// Binds every URI in `listen`; throws std::runtime_error naming the
	// first one that cannot be bound. `gate`, the source filter
	// (daemon/filter/source_gate.hpp), is asked first about every request,
	// and the kernel's socket filter (socket_filter.hpp) is built from it
	// too. `status` (may be null) hears about every request and answer.
	// Both outlive the service (daemon/instance.hpp).
	SipService(EventLoop &loop, ProvisioningClient &provisioning, SourceGate &gate,
		   const std::vector<std::string> &listen, StatusSink *status = nullptr);
	~SipService();
	SipService(const SipService &) = delete;
	SipService &operator=(const SipService &) = delete;

	// nullptr: no good settings yet (answer 503).
	void setSettings(std::shared_ptr<const Settings> settings);

	// The listen URIs, without "sip:", for the status line (empty with
	// --listen none).
	const std::string &listening() const { return listening_; }

	// A request the phone's SIP UA received and hands over, with where it
	// came from. `later` is called once, from the loop, when the answer
	// is known later (never when handOver() returns it, and never after
	// forgetHandoffs()).
	using HandoffReply = std::function<void(HandoffAnswer)>;
	HandoffResult handOver(std::span<const std::uint8_t> request, const HandoffContext &context,
			       HandoffReply later);
	// Whoever handed requests over goes away: drop every callback.
	void forgetHandoffs();

	// The guard, for what keeps its known sources across a restart
	// (known_sources_store.hpp).
	RequestGuard &guard() { return guard_; }

	// What the status object asks (its StatusFeed, daemon/instance.hpp).
	std::vector<Lockout> lockedOut(std::uint64_t nowMs) const
	{
		return guard_.lockedOut(nowMs);
	}
	bool unlock(std::string_view source) { return guard_.unlock(source, EventLoop::nowMs()); }

private:
	// A handed-over request on its way through handle(): its context, and
	// its answer once one is known at once.
	struct Handoff {
		const HandoffContext &context;
		std::size_t bytes = 0; // the request's size
		std::optional<HandoffAnswer> answer;
		HandoffReply later;
	};

	// Where a request came from and how its answer leaves: by nta on the
	// port, or back to the UA that handed it over.
	struct Origin {
		std::optional<IpAddress> address;
		std::uint16_t port = 0;
		Transport transport = Transport::Udp;
		Handoff *handoff = nullptr; // nullptr: the port
	};

	// A served request waiting for its D-Bus call: in a server
	// transaction when it came on the port; kept with the UAs to answer
	// when it was handed over (with those of its retransmissions).
	struct Waiting {
		UniqueIncoming irq; // the server transaction (the port)
		UniqueMsg request;  // the request (handed over)
		std::vector<HandoffReply> handoffs;
		RequestKey key{};
		// What it is, shared with the provisioning call: for its log
		// line, its answer and the status object.
		std::shared_ptr<const CheckSyncFacts> facts;
		std::string authenticationInfo; // for a 200
	};

	// nta's message callback, through a captureless lambda of its type.
	void received(msg_s *msg, sip_s *sip) noexcept;
	void onRequest(msg_s *msg, sip_s *sip);
	// Every request, from the port or handed over: the source filter, the
	// guard, and the answer or the provisioning call.
	void handle(UniqueMsg msg, sip_s *sip, const Origin &origin);
	SourceVerdict filter(const Origin &origin);
	// Whether the source filter names the source (outside the guess
	// budget): SourceGate::names(), or a registrar flow the UA vouches for.
	bool named(const Origin &origin, const SourceAddress &source) const;
	// What the TCP guard keeps longest: a peer that authenticated before
	// or that the filter names, then one the filter lets in.
	ConnectionLimits::Trust trustOf(const SourceAddress &peer) const;
	// A handed-over request answered as nta answers it on the port.
	void refuseAsNta(UniqueMsg msg, sip_s *sip, int status, const char *phrase,
			 const Origin &origin);
	void logGuardEvent(const Verdict &verdict, const GuardRequest &request,
			   const SourceAddress &source) const;
	// Answer statelessly (the caller reports the answer to the status).
	void reply(UniqueMsg msg, sip_s *sip, const Verdict &verdict, const SourceAddress &source,
		   const Origin &origin);
	// A check-sync to act on: submitted to the provisioning client, then
	// answered at once or left waiting for the outcome.
	void serve(UniqueMsg msg, sip_s *sip, Verdict verdict, const SourceAddress &source,
		   const Origin &origin);
	// The outcome known when it was submitted (the action gate accepted
	// it on the trailing call, or refused it): a stateless answer.
	void answerAtOnce(UniqueMsg msg, sip_s *sip, Verdict verdict, const CheckSyncFacts &facts,
			  const CallOutcome &outcome, const SourceAddress &source,
			  const Origin &origin);
	void answerWaiting(std::list<Waiting>::iterator waiting, const CallOutcome &outcome);
	// The answer to a handed-over request, built as nta would send it.
	HandoffAnswer handoffAnswer(msg_s *request, int status, const char *phrase,
				    const std::vector<tagi_t> &tags, const RequestKey &key) const;
	// The headers every answer of this verdict carries, as sofia-sip tags
	// (ending with TAG_END); `storage` keeps the texts they point to.
	std::vector<tagi_t> answerTags(const Verdict &verdict, std::string &retry,
				       std::string &events) const;

	ProvisioningClient &provisioning_;
	SourceGate &gate_; // the source filter
	StatusSink *status_;
	UniqueAgent agent_;
	std::shared_ptr<const Settings> settings_;
	std::string listening_;
	RequestGuard guard_;
	std::list<Waiting> waiting_;
	// The handed-over requests among them, by their key: a retransmission
	// handed over meanwhile waits for the same answer.
	std::map<RequestKey, std::list<Waiting>::iterator> handedOver_;
	std::unique_ptr<TcpGuard> tcpGuard_;
	std::unique_ptr<SocketFilter> socketFilter_; // the UDP sockets' BPF program
};

} // namespace checksyncd
