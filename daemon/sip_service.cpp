// SPDX-License-Identifier: MIT

#include "sip_service.hpp"

#include <netdb.h>
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
#include <cstring>
#include <stdexcept>

#include "config.h"
#include "log.hpp"

namespace checksyncd {

namespace {

constexpr const char *kUserAgent = "checksyncd/" CHECKSYNCD_VERSION;
constexpr const char *kAllow = "NOTIFY, OPTIONS";
constexpr const char *kAllowEvents = "check-sync";
// Used-nonce set: 30 s of nonces at 128 authenticated requests/s.
constexpr std::size_t kUsedNonceCapacity = 4096;
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
	char host[NI_MAXHOST] = "";
	char port[NI_MAXSERV] = "";
	if (getnameinfo(ai->ai_addr, static_cast<socklen_t>(ai->ai_addrlen), host, sizeof(host),
			port, sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return source;
	source.ip = host;
	if (source.ip.starts_with("::ffff:") && source.ip.find('.') != std::string::npos)
		source.ip.erase(0, 7);
	const char *proto = ai->ai_protocol == IPPROTO_TCP ? "tcp" : "udp";
	bool v6 = source.ip.find(':') != std::string::npos;
	source.remote = std::string(proto) + ":" + (v6 ? "[" : "") + source.ip + (v6 ? "]" : "") +
			":" + port;
	return source;
}

// RFC 3261 8.2.6.2: a stateless answer to a retransmission carries the same
// To tag, so derive it from what identifies the request.
std::string toTagFor(const sip_t *sip)
{
	std::string key;
	if (sip->sip_call_id && sip->sip_call_id->i_id)
		key += sip->sip_call_id->i_id;
	key += '\n';
	if (sip->sip_from && sip->sip_from->a_tag)
		key += sip->sip_from->a_tag;
	key += '\n';
	if (sip->sip_cseq)
		key += std::to_string(sip->sip_cseq->cs_seq);
	key += '\n';
	if (sip->sip_via && sip->sip_via->v_branch)
		key += sip->sip_via->v_branch;
	return hashHex(Algorithm::Sha256, key).substr(0, 16);
}

std::string headerText(msg_t *msg, const sip_header_t *header)
{
	if (!header)
		return {};
	char *text = sip_header_as_string(msg_home(msg), header);
	std::string value = text ? text : "";
	su_free(msg_home(msg), text);
	return value;
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
	nta_incoming_t *irq = nullptr;
	std::string remote;
	std::string method;
	std::string user;
};

SipService::SipService(EventLoop &loop, ProvisioningClient &provisioning,
		       const std::vector<std::string> &listen)
	: loop_(loop), provisioning_(provisioning), nonces_(NonceAuthority::randomKey()),
	  used_(kUsedNonceCapacity)
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
		if (nta_agent_add_tport(agent_, URL_STRING_MAKE(uri.c_str()), TAG_END()) < 0) {
			int error = errno;
			nta_agent_destroy(agent_);
			throw std::runtime_error("cannot listen on " + uri + ": " +
						 std::strerror(error));
		}
	}
}

SipService::~SipService()
{
	for (auto &pending : pending_) {
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

std::string SipService::boundTransports() const
{
	std::string text;
	for (sip_via_t const *v = nta_agent_via(agent_); v; v = v->v_next) {
		if (!text.empty())
			text += ' ';
		std::string proto = v->v_protocol ? v->v_protocol : "";
		std::size_t slash = proto.rfind('/');
		if (slash != std::string::npos)
			proto = proto.substr(slash + 1);
		std::transform(proto.begin(), proto.end(), proto.begin(),
			       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
		text += proto + ":" + (v->v_host ? v->v_host : "") + ":" +
			(v->v_port ? v->v_port : "5060");
	}
	return text;
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

	// Every answer below is final: give it a stable To tag.
	if (sip->sip_to && !sip->sip_to->a_tag)
		sip_to_tag(msg_home(msg), sip->sip_to, toTagFor(sip).c_str());

	std::string user = printable(ruri->url_user);
	auto answer = [&](int status, const char *phrase, tagi_t const *extra = nullptr) {
		logMessage(LogLevel::Info,
			   std::string(printable(method)) + " from " + source.remote + " for \"" +
				   user + "\": " + std::to_string(status) + " " + phrase,
			   {{"SIP_METHOD", printable(method)},
			    {"SIP_REMOTE", source.remote},
			    {"SIP_STATUS", std::to_string(status)}});
		nta_msg_treply(agent_, msg, status, phrase, SIPTAG_USER_AGENT_STR(kUserAgent),
			       TAG_NEXT(extra));
	};

	switch (plan.answer) {
	case Answer::Ignore:
		return;
	case Answer::Options: {
		tagi_t tags[] = {{SIPTAG_ALLOW_STR(kAllow)},
				 {SIPTAG_ALLOW_EVENTS_STR(kAllowEvents)},
				 {SIPTAG_ACCEPT_STR("")},
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
		serve(msg, sip, plan, false, source.remote);
		return;
	case Answer::Challenge:
		break;
	}

	// Challenge: serve valid credentials, answer everything else with 401.
	std::string realm = challengeRealm(*settings, plan.identity,
					   ruri->url_host ? ruri->url_host : "");
	AuthRequest request;
	request.method = facts.method;
	std::string uriText = requestUriText(msg, sip);
	request.requestUri = uriText;
	request.sourceIp = source.ip;
	request.nowMs = EventLoop::nowMs();
	AuthOutcome outcome = verifyAuthorization(sip->sip_authorization, *settings, plan.identity,
						  realm, request, nonces_, used_);
	if (outcome.result == AuthResult::Ok) {
		serve(msg, sip, plan, true, source.remote);
		return;
	}
	if (isAuthFailure(outcome.result)) {
		std::string who = outcome.username.empty() ? user : printable(outcome.username.c_str());
		std::string reason(authReason(outcome.result));
		logMessage(LogLevel::Warning,
			   "authentication failed: source=" + source.ip + " user=\"" + who +
				   "\" reason=" + reason,
			   {{"SIP_REMOTE", source.remote},
			    {"SIP_SOURCE_IP", source.ip},
			    {"AUTH_USER", who},
			    {"AUTH_REASON", reason}});
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
		       const std::string &remote)
{
	CallDetails details;
	details.identity = plan.identity ? plan.identity->idx : 0;
	details.remote = remote;
	details.authenticated = authenticated;
	details.callId = sip->sip_call_id && sip->sip_call_id->i_id ? sip->sip_call_id->i_id : "";
	details.event = headerText(msg, reinterpret_cast<const sip_header_t *>(sip->sip_event));
	details.userAgent = sip->sip_user_agent && sip->sip_user_agent->g_string
				    ? sip->sip_user_agent->g_string
				    : "";
	std::string toTag = sip->sip_to && sip->sip_to->a_tag ? sip->sip_to->a_tag : "";

	auto pending = std::make_shared<Pending>();
	pending->remote = remote;
	pending->method = actionName(plan.action);
	pending->user = printable(sip->sip_request->rq_url->url_user);

	// The transaction takes the message; nta absorbs retransmissions from
	// here on.
	pending->irq = nta_incoming_create(agent_, nullptr, msg, sip, TAG_END());
	if (!pending->irq) {
		logMessage(LogLevel::Warning, "cannot create a server transaction for " + remote);
		return;
	}
	if (!toTag.empty())
		nta_incoming_tag(pending->irq, toTag.c_str());
	pending_.push_back(pending);

	provisioning_.submit(plan.action, std::move(details), [this, pending](const CallOutcome &outcome) {
		if (!pending->irq)
			return;
		int status = outcome.accepted ? 200 : 503;
		std::string retry = std::to_string(std::max<std::uint64_t>(1, (outcome.retryAfterMs + 999) / 1000));
		logMessage(LogLevel::Info,
			   "NOTIFY from " + pending->remote + " for \"" + pending->user + "\": " +
				   std::to_string(status) + (outcome.accepted ? " OK (" : " Service Unavailable (") +
				   pending->method + ")",
			   {{"SIP_METHOD", "NOTIFY"},
			    {"SIP_REMOTE", pending->remote},
			    {"SIP_STATUS", std::to_string(status)},
			    {"CHECKSYNC_ACTION", pending->method}});
		if (outcome.accepted)
			nta_incoming_treply(pending->irq, SIP_200_OK, SIPTAG_USER_AGENT_STR(kUserAgent),
					    TAG_END());
		else
			nta_incoming_treply(pending->irq, SIP_503_SERVICE_UNAVAILABLE,
					    SIPTAG_USER_AGENT_STR(kUserAgent),
					    SIPTAG_RETRY_AFTER_STR(retry.c_str()), TAG_END());
		nta_incoming_destroy(pending->irq);
		pending->irq = nullptr;
		std::erase(pending_, pending);
	});
}

} // namespace checksyncd
