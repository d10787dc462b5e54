// SPDX-License-Identifier: MIT

#include "handoff_client.hpp"

#include <exception>
#include <utility>

#include "base/text.hpp"
#include "loop/log.hpp"

namespace checksyncd::nua {

namespace {

// What a context string may carry: checksyncd takes at most 256 bytes of
// valid UTF-8 (a host name, a Call-ID).
constexpr std::size_t kMaxContextText = 256;

int appendContext(sd_bus_message *message, const HandoffContext &context)
{
	int r = sd_bus_message_open_container(message, 'a', "{sv}");
	const auto text = [&](const char *key, const std::string &value) {
		if (r >= 0)
			r = sd_bus_message_append(message, "{sv}", key, "s",
						  toValidUtf8(value, kMaxContextText).c_str());
	};
	const auto flag = [&](const char *key, bool value) {
		if (r >= 0)
			r = sd_bus_message_append(message, "{sv}", key, "b",
						  static_cast<int>(value));
	};
	text("transport", std::string(transportName(context.transport)));
	text("remote", context.remote);
	if (r >= 0)
		r = sd_bus_message_append(message, "{sv}", "identity", "u", context.identity);
	flag("registrar_flow", context.registrarFlow);
	if (context.transport == SipTransport::Tls)
		flag("tls_peer_verified", context.tlsPeerVerified);
	if (!context.tlsPeerName.empty())
		text("tls_peer_name", context.tlsPeerName);
	if (!context.registerCallId.empty())
		text("register_call_id", context.registerCallId);
	if (r >= 0)
		r = sd_bus_message_close_container(message);
	return r;
}

// (q status, s reason, a(ss) headers, ay response): the response bytes are
// for a UA that forwards raw messages; this one answers in its own
// transaction and skips them.
int readAnswer(sd_bus_message *reply, HandoffAnswer &answer)
{
	const char *reason = nullptr;
	int r = sd_bus_message_read(reply, "qs", &answer.status, &reason);
	if (r < 0)
		return r;
	answer.reason = reason ? reason : "";
	r = sd_bus_message_enter_container(reply, 'a', "(ss)");
	if (r < 0)
		return r;
	for (;;) {
		const char *name = nullptr;
		const char *value = nullptr;
		r = sd_bus_message_read(reply, "(ss)", &name, &value);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		answer.headers.emplace_back(name, value);
	}
	r = sd_bus_message_exit_container(reply);
	if (r < 0)
		return r;
	return sd_bus_message_skip(reply, "ay");
}

} // namespace

std::string failureText(const HandoffFailure &failure)
{
	if (failure.error.empty())
		return failure.message;
	return failure.error + (failure.message.empty() ? "" : " (" + failure.message + ")");
}

HandoffCall::HandoffCall(HandoffClient &client, Done done) : client_(client), done_(std::move(done))
{
	client_.calls_.push_back(this);
}

HandoffCall::~HandoffCall()
{
	std::erase(client_.calls_, this);
}

int HandoffCall::onReply(sd_bus_message *reply, void *userdata, sd_bus_error *) noexcept
{
	auto &call = *static_cast<HandoffCall *>(userdata);
	try {
		if (const sd_bus_error *error = sd_bus_message_get_error(reply)) {
			call.finish(HandoffFailure{error->name ? error->name : "",
						   error->message ? error->message : ""});
			return 0;
		}
		HandoffAnswer answer;
		const int r = readAnswer(reply, answer);
		if (r < 0)
			call.finish(HandoffFailure{{},
						   "checksyncd's answer does not read as "
						   "(qsa(ss)ay): " +
							   errnoText(r)});
		else
			call.finish(answer);
	} catch (const std::exception &e) {
		logMessage(LogLevel::Error,
			   std::string("finishing a hand-over failed: ") + e.what());
	}
	return 0;
}

void HandoffCall::finish(const HandoffResult &result)
{
	// The slot is released from inside its own callback: sd-bus allows
	// that, and holds the message until we return.
	slot_.reset();
	std::erase(client_.calls_, this);
	Done done = std::move(done_);
	done_ = nullptr;
	if (done)
		done(result);
}

HandoffClient::HandoffClient(BusConnection &bus) : bus_(bus)
{
	bus_.addClient(*this);
}

HandoffClient::~HandoffClient()
{
	bus_.removeClient(*this);
}

std::variant<std::unique_ptr<HandoffCall>, HandoffFailure>
HandoffClient::handOver(std::string_view request, const HandoffContext &context, Done done)
{
	if (calls_.size() >= kMaxInFlight)
		return HandoffFailure{{}, std::to_string(kMaxInFlight) + " hand-overs in flight"};
	if (!bus_.get()) {
		try {
			bus_.connect();
		} catch (const std::exception &e) {
			return HandoffFailure{{}, e.what()};
		}
	}

	sd_bus_message *created = nullptr;
	int r = sd_bus_message_new_method_call(bus_.get(), &created, kHandoffService, kHandoffPath,
					       kHandoffInterface, "HandleRequest");
	const UniqueBusMessage message(created);
	if (r >= 0)
		r = sd_bus_message_append_array(message.get(), 'y', request.data(), request.size());
	if (r >= 0)
		r = appendContext(message.get(), context);
	if (r < 0)
		return HandoffFailure{{}, "cannot build the call: " + errnoText(r)};

	std::unique_ptr<HandoffCall> call(new HandoffCall(*this, std::move(done)));
	sd_bus_slot *slot = nullptr;
	r = sd_bus_call_async(bus_.get(), &slot, message.get(), &HandoffCall::onReply, call.get(),
			      kTimeoutMs * 1000);
	call->slot_.reset(slot);
	if (r < 0)
		return HandoffFailure{{}, "cannot send the call: " + errnoText(r)};
	return call;
}

void HandoffClient::busLost()
{
	// Each call leaves the list as it finishes; its `done` may end others.
	while (!calls_.empty())
		calls_.front()->finish(HandoffFailure{{}, "the connection to the bus was lost"});
}

} // namespace checksyncd::nua
