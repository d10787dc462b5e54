// SPDX-License-Identifier: MIT

#include "sip/sip_service.hpp"

#include <netinet/in.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/su_string.h>
#include <sofia-sip/su_tag.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/url.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "base/sofia.hpp"
#include "base/text.hpp"
#include "filter/socket_filter.hpp"
#include "filter/source_gate.hpp"
#include "loop/log.hpp"
#include "loop/random.hpp"
#include "sip/tcp_guard.hpp"

namespace checksyncd {

namespace {

// RFC 3261 20.35: responses name the server; no version (scanners such as
// sipvicious's svmap fingerprint it).
constexpr const char *kServer = "checksyncd";
constexpr const char *kAllow = "NOTIFY, OPTIONS";

// An answer goes only to where the request came from: nta sends responses
// to the top Via's maddr, else its received, else its host (resolved with
// a blocking lookup when it is a name), at its rport or port. nta has
// already set received to the source address whenever the Via's host is
// not that address (and dropped a received the sender put there); so drop
// any maddr, make sure of received, and name the source port in rport:
// the answer then goes there, without a lookup, whatever the Via says.
// None of these parameters takes part in transaction matching (sent-by
// and branch do). Only what differs is rewritten: this runs per datagram.
bool pinViaToSource(msg_t *msg, sip_t *sip, const SourceAddress &source)
{
	sip_via_t *via = sip->sip_via;
	if (!via)
		return false;
	su_home_t *home = msg_home(msg);
	if (via->v_maddr)
		msg_header_remove_param(via->v_common, "maddr");
	bool hostIsSource = via->v_host &&
			    (source.ip == via->v_host ||
			     (source.ip.find(':') != std::string::npos && via->v_host[0] == '[' &&
			      std::string_view(via->v_host + 1).starts_with(source.ip) &&
			      std::strlen(via->v_host) == source.ip.size() + 2));
	if (!(via->v_received ? source.ip == via->v_received : hostIsSource)) {
		std::string received = "received=" + source.ip;
		if (msg_header_replace_param(home, via->v_common,
					     su_strdup(home, received.c_str())) < 0)
			return false;
	}
	char rport[16] = "rport=";
	auto [end, ec] = std::to_chars(rport + 6, rport + sizeof(rport) - 1, source.port);
	*end = '\0';
	if (ec != std::errc{})
		return false;
	if (!via->v_rport || std::strcmp(via->v_rport, rport + 6) != 0) {
		if (msg_header_replace_param(home, via->v_common, su_strdup(home, rport)) < 0)
			return false;
	}
	return !via->v_maddr;
}

int statusOf(const CallOutcome &outcome)
{
	switch (outcome.result) {
	case CallResult::Accepted:
		return 200;
	case CallResult::LocalError:
		return 500;
	case CallResult::Unavailable:
	case CallResult::Refused:
		break;
	}
	return 503;
}

// D-Bus errors of HandleRequest for bytes that are no request to answer.
constexpr const char *kErrorTooLarge = "org.checksyncd.Handoff1.Error.TooLarge";
constexpr const char *kErrorNotARequest = "org.checksyncd.Handoff1.Error.NotARequest";

// How a request arrived, in the words of its log line.
const char *arrivedText(bool handedOver)
{
	return handedOver ? " (handed over by the UA)" : "";
}

// What nta answers itself, before a request on the port reaches the
// message callback (agent_recv_request() in sofia-sip's nta.c): a request
// it could not parse or that fails sofia-sip's sanity check gets 400 "Bad
// <header> Header" (no answer to an ACK or without a Via), a version
// other than SIP/2.0 gets 505. A handed-over request was parsed here, not
// by nta, so these are asked here; nullopt: nothing to refuse. `phrase`
// lives in `home`.
std::optional<std::pair<int, const char *>> ntaRefusal(su_home_t *home, msg_t *msg, sip_t *sip)
{
	const bool insane = sip_sanity_check(sip) < 0;
	if (sip->sip_error || (msg_get_flags(msg, MSG_FLG_ERROR) & MSG_FLG_ERROR) || insane) {
		if (!sip->sip_via || sip->sip_request->rq_method == sip_method_ack)
			return std::pair<int, const char *>(0, "");
		const char *bad = nullptr;
		for (const auto *h = reinterpret_cast<const sip_header_t *>(sip->sip_error);
		     h && !bad; h = h->sh_next)
			bad = h->sh_class == sip_error_class ? h->sh_error->er_name
							     : h->sh_class->hc_name;
		return std::pair<int, const char *>(
			400, bad ? su_sprintf(home, "Bad %s Header", bad) : sip_400_Bad_request);
	}
	if (!su_casematch(sip->sip_request->rq_version, sip_version_2_0))
		return std::pair<int, const char *>(SIP_505_VERSION_NOT_SUPPORTED);
	return std::nullopt;
}

// The one line about a served check-sync, and about the D-Bus call's
// failure when there was one (the provisioning client leaves that to the
// request it answers). `acceptedLevel`: where an accepted one is logged.
void logServed(LogLevel acceptedLevel, const CheckSyncFacts &facts, const CallOutcome &outcome)
{
	const LogLevel level = outcome.accepted()                         ? acceptedLevel
			       : outcome.result == CallResult::LocalError ? LogLevel::Error
									  : LogLevel::Warning;
	if (!logEnabled(level))
		return;
	const int status = statusOf(outcome);
	const std::string statusText = std::to_string(status);
	const std::string method(actionName(facts.action));
	const std::string why = outcome.accepted() ? "" : ": " + failureText(outcome);
	const LogField fields[] = {{"SIP_METHOD", "NOTIFY"},
				   {"SIP_REMOTE", facts.remote},
				   {"SIP_STATUS", statusText},
				   {"CHECKSYNC_ACTION", method},
				   {"SIP_HANDED_OVER", facts.handedOver ? "yes" : "no"},
				   {"DBUS_ERROR", outcome.error}};
	// DBUS_ERROR only where there is a D-Bus error name.
	logMessage(level,
		   "NOTIFY from " + facts.remote + arrivedText(facts.handedOver) + " for \"" +
			   facts.user + "\": " + statusText + " " + sip_status_phrase(status) +
			   " (" + method + why + ")",
		   std::span<const LogField>(fields, outcome.busError() ? 6 : 5));
}

// What every outcome of a served check-sync gets, known at once or later:
// its log line (an accepted one at `acceptedLevel`) and the status
// object's report. Returns the SIP status of its answer.
int finishServed(StatusSink *status, const CheckSyncFacts &facts, const CallOutcome &outcome,
		 LogLevel acceptedLevel)
{
	logServed(acceptedLevel, facts, outcome);
	const int sipStatus = statusOf(outcome);
	reportFinished(status, facts, sipStatus, outcome);
	return sipStatus;
}

// A request for an action that destroys data, refused because no identity
// it can be for has a password (docs/security.md): the settings need one.
void logNoPassword(const Verdict &verdict, const std::string &user, const SourceAddress &source)
{
	const std::string action(actionName(verdict.action));
	logMessage(LogLevel::Warning,
		   "refused " + action + " from " + source.remote + " for \"" + user +
			   "\": 403 Forbidden (no user_pass or user_hash for identity " +
			   std::to_string(verdict.identity) +
			   ": an action that destroys data is served only to a digest; "
			   "refusals like this are logged once a minute)",
		   {{"SIP_REMOTE", source.remote},
		    {"SIP_STATUS", "403"},
		    {"CHECKSYNC_ACTION", action},
		    {"AUTH_REASON", "no-password"}});
}

} // namespace

SipService::SipService(EventLoop &loop, ProvisioningClient &provisioning, SourceGate &gate,
		       const std::vector<std::string> &listen, StatusSink *status)
	: provisioning_(provisioning), gate_(gate), status_(status),
	  guard_(randomKey<NonceAuthority::Key>(), randomKey<RequestKeyer::Key>())
{
	// (url_string_t *)-1 is sofia-sip's NONE: create the agent without
	// transports; each listen URI is added below (none with --listen
	// none: the agent then only parses and builds hand-overs' messages).
	// NTATAG_PRELOAD: each message nta creates (a request read from a
	// socket, an answer) gets one block for its parser's and builder's
	// small allocations instead of a malloc() each; the size is the one
	// nta's documentation recommends, and the block goes with the message.
	agent_.reset(nta_agent_create(
		loop.root(), reinterpret_cast<url_string_t const *>(-1),
		[](nta_agent_magic_t *self, nta_agent_t *, msg_t *msg, sip_t *sip) noexcept {
			reinterpret_cast<SipService *>(self)->received(msg, sip);
			return 0;
		},
		reinterpret_cast<nta_agent_magic_t *>(this), NTATAG_UA(0), NTATAG_SERVER_RPORT(1),
		NTATAG_MAXSIZE(kMaxRequestBytes), NTATAG_PRELOAD(kPreloadBytes), TAG_END()));
	if (!agent_)
		throw std::runtime_error("cannot create the SIP agent");
	for (const std::string &uri : listen) {
		// sofia-sip does not always set errno on failure: clear it first so
		// that a stale value is not given as the reason.
		errno = 0;
		// TCP: close idle connections and stalled requests (tcp_guard.hpp).
		if (nta_agent_add_tport(agent_.get(), URL_STRING_MAKE(uri.c_str()),
					TPTAG_IDLE(TcpGuard::kIdleMs),
					TPTAG_TIMEOUT(TcpGuard::kStalledRequestMs),
					TAG_END()) < 0) {
			int error = errno;
			throw std::runtime_error(
				"cannot listen on " + uri +
				(error ? std::string(": ") + errnoText(error) : std::string()));
		}
		if (!listening_.empty())
			listening_ += ", ";
		listening_ += uri.starts_with("sip:") ? uri.substr(4) : uri;
	}
	// TCP connections bounded in total and per source, descriptors kept
	// for the daemon (tcp_guard.hpp).
	tcpGuard_ = std::make_unique<TcpGuard>(
		loop, [this](const SourceAddress &peer) { return trustOf(peer); });
	// The kernel drops what the source filter drops, and sheds under
	// overload all but the sources that authenticated (socket_filter.hpp).
	socketFilter_ = std::make_unique<SocketFilter>(loop, agent_.get(), gate_, status_, [this] {
		return guard_.authenticatedSources();
	});
}

SipService::~SipService()
{
	// The transactions go with waiting_, before the agent.
	for (Waiting &waiting : waiting_)
		if (waiting.irq)
			nta_incoming_treply(waiting.irq.get(), SIP_503_SERVICE_UNAVAILABLE,
					    SIPTAG_SERVER_STR(kServer), SIPTAG_RETRY_AFTER_STR("5"),
					    TAG_END());
}

void SipService::setSettings(std::shared_ptr<const Settings> settings)
{
	settings_ = std::move(settings);
	guard_.settingsChanged();
}

void SipService::received(msg_t *msg, sip_t *sip) noexcept
{
	try {
		tcpGuard_->sawRequest(msg); // TCP idle time (tcp_guard.hpp)
		onRequest(msg, sip);
	} catch (const std::exception &e) {
		logMessage(LogLevel::Error, std::string("handling a request failed: ") + e.what());
	}
}

void SipService::onRequest(msg_t *msg, sip_t *sip)
{
	UniqueMsg owned(msg);
	Origin origin;
	if (const su_addrinfo_t *ai = msg_addrinfo(msg)) {
		origin.address = IpAddress::fromSockaddr(ai->ai_addr, &origin.port);
		origin.transport = ai->ai_protocol == IPPROTO_TCP ? Transport::Tcp : Transport::Udp;
	}
	handle(std::move(owned), sip, origin);
}

HandoffResult SipService::handOver(std::span<const std::uint8_t> bytes,
				   const HandoffContext &context, HandoffReply later)
{
	// The port's bound (NTATAG_MAXSIZE), and sofia-sip's parser as its
	// transport runs it on a datagram.
	if (bytes.size() > kMaxRequestBytes)
		return HandoffRefusal{
			kErrorTooLarge,
			"the request has " + std::to_string(bytes.size()) + " bytes; at most " +
				std::to_string(kMaxRequestBytes) + " are taken (answer 413)"};
	UniqueMsg msg = parseDatagram(
		std::string_view(reinterpret_cast<const char *>(bytes.data()), bytes.size()),
		kMaxRequestBytes);
	sip_t *sip = msg ? sip_object(msg.get()) : nullptr;
	if (!sip || !sip->sip_request)
		return HandoffRefusal{kErrorNotARequest, "the bytes are not a SIP request"};

	Handoff handoff{context, bytes.size(), std::nullopt, std::move(later)};
	Origin origin;
	origin.address = context.remote.address;
	origin.port = context.remote.port;
	origin.transport = context.remote.transport;
	origin.handoff = &handoff;
	handle(std::move(msg), sip, origin);
	if (handoff.answer)
		return std::move(*handoff.answer);
	if (!handoff.later)
		return std::monostate{}; // waiting: the callback has it
	return HandoffAnswer{};          // no answer at all
}

void SipService::forgetHandoffs()
{
	for (auto &[key, waiting] : handedOver_)
		waiting->handoffs.clear();
}

SourceVerdict SipService::filter(const Origin &origin)
{
	// The UA vouches for a request that came over the connection it opened
	// to the registrar or outbound proxy (handoff.hpp).
	if (origin.handoff && fromRegistrarByFlow(origin.handoff->context))
		return SourceVerdict::Allow;
	// A datagram on the port passed the kernel's socket filter first: one
	// it would drop is its sample (socket_filter.hpp).
	const bool datagram = !origin.handoff && origin.transport == Transport::Udp;
	const SourceVerdict filtered = gate_.check(origin.address,
						   datagram ? socketFilter_->sampleWeight() : 1);
	if (datagram)
		socketFilter_->sawDatagram(filtered == SourceVerdict::Drop
						   ? SocketFilter::Datagram::Filtered
						   : SocketFilter::Datagram::Passed);
	return filtered;
}

ConnectionLimits::Trust SipService::trustOf(const SourceAddress &peer) const
{
	if (guard_.isKnownSource(peer.prefix) || gate_.names(peer.address))
		return ConnectionLimits::Trust::Kept;
	if (!gate_.allows(peer.address))
		return ConnectionLimits::Trust::Filtered;
	return ConnectionLimits::Trust::Allowed;
}

bool SipService::named(const Origin &origin, const SourceAddress &source) const
{
	if (origin.handoff && fromRegistrarByFlow(origin.handoff->context))
		return true;
	return gate_.names(source.address);
}

void SipService::handle(UniqueMsg msg, sip_t *sip, const Origin &origin)
{
	// Source filter (filter_registrar, checksync_trusted): before anything
	// else, so that a dropped request costs no more work and gets no answer
	// at all; a refused one gets the guard's 403.
	const SourceVerdict filtered = filter(origin);
	if (filtered == SourceVerdict::Drop) {
		if (status_)
			status_->droppedByFilter();
		return;
	}
	if (!sip || !sip->sip_request)
		return;
	const Arrival arrival = origin.handoff ? Arrival::HandedOver : Arrival::Port;
	if (status_)
		status_->received(arrival);
	Handoff *handoff = origin.handoff;
	// What nta answers itself on the port, before the message callback.
	if (handoff) {
		if (const auto refusal = ntaRefusal(msg_home(msg.get()), msg.get(), sip)) {
			if (refusal->first)
				refuseAsNta(std::move(msg), sip, refusal->first, refusal->second,
					    origin);
			return;
		}
	}
	if (!sip->sip_cseq || !origin.address)
		return; // nothing to answer, or nowhere to answer to
	const SourceAddress source = handoff ? handoff->context.remote
					     : SourceAddress::of(*origin.address, origin.port,
								 origin.transport);
	// The UA answers a handed-over request itself, to where it came from;
	// an answer from the port goes only to the request's source.
	if (!handoff && !pinViaToSource(msg.get(), sip, source))
		return; // nowhere safe to answer to
	if (!sip->sip_via)
		return;

	// Only an answer's uri is compared with the Request-URI.
	const std::string uriText = sip->sip_authorization
					    ? urlText(msg_home(msg.get()), sip->sip_request->rq_url)
					    : std::string();
	GuardRequest request = guardRequestOf(sip, source, uriText);
	request.refused = filtered == SourceVerdict::Refuse;
	// Only an answer is held to the guess budget: the rest need not ask.
	request.named = sip->sip_authorization && named(origin, source);
	// What an answer to an unproven source is held to (unproven.hpp); the
	// Via is measured as pinned to the source, as the answer copies it.
	request.requestBytes = handoff ? handoff->bytes : msg_size(msg.get());
	// Measured only where the bound applies: encoding the copied headers
	// to count them cost 2 300 instructions a request (callgrind), and a
	// source stays proven while its request is decided.
	request.copiedBytes = guard_.proven(request) ? 0 : copiedHeaderBytes(sip);
	if (handoff && !handoff->context.registerCallId.empty())
		request.registerCallId = handoff->context.registerCallId;

	// A retransmission handed over while its first copy waits for the
	// provisioning process gets the same answer, with it.
	if (handoff) {
		if (auto it = handedOver_.find(guard_.keyOf(request)); it != handedOver_.end()) {
			it->second->handoffs.push_back(std::move(handoff->later));
			handoff->later = nullptr;
			return;
		}
	}

	std::shared_ptr<const Settings> settings = settings_;
	Verdict verdict = guard_.decide(settings.get(), request, EventLoop::nowMs());

	if (status_ && (verdict.event == GuardEvent::AuthFailure ||
			verdict.event == GuardEvent::CredentialsRefused))
		status_->authenticationFailed();
	if (verdict.event != GuardEvent::None)
		logGuardEvent(verdict, request, source);

	if (verdict.silenced) {
		if (status_)
			status_->silenced();
	} else if (verdict.serve) {
		serve(std::move(msg), sip, std::move(verdict), source, origin);
	} else if (verdict.status) {
		reportAnswer(status_, sip, source, arrival, verdict);
		reply(std::move(msg), sip, verdict, source, origin);
	}
}

void SipService::refuseAsNta(UniqueMsg msg, sip_t *sip, int status, const char *phrase,
			     const Origin &origin)
{
	// The To tag from what identifies the request, as far as it parsed.
	const SourceAddress &source = origin.handoff->context.remote;
	GuardRequest request;
	request.facts.method = orEmpty(sip->sip_request->rq_method_name);
	request.source = &source;
	request.branch = orEmpty(sip->sip_via->v_branch);
	request.callId = callIdOf(sip);
	request.cseq = sip->sip_cseq ? sip->sip_cseq->cs_seq : 0;
	Verdict verdict;
	verdict.status = status;
	verdict.phrase = phrase;
	verdict.key = guard_.keyOf(request);
	if (status_)
		status_->answered(static_cast<unsigned>(status), AnswerTo::OtherRequest);
	reply(std::move(msg), sip, verdict, source, origin);
}

void SipService::logGuardEvent(const Verdict &verdict, const GuardRequest &request,
			       const SourceAddress &source) const
{
	std::string user = printable(verdict.authUser.empty() ? request.facts.uriUser
							      : verdict.authUser);
	std::string reason(authReason(verdict.auth));
	switch (verdict.event) {
	case GuardEvent::None:
		break;
	case GuardEvent::AuthFailure:
		// The line fail2ban reads (etc/fail2ban/): stable wording.
		logMessage(LogLevel::Warning,
			   "authentication failed: source=" + source.ip + " user=\"" + user +
				   "\" reason=" + reason,
			   {{"SIP_REMOTE", source.remote},
			    {"SIP_SOURCE_IP", source.ip},
			    {"AUTH_USER", user},
			    {"AUTH_REASON", reason}});
		if (verdict.lockoutStarted)
			logMessage(LogLevel::Warning,
				   "too many authentication failures: source=" +
					   source.prefix.toString() + " refused for " +
					   std::to_string(FailureTable::kLockMs / 1000) + " s",
				   {{"SIP_SOURCE_IP", source.ip}, {"AUTH_REASON", "locked-out"}});
		break;
	case GuardEvent::CredentialsRefused:
		logMessage(LogLevel::Info,
			   "credentials refused: source=" + source.ip + " user=\"" + user +
				   "\" reason=" + reason,
			   {{"SIP_REMOTE", source.remote}, {"AUTH_REASON", reason}});
		break;
	case GuardEvent::Silenced:
		logMessage(LogLevel::Notice,
			   "answers to sources that have not proven themselves held back: one "
			   "to " + source.ip +
				   " would be over their rate or twice its request (more are "
				   "counted in silenced, said again in a minute)",
			   {{"SIP_SOURCE_IP", source.ip}, {"AUTH_REASON", "unproven-source"}});
		break;
	case GuardEvent::AnswersFull:
		logMessage(LogLevel::Warning,
			   "more authenticated check-syncs than " +
				   std::to_string(RequestGuard::kAuthenticatedAnswers) +
				   " in 32 s: answering 503 for " +
				   std::to_string(verdict.retryAfterS) + " s",
			   {{"SIP_SOURCE_IP", source.ip}, {"AUTH_REASON", "answers-full"}});
		break;
	case GuardEvent::GuessBudgetSpent:
		logMessage(LogLevel::Warning,
			   "authentication failures from many sources: answers from sources "
			   "that never authenticated are not checked for " +
				   std::to_string(verdict.retryAfterS) + " s",
			   {{"SIP_SOURCE_IP", source.ip}, {"AUTH_REASON", "guess-budget"}});
		break;
	case GuardEvent::NoPassword:
		logNoPassword(verdict, user, source);
		break;
	}
}

std::vector<tagi_t> SipService::answerTags(const Verdict &verdict, std::string &retry,
					   std::string &events) const
{
	retry = std::to_string(verdict.retryAfterS);
	events = verdict.allowEvents ? allowEvents(settings_.get()) : std::string();
	std::vector<tagi_t> tags;
	tags.reserve(6 + verdict.challenges.size());
	tags.push_back({SIPTAG_SERVER_STR(kServer)});
	if (verdict.allow)
		tags.push_back({SIPTAG_ALLOW_STR(kAllow)});
	if (verdict.allowEvents)
		tags.push_back({SIPTAG_ALLOW_EVENTS_STR(events.c_str())}); // checksync_events
	if (verdict.retryAfterS)
		tags.push_back({SIPTAG_RETRY_AFTER_STR(retry.c_str())});
	if (verdict.accept)
		tags.push_back({SIPTAG_ACCEPT_STR(verdict.accept)});
	for (const std::string &challenge : verdict.challenges)
		tags.push_back({SIPTAG_WWW_AUTHENTICATE_STR(challenge.c_str())});
	// RFC 7616 3.5: the 200 proves the phone knows the password too.
	if (verdict.status / 100 == 2 && !verdict.authenticationInfo.empty())
		tags.push_back(
			{SIPTAG_AUTHENTICATION_INFO_STR(verdict.authenticationInfo.c_str())});
	tags.push_back({TAG_END()});
	return tags;
}

void SipService::reply(UniqueMsg msg, sip_t *sip, const Verdict &verdict,
		       const SourceAddress &source, const Origin &origin)
{
	// Refusals and challenges are logged at debug level only: a flood
	// must not become a flood of log lines.
	if (logEnabled(LogLevel::Debug)) {
		std::string method = printable(sip->sip_request->rq_method_name);
		logMessage(LogLevel::Debug,
			   method + " from " + source.remote + arrivedText(origin.handoff) +
				   " for \"" +
				   printable(orEmpty(sip->sip_request->rq_url->url_user)) +
				   "\": " + std::to_string(verdict.status) + " " + verdict.phrase +
				   (verdict.retransmission ? " (retransmission)" : ""),
			   {{"SIP_METHOD", method},
			    {"SIP_REMOTE", source.remote},
			    {"SIP_STATUS", std::to_string(verdict.status)}});
	}

	std::string retry;
	std::string events;
	const std::vector<tagi_t> tags = answerTags(verdict, retry, events);
	if (origin.handoff) {
		origin.handoff->answer = handoffAnswer(msg.get(), verdict.status, verdict.phrase,
						       tags, verdict.key);
		return;
	}
	// RFC 3261 8.2.6.2: the same To tag for every answer to this request.
	if (sip->sip_to && !sip->sip_to->a_tag)
		sip_to_tag(msg_home(msg.get()), sip->sip_to, toTagFor(verdict.key).c_str());
	nta_msg_treply(agent_.get(), msg.release(), verdict.status, verdict.phrase,
		       TAG_NEXT(tags.data())); // takes msg
}

HandoffAnswer SipService::handoffAnswer(msg_t *request, int status, const char *phrase,
					const std::vector<tagi_t> &tags,
					const RequestKey &key) const
{
	HandoffAnswer answer;
	answer.status = static_cast<unsigned>(status);
	answer.reason = phrase;
	// The message nta_msg_treply() would send (mreply() and
	// complete_response() in nta.c): the status line, the headers of the
	// answer, the request's Via, From, To (with the answer's tag), Call-ID,
	// CSeq and Record-Route, and a Content-Length.
	const UniqueMsg reply(nta_msg_create(agent_.get(), 0));
	sip_t *out = reply ? sip_object(reply.get()) : nullptr;
	const sip_t *in = sip_object(request);
	if (!out || !in)
		return answer; // out of memory: the UA answers with status and reason
	su_home_t *home = msg_home(reply.get());
	bool ok = sip_add_tl(reply.get(), out,
			     SIPTAG_STATUS(sip_status_create(home, status, phrase, nullptr)),
			     TAG_NEXT(tags.data())) >= 0;
	for (const void *header :
	     {static_cast<const void *>(in->sip_via), static_cast<const void *>(in->sip_from),
	      static_cast<const void *>(in->sip_to), static_cast<const void *>(in->sip_call_id),
	      static_cast<const void *>(in->sip_cseq),
	      static_cast<const void *>(in->sip_record_route)})
		if (ok && header)
			ok = sip_add_dup(reply.get(), out,
					 static_cast<const sip_header_t *>(header)) >= 0;
	if (ok && out->sip_to && !out->sip_to->a_tag)
		ok = sip_to_tag(home, out->sip_to, toTagFor(key).c_str()) >= 0;
	// A request nta answers 400 may lack a CSeq or a Call-ID: it sends
	// what it has (mreply()'s "incomplete"), and so does this.
	(void)sip_complete_message(reply.get());
	ok = ok && msg_serialize(reply.get(), reinterpret_cast<msg_pub_t *>(out)) >= 0;
	std::size_t length = 0;
	char *text = ok ? msg_as_string(home, reply.get(), nullptr, 0, &length) : nullptr;
	if (!text)
		return answer;
	answer.response.assign(text, length);

	// The headers the UA adds to its own answer: the answer's own.
	for (const msg_header_t *h = *msg_chain_head(reply.get()); h; h = h->sh_succ) {
		const msg_hclass_t *kind = h->sh_class;
		if (kind == sip_status_class || kind == sip_via_class || kind == sip_from_class ||
		    kind == sip_to_class || kind == sip_call_id_class || kind == sip_cseq_class ||
		    kind == sip_record_route_class || kind == sip_content_length_class ||
		    kind == sip_separator_class || kind == sip_payload_class || !kind->hc_name)
			continue;
		answer.headers.emplace_back(kind->hc_name,
					    headerValue(reinterpret_cast<const sip_header_t *>(h)));
	}
	return answer;
}

void SipService::serve(UniqueMsg msg, sip_t *sip, Verdict verdict, const SourceAddress &source,
		       const Origin &origin)
{
	if (!origin.handoff && waiting_.size() - handedOver_.size() >= kMaxWaiting) {
		// The verdict becomes the 503.
		verdict.serve = false;
		verdict.status = 503;
		verdict.phrase = sip_503_Service_unavailable;
		verdict.retryAfterS = 1;
		reportAnswer(status_, sip, source, Arrival::Port, verdict);
		reply(std::move(msg), sip, verdict, source, origin);
		return;
	}

	// One record, shared by the D-Bus call (which keeps it for the
	// trailing call) and the request while it waits.
	auto facts = std::make_shared<const CheckSyncFacts>(
		checkSyncFactsOf(sip, source, origin.handoff != nullptr, verdict));
	Waiting waiting;
	waiting.key = verdict.key;
	waiting.facts = facts;

	// Reserve the place first: the callback, called later from the loop,
	// finds it by iterator.
	auto slot = waiting_.insert(waiting_.end(), std::move(waiting));
	std::optional<CallOutcome> outcome = provisioning_.submit(
		verdict.action, facts,
		[this, slot](const CallOutcome &later) { answerWaiting(slot, later); });

	if (outcome) {
		waiting_.erase(slot);
		answerAtOnce(std::move(msg), sip, std::move(verdict), *facts, *outcome, source,
			     origin);
		return;
	}
	// It waits (the callback never runs before submit() returns): its 200
	// will carry this Authentication-Info.
	slot->authenticationInfo = std::move(verdict.authenticationInfo);

	if (origin.handoff) {
		// It waits for the D-Bus call with the UA that handed it over,
		// and with whatever copies of it the UA hands over meanwhile.
		slot->request = std::move(msg);
		slot->handoffs.push_back(std::move(origin.handoff->later));
		origin.handoff->later = nullptr;
		handedOver_[verdict.key] = slot;
		return;
	}
	// It waits for the D-Bus call: make it a server transaction, which
	// absorbs its retransmissions meanwhile. The request itself is left
	// as received (a To tag added to it would break RFC 2543 matching of
	// its retransmissions); the transaction gets the stable tag.
	slot->irq.reset(nta_incoming_create(agent_.get(), nullptr, msg.release(), sip,
					    TAG_END())); // takes msg
	if (!slot->irq) {
		logMessage(LogLevel::Warning,
			   "cannot create a server transaction for " + source.remote);
		return; // the callback finds nothing to answer
	}
	nta_incoming_tag(slot->irq.get(), toTagFor(verdict.key).c_str());
}

void SipService::answerAtOnce(UniqueMsg msg, sip_t *sip, Verdict verdict,
			      const CheckSyncFacts &facts, const CallOutcome &outcome,
			      const SourceAddress &source, const Origin &origin)
{
	// Debug for one accepted at once: a flood of those must not flood the
	// journal.
	const int status = finishServed(status_, facts, outcome, LogLevel::Debug);
	// The verdict becomes the answer: it keeps its key, Authentication-Info
	// and whether it authenticated.
	verdict.serve = false;
	verdict.status = status;
	verdict.phrase = sip_status_phrase(status);
	verdict.retryAfterS = retryAfterSeconds(outcome);
	// Statelessly, remembered for the retransmissions (the guard served it
	// only with room for that).
	if (outcome.result != CallResult::LocalError)
		guard_.answeredAtOnce(verdict, status, verdict.retryAfterS, EventLoop::nowMs());
	reply(std::move(msg), sip, verdict, source, origin);
}

void SipService::answerWaiting(std::list<Waiting>::iterator slot, const CallOutcome &outcome)
{
	Waiting waiting = std::move(*slot);
	waiting_.erase(slot);
	const bool handedOver = static_cast<bool>(waiting.request);
	if (handedOver)
		handedOver_.erase(waiting.key);
	const int status = finishServed(status_, *waiting.facts, outcome, LogLevel::Info);
	if (handedOver) {
		Verdict answer;
		answer.status = status;
		answer.phrase = sip_status_phrase(status);
		answer.retryAfterS = retryAfterSeconds(outcome);
		answer.key = waiting.key;
		answer.authenticated = waiting.facts->authenticated;
		answer.authenticationInfo = std::move(waiting.authenticationInfo);
		// Its later copies get the same answer, from the guard's cache.
		if (outcome.result != CallResult::LocalError)
			guard_.answeredAtOnce(answer, status, answer.retryAfterS,
					      EventLoop::nowMs());
		std::string retry;
		std::string events;
		const std::vector<tagi_t> tags = answerTags(answer, retry, events);
		const HandoffAnswer built = handoffAnswer(waiting.request.get(), status,
							  answer.phrase, tags, waiting.key);
		for (HandoffReply &reply : waiting.handoffs)
			reply(built);
		return;
	}
	if (!waiting.irq)
		return;
	std::string retry = std::to_string(retryAfterSeconds(outcome));
	const bool proof = outcome.accepted() && !waiting.authenticationInfo.empty();
	nta_incoming_treply(waiting.irq.get(), status, sip_status_phrase(status),
			    SIPTAG_SERVER_STR(kServer),
			    SIPTAG_RETRY_AFTER_STR(outcome.accepted() ? nullptr : retry.c_str()),
			    SIPTAG_AUTHENTICATION_INFO_STR(
				    proof ? waiting.authenticationInfo.c_str() : nullptr),
			    TAG_END());
}

} // namespace checksyncd
