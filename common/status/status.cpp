// SPDX-License-Identifier: MIT

#include "status/status.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

#include "base/text.hpp"

namespace checksyncd {

std::string_view stateName(ServiceState state)
{
	switch (state) {
	case ServiceState::Serving:
		return "serving";
	case ServiceState::NoSettings:
		return "no-settings";
	case ServiceState::Stopping:
		return "stopping";
	}
	return "serving";
}

std::string_view propertyName(Property property)
{
	switch (property) {
	case Property::State:
		return "State";
	case Property::SettingsFile:
		return "SettingsFile";
	case Property::SettingsError:
		return "SettingsError";
	case Property::Listening:
		return "Listening";
	case Property::LastCheckSync:
		return "LastCheckSync";
	case Property::Counters:
		return "Counters";
	case Property::LockedOut:
		return "LockedOut";
	case Property::PlugAndPlay:
		return "PlugAndPlay";
	}
	return "State";
}

std::array<std::pair<std::string_view, std::uint64_t>, kCounterCount>
counterEntries(const Counters &counters)
{
	return {{
		{"received", counters.received},
		{"served", counters.served},
		{"challenged", counters.challenged},
		{"auth_failures", counters.authFailures},
		{"refused", counters.refused},
		{"locked_out", counters.lockedOut},
		{"dropped_by_filter", counters.droppedByFilter},
		{"handed_over", counters.handedOver},
		{"dropped_in_kernel", counters.droppedInKernel},
		{"shed", counters.shed},
		{"silenced", counters.silenced},
	}};
}

std::string_view provisioningName(Provisioning value)
{
	switch (value) {
	case Provisioning::NotAsked:
		return "not-asked";
	case Provisioning::Accepted:
		return "accepted";
	case Provisioning::Failed:
		return "failed";
	}
	return "not-asked";
}

std::optional<std::uint64_t> ChangeTracker::dueAt(std::uint64_t nowMs) const
{
	if (!pending())
		return std::nullopt;
	if (!lastSentMs_)
		return nowMs;
	return std::max(nowMs, *lastSentMs_ + kMinIntervalMs);
}

std::vector<Property> ChangeTracker::take(std::uint64_t nowMs)
{
	std::vector<Property> changed;
	for (std::size_t i = 0; i < kPropertyCount; i++) {
		auto property = static_cast<Property>(i);
		if (marked(property))
			changed.push_back(property);
	}
	if (!changed.empty())
		lastSentMs_ = nowMs;
	dirty_ = 0;
	return changed;
}

std::uint64_t realtimeUsOf(std::uint64_t monotonicMs, std::uint64_t nowMs,
			   std::uint64_t nowRealtimeUs)
{
	if (monotonicMs >= nowMs)
		return nowRealtimeUs + (monotonicMs - nowMs) * 1000;
	std::uint64_t agoUs = (nowMs - monotonicMs) * 1000;
	return nowRealtimeUs > agoUs ? nowRealtimeUs - agoUs : 0;
}

void StatusModel::setState(ServiceState state)
{
	if (state == state_)
		return;
	state_ = state;
	changes_.mark(Property::State);
}

void StatusModel::setSettings(std::string_view file, std::string_view error)
{
	if (file != settingsFile_) {
		settingsFile_ = file;
		changes_.mark(Property::SettingsFile);
	}
	if (error != settingsError_) {
		settingsError_ = error;
		changes_.mark(Property::SettingsError);
	}
}

void StatusModel::setListening(std::vector<std::string> uris)
{
	if (uris == listening_)
		return;
	listening_ = std::move(uris);
	changes_.mark(Property::Listening);
}

void StatusModel::countReceived(Arrival arrival)
{
	counters_.received++;
	if (arrival == Arrival::HandedOver)
		counters_.handedOver++;
	changes_.mark(Property::Counters);
}

void StatusModel::countAnswer(unsigned sipStatus, AnswerTo request)
{
	if (sipStatus == 401)
		counters_.challenged++;
	else if (sipStatus >= 300)
		counters_.refused++;
	else if (sipStatus >= 200 && request == AnswerTo::CheckSync)
		counters_.served++;
	else
		return; // 200 to OPTIONS
	changes_.mark(Property::Counters);
}

void StatusModel::countAuthFailure()
{
	counters_.authFailures++;
	changes_.mark(Property::Counters);
}

void StatusModel::countSilenced()
{
	counters_.silenced++;
	changes_.mark(Property::Counters);
}

void StatusModel::countDroppedByFilter()
{
	counters_.droppedByFilter++;
	changes_.mark(Property::Counters);
}

void StatusModel::countDroppedInKernel(std::uint64_t filtered, std::uint64_t shed)
{
	if (filtered == 0 && shed == 0)
		return;
	counters_.droppedByFilter += filtered;
	counters_.droppedInKernel += filtered;
	counters_.shed += shed;
	changes_.mark(Property::Counters);
}

void StatusModel::checkSyncAnswered(const CheckSyncReport &report, std::uint64_t timeUs)
{
	// Assigned in place: under a flood this runs for every datagram, and
	// the strings keep their buffers.
	last_.seen = true;
	last_.timeUs = timeUs;
	assignPrintableUtf8(last_.remote, report.remote, kMaxTextBytes);
	assignPrintableUtf8(last_.transport, report.transport, kMaxTextBytes);
	last_.handedOver = report.handedOver;
	assignPrintableUtf8(last_.callId, report.callId, kMaxTextBytes);
	assignPrintableUtf8(last_.event, report.event, kMaxTextBytes);
	assignPrintableUtf8(last_.action, report.action, kMaxTextBytes);
	last_.identity = report.identity;
	last_.authenticated = report.authenticated;
	last_.sipStatus = report.sipStatus;
	last_.provisioning = report.provisioning;
	assignPrintableUtf8(last_.provisioningError, report.provisioningError, kMaxTextBytes);
	last_.result.reset();
	changes_.mark(Property::LastCheckSync);
}

bool StatusModel::actionFinished(std::string_view callId, ActionOutcome outcome,
				 std::string_view message, std::uint64_t timeUs)
{
	// The Call-ID went out as printable text: compare it in that form.
	if (!last_.seen || printableUtf8(callId, kMaxTextBytes) != last_.callId)
		return false;
	ActionResult result;
	result.success = outcome == ActionOutcome::Succeeded;
	result.message = printableUtf8(message, kMaxTextBytes);
	result.timeUs = timeUs;
	last_.result = std::move(result);
	changes_.mark(Property::LastCheckSync);
	return true;
}

void StatusModel::setPlugAndPlay(PnpState state, std::string_view lastServer,
				 std::string_view lastUrl, std::uint64_t droppedOffLink)
{
	PlugAndPlayStatus next;
	next.state = state;
	next.lastServer = printableUtf8(lastServer, kMaxTextBytes);
	next.lastUrl = printableUtf8(lastUrl, kPnpMaxUrlBytes);
	next.droppedOffLink = droppedOffLink;
	if (next == pnp_)
		return;
	pnp_ = std::move(next);
	changes_.mark(Property::PlugAndPlay);
}

void StatusModel::setLockouts(std::vector<Lockout> lockouts)
{
	std::sort(lockouts.begin(), lockouts.end(),
		  [](const Lockout &a, const Lockout &b) { return a.source < b.source; });
	if (lockouts == lockouts_)
		return;
	lockouts_ = std::move(lockouts);
	changes_.mark(Property::LockedOut);
	if (counters_.lockedOut != lockouts_.size()) {
		counters_.lockedOut = lockouts_.size();
		changes_.mark(Property::Counters);
	}
}

std::optional<std::uint64_t> StatusModel::nextExpiryMs() const
{
	if (lockouts_.empty())
		return std::nullopt;
	return std::min_element(
		       lockouts_.begin(), lockouts_.end(),
		       [](const Lockout &a, const Lockout &b) { return a.untilMs < b.untilMs; })
		->untilMs;
}

} // namespace checksyncd
