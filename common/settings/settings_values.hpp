// SPDX-License-Identifier: MIT
//
// The settings the daemon reads, each named once in a table that says how
// its value is read (settings_reader.cpp) and how describeSettings() writes
// it back; the value parsers those entries share. Pure.

#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/text.hpp"
#include "settings/settings.hpp"

namespace checksyncd {

// Decimal digits only (no sign, no blanks), value in [low, high].
std::optional<unsigned long> parseDecimal(std::string_view text, unsigned long low,
					  unsigned long high);

// One spelling an enumerated setting accepts, and what it means.
template<typename T>
struct Choice {
	std::string_view text; // "" is the empty value
	T value;
};

// The value `text` spells, in any case.
template<typename T, std::size_t N>
std::optional<T> choose(const std::array<Choice<T>, N> &choices, std::string_view text)
{
	for (const Choice<T> &choice : choices) {
		if (equalsIgnoreCase(text, choice.text))
			return choice.value;
	}
	return std::nullopt;
}

// How describeSettings() writes `value`: its first spelling.
template<typename T, std::size_t N>
std::string_view choiceText(const std::array<Choice<T>, N> &choices, T value)
{
	for (const Choice<T> &choice : choices) {
		if (choice.value == value)
			return choice.text;
	}
	return {};
}

// The spellings for an error message: "sync, reboot or empty".
template<typename T, std::size_t N>
std::string expectedChoices(const std::array<Choice<T>, N> &choices)
{
	std::string out;
	for (std::size_t i = 0; i < N; ++i) {
		if (i > 0)
			out += i + 1 == N ? " or " : ", ";
		out += choices[i].text.empty() ? "empty" : choices[i].text;
	}
	return out;
}

// The enumerated settings, their spellings in the order errors list them.
inline constexpr std::array<Choice<bool>, 2> kOnOffChoices{{{"on", true}, {"off", false}}};
// checksync_action
inline constexpr std::array<Choice<ForcedAction>, 6> kActionChoices{{
	{"sync", ForcedAction::Sync},
	{"reboot", ForcedAction::Reboot},
	{"reregister", ForcedAction::Reregister},
	{"delete-contacts", ForcedAction::DeleteContacts},
	{"factory-reset", ForcedAction::FactoryReset},
	{"", ForcedAction::None},
}};
// checksync_auth_qop
inline constexpr std::array<Choice<QopPolicy>, 2> kQopChoices{{
	{"auth", QopPolicy::Auth},
	{"none", QopPolicy::None},
}};
// checksync_untrusted
inline constexpr std::array<Choice<UntrustedPolicy>, 2> kUntrustedChoices{{
	{"drop", UntrustedPolicy::Drop},
	{"refuse", UntrustedPolicy::Refuse},
}};

// "on" or "off".
const char *onOff(bool value);

// host is host[:port] and realm its host part (Identity::realm()).
bool validHostPort(const std::string &host, const std::string &realm);

// A URL with its password masked: setting_server may carry credentials
// (https://user:password@host/...).
std::string withoutPassword(std::string_view url);

// How per-identity settings are named in errors and in --check-config:
// "user_name[1]".
std::string identityKey(std::string_view name, unsigned idx);

// A setting's text as the file gives it (trimmed), handed to its key's
// reader with the list that collects what is wrong with it.
struct SettingValue {
	const std::string &key; // as errors name it: "network_id_port", "user_host[1]"
	std::string_view text;
	std::vector<std::string> &errors;

	// Adds "KEY: message" to errors; returns false, a refused value.
	bool refuse(const std::string &message) const;
	// refuse("invalid value \"TEXT\" (expected EXPECTED)").
	bool invalid(std::string_view expected) const;
};

// A setting the daemon reads: its name (DESIGN.md, section 3), how its text
// fills the member of Target it sets (false when the text is refused: the
// file is then refused as a whole), and how --check-config writes that
// member back.
template<typename Target>
struct SettingKey {
	std::string_view name;
	bool (*read)(Target &target, const SettingValue &value);
	std::string (*describe)(const Target &target);
};

// The phone's settings, in the order --check-config lists them.
std::span<const SettingKey<Settings>> settingKeys();
// An identity's settings (<user_name idx="1">), listed after the phone's,
// identity by identity, in this order.
std::span<const SettingKey<Identity>> identityKeys();

} // namespace checksyncd
