// SPDX-License-Identifier: MIT

#include "filter/source_filter.hpp"

#include <algorithm>

namespace checksyncd {

namespace {

template<typename T>
void sortUnique(std::vector<T> &items)
{
	std::sort(items.begin(), items.end());
	items.erase(std::unique(items.begin(), items.end()), items.end());
}

bool hasRegistrar(const Settings &settings)
{
	for (const auto &[idx, identity] : settings.identities) {
		if (identity.active && (!identity.host.empty() || !identity.outbound.empty()))
			return true;
	}
	return false;
}

} // namespace

// The plan

std::string ResolveTarget::toString() const
{
	return name + (sip ? " (NAPTR/SRV/A/AAAA)" : " (A/AAAA)");
}

FilterPlan planFilter(const Settings &settings)
{
	FilterPlan plan;
	plan.enabled = settings.filterRegistrar || !settings.trusted.empty();
	plan.policy = settings.untrusted;

	// host[:port]: a literal address as it is; a name per RFC 3263, where
	// an explicit port means A/AAAA only (RFC 3263 4.2). A literal address
	// names its PBX whether or not the filter is on (no lookup needed).
	const auto addServer = [&](const std::string &hostPort) {
		if (hostPort.empty())
			return;
		const std::string_view host = hostPart(hostPort);
		if (const std::optional<IpAddress> address = IpAddress::parse(host)) {
			const IpPrefix prefix(*address, address->isV4() ? 32 : 128);
			plan.named.push_back(prefix);
			if (settings.filterRegistrar)
				plan.prefixes.push_back(prefix);
			return;
		}
		if (settings.filterRegistrar)
			plan.targets.push_back(
				{lowerCaseHost(host), host.size() == hostPort.size()});
	};
	for (const auto &[idx, identity] : settings.identities) {
		if (!identity.active)
			continue;
		addServer(identity.host);
		addServer(identity.outbound);
	}
	if (plan.enabled) {
		for (const TrustedSource &source : settings.trusted) {
			if (!source.prefix) {
				plan.targets.push_back({source.name, false});
				continue;
			}
			plan.prefixes.push_back(*source.prefix);
			// No wider than one source of the brute-force table
			// (common/base/source_address.hpp).
			const IpPrefix &prefix = *source.prefix;
			if (prefix.length() >= (prefix.network().isV4() ? 32u : 64u))
				plan.named.push_back(prefix);
		}
	}
	sortUnique(plan.prefixes);
	sortUnique(plan.targets);
	sortUnique(plan.named);
	return plan;
}

std::vector<std::string> filterWarnings(const Settings &settings)
{
	std::vector<std::string> warnings;
	const bool enabled = settings.filterRegistrar || !settings.trusted.empty();
	if (enabled && !settings.challengeChecksync)
		warnings.emplace_back(
			"the source filter is on and challenge_checksync is off: a UDP source "
			"address can be forged, only digest authentication proves the sender");
	if (settings.filterRegistrar && !hasRegistrar(settings))
		warnings.emplace_back(
			settings.trusted.empty()
				? "filter_registrar is on but no active identity has a user_host "
				  "or "
				  "user_outbound: every request is filtered out"
				: "filter_registrar is on but no active identity has a user_host "
				  "or "
				  "user_outbound: only checksync_trusted sources are considered");
	return warnings;
}

// NameTable

void NameTable::setTargets(const std::vector<ResolveTarget> &targets, std::uint64_t nowMs)
{
	std::map<ResolveTarget, Entry> kept;
	for (const ResolveTarget &target : targets) {
		auto found = entries_.find(target);
		Entry entry = found != entries_.end() ? std::move(found->second) : Entry{};
		entry.dueMs = nowMs;
		kept.emplace(target, std::move(entry));
	}
	entries_ = std::move(kept);
}

void NameTable::refreshAll(std::uint64_t nowMs)
{
	for (auto &[target, entry] : entries_)
		entry.dueMs = nowMs;
}

std::vector<ResolveTarget> NameTable::takeDue(std::uint64_t nowMs)
{
	std::vector<ResolveTarget> due;
	for (auto &[target, entry] : entries_) {
		if (!entry.inFlight && entry.dueMs <= nowMs) {
			entry.inFlight = true;
			due.push_back(target);
		}
	}
	return due;
}

std::optional<std::uint64_t> NameTable::nextDueMs() const
{
	std::optional<std::uint64_t> next;
	for (const auto &[target, entry] : entries_) {
		if (!entry.inFlight && (!next || entry.dueMs < *next))
			next = entry.dueMs;
	}
	return next;
}

NameTable::Change NameTable::complete(const ResolveTarget &target, const Resolution &result,
				      std::uint64_t nowMs)
{
	auto found = entries_.find(target);
	if (found == entries_.end())
		return Change::Unknown;
	Entry &entry = found->second;
	entry.inFlight = false;

	if (!result.addresses.empty()) {
		std::vector<IpAddress> addresses = result.addresses;
		sortUnique(addresses);
		const Change change = !entry.resolved                ? Change::Resolved
				      : addresses != entry.addresses ? Change::Changed
								     : Change::Refreshed;
		const std::uint64_t ttlMs = std::clamp<std::uint64_t>(
			std::uint64_t{result.ttlS} * 1000, kMinTtlMs, kMaxTtlMs);
		entry.addresses = std::move(addresses);
		entry.ttlS = result.ttlS;
		entry.dueMs = nowMs + ttlMs;
		entry.validUntilMs = entry.dueMs + kGraceMs;
		entry.resolved = true;
		entry.failures = 0;
		entry.error.clear();
		return change;
	}

	entry.addresses.clear();
	entry.validUntilMs = 0;
	entry.resolved = false;
	entry.error = result.error.empty() ? "no address" : result.error;
	if (entry.failures < 32)
		++entry.failures;
	std::uint64_t retry = kFirstRetryMs;
	for (unsigned i = 1; i < entry.failures && retry < kMaxRetryMs; ++i)
		retry *= 2;
	entry.dueMs = nowMs + std::min(retry, kMaxRetryMs);
	return entry.failures == 1 ? Change::Failed : Change::StillFailing;
}

bool NameTable::allows(const IpAddress &address, std::uint64_t nowMs) const
{
	for (const auto &[target, entry] : entries_) {
		if (nowMs < entry.validUntilMs &&
		    std::binary_search(entry.addresses.begin(), entry.addresses.end(), address))
			return true;
	}
	return false;
}

SourceVerdict decideSource(const FilterPlan &plan, const NameTable &names,
			   const std::optional<IpAddress> &source, std::uint64_t nowMs)
{
	if (!plan.enabled)
		return SourceVerdict::Allow;
	if (source) {
		for (const IpPrefix &prefix : plan.prefixes) {
			if (prefix.contains(*source))
				return SourceVerdict::Allow;
		}
		if (names.allows(*source, nowMs))
			return SourceVerdict::Allow;
	}
	return plan.policy == UntrustedPolicy::Refuse ? SourceVerdict::Refuse : SourceVerdict::Drop;
}

bool namesSource(const FilterPlan &plan, const NameTable &names, const IpAddress &source,
		 std::uint64_t nowMs)
{
	// Names are only listed (and looked up) while the filter is on.
	return std::any_of(plan.named.begin(), plan.named.end(),
			   [&](const IpPrefix &prefix) { return prefix.contains(source); }) ||
	       names.allows(source, nowMs);
}

std::vector<IpPrefix> allowedPrefixes(const FilterPlan &plan, const NameTable &names)
{
	std::vector<IpPrefix> prefixes = plan.prefixes;
	for (const auto &[target, entry] : names.entries()) {
		for (const IpAddress &address : entry.addresses)
			prefixes.emplace_back(address, address.isV4() ? 32 : 128);
	}
	sortUnique(prefixes);
	return prefixes;
}

// DropLog

IpPrefix DropLog::prefixOf(const IpAddress &source)
{
	return IpPrefix(source, source.isV4() ? kV4PrefixLength : kV6PrefixLength);
}

std::optional<DropLog::Report> DropLog::record(const IpAddress &source, std::uint64_t nowMs,
					       std::uint32_t weight)
{
	++total_;
	const IpPrefix prefix = prefixOf(source);
	if (auto found = entries_.find(prefix); found != entries_.end())
		return count(found->second, &prefix, source, nowMs, weight, Entered::Before);
	if (entries_.size() < capacity_)
		return count(entries_[prefix], &prefix, source, nowMs, weight, Entered::Now);
	const Entered entered = other_ ? Entered::Before : Entered::Now;
	if (!other_)
		other_ = Entry{};
	return count(*other_, nullptr, source, nowMs, weight, entered);
}

std::optional<DropLog::Report> DropLog::count(Entry &entry, const IpPrefix *prefix,
					      const IpAddress &source, std::uint64_t nowMs,
					      std::uint32_t weight, Entered entered)
{
	entry.lastSource = source;
	if (entered == Entered::Now) {
		// The one seen is reported; the others it stands for are counted
		// toward the next report.
		entry.reportedMs = nowMs;
		entry.pending = weight - 1;
		entry.estimated = weight > 1;
		return Report{prefix ? prefix->toString() : "", source.toString(), 1, 0, true};
	}
	entry.pending += weight;
	entry.estimated = entry.estimated || weight > 1;
	if (nowMs - entry.reportedMs < kIntervalMs)
		return std::nullopt;
	Report report{prefix ? prefix->toString() : "",
		      source.toString(),
		      entry.pending,
		      nowMs - entry.reportedMs,
		      false,
		      entry.estimated};
	entry.pending = 0;
	entry.estimated = false;
	entry.reportedMs = nowMs;
	return report;
}

std::vector<DropLog::Report> DropLog::flush(std::uint64_t nowMs)
{
	std::vector<Report> reports;
	// Reports what is due; true when the entry was quiet for a minute and
	// can go.
	const auto due = [&](Entry &entry, const IpPrefix *prefix) {
		if (nowMs - entry.reportedMs < kIntervalMs)
			return false;
		if (entry.pending == 0)
			return true;
		reports.push_back(Report{prefix ? prefix->toString() : "",
					 entry.lastSource.toString(), entry.pending,
					 nowMs - entry.reportedMs, false, entry.estimated});
		entry.pending = 0;
		entry.estimated = false;
		entry.reportedMs = nowMs;
		return false;
	};
	for (auto it = entries_.begin(); it != entries_.end();) {
		if (due(it->second, &it->first))
			it = entries_.erase(it);
		else
			++it;
	}
	if (other_ && due(*other_, nullptr))
		other_.reset();
	return reports;
}

std::optional<std::uint64_t> DropLog::nextFlushMs() const
{
	std::optional<std::uint64_t> next;
	const auto consider = [&](const Entry &entry) {
		const std::uint64_t at = entry.reportedMs + kIntervalMs;
		if (!next || at < *next)
			next = at;
	};
	for (const auto &[prefix, entry] : entries_)
		consider(entry);
	if (other_)
		consider(*other_);
	return next;
}

} // namespace checksyncd
