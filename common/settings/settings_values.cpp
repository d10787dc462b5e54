// SPDX-License-Identifier: MIT

#include "settings/settings_values.hpp"

#include <sofia-sip/hostdomain.h>

#include <charconv>
#include <system_error>

#include "base/text.hpp"

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

} // namespace checksyncd
