// SPDX-License-Identifier: MIT
/*
 * provisioning-standin: stands in for the phone's provisioning process in the
 * integration tests and in the demo.
 *
 * It owns org.checksyncd.Provisioning1 on a bus, exports
 * /org/checksyncd/Provisioning1 with every method of checksyncd(8) and
 * etc/org.checksyncd.Provisioning1.xml (Resync, Reboot, Reregister,
 * DeleteContacts, FactoryReset, Report, Provision), and for every
 * call appends one JSON line to the --record file and prints one human
 * readable line to stdout. Behaviour can be
 * changed per call: --fail makes methods answer with an error, --delay-ms
 * makes it answer late (asynchronously, several calls may be outstanding),
 * --finish makes it report how the action ended with the ActionFinished
 * signal right after accepting a call, and a --control file, re-read on every
 * call, overrides these without a restart.
 *
 *   provisioning-standin --bus ADDRESS|system|session [--record FILE]
 *       [--fail none|all|METHOD[,METHOD...]] [--delay-ms N]
 *       [--finish none|success|failure] [--finish-message TEXT]
 *       [--control FILE] [--quiet]
 *
 * Prints "READY" once the name is owned; exits 0 on SIGTERM/SIGINT, 1 when
 * setting up fails or the bus goes away, 2 on a bad command line.
 */

#include <getopt.h>
#include <signal.h>
#include <strings.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "loop/sdbus.hpp"

static constexpr const char *kService = "org.checksyncd.Provisioning1";
static constexpr const char *kObject = "/org/checksyncd/Provisioning1";
static constexpr const char *kInterface = "org.checksyncd.Provisioning1";
static constexpr const char *kErrorFailed = "org.checksyncd.Provisioning1.Error.Failed";
static constexpr uint64_t kMaxDelayMs = 3600 * 1000;

/* libsystemd objects are owned with the project's types (daemon/loop/sdbus.hpp). */
using checksyncd::UniqueBus;
using checksyncd::UniqueBusMessage;
using checksyncd::UniqueEvent;
using checksyncd::UniqueEventSource;
using checksyncd::UniqueSlot;

struct FileCloser {
	void operator()(FILE *file) const noexcept { (void)std::fclose(file); }
};
using UniqueFile = std::unique_ptr<FILE, FileCloser>;

/* A setup step failed: "<what>: <strerror>", exit 1. */
struct SetupError {
	std::string message;
};

static void check(int r, const char *what)
{
	if (r < 0)
		throw SetupError{std::string(what) + ": " + std::strerror(-r)};
}

/* The methods of org.checksyncd.Provisioning1, in the order of its XML. */
enum class Method {
	Resync,
	Reboot,
	Reregister,
	DeleteContacts,
	FactoryReset,
	Report,
	Provision
};

static constexpr Method kMethods[] = {
	Method::Resync,       Method::Reboot, Method::Reregister, Method::DeleteContacts,
	Method::FactoryReset, Method::Report, Method::Provision,
};

static unsigned failBit(Method method)
{
	return 1U << static_cast<unsigned>(method);
}

static constexpr unsigned kFailAll = (1U << std::size(kMethods)) - 1;

static const char *methodName(Method method)
{
	switch (method) {
	case Method::Resync:
		return "Resync";
	case Method::Reboot:
		return "Reboot";
	case Method::Reregister:
		return "Reregister";
	case Method::DeleteContacts:
		return "DeleteContacts";
	case Method::FactoryReset:
		return "FactoryReset";
	case Method::Report:
		return "Report";
	case Method::Provision:
		return "Provision";
	}
	return "?";
}

/* The method of that D-Bus member name (the vtable routes only these). */
static std::optional<Method> methodOf(const char *member)
{
	for (Method method : kMethods)
		if (std::strcmp(member, methodName(method)) == 0)
			return method;
	return std::nullopt;
}

/* Whether, and how, an accepted call is followed by ActionFinished. */
enum class Finish {
	None,
	Success,
	Failure
};

/* How the next call is answered. */
struct Behaviour {
	unsigned failMask = 0;
	uint64_t delayMs = 0;
	Finish finish = Finish::None;
	std::string finishMessage; /* empty: a default text */
};

