// SPDX-License-Identifier: MIT
//
// A source address refused for a while after too many failed
// authentications (FailureTable), as the status object shows it.

#pragma once

#include <cstdint>
#include <string>

namespace checksyncd {

struct Lockout {
	std::string source;	     // "192.0.2.1", "2001:db8::1"
	std::uint64_t untilMs = 0; // monotonic, like every time in common/

	bool operator==(const Lockout &) const = default;
};

} // namespace checksyncd
