// SPDX-License-Identifier: MIT

#include "handoff_rules.hpp"

#include <sofia-sip/msg_mclass.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>

#include <array>

#include "base/text.hpp"

namespace checksyncd::nua {

namespace {

constexpr std::array<std::pair<SipTransport, std::string_view>, 3> kTransports{{
	{SipTransport::Udp, "udp"},
	{SipTransport::Tcp, "tcp"},
	{SipTransport::Tls, "tls"},
}};

// RFC 3261 section 25.1: token = 1*(alphanum / "-" / "." / "!" / "%" /
// "*" / "_" / "+" / "`" / "'" / "~").
bool isToken(std::string_view text)
{
	if (text.empty())
		return false;
	for (char c : text) {
		const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				   (c >= '0' && c <= '9');
		if (!alnum && std::string_view("-.!%*_+`'~").find(c) == std::string_view::npos)
			return false;
	}
	return true;
}

// A reason phrase or header value that stays on its line.
bool isLineText(std::string_view text)
{
	return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// The headers of the answer that the server transaction writes from the
// request (RFC 3261 section 8.2.6.2), looked up by sofia-sip's own header
// table, which knows the compact forms (v, f, t, i, l).
bool writtenByTransaction(const std::string &name)
{
	// msg_find_hclass() reads a header line's name up to its colon, and
	// says how far it read only when it found one.
	const std::string line = name + ":";
	isize_t length = 0;
	const msg_href_t *href = msg_find_hclass(sip_default_mclass(), line.c_str(), &length);
	if (!href || static_cast<std::size_t>(length) != line.size())
		return false;
	const msg_hclass_t *hclass = href->hr_class;
	return hclass == sip_via_class || hclass == sip_from_class || hclass == sip_to_class ||
	       hclass == sip_call_id_class || hclass == sip_cseq_class ||
	       hclass == sip_content_length_class;
}

} // namespace

std::string_view transportName(SipTransport transport)
{
	for (const auto &[value, name] : kTransports)
		if (value == transport)
			return name;
	return "udp";
}

std::optional<SipTransport> parseTransport(std::string_view name)
{
	for (const auto &[value, known] : kTransports)
		if (name == known)
			return value;
	return std::nullopt;
}

std::optional<SipTransport> transportOfVia(std::string_view protocol)
{
	constexpr std::string_view prefix = "SIP/2.0/";
	if (protocol.size() <= prefix.size() ||
	    !equalsIgnoreCase(protocol.substr(0, prefix.size()), prefix))
		return std::nullopt;
	return parseTransport(asciiLower(protocol.substr(prefix.size())));
}

std::string peerText(const IpAddress &address, std::uint16_t port)
{
	const std::string host = address.isV4() ? address.toString()
						: "[" + address.toString() + "]";
	return host + ":" + std::to_string(port);
}

HandoffContext contextFor(const Peer &from, const Registration &registration)
{
	HandoffContext context;
	context.transport = from.transport;
	context.remote = peerText(from.address, from.port);
	context.identity = registration.identity;
	context.registrarFlow = registration.registrar && *registration.registrar == from;
	if (from.transport == SipTransport::Tls && context.registrarFlow) {
		context.tlsPeerVerified = true;
		context.tlsPeerName = registration.verifiedName;
	}
	context.registerCallId = registration.callId;
	return context;
}

std::string describe(const HandoffContext &context)
{
	std::string text = "transport=" + std::string(transportName(context.transport)) +
			   " remote=" + context.remote +
			   " identity=" + std::to_string(context.identity) +
			   " registrar_flow=" + (context.registrarFlow ? "true" : "false");
	if (context.transport == SipTransport::Tls)
		text += std::string(" tls_peer_verified=") +
			(context.tlsPeerVerified ? "true" : "false");
	if (!context.tlsPeerName.empty())
		text += " tls_peer_name=" + printable(context.tlsPeerName);
	if (!context.registerCallId.empty())
		text += " register_call_id=" + printable(context.registerCallId);
	return text;
}

std::variant<Reply, NoReply, BadAnswer> replyFor(const HandoffAnswer &answer)
{
	if (answer.status == 0)
		return NoReply{};
	if (answer.status < 200 || answer.status > 699)
		return BadAnswer{"status " + std::to_string(answer.status) + " is no final answer"};
	if (answer.reason.empty() || !isLineText(answer.reason))
		return BadAnswer{"reason phrase " + quoted(answer.reason) + " cannot be sent"};
	if (answer.headers.size() > kMaxAnswerHeaders)
		return BadAnswer{std::to_string(answer.headers.size()) + " headers, more than " +
				 std::to_string(kMaxAnswerHeaders)};
	Reply reply{answer.status, answer.reason, {}};
	for (const auto &[name, value] : answer.headers) {
		if (!isToken(name))
			return BadAnswer{"header name " + quoted(name) + " is no token"};
		if (writtenByTransaction(name))
			return BadAnswer{"header " + quoted(name) + " is the transaction's own"};
		if (!isLineText(value))
			return BadAnswer{"header " + quoted(name) +
					 " has a line break in its value"};
		reply.headers += name + ": " + value + "\r\n";
		if (reply.headers.size() > kMaxAnswerBytes)
			return BadAnswer{"headers longer than " + std::to_string(kMaxAnswerBytes) +
					 " bytes"};
	}
	return reply;
}

Reply failureReply(std::string_view errorName)
{
	if (errorName == "org.checksyncd.Handoff1.Error.TooLarge")
		return Reply{413, "Request Entity Too Large", {}};
	if (errorName == "org.checksyncd.Handoff1.Error.NotARequest")
		return Reply{400, "Bad Request", {}};
	return Reply{503, "Service Unavailable",
		     "Retry-After: " + std::to_string(kRetryAfterS) + "\r\n"};
}

} // namespace checksyncd::nua
