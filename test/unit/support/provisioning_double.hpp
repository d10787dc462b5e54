// SPDX-License-Identifier: MIT
//
// The provisioning process as a test double (org.checksyncd.Provisioning1
// on a private dbus-daemon), hosted in the test's own su_root as the daemon
// hosts its bus (fd watch, events before each poll): it records every call
// and answers, fails, or holds it unanswered, as a test says, and
// broadcasts ActionFinished when told. Shared by the tests of the D-Bus
// client, of the SIP side, of plug and play and of the status object.

#pragma once

#include <poll.h>
#include <systemd/sd-bus.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "loop/loop.hpp"
#include "loop/sdbus.hpp"

namespace checksyncd::test {

// DESIGN.md's names written out again, not taken from
// provisioning_client.hpp: the double holds the daemon to the contract.
inline constexpr const char *kProvisioningService = "org.checksyncd.Provisioning1";
inline constexpr const char *kProvisioningPath = "/org/checksyncd/Provisioning1";
inline constexpr const char *kProvisioningInterface = "org.checksyncd.Provisioning1";
inline constexpr const char *kProvisioningFailed = "org.checksyncd.Provisioning1.Error.Failed";

// The provisioning process, as the tests want it to behave.
class ProvisioningDouble
{
public:
	enum class Answer {
		Accept,
		Fail,
		Hold
	};

	struct Call {
		std::string method;
		std::uint32_t identity = 0;
		std::string remote;
		bool authenticated = false;
		std::string callId;
		std::string event;
		std::string userAgent;
		std::optional<std::string> kind; // a Reboot's, when it carries one
		std::string url;                 // a Provision's
	};

	explicit ProvisioningDouble(EventLoop &loop) : loop_(loop)
	{
		prepoll_ = loop_.addPrepoll([this] {
			if (!watch_)
				return;
			const int events = sd_bus_get_events(bus_.get());
			if (events >= 0)
				watch_->setEvents(events);
		});
	}
	~ProvisioningDouble() { disconnect(); }
	ProvisioningDouble(const ProvisioningDouble &) = delete;
	ProvisioningDouble &operator=(const ProvisioningDouble &) = delete;

	// Connect, own the name and export the object; empty on success.
	std::string connect(const std::string &address)
	{
		disconnect();
		sd_bus *bus = nullptr;
		int r = sd_bus_new(&bus);
		bus_.reset(bus);
		if (r >= 0)
			r = sd_bus_set_address(bus, address.c_str());
		if (r >= 0)
			r = sd_bus_set_bus_client(bus, 1);
		if (r >= 0)
			r = sd_bus_start(bus);
		sd_bus_slot *object = nullptr;
		if (r >= 0)
			r = sd_bus_add_object_vtable(bus, &object, kProvisioningPath,
						     kProvisioningInterface, kVtable, this);
		object_.reset(object);
		if (r >= 0)
			r = sd_bus_request_name(bus, kProvisioningService, 0);
		if (r < 0) {
			disconnect();
			return "the provisioning double cannot serve: " +
			       std::string(std::strerror(-r));
		}
		watch_ = std::make_unique<FdWatch>(loop_, sd_bus_get_fd(bus), POLLIN,
						   [this](int) { process(); });
		// What the synchronous calls above read and left queued (the
		// NameAcquired signal): sd-bus asks for no POLLIN while its queue
		// holds a message. The double makes no call of its own after
		// this, so it needs no timer from sd_bus_get_timeout().
		process();
		return {};
	}

	// Hang, as a provisioning process stuck elsewhere: keep the name and
	// read nothing more, so that nothing it receives wakes the loop.
	void hang() { watch_.reset(); }

	enum class Reply : bool {
		Success,
		Failure, // kProvisioningFailed
	};
	// Answer every held call.
	void answerHeld(Reply reply)
	{
		for (const UniqueBusMessage &m : held_) {
			if (reply == Reply::Success)
				(void)sd_bus_reply_method_return(m.get(), "");
			else
				(void)sd_bus_reply_method_errorf(m.get(), kProvisioningFailed,
								 "told to fail");
		}
		held_.clear();
	}

