// SPDX-License-Identifier: MIT
//
// Reading the tests' own expectations out of SIP text: what a test asserts
// about an answer, not how the daemon parses (sofia-sip does that).

#pragma once

#include <string>

namespace checksyncd::test {

// The value of the quoted parameter `name` in one challenge or
// Authentication-Info value (`nonce="..."`); empty when it is not there.
inline std::string quotedParam(const std::string &value, const std::string &name)
{
	std::size_t at = value.find(name + "=\"");
	if (at == std::string::npos)
		return {};
	at += name.size() + 2;
	return value.substr(at, value.find('"', at) - at);
}

} // namespace checksyncd::test
