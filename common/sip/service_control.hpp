// SPDX-License-Identifier: MIT
//
// The body of a Cisco service-control NOTIFY (Event: service-control,
// Content-Type: text/plain): key=value lines. Asterisk's
// res_pjsip_cisco_service_control (asterisk-pjsip-cisco, sc_send_notify())
// sends, for `pjsip cisco restart` and `reset`,
//
//   action=restart<CRLF>
//   RegisterCallId={<the Call-ID of the phone's REGISTER>}<CRLF>
//   ConfigVersionStamp={00000000-0000-0000-0000-000000000000}<CRLF>
//   DialplanVersionStamp={00000000-0000-0000-0000-000000000000}<CRLF>
//   SoftkeyVersionStamp={00000000-0000-0000-0000-000000000000}<CRLF>
//
// and for `prt-report` only the first two lines; Cisco Unified CME sends
// action=check-version with real version stamps (one of them `{}`). The
// rules, and why (docs/settings.md, "Cisco service-control"):
//
// - Lines end in CRLF (RFC 2046 4.1.1: the canonical form of text) or in
//   a bare LF (the form Cisco's own CME examples print); a CR that is not
//   followed by LF is refused. The last line may end at the body's end.
//   Blank lines are skipped, blanks (SP, HTAB) around keys and values too.
// - Every byte is printable ASCII or a blank, besides the line ends: the
//   keys, the actions, Call-IDs (RFC 3261 25.1 "word") and the stamps are,
//   so anything else (non-ASCII, UTF-8 or not, control bytes) is refused.
// - Keys compare in any case; a key given twice is refused (which
//   `action` would count?). Keys other than action and RegisterCallId
//   (the version stamps, CME's FeatureControlVersionStamp) are read and
//   not used: the provisioning process fetches what is new anyway.
// - `action` is restart, reset, check-version or prt-report, in any case.
// - RegisterCallId's value is the Call-ID between braces.
// - Bounds: the body at most kMaxServiceControlBytes, at most
//   kMaxServiceControlLines lines that are not blank, each value at most
//   kMaxServiceControlValueBytes.
//
// Pure: the caller hands over the Content-Type and the body as sofia-sip
// parsed them.

#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace checksyncd {

// The largest body read. Asterisk's restart body is 218 bytes plus the
// Call-ID, CME's about as long; with a Call-ID of the longest value
// accepted (256 bytes) a body stays under 480 bytes. 1 KiB leaves room for
// more stamps and bounds the work a datagram can ask for.
inline constexpr std::size_t kMaxServiceControlBytes = 1024;
// Lines that are not blank: senders write 2 (prt-report) to 6 (the
// cisco-usecallmanager patch's template with FeatureControlVersionStamp).
inline constexpr std::size_t kMaxServiceControlLines = 16;
// The longest value: what checksyncd passes on of any text from the wire
// (CheckSyncFacts::kMaxDetailBytes); a phone's REGISTER Call-ID is far shorter
// (Cisco's own are 47 bytes).
inline constexpr std::size_t kMaxServiceControlValueBytes = 256;

enum class ServiceControlVerb : unsigned char {
	Restart,      // soft restart: the phone restarts its software
	Reset,        // hard reboot (Cisco's "reset"; nothing is erased)
	CheckVersion, // fetch the configuration and apply what changed
	PrtReport,    // run the Problem Report Tool and upload its bundle
};

// "restart", "reset", "check-version", "prt-report".
std::string_view serviceControlVerbName(ServiceControlVerb verb);

// Why a body is refused, and so the answer (request_guard.cpp).
enum class BodyProblem : unsigned char {
	None,
	NotTextPlain,  // 415 with Accept: text/plain
	TooLarge,      // 413: over kMaxServiceControlBytes
	Malformed,     // 400 Bad service-control body
	DuplicateKey,  // 400 Duplicate service-control key
	MissingAction, // 400 Missing service-control action
	UnknownAction, // 400 Unknown service-control action
};

struct ServiceControl {
	BodyProblem problem = BodyProblem::MissingAction;
	ServiceControlVerb verb = ServiceControlVerb::Restart; // problem None
	// The Call-ID between RegisterCallId's braces, pointing into the
	// body; nullopt when the line is absent.
	std::optional<std::string_view> registerCallId;
};

// Read a service-control body. `contentType` is the media type without
// parameters (sofia-sip's c_type), nullopt when the request has no
// Content-Type; `body` the payload (empty when none).
ServiceControl parseServiceControl(std::optional<std::string_view> contentType,
				   std::string_view body);

} // namespace checksyncd
