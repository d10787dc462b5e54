// SPDX-License-Identifier: MIT

#include "status/status_service.hpp"

#include <systemd/sd-bus.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "base/text.hpp"
#include "loop/log.hpp"
#include "provisioning/provisioning_client.hpp"

namespace checksyncd {

namespace {

constexpr const char *kService = "org.checksyncd.CheckSync1";
constexpr const char *kPath = "/org/checksyncd/CheckSync1";
constexpr const char *kInterface = "org.checksyncd.CheckSync1";
constexpr const char *kErrorNotLockedOut = "org.checksyncd.CheckSync1.Error.NotLockedOut";

// What of the provisioning process's ActionFinished goes into the log.
constexpr std::size_t kMaxActionBytes = 64;

std::uint64_t realtimeUs()
{
	timespec ts{};
	clock_gettime(CLOCK_REALTIME, &ts);
	return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u +
	       static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

// sd-bus wants C strings; the model's keys are string_views of literals.
int appendEntry(sd_bus_message *reply, std::string_view key, std::uint64_t value)
{
	std::string name(key);
	return sd_bus_message_append(reply, "{st}", name.c_str(), value);
}

int appendStrings(sd_bus_message *reply, const std::vector<std::string> &values)
{
	int r = sd_bus_message_open_container(reply, 'a', "s");
	for (const std::string &value : values)
		if (r >= 0)
			r = sd_bus_message_append(reply, "s", value.c_str());
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

int appendCounters(sd_bus_message *reply, const Counters &counters)
{
	int r = sd_bus_message_open_container(reply, 'a', "{st}");
	for (const auto &[key, value] : counterEntries(counters))
		if (r >= 0)
			r = appendEntry(reply, key, value);
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

// Each source with the end of its lock, CLOCK_REALTIME microseconds.
int appendLockouts(sd_bus_message *reply, const std::vector<Lockout> &lockouts)
{
	std::uint64_t nowMs = EventLoop::nowMs();
	std::uint64_t nowUs = realtimeUs();
	int r = sd_bus_message_open_container(reply, 'a', "{st}");
	for (const Lockout &lockout : lockouts)
		if (r >= 0)
			r = appendEntry(reply, lockout.source,
					realtimeUsOf(lockout.untilMs, nowMs, nowUs));
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

// Empty until the first check-sync; the result keys once it arrived.
int appendLastCheckSync(sd_bus_message *reply, const LastCheckSync &last)
{
	int r = sd_bus_message_open_container(reply, 'a', "{sv}");
	if (r >= 0 && last.seen)
		r = sd_bus_message_append(
			reply, "{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}", "time", "t",
			last.timeUs, "remote", "s", last.remote.c_str(), "transport", "s",
			last.transport.c_str(), "handed_over", "b",
			static_cast<int>(last.handedOver), "identity", "u", last.identity, "event",
			"s", last.event.c_str(), "action", "s", last.action.c_str(),
			"authenticated", "b", static_cast<int>(last.authenticated), "call_id", "s",
			last.callId.c_str(), "sip_status", "u", last.sipStatus, "provisioning", "s",
			std::string(provisioningName(last.provisioning)).c_str(),
			"provisioning_error", "s", last.provisioningError.c_str());
	if (r >= 0 && last.seen && last.result)
		r = sd_bus_message_append(reply, "{sv}{sv}{sv}", "result", "s",
					  last.result->success ? "success" : "failure",
					  "result_message", "s", last.result->message.c_str(),
					  "result_time", "t", last.result->timeUs);
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

// Plug and play: its state, last server and last URL handed over, and the
// datagrams it dropped as not from a round's link.
int appendPlugAndPlay(sd_bus_message *reply, const PlugAndPlayStatus &pnp)
{
	return sd_bus_message_append(
		reply, "a{sv}", 4, "state", "s", std::string(pnpStateName(pnp.state)).c_str(),
		"last_server", "s", pnp.lastServer.c_str(), "last_url", "s", pnp.lastUrl.c_str(),
		"dropped_off_link", "t", pnp.droppedOffLink);
}

} // namespace

struct StatusService::Callbacks {
	static const sd_bus_vtable vtable[];

	static int getProperty(sd_bus *bus, const char *path, const char *interface,
			       const char *property, sd_bus_message *reply, void *userdata,
			       sd_bus_error *error) noexcept;
	static int onUnlock(sd_bus_message *call, void *userdata, sd_bus_error *error) noexcept;
	static int onActionFinished(sd_bus_message *signal, void *userdata,
				    sd_bus_error *error) noexcept;
	static int onNameReply(sd_bus_message *reply, void *userdata, sd_bus_error *error) noexcept;
	static int onMatchReply(sd_bus_message *reply, void *userdata,
				sd_bus_error *error) noexcept;

	static int appendProperty(StatusService &self, std::string_view property,
				  sd_bus_message *reply);
	static int unlock(StatusService &self, sd_bus_message *call, sd_bus_error *error);
	static void actionFinished(StatusService &self, sd_bus_message *signal);
};

#define CHECKSYNCD_PROPERTY(name, signature)                                                       \
	SD_BUS_PROPERTY(name, signature, &StatusService::Callbacks::getProperty, 0,                \
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE)

// Unlock is UNPRIVILEGED for sd-bus, which would otherwise look for
// CAP_SYS_ADMIN in the caller's /proc entry (hidden from this sandbox):
// the bus policy admits root only, and unlock() checks the uid itself.
const sd_bus_vtable StatusService::Callbacks::vtable[] = {
	SD_BUS_VTABLE_START(0),
	CHECKSYNCD_PROPERTY("State", "s"),
	CHECKSYNCD_PROPERTY("SettingsFile", "s"),
	CHECKSYNCD_PROPERTY("SettingsError", "s"),
	CHECKSYNCD_PROPERTY("Listening", "as"),
	CHECKSYNCD_PROPERTY("LastCheckSync", "a{sv}"),
	CHECKSYNCD_PROPERTY("Counters", "a{st}"),
	CHECKSYNCD_PROPERTY("LockedOut", "a{st}"),
	CHECKSYNCD_PROPERTY("PlugAndPlay", "a{sv}"),
	SD_BUS_METHOD_WITH_NAMES("Unlock", "s", SD_BUS_PARAM(source), "", ,
				 &StatusService::Callbacks::onUnlock, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_VTABLE_END,
};

#undef CHECKSYNCD_PROPERTY

StatusService::StatusService(EventLoop &loop, BusConnection &bus, StatusFeed &feed)
	: bus_(bus), feed_(feed), flush_(loop), expiry_(loop)
{
	bus_.addClient(*this);
	if (sd_bus *connection = bus_.get())
		attach(connection, Attach::AtStart);
}

StatusService::~StatusService()
{
	bus_.removeClient(*this);
}

void StatusService::attach(sd_bus *bus, Attach when)
{
	sd_bus_slot *slot = nullptr;
	int r = sd_bus_add_object_vtable(bus, &slot, kPath, kInterface, Callbacks::vtable, this);
	object_.reset(slot);
	if (r < 0) {
		logMessage(LogLevel::Error,
			   std::string("cannot export ") + kPath + ": " + errnoText(r));
		return;
	}

	// Only the provisioning process's: the bus routes a broadcast signal
	// to this match only when its sender owns the name (sd-bus cannot
	// check a well-known sender itself; see actionFinished()).
	slot = nullptr;
	r = sd_bus_match_signal_async(bus, &slot, kProvisioningService, kProvisioningPath,
				      kProvisioningInterface, "ActionFinished",
				      &Callbacks::onActionFinished, &Callbacks::onMatchReply, this);
	match_.reset(slot);
	if (r < 0)
		logMessage(LogLevel::Warning,
			   std::string("cannot listen for ActionFinished: ") + errnoText(r));

	// At start the name is taken before READY=1 (a client reading the
	// status right after the start finds it); later without blocking.
	if (when == Attach::AtStart) {
		r = sd_bus_request_name(bus, kService, 0);
		if (r < 0)
			logMessage(LogLevel::Error, std::string("cannot own ") + kService +
							    " on the " + bus_.address() +
							    " bus: " + errnoText(r));
		return;
	}
	slot = nullptr;
	r = sd_bus_request_name_async(bus, &slot, kService, 0, &Callbacks::onNameReply, this);
	name_.reset(slot);
	if (r < 0)
		logMessage(LogLevel::Error,
			   std::string("cannot own ") + kService + ": " + errnoText(r));
}

void StatusService::busConnected(sd_bus *bus)
{
	attach(bus, Attach::Reconnected);
}

void StatusService::busLost()
{
	object_.reset();
	name_.reset();
	match_.reset();
}

int StatusService::Callbacks::onNameReply(sd_bus_message *reply, void *userdata,
					  sd_bus_error *) noexcept
{
	auto *self = static_cast<StatusService *>(userdata);
	self->name_.reset();
	if (const sd_bus_error *error = sd_bus_message_get_error(reply))
		logMessage(LogLevel::Error,
			   std::string("cannot own ") + kService + ": " +
				   (error->message ? error->message : error->name));
	return 0;
}

int StatusService::Callbacks::onMatchReply(sd_bus_message *reply, void *, sd_bus_error *) noexcept
{
	// Without this handler sd-bus would close the connection on an error.
	if (const sd_bus_error *error = sd_bus_message_get_error(reply))
		logMessage(LogLevel::Warning,
			   std::string("cannot listen for ActionFinished: ") +
				   (error->message ? error->message : error->name));
	return 0;
}

void StatusService::setState(ServiceState state)
{
	model_.setState(state);
	if (state == ServiceState::Stopping) {
		// The loop stops next: say it now, not from a timer.
		flush_.cancel();
		flush();
		return;
	}
	changed();
}

void StatusService::setSettings(std::string_view file, std::string_view error)
{
	model_.setSettings(file, error);
	changed();
}

void StatusService::setListening(std::vector<std::string> uris)
{
	model_.setListening(std::move(uris));
	changed();
}

void StatusService::setPlugAndPlay(PnpState state, std::string_view lastServer,
				   std::string_view lastUrl, std::uint64_t droppedOffLink)
{
	model_.setPlugAndPlay(state, lastServer, lastUrl, droppedOffLink);
	changed();
}

void StatusService::received(Arrival arrival)
{
	model_.countReceived(arrival);
	changed();
}

void StatusService::answered(unsigned sipStatus, AnswerTo request)
{
	model_.countAnswer(sipStatus, request);
	changed();
}

void StatusService::authenticationFailed()
{
	model_.countAuthFailure();
	changed();
}

void StatusService::silenced()
{
	model_.countSilenced();
	changed();
}

void StatusService::droppedByFilter()
{
	model_.countDroppedByFilter();
	changed();
}

void StatusService::droppedInKernel(std::uint64_t filtered, std::uint64_t shed)
{
	model_.countDroppedInKernel(filtered, shed);
	changed();
}

void StatusService::checkSyncAnswered(const CheckSyncReport &report)
{
	model_.checkSyncAnswered(report, realtimeUs());
	changed();
}

void StatusService::changed()
{
	// Cheap when a signal is already due: one test per datagram.
	if (flush_.armed())
		return;
	std::uint64_t now = EventLoop::nowMs();
	std::optional<std::uint64_t> due = model_.changes().dueAt(now);
	if (!due)
		return;
	flush_.arm(*due - now, [this] { flush(); });
}

void StatusService::flush()
{
	// A lockout starts with a failed answer, which changed the counters:
	// look at the lockouts whenever a signal goes out anyway.
	refreshLockouts();
	std::vector<Property> changed = model_.changes().take(EventLoop::nowMs());
	sd_bus *bus = bus_.get();
	if (changed.empty() || !bus || !object_)
		return;
	std::vector<std::string> names;
	for (Property property : changed)
		names.emplace_back(propertyName(property));
	std::vector<char *> strv;
	for (std::string &name : names)
		strv.push_back(name.data());
	strv.push_back(nullptr);
	int r = sd_bus_emit_properties_changed_strv(bus, kPath, kInterface, strv.data());
	if (r < 0)
		logMessage(LogLevel::Warning,
			   std::string("cannot emit PropertiesChanged: ") + errnoText(r));
}

void StatusService::refreshLockouts()
{
	std::uint64_t now = EventLoop::nowMs();
	model_.setLockouts(feed_.lockedOut(now));
	// Wake up when the first lock ends, to say so.
	if (std::optional<std::uint64_t> next = model_.nextExpiryMs())
		expiry_.arm(*next > now ? *next - now : 0, [this] {
			refreshLockouts();
			changed();
		});
	else
		expiry_.cancel();
}

int StatusService::Callbacks::getProperty(sd_bus *, const char *, const char *,
					  const char *property, sd_bus_message *reply,
					  void *userdata, sd_bus_error *) noexcept
{
	try {
		return appendProperty(*static_cast<StatusService *>(userdata), property, reply);
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	} catch (const std::exception &e) {
		logMessage(LogLevel::Error,
			   std::string("reading a status property failed: ") + e.what());
		return -EIO;
	}
}

int StatusService::Callbacks::appendProperty(StatusService &self, std::string_view property,
					     sd_bus_message *reply)
{
	const StatusModel &model = self.model_;
	if (property == "State")
		return sd_bus_message_append(reply, "s",
					     std::string(stateName(model.state())).c_str());
	if (property == "SettingsFile")
		return sd_bus_message_append(reply, "s", model.settingsFile().c_str());
	if (property == "SettingsError")
		return sd_bus_message_append(reply, "s", model.settingsError().c_str());
	if (property == "Listening")
		return appendStrings(reply, model.listening());
	if (property == "LastCheckSync")
		return appendLastCheckSync(reply, model.lastCheckSync());
	if (property == "PlugAndPlay")
		return appendPlugAndPlay(reply, model.plugAndPlay());

	// Read now, not at the last signal: a lock may have ended since.
	self.refreshLockouts();
	self.changed();
	if (property == "Counters")
		return appendCounters(reply, model.counters());
	return appendLockouts(reply, model.lockouts());
}

int StatusService::Callbacks::onUnlock(sd_bus_message *call, void *userdata,
				       sd_bus_error *error) noexcept
{
	try {
		return unlock(*static_cast<StatusService *>(userdata), call, error);
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	} catch (const std::exception &e) {
		logMessage(LogLevel::Error, std::string("Unlock failed: ") + e.what());
		return -EIO;
	}
}

int StatusService::Callbacks::unlock(StatusService &self, sd_bus_message *call, sd_bus_error *error)
{
	const char *text = nullptr;
	int r = sd_bus_message_read(call, "s", &text);
	if (r < 0)
		return r;

	// Behind the bus policy, which lets only root call Unlock: root, or
	// this daemon's own user. The uid comes from the bus driver (one
	// synchronous round trip to the local dbus-daemon, bounded by
	// BusConnection::kSyncCallTimeoutMs; only callers the policy let
	// through get here).
	sd_bus_creds *queried = nullptr;
	r = sd_bus_query_sender_creds(call, SD_BUS_CREDS_UID | SD_BUS_CREDS_EUID, &queried);
	const UniqueCreds creds(queried);
	uid_t uid = 0;
	if (r >= 0) {
		r = sd_bus_creds_get_euid(creds.get(), &uid);
		if (r < 0)
			r = sd_bus_creds_get_uid(creds.get(), &uid);
	}
	if (r < 0 || (uid != 0 && uid != getuid()))
		return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED,
					"only root may lift a lockout");

	// An address, or a prefix as LockedOut shows it ("2001:db8::/64").
	std::optional<SourcePrefix> prefix = SourcePrefix::parse(text);
	if (!prefix)
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "not an IP address: \"%s\"",
					 printableUtf8(text, 64).c_str());
	std::string source = prefix->toString();
	if (!self.feed_.unlock(source))
		return sd_bus_error_setf(error, kErrorNotLockedOut, "%s is not locked out",
					 source.c_str());

	logMessage(LogLevel::Notice,
		   "lockout lifted: source=" + source + " (Unlock by uid " + std::to_string(uid) +
			   ")",
		   {{"SIP_SOURCE_IP", source}, {"AUTH_REASON", "unlocked"}});
	self.refreshLockouts();
	self.changed();
	return sd_bus_reply_method_return(call, "");
}

int StatusService::Callbacks::onActionFinished(sd_bus_message *signal, void *userdata,
					       sd_bus_error *) noexcept
{
	try {
		actionFinished(*static_cast<StatusService *>(userdata), signal);
	} catch (const std::exception &e) {
		logMessage(LogLevel::Error,
			   std::string("handling ActionFinished failed: ") + e.what());
	}
	return 0;
}

void StatusService::Callbacks::actionFinished(StatusService &self, sd_bus_message *signal)
{
	// A signal addressed to this connection reaches it whatever its
	// sender (unicast ignores match rules) and sd-bus's own check lets a
	// well-known sender pass: anyone could send one. The provisioning
	// process broadcasts, and the bus checked who sent that.
	if (sd_bus_message_get_destination(signal)) {
		logMessage(
			LogLevel::Debug,
			std::string("ignoring an ActionFinished addressed to this daemon from ") +
				printableUtf8(sd_bus_message_get_sender(signal)
						      ? sd_bus_message_get_sender(signal)
						      : "?",
					      64));
		return;
	}
	const char *action = nullptr;
	const char *callId = nullptr;
	int success = 0;
	const char *message = nullptr;
	int r = sd_bus_message_read(signal, "ssbs", &action, &callId, &success, &message);
	if (r < 0) {
		logMessage(LogLevel::Warning,
			   "ignoring an ActionFinished signal without (ssbs) arguments");
		return;
	}
	std::string what = printableUtf8(action, kMaxActionBytes);
	std::string id = printableUtf8(callId, StatusModel::kMaxTextBytes);
	std::string text = printableUtf8(message, StatusModel::kMaxTextBytes);
	std::string result = success ? "success" : "failure";
	// One line, the same words on stderr as in the journal's fields.
	logMessage(success ? LogLevel::Info : LogLevel::Warning,
		   "action finished: action=" + what + " result=" + result + " call_id=\"" + id +
			   "\" message=\"" + text + "\"",
		   {{"CHECKSYNC_RESULT", result},
		    {"CHECKSYNC_ACTION", what},
		    {"SIP_CALL_ID", id},
		    {"CHECKSYNC_MESSAGE", text}});
	const ActionOutcome outcome = success ? ActionOutcome::Succeeded : ActionOutcome::Failed;
	if (self.model_.actionFinished(callId, outcome, message, realtimeUs()))
		self.changed();
}

} // namespace checksyncd
