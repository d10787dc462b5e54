// SPDX-License-Identifier: MIT
//
// Plug and play: how a factory-new phone finds its provisioning server by
// itself. A round multicasts a SUBSCRIBE for the ua-profile event package
// (the one-shot variant of RFC 6080 that Snom, Gigaset, Yealink, Panasonic
// and AudioCodes phones use) to 224.0.1.75:5060; a PnP server on the LAN
// answers with a NOTIFY whose body is the provisioning URL.
//
// Everything here is pure: the SUBSCRIBE a round sends, the rules a NOTIFY
// must meet to hand over its URL, the answers, the retransmission schedule
// and the pacing of rounds, with the time passed in. daemon/pnp/pnp_service.cpp
// does the I/O. sofia-sip builds and parses the messages.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

extern "C" {
struct sip_s;
}

namespace checksyncd {

// IANA's "SIP" multicast group (sip.mcast.net, RFC 3261 10.2.6), where
// phones look for a PnP server.
inline constexpr const char *kPnpGroup = "224.0.1.75";
inline constexpr std::uint16_t kPnpPort = 5060;
// RFC 3261 timer E for the SUBSCRIBE: T1 doubling, capped at T2, for
// kPnpRetransmitMs after the first send.
inline constexpr std::uint64_t kPnpT1Ms = 500;
inline constexpr std::uint64_t kPnpT2Ms = 4'000;
inline constexpr std::uint64_t kPnpRetransmitMs = 5'000;
// How long a round waits for a NOTIFY, from its first SUBSCRIBE.
inline constexpr std::uint64_t kPnpRoundMs = 10'000;
// At most one round a minute, however often the triggers come.
inline constexpr std::uint64_t kPnpMinIntervalMs = 60'000;
// After a URL was handed over, the round's port stays open at least this
// long (T2) to answer retransmissions of the NOTIFY whose 200 was lost.
inline constexpr std::uint64_t kPnpLingerMs = kPnpT2Ms;
// Largest datagram read at the round's port, and largest URL handed over.
inline constexpr std::size_t kPnpMaxDatagram = 4096;
inline constexpr std::size_t kPnpMaxUrlBytes = 1024;
// Longest call_id, event and user_agent handed to D-Bus (as for a
// check-sync); longer ones are cut on a character boundary.
inline constexpr std::size_t kPnpMaxDetailBytes = 256;
// Bounds of the settings that go into the SUBSCRIBE.
inline constexpr std::size_t kPnpMaxParameterBytes = 64;
inline constexpr std::size_t kPnpMaxSchemes = 8;
inline constexpr std::size_t kPnpMaxSchemeBytes = 32;

// Setting values (used by the settings reader)

// A value of pnp_vendor, pnp_model or pnp_version: it becomes a quoted
// string in the Event header, so 1..kPnpMaxParameterBytes bytes of valid
// UTF-8 without '"', '\' and control characters.
bool validPnpParameter(std::string_view value);

// pnp_mac: exactly 12 hex digits, returned upper-case; nullopt otherwise.
std::optional<std::string> parsePnpMac(std::string_view value);

// A URL scheme as RFC 3986 3.1 writes it (ALPHA *(ALPHA / DIGIT / "+" /
// "-" / ".")), at most kPnpMaxSchemeBytes long.
bool validUrlScheme(std::string_view scheme);

// The SUBSCRIBE

struct PnpSubscribe {
	std::string mac; // 12 upper-case hex digits
	std::string vendor;
	std::string model;
	std::string version;
	std::string localIp; // the IPv4 address the datagram leaves from
	std::uint16_t localPort = 0;
	std::string callId;
	std::string fromTag;
	std::string branch; // with its z9hG4bK prefix
};

// "sip:MAC%3a000413939050@224.0.1.75": the Request-URI, From and To.
std::string pnpAddressOfRecord(std::string_view mac);

// ua-profile;profile-type="device";vendor="…";model="…";version="…"
std::string pnpEventValue(const PnpSubscribe &subscribe);

// The request as it goes on the wire, in the shape Snom phones send:
//
//   SUBSCRIBE sip:MAC%3a000413939050@224.0.1.75 SIP/2.0
//   Via: SIP/2.0/UDP 192.168.1.114:57648;rport;branch=z9hG4bK…
//   From: <sip:MAC%3a000413939050@224.0.1.75>;tag=…
//   To: <sip:MAC%3a000413939050@224.0.1.75>
//   Call-ID, CSeq: 1 SUBSCRIBE, Event (above), Expires: 0,
//   Accept: application/url, Contact: <sip:192.168.1.114:57648>,
//   Max-Forwards: 70, Content-Length: 0
//
// sofia-sip builds and serialises it (in its own header order; the order of
// different header fields carries no meaning, RFC 3261 7.3.1). Empty when
// the fields cannot make a valid request (validate the settings first).
std::string buildPnpSubscribe(const PnpSubscribe &subscribe);

// When the SUBSCRIBE goes out for the `index`-th time (0: the first send),
// in ms after the first send: 0, 500, 1500, 3500 (timer E); nullopt once
// the next send would fall after kPnpRetransmitMs.
std::optional<std::uint64_t> pnpSendOffsetMs(unsigned index);

// What arrives at the round's port

enum class PnpInbound : unsigned char {
	Notify,            // a NOTIFY: judgePnpNotify() says what to do
	Ack,               // never answered
	OtherRequest,      // answered 405
	SubscribeResponse, // a response to our SUBSCRIBE (Call-ID and CSeq match)
	Unrelated,         // any other response: dropped
};

PnpInbound classifyPnpInbound(const sip_s *sip, std::string_view callId);

// The provisioning URL rule: the body (white space around it removed) must
// be one absolute URL, scheme://authority..., with a scheme of `schemes`
// (compared in any case), a host, no userinfo (no credentials from an
// unauthenticated server, and none in the log), at most kPnpMaxUrlBytes of
// valid UTF-8 and no white space or control character inside. Placeholders
// such as {mac} are passed on as they are.
struct UrlCheck {
	bool ok = false;
	std::string url;    // when ok
	std::string reason; // when not: for the log line
};
UrlCheck checkProvisioningUrl(std::string_view body, const std::vector<std::string> &schemes);

// What to answer to a NOTIFY that arrived at the round's port. Accepted
// whatever its tags, Call-ID and Via (servers in the field are sloppy), if
// it carries Event: ua-profile (489 otherwise), no Content-Type or
// application/url (415 otherwise) and a body that passes
// checkProvisioningUrl() (488 otherwise).
struct PnpVerdict {
	int status = 0;     // 200 (hand the URL over), 489, 415 or 488
	std::string url;    // when 200
	std::string reason; // when not: for the log line
};
PnpVerdict judgePnpNotify(const sip_s *sip, const std::vector<std::string> &schemes);

// What tells a retransmitted NOTIFY from a new one: the source, the top Via
// branch, the Call-ID and the CSeq number.
std::string pnpTransactionKey(std::string_view remote, const sip_s *sip);

// The answer to a request that arrived at the round's port, built by
// sofia-sip from the request: its Via headers, From, To (with `toTag` when
// it has none), Call-ID and CSeq, Server: checksyncd, and what the status
// needs (Allow-Events for 489, Accept for 415, Allow for 405, Retry-After
// for 503 when retryAfterS is not 0). The datagram goes to the request's
// source address and port, never where a Via points. Empty when sofia-sip
// cannot build it.
std::string buildPnpAnswer(const sip_s *request, int status, std::string_view toTag,
			   unsigned retryAfterS = 0);

// State, for the daemon's status

enum class PnpState : unsigned char {
	Idle,            // no round running
	RoundInProgress, // SUBSCRIBE sent, waiting for a NOTIFY
	UrlHandedOver,   // the last round handed a URL to the provisioning process
};

std::string_view pnpStateName(PnpState state); // "idle", "round-in-progress", "url-handed-over"

// Pacing: at most one round per interval. A reason for a round (start, a
// new address, PnP turned on) that comes while a round runs or less than
// the interval after the last one started is not lost: one round is owed,
// due at the end of the interval.

class RoundPacer
{
public:
	explicit RoundPacer(std::uint64_t intervalMs = kPnpMinIntervalMs) : intervalMs_(intervalMs)
	{
	}

	// True: start a round now (and call started() if it did start). False:
	// a round is owed, see dueAt().
	bool request(std::uint64_t nowMs);
	void started(std::uint64_t nowMs);
	void ended();
	// When the owed round may start; nullopt when none is owed or a round
	// is running.
	std::optional<std::uint64_t> dueAt() const;
	// PnP was turned off: nothing is owed any more.
	void cancel() { owed_ = false; }
	bool running() const { return running_; }

private:
	std::uint64_t intervalMs_;
	bool running_ = false;
	bool everStarted_ = false;
	bool owed_ = false;
	std::uint64_t lastStartMs_ = 0;
};

} // namespace checksyncd
