// SPDX-License-Identifier: MIT

#include "auth/failure_table.hpp"

namespace checksyncd {

bool FailureTable::locked(const SourcePrefix &source, std::uint64_t nowMs)
{
	const Entry *entry = entries_.peek(source.bytes);
	return entry && nowMs < entry->lockedUntil;
}

std::uint64_t FailureTable::budgetRetryAfterMs(std::uint64_t nowMs) const
{
	if (guessCount_ < kGuessBudget)
		return 0;
	// The oldest of the last kGuessBudget failures leaves the window.
	std::uint64_t oldest = guesses_[guessNext_];
	return oldest + kWindowMs > nowMs ? oldest + kWindowMs - nowMs : 0;
}

bool FailureTable::mayGuess(const SourcePrefix &source, std::uint64_t nowMs)
{
	return budgetRetryAfterMs(nowMs) == 0 || knownGood_.peek(source.bytes) != nullptr;
}

bool FailureTable::recordFailure(const SourcePrefix &source, std::uint64_t nowMs)
{
	guesses_[guessNext_] = nowMs;
	guessNext_ = (guessNext_ + 1) % kGuessBudget;
	if (guessCount_ < kGuessBudget)
		guessCount_++;

	Entry &entry = entries_.get(source.bytes);
	if (nowMs < entry.lockedUntil)
		return false; // already locked; the lock is not extended

	entry.failures[entry.next] = nowMs;
	entry.next = (entry.next + 1) % kMaxFailures;
	if (entry.count < kMaxFailures)
		entry.count++;

	// Failures inside the window, the one just recorded included.
	unsigned recent = 0;
	for (unsigned i = 0; i < entry.count; i++)
		if (nowMs - entry.failures[i] < kWindowMs)
			recent++;
	if (recent < kMaxFailures)
		return false;

	entry.lockedUntil = nowMs + kLockMs;
	entry.count = 0;
	entry.next = 0;
	return true;
}

void FailureTable::recordSuccess(const SourcePrefix &source, std::uint64_t nowMs)
{
	entries_.erase(source.bytes);
	if (!knownGood_.isNewest(source.bytes))
		++knownVersion_;
	knownGood_.get(source.bytes) = nowMs;
}

std::vector<SourcePrefix> FailureTable::authenticatedSources() const
{
	std::vector<SourcePrefix> sources;
	sources.reserve(knownGood_.size());
	knownGood_.forEach([&](const Key &key, std::uint64_t) {
		SourcePrefix prefix;
		prefix.bytes = key;
		sources.push_back(prefix);
	});
	return sources;
}

void FailureTable::restoreKnownSources(std::span<const SourcePrefix> sources)
{
	// Behind what is known already, in their order, and only while there
	// is room: a restore never pushes out a source that authenticated in
	// this run.
	bool added = false;
	for (const SourcePrefix &source : sources)
		if (std::uint64_t *value = knownGood_.addOldest(source.bytes)) {
			*value = 0;
			added = true;
		}
	if (added)
		++knownVersion_;
}

std::vector<Lockout> FailureTable::lockedOut(std::uint64_t nowMs) const
{
	std::vector<Lockout> out;
	entries_.forEach([&](const Key &key, const Entry &entry) {
		if (nowMs < entry.lockedUntil) {
			SourcePrefix prefix;
			prefix.bytes = key;
			out.push_back({prefix.toString(), entry.lockedUntil});
		}
	});
	return out;
}

bool FailureTable::unlock(std::string_view source, std::uint64_t nowMs)
{
	std::optional<SourcePrefix> prefix = SourcePrefix::parse(source);
	if (!prefix || !locked(*prefix, nowMs))
		return false;
	entries_.erase(prefix->bytes);
	return true;
}

} // namespace checksyncd
