// SPDX-License-Identifier: MIT

#include "provisioning/provisioning_client.hpp"

#include <systemd/sd-bus.h>

#include <stdexcept>
#include <string>

#include "base/text.hpp"
#include "loop/log.hpp"

namespace checksyncd {

std::string failureText(const CallOutcome &outcome)
{
	return outcome.error + (outcome.detail.empty() ? "" : " (" + outcome.detail + ")");
}

ProvisioningClient::ProvisioningClient(EventLoop &loop, BusConnection &bus)
	: bus_(bus), resync_(loop, bus, "Resync", GatedMethod::Carries::Details),
	  reboot_(loop, bus, "Reboot", GatedMethod::Carries::Details),
	  reregister_(loop, bus, "Reregister", GatedMethod::Carries::Details),
	  deleteContacts_(loop, bus, "DeleteContacts", GatedMethod::Carries::Details),
	  factoryReset_(loop, bus, "FactoryReset", GatedMethod::Carries::Details),
	  report_(loop, bus, "Report", GatedMethod::Carries::Details),
	  provision_(loop, bus, "Provision", GatedMethod::Carries::DetailsAndUrl)
{
	bus_.addClient(*this);
}

ProvisioningClient::GatedMethod &ProvisioningClient::method(Action action)
{
	switch (action) {
	case Action::Resync:
		return resync_;
	case Action::Reboot:
		break;
	case Action::Reregister:
		return reregister_;
	case Action::DeleteContacts:
		return deleteContacts_;
	case Action::FactoryReset:
		return factoryReset_;
	case Action::Report:
		return report_;
	}
	return reboot_;
}

ProvisioningClient::~ProvisioningClient()
{
	bus_.removeClient(*this);
}

void ProvisioningClient::busLost()
{
	for (GatedMethod *m : {&resync_, &reboot_, &reregister_, &deleteContacts_, &factoryReset_,
			       &report_, &provision_})
		m->busLost();
}

std::optional<CallOutcome>
ProvisioningClient::submit(Action action, std::shared_ptr<const CheckSyncFacts> facts, Done done)
{
	return method(action).request(std::move(facts), {}, std::move(done));
}

std::optional<CallOutcome> ProvisioningClient::provision(ProvisionDetails details, Done done)
{
	// The keys every method carries, and the URL: no identity, and a PnP
	// server is never authenticated.
	auto call = std::make_shared<CheckSyncFacts>();
	call->remote = std::move(details.remote);
	call->callId = std::move(details.callId);
	call->event = std::move(details.event);
	call->userAgent = std::move(details.userAgent);
	return provision_.request(std::move(call), std::move(details.url), std::move(done));
}

ProvisioningClient::GatedMethod::GatedMethod(EventLoop &loop, BusConnection &bus,
					     const char *member, Carries carries)
	: bus_(bus), member_(member), carries_(carries), trailing_(loop)
{
}

void ProvisioningClient::GatedMethod::busLost()
{
	if (!inFlight_)
		return;
	inFlight_.reset();
	CallOutcome outcome;
	outcome.retryAfterMs = kFailedRetryAfterMs;
	outcome.error = "org.freedesktop.DBus.Error.Disconnected";
	outcome.result = CallResult::Refused;
	finish(outcome);
}

std::optional<CallOutcome>
ProvisioningClient::GatedMethod::request(std::shared_ptr<const CheckSyncFacts> facts,
					 std::string url, Done done)
{
	latest_ = std::move(facts);
	url_ = std::move(url);
	const std::uint64_t now = EventLoop::nowMs();

	// Requests waiting for the call in flight each hold a server
	// transaction; beyond a few, a request is answered at once and covered
	// by the trailing call instead.
	const ActionGate::Waiters room = waiters_.size() < kMaxWaiters ? ActionGate::Waiters::Room
								       : ActionGate::Waiters::Full;
	switch (gate_.request(now, room)) {
	case ActionGate::Admit::StartCall:
		if (std::optional<CallOutcome> failed = call())
			return failed;
		waiters_.push_back(std::move(done));
		return std::nullopt;
	case ActionGate::Admit::JoinInFlight:
		waiters_.push_back(std::move(done));
		return std::nullopt;
	case ActionGate::Admit::AcceptTrailing: {
		armTrailing();
		CallOutcome outcome;
		outcome.result = CallResult::Accepted;
		return outcome;
	}
	case ActionGate::Admit::RecentFailure: {
		CallOutcome outcome;
		outcome.retryAfterMs = gate_.retryAfterMs(now);
		outcome.error = "the last call failed moments ago";
		return outcome;
	}
	}
	return std::nullopt;
}

std::optional<CallOutcome> ProvisioningClient::GatedMethod::call()
{
	CallOutcome failed;
	failed.retryAfterMs = kFailedRetryAfterMs;

	if (!bus_.get()) {
		try {
			bus_.connect();
		} catch (const std::exception &e) {
			// The provisioning process's bus is gone: that is a failure
			// of provisioning, answered 503 like a failed call.
			failed.error = "not connected";
			failed.detail = e.what();
			gate_.finished(EventLoop::nowMs(), ActionGate::Outcome::Failed);
			armTrailing();
			return failed;
		}
	}

	const CheckSyncFacts &d = *latest_;
	sd_bus_message *created = nullptr;
	int r = sd_bus_message_new_method_call(bus_.get(), &created, kProvisioningService,
					       kProvisioningPath, kProvisioningInterface, member_);
	const UniqueBusMessage message(created);
	// Every method carries the same six keys; Provision also the URL, a
	// Reboot its kind when the request named one.
	sd_bus_message *m = message.get();
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'a', "{sv}");
	if (r >= 0 && carries_ == Carries::DetailsAndUrl)
		r = sd_bus_message_append(m, "{sv}", "url", "s", url_.c_str());
	if (r >= 0)
		r = sd_bus_message_append(m, "{sv}{sv}{sv}{sv}{sv}{sv}", "identity", "u",
					  d.identity, "remote", "s", d.remote.c_str(),
					  "authenticated", "b", static_cast<int>(d.authenticated),
					  "call_id", "s", d.callId.c_str(), "event", "s",
					  d.event.c_str(), "user_agent", "s", d.userAgent.c_str());
	if (r >= 0 && d.rebootKind != RebootKind::Unspecified)
		r = sd_bus_message_append(m, "{sv}", "kind", "s",
					  std::string(rebootKindName(d.rebootKind)).c_str());
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	sd_bus_slot *slot = nullptr;
	if (r >= 0)
		r = sd_bus_call_async(
			bus_.get(), &slot, message.get(),
			[](sd_bus_message *reply, void *userdata, sd_bus_error *) noexcept {
				return GatedMethod::onReply(reply, userdata);
			},
			this, kProvisioningTimeoutMs * 1000);
	inFlight_.reset(slot);
	if (r < 0) {
		// Built or sent nowhere: a fault of ours, not of the provisioning
		// process. The gate is not poisoned and what was asked stays
		// owed to the trailing call.
		failed.result = CallResult::LocalError;
		failed.retryAfterMs = kActionSpacingMs;
		failed.error = "cannot send: " + errnoText(r);
		gate_.abandoned();
		armTrailing();
		return failed;
	}
	logMessage(LogLevel::Info, "asked the provisioning process to " + std::string(member_),
		   {{"CHECKSYNC_ACTION", member_},
		    {"SIP_REMOTE", d.remote},
		    {"SIP_CALL_ID", d.callId}});
	return std::nullopt;
}

