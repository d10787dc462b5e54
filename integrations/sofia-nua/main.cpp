// SPDX-License-Identifier: MIT
//
// checksyncd-nua: a SIP user agent on sofia-sip's nua that registers one
// identity of checksyncd's settings and hands every out-of-dialog NOTIFY
// it receives to checksyncd (org.checksyncd.Handoff1.HandleRequest),
// answering with what checksyncd answers. checksyncd-nua(8).

#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <sofia-sip/su.h>
#include <sofia-sip/su_log.h>
#include <libxml/parser.h>
#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <system_error>

#include "base/unique_fd.hpp"
#include "config.h"
#include "handoff_client.hpp"
#include "loop/bus_connection.hpp"
#include "loop/log.hpp"
#include "loop/loop.hpp"
#include "settings/settings.hpp"
#include "settings/settings_file.hpp"
#include "user_agent.hpp"

using namespace checksyncd;
using namespace checksyncd::nua;

namespace {

constexpr int kExitUsage = 64;

void printHelp()
{
	std::printf(
		"Usage: checksyncd-nua [OPTION]...\n"
		"Register one identity of checksyncd's settings with its registrar and hand\n"
		"every NOTIFY that arrives over the registration to checksyncd over D-Bus.\n"
		"\n"
		"  --settings FILE      checksyncd's settings file (default %s)\n"
		"  --identity IDX       the identity (idx) to register (default: the active\n"
		"                       one with the lowest idx)\n"
		"  --transport T        udp, tcp or tls (default udp)\n"
		"  --ca-file FILE       TLS: the CA certificates (PEM) the registrar's\n"
		"                       certificate must chain to (required for tls)\n"
		"  --bind HOST[:PORT]   UDP: the local address and port (default: all, any port)\n"
		"  --expires SECONDS    the registration's lifetime asked for (default 600)\n"
		"  --keepalive SECONDS  keepalive interval on the flow (default 25)\n"
		"  --bus BUS            system, session, or a D-Bus address (default system)\n"
		"  --log-level LEVEL    error, warning, notice, info or debug (default info)\n"
		"  --version            print the version and exit\n"
		"  --help               print this help and exit\n",
		CHECKSYNCD_DEFAULT_SETTINGS);
}

int usage(const std::string &message)
{
	std::fprintf(stderr, "checksyncd-nua: %s\nTry 'checksyncd-nua --help'.\n", message.c_str());
	return kExitUsage;
}

std::optional<unsigned> parseCount(const char *text, unsigned min, unsigned max)
{
	char *end = nullptr;
	errno = 0;
	const unsigned long value = std::strtoul(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || *text == '-' || value < min || value > max)
		return std::nullopt;
	return static_cast<unsigned>(value);
}

// The account of identity `idx` (0: the lowest active one) in the settings
// file, or why it cannot be registered.
std::optional<Account> accountFrom(const std::string &path, unsigned idx, std::string &error)
{
	LoadResult result = loadSettingsFile(path);
	if (!result.settings) {
		error = result.errors.empty() ? path + ": cannot be read"
					      : result.errors.front().toString();
		return std::nullopt;
	}
	const Settings &settings = *result.settings;
	const Identity *identity = nullptr;
	if (idx == 0) {
		identity = settings.lowestActive();
	} else if (auto it = settings.identities.find(idx); it != settings.identities.end()) {
		identity = &it->second;
	}
	const std::string which = idx == 0 ? "no active identity"
					   : "identity " + std::to_string(idx);
	if (!identity) {
		error = path + ": " + which + (idx == 0 ? "" : " is not set");
		return std::nullopt;
	}
	const std::string name = "identity " + std::to_string(identity->idx);
	if (!identity->active)
		error = path + ": " + name + " is not active (user_active)";
	else if (identity->name.empty() || identity->host.empty())
		error = path + ": " + name + " needs user_name and user_host to register";
	else if (identity->pass.empty())
		error = path + ": " + name +
			" needs user_pass: nua's digest client takes a password, not an HA1";
	// sofia-sip's credentials are "scheme:\"realm\":user:password", split
	// at colons (auth_client.c, auc_credentials()).
	else if (identity->authUser().find(':') != std::string::npos ||
		 identity->pass.find(':') != std::string::npos)
		error = path + ": " + name +
			": nua cannot register an authentication user or password with a ':'";
	if (!error.empty())
		return std::nullopt;
	Account account;
	account.idx = identity->idx;
	account.user = identity->name;
	account.host = identity->host;
	account.domain = identity->realm();
	account.authUser = identity->authUser();
	account.password = identity->pass;
	account.outbound = identity->outbound;
	Identity proxy;
	proxy.host = identity->outbound;
	account.tlsName = identity->outbound.empty() ? identity->realm() : proxy.realm();
	return account;
}

// sofia-sip's own diagnostics go through our logger at debug level.
void sofiaLog(void *, char const *fmt, va_list ap)
{
	if (!logEnabled(LogLevel::Debug))
		return;
	char line[512];
	std::vsnprintf(line, sizeof(line), fmt, ap);
	std::string text(line);
	while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
		text.pop_back();
	if (!text.empty())
		logMessage(LogLevel::Debug, "sofia-sip: " + text);
}

// SIGTERM and SIGINT on the loop, through a signalfd.
UniqueFd signalDescriptor()
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, nullptr) < 0)
		throw std::system_error(errno, std::generic_category(), "sigprocmask");
	UniqueFd fd(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
	if (fd.get() < 0)
		throw std::system_error(errno, std::generic_category(), "signalfd");
	return fd;
}

