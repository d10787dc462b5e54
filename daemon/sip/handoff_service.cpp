// SPDX-License-Identifier: MIT

#include "sip/handoff_service.hpp"

#include <grp.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <type_traits>
#include <variant>

#include "base/text.hpp"
#include "loop/log.hpp"

namespace checksyncd {

namespace {

constexpr const char *kPath = "/org/checksyncd/CheckSync1";
constexpr const char *kInterface = "org.checksyncd.Handoff1";
constexpr const char *kErrorBusy = "org.checksyncd.Handoff1.Error.Busy";
constexpr const char *kErrorInvalidContext = "org.checksyncd.Handoff1.Error.InvalidContext";
constexpr const char *kErrorTooLarge = "org.checksyncd.Handoff1.Error.TooLarge";

// One entry of the context: the key, and its value if it has one of the
// types the keys use (the signature of anything else).
int readEntry(sd_bus_message *message, HandoffEntries &entries)
{
	const char *key = nullptr;
	int r = sd_bus_message_read(message, "s", &key);
	if (r < 0)
		return r;
	char type = 0;
	const char *contents = nullptr;
	r = sd_bus_message_peek_type(message, &type, &contents);
	if (r < 0)
		return r;
	if (type != SD_BUS_TYPE_VARIANT || !contents)
		return -EINVAL;
	const std::string_view signature = contents;
	HandoffValue value;
	if (signature == "s") {
		const char *text = nullptr;
		r = sd_bus_message_read(message, "v", "s", &text);
		value = std::string(text ? text : "");
	} else if (signature == "u") {
		std::uint32_t number = 0;
		r = sd_bus_message_read(message, "v", "u", &number);
		value = number;
	} else if (signature == "b") {
		int flag = 0;
		r = sd_bus_message_read(message, "v", "b", &flag);
		value = flag != 0;
	} else {
		r = sd_bus_message_skip(message, "v");
		value = OtherType{std::string(signature)};
	}
	if (r < 0)
		return r;
	entries.emplace_back(key, std::move(value));
	return 0;
}

int readContext(sd_bus_message *message, HandoffEntries &entries)
{
	int r = sd_bus_message_enter_container(message, SD_BUS_TYPE_ARRAY, "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(message, SD_BUS_TYPE_DICT_ENTRY, "sv")) > 0) {
		r = readEntry(message, entries);
		if (r >= 0)
			r = sd_bus_message_exit_container(message);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(message);
}

// The bus driver's GetConnectionCredentials answer: UnixUserID and
// UnixGroupIDs (dbus-daemon 1.11.14 and later); false when there is no uid.
bool readCredentials(sd_bus_message *reply, std::uint32_t &uid, std::vector<std::uint32_t> &groups)
{
	bool haveUid = false;
	int r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, "{sv}");
	while (r >= 0 &&
	       (r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_DICT_ENTRY, "sv")) > 0) {
		const char *key = nullptr;
		r = sd_bus_message_read(reply, "s", &key);
		if (r >= 0 && std::strcmp(key, "UnixUserID") == 0) {
			r = sd_bus_message_read(reply, "v", "u", &uid);
			haveUid = r >= 0;
		} else if (r >= 0 && std::strcmp(key, "UnixGroupIDs") == 0) {
			r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_VARIANT, "au");
			const void *data = nullptr;
			std::size_t size = 0;
			if (r >= 0)
				r = sd_bus_message_read_array(reply, 'u', &data, &size);
			if (r >= 0 && data) {
				const auto *gids = static_cast<const std::uint32_t *>(data);
				groups.assign(gids, gids + size / sizeof(std::uint32_t));
			}
			if (r >= 0)
				r = sd_bus_message_exit_container(reply);
		} else if (r >= 0) {
			r = sd_bus_message_skip(reply, "v");
		}
		if (r >= 0)
			r = sd_bus_message_exit_container(reply);
	}
	return r >= 0 && haveUid;
}

} // namespace

struct HandoffService::Callbacks {
	static const sd_bus_vtable vtable[];

	static int onHandleRequest(sd_bus_message *message, void *userdata,
				   sd_bus_error *error) noexcept
	{
		try {
			return static_cast<HandoffService *>(userdata)->receive(message, error);
		} catch (const std::bad_alloc &) {
			return -ENOMEM;
		} catch (const std::exception &e) {
			logMessage(LogLevel::Error,
				   std::string("handling a hand-over failed: ") + e.what());
			return -EIO;
		}
	}

