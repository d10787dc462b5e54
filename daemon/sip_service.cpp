// SPDX-License-Identifier: MIT

#include "sip_service.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su_tag.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/url.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "config.h"
#include "failure_table.hpp"
#include "response_cache.hpp"
#include "sofia.hpp"
#include "log.hpp"
#include "source_gate.hpp"

namespace checksyncd {

namespace {

constexpr const char *kUserAgent = "checksyncd/" CHECKSYNCD_VERSION;
constexpr const char *kAllow = "NOTIFY, OPTIONS";
constexpr const char *kAllowEvents = "check-sync";
// Used-nonce set: 30 s of nonces at 128 authenticated requests/s.
constexpr std::size_t kUsedNonceCapacity = 4096;
// Addresses remembered for brute-force lockout, and stateless answers
// remembered for retransmissions (both LRU).
constexpr std::size_t kFailureTableCapacity = 1024;
constexpr std::size_t kResponseCacheCapacity = 1024;
// Retry-After while no good settings are loaded.
constexpr unsigned kNoSettingsRetryAfterS = 10;

// Text from the network, made safe for one log line.
std::string printable(const char *text, std::size_t max = 64)
{
	std::string out;
	if (!text)
		return out;
	for (const char *p = text; *p && out.size() < max; p++) {
		unsigned char c = static_cast<unsigned char>(*p);
		out.push_back(c < 0x20 || c == 0x7f || c == '"' || c == '\\' ? '?' : *p);
	}
	return out;
}

struct Source {
	std::string ip;	    // "192.0.2.1", "2001:db8::1"
	std::string remote; // "udp:192.0.2.1:5060", "tcp:[2001:db8::1]:5060"
};

Source sourceOf(msg_t *msg)
{
	Source source;
	su_addrinfo_t *ai = msg_addrinfo(msg);
	if (!ai || !ai->ai_addr)
		return source;
	char host[INET6_ADDRSTRLEN] = "";
	unsigned port = 0;
	if (ai->ai_family == AF_INET) {
		const auto *in = reinterpret_cast<const sockaddr_in *>(ai->ai_addr);
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (ai->ai_family == AF_INET6) {
		const auto *in6 = reinterpret_cast<const sockaddr_in6 *>(ai->ai_addr);
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], host, sizeof(host));
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	if (!*host)
		return source;
	source.ip = host;
	const char *proto = ai->ai_protocol == IPPROTO_TCP ? "tcp" : "udp";
	bool v6 = source.ip.find(':') != std::string::npos;
	source.remote = std::string(proto) + ":" + (v6 ? "[" : "") + source.ip + (v6 ? "]" : "") +
			":" + std::to_string(port);
	return source;
}

// RFC 3261 8.2.6.2: a stateless answer to a retransmission carries the same
// To tag, so derive it from the key that identifies the request
// (requestKey()). Not a secret and not an authenticator, just stable and
// unlikely to collide: a 64-bit FNV-1a is plenty, and far cheaper than a
// digest.
std::string toTagFor(std::string_view requestKey)
{
	std::uint64_t hash = 14695981039346656037ull;
	for (unsigned char c : requestKey)
		hash = (hash ^ c) * 1099511628211ull;
	char text[17];
	std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(hash));
	return text;
}

std::string requestUriText(msg_t *msg, const sip_t *sip)
{
	char *text = url_as_string(msg_home(msg), sip->sip_request->rq_url);
	std::string value = text ? text : "";
	su_free(msg_home(msg), text);
	return value;
}

} // namespace

struct SipService::Pending {
	msg_t *msg = nullptr;	      // until a transaction takes it
	nta_incoming_t *irq = nullptr; // while waiting for the D-Bus call
	bool answered = false;
	std::string key; // requestKey(), for the response cache
	std::string remote;
	std::string method;
	std::string user;
};

SipService::SipService(EventLoop &loop, ProvisioningClient &provisioning,
		       const std::vector<std::string> &listen)
	: provisioning_(provisioning), nonces_(NonceAuthority::randomKey()),
	  used_(kUsedNonceCapacity), failures_(kFailureTableCapacity), answers_(kResponseCacheCapacity)
{
	// (url_string_t *)-1 is sofia-sip's NONE: create the agent without
	// transports; each listen URI is added below.
	agent_ = nta_agent_create(loop.root(), reinterpret_cast<url_string_t const *>(-1),
				  reinterpret_cast<nta_message_f *>(&SipService::messageTrampoline),
				  reinterpret_cast<nta_agent_magic_t *>(this),
				  NTATAG_UA(0),
				  NTATAG_SERVER_RPORT(1),
				  NTATAG_MAXSIZE(65536),
				  TAG_END());
	if (!agent_)
		throw std::runtime_error("cannot create the SIP agent");
	for (const std::string &uri : listen) {
		// sofia-sip does not always set errno on failure: clear it first so
		// that a stale value is not given as the reason.
		errno = 0;
		if (nta_agent_add_tport(agent_, URL_STRING_MAKE(uri.c_str()), TAG_END()) < 0) {
			int error = errno;
			nta_agent_destroy(agent_);
			throw std::runtime_error("cannot listen on " + uri +
						 (error ? std::string(": ") + std::strerror(error)
							: std::string()));
		}
		if (!listening_.empty())
			listening_ += ", ";
		listening_ += uri.starts_with("sip:") ? uri.substr(4) : uri;
	}
}