struct Options {
	std::string bus;
	std::string record;
	std::string control;
	Behaviour behaviour;
	bool quiet = false;
};

/* "none", "all" or a comma separated list of method names (any case). */
static std::optional<unsigned> parseFail(std::string_view text)
{
	unsigned mask = 0;
	while (true) {
		size_t comma = text.find(',');
		std::string word(text.substr(0, comma));
		bool known = strcasecmp(word.c_str(), "none") == 0;
		if (strcasecmp(word.c_str(), "all") == 0) {
			mask |= kFailAll;
			known = true;
		}
		for (Method method : kMethods) {
			if (strcasecmp(word.c_str(), methodName(method)) == 0) {
				mask |= failBit(method);
				known = true;
			}
		}
		if (!known)
			return std::nullopt;
		if (comma == std::string_view::npos)
			return mask;
		text.remove_prefix(comma + 1);
	}
}

static std::optional<uint64_t> parseDelay(std::string_view text)
{
	uint64_t value = 0;
	auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
	if (ec != std::errc() || end != text.data() + text.size() || value > kMaxDelayMs)
		return std::nullopt;
	return value;
}

static std::optional<Finish> parseFinish(std::string_view text)
{
	if (text == "none")
		return Finish::None;
	if (text == "success")
		return Finish::Success;
	if (text == "failure")
		return Finish::Failure;
	return std::nullopt;
}

static std::string_view trim(std::string_view text)
{
	constexpr std::string_view blanks = " \t\r\n";
	size_t begin = text.find_first_not_of(blanks);
	if (begin == std::string_view::npos)
		return {};
	size_t end = text.find_last_not_of(blanks);
	return text.substr(begin, end - begin + 1);
}

/*
 * The control file overrides the command line value of every key it names,
 * for as long as it says so: a missing file or key means the command line
 * value. Blank lines and lines starting with '#' are ignored.
 */
static Behaviour readControl(const std::string &path, Behaviour behaviour)
{
	std::ifstream in(path);
	if (!in.is_open())
		return behaviour;

	std::string line;
	while (std::getline(in, line)) {
		std::string_view text = trim(line);
		if (text.empty() || text.front() == '#')
			continue;
		size_t eq = text.find('=');
		std::string_view key = trim(text.substr(0, eq));
		std::string_view value = eq == std::string_view::npos ? std::string_view()
								      : trim(text.substr(eq + 1));
		if (key == "fail") {
			if (auto mask = parseFail(value)) {
				behaviour.failMask = *mask;
				continue;
			}
		} else if (key == "delay-ms") {
			if (auto delay = parseDelay(value)) {
				behaviour.delayMs = *delay;
				continue;
			}
		} else if (key == "finish") {
			if (auto finish = parseFinish(value)) {
				behaviour.finish = *finish;
				continue;
			}
		} else if (key == "finish-message") {
			behaviour.finishMessage = std::string(value);
			continue;
		}
		std::fprintf(stderr, "provisioning-standin: %s: ignoring line \"%s\"\n",
			     path.c_str(), line.c_str());
	}
	return behaviour;
}

/* A details value we cannot show keeps its signature. */
struct Unsupported {
	std::string signature;
};

using Value = std::variant<Unsupported, bool, int64_t, uint64_t, double, std::string>;
using Details = std::vector<std::pair<std::string, Value>>;

template<typename T>
static int readBasic(sd_bus_message *m, char type, T &out)
{
	T value{};
	int r = sd_bus_message_read_basic(m, type, &value);
	if (r < 0)
		return r;
	out = value;
	return 0;
}

