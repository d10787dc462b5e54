// SPDX-License-Identifier: MIT

#include "connection_limits.hpp"

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

std::vector<ConnectionLimits::Entry>::iterator ConnectionLimits::oldestOfLargestHolder()
{
	// Quadratic, on a table of at most `total` (64) entries: simpler than
	// keeping a second index in step, and cheap at that size.
	auto victim = open_.end();
	std::size_t most = 0;
	for (auto it = open_.begin(); it != open_.end(); ++it) {
		std::size_t count = countOf(it->source);
		if (count > most) { // strictly: the first, oldest, wins a tie
			most = count;
			victim = it;
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
		if (contains(seen.id) ||
		    std::find(closing_.begin(), closing_.end(), seen.id) != closing_.end())
			continue;
		if (limits_.total == 0 || limits_.perSource == 0) {
			closing_.push_back(seen.id);
			toClose.push_back({seen.id, Reason::NoRoom});
			continue;
		}
		if (countOf(seen.source) >= limits_.perSource) {
			auto own = std::find_if(open_.begin(), open_.end(), [&](const Entry &e) {
				return e.source == seen.source;
			});
			toClose.push_back(close(own, Reason::SourceFull));
		} else if (open_.size() >= limits_.total) {
			toClose.push_back(close(oldestOfLargestHolder(), Reason::TableFull));
		}
		open_.push_back({seen.id, seen.source, nowMs, std::nullopt});
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
	for (Entry &entry : open_)
		if (entry.id == id)
			entry.lastRequestMs = nowMs;
}

bool ConnectionLimits::contains(Id id) const
{
	return std::any_of(open_.begin(), open_.end(), [&](const Entry &e) { return e.id == id; });
}

std::optional<ConnectionLimits::Close> ConnectionLimits::shed()
{
	auto victim = oldestOfLargestHolder();
	if (victim == open_.end())
		return std::nullopt;
	return close(victim, Reason::Shed);
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
