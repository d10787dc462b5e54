// SPDX-License-Identifier: MIT
//
// A Retry-After header's value (RFC 3261 20.33: whole seconds) for a wait
// in milliseconds: rounded up, so the sender never comes back too early,
// and at least 1, so a 503 never invites a retry at once.

#pragma once

#include <algorithm>
#include <cstdint>

namespace checksyncd {

inline unsigned retryAfterSeconds(std::uint64_t waitMs)
{
	return static_cast<unsigned>(std::max<std::uint64_t>(1, (waitMs + 999) / 1000));
}

} // namespace checksyncd