SipService::~SipService()
{
	for (auto &pending : pending_) {
		if (pending->msg)
			msg_destroy(pending->msg);
		pending->msg = nullptr;
		if (!pending->irq)
			continue;
		nta_incoming_treply(pending->irq, SIP_503_SERVICE_UNAVAILABLE,
				    SIPTAG_USER_AGENT_STR(kUserAgent),
				    SIPTAG_RETRY_AFTER_STR("5"), TAG_END());
		nta_incoming_destroy(pending->irq);
		pending->irq = nullptr;
	}
	nta_agent_destroy(agent_);
}

void SipService::setSettings(std::shared_ptr<const Settings> settings)
{
	settings_ = std::move(settings);
}

int SipService::messageTrampoline(void *magic, nta_agent_t *, msg_t *msg, sip_t *sip) noexcept
{
	auto *self = static_cast<SipService *>(magic);
	try {
		self->onRequest(msg, sip);
	} catch (const std::exception &e) {
		logMessage(LogLevel::Error, std::string("handling a request failed: ") + e.what());
	}
	return 0;
}

void SipService::onRequest(msg_t *msg, sip_t *sip)
{
	if (!sip || !sip->sip_request) {
		msg_destroy(msg);
		return;
	}
	// Source filter (filter_registrar, checksync_trusted): before anything
	// else, so that a dropped request costs no more work and gets no answer
	// at all. Refused ones get their 403 below, once answer() can send it.
	const SourceVerdict verdict = gate_ ? gate_->check(msg) : SourceVerdict::Allow;
	if (verdict == SourceVerdict::Drop) {
		msg_destroy(msg);
		return;
	}
	const char *method = sip->sip_request->rq_method_name;
	const url_t *ruri = sip->sip_request->rq_url;
	Source source = sourceOf(msg);

	RequestFacts facts;
	facts.method = method ? method : "";
	facts.event = classifyEvent(sip->sip_event);
	facts.uriHasUser = ruri->url_user && *ruri->url_user;
	facts.uriUser = facts.uriHasUser ? ruri->url_user : "";
	std::shared_ptr<const Settings> settings = settings_;
	Plan plan = planRequest(settings.get(), facts);

	if (plan.answer == Answer::Ignore) {
		msg_destroy(msg);
		return;
	}

	// What makes a retransmission the same request: the key of the
	// response cache, and the source of the stable To tag that every
	// answer below, all final, carries.
	std::string key = requestKey(source.remote,
				     sip->sip_via && sip->sip_via->v_branch ? sip->sip_via->v_branch : "",
				     sip->sip_call_id && sip->sip_call_id->i_id ? sip->sip_call_id->i_id : "",
				     sip->sip_cseq ? sip->sip_cseq->cs_seq : 0, facts.method);
	if (sip->sip_to && !sip->sip_to->a_tag)
		sip_to_tag(msg_home(msg), sip->sip_to, toTagFor(key).c_str());

	std::uint64_t now = EventLoop::nowMs();
	std::string user = printable(ruri->url_user);
	// Refusals and challenges are logged at debug level only: a flood
	// must not become a flood of log lines. Served check-syncs and
	// authentication failures are logged at info and warning.
	auto answer = [&](int status, const char *phrase, tagi_t const *extra = nullptr) {
		if (logEnabled(LogLevel::Debug))
			logMessage(LogLevel::Debug,
				   std::string(printable(method)) + " from " + source.remote +
					   " for \"" + user + "\": " + std::to_string(status) + " " +
					   phrase,
				   {{"SIP_METHOD", printable(method)},
				    {"SIP_REMOTE", source.remote},
				    {"SIP_STATUS", std::to_string(status)}});
		nta_msg_treply(agent_, msg, status, phrase, SIPTAG_USER_AGENT_STR(kUserAgent),
			       TAG_NEXT(extra));
	};

	// Source filter, checksync_untrusted=refuse (see above).
	if (verdict == SourceVerdict::Refuse) {
		answer(SIP_403_FORBIDDEN);
		return;
	}

	switch (plan.answer) {
	case Answer::Ignore:
		return;
	case Answer::Options: {
		tagi_t tags[] = {{SIPTAG_ALLOW_STR(kAllow)},
				 {SIPTAG_ALLOW_EVENTS_STR(kAllowEvents)},
				 {TAG_END()}};
		answer(SIP_200_OK, tags);
		return;
	}
	case Answer::MethodNotAllowed: {
		tagi_t tags[] = {{SIPTAG_ALLOW_STR(kAllow)}, {TAG_END()}};
		answer(SIP_405_METHOD_NOT_ALLOWED, tags);
		return;
	}
	case Answer::MissingEvent:
		answer(400, "Missing Event header");
		return;
	case Answer::BadEvent: {
		tagi_t tags[] = {{SIPTAG_ALLOW_EVENTS_STR(kAllowEvents)}, {TAG_END()}};
		answer(SIP_489_BAD_EVENT, tags);
		return;
	}
	case Answer::BadRebootValue:
		answer(400, "Bad reboot parameter");
		return;
	case Answer::NotFound:
		answer(SIP_404_NOT_FOUND);
		return;
	case Answer::NoSettings: {
		std::string retry = std::to_string(kNoSettingsRetryAfterS);
		tagi_t tags[] = {{SIPTAG_RETRY_AFTER_STR(retry.c_str())}, {TAG_END()}};
		answer(SIP_503_SERVICE_UNAVAILABLE, tags);
		return;
	}
	case Answer::Serve:
	case Answer::Challenge:
		break;
	}

	// A retransmission of a check-sync that was answered statelessly gets
	// the same answer again, and nothing else happens.
	if (auto cached = answers_.lookup(key, now)) {
		std::string retry = std::to_string(cached->retryAfterS);
		// A NULL string tag adds no header.
		tagi_t tags[] = {{SIPTAG_RETRY_AFTER_STR(cached->retryAfterS ? retry.c_str() : nullptr)},
				 {TAG_END()}};
		answer(cached->status, sip_status_phrase(cached->status), tags);
		return;
	}

	if (plan.answer == Answer::Serve) {
		serve(msg, sip, plan, false, source.remote, std::move(key));
		return;
	}

	// Brute force: an address that failed too often is refused for a while.
	if (failures_.locked(source.ip, now)) {
		answer(SIP_403_FORBIDDEN);
		return;
	}

	// Challenge: serve valid credentials, answer everything else with 401.
	std::string realm = challengeRealm(*settings, plan.identity,
					   ruri->url_host ? ruri->url_host : "");
	AuthRequest request;
	request.method = facts.method;
	std::string uriText = requestUriText(msg, sip);
	request.requestUri = uriText;
	request.sourceIp = source.ip;
	request.nowMs = now;
	AuthOutcome outcome = verifyAuthorization(sip->sip_authorization, *settings, plan.identity,
						  realm, request, nonces_, used_);
	if (outcome.result == AuthResult::Ok) {
		failures_.recordSuccess(source.ip);
		serve(msg, sip, plan, true, source.remote, std::move(key));
		return;
	}
	if (isAuthFailure(outcome.result)) {
		std::string who = outcome.username.empty() ? user : printable(outcome.username.c_str());
		std::string reason(authReason(outcome.result));
		if (outcome.addressProven) {
			// The line fail2ban reads (etc/fail2ban/): stable wording.
			logMessage(LogLevel::Warning,
				   "authentication failed: source=" + source.ip + " user=\"" + who +
					   "\" reason=" + reason,
				   {{"SIP_REMOTE", source.remote},
				    {"SIP_SOURCE_IP", source.ip},
				    {"AUTH_USER", who},
				    {"AUTH_REASON", reason}});
			if (failures_.recordFailure(source.ip, now))
				logMessage(LogLevel::Warning,
					   "too many authentication failures: source=" + source.ip +
						   " refused for " +
						   std::to_string(FailureTable::kLockMs / 1000) + " s",
					   {{"SIP_SOURCE_IP", source.ip}, {"AUTH_REASON", "locked-out"}});
		} else {
			// Without a nonce of ours for this address the source may be
			// spoofed: refuse, but hold nothing against the address.
			logMessage(LogLevel::Info,
				   "credentials refused: source=" + source.ip + " user=\"" + who +
					   "\" reason=" + reason,
				   {{"SIP_REMOTE", source.remote}, {"AUTH_REASON", reason}});
		}
	}
	if (outcome.result == AuthResult::ReplayTableFull) {
		tagi_t tags[] = {{SIPTAG_RETRY_AFTER_STR("5")}, {TAG_END()}};
		answer(SIP_503_SERVICE_UNAVAILABLE, tags);
		return;
	}
	std::vector<std::string> challenges = makeChallenges(
		*settings, plan.identity, realm, request, isStale(outcome.result), nonces_);
	std::vector<tagi_t> tags;
	for (const std::string &challenge : challenges)
		tags.push_back({SIPTAG_WWW_AUTHENTICATE_STR(challenge.c_str())});
	tags.push_back({TAG_END()});
	answer(SIP_401_UNAUTHORIZED, tags.data());
}

