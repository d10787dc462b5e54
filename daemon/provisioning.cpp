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
	const char *members[] = {"Resync", "Reboot", "Provision"};
	for (std::size_t i = 0; i < methods_.size(); i++) {
		Method &m = methods_[i];
		m.owner = this;
		m.member = members[i];
		m.trailing = std::make_unique<Timer>(loop);
	}
	bus_.addClient(*this);
}

ProvisioningClient::~ProvisioningClient()
{
	bus_.removeClient(*this);
	for (Method &m : methods_)
		m.slot = sd_bus_slot_unref(m.slot);
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
}

std::optional<CallOutcome> ProvisioningClient::submit(Action action, CallDetails details, Done done)
{
	Method &m = method(action);
	m.latest = std::move(details);
	return admit(m, std::move(done));
}

std::optional<CallOutcome> ProvisioningClient::provision(ProvisionDetails details, Done done)
{
	// The keys every method carries, and the URL: no identity, and a PnP
	// server is never authenticated.
	Method &m = provisionMethod();
	m.latest = CallDetails{0,
			       std::move(details.remote),
			       false,
			       std::move(details.callId),
			       std::move(details.event),
			       std::move(details.userAgent)};
	m.url = std::move(details.url);
	return admit(m, std::move(done));
}

std::optional<CallOutcome> ProvisioningClient::admit(Method &m, Done done)
{
	std::uint64_t now = EventLoop::nowMs();

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

	const std::string member(m.member);
	const CallDetails &d = m.latest;
	sd_bus_message *message = nullptr;
	int r = sd_bus_message_new_method_call(bus_.get(), &message, kService, kPath, kInterface,
					       member.c_str());
	// Every method carries the same six keys; Provision also the URL.
	if (r >= 0 && &m == &provisionMethod())
		r = sd_bus_message_append(
			message, "a{sv}", 7, "url", "s", m.url.c_str(), "identity", "u", d.identity,
			"remote", "s", d.remote.c_str(), "authenticated", "b",
			static_cast<int>(d.authenticated), "call_id", "s", d.callId.c_str(),
			"event", "s", d.event.c_str(), "user_agent", "s", d.userAgent.c_str());
	else if (r >= 0)
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
			   "the provisioning process did not accept " + std::string(m.member) +
				   ": " + outcome.error +
				   (error->message ? std::string(" (") + error->message + ")" : ""),
			   {{"CHECKSYNC_ACTION", m.member}, {"DBUS_ERROR", outcome.error}});
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

} // namespace checksyncd
