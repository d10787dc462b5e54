// SPDX-License-Identifier: MIT
//
// A request handed over by the phone's SIP UA (org.checksyncd.Handoff1,
// DESIGN section 5): the context the UA gives with it, read and checked
// here, and what the UA vouches for. The request itself goes through the
// same path as one received on the port (daemon/sip/sip_service.hpp); only
// where it came from is read from this context instead of the socket.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "base/source_address.hpp"

namespace checksyncd {

// A context value as the bus delivered it: the three types the context's
// keys use, or the D-Bus signature of anything else (to name it in the
// error).
struct OtherType {
	std::string signature;
};
using HandoffValue = std::variant<std::string, std::uint32_t, bool, OtherType>;
using HandoffEntries = std::vector<std::pair<std::string, HandoffValue>>;

struct HandoffContext {
	SourceAddress remote;       // "remote" with "transport"
	std::string local;          // "local", as the UA names it (not parsed)
	unsigned identity = 0;      // "identity": the idx of the UA's account, 0 unknown
	bool registrarFlow = false; // "registrar_flow"
	bool tlsPeerVerified = false;
	std::string tlsPeerName;
	std::string registerCallId; // "register_call_id": the UA's REGISTER's Call-ID
};

// A context that cannot be taken: the key at fault and why.
struct HandoffContextError {
	std::string key;
	std::string reason; // "missing", "must be a string (s), not u", ...

	std::string toString() const; // "context key \"remote\": missing"
};

// The longest text value a context key may carry (a host name, a Call-ID).
inline constexpr std::size_t kMaxContextText = 256;

// Reads the context: "transport" (udp, tcp, tls, ws, wss) and "remote"
// ("ADDRESS:PORT") are required, the other keys optional with the
// defaults above; a key of the wrong type, a value out of range, a key
// given twice is an error naming the key. Keys it does not know are
// ignored (a newer UA may send more).
std::variant<HandoffContext, HandoffContextError> readHandoffContext(const HandoffEntries &entries);

// Whether the UA vouches that the request came from the account's
// registrar or outbound proxy: it arrived over the connection the UA
// itself opened to it (TCP, TLS, WebSocket). Over UDP anyone can write
// the registrar's address as a datagram's source, so only the address
// counts there, checked as on the port.
inline bool fromRegistrarByFlow(const HandoffContext &context)
{
	return context.registrarFlow && isConnection(context.remote.transport);
}

// Whether a caller with this uid and these groups (primary and
// supplementary, as the bus driver reports them) may hand requests over:
// root, or a member of the UA's group (its gid, nullopt when the group
// does not exist).
bool mayHandOver(std::uint32_t uid, const std::vector<std::uint32_t> &groups,
		 std::optional<std::uint32_t> uaGroup);

} // namespace checksyncd
