// SPDX-License-Identifier: MIT

#include "provisioning.hpp"

#include <systemd/sd-bus.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "log.hpp"
#include "text.hpp"

namespace checksyncd {

namespace {

constexpr const char *kService = "org.checksyncd.Provisioning1";
constexpr const char *kPath = "/org/checksyncd/Provisioning1";
constexpr const char *kInterface = "org.checksyncd.Provisioning1";

} // namespace

ProvisioningClient::ProvisioningClient(EventLoop &loop, BusConnection &bus) : bus_(bus)
{
	for (Action action : {Action::Resync, Action::Reboot}) {
		Method &m = method(action);
		m.owner = this;
		m.action = action;
		m.trailing = std::make_unique<Timer>(loop);
	}
	provision_.trailing = std::make_unique<Timer>(loop); // plug and play
	bus_.addClient(*this);
}

ProvisioningClient::~ProvisioningClient()
{
	bus_.removeClient(*this);
	for (Method &m : methods_)
		m.slot = sd_bus_slot_unref(m.slot);
	provision_.slot = sd_bus_slot_unref(provision_.slot); // plug and play
}

void ProvisioningClient::busLost()
{
	CallOutcome outcome;
	outcome.retryAfterMs = kFailedRetryAfterMs;
	outcome.error = "org.freedesktop.DBus.Error.Disconnected";
	for (Method &m : methods_) {
		if (m.slot) {
			m.slot = sd_bus_slot_unref(m.slot);
			finish(m, outcome);
		}
	}
	if (provision_.slot) { // plug and play
		provision_.slot = sd_bus_slot_unref(provision_.slot);
		finishProvision(outcome);
	}
}

std::optional<CallOutcome> ProvisioningClient::submit(Action action, CallDetails details, Done done)
{
	Method &m = method(action);
	std::uint64_t now = EventLoop::nowMs();
	m.latest = std::move(details);

	// Requests waiting for the call in flight each hold a server
	// transaction; beyond a few, a request is answered at once and covered
	// by the trailing call instead.
	switch (m.gate.request(now, m.waiters.size() < kMaxWaiters)) {
	case ActionGate::Admit::StartCall:
		if (std::optional<CallOutcome> failed = call(m))
			return failed;
		m.waiters.push_back(std::move(done));
		return std::nullopt;
	case ActionGate::Admit::JoinInFlight:
		m.waiters.push_back(std::move(done));
		return std::nullopt;
	case ActionGate::Admit::AcceptTrailing: {
		armTrailing(m);
		CallOutcome outcome;
		outcome.accepted = true;
		return outcome;
	}
	case ActionGate::Admit::RecentFailure: {
		CallOutcome outcome;
		outcome.retryAfterMs = m.gate.retryAfterMs(now);
		outcome.error = "the last call failed moments ago";
		return outcome;
	}
	}
	return std::nullopt;
}

std::optional<CallOutcome> ProvisioningClient::call(Method &m)
{
	CallOutcome failed;
	failed.retryAfterMs = kFailedRetryAfterMs;

	if (!bus_.get()) {
		try {
			bus_.connect();
		} catch (const std::exception &e) {
			// The provisioning process's bus is gone: that is a failure
			// of provisioning, answered 503 like a failed call.
			logMessage(LogLevel::Warning, e.what());
			failed.error = "not connected";
			m.gate.finished(EventLoop::nowMs(), false);
			armTrailing(m);
			return failed;
		}
	}

	const std::string member(actionName(m.action));
	const CallDetails &d = m.latest;
	sd_bus_message *message = nullptr;
	int r = sd_bus_message_new_method_call(bus_.get(), &message, kService, kPath, kInterface,
					       member.c_str());
	if (r >= 0)
		r = sd_bus_message_append(message, "a{sv}", 6, "identity", "u", d.identity,
					  "remote", "s", d.remote.c_str(), "authenticated", "b",
					  static_cast<int>(d.authenticated), "call_id", "s",
					  d.callId.c_str(), "event", "s", d.event.c_str(),
					  "user_agent", "s", d.userAgent.c_str());
	if (r >= 0)
		r = sd_bus_call_async(
			bus_.get(), &m.slot, message,
			[](sd_bus_message *reply, void *userdata, sd_bus_error *) noexcept {
				return ProvisioningClient::onReply(reply, userdata);
			},
			&m, kProvisioningTimeoutMs * 1000);
	sd_bus_message_unref(message);
	if (r < 0) {
		// Built or sent nowhere: a fault of ours, not of the provisioning
		// process. The gate is not poisoned and what was asked stays
		// owed to the trailing call.
		failed.localError = true;
		failed.retryAfterMs = kActionSpacingMs;
		failed.error = "cannot send " + member + ": " + errnoText(r);
		logMessage(LogLevel::Error, failed.error, {{"CHECKSYNC_ACTION", member}});
		m.gate.abandoned();
		armTrailing(m);
		return failed;
	}
	logMessage(LogLevel::Info, "asked the provisioning process to " + member,
		   {{"CHECKSYNC_ACTION", member},
		    {"SIP_REMOTE", d.remote},
		    {"SIP_CALL_ID", d.callId}});
	return std::nullopt;
}

int ProvisioningClient::onReply(sd_bus_message *reply, void *userdata) noexcept
{
	auto &m = *static_cast<Method *>(userdata);
	m.slot = sd_bus_slot_unref(m.slot);

	CallOutcome outcome;
	const sd_bus_error *error = sd_bus_message_get_error(reply);
	if (error) {
		outcome.retryAfterMs = kFailedRetryAfterMs;
		outcome.error = error->name ? error->name : "unknown error";
		logMessage(LogLevel::Warning,
			   "the provisioning process did not accept " +
				   std::string(actionName(m.action)) + ": " + outcome.error +
				   (error->message ? std::string(" (") + error->message + ")" : ""),
			   {{"CHECKSYNC_ACTION", actionName(m.action)},
			    {"DBUS_ERROR", outcome.error}});
	} else {
		outcome.accepted = true;
	}
	try {
		m.owner->finish(m, outcome);
	} catch (const std::exception &e) {
		logMessage(LogLevel::Error,
			   std::string("finishing a D-Bus call failed: ") + e.what());
	}
	return 0;
}

void ProvisioningClient::finish(Method &m, const CallOutcome &outcome)
{
	m.gate.finished(EventLoop::nowMs(), outcome.accepted);
	std::vector<Done> waiters = std::move(m.waiters);
	m.waiters.clear();
	for (Done &done : waiters)
		done(outcome);
	armTrailing(m);
}

void ProvisioningClient::armTrailing(Method &m)
{
	std::optional<std::uint64_t> due = m.gate.trailingDueAt();
	if (!due || m.trailing->armed())
		return;
	std::uint64_t now = EventLoop::nowMs();
	m.trailing->arm(*due > now ? *due - now : 0, [this, &m] {
		if (m.gate.startTrailing(EventLoop::nowMs()))
			(void)call(m); // a failure re-arms the trailing call itself
		else
			armTrailing(m);
	});
}

// Provision (plug and play). Kept apart from submit() and call(): other
// details, and a gate of its own, with the same rules.

std::optional<CallOutcome> ProvisioningClient::provision(ProvisionDetails details, Done done)
{
	ProvisionMethod &m = provision_;
	std::uint64_t now = EventLoop::nowMs();
	m.latest = std::move(details);

	switch (m.gate.request(now, m.waiters.size() < kMaxWaiters)) {
	case ActionGate::Admit::StartCall:
		if (std::optional<CallOutcome> failed = callProvision())
			return failed;
		m.waiters.push_back(std::move(done));
		return std::nullopt;
	case ActionGate::Admit::JoinInFlight:
		m.waiters.push_back(std::move(done));
		return std::nullopt;
	case ActionGate::Admit::AcceptTrailing: {
		armProvisionTrailing();
		CallOutcome outcome;
		outcome.accepted = true;
		return outcome;
	}
	case ActionGate::Admit::RecentFailure: {
		CallOutcome outcome;
		outcome.retryAfterMs = m.gate.retryAfterMs(now);
		outcome.error = "the last call failed moments ago";
		return outcome;
	}
	}
	return std::nullopt;
}

std::optional<CallOutcome> ProvisioningClient::callProvision()
{
	ProvisionMethod &m = provision_;
	CallOutcome failed;
	failed.retryAfterMs = kFailedRetryAfterMs;

	if (!bus_.get()) {
		try {
			bus_.connect();
		} catch (const std::exception &e) {
			logMessage(LogLevel::Warning, e.what());
			failed.error = "not connected";
			m.gate.finished(EventLoop::nowMs(), false);
			armProvisionTrailing();
			return failed;
		}
	}

	const ProvisionDetails &d = m.latest;
	sd_bus_message *message = nullptr;
	int r = sd_bus_message_new_method_call(bus_.get(), &message, kService, kPath, kInterface,
					       "Provision");
	if (r >= 0)
		// The keys every method carries (checksyncd(8), etc/org.checksyncd.Provisioning1.xml), and the URL:
		// no identity, and a PnP server is never authenticated.
		r = sd_bus_message_append(message, "a{sv}", 7, "url", "s", d.url.c_str(),
					  "identity", "u", 0u, "remote", "s", d.remote.c_str(),
					  "authenticated", "b", 0, "call_id", "s", d.callId.c_str(),
					  "event", "s", d.event.c_str(), "user_agent", "s",
					  d.userAgent.c_str());
	if (r >= 0)
		r = sd_bus_call_async(
			bus_.get(), &m.slot, message,
			[](sd_bus_message *reply, void *userdata, sd_bus_error *) noexcept {
				return ProvisioningClient::onProvisionReply(reply, userdata);
			},
			this, kProvisioningTimeoutMs * 1000);
	sd_bus_message_unref(message);
	if (r < 0) {
		failed.localError = true;
		failed.retryAfterMs = kActionSpacingMs;
		failed.error = "cannot send Provision: " + errnoText(r);
		logMessage(LogLevel::Error, failed.error, {{"CHECKSYNC_ACTION", "Provision"}});
		m.gate.abandoned();
		armProvisionTrailing();
		return failed;
	}
	logMessage(LogLevel::Info, "asked the provisioning process to Provision",
		   {{"CHECKSYNC_ACTION", "Provision"},
		    {"SIP_REMOTE", d.remote},
		    {"SIP_CALL_ID", d.callId}});
	return std::nullopt;
}

int ProvisioningClient::onProvisionReply(sd_bus_message *reply, void *userdata) noexcept
{
	auto *self = static_cast<ProvisioningClient *>(userdata);
	self->provision_.slot = sd_bus_slot_unref(self->provision_.slot);

	CallOutcome outcome;
	const sd_bus_error *error = sd_bus_message_get_error(reply);
	if (error) {
		outcome.retryAfterMs = kFailedRetryAfterMs;
		outcome.error = error->name ? error->name : "unknown error";
		logMessage(LogLevel::Warning,
			   "the provisioning process did not accept Provision: " + outcome.error +
				   (error->message ? std::string(" (") + error->message + ")" : ""),
			   {{"CHECKSYNC_ACTION", "Provision"}, {"DBUS_ERROR", outcome.error}});
	} else {
		outcome.accepted = true;
	}
	try {
		self->finishProvision(outcome);
	} catch (const std::exception &e) {
		logMessage(LogLevel::Error,
			   std::string("finishing a D-Bus call failed: ") + e.what());
	}
	return 0;
}

void ProvisioningClient::finishProvision(const CallOutcome &outcome)
{
	ProvisionMethod &m = provision_;
	m.gate.finished(EventLoop::nowMs(), outcome.accepted);
	std::vector<Done> waiters = std::move(m.waiters);
	m.waiters.clear();
	for (Done &done : waiters)
		done(outcome);
	armProvisionTrailing();
}

void ProvisioningClient::armProvisionTrailing()
{
	ProvisionMethod &m = provision_;
	std::optional<std::uint64_t> due = m.gate.trailingDueAt();
	if (!due || m.trailing->armed())
		return;
	std::uint64_t now = EventLoop::nowMs();
	m.trailing->arm(*due > now ? *due - now : 0, [this] {
		if (provision_.gate.startTrailing(EventLoop::nowMs()))
			(void)callProvision(); // a failure re-arms the trailing call itself
		else
			armProvisionTrailing();
	});
}

} // namespace checksyncd