void SipService::serve(msg_t *msg, sip_t *sip, const Plan &plan, bool authenticated,
		       const std::string &remote, std::string key)
{
	CallDetails details;
	details.identity = plan.identity ? plan.identity->idx : 0;
	details.remote = remote;
	details.authenticated = authenticated;
	details.callId = sip->sip_call_id && sip->sip_call_id->i_id ? sip->sip_call_id->i_id : "";
	details.event = headerValue(reinterpret_cast<const sip_header_t *>(sip->sip_event));
	details.userAgent = sip->sip_user_agent && sip->sip_user_agent->g_string
				    ? sip->sip_user_agent->g_string
				    : "";

	auto pending = std::make_shared<Pending>();
	pending->msg = msg;
	pending->key = std::move(key);
	pending->remote = remote;
	pending->method = actionName(plan.action);
	pending->user = printable(sip->sip_request->rq_url->url_user);
	pending_.push_back(pending);

	provisioning_.submit(plan.action, std::move(details), [this, pending](const CallOutcome &outcome) {
		finish(*pending, outcome);
		std::erase(pending_, pending);
	});

	// Still unanswered: it waits for the D-Bus call. Make it a server
	// transaction, which absorbs its retransmissions meanwhile.
	if (!pending->answered) {
		std::string toTag = sip->sip_to && sip->sip_to->a_tag ? sip->sip_to->a_tag : "";
		pending->irq = nta_incoming_create(agent_, nullptr, pending->msg, sip, TAG_END());
		pending->msg = nullptr; // taken by nta, even on failure
		if (!pending->irq) {
			logMessage(LogLevel::Warning, "cannot create a server transaction for " + remote);
			pending->answered = true; // nothing left to answer with
			return;
		}
		if (!toTag.empty())
			nta_incoming_tag(pending->irq, toTag.c_str());
	}
}