/* Reads the value inside a variant whose signature is @signature. */
static int readValue(sd_bus_message *m, const char *signature, Value &out)
{
	int r = 0;
	char type = std::strlen(signature) == 1 ? signature[0] : '\0';

	switch (type) {
	case SD_BUS_TYPE_BOOLEAN: {
		int value = 0;
		r = readBasic(m, type, value);
		out = value != 0;
		break;
	}
	case SD_BUS_TYPE_BYTE: {
		uint8_t value = 0;
		r = readBasic(m, type, value);
		out = uint64_t{value};
		break;
	}
	case SD_BUS_TYPE_UINT16: {
		uint16_t value = 0;
		r = readBasic(m, type, value);
		out = uint64_t{value};
		break;
	}
	case SD_BUS_TYPE_UINT32: {
		uint32_t value = 0;
		r = readBasic(m, type, value);
		out = uint64_t{value};
		break;
	}
	case SD_BUS_TYPE_UINT64: {
		uint64_t value = 0;
		r = readBasic(m, type, value);
		out = value;
		break;
	}
	case SD_BUS_TYPE_INT16: {
		int16_t value = 0;
		r = readBasic(m, type, value);
		out = int64_t{value};
		break;
	}
	case SD_BUS_TYPE_INT32: {
		int32_t value = 0;
		r = readBasic(m, type, value);
		out = int64_t{value};
		break;
	}
	case SD_BUS_TYPE_INT64: {
		int64_t value = 0;
		r = readBasic(m, type, value);
		out = value;
		break;
	}
	case SD_BUS_TYPE_DOUBLE: {
		double value = 0;
		r = readBasic(m, type, value);
		out = value;
		break;
	}
	case SD_BUS_TYPE_STRING:
	case SD_BUS_TYPE_OBJECT_PATH:
	case SD_BUS_TYPE_SIGNATURE: {
		const char *value = nullptr;
		r = readBasic(m, type, value);
		if (r >= 0)
			out = std::string(value);
		break;
	}
	default:
		r = sd_bus_message_skip(m, signature);
		out = Unsupported{signature};
		break;
	}
	return r < 0 ? r : 0;
}

/* Reads an a{sv} generically, keeping the order of the keys. */
static int readDetails(sd_bus_message *m, Details &out)
{
	int r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
	if (r < 0)
		return r;

	while (true) {
		r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
		if (r < 0)
			return r;
		if (r == 0)
			break;

		const char *key = nullptr;
		r = sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &key);
		if (r < 0)
			return r;
		std::string name(key);

		char type = 0;
		const char *contents = nullptr;
		r = sd_bus_message_peek_type(m, &type, &contents);
		if (r < 0)
			return r;
		if (r == 0 || type != SD_BUS_TYPE_VARIANT)
			return -EBADMSG;
		std::string signature(contents);

		r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, signature.c_str());
		if (r < 0)
			return r;
		Value value;
		r = readValue(m, signature.c_str(), value);
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;

		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
		out.emplace_back(std::move(name), std::move(value));
	}

	return sd_bus_message_exit_container(m);
}

static void appendQuoted(std::string &out, std::string_view text)
{
	out += '"';
	for (char c : text) {
		unsigned char byte = static_cast<unsigned char>(c);
		if (c == '"' || c == '\\') {
			out += '\\';
			out += c;
		} else if (byte < 0x20 || byte == 0x7f) {
			char escape[8];
			std::snprintf(escape, sizeof(escape), "\\u%04x", byte);
			out += escape;
		} else {
			out += c;
		}
	}
	out += '"';
}

static std::string formatDouble(double value)
{
	if (!std::isfinite(value))
		return "null";
	char text[32];
	std::snprintf(text, sizeof(text), "%.17g", value);
	return text;
}

enum class Format : bool {
	Json,  // unsupported types become null
	Human, // unsupported types show their signature
};

/* The value as JSON or for people. */
static void appendValue(std::string &out, const Value &value, Format format)
{
	if (const auto *u = std::get_if<Unsupported>(&value)) {
		if (format == Format::Json)
			out += "null";
		else
			out += "<" + u->signature + ">";
	} else if (const auto *b = std::get_if<bool>(&value)) {
		out += *b ? "true" : "false";
	} else if (const auto *i = std::get_if<int64_t>(&value)) {
		out += std::to_string(*i);
	} else if (const auto *n = std::get_if<uint64_t>(&value)) {
		out += std::to_string(*n);
	} else if (const auto *d = std::get_if<double>(&value)) {
		out += formatDouble(*d);
	} else if (const auto *s = std::get_if<std::string>(&value)) {
		appendQuoted(out, *s);
	}
}

