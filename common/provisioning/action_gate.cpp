// SPDX-License-Identifier: MIT

#include "provisioning/action_gate.hpp"

namespace checksyncd {

void ActionGate::start(std::uint64_t nowMs)
{
	inFlight_ = true;
	started_ = true;
	lastStartMs_ = nowMs;
	promised_ = false;
	joined_ = false;
}

ActionGate::Admit ActionGate::request(std::uint64_t nowMs, Waiters waiters)
{
	if (inFlight_) {
		if (waiters == Waiters::Full) {
			promised_ = true;
			return Admit::AcceptTrailing;
		}
		joined_ = true;
		return Admit::JoinInFlight;
	}
	if (started_ && nowMs - lastStartMs_ < spacingMs_) {
		if (!lastOk_)
			return Admit::RecentFailure;
		promised_ = true;
		return Admit::AcceptTrailing;
	}
	start(nowMs);
	return Admit::StartCall;
}

void ActionGate::finished(std::uint64_t, Outcome outcome)
{
	const bool ok = outcome == Outcome::Accepted;
	inFlight_ = false;
	lastOk_ = ok;
	// Requests that joined a failed call were answered 503 and will come
	// again; those that joined a successful one are owed the trailing call.
	if (ok && joined_)
		promised_ = true;
	joined_ = false;
}

void ActionGate::abandoned()
{
	// Not a provisioning failure: no 503s for the interval. What was asked
	// is still owed: one trailing call at the end of the interval retries
	// it (at most one attempt per interval while the local fault lasts).
	inFlight_ = false;
	lastOk_ = true;
	promised_ = true;
	joined_ = false;
}

std::optional<std::uint64_t> ActionGate::trailingDueAt() const
{
	if (inFlight_ || !promised_)
		return std::nullopt;
	return lastStartMs_ + spacingMs_;
}

bool ActionGate::startTrailing(std::uint64_t nowMs)
{
	std::optional<std::uint64_t> due = trailingDueAt();
	if (!due || nowMs < *due)
		return false;
	start(nowMs);
	return true;
}

std::uint64_t ActionGate::retryAfterMs(std::uint64_t nowMs) const
{
	if (!started_ || nowMs - lastStartMs_ >= spacingMs_)
		return 0;
	return lastStartMs_ + spacingMs_ - nowMs;
}

} // namespace checksyncd
