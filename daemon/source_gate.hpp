// SPDX-License-Identifier: MIT
//
// The source filter in the running daemon: keeps the plan of the settings
// in force (common/source_filter.hpp), keeps its names resolved (Resolver,
// refreshed when a TTL runs out, when the settings change and on SIGHUP),
// answers SipService's question about each request's source, and counts
// and logs the filtered ones (at most one line a minute per source prefix).
//
// Log lines, each once per change: the filter's plan when the settings
// change, a name's addresses when it resolves or they change, a name's
// failure when it stops resolving (requests from it are filtered until it
// resolves again: fail closed).

#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "loop.hpp"
#include "resolver.hpp"
#include "settings.hpp"
#include "source_filter.hpp"

namespace checksyncd {

class SourceGate
{
public:
	explicit SourceGate(EventLoop &loop);
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
	// here.
	SourceVerdict check(const std::optional<IpAddress> &source);

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
	std::unique_ptr<Resolver> resolver_; // made for the first name
	Timer refreshTimer_;
	DropLog drops_;
	Timer dropTimer_;
};

} // namespace checksyncd