int run(const UaOptions &options, const std::string &bus)
{
	EventLoop loop;
	const UniqueFd signals = signalDescriptor();
	BusConnection connection(loop, bus);
	HandoffClient handoff(connection);
	UserAgent ua(loop, handoff, options);
	bool stopping = false;
	const FdWatch signalWatch(loop, signals.get(), POLLIN, [&](int) {
		signalfd_siginfo info{};
		while (::read(signals.get(), &info, sizeof(info)) == sizeof(info)) {
			if (stopping)
				continue;
			stopping = true;
			(void)sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
			logMessage(LogLevel::Notice, "stopping: un-registering");
			ua.shutdown([&] { loop.stop(); });
		}
	});
	bool ready = false;
	ua.start([&] {
		if (ready)
			return;
		ready = true;
		(void)sd_notify(0, "READY=1\nSTATUS=Registered");
	});
	loop.run();
	return 0;
}

} // namespace

int main(int argc, char **argv) noexcept
{
	std::string settingsPath = CHECKSYNCD_DEFAULT_SETTINGS;
	std::string bus = "system";
	unsigned idx = 0;
	UaOptions options;
	LogLevel level = LogLevel::Info;

	enum {
		OptSettings = 1,
		OptIdentity,
		OptTransport,
		OptCaFile,
		OptBind,
		OptExpires,
		OptKeepalive,
		OptBus,
		OptLogLevel,
		OptVersion,
		OptHelp
	};
	static const struct option longOptions[] = {
		{"settings", required_argument, nullptr, OptSettings},
		{"identity", required_argument, nullptr, OptIdentity},
		{"transport", required_argument, nullptr, OptTransport},
		{"ca-file", required_argument, nullptr, OptCaFile},
		{"bind", required_argument, nullptr, OptBind},
		{"expires", required_argument, nullptr, OptExpires},
		{"keepalive", required_argument, nullptr, OptKeepalive},
		{"bus", required_argument, nullptr, OptBus},
		{"log-level", required_argument, nullptr, OptLogLevel},
		{"version", no_argument, nullptr, OptVersion},
		{"help", no_argument, nullptr, OptHelp},
		{nullptr, 0, nullptr, 0},
	};

	opterr = 0;
	for (;;) {
		const int option = getopt_long(argc, argv, ":", longOptions, nullptr);
		if (option == -1)
			break;
		switch (option) {
		case OptSettings:
			settingsPath = optarg;
			break;
		case OptIdentity: {
			const std::optional<unsigned> value = parseCount(optarg, 1, 1'000'000);
			if (!value)
				return usage("--identity needs a positive idx");
			idx = *value;
			break;
		}
		case OptTransport: {
			const std::optional<SipTransport> transport = parseTransport(optarg);
			if (!transport)
				return usage("--transport must be udp, tcp or tls");
			options.transport = *transport;
			break;
		}
		case OptCaFile:
			options.caFile = optarg;
			break;
		case OptBind:
			options.bind = optarg;
			break;
		case OptExpires: {
			const std::optional<unsigned> value = parseCount(optarg, 60, 86'400);
			if (!value)
				return usage("--expires must be 60..86400 seconds");
			options.expiresS = *value;
			break;
		}
		case OptKeepalive: {
			const std::optional<unsigned> value = parseCount(optarg, 5, 3'600);
			if (!value)
				return usage("--keepalive must be 5..3600 seconds");
			options.keepaliveS = *value;
			break;
		}
		case OptBus:
			if (!*optarg)
				return usage("--bus needs system, session or an address");
			bus = optarg;
			break;
		case OptLogLevel: {
			const std::optional<LogLevel> parsed = parseLogLevel(optarg);
			if (!parsed)
				return usage("--log-level must be error, warning, notice, info or "
					     "debug");
			level = *parsed;
			break;
		}
		case OptVersion:
			std::printf("checksyncd-nua %s\n", CHECKSYNCD_VERSION);
			return 0;
		case OptHelp:
			printHelp();
			return 0;
		case ':':
			return usage(std::string(argv[optind - 1]) + " needs a value");
		default:
			return usage(std::string("unknown option ") + argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage(std::string("unexpected argument ") + argv[optind]);
	if (options.transport == SipTransport::Tls && options.caFile.empty())
		return usage("--transport tls needs --ca-file: the registrar's certificate is "
			     "verified");
	if (options.transport != SipTransport::Tls && !options.caFile.empty())
		return usage("--ca-file is for --transport tls");
	if (options.transport != SipTransport::Udp && !options.bind.empty())
		return usage("--bind is for --transport udp (over TCP and TLS nothing listens)");

	logSetup(level, stderrIsJournal() ? LogBackend::Journal : LogBackend::Stderr,
		 "checksyncd-nua");
	xmlInitParser();
	std::string error;
	std::optional<Account> account = accountFrom(settingsPath, idx, error);
	if (!account) {
		logMessage(LogLevel::Error, error);
		xmlCleanupParser();
		return 1;
	}
	options.account = std::move(*account);

	su_init();
	su_log_redirect(nullptr, sofiaLog, nullptr);
	if (level == LogLevel::Debug)
		su_log_set_level(nullptr, 5);
	int status = 1;
	try {
		status = run(options, bus);
	} catch (const std::exception &e) {
		logMessage(LogLevel::Error, e.what());
		status = 1;
	}
	su_deinit();
	xmlCleanupParser();
	return status;
}