	// Broadcast ActionFinished(action, call_id, success, message), as the
	// provisioning process does when an action has ended; false when it
	// could not be sent.
	bool emitActionFinished(const char *action, const char *callId, bool success,
				const char *message)
	{
		return bus_ &&
		       sd_bus_emit_signal(bus_.get(), kProvisioningPath, kProvisioningInterface,
					  "ActionFinished", "ssbs", action, callId,
					  static_cast<int>(success), message) >= 0;
	}

	Answer answer = Answer::Accept;
	std::vector<Call> calls;
	std::size_t held() const { return held_.size(); }

private:
	void process()
	{
		while (bus_) {
			const int r = sd_bus_process(bus_.get(), nullptr);
			if (r < 0)
				disconnect(); // the bus went away
			if (r <= 0)
				return;
		}
	}

	void disconnect()
	{
		held_.clear();
		watch_.reset();
		object_.reset();
		bus_.reset();
	}

	static int onMethod(sd_bus_message *m, void *userdata, sd_bus_error *) noexcept
	{
		auto *self = static_cast<ProvisioningDouble *>(userdata);
		Call call;
		call.method = sd_bus_message_get_member(m);
		int r = sd_bus_message_enter_container(m, 'a', "{sv}");
		while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
			const char *key = nullptr;
			const char *text = nullptr;
			int flag = 0;
			r = sd_bus_message_read(m, "s", &key);
			const std::string name = r >= 0 ? key : "";
			if (r < 0)
				break;
			if (name == "identity")
				r = sd_bus_message_read(m, "v", "u", &call.identity);
			else if (name == "authenticated")
				r = sd_bus_message_read(m, "v", "b", &flag),
				call.authenticated = flag;
			else
				r = sd_bus_message_read(m, "v", "s", &text);
			if (r >= 0 && text) {
				if (name == "remote")
					call.remote = text;
				else if (name == "call_id")
					call.callId = text;
				else if (name == "event")
					call.event = text;
				else if (name == "user_agent")
					call.userAgent = text;
				else if (name == "kind")
					call.kind = text;
				else if (name == "url")
					call.url = text;
			}
			if (r >= 0)
				r = sd_bus_message_exit_container(m);
		}
		if (r < 0)
			return r; // sd-bus answers the caller with the error
		(void)sd_bus_message_exit_container(m);
		self->calls.push_back(std::move(call));

		switch (self->answer) {
		case Answer::Accept:
			return sd_bus_reply_method_return(m, "");
		case Answer::Fail:
			return sd_bus_reply_method_errorf(m, kProvisioningFailed, "told to fail");
		case Answer::Hold:
			self->held_.emplace_back(sd_bus_message_ref(m));
			return 1;
		}
		return 0;
	}

	static const sd_bus_vtable kVtable[];

	EventLoop &loop_;
	UniqueBus bus_;
	UniqueSlot object_;
	std::unique_ptr<FdWatch> watch_;
	std::vector<UniqueBusMessage> held_;
	PrepollHook prepoll_;
};

inline const sd_bus_vtable ProvisioningDouble::kVtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("Resync", "a{sv}", "", &ProvisioningDouble::onMethod, 0),
	SD_BUS_METHOD("Reboot", "a{sv}", "", &ProvisioningDouble::onMethod, 0),
	SD_BUS_METHOD("Reregister", "a{sv}", "", &ProvisioningDouble::onMethod, 0),
	SD_BUS_METHOD("DeleteContacts", "a{sv}", "", &ProvisioningDouble::onMethod, 0),
	SD_BUS_METHOD("FactoryReset", "a{sv}", "", &ProvisioningDouble::onMethod, 0),
	SD_BUS_METHOD("Report", "a{sv}", "", &ProvisioningDouble::onMethod, 0),
	SD_BUS_METHOD("Provision", "a{sv}", "", &ProvisioningDouble::onMethod, 0),
	SD_BUS_VTABLE_END,
};

} // namespace checksyncd::test
