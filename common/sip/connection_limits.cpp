// SPDX-License-Identifier: MIT

#include "sip/connection_limits.hpp"

#include <algorithm>
#include <cstring>

namespace checksyncd {

ConnectionLimits::ConnectionLimits(Limits limits) : limits_(limits)
{
	open_.reserve(limits_.total);
}

std::size_t ConnectionLimits::countOf(const SourcePrefix &source) const
{
	return static_cast<std::size_t>(std::count_if(
		open_.begin(), open_.end(), [&](const Entry &e) { return e.source == source; }));
}

std::vector<ConnectionLimits::Entry>::iterator ConnectionLimits::victim(const SourcePrefix *source)
{
	// Quadratic, on a table of at most `total` (64) entries: simpler than
	// keeping a second index in step, and cheap at that size.
	auto victim = open_.end();
	Rank lowest = Rank::Kept;
	std::size_t most = 0;
	for (auto it = open_.begin(); it != open_.end(); ++it) {
		if (source && it->source != *source)
			continue;
		const Rank rank = it->rank();
		const std::size_t count = countOf(it->source);
		// Strictly: the first, oldest, wins a tie.
		if (victim == open_.end() || rank < lowest || (rank == lowest && count > most)) {
			victim = it;
			lowest = rank;
			most = count;
		}
	}
	return victim;
}

ConnectionLimits::Close ConnectionLimits::close(std::vector<Entry>::iterator entry, Reason reason)
{
	Id id = entry->id;
	open_.erase(entry);
	closing_.push_back(id);
	return {id, reason};
}

std::vector<ConnectionLimits::Close> ConnectionLimits::update(std::span<const Seen> open,
							      std::uint64_t nowMs)
{
	auto isOpen = [&](Id id) {
		return std::any_of(open.begin(), open.end(),
				   [&](const Seen &s) { return s.id == id; });
	};
	std::erase_if(closing_, [&](Id id) { return !isOpen(id); });
	std::erase_if(open_, [&](const Entry &e) { return !isOpen(e.id); });

	std::vector<Close> toClose;
	for (const Seen &seen : open) {
		if (Entry *known = find(seen.id)) {
			known->trust = seen.trust; // what the source has proven by now
			continue;
		}
		if (std::find(closing_.begin(), closing_.end(), seen.id) != closing_.end())
			continue;
		if (limits_.total == 0 || limits_.perSource == 0) {
			closing_.push_back(seen.id);
			toClose.push_back({seen.id, Reason::NoRoom});
			continue;
		}
		if (countOf(seen.source) >= limits_.perSource)
			toClose.push_back(close(victim(&seen.source), Reason::SourceFull));
		else if (open_.size() >= limits_.total)
			toClose.push_back(close(victim(), Reason::TableFull));
		open_.push_back({seen.id, seen.source, nowMs, std::nullopt, seen.trust});
	}

	for (auto it = open_.begin(); it != open_.end();) {
		if (nowMs >= it->deadlineMs(limits_)) {
			closing_.push_back(it->id);
			toClose.push_back(
				{it->id, it->lastRequestMs ? Reason::Idle : Reason::NoRequest});
			it = open_.erase(it);
		} else {
			++it;
		}
	}
	return toClose;
}

void ConnectionLimits::requestSeen(Id id, std::uint64_t nowMs)
{
	if (Entry *entry = find(id))
		entry->lastRequestMs = nowMs;
}

ConnectionLimits::Entry *ConnectionLimits::find(Id id)
{
	auto it = std::find_if(open_.begin(), open_.end(),
			       [&](const Entry &e) { return e.id == id; });
	return it == open_.end() ? nullptr : &*it;
}

bool ConnectionLimits::contains(Id id) const
{
	return std::any_of(open_.begin(), open_.end(), [&](const Entry &e) { return e.id == id; });
}

std::optional<ConnectionLimits::Close> ConnectionLimits::shed()
{
	auto first = victim();
	if (first == open_.end())
		return std::nullopt;
	return close(first, Reason::Shed);
}

std::optional<std::uint64_t> ConnectionLimits::nextExpiryMs() const
{
	if (open_.empty())
		return std::nullopt;
	std::uint64_t next = UINT64_MAX;
	for (const Entry &e : open_)
		next = std::min(next, e.deadlineMs(limits_));
	return next;
}

} // namespace checksyncd
