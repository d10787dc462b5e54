// SPDX-License-Identifier: MIT

#include "pnp/pnp.hpp"

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/su_tag.h>
#include <sofia-sip/url.h>

#include <algorithm>

#include "base/sofia.hpp"
#include "base/text.hpp"

namespace checksyncd {

namespace {

constexpr std::string_view kBlank = " \t\r\n";

bool isAlpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool isDigit(char c)
{
	return c >= '0' && c <= '9';
}

bool isControlOrSpace(unsigned char c)
{
	return c <= 0x20 || c == 0x7f;
}

// Well-formed UTF-8 without NUL: what toValidUtf8() leaves as it is.
bool isValidUtf8(std::string_view text)
{
	return toValidUtf8(text, text.size()) == text;
}

// The text a msg_t serialises to; empty when sofia-sip cannot.
std::string serialise(msg_t *msg, sip_t *sip)
{
	// sip_complete_message() adds the empty line that ends the headers
	// (msg_serialize() alone leaves it out of a message without a body).
	if (sip_complete_message(msg) < 0 ||
	    msg_serialize(msg, reinterpret_cast<msg_pub_t *>(sip)) < 0 || msg_prepare(msg) < 0)
		return {};
	std::size_t length = 0;
	char *text = msg_as_string(msg_home(msg), msg, nullptr, 0, &length);
	if (!text)
		return {};
	return std::string(text, length);
}

} // namespace

// Setting values

bool validPnpParameter(std::string_view value)
{
	if (value.empty() || value.size() > kPnpMaxParameterBytes || !isValidUtf8(value))
		return false;
	return std::none_of(value.begin(), value.end(), [](char c) {
		const auto byte = static_cast<unsigned char>(c);
		return c == '"' || c == '\\' || byte < 0x20 || byte == 0x7f;
	});
}

std::optional<std::string> parsePnpMac(std::string_view value)
{
	if (value.size() != 12)
		return std::nullopt;
	std::string mac;
	for (char c : value) {
		if (isDigit(c) || (c >= 'A' && c <= 'F'))
			mac += c;
		else if (c >= 'a' && c <= 'f')
			mac += static_cast<char>(c - 'a' + 'A');
		else
			return std::nullopt;
	}
	return mac;
}

bool validUrlScheme(std::string_view scheme)
{
	if (scheme.empty() || scheme.size() > kPnpMaxSchemeBytes || !isAlpha(scheme.front()))
		return false;
	return std::all_of(scheme.begin(), scheme.end(), [](char c) {
		return isAlpha(c) || isDigit(c) || c == '+' || c == '-' || c == '.';
	});
}

// The SUBSCRIBE

std::string pnpAddressOfRecord(std::string_view mac)
{
	return "sip:MAC%3a" + std::string(mac) + "@" + kPnpGroup;
}

std::string pnpEventValue(const PnpSubscribe &subscribe)
{
	return "ua-profile;profile-type=\"device\";vendor=\"" + subscribe.vendor + "\";model=\"" +
	       subscribe.model + "\";version=\"" + subscribe.version + "\"";
}

std::string buildPnpSubscribe(const PnpSubscribe &s)
{
	if (!parsePnpMac(s.mac) || !validPnpParameter(s.vendor) || !validPnpParameter(s.model) ||
	    !validPnpParameter(s.version) || s.localIp.empty() || s.localPort == 0 ||
	    s.callId.empty() || s.fromTag.empty() || !s.branch.starts_with("z9hG4bK"))
		return {};

	UniqueMsg msg(msg_create(sip_default_mclass(), 0));
	if (!msg)
		return {};
	sip_t *sip = sip_object(msg.get());
	su_home_t *home = msg_home(msg.get());

	// The user part is given as a url_t, not as text: sofia-sip's URL
	// parser would canonicalise the escape to "%3A", and Snom phones send
	// "%3a" (RFC 3261 19.1.4 compares both as equal, but a PnP server may
	// well look for the exact text).
	const std::string user = "MAC%3a" + s.mac;
	url_t aor[1] = {URL_INIT_AS(sip)};
	aor->url_user = user.c_str();
	aor->url_host = kPnpGroup;
	const auto *aorString = reinterpret_cast<const url_string_t *>(aor);

	sip_request_t *request = sip_request_create(home, SIP_METHOD_SUBSCRIBE, aorString, nullptr);
	sip_from_t *from = sip_from_create(home, aorString);
	sip_to_t *to = sip_to_create(home, aorString);
	if (!request || !from || !to || sip_from_tag(home, from, s.fromTag.c_str()) < 0)
		return {};
	// An empty display name, so that the address goes in angle brackets
	// (<sip:...>;tag=...) as in the Snom phones' SUBSCRIBE.
	from->a_display = "";
	to->a_display = "";

	const std::string hostPort = s.localIp + ":" + std::to_string(s.localPort);
	const std::string via = "SIP/2.0/UDP " + hostPort + ";rport;branch=" + s.branch;
	const std::string contact = "<sip:" + hostPort + ">";
	const std::string event = pnpEventValue(s);
	if (sip_header_insert(msg.get(), sip, reinterpret_cast<sip_header_t *>(request)) < 0 ||
	    sip_add_tl(msg.get(), sip, SIPTAG_VIA_STR(via.c_str()), SIPTAG_FROM(from),
		       SIPTAG_TO(to), SIPTAG_CALL_ID_STR(s.callId.c_str()),
		       SIPTAG_CSEQ_STR("1 SUBSCRIBE"), SIPTAG_EVENT_STR(event.c_str()),
		       SIPTAG_EXPIRES_STR("0"), SIPTAG_ACCEPT_STR("application/url"),
		       SIPTAG_CONTACT_STR(contact.c_str()), SIPTAG_MAX_FORWARDS_STR("70"),
		       SIPTAG_CONTENT_LENGTH_STR("0"), TAG_END()) < 0)
		return {};
	// A value sofia-sip could not parse lands in sip_error instead.
	if (sip->sip_error || !sip->sip_via || !sip->sip_call_id || !sip->sip_event ||
	    !sip->sip_contact)
		return {};
	return serialise(msg.get(), sip);
}

std::optional<std::uint64_t> pnpSendOffsetMs(unsigned index)
{
	std::uint64_t offset = 0;
	std::uint64_t interval = kPnpT1Ms;
	for (unsigned i = 0; i < index; ++i) {
		offset += interval;
		interval = std::min(interval * 2, kPnpT2Ms);
		if (offset > kPnpRetransmitMs)
			return std::nullopt;
	}
	return offset;
}

// What arrives at the round's port

PnpInbound classifyPnpInbound(const sip_t *sip, std::string_view callId)
{
	// Without Via, From, To, Call-ID and CSeq there is nothing to answer
	// (sip_sanity_check() wants them all).
	if (!sip || sip_sanity_check(sip) < 0)
		return PnpInbound::Unrelated;
	if (sip->sip_request) {
		switch (sip->sip_request->rq_method) {
		case sip_method_notify:
			return PnpInbound::Notify;
		case sip_method_ack:
			return PnpInbound::Ack;
		default:
			return PnpInbound::OtherRequest;
		}
	}
	if (sip->sip_status && sip->sip_cseq->cs_method == sip_method_subscribe &&
	    callIdOf(sip) == callId)
		return PnpInbound::SubscribeResponse;
	return PnpInbound::Unrelated;
}

UrlCheck checkProvisioningUrl(std::string_view body, const std::vector<std::string> &schemes)
{
	UrlCheck check;
	const auto first = body.find_first_not_of(kBlank);
	if (first == std::string_view::npos) {
		check.reason = "empty body";
		return check;
	}
	const std::string_view url = body.substr(first, body.find_last_not_of(kBlank) - first + 1);
	if (url.size() > kPnpMaxUrlBytes) {
		check.reason = "URL longer than " + std::to_string(kPnpMaxUrlBytes) + " bytes";
		return check;
	}
	if (std::any_of(url.begin(), url.end(),
			[](char c) { return isControlOrSpace(static_cast<unsigned char>(c)); })) {
		check.reason = "white space or a control character in the body (one URL expected)";
		return check;
	}
	if (!isValidUtf8(url)) {
		check.reason = "URL not valid UTF-8";
		return check;
	}
	const auto colon = url.find(':');
	const std::string_view scheme = url.substr(0, colon);
	if (colon == std::string_view::npos || !validUrlScheme(scheme)) {
		check.reason = "not an absolute URL";
		return check;
	}
	const bool allowed = std::any_of(schemes.begin(), schemes.end(), [&](const std::string &s) {
		return equalsIgnoreCase(s, scheme);
	});
	if (!allowed) {
		check.reason = "scheme " + asciiLower(scheme) + " not allowed (pnp_url_schemes)";
		return check;
	}
	const std::string_view rest = url.substr(colon + 1);
	if (!rest.starts_with("//")) {
		check.reason = "no authority (expected " + std::string(scheme) + "://host/...)";
		return check;
	}
	const std::string_view authority = rest.substr(2, rest.find_first_of("/?#", 2) - 2);
	if (authority.find('@') != std::string_view::npos) {
		check.reason = "credentials in the URL";
		return check;
	}
	std::string_view host = authority;
	if (host.starts_with('[')) {
		const auto close = host.find(']');
		host = close == std::string_view::npos ? std::string_view()
						       : host.substr(1, close - 1);
	} else {
		host = host.substr(0, host.find(':'));
	}
	if (host.empty()) {
		check.reason = "no host in the URL";
		return check;
	}
	check.ok = true;
	check.url = url;
	return check;
}

PnpVerdict judgePnpNotify(const sip_t *sip, const std::vector<std::string> &schemes)
{
	PnpVerdict verdict;
	if (!sip->sip_event || !sip->sip_event->o_type ||
	    !equalsIgnoreCase(sip->sip_event->o_type, "ua-profile")) {
		verdict.status = 489;
		verdict.reason = sip->sip_event ? "not the ua-profile event package"
						: "no Event header";
		return verdict;
	}
	if (sip->sip_content_type && sip->sip_content_type->c_type &&
	    !equalsIgnoreCase(sip->sip_content_type->c_type, "application/url")) {
		verdict.status = 415;
		verdict.reason = "Content-Type is not application/url";
		return verdict;
	}
	std::string_view body;
	if (sip->sip_payload && sip->sip_payload->pl_data)
		body = std::string_view(sip->sip_payload->pl_data, sip->sip_payload->pl_len);
	UrlCheck check = checkProvisioningUrl(body, schemes);
	if (!check.ok) {
		verdict.status = 488;
		verdict.reason = std::move(check.reason);
		return verdict;
	}
	verdict.status = 200;
	verdict.url = std::move(check.url);
	return verdict;
}

std::string pnpTransactionKey(std::string_view remote, const sip_t *sip)
{
	std::string key(remote);
	key += '\n';
	if (sip->sip_via && sip->sip_via->v_branch)
		key += sip->sip_via->v_branch;
	key += '\n';
	key += callIdOf(sip);
	key += '\n';
	if (sip->sip_cseq)
		key += std::to_string(sip->sip_cseq->cs_seq);
	return key;
}

std::string buildPnpAnswer(const sip_t *request, int status, std::string_view toTag,
			   unsigned retryAfterS)
{
	if (!request || !request->sip_via || !request->sip_from || !request->sip_to ||
	    !request->sip_call_id || !request->sip_cseq)
		return {};
	UniqueMsg msg(msg_create(sip_default_mclass(), 0));
	if (!msg)
		return {};
	sip_t *sip = sip_object(msg.get());
	su_home_t *home = msg_home(msg.get());
	const std::string retry = std::to_string(retryAfterS);
	const char *phrase = sip_status_phrase(status);
	// A NULL string tag adds nothing.
	if (sip_add_tl(
		    msg.get(), sip,
		    SIPTAG_STATUS(sip_status_create(home, static_cast<unsigned>(status),
						    phrase ? phrase : "", nullptr)),
		    SIPTAG_VIA(request->sip_via), SIPTAG_FROM(request->sip_from),
		    SIPTAG_TO(request->sip_to), SIPTAG_CALL_ID(request->sip_call_id),
		    SIPTAG_CSEQ(request->sip_cseq), SIPTAG_SERVER_STR("checksyncd"),
		    SIPTAG_ALLOW_EVENTS_STR(status == 489 ? "ua-profile" : nullptr),
		    SIPTAG_ACCEPT_STR(status == 415 ? "application/url" : nullptr),
		    SIPTAG_ALLOW_STR(status == 405 ? "NOTIFY" : nullptr),
		    SIPTAG_RETRY_AFTER_STR(status == 503 && retryAfterS ? retry.c_str() : nullptr),
		    SIPTAG_CONTENT_LENGTH_STR("0"), TAG_END()) < 0 ||
	    !sip->sip_status || !sip->sip_to)
		return {};
	if (!sip->sip_to->a_tag && !toTag.empty() &&
	    sip_to_tag(home, sip->sip_to, std::string(toTag).c_str()) < 0)
		return {};
	return serialise(msg.get(), sip);
}

// State and pacing

std::string_view pnpStateName(PnpState state)
{
	switch (state) {
	case PnpState::Idle:
		return "idle";
	case PnpState::RoundInProgress:
		return "round-in-progress";
	case PnpState::UrlHandedOver:
		return "url-handed-over";
	}
	return "idle";
}

bool RoundPacer::request(std::uint64_t nowMs)
{
	if (running_ || (everStarted_ && nowMs - lastStartMs_ < intervalMs_)) {
		owed_ = true;
		return false;
	}
	return true;
}

void RoundPacer::started(std::uint64_t nowMs)
{
	running_ = true;
	everStarted_ = true;
	owed_ = false;
	lastStartMs_ = nowMs;
}

void RoundPacer::ended()
{
	running_ = false;
}

std::optional<std::uint64_t> RoundPacer::dueAt() const
{
	if (!owed_ || running_)
		return std::nullopt;
	return everStarted_ ? lastStartMs_ + intervalMs_ : 0;
}

} // namespace checksyncd
