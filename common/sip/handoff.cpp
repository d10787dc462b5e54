// SPDX-License-Identifier: MIT

#include "sip/handoff.hpp"

#include <algorithm>
#include <array>
#include <optional>

namespace checksyncd {

namespace {

enum class Key : unsigned char {
	Transport,
	Remote,
	Local,
	Identity,
	RegistrarFlow,
	TlsPeerVerified,
	TlsPeerName,
	RegisterCallId,
};

struct KeySpec {
	std::string_view name;
	std::size_t type; // index into HandoffValue
	char signature;
};

constexpr std::size_t kString = 0;
constexpr std::size_t kUint32 = 1;
constexpr std::size_t kBool = 2;

constexpr std::array<KeySpec, 8> kKeys = {{
	{"transport", kString, 's'},
	{"remote", kString, 's'},
	{"local", kString, 's'},
	{"identity", kUint32, 'u'},
	{"registrar_flow", kBool, 'b'},
	{"tls_peer_verified", kBool, 'b'},
	{"tls_peer_name", kString, 's'},
	{"register_call_id", kString, 's'},
}};

std::optional<Key> keyOf(std::string_view name)
{
	for (std::size_t i = 0; i < kKeys.size(); ++i)
		if (kKeys[i].name == name)
			return static_cast<Key>(i);
	return std::nullopt;
}

std::string signatureOf(const HandoffValue &value)
{
	switch (value.index()) {
	case kString:
		return "s";
	case kUint32:
		return "u";
	case kBool:
		return "b";
	default:
		return std::get<OtherType>(value).signature;
	}
}

} // namespace

std::string HandoffContextError::toString() const
{
	return "context key \"" + key + "\": " + reason;
}

std::variant<HandoffContext, HandoffContextError> readHandoffContext(const HandoffEntries &entries)
{
	std::array<const HandoffValue *, kKeys.size()> seen{};
	for (const auto &[name, value] : entries) {
		const std::optional<Key> key = keyOf(name);
		if (!key)
			continue;
		const KeySpec &spec = kKeys[static_cast<std::size_t>(*key)];
		const auto error = [&](std::string reason) {
			return HandoffContextError{std::string(spec.name), std::move(reason)};
		};
		if (seen[static_cast<std::size_t>(*key)])
			return error("given twice");
		if (value.index() != spec.type)
			return error(std::string("must be of type ") + spec.signature + ", not " +
				     signatureOf(value));
		if (spec.type == kString && std::get<std::string>(value).size() > kMaxContextText)
			return error("longer than " + std::to_string(kMaxContextText) + " bytes");
		seen[static_cast<std::size_t>(*key)] = &value;
	}
	const auto text = [&](Key key) -> const std::string * {
		const HandoffValue *value = seen[static_cast<std::size_t>(key)];
		return value ? &std::get<std::string>(*value) : nullptr;
	};
	const auto flag = [&](Key key) {
		const HandoffValue *value = seen[static_cast<std::size_t>(key)];
		return value && std::get<bool>(*value);
	};

	const std::string *transportText = text(Key::Transport);
	if (!transportText)
		return HandoffContextError{"transport", "missing"};
	const std::optional<Transport> transport = parseTransport(*transportText);
	if (!transport)
		return HandoffContextError{"transport", "not one of udp, tcp, tls, ws, wss"};
	const std::string *remoteText = text(Key::Remote);
	if (!remoteText)
		return HandoffContextError{"remote", "missing"};
	std::optional<SourceAddress> remote = SourceAddress::fromAddressPort(*remoteText,
									     *transport);
	if (!remote)
		return HandoffContextError{
			"remote", "not ADDRESS:PORT (192.0.2.1:5060 or [2001:db8::1]:5060)"};

	HandoffContext context;
	context.remote = std::move(*remote);
	if (const std::string *local = text(Key::Local))
		context.local = *local;
	if (const HandoffValue *identity = seen[static_cast<std::size_t>(Key::Identity)])
		context.identity = std::get<std::uint32_t>(*identity);
	context.registrarFlow = flag(Key::RegistrarFlow);
	context.tlsPeerVerified = flag(Key::TlsPeerVerified);
	if (context.tlsPeerVerified && *transport != Transport::Tls && *transport != Transport::Wss)
		return HandoffContextError{"tls_peer_verified", "true only over tls or wss"};
	if (const std::string *name = text(Key::TlsPeerName))
		context.tlsPeerName = *name;
	if (const std::string *callId = text(Key::RegisterCallId))
		context.registerCallId = *callId;
	return context;
}

bool mayHandOver(std::uint32_t uid, const std::vector<std::uint32_t> &groups,
		 std::optional<std::uint32_t> uaGroup)
{
	if (uid == 0)
		return true;
	return uaGroup && std::find(groups.begin(), groups.end(), *uaGroup) != groups.end();
}

} // namespace checksyncd
