// SPDX-License-Identifier: MIT

#include "filter/source_gate.hpp"

#include <algorithm>
#include <exception>

#include "base/text.hpp"
#include "loop/log.hpp"

namespace checksyncd {

namespace {

std::string addressList(const std::vector<IpAddress> &addresses)
{
	return join(addresses, ", ", [](const IpAddress &address) { return address.toString(); });
}

std::string describePlan(const FilterPlan &plan)
{
	std::string sources;
	const auto add = [&](const std::string &item) {
		if (!sources.empty())
			sources += ", ";
		sources += item;
	};
	for (const IpPrefix &prefix : plan.prefixes)
		add(prefix.toString());
	for (const ResolveTarget &target : plan.targets)
		add(target.toString());
	return std::string("source filter on (") +
	       (plan.policy == UntrustedPolicy::Drop ? "drop" : "refuse") +
	       "): requests are considered only from " + (sources.empty() ? "nowhere" : sources);
}

// "ignored 2 DNS messages that answered no query sent and 1 record that
// did not answer the question asked"
std::string describeIgnored(const Resolution &result)
{
	std::string text = "ignored ";
	const auto count = [](std::size_t n, const char *one, const char *many) {
		return std::to_string(n) + " " + (n == 1 ? one : many);
	};
	if (result.ignoredMessages)
		text += count(result.ignoredMessages, "DNS message", "DNS messages") +
			" that answered no query sent";
	if (result.ignoredMessages && result.ignoredRecords)
		text += " and ";
	if (result.ignoredRecords)
		text += count(result.ignoredRecords, "record", "records") +
			" that did not answer the question asked (another name, type or "
			"class, or a CNAME chain from elsewhere)";
	return text;
}

} // namespace

SourceGate::SourceGate(EventLoop &loop, const Settings *settings, std::string resolvConf)
	: loop_(loop), resolvConf_(std::move(resolvConf)), refreshTimer_(loop), dropTimer_(loop)
{
	setSettings(settings);
}

SourceGate::~SourceGate() = default;

void SourceGate::setSettings(const Settings *settings)
{
	FilterPlan plan = settings ? planFilter(*settings) : FilterPlan{};
	if (plan != plan_) {
		if (plan.enabled)
			logMessage(LogLevel::Info, describePlan(plan), {{"SOURCE_FILTER", "on"}});
		else if (plan_.enabled)
			logMessage(LogLevel::Info, "source filter off", {{"SOURCE_FILTER", "off"}});
	}
	if (resolver_) {
		for (const auto &[target, entry] : names_.entries()) {
			if (!std::binary_search(plan.targets.begin(), plan.targets.end(), target))
				resolver_->cancel(target);
		}
	}
	plan_ = std::move(plan);
	names_.setTargets(plan_.targets, EventLoop::nowMs());
	kernelChanged();
	resolveDue();
}

void SourceGate::kernelChanged()
{
	if (listener_)
		listener_();
}

SourceGate::KernelSources SourceGate::kernelSources() const
{
	KernelSources sources;
	sources.enabled = plan_.enabled;
	sources.drops = plan_.enabled && plan_.policy == UntrustedPolicy::Drop;
	if (plan_.enabled)
		sources.prefixes = allowedPrefixes(plan_, names_);
	return sources;
}

void SourceGate::refresh()
{
	names_.refreshAll(EventLoop::nowMs());
	resolveDue();
}

void SourceGate::resolveDue()
{
	const std::uint64_t now = EventLoop::nowMs();
	std::vector<ResolveTarget> due = names_.takeDue(now);
	if (!due.empty() && !resolver_) {
		try {
			resolver_ = std::make_unique<Resolver>(
				loop_,
				[this](const ResolveTarget &target, const Resolution &result) {
					onResolved(target, result);
				},
				resolvConf_);
		} catch (const std::exception &e) {
			// Every name fails (closed) and is tried again later.
			Resolution failed;
			failed.error = e.what();
			for (const ResolveTarget &target : due)
				onResolved(target, failed);
			return;
		}
	}
	for (const ResolveTarget &target : due) {
		if (logEnabled(LogLevel::Debug))
			logMessage(LogLevel::Debug,
				   "source filter: looking up " + target.toString());
		resolver_->lookup(target);
	}
	schedule();
}

void SourceGate::schedule()
{
	const std::optional<std::uint64_t> next = names_.nextDueMs();
	if (!next) {
		refreshTimer_.cancel();
		return;
	}
	const std::uint64_t now = EventLoop::nowMs();
	refreshTimer_.arm(*next > now ? *next - now : 0, [this] { resolveDue(); });
}

void SourceGate::onResolved(const ResolveTarget &target, const Resolution &result)
{
	const NameTable::Change change = names_.complete(target, result, EventLoop::nowMs());
	// Before the line below: the kernel lets a new address through first.
	if (change == NameTable::Change::Resolved || change == NameTable::Change::Changed ||
	    change == NameTable::Change::Failed)
		kernelChanged();
	const std::string &name = target.name;
	// At most one line per lookup, and lookups are paced by the TTL (at
	// least 5 s) or the retry: a forger cannot turn datagrams into lines.
	if ((result.ignoredMessages || result.ignoredRecords) && logEnabled(LogLevel::Debug))
		logMessage(LogLevel::Debug,
			   "source filter: " + target.toString() + ": " + describeIgnored(result));
	switch (change) {
	case NameTable::Change::Resolved:
	case NameTable::Change::Changed:
		logMessage(LogLevel::Info,
			   "source filter: " + name +
				   (change == NameTable::Change::Resolved ? " resolves to "
									  : " now resolves to ") +
				   addressList(names_.entries().at(target).addresses) + " (TTL " +
				   std::to_string(result.ttlS) + " s)",
			   {{"SOURCE_FILTER", "resolved"}, {"SOURCE_NAME", name}});
		break;
	case NameTable::Change::Refreshed:
		if (logEnabled(LogLevel::Debug))
			logMessage(LogLevel::Debug, "source filter: " + name + " unchanged (TTL " +
							    std::to_string(result.ttlS) + " s)");
		break;
	case NameTable::Change::Failed:
		logMessage(LogLevel::Warning,
			   "source filter: cannot resolve " + target.toString() + ": " +
				   result.error +
				   "; requests from it are filtered out until it resolves",
			   {{"SOURCE_FILTER", "unresolved"}, {"SOURCE_NAME", name}});
		break;
	case NameTable::Change::StillFailing:
		if (logEnabled(LogLevel::Debug))
			logMessage(LogLevel::Debug, "source filter: still cannot resolve " + name +
							    ": " + result.error);
		break;
	case NameTable::Change::Unknown:
		break;
	}
	schedule();
}

SourceVerdict SourceGate::check(const std::optional<IpAddress> &source, std::uint32_t weight)
{
	if (!plan_.enabled)
		return SourceVerdict::Allow;
	const std::uint64_t now = EventLoop::nowMs();
	const SourceVerdict verdict = decideSource(plan_, names_, source, now);
	if (verdict == SourceVerdict::Allow || !source)
		return verdict;
	// A refused request is answered: the kernel passes all of them.
	if (verdict == SourceVerdict::Refuse)
		weight = 1;
	if (const std::optional<DropLog::Report> report = drops_.record(*source, now, weight))
		logDrop(*report);
	if (!dropTimer_.armed())
		armDropTimer(now);
	return verdict;
}

void SourceGate::droppedInKernel(std::uint64_t count)
{
	if (count == 0)
		return;
	kernelPending_ += count;
	kernelTotal_ += count;
	armDropTimer(EventLoop::nowMs()); // the earlier of its line and the prefixes'
}

void SourceGate::armDropTimer(std::uint64_t now)
{
	std::optional<std::uint64_t> next = drops_.nextFlushMs();
	if (kernelPending_ > 0) {
		const std::uint64_t kernelDue = kernelLoggedMs_ + DropLog::kIntervalMs;
		next = std::min(next.value_or(kernelDue), kernelDue);
	}
	if (next)
		dropTimer_.arm(*next > now ? *next - now : 0, [this] { flushDrops(); });
}

void SourceGate::logDrop(const DropLog::Report &report)
{
	const char *what = plan_.policy == UntrustedPolicy::Drop ? "dropped" : "refused";
	const std::string from = report.prefix.empty() ? "other networks" : report.prefix;
	std::string text;
	const std::string count = std::to_string(report.count);
	if (report.first)
		text = std::string("source filter: ") + what + " a request from " +
		       report.lastSource +
		       " (not a registrar, outbound proxy or checksync_trusted source); more "
		       "from " +
		       from + " are counted and reported once a minute";
	else
		text = std::string("source filter: ") + what +
		       (report.estimated ? " about " : " ") + count +
		       (report.count == 1 ? " request" : " requests") + " from " + from + " in " +
		       std::to_string((report.periodMs + 500) / 1000) + " s (last from " +
		       report.lastSource +
		       (report.estimated ? "; estimated from the sample the kernel lets through)"
					 : ")");
	logMessage(LogLevel::Info, text,
		   {{"SOURCE_FILTER", what},
		    {"SIP_SOURCE_IP", report.lastSource},
		    {"SOURCE_PREFIX", from},
		    {"FILTERED_COUNT", count}});
}

void SourceGate::flushDrops()
{
	const std::uint64_t now = EventLoop::nowMs();
	for (const DropLog::Report &report : drops_.flush(now))
		logDrop(report);
	if (kernelPending_ > 0 && now - kernelLoggedMs_ >= DropLog::kIntervalMs) {
		const std::string count = std::to_string(kernelPending_);
		logMessage(
			LogLevel::Info,
			"source filter: the kernel dropped " + count +
				(kernelPending_ == 1 ? " datagram" : " datagrams") +
				" from other sources before the daemon read them (reported at most "
				"once a minute)",
			{{"SOURCE_FILTER", "dropped-in-kernel"}, {"FILTERED_COUNT", count}});
		kernelPending_ = 0;
		kernelLoggedMs_ = now;
	}
	armDropTimer(now);
}

std::string SourceGate::status() const
{
	if (!plan_.enabled)
		return {};
	std::size_t resolved = 0;
	for (const auto &[target, entry] : names_.entries())
		resolved += entry.resolved ? 1 : 0;
	std::string text = "source filter on";
	if (!names_.entries().empty())
		text += " (" + std::to_string(resolved) + " of " +
			std::to_string(names_.entries().size()) + " names resolved)";
	return text + ", " + std::to_string(drops_.total() + kernelTotal_) + " requests filtered";
}

} // namespace checksyncd
