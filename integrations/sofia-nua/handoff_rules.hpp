// SPDX-License-Identifier: MIT
//
// What checksyncd-nua decides about a NOTIFY it hands over to checksyncd
// (org.checksyncd.Handoff1.HandleRequest, etc/org.checksyncd.Handoff1.xml):
// the context it reports with the request, and the answer it sends back in
// its own transaction. Pure: no I/O and no SIP stack (sofia-sip only names
// header classes), so the unit tests call it directly
// (test/unit/integrations/nua_handoff_test.cpp).
//
// What the context may claim follows from how the adapter runs its stack
// (checksyncd-nua(8), "WHAT THE CONTEXT SAYS"): over TCP and TLS it
// listens on no port, so every connection a request can arrive on is one
// it opened itself, and it opens connections only for its REGISTERs, to
// the registrar or outbound proxy; over TLS it opens a connection only
// after the peer's certificate was verified for the name it connected to.

#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "base/net_address.hpp"

namespace checksyncd::nua {

enum class SipTransport : unsigned char {
	Udp,
	Tcp,
	Tls,
};

// "udp", "tcp", "tls": the context's names and the command line's.
std::string_view transportName(SipTransport transport);
// The transport of that name (lower case); nullopt for any other.
std::optional<SipTransport> parseTransport(std::string_view name);
// The transport a request came over, from its topmost Via's sent-protocol
// ("SIP/2.0/TCP", any case). nta refuses a request whose Via names another
// transport than the one it arrived on (nta.c, agent_check_request_via()),
// so for a request nua delivers this is the transport it came over.
std::optional<SipTransport> transportOfVia(std::string_view protocol);

// One end of a flow as the adapter sees it.
struct Peer {
	SipTransport transport = SipTransport::Udp;
	IpAddress address;
	std::uint16_t port = 0;

	bool operator==(const Peer &) const = default;
};

// "192.0.2.1:5060", "[2001:db8::1]:5060": the context's ADDRESS:PORT.
std::string peerText(const IpAddress &address, std::uint16_t port);

// The registration the adapter keeps, as far as the context reports it.
struct Registration {
	unsigned identity = 0; // the idx of the account in checksyncd's settings
	// Where the last 2xx to a REGISTER came from: the registrar, or the
	// outbound proxy the REGISTERs go through. nullopt until registered.
	std::optional<Peer> registrar;
	std::string callId; // the REGISTERs' Call-ID
	// The name the TLS connection to the registrar (or proxy) was
	// verified for: the host of the URL it was opened to.
	std::string verifiedName;
};

// The context of HandleRequest: every key checksyncd reads, as the adapter
// fills it.
struct HandoffContext {
	SipTransport transport = SipTransport::Udp;
	std::string remote; // peerText()
	unsigned identity = 0;
	bool registrarFlow = false;
	bool tlsPeerVerified = false; // reported for TLS only
	std::string tlsPeerName;      // empty: not reported
	std::string registerCallId;   // empty: not reported
};

// The context for a request that arrived from `from`.
//
// registrar_flow: the request came from the peer the registration's
// REGISTERs are answered from, over the same transport. Over TCP and TLS
// that is the registration's own connection (the adapter holds no other
// to that peer: see above); over UDP it is the flow's 5-tuple as RFC 5626
// section 3.4 defines a UDP flow, which any sender can write into a
// datagram, and checksyncd believes it only for connections
// (docs/security.md).
// tls_peer_verified and tls_peer_name: for a request over the TLS
// registration connection, true and the name its certificate was verified
// for; a TLS request from any other peer cannot be placed on a connection
// and is reported unverified.
HandoffContext contextFor(const Peer &from, const Registration &registration);

// The context as one line of key=value pairs, in the order the keys are
// sent ("transport=tcp remote=192.0.2.1:5060 identity=1
// registrar_flow=true register_call_id=..."), for the debug log.
std::string describe(const HandoffContext &context);

// checksyncd's answer: HandleRequest's status, reason and headers.
struct HandoffAnswer {
	std::uint16_t status = 0;
	std::string reason;
	std::vector<std::pair<std::string, std::string>> headers;
};

// The answer the adapter sends in its transaction: a final status, its
// reason phrase and the header lines to add ("Name: value\r\n"...), for
// SIPTAG_HEADER_STR().
struct Reply {
	int status = 0;
	std::string reason;
	std::string headers;

	bool operator==(const Reply &) const = default;
};

// Answer nothing: checksyncd said status 0 (a source its filter drops).
struct NoReply {
	bool operator==(const NoReply &) const = default;
};

// An answer that cannot be relayed, and why (for the log line; the
// request is answered as a failed hand-off).
struct BadAnswer {
	std::string why;
};

// At most this many headers and this many bytes of header lines: a 401
// carries one WWW-Authenticate per realm and algorithm (checksyncd(8)),
// well within both.
inline constexpr std::size_t kMaxAnswerHeaders = 32;
inline constexpr std::size_t kMaxAnswerBytes = 4096;

// What to send for checksyncd's answer. A status outside 200..699 (0
// aside), a reason or header value with CR, LF or NUL, a header name that
// is not a token or names a header the transaction itself writes (Via,
// From, To, Call-ID, CSeq, Content-Length, in full or compact form: nua
// takes them from the request) makes it a BadAnswer: relaying it would let
// the answer write more than checksyncd meant.
std::variant<Reply, NoReply, BadAnswer> replyFor(const HandoffAnswer &answer);

// Retry-After of an answer the adapter makes itself because the hand-off
// failed: checksyncd's own for a failed provisioning call (5 s).
inline constexpr unsigned kRetryAfterS = 5;

// The answer for a hand-off that failed with this D-Bus error name (or an
// empty name: no answer in time, no bus): 413 for a request checksyncd
// found too large, 400 for bytes it found no request, 503 with
// Retry-After for everything else (checksyncd absent, busy, refusing the
// caller, a context it refused).
Reply failureReply(std::string_view errorName);

} // namespace checksyncd::nua
