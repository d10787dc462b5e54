// SPDX-License-Identifier: MIT
//
// The value parsers of the settings file (settings_reader.cpp) and the
// forms describeSettings() writes them back in. Pure.

#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace checksyncd {

// `text` without ASCII white space at either end.
std::string_view trim(std::string_view text);

// Decimal digits only (no sign, no blanks), value in [low, high].
std::optional<unsigned long> parseDecimal(std::string_view text, unsigned long low,
					  unsigned long high);

// "on" or "off", any case; and back.
std::optional<bool> parseOnOff(std::string_view value);
const char *onOff(bool value);

// host is host[:port] and realm its host part (Identity::realm()).
bool validHostPort(const std::string &host, const std::string &realm);

// A URL with its password masked: setting_server may carry credentials
// (https://user:password@host/...).
std::string withoutPassword(std::string_view url);

// How per-identity settings are named in errors and in --check-config:
// "user_name[1]".
std::string identityKey(std::string_view name, unsigned idx);

} // namespace checksyncd
