// SPDX-License-Identifier: MIT

#include "sip_service.hpp"

#include <netinet/in.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su_tag.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/url.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "log.hpp"
#include "socket_filter.hpp"
#include "sofia.hpp"
#include "source_gate.hpp"
#include "tcp_guard.hpp"
#include "text.hpp"

namespace checksyncd {

namespace {

// RFC 3261 20.35: responses name the server; no version (scanners such as
// sipvicious's svmap fingerprint it).
constexpr const char *kServer = "checksyncd";
constexpr const char *kAllow = "NOTIFY, OPTIONS";

// Where a request came from, as the transport recorded it: the address
// (nullopt for anything but IPv4/IPv6), its port and the transport.
struct Received {
	std::optional<IpAddress> address;
	std::uint16_t port = 0;
	Transport transport = Transport::Udp;
};

Received receivedFrom(msg_t *msg)
{
	Received from;
	const su_addrinfo_t *ai = msg_addrinfo(msg);
	if (!ai)
		return from;
	from.address = IpAddress::fromSockaddr(ai->ai_addr, &from.port);
	from.transport = ai->ai_protocol == IPPROTO_TCP ? Transport::Tcp : Transport::Udp;
	return from;
}

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

unsigned retryAfterSeconds(const CallOutcome &outcome)
{
	if (outcome.accepted)
		return 0;
	return static_cast<unsigned>(
		std::max<std::uint64_t>(1, (outcome.retryAfterMs + 999) / 1000));
}

int statusOf(const CallOutcome &outcome)
{
	return outcome.accepted ? 200 : outcome.localError ? 500 : 503;
}

// The one line about a served check-sync, and about the D-Bus call's
// failure when there was one (the provisioning client leaves that to the
// request it answers). `acceptedLevel`: where an accepted one is logged.
void logServed(LogLevel acceptedLevel, const std::string &remote, const std::string &user,
	       Action action, const CallOutcome &outcome)
{
	const LogLevel level = outcome.accepted     ? acceptedLevel
			       : outcome.localError ? LogLevel::Error
						    : LogLevel::Warning;
	if (!logEnabled(level))
		return;
	const int status = statusOf(outcome);
	const std::string statusText = std::to_string(status);
	const std::string method(actionName(action));
	const std::string why = outcome.accepted ? "" : ": " + failureText(outcome);
	const LogField fields[] = {{"SIP_METHOD", "NOTIFY"},
				   {"SIP_REMOTE", remote},
				   {"SIP_STATUS", statusText},
				   {"CHECKSYNC_ACTION", method},
				   {"DBUS_ERROR", outcome.error}};
	// DBUS_ERROR only where there is a D-Bus error name.
	logMessage(level,
		   "NOTIFY from " + remote + " for \"" + user + "\": " + statusText + " " +
			   sip_status_phrase(status) + " (" + method + why + ")",
		   std::span<const LogField>(fields, outcome.busError ? 5 : 4));
}

} // namespace

SipService::SipService(EventLoop &loop, ProvisioningClient &provisioning,
		       const std::vector<std::string> &listen, StatusSink *status)
	: provisioning_(provisioning), status_(status),
	  guard_(NonceAuthority::randomKey(), RequestKeyer::randomKey())
{
	// (url_string_t *)-1 is sofia-sip's NONE: create the agent without
	// transports; each listen URI is added below.
	agent_.reset(nta_agent_create(
		loop.root(), reinterpret_cast<url_string_t const *>(-1),
		reinterpret_cast<nta_message_f *>(&SipService::messageTrampoline),
		reinterpret_cast<nta_agent_magic_t *>(this), NTATAG_UA(0), NTATAG_SERVER_RPORT(1),
		NTATAG_MAXSIZE(kMaxRequestBytes), TAG_END()));
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
	tcpGuard_ = std::make_unique<TcpGuard>(loop);
	// The kernel drops what the source filter drops, and sheds under
	// overload all but the sources that authenticated (socket_filter.hpp).
	socketFilter_ = std::make_unique<SocketFilter>(loop, agent_.get(), status_);
	socketFilter_->setAuthenticatedSources([this] { return guard_.authenticatedSources(); });
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

void SipService::setSourceGate(SourceGate *gate)
{
	gate_ = gate;
	socketFilter_->setSourceGate(gate);
}

void SipService::setSettings(std::shared_ptr<const Settings> settings)
{
	settings_ = std::move(settings);
	guard_.settingsChanged();
}

int SipService::messageTrampoline(void *magic, nta_agent_t *, msg_t *msg, sip_t *sip) noexcept
{
	auto *self = static_cast<SipService *>(magic);
	try {
		self->tcpGuard_->sawRequest(msg); // TCP idle time (tcp_guard.hpp)
		self->onRequest(msg, sip);
	} catch (const std::exception &e) {
		logMessage(LogLevel::Error, std::string("handling a request failed: ") + e.what());
	}
	return 0;
}

void SipService::onRequest(msg_t *msg, sip_t *sip)
{
	UniqueMsg owned(msg);
	// Source filter (filter_registrar, checksync_trusted): before anything
	// else, so that a dropped request costs no more work and gets no answer
	// at all; a refused one gets the guard's 403.
	const Received from = receivedFrom(msg);
	const bool udp = from.transport == Transport::Udp;
	const SourceVerdict filtered = gate_ ? gate_->check(from.address,
							    udp ? socketFilter_->sampleWeight() : 1)
					     : SourceVerdict::Allow;
	if (udp)
		socketFilter_->sawDatagram(filtered == SourceVerdict::Drop
						   ? SocketFilter::Datagram::Filtered
						   : SocketFilter::Datagram::Passed);
	if (filtered == SourceVerdict::Drop) {
		if (status_)
			status_->droppedByFilter();
		return;
	}
	if (!sip || !sip->sip_request)
		return;
	if (status_)
		status_->received();
	if (!sip->sip_cseq || !from.address)
		return; // nothing to answer, or nowhere to answer to
	const SourceAddress source = SourceAddress::of(*from.address, from.port, from.transport);
	if (!pinViaToSource(msg, sip, source))
		return; // nowhere safe to answer to

	// Only an answer's uri is compared with the Request-URI.
	const std::string uriText = sip->sip_authorization
					    ? urlText(msg_home(msg), sip->sip_request->rq_url)
					    : std::string();
	GuardRequest request = guardRequestOf(sip, source, uriText);
	request.refused = filtered == SourceVerdict::Refuse;

	std::shared_ptr<const Settings> settings = settings_;
	Verdict verdict = guard_.decide(settings.get(), request, EventLoop::nowMs());

	if (status_ && (verdict.event == GuardEvent::AuthFailure ||
			verdict.event == GuardEvent::CredentialsRefused))
		status_->authenticationFailed();
	if (verdict.event != GuardEvent::None) {
		std::string user = printable(verdict.authUser.empty() ? request.facts.uriUser
								      : verdict.authUser);
		std::string reason(authReason(verdict.auth));
		switch (verdict.event) {
		case GuardEvent::None:
			break;
		case GuardEvent::AuthFailure:
			// The line fail2ban reads (etc/fail2ban/): stable wording.
			logMessage(LogLevel::Warning,
				   "authentication failed: source=" + source.ip + " user=\"" +
					   user + "\" reason=" + reason,
				   {{"SIP_REMOTE", source.remote},
				    {"SIP_SOURCE_IP", source.ip},
				    {"AUTH_USER", user},
				    {"AUTH_REASON", reason}});
			if (verdict.lockoutStarted)
				logMessage(LogLevel::Warning,
					   "too many authentication failures: source=" +
						   source.prefix.toString() + " refused for " +
						   std::to_string(FailureTable::kLockMs / 1000) +
						   " s",
					   {{"SIP_SOURCE_IP", source.ip},
					    {"AUTH_REASON", "locked-out"}});
			break;
		case GuardEvent::CredentialsRefused:
			logMessage(LogLevel::Info,
				   "credentials refused: source=" + source.ip + " user=\"" + user +
					   "\" reason=" + reason,
				   {{"SIP_REMOTE", source.remote}, {"AUTH_REASON", reason}});
			break;
		case GuardEvent::GuessBudgetSpent:
			logMessage(
				LogLevel::Warning,
				"authentication failures from many sources: answers from sources "
				"that never authenticated are not checked for " +
					std::to_string(verdict.retryAfterS) + " s",
				{{"SIP_SOURCE_IP", source.ip}, {"AUTH_REASON", "guess-budget"}});
			break;
		}
	}

	if (verdict.serve) {
		serve(std::move(owned), sip, verdict, source);
	} else if (verdict.status) {
		reportAnswer(status_, sip, source.remote, verdict);
		reply(std::move(owned), sip, verdict, source);
	}
}

void SipService::reply(UniqueMsg msg, sip_t *sip, const Verdict &verdict,
		       const SourceAddress &source)
{
	// Refusals and challenges are logged at debug level only: a flood
	// must not become a flood of log lines.
	if (logEnabled(LogLevel::Debug)) {
		std::string method = printable(sip->sip_request->rq_method_name);
		logMessage(LogLevel::Debug,
			   method + " from " + source.remote + " for \"" +
				   printable(orEmpty(sip->sip_request->rq_url->url_user)) +
				   "\": " + std::to_string(verdict.status) + " " + verdict.phrase +
				   (verdict.retransmission ? " (retransmission)" : ""),
			   {{"SIP_METHOD", method},
			    {"SIP_REMOTE", source.remote},
			    {"SIP_STATUS", std::to_string(verdict.status)}});
	}

	// RFC 3261 8.2.6.2: the same To tag for every answer to this request.
	if (sip->sip_to && !sip->sip_to->a_tag)
		sip_to_tag(msg_home(msg.get()), sip->sip_to, toTagFor(verdict.key).c_str());

	std::string retry = std::to_string(verdict.retryAfterS);
	std::string events = verdict.allowEvents ? allowEvents(settings_.get()) : std::string();
	std::vector<tagi_t> tags;
	tags.reserve(5 + verdict.challenges.size());
	tags.push_back({SIPTAG_SERVER_STR(kServer)});
	if (verdict.allow)
		tags.push_back({SIPTAG_ALLOW_STR(kAllow)});
	if (verdict.allowEvents)
		tags.push_back({SIPTAG_ALLOW_EVENTS_STR(events.c_str())}); // checksync_events
	if (verdict.retryAfterS)
		tags.push_back({SIPTAG_RETRY_AFTER_STR(retry.c_str())});
	for (const std::string &challenge : verdict.challenges)
		tags.push_back({SIPTAG_WWW_AUTHENTICATE_STR(challenge.c_str())});
	tags.push_back({TAG_END()});
	nta_msg_treply(agent_.get(), msg.release(), verdict.status, verdict.phrase,
		       TAG_NEXT(tags.data())); // takes msg
}

void SipService::serve(UniqueMsg msg, sip_t *sip, const Verdict &verdict,
		       const SourceAddress &source)
{
	// Text from the wire reaches D-Bus as valid UTF-8, and bounded.
	CallDetails details;
	details.identity = verdict.identity;
	details.remote = source.remote;
	details.authenticated = verdict.authenticated;
	details.callId = toValidUtf8(callIdOf(sip), kMaxDetailBytes);
	details.event = toValidUtf8(
		headerValue(reinterpret_cast<const sip_header_t *>(sip->sip_event)),
		kMaxDetailBytes);
	details.userAgent = toValidUtf8(
		sip->sip_user_agent ? orEmpty(sip->sip_user_agent->g_string) : "", kMaxDetailBytes);

	Waiting waiting;
	waiting.remote = source.remote;
	waiting.user = printable(orEmpty(sip->sip_request->rq_url->url_user));
	waiting.action = verdict.action;
	waiting.note = noteCheckSync(status_, sip, source.remote, verdict);

	// Reserve the place first: the callback, called later from the loop,
	// finds it by iterator.
	auto slot = waiting_.insert(waiting_.end(), std::move(waiting));
	std::optional<CallOutcome> outcome = provisioning_.submit(
		verdict.action, std::move(details),
		[this, slot](const CallOutcome &later) { answerWaiting(slot, later); });

	if (outcome) {
		// Known at once (the action gate accepted it on the trailing call,
		// or refused it).
		Waiting done = std::move(*slot);
		waiting_.erase(slot);
		// Debug for one accepted at once: a flood of those must not flood
		// the journal.
		logServed(LogLevel::Debug, done.remote, done.user, done.action, *outcome);
		Verdict answer = verdict;
		answer.serve = false;
		answer.status = statusOf(*outcome);
		answer.phrase = sip_status_phrase(answer.status);
		answer.retryAfterS = retryAfterSeconds(*outcome);
		reportFinished(status_, done.note, answer.status, *outcome);
		std::uint64_t now = EventLoop::nowMs();
		if (outcome->localError || guard_.canAnswerStatelessly(verdict, now)) {
			// Statelessly, remembered for the retransmissions.
			if (!outcome->localError)
				guard_.answeredAtOnce(verdict, answer.status, answer.retryAfterS,
						      now);
			reply(std::move(msg), sip, answer, source);
			return;
		}
		// More authenticated answers inside Timer J than the cache keeps:
		// this one goes through a server transaction, which nta keeps for
		// Timer J to absorb its retransmissions.
		const UniqueIncoming irq(nta_incoming_create(agent_.get(), nullptr, msg.release(),
							     sip, TAG_END())); // takes msg
		if (!irq)
			return;
		std::string retry = std::to_string(answer.retryAfterS);
		nta_incoming_tag(irq.get(), toTagFor(verdict.key).c_str());
		nta_incoming_treply(
			irq.get(), answer.status, answer.phrase, SIPTAG_SERVER_STR(kServer),
			SIPTAG_RETRY_AFTER_STR(answer.retryAfterS ? retry.c_str() : nullptr),
			TAG_END());
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

void SipService::answerWaiting(std::list<Waiting>::iterator slot, const CallOutcome &outcome)
{
	Waiting waiting = std::move(*slot);
	waiting_.erase(slot);
	logServed(LogLevel::Info, waiting.remote, waiting.user, waiting.action, outcome);
	int status = statusOf(outcome);
	reportFinished(status_, waiting.note, status, outcome);
	if (!waiting.irq)
		return;
	std::string retry = std::to_string(retryAfterSeconds(outcome));
	nta_incoming_treply(
		waiting.irq.get(), status, sip_status_phrase(status), SIPTAG_SERVER_STR(kServer),
		SIPTAG_RETRY_AFTER_STR(outcome.accepted ? nullptr : retry.c_str()), TAG_END());
}

} // namespace checksyncd
