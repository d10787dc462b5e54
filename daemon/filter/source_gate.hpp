// SPDX-License-Identifier: MIT
//
// The source filter in the running daemon: keeps the plan of the settings
// in force (common/filter/source_filter.hpp), keeps its names resolved (Resolver,
// refreshed when a TTL runs out, when the settings change and on SIGHUP),
// answers SipService's question about each request's source, and counts
// and logs the filtered ones (at most one line a minute per source prefix).
//
// Log lines, each once per change: the filter's plan when the settings
// change, a name's addresses when it resolves or they change, a name's
// failure when it stops resolving (requests from it are filtered until it
// resolves again: fail closed).
//
// The kernel drops most of what the filter drops before the daemon reads
// it (daemon/filter/socket_filter.hpp): it is told the sources (kernelSources(),
// again whenever they may have changed), lets a sample of the rest through
// to be counted here by prefix, and reports how many it dropped
// (droppedInKernel()), which the once-a-minute lines include.

#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "filter/resolver.hpp"
#include "filter/source_filter.hpp"
#include "loop/loop.hpp"
#include "settings/settings.hpp"

namespace checksyncd {

class SourceGate
{
public:
	// `settings`: those in force at start (setSettings()). resolvConf: where
	// the DNS servers are named (Resolver; a test's own file).
	SourceGate(EventLoop &loop, const Settings *settings,
		   std::string resolvConf = "/etc/resolv.conf");
	~SourceGate();
	SourceGate(const SourceGate &) = delete;
	SourceGate &operator=(const SourceGate &) = delete;

	// The settings in force (nullptr: none yet, nothing is filtered). Every
	// name is looked up again.
	void setSettings(const Settings *settings);
	// Look every name up again now (SIGHUP).
	void refresh();

	// The verdict on a received request, by its source address (nullopt:
	// neither IPv4 nor IPv6). Filtered requests are counted and logged
	// here; `weight`: how many filtered requests one stands for when it is
	// the kernel's sample of them.
	SourceVerdict check(const std::optional<IpAddress> &source, std::uint32_t weight = 1);

	// What the kernel's socket filter is built from.
	struct KernelSources {
		bool enabled = false;           // the filter is on
		bool drops = false;             // ... and drops the other sources
		std::vector<IpPrefix> prefixes; // allowedPrefixes()
	};
	KernelSources kernelSources() const;
	// Called whenever kernelSources() may have changed (new settings, a
	// name resolved to other addresses or stopped resolving): the socket
	// filter listens while it exists; nullptr: no one listens.
	void setKernelListener(std::function<void()> listener) { listener_ = std::move(listener); }
	// The kernel dropped `count` more requests for the filter.
	void droppedInKernel(std::uint64_t count);

	// Whether the filter names `source` as one of the PBXs
	// (namesSource()): outside the guess budget, and its TCP connections
	// are the last to go. Counts and logs nothing.
	bool names(const IpAddress &source) const
	{
		return namesSource(plan_, names_, source, EventLoop::nowMs());
	}
	// Whether check() would let `source` in, without counting it.
	bool allows(const IpAddress &source) const
	{
		return decideSource(plan_, names_, source, EventLoop::nowMs()) ==
		       SourceVerdict::Allow;
	}

	// For the status line: empty while the filter is off.
	std::string status() const;

private:
	void resolveDue();
	void schedule();
	void onResolved(const ResolveTarget &target, const Resolution &result);
	void logDrop(const DropLog::Report &report);
	void flushDrops();

	EventLoop &loop_;
	FilterPlan plan_;
	NameTable names_;
	std::string resolvConf_;
	std::unique_ptr<Resolver> resolver_; // made for the first name
	Timer refreshTimer_;
	void armDropTimer(std::uint64_t now);
	void kernelChanged();

	DropLog drops_;
	std::uint64_t kernelPending_ = 0; // dropped by the kernel, not yet logged
	std::uint64_t kernelTotal_ = 0;
	std::uint64_t kernelLoggedMs_ = 0; // the last line about them
	Timer dropTimer_;
	std::function<void()> listener_;
};

} // namespace checksyncd
