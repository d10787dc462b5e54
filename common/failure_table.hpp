// SPDX-License-Identifier: MIT
//
// Brute-force protection (DESIGN section 4): per source address, after
// kMaxFailures failed answers within kWindowMs the address is refused for
// kLockMs. Bounded: at most `capacity` addresses are remembered, the least
// recently active forgotten first, so spoofed sources cannot grow it.
// Only failures that came with a valid nonce for their address should be
// recorded: those prove the sender receives our answers there, so a
// spoofer cannot lock a PBX out.

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "bounded_lru.hpp"
#include "lockout.hpp"

namespace checksyncd {

class FailureTable
{
public:
	static constexpr unsigned kMaxFailures = 5;
	static constexpr std::uint64_t kWindowMs = 60'000;
	static constexpr std::uint64_t kLockMs = 60'000;

	explicit FailureTable(std::size_t capacity = 1024)
		: entries_(capacity)
	{
	}

	// True while the address is locked out.
	bool locked(std::string_view address, std::uint64_t nowMs);

	// Record a failed answer; true when this failure starts a lockout.
	bool recordFailure(std::string_view address, std::uint64_t nowMs);

	// A good answer clears the address's record.
	void recordSuccess(std::string_view address) { entries_.erase(address); }

	std::size_t size() const { return entries_.size(); }

	// The addresses locked out at nowMs, with the end of their lock.
	std::vector<Lockout> lockedOut(std::uint64_t nowMs) const;

	// Lift the address's lock (an admin's fix for a PBX that locked
	// itself out) and forget its failures; false when the address was
	// never locked.
	bool unlock(std::string_view address);

private:
	struct Entry {
		std::array<std::uint64_t, kMaxFailures> failures{}; // ring of times
		unsigned count = 0;				     // valid times in ring
		unsigned next = 0;				     // next slot
		std::uint64_t lockedUntil = 0;
	};

	BoundedLru<Entry> entries_;
};

} // namespace checksyncd