int ProvisioningClient::GatedMethod::onReply(sd_bus_message *reply, void *userdata) noexcept
{
	auto &self = *static_cast<GatedMethod *>(userdata);
	try {
		// The slot is released from inside its own callback: sd-bus
		// allows that, and holds the message until we return.
		self.inFlight_.reset();
		CallOutcome outcome;
		if (const sd_bus_error *error = sd_bus_message_get_error(reply)) {
			outcome.retryAfterMs = kFailedRetryAfterMs;
			outcome.error = error->name ? error->name : "unknown error";
			outcome.result = error->name ? CallResult::Refused
						     : CallResult::Unavailable;
			outcome.detail = error->message ? error->message : "";
		} else {
			outcome.result = CallResult::Accepted;
		}
		self.finish(outcome);
	} catch (const std::exception &e) {
		logMessage(LogLevel::Error,
			   std::string("finishing a D-Bus call failed: ") + e.what());
	}
	return 0;
}

void ProvisioningClient::GatedMethod::finish(const CallOutcome &outcome)
{
	gate_.finished(EventLoop::nowMs(), outcome.accepted() ? ActionGate::Outcome::Accepted
							      : ActionGate::Outcome::Failed);
	std::vector<Done> waiters = std::move(waiters_);
	waiters_.clear();
	if (waiters.empty())
		logUnheard(outcome);
	for (Done &done : waiters)
		done(outcome);
	armTrailing();
}

void ProvisioningClient::GatedMethod::armTrailing()
{
	std::optional<std::uint64_t> due = gate_.trailingDueAt();
	if (!due || trailing_.armed())
		return;
	const std::uint64_t now = EventLoop::nowMs();
	trailing_.arm(*due > now ? *due - now : 0, [this] {
		if (!gate_.startTrailing(EventLoop::nowMs()))
			armTrailing();
		else if (std::optional<CallOutcome> failed = call())
			logUnheard(*failed); // call() has re-armed the trailing call
	});
}

// The outcome of a trailing call, which no request waits for: logged here,
// as nobody else hears it. Success was logged when the call went out.
void ProvisioningClient::GatedMethod::logUnheard(const CallOutcome &outcome) const
{
	if (outcome.accepted())
		return;
	const LogLevel level = outcome.result == CallResult::LocalError ? LogLevel::Error
									: LogLevel::Warning;
	if (outcome.busError())
		logMessage(level,
			   "the provisioning process did not accept " + std::string(member_) +
				   ": " + failureText(outcome),
			   {{"CHECKSYNC_ACTION", member_}, {"DBUS_ERROR", outcome.error}});
	else
		logMessage(level,
			   "could not ask the provisioning process to " + std::string(member_) +
				   ": " + failureText(outcome),
			   {{"CHECKSYNC_ACTION", member_}});
}

} // namespace checksyncd