	static int onCredentials(sd_bus_message *reply, void *userdata, sd_bus_error *) noexcept
	{
		// The call's node in calls_ (a std::map: it stays put); erasing
		// it drops the slot, and sd-bus then calls this no more.
		auto *call = static_cast<Call *>(userdata);
		try {
			call->owner->credentialsKnown(call->id, reply);
		} catch (const std::exception &e) {
			logMessage(LogLevel::Error,
				   std::string("handling a hand-over failed: ") + e.what());
		}
		return 0;
	}
};

// UNPRIVILEGED: sd-bus would otherwise look for CAP_SYS_ADMIN in the
// caller's /proc entry; the bus policy and receive() decide who may call.
const sd_bus_vtable HandoffService::Callbacks::vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD_WITH_NAMES("HandleRequest", "aya{sv}",
				 SD_BUS_PARAM(request) SD_BUS_PARAM(context), "qsa(ss)ay",
				 SD_BUS_PARAM(status) SD_BUS_PARAM(reason) SD_BUS_PARAM(headers)
					 SD_BUS_PARAM(response),
				 &HandoffService::Callbacks::onHandleRequest,
				 SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_VTABLE_END,
};

HandoffService::HandoffService(BusConnection &bus, SipService &sip, std::optional<gid_t> uaGroup)
	: bus_(bus), sip_(sip), uaGroup_(uaGroup)
{
	bus_.addClient(*this);
	if (sd_bus *connection = bus_.get())
		attach(connection);
}

HandoffService::~HandoffService()
{
	sip_.forgetHandoffs();
	bus_.removeClient(*this);
}

std::optional<gid_t> HandoffService::lookUpGroup()
{
	group entry{};
	group *found = nullptr;
	std::vector<char> buffer(4096);
	int r = 0;
	while ((r = getgrnam_r(kGroup, &entry, buffer.data(), buffer.size(), &found)) == ERANGE &&
	       buffer.size() < (1u << 20))
		buffer.resize(buffer.size() * 2);
	if (r != 0 || !found)
		return std::nullopt;
	return found->gr_gid;
}

void HandoffService::attach(sd_bus *bus)
{
	sd_bus_slot *slot = nullptr;
	int r = sd_bus_add_object_vtable(bus, &slot, kPath, kInterface, Callbacks::vtable, this);
	object_.reset(slot);
	if (r < 0)
		logMessage(LogLevel::Error, std::string("cannot export ") + kInterface + " on " +
						    kPath + ": " + errnoText(r));
}

void HandoffService::busConnected(sd_bus *bus)
{
	attach(bus);
}

void HandoffService::busLost()
{
	// Nobody to answer any more; a new bus may hand out the same unique
	// names again.
	object_.reset();
	calls_.clear();
	callers_.clear();
}

int HandoffService::receive(sd_bus_message *message, sd_bus_error *error)
{
	if (calls_.size() >= kMaxInFlight)
		return sd_bus_error_setf(error, kErrorBusy,
					 "%zu hand-overs are in flight already (answer 503)",
					 calls_.size());
	const void *data = nullptr;
	std::size_t size = 0;
	int r = sd_bus_message_read_array(message, 'y', &data, &size);
	if (r < 0)
		return r;
	if (size > SipService::kMaxRequestBytes)
		return sd_bus_error_setf(error, kErrorTooLarge,
					 "the request has %zu bytes; at most %zu are taken "
					 "(answer 413)",
					 size, SipService::kMaxRequestBytes);
	HandoffEntries entries;
	r = readContext(message, entries);
	if (r < 0)
		return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
					"the context is not an a{sv} of key and value");
	std::variant<HandoffContext, HandoffContextError> context = readHandoffContext(entries);
	if (const auto *bad = std::get_if<HandoffContextError>(&context))
		return sd_bus_error_set(error, kErrorInvalidContext, bad->toString().c_str());

	const std::uint64_t id = nextId_++;
	Call &call = calls_[id];
	call.owner = this;
	call.id = id;
	call.message.reset(sd_bus_message_ref(message));
	const auto *bytes = static_cast<const std::uint8_t *>(data);
	call.request.assign(bytes, bytes + size);
	call.context = std::move(std::get<HandoffContext>(context));

	const char *sender = sd_bus_message_get_sender(message);
	if (sender) {
		if (auto known = callers_.find(sender); known != callers_.end()) {
			if (known->second)
				dispatch(id);
			else
				refuse(id, SD_BUS_ERROR_ACCESS_DENIED,
				       "only root and the group checksyncd-ua may hand requests "
				       "over");
			return 1;
		}
	}
	// Ask the bus driver who the caller is, without blocking the loop.
	sd_bus_slot *slot = nullptr;
	r = sender ? sd_bus_call_method_async(sd_bus_message_get_bus(message), &slot,
					      "org.freedesktop.DBus", "/org/freedesktop/DBus",
					      "org.freedesktop.DBus", "GetConnectionCredentials",
					      &Callbacks::onCredentials, &call, "s", sender)
		   : -ENOTCONN;
	call.credentials.reset(slot);
	if (r < 0) {
		calls_.erase(id);
		return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED,
					"cannot tell who the caller is");
	}
	return 1;
}

