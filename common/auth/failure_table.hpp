// SPDX-License-Identifier: MIT
//
// Brute-force protection. Per source prefix (an IPv4 address, an IPv6 /64:
// see source_address.hpp), after kMaxFailures failed answers within kWindowMs the
// prefix is refused for kLockMs. Over all sources together, at most
// kGuessBudget failed answers are heard per kWindowMs: past that, only
// sources that have authenticated before (a PBX that knows the password)
// have their answers checked, so a botnet or a /48 gets a handful of
// guesses a minute in total, not five per address.
//
// Only failures that came with a valid nonce for their address should be
// recorded: those prove the sender receives our answers there, so a
// spoofer can neither lock a PBX out nor spend the budget.
//
// A source the caller vouches for (one the source filter names: see
// RequestGuard) is never asked mayGuess() at all.
//
// The sources that authenticated are kept across a restart by the daemon
// (authenticatedSources(), restoreKnownSources(): common/auth/known_sources.hpp), so
// that a PBX whose check-sync rebooted the phone is not a stranger to it
// afterwards.
//
// Bounded: at most `capacity` prefixes are remembered (least recently
// active forgotten first) and kKnownGood trusted ones; keys are 16 bytes.

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/bounded_lru.hpp"
#include "base/source_address.hpp"

namespace checksyncd {

// A source refused now (lockedOut()), as the status object shows it.
struct Lockout {
	std::string source;        // SourcePrefix::toString(): "192.0.2.1", "2001:db8::/64"
	std::uint64_t untilMs = 0; // monotonic, like every time in common/

	bool operator==(const Lockout &) const = default;
};

class FailureTable
{
public:
	static constexpr unsigned kMaxFailures = 5;
	static constexpr std::uint64_t kWindowMs = 60'000;
	static constexpr std::uint64_t kLockMs = 60'000;
	// Failed answers heard per kWindowMs over all sources.
	static constexpr unsigned kGuessBudget = 20;
	// Sources that authenticated before, exempt from the budget.
	static constexpr std::size_t kKnownGood = 64;

	explicit FailureTable(std::size_t capacity = 1024)
		: entries_(capacity), knownGood_(kKnownGood)
	{
	}

	// True while the prefix is locked out.
	bool locked(const SourcePrefix &source, std::uint64_t nowMs);

	// False when the guess budget is spent and the source never
	// authenticated: its answer is not checked (nor counted).
	bool mayGuess(const SourcePrefix &source, std::uint64_t nowMs);
	// When the budget has room again.
	std::uint64_t budgetRetryAfterMs(std::uint64_t nowMs) const;

	// Record a failed answer; true when this failure starts a lockout.
	bool recordFailure(const SourcePrefix &source, std::uint64_t nowMs);

	// A good answer clears the prefix's record and trusts it from now on.
	void recordSuccess(const SourcePrefix &source, std::uint64_t nowMs);

	// Whether `source` authenticated before (or was restored as such).
	bool isKnown(const SourcePrefix &source) const
	{
		return knownGood_.peek(source.bytes) != nullptr;
	}
	// The sources that authenticated before, most recent first (at most
	// kKnownGood): kept across a restart (common/auth/known_sources.hpp), and
	// the kernel lets them through while the daemon is overloaded
	// (daemon/filter/socket_filter.hpp).
	std::vector<SourcePrefix> authenticatedSources() const;
	// Take in sources that authenticated before a restart, most recent
	// first, behind any that authenticated since (at most kKnownGood are
	// kept in all).
	void restoreKnownSources(std::span<const SourcePrefix> sources);
	// Counts the changes of authenticatedSources() (a source added, or another
	// one now the most recent): what was written is stale when it moved.
	std::uint64_t knownSourcesVersion() const { return knownVersion_; }

	// The prefixes locked out now, most recently active first.
	std::vector<Lockout> lockedOut(std::uint64_t nowMs) const;
	// Lift the lockout of `source` (an address or "PREFIX/64"); false when
	// it is not locked out.
	bool unlock(std::string_view source, std::uint64_t nowMs);

	std::size_t size() const { return entries_.size(); }
	std::size_t bytesBound() const { return entries_.bytesBound() + knownGood_.bytesBound(); }

private:
	struct Entry {
		std::array<std::uint64_t, kMaxFailures> failures{}; // ring of times
		unsigned count = 0;                                 // valid times in ring
		unsigned next = 0;                                  // next slot
		std::uint64_t lockedUntil = 0;
	};
	using Key = ByteKey<16>;

	BoundedLru<Key, Entry> entries_;
	BoundedLru<Key, std::uint64_t> knownGood_; // -> last success
	std::uint64_t knownVersion_ = 0;
	// The times of the last kGuessBudget failures over all sources.
	std::array<std::uint64_t, kGuessBudget> guesses_{};
	unsigned guessCount_ = 0;
	unsigned guessNext_ = 0;
};

} // namespace checksyncd