void SipService::finish(Pending &pending, const CallOutcome &outcome)
{
	if (pending.answered)
		return;
	pending.answered = true;

	int status = outcome.accepted ? 200 : 503;
	unsigned retryAfterS = outcome.accepted
				       ? 0
				       : static_cast<unsigned>(std::max<std::uint64_t>(1, (outcome.retryAfterMs + 999) / 1000));
	std::string retry = std::to_string(retryAfterS);
	// Info for a check-sync that waited for its D-Bus call; debug for one
	// answered at once (a flood of those must not flood the journal).
	LogLevel level = !outcome.accepted ? LogLevel::Warning
			 : pending.irq	    ? LogLevel::Info
					    : LogLevel::Debug;
	if (logEnabled(level))
		logMessage(level,
		   "NOTIFY from " + pending.remote + " for \"" + pending.user + "\": " +
			   std::to_string(status) + " " + sip_status_phrase(status) + " (" +
			   pending.method + (outcome.accepted ? ")" : ": " + outcome.error + ")"),
		   {{"SIP_METHOD", "NOTIFY"},
		    {"SIP_REMOTE", pending.remote},
		    {"SIP_STATUS", std::to_string(status)},
		    {"CHECKSYNC_ACTION", pending.method}});
	tagi_t tags[] = {{SIPTAG_USER_AGENT_STR(kUserAgent)},
			 {SIPTAG_RETRY_AFTER_STR(retryAfterS ? retry.c_str() : nullptr)},
			 {TAG_END()}};

	if (pending.irq) {
		nta_incoming_treply(pending.irq, status, sip_status_phrase(status), TAG_NEXT(tags));
		nta_incoming_destroy(pending.irq);
		pending.irq = nullptr;
		return;
	}
	// Answered at once (the action gate accepted it, or refused it):
	// statelessly, remembered for the retransmissions.
	answers_.remember(pending.key, status, retryAfterS, EventLoop::nowMs());
	nta_msg_treply(agent_, pending.msg, status, sip_status_phrase(status), TAG_NEXT(tags));
	pending.msg = nullptr;
}

} // namespace checksyncd