void HandoffService::credentialsKnown(std::uint64_t id, sd_bus_message *reply)
{
	auto it = calls_.find(id);
	if (it == calls_.end())
		return;
	Call &call = it->second;
	std::uint32_t uid = 0;
	std::vector<std::uint32_t> groups;
	const bool known = !sd_bus_message_is_method_error(reply, nullptr) &&
			   readCredentials(reply, uid, groups);
	const bool allowed = known && mayHandOver(uid, groups, uaGroup_);
	const char *sender = sd_bus_message_get_sender(call.message.get());
	if (known && sender) {
		if (callers_.size() >= kMaxKnownCallers)
			callers_.clear();
		callers_[sender] = allowed;
	}
	if (!allowed) {
		logMessage(
			LogLevel::Warning,
			"refused a hand-over from " +
				(known ? "uid " + std::to_string(uid) : std::string("a caller")) +
				": only root and the group " + kGroup + " may hand requests over");
		refuse(id, SD_BUS_ERROR_ACCESS_DENIED,
		       "only root and the group checksyncd-ua may hand requests over");
		return;
	}
	call.credentials.reset();
	dispatch(id);
}

void HandoffService::dispatch(std::uint64_t id)
{
	Call &call = calls_.at(id);
	HandoffResult result = sip_.handOver(
		call.request, call.context,
		[this, id](const HandoffAnswer &later) { answer(id, later); });
	std::visit(
		[&](auto &&value) {
			using T = std::decay_t<decltype(value)>;
			if constexpr (std::is_same_v<T, HandoffAnswer>)
				answer(id, value);
			else if constexpr (std::is_same_v<T, HandoffRefusal>)
				refuse(id, value.error, value.message);
		},
		result);
}

void HandoffService::answer(std::uint64_t id, const HandoffAnswer &answer)
{
	auto it = calls_.find(id);
	if (it == calls_.end())
		return;
	const UniqueBusMessage message = std::move(it->second.message);
	calls_.erase(it);

	sd_bus_message *made = nullptr;
	int r = sd_bus_message_new_method_return(message.get(), &made);
	const UniqueBusMessage reply(made);
	if (r >= 0)
		r = sd_bus_message_append(reply.get(), "qs",
					  static_cast<std::uint16_t>(answer.status),
					  toValidUtf8(answer.reason, 256).c_str());
	if (r >= 0)
		r = sd_bus_message_open_container(reply.get(), SD_BUS_TYPE_ARRAY, "(ss)");
	for (const auto &[name, value] : answer.headers)
		if (r >= 0)
			r = sd_bus_message_append(
				reply.get(), "(ss)", name.c_str(),
				toValidUtf8(value, SipService::kMaxRequestBytes).c_str());
	if (r >= 0)
		r = sd_bus_message_close_container(reply.get());
	if (r >= 0)
		r = sd_bus_message_append_array(reply.get(), 'y', answer.response.data(),
						answer.response.size());
	if (r >= 0)
		r = sd_bus_send(nullptr, reply.get(), nullptr);
	if (r < 0)
		logMessage(LogLevel::Warning,
			   std::string("cannot answer a hand-over: ") + errnoText(r));
}

void HandoffService::refuse(std::uint64_t id, const char *name, const std::string &message)
{
	auto it = calls_.find(id);
	if (it == calls_.end())
		return;
	const UniqueBusMessage call = std::move(it->second.message);
	calls_.erase(it);
	int r = sd_bus_reply_method_errorf(call.get(), name, "%s", message.c_str());
	if (r < 0)
		logMessage(LogLevel::Warning,
			   std::string("cannot answer a hand-over: ") + errnoText(r));
}

} // namespace checksyncd
