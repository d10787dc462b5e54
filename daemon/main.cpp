// SPDX-License-Identifier: MIT
//
// checksyncd: answers SIP NOTIFY check-sync requests and asks the phone's
// provisioning process, over D-Bus, to resync or reboot. See checksyncd(8)
// and docs/.

#include <getopt.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_log.h>
#include <libxml/parser.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "auth/auth.hpp"
#include "base/text.hpp"
#include "config.h"
#include "filter/resolver.hpp"
#include "filter/source_filter.hpp"
#include "instance.hpp"
#include "loop/log.hpp"
#include "loop/loop.hpp"
#include "settings/settings.hpp"
#include "settings/settings_file.hpp"

using namespace checksyncd;

namespace {

constexpr int kExitUsage = 64;

void printHelp()
{
	std::printf("Usage: checksyncd [OPTION]...\n"
		    "Answer SIP NOTIFY check-sync requests and ask the provisioning process,\n"
		    "over D-Bus, to resync the phone's settings or to reboot it.\n"
		    "\n"
		    "  --settings FILE      settings file (default %s)\n"
		    "  --listen URI         listen on this sofia-sip URI, e.g. sip:127.0.0.1:5060\n"
		    "                       or sip:[::]:5060;transport=udp; repeatable (default:\n"
		    "                       all addresses, UDP and TCP, port network_id_port);\n"
		    "                       none: no SIP port, requests handed over by the\n"
		    "                       phone's SIP UA only (org.checksyncd.Handoff1)\n"
		    "  --bus BUS            system, session, or a D-Bus address (default system)\n"
		    "  --log-level LEVEL    error, warning, notice, info or debug (default info)\n"
		    "  --check-config       validate the settings file, print the effective\n"
		    "                       settings (secrets masked) and exit\n"
		    "  --version            print the version and exit\n"
		    "  --help               print this help and exit\n",
		    CHECKSYNCD_DEFAULT_SETTINGS);
}

int usage(const char *message)
{
	std::fprintf(stderr, "checksyncd: %s\nTry 'checksyncd --help'.\n", message);
	return kExitUsage;
}

// --check-config looks the source filter's names up as the daemon would
// (the same resolver on a loop of its own, so at most kLookupTimeoutMs) and
// says what each resolves to. Waiting is fine here: this is a command, not
// the daemon's loop.
void printResolution(const std::vector<ResolveTarget> &targets)
{
	std::map<ResolveTarget, Resolution> results;
	su_init();
	try {
		EventLoop loop;
		Resolver resolver(loop, [&](const ResolveTarget &target, const Resolution &result) {
			results[target] = result;
			if (results.size() == targets.size())
				loop.stop();
		});
		for (const ResolveTarget &target : targets)
			resolver.lookup(target);
		loop.run();
	} catch (const std::exception &e) {
		std::printf("source filter: cannot look names up: %s\n", e.what());
	}
	su_deinit();
	for (const auto &[target, result] : results) {
		if (result.addresses.empty()) {
			std::printf("source filter: %s unresolved: %s; requests from it are "
				    "filtered out\n",
				    target.toString().c_str(), result.error.c_str());
			continue;
		}
		const std::string addresses = join(result.addresses, ", ",
						   [](const IpAddress &a) { return a.toString(); });
		std::printf("source filter: %s resolves to %s (TTL %u s)\n",
			    target.toString().c_str(), addresses.c_str(),
			    static_cast<unsigned>(result.ttlS));
	}
}

int checkConfig(const std::string &path)
{
	LoadResult result = loadSettingsFile(path);
	for (const std::string &warning : result.warnings)
		std::fprintf(stderr, "%s\n", warning.c_str());
	if (!result.settings) {
		for (const SettingsError &error : result.errors)
			std::fprintf(stderr, "%s\n", error.toString().c_str());
		return 1;
	}
	for (const std::string &warning : authWarnings(*result.settings))
		std::fprintf(stderr, "%s: warning: %s\n", path.c_str(), warning.c_str());
	std::printf("%s", describeSettings(*result.settings).c_str());
	for (const std::string &warning : filterWarnings(*result.settings))
		std::fprintf(stderr, "%s: warning: %s\n", path.c_str(), warning.c_str());
	const FilterPlan plan = planFilter(*result.settings);
	if (!plan.targets.empty()) {
		std::fflush(stdout);
		printResolution(plan.targets);
	}
	return 0;
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

} // namespace

int main(int argc, char **argv) noexcept
{
	Options options;
	options.settingsPath = CHECKSYNCD_DEFAULT_SETTINGS;
	bool check = false;
	LogLevel level = LogLevel::Info;

	enum {
		OptSettings = 1,
		OptListen,
		OptBus,
		OptLogLevel,
		OptCheckConfig,
		OptVersion,
		OptHelp
	};
	static const struct option longOptions[] = {
		{"settings", required_argument, nullptr, OptSettings},
		{"listen", required_argument, nullptr, OptListen},
		{"bus", required_argument, nullptr, OptBus},
		{"log-level", required_argument, nullptr, OptLogLevel},
		{"check-config", no_argument, nullptr, OptCheckConfig},
		{"version", no_argument, nullptr, OptVersion},
		{"help", no_argument, nullptr, OptHelp},
		{nullptr, 0, nullptr, 0},
	};

	opterr = 0;
	for (;;) {
		int option = getopt_long(argc, argv, ":", longOptions, nullptr);
		if (option == -1)
			break;
		switch (option) {
		case OptSettings:
			options.settingsPath = optarg;
			break;
		case OptListen:
			options.listen.emplace_back(optarg);
			break;
		case OptBus:
			if (!*optarg)
				return usage("--bus needs system, session or an address");
			options.bus = optarg;
			break;
		case OptLogLevel: {
			auto parsed = parseLogLevel(optarg);
			if (!parsed)
				return usage("--log-level must be error, warning, notice, info or "
					     "debug");
			level = *parsed;
			break;
		}
		case OptCheckConfig:
			check = true;
			break;
		case OptVersion:
			std::printf("checksyncd %s\n", CHECKSYNCD_VERSION);
			return 0;
		case OptHelp:
			printHelp();
			return 0;
		case ':':
			return usage((std::string(argv[optind - 1]) + " needs a value").c_str());
		default:
			return usage((std::string("unknown option ") + argv[optind - 1]).c_str());
		}
	}
	if (optind < argc)
		return usage((std::string("unexpected argument ") + argv[optind]).c_str());
	if (options.settingsPath.empty())
		return usage("--settings needs a file name");
	// --listen none: no SIP port at all, hand-overs from the UA only.
	if (std::find(options.listen.begin(), options.listen.end(), "none") !=
	    options.listen.end()) {
		if (options.listen.size() > 1)
			return usage("--listen none cannot be combined with another --listen");
		options.listen.clear();
		options.noListen = true;
	}

	xmlInitParser();
	if (check)
		return checkConfig(options.settingsPath);

	logSetup(level, stderrIsJournal() ? LogBackend::Journal : LogBackend::Stderr);
	su_init();
	su_log_redirect(nullptr, sofiaLog, nullptr);
	if (level == LogLevel::Debug)
		su_log_set_level(nullptr, 5);

	int status = 1;
	try {
		Instance instance(options);
		status = instance.run();
	} catch (const std::exception &e) {
		logMessage(LogLevel::Error, e.what());
		status = 1;
	}
	su_deinit();
	xmlCleanupParser();
	return status;
}