static std::string recordLine(Method method, std::string_view sender, const Details &details,
			      bool fail)
{
	std::string line = "{\"method\":";
	appendQuoted(line, methodName(method));
	line += ",\"sender\":";
	appendQuoted(line, sender);
	line += ",\"details\":{";
	bool first = true;
	for (const auto &[key, value] : details) {
		if (!first)
			line += ',';
		first = false;
		appendQuoted(line, key);
		line += ':';
		appendValue(line, value, Format::Json);
	}
	line += "},\"result\":";
	appendQuoted(line, fail ? "failed" : "accepted");
	line += '}';
	return line;
}

static std::string announceLine(Method method, const Details &details, const Behaviour &behaviour,
				bool fail)
{
	std::string line = "provisioning: ";
	line += methodName(method);
	line += '(';
	bool first = true;
	for (const auto &[key, value] : details) {
		if (!first)
			line += ", ";
		first = false;
		line += key;
		line += '=';
		appendValue(line, value, Format::Human);
	}
	line += ") -> ";
	if (fail)
		line += std::string("failing (") + kErrorFailed + ")";
	if (behaviour.delayMs > 0) {
		line += fail ? " after " : "answering after ";
		line += std::to_string(behaviour.delayMs) + " ms";
	} else if (!fail) {
		line += "accepted";
	}
	return line;
}

static int answer(sd_bus_message *call, Method method, bool fail)
{
	if (fail)
		return sd_bus_reply_method_errorf(call, kErrorFailed, "%s refused by stand-in",
						  methodName(method));
	return sd_bus_reply_method_return(call, nullptr);
}

class Standin;

/* A call answered later, from a timer. */
struct PendingReply {
	Standin *owner = nullptr;
	std::list<PendingReply>::iterator self;
	UniqueBusMessage call;
	UniqueEventSource timer;
	Method method = Method::Resync;
	bool fail = false;
	uint64_t delayMs = 0;
	Behaviour behaviour;
	std::string callId;
};

/* Owns every subsystem in start order, so teardown runs in reverse. */
class Standin
{
public:
	explicit Standin(Options options) : options_(std::move(options)) {}

	Standin(const Standin &) = delete;
	Standin &operator=(const Standin &) = delete;

	void start();
	int run();

private:
	static int onSignal(sd_event_source *source, const struct signalfd_siginfo *info,
			    void *userdata) noexcept;
	static int onMethod(sd_bus_message *m, void *userdata, sd_bus_error *error) noexcept;
	static int onTimer(sd_event_source *source, uint64_t usec, void *userdata) noexcept;

	int handleCall(sd_bus_message *m);
	int schedule(sd_bus_message *m, Method method, bool fail, const Behaviour &behaviour,
		     std::string callId);
	void finish(PendingReply &pending);
	void reportFinished(Method method, const std::string &callId, const Behaviour &behaviour);
	void record(const std::string &line);
	void say(const std::string &line);

	static const sd_bus_vtable vtable_[];

	Options options_;
	UniqueFile record_;
	UniqueEvent event_;
	UniqueEventSource sigterm_;
	UniqueEventSource sigint_;
	UniqueBus bus_;
	UniqueSlot object_;
	std::list<PendingReply> pending_;
};

