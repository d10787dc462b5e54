// SPDX-License-Identifier: MIT

#include "settings/settings_values.hpp"

#include <sofia-sip/hostdomain.h>

#include <algorithm>
#include <charconv>
#include <system_error>
#include <utility>

#include "auth/digest.hpp"
#include "base/text.hpp"
#include "pnp/pnp.hpp"

namespace checksyncd {

namespace {

bool isDigits(std::string_view text)
{
	if (text.empty())
		return false;
	for (char c : text) {
		if (c < '0' || c > '9')
			return false;
	}
	return true;
}

} // namespace

std::optional<unsigned long> parseDecimal(std::string_view text, unsigned long low,
					  unsigned long high)
{
	if (!isDigits(text))
		return std::nullopt;
	unsigned long value = 0;
	const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
	if (ec != std::errc{} || end != text.data() + text.size())
		return std::nullopt;
	if (value < low || value > high)
		return std::nullopt;
	return value;
}

const char *onOff(bool value)
{
	// The table's spellings are string literals, terminated.
	return choiceText(kOnOffChoices, value).data();
}

bool validHostPort(const std::string &host, const std::string &realm)
{
	if (realm.empty() || !host_is_valid(realm.c_str()))
		return false;
	std::string_view rest = std::string_view(host).substr(realm.size());
	if (rest.empty())
		return true;
	if (rest.front() != ':' || rest.size() < 2 || rest.size() > 6)
		return false;
	unsigned port = 0;
	for (char c : rest.substr(1)) {
		if (c < '0' || c > '9')
			return false;
		port = port * 10 + static_cast<unsigned>(c - '0');
	}
	return port >= 1 && port <= 65535;
}

std::string withoutPassword(std::string_view url)
{
	const auto start = url.find("://");
	if (start == std::string_view::npos)
		return std::string(url);
	const std::string_view authority = url.substr(
		start + 3, url.find_first_of("/?#", start + 3) - (start + 3));
	const auto at = authority.rfind('@');
	if (at == std::string_view::npos)
		return std::string(url);
	const auto colon = authority.substr(0, at).find(':');
	if (colon == std::string_view::npos)
		return std::string(url);
	const std::size_t passwordStart = start + 3 + colon + 1;
	return std::string(url.substr(0, passwordStart)) + "********" +
	       std::string(url.substr(start + 3 + at));
}

std::string identityKey(std::string_view name, unsigned idx)
{
	return std::string(name) + "[" + std::to_string(idx) + "]";
}

bool SettingValue::refuse(const std::string &message) const
{
	errors.push_back(key + ": " + message);
	return false;
}

bool SettingValue::invalid(std::string_view expected) const
{
	return refuse("invalid value " + quoted(text) + " (expected " + std::string(expected) +
		      ")");
}

namespace {

constexpr std::size_t kHashHexDigits = 32;

// An enumerated setting: one of `choices`.
template<typename T, std::size_t N>
bool readChoice(T &target, const std::array<Choice<T>, N> &choices, const SettingValue &value)
{
	const std::optional<T> chosen = choose(choices, value.text);
	if (!chosen)
		return value.invalid(expectedChoices(choices));
	target = *chosen;
	return true;
}

template<typename T, std::size_t N>
std::string describeChoice(const std::array<Choice<T>, N> &choices, T value)
{
	return std::string(choiceText(choices, value));
}

bool readOnOff(bool &target, const SettingValue &value)
{
	return readChoice(target, kOnOffChoices, value);
}

std::string describeOnOff(bool value)
{
	return onOff(value);
}

// Any text is taken.
bool readText(std::string &target, const SettingValue &value)
{
	target = value.text;
	return true;
}

bool readPort(std::uint16_t &target, const SettingValue &value)
{
	const auto port = parseDecimal(value.text, 1, 65535);
	if (!port)
		return value.invalid("a port number from 1 to 65535");
	target = static_cast<std::uint16_t>(*port);
	return true;
}

bool readAlgorithms(std::vector<Algorithm> &target, const SettingValue &value)
{
	if (value.text.empty())
		return value.refuse("empty (expected a comma-separated list of SHA-512-256, "
				    "SHA-256 and MD5)");
	std::vector<Algorithm> algorithms;
	bool ok = true;
	for (const std::string_view item : listItems(value.text)) {
		if (item.empty()) {
			ok = value.refuse("empty item in " + quoted(value.text));
		} else if (const auto algorithm = parseAlgorithm(item)) {
			if (std::find(algorithms.begin(), algorithms.end(), *algorithm) !=
			    algorithms.end())
				ok = value.refuse(std::string(algorithmName(*algorithm)) +
						  " listed twice");
			else
				algorithms.push_back(*algorithm);
		} else {
			ok = value.refuse("unknown algorithm " + quoted(item) +
					  " (expected SHA-512-256, SHA-256 or MD5)");
		}
	}
	if (ok)
		target = std::move(algorithms);
	return ok;
}

// Same rules as checksync_auth_algorithms: every item known, none twice,
// the list not empty (a phone that honours no package would answer every
// PBX 489, which is never what the file meant).
bool readEvents(EventPackageSet &target, const SettingValue &value)
{
	static constexpr std::string_view kExpected =
		"check-sync, resync, reboot, reboot_now, restart_now, service-control or report";
	if (value.text.empty())
		return value.refuse("empty (expected a comma-separated list of " +
				    std::string(kExpected) + ")");
	EventPackageSet events;
	bool ok = true;
	for (const std::string_view item : listItems(value.text)) {
		if (item.empty()) {
			ok = value.refuse("empty item in " + quoted(value.text));
		} else if (const auto package = parseEventPackage(item)) {
			if (events.contains(*package))
				ok = value.refuse(std::string(eventPackageName(*package)) +
						  " listed twice");
			events.insert(*package);
		} else {
			ok = value.refuse("unknown event package " + quoted(item) + " (expected " +
					  std::string(kExpected) + ")");
		}
	}
	if (ok)
		target = events;
	return ok;
}

bool readTrusted(std::vector<TrustedSource> &target, const SettingValue &value)
{
	TrustedSources parsed = parseTrustedSources(value.text);
	for (const TrustedSourceError &bad : parsed.errors)
		value.refuse(bad.reason + " " + quoted(bad.entry) +
			     (bad.invalid
				      ? " (expected an IP address, a CIDR prefix or a host name)"
				      : ""));
	if (!parsed.errors.empty())
		return false;
	target = std::move(parsed.sources);
	return true;
}

// pnp_vendor, pnp_model, pnp_version: quoted strings in the SUBSCRIBE's
// Event header. Empty means the default.
bool readPnpParameter(std::string &target, const std::string &fallback, const SettingValue &value)
{
	if (value.text.empty()) {
		target = fallback;
		return true;
	}
	if (!validPnpParameter(value.text))
		return value.refuse("invalid value " + quoted(value.text) + " (at most " +
				    std::to_string(kPnpMaxParameterBytes) +
				    " bytes, no '\"', no '\\', no control characters)");
	target = value.text;
	return true;
}

bool readPnpMac(std::string &target, const SettingValue &value)
{
	if (value.text.empty()) {
		target.clear();
		return true;
	}
	const auto mac = parsePnpMac(value.text);
	if (!mac)
		return value.invalid("12 hex digits, e.g. 000413939050, or empty");
	target = *mac;
	return true;
}

// The first fault ends the list.
bool readUrlSchemes(std::vector<std::string> &target, const SettingValue &value)
{
	if (value.text.empty()) {
		target = PnpSettings{}.urlSchemes;
		return true;
	}
	std::vector<std::string> schemes;
	for (const std::string_view item : listItems(value.text)) {
		std::string scheme = asciiLower(item);
		if (!validUrlScheme(item))
			return value.refuse("invalid scheme " + quoted(item) + " in " +
					    quoted(value.text));
		if (std::find(schemes.begin(), schemes.end(), scheme) != schemes.end())
			return value.refuse(scheme + " listed twice");
		if (schemes.size() == kPnpMaxSchemes)
			return value.refuse("more than " + std::to_string(kPnpMaxSchemes) +
					    " schemes");
		schemes.push_back(std::move(scheme));
	}
	target = std::move(schemes);
	return true;
}

// user_host becomes the realm, quoted in every 401, and user_outbound a
// source filter_registrar accepts: only a domain name, an IPv4 address or a
// bracketed IPv6 address, with an optional port; or empty.
bool readHostPort(std::string &target, const SettingValue &value)
{
	target = value.text;
	if (value.text.empty() || validHostPort(target, std::string(hostPart(target))))
		return true;
	return value.invalid("host[:port]");
}

// Secret: the value never goes into the message.
bool readHash(std::string &target, const SettingValue &value)
{
	if (!value.text.empty() && !isHex(value.text, kHashHexDigits))
		return value.refuse("invalid value (expected empty or 32 hex digits)");
	target = asciiLower(value.text);
	return true;
}

std::string secret(const std::string &value)
{
	return value.empty() ? "(unset)" : "********";
}

// The tables. In each entry, s is the settings (or i the identity) read
// into or described, and v the value read.

constexpr SettingKey<Settings> kSettingKeys[] = {
	{"challenge_checksync",
	 [](Settings &s, const SettingValue &v) { return readOnOff(s.challengeChecksync, v); },
	 [](const Settings &s) { return describeOnOff(s.challengeChecksync); }},
	{"challenge_reboot",
	 [](Settings &s, const SettingValue &v) { return readOnOff(s.challengeReboot, v); },
	 [](const Settings &s) { return describeOnOff(s.challengeReboot); }},
	{"checksync_action",
	 [](Settings &s, const SettingValue &v) { return readChoice(s.action, kActionChoices, v); },
	 [](const Settings &s) { return describeChoice(kActionChoices, s.action); }},
	{"network_id_port", [](Settings &s, const SettingValue &v) { return readPort(s.port, v); },
	 [](const Settings &s) { return std::to_string(s.port); }},
	{"checksync_auth_algorithms",
	 [](Settings &s, const SettingValue &v) { return readAlgorithms(s.algorithms, v); },
	 [](const Settings &s) { return join(s.algorithms, ",", algorithmName); }},
	{"checksync_auth_qop",
	 [](Settings &s, const SettingValue &v) { return readChoice(s.qop, kQopChoices, v); },
	 [](const Settings &s) { return describeChoice(kQopChoices, s.qop); }},
	{"checksync_auth_userhash",
	 [](Settings &s, const SettingValue &v) { return readOnOff(s.userhash, v); },
	 [](const Settings &s) { return describeOnOff(s.userhash); }},
	{"checksync_events",
	 [](Settings &s, const SettingValue &v) { return readEvents(s.events, v); },
	 [](const Settings &s) { return joinEventPackages(s.events, ","); }},
	{"filter_registrar",
	 [](Settings &s, const SettingValue &v) { return readOnOff(s.filterRegistrar, v); },
	 [](const Settings &s) { return describeOnOff(s.filterRegistrar); }},
	{"checksync_trusted",
	 [](Settings &s, const SettingValue &v) { return readTrusted(s.trusted, v); },
	 [](const Settings &s) {
		 return join(s.trusted, ",", [](const TrustedSource &t) { return t.toString(); });
	 }},
	{"checksync_untrusted",
	 [](Settings &s, const SettingValue &v) {
		 return readChoice(s.untrusted, kUntrustedChoices, v);
	 },
	 [](const Settings &s) { return describeChoice(kUntrustedChoices, s.untrusted); }},
	{"pnp_config",
	 [](Settings &s, const SettingValue &v) { return readOnOff(s.pnp.enabled, v); },
	 [](const Settings &s) { return describeOnOff(s.pnp.enabled); }},
	// Written by the provisioning process: any text is taken (a refusal
	// would hold back every other setting of the file); only whether it is
	// empty matters here.
	{"setting_server",
	 [](Settings &s, const SettingValue &v) { return readText(s.pnp.settingServer, v); },
	 [](const Settings &s) { return withoutPassword(s.pnp.settingServer); }},
	{"pnp_vendor",
	 [](Settings &s, const SettingValue &v) {
		 return readPnpParameter(s.pnp.vendor, PnpSettings{}.vendor, v);
	 },
	 [](const Settings &s) { return s.pnp.vendor; }},
	{"pnp_model",
	 [](Settings &s, const SettingValue &v) {
		 return readPnpParameter(s.pnp.model, PnpSettings{}.model, v);
	 },
	 [](const Settings &s) { return s.pnp.model; }},
	{"pnp_version",
	 [](Settings &s, const SettingValue &v) {
		 return readPnpParameter(s.pnp.version, PnpSettings{}.version, v);
	 },
	 [](const Settings &s) { return s.pnp.version; }},
	{"pnp_mac", [](Settings &s, const SettingValue &v) { return readPnpMac(s.pnp.mac, v); },
	 [](const Settings &s) { return s.pnp.mac; }},
	{"pnp_url_schemes",
	 [](Settings &s, const SettingValue &v) { return readUrlSchemes(s.pnp.urlSchemes, v); },
	 [](const Settings &s) {
		 return join(s.pnp.urlSchemes, ",", [](std::string_view scheme) { return scheme; });
	 }},
};

constexpr SettingKey<Identity> kIdentityKeys[] = {
	{"user_active", [](Identity &i, const SettingValue &v) { return readOnOff(i.active, v); },
	 [](const Identity &i) { return describeOnOff(i.active); }},
	{"user_name", [](Identity &i, const SettingValue &v) { return readText(i.name, v); },
	 [](const Identity &i) { return i.name; }},
	{"user_host", [](Identity &i, const SettingValue &v) { return readHostPort(i.host, v); },
	 [](const Identity &i) { return i.host; }},
	{"user_pname", [](Identity &i, const SettingValue &v) { return readText(i.pname, v); },
	 [](const Identity &i) { return i.pname; }},
	{"user_pass", [](Identity &i, const SettingValue &v) { return readText(i.pass, v); },
	 [](const Identity &i) { return secret(i.pass); }},
	{"user_hash", [](Identity &i, const SettingValue &v) { return readHash(i.hash, v); },
	 [](const Identity &i) { return secret(i.hash); }},
	{"user_outbound",
	 [](Identity &i, const SettingValue &v) { return readHostPort(i.outbound, v); },
	 [](const Identity &i) { return i.outbound; }},
};

} // namespace

std::span<const SettingKey<Settings>> settingKeys()
{
	return kSettingKeys;
}

std::span<const SettingKey<Identity>> identityKeys()
{
	return kIdentityKeys;
}

} // namespace checksyncd
