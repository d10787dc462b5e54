// SPDX-License-Identifier: MIT

#include "failure_table.hpp"

namespace checksyncd {

bool FailureTable::locked(std::string_view address, std::uint64_t nowMs)
{
	Entry *entry = entries_.find(address);
	return entry && nowMs < entry->lockedUntil;
}

bool FailureTable::recordFailure(std::string_view address, std::uint64_t nowMs)
{
	Entry &entry = entries_.get(address);
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

std::vector<Lockout> FailureTable::lockedOut(std::uint64_t nowMs) const
{
	std::vector<Lockout> out;
	entries_.forEach([&](std::string_view address, const Entry &entry) {
		if (nowMs < entry.lockedUntil)
			out.push_back({std::string(address), entry.lockedUntil});
	});
	return out;
}

bool FailureTable::unlock(std::string_view address)
{
	const Entry *entry = entries_.find(address);
	if (!entry || entry->lockedUntil == 0)
		return false;
	entries_.erase(address);
	return true;
}

} // namespace checksyncd