const sd_bus_vtable Standin::vtable_[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD_WITH_NAMES("Resync", "a{sv}", SD_BUS_PARAM(details), "", "",
				 &Standin::onMethod, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("Reboot", "a{sv}", SD_BUS_PARAM(details), "", "",
				 &Standin::onMethod, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("Reregister", "a{sv}", SD_BUS_PARAM(details), "", "",
				 &Standin::onMethod, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("DeleteContacts", "a{sv}", SD_BUS_PARAM(details), "", "",
				 &Standin::onMethod, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("FactoryReset", "a{sv}", SD_BUS_PARAM(details), "", "",
				 &Standin::onMethod, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("Report", "a{sv}", SD_BUS_PARAM(details), "", "",
				 &Standin::onMethod, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("Provision", "a{sv}", SD_BUS_PARAM(details), "", "",
				 &Standin::onMethod, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_SIGNAL_WITH_NAMES("ActionFinished", "ssbs",
				 SD_BUS_PARAM(action) SD_BUS_PARAM(call_id) SD_BUS_PARAM(success)
					 SD_BUS_PARAM(message),
				 0),
	SD_BUS_VTABLE_END,
};

void Standin::start()
{
	if (!options_.record.empty()) {
		record_.reset(std::fopen(options_.record.c_str(), "ae"));
		if (!record_)
			check(-errno, ("opening " + options_.record).c_str());
	}

	sd_event *event = nullptr;
	check(sd_event_default(&event), "sd_event_default");
	event_.reset(event);

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, nullptr) < 0)
		check(-errno, "sigprocmask");

	sd_event_source *source = nullptr;
	check(sd_event_add_signal(event_.get(), &source, SIGTERM, &Standin::onSignal, this),
	      "sd_event_add_signal(SIGTERM)");
	sigterm_.reset(source);
	check(sd_event_add_signal(event_.get(), &source, SIGINT, &Standin::onSignal, this),
	      "sd_event_add_signal(SIGINT)");
	sigint_.reset(source);

	sd_bus *bus = nullptr;
	if (options_.bus == "system") {
		check(sd_bus_open_system(&bus), "sd_bus_open_system");
		bus_.reset(bus);
	} else if (options_.bus == "session") {
		check(sd_bus_open_user(&bus), "sd_bus_open_user");
		bus_.reset(bus);
	} else {
		check(sd_bus_new(&bus), "sd_bus_new");
		bus_.reset(bus);
		check(sd_bus_set_address(bus_.get(), options_.bus.c_str()), "sd_bus_set_address");
		check(sd_bus_set_bus_client(bus_.get(), 1), "sd_bus_set_bus_client");
		check(sd_bus_start(bus_.get()), "sd_bus_start");
	}
	check(sd_bus_attach_event(bus_.get(), event_.get(), SD_EVENT_PRIORITY_NORMAL),
	      "sd_bus_attach_event");
	/* A stand-in whose bus went away is of no use: leave the loop with 1. */
	check(sd_bus_set_exit_on_disconnect(bus_.get(), 1), "sd_bus_set_exit_on_disconnect");

	sd_bus_slot *slot = nullptr;
	check(sd_bus_add_object_vtable(bus_.get(), &slot, kObject, kInterface, vtable_, this),
	      "sd_bus_add_object_vtable");
	object_.reset(slot);

	check(sd_bus_request_name(bus_.get(), kService, 0), "sd_bus_request_name");

	std::fputs("READY\n", stdout);
	std::fflush(stdout);
}

int Standin::run()
{
	int r = sd_event_loop(event_.get());
	check(r, "sd_event_loop");
	return r;
}

int Standin::onSignal(sd_event_source *source, const struct signalfd_siginfo *, void *) noexcept
{
	return sd_event_exit(sd_event_source_get_event(source), 0);
}

int Standin::onMethod(sd_bus_message *m, void *userdata, sd_bus_error *) noexcept
{
	try {
		return static_cast<Standin *>(userdata)->handleCall(m);
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	} catch (...) {
		return -EIO;
	}
}

int Standin::onTimer(sd_event_source *, uint64_t, void *userdata) noexcept
{
	auto *pending = static_cast<PendingReply *>(userdata);
	try {
		pending->owner->finish(*pending);
	} catch (...) {
		std::fputs("provisioning-standin: delayed answer failed\n", stderr);
	}
	return 0;
}

int Standin::handleCall(sd_bus_message *m)
{
	const char *member = sd_bus_message_get_member(m);
	const std::optional<Method> routed = member ? methodOf(member) : std::nullopt;
	if (!routed)
		return -EBADMSG; /* not one of the vtable's: cannot happen */
	const Method method = *routed;

	Behaviour behaviour = options_.behaviour;
	if (!options_.control.empty())
		behaviour = readControl(options_.control, behaviour);

	Details details;
	int r = readDetails(m, details);
	if (r < 0) {
		std::fprintf(stderr, "provisioning-standin: %s: bad details: %s\n",
			     methodName(method), std::strerror(-r));
		return r;
	}

	const char *sender = sd_bus_message_get_sender(m);
	bool fail = (behaviour.failMask & failBit(method)) != 0;

	record(recordLine(method, sender ? sender : "", details, fail));
	say(announceLine(method, details, behaviour, fail));

	std::string callId;
	for (const auto &[key, value] : details)
		if (const auto *text = std::get_if<std::string>(&value); text && key == "call_id")
			callId = *text;

	if (behaviour.delayMs > 0)
		r = schedule(m, method, fail, behaviour, std::move(callId));
	else
		r = answer(m, method, fail);
	if (r < 0) {
		std::fprintf(stderr, "provisioning-standin: answering %s: %s\n", methodName(method),
			     std::strerror(-r));
		return r;
	}
	if (behaviour.delayMs == 0 && !fail)
		reportFinished(method, callId, behaviour);
	/* Answered now or later: sd-bus must not answer for us. */
	return 1;
}

/* ActionFinished after the method return, as the provisioning process would
 * once the resync or reboot is done. */
void Standin::reportFinished(Method method, const std::string &callId, const Behaviour &behaviour)
{
	if (behaviour.finish == Finish::None)
		return;
	bool success = behaviour.finish == Finish::Success;
	std::string message = behaviour.finishMessage;
	if (message.empty())
		message = std::string(methodName(method)) +
			  (success ? " done by the stand-in" : " failed in the stand-in");
	int r = sd_bus_emit_signal(bus_.get(), kObject, kInterface, "ActionFinished", "ssbs",
				   methodName(method), callId.c_str(), static_cast<int>(success),
				   message.c_str());
	if (r < 0) {
		std::fprintf(stderr, "provisioning-standin: emitting ActionFinished: %s\n",
			     std::strerror(-r));
		return;
	}
	say(std::string("provisioning: ActionFinished(") + methodName(method) + ", " + callId +
	    ", " + (success ? "true" : "false") + ")");
}

int Standin::schedule(sd_bus_message *m, Method method, bool fail, const Behaviour &behaviour,
		      std::string callId)
{
	uint64_t delayMs = behaviour.delayMs;
	uint64_t now = 0;
	int r = sd_event_now(event_.get(), CLOCK_MONOTONIC, &now);
	if (r < 0)
		return r;

	auto it = pending_.emplace(pending_.end());
	it->owner = this;
	it->self = it;
	it->call.reset(sd_bus_message_ref(m));
	it->method = method;
	it->fail = fail;
	it->delayMs = delayMs;
	it->behaviour = behaviour;
	it->callId = std::move(callId);

	sd_event_source *timer = nullptr;
	/* Accuracy 1 us: the default (250 ms) would blur the delay tests rely on. */
	r = sd_event_add_time(event_.get(), &timer, CLOCK_MONOTONIC, now + delayMs * 1000, 1,
			      &Standin::onTimer, &*it);
	if (r < 0) {
		pending_.erase(it);
		return r;
	}
	it->timer.reset(timer);
	return 0;
}

void Standin::finish(PendingReply &pending)
{
	/* Take the entry out first; its timer (the source now dispatching) dies at the end. */
	PendingReply done = std::move(pending);
	pending_.erase(done.self);

	int r = answer(done.call.get(), done.method, done.fail);
	if (r < 0) {
		std::fprintf(stderr, "provisioning-standin: answering %s: %s\n",
			     methodName(done.method), std::strerror(-r));
		return;
	}
	say(std::string("provisioning: ") + methodName(done.method) + " -> " +
	    (done.fail ? "failed" : "accepted") + " (after " + std::to_string(done.delayMs) +
	    " ms)");
	if (!done.fail)
		reportFinished(done.method, done.callId, done.behaviour);
}

void Standin::record(const std::string &line)
{
	if (!record_)
		return;
	if (std::fputs(line.c_str(), record_.get()) < 0 || std::fputc('\n', record_.get()) < 0 ||
	    std::fflush(record_.get()) != 0)
		std::fprintf(stderr, "provisioning-standin: writing %s: %s\n",
			     options_.record.c_str(), std::strerror(errno));
}

void Standin::say(const std::string &line)
{
	if (options_.quiet)
		return;
	std::fputs(line.c_str(), stdout);
	std::fputc('\n', stdout);
	std::fflush(stdout);
}

static void usage(FILE *out)
{
	std::fputs(
		"usage: provisioning-standin --bus ADDRESS|system|session [--record FILE]\n"
		"           [--fail none|all|METHOD[,METHOD...]] [--delay-ms N]\n"
		"           [--finish none|success|failure] [--finish-message TEXT]\n"
		"           [--control FILE] [--quiet]\n"
		"\n"
		"Owns org.checksyncd.Provisioning1 and records every call of its methods\n"
		"(Resync, Reboot, Reregister, DeleteContacts, FactoryReset, Report, Provision).\n"
		"  --bus             D-Bus address (unix:path=...), or the system or session bus\n"
		"  --record          append one JSON line per call to FILE\n"
		"  --fail            methods that answer "
		"org.checksyncd.Provisioning1.Error.Failed\n"
		"                    (names in any case, comma separated; all; none)\n"
		"  --delay-ms        answer each call only after N ms (asynchronously)\n"
		"  --finish          after accepting a call, emit ActionFinished with this "
		"outcome\n"
		"  --finish-message  the signal's message (default: a short text)\n"
		"  --control         file re-read on every call; lines fail=..., delay-ms=N,\n"
		"                    finish=... and finish-message=TEXT override the options\n"
		"                    above while present\n"
		"  --quiet           print only READY on stdout\n",
		out);
}

/* Returns the options, or the exit code when the program should stop now. */
static std::variant<Options, int> parseOptions(int argc, char **argv)
{
	static const struct option longOptions[] = {
		{"bus", required_argument, nullptr, 'b'},
		{"record", required_argument, nullptr, 'r'},
		{"fail", required_argument, nullptr, 'f'},
		{"delay-ms", required_argument, nullptr, 'd'},
		{"control", required_argument, nullptr, 'c'},
		{"finish", required_argument, nullptr, 'F'},
		{"finish-message", required_argument, nullptr, 'M'},
		{"quiet", no_argument, nullptr, 'q'},
		{"help", no_argument, nullptr, 'h'},
		{nullptr, 0, nullptr, 0},
	};

	Options options;
	int c;
	while ((c = getopt_long(argc, argv, "", longOptions, nullptr)) != -1) {
		switch (c) {
		case 'b':
			options.bus = optarg;
			break;
		case 'r':
			options.record = optarg;
			break;
		case 'f':
			if (auto mask = parseFail(optarg)) {
				options.behaviour.failMask = *mask;
				break;
			}
			std::fprintf(stderr, "provisioning-standin: bad --fail '%s'\n", optarg);
			return 2;
		case 'd':
			if (auto delay = parseDelay(optarg)) {
				options.behaviour.delayMs = *delay;
				break;
			}
			std::fprintf(stderr,
				     "provisioning-standin: bad --delay-ms '%s' (0..%" PRIu64 ")\n",
				     optarg, kMaxDelayMs);
			return 2;
		case 'c':
			options.control = optarg;
			break;
		case 'F':
			if (auto finish = parseFinish(optarg)) {
				options.behaviour.finish = *finish;
				break;
			}
			std::fprintf(stderr, "provisioning-standin: bad --finish '%s'\n", optarg);
			return 2;
		case 'M':
			options.behaviour.finishMessage = optarg;
			break;
		case 'q':
			options.quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || options.bus.empty()) {
		usage(stderr);
		return 2;
	}
	return options;
}

int main(int argc, char **argv)
{
	try {
		auto parsed = parseOptions(argc, argv);
		if (const int *code = std::get_if<int>(&parsed))
			return *code;

		Standin standin(std::move(std::get<Options>(parsed)));
		standin.start();
		return standin.run();
	} catch (const SetupError &e) {
		std::fprintf(stderr, "provisioning-standin: %s\n", e.message.c_str());
		return 1;
	} catch (const std::exception &e) {
		std::fprintf(stderr, "provisioning-standin: %s\n", e.what());
		return 1;
	}
}
