// SPDX-License-Identifier: MIT

#include "instance.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "auth/auth.hpp"
#include "config.h"
#include "loop/log.hpp"
#include "settings/reload.hpp"
#include "settings/settings_file.hpp"
#include "settings/settings_values.hpp"

namespace checksyncd {

namespace {

// SIGTERM, SIGINT and SIGHUP, blocked and read from a signalfd.
UniqueFd blockedSignals()
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, nullptr) < 0)
		throw std::system_error(errno, std::generic_category(), "sigprocmask");
	UniqueFd fd(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
	if (!fd)
		throw std::system_error(errno, std::generic_category(), "signalfd");
	return fd;
}

std::vector<std::string> defaultListen(std::uint16_t port)
{
	std::string p = std::to_string(port);
	return {
		"sip:0.0.0.0:" + p + ";transport=udp",
		"sip:0.0.0.0:" + p + ";transport=tcp",
		"sip:[::]:" + p + ";transport=udp",
		"sip:[::]:" + p + ";transport=tcp",
	};
}

// What the SIP service binds: --listen's URIs, none with --listen none,
// else the default transports on the port of the settings at start.
std::vector<std::string> listenUris(const Options &options, const Settings *settings)
{
	if (!options.listen.empty() || options.noListen)
		return options.listen;
	return defaultListen(settings ? settings->port : 5060);
}

// What tells one version of the file from another without reading it.
std::string fileStamp(const std::string &path)
{
	struct stat st {
	};
	if (stat(path.c_str(), &st) != 0)
		return "absent";
	return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
	       std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
	       std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_mode);
}

} // namespace

Instance::Instance(const Options &options)
	: options_(options), signalFd_(blockedSignals()),
	  signals_(loop_, signalFd_.get(), POLLIN, [this](int) { onSignal(); }),
	  // Watch first, then read: a change made between the two is an event
	  // the loop handles once it runs.
	  watcher_(loop_, options_.settingsPath, [this] { reload(ReadCause::Watched); }),
	  settings_(settingsAtStart()), bus_(loop_, options_.bus), provisioning_(loop_, bus_),
	  statusService_(loop_, bus_, *this), gate_(loop_, settings_.get()),
	  sip_(loop_, provisioning_, gate_, listenUris(options_, settings_.get()), &statusService_),
	  knownSources_(loop_, sip_.guard(), KnownSourcesStore::directoryFromEnvironment()),
	  handoff_(bus_, sip_, HandoffService::lookUpGroup()),
	  pnp_(loop_, provisioning_,
	       [this](const PnpStatus &pnp) {
		       statusService_.setPlugAndPlay(pnp.state, pnp.lastServer, pnp.lastUrl,
						     pnp.droppedOffLink);
	       }),
	  watchdog_(loop_)
{
	publishSettings();
	statusService_.setListening(listenUris(options_, settings_.get()));
	sip_.setSettings(settings_);
	pnp_.setSettings(settings_);
}

std::shared_ptr<const Settings> Instance::settingsAtStart()
{
	std::shared_ptr<const Settings> settings;
	loadSettings(ReadCause::Asked, settings);
	return settings;
}

bool Instance::loadSettings(ReadCause cause, std::shared_ptr<const Settings> &inForce)
{
	const std::string &path = options_.settingsPath;
	LoadResult result = loadSettingsFile(path);
	ReloadDecision decision = decideReload(inForce.get(), result);

	if (decision == ReloadDecision::Unchanged) {
		// An event that did not change the settings (a touch, an editor's
		// backup file): nothing to say unless someone asked.
		if (cause == ReadCause::Asked)
			logMessage(LogLevel::Info, path + ": unchanged", {{"SETTINGS_FILE", path}});
		settingsProblem_.clear();
		return false;
	}

	if (decision == ReloadDecision::Refused) {
		std::string problem = result.errors.empty() ? path + ": invalid"
							    : result.errors.front().toString();
		// The same refusal of the same file again (more events on it) is
		// logged once, unless someone asked; a new bad file is logged.
		std::string stamp = fileStamp(path);
		if (cause == ReadCause::Watched && problem == settingsProblem_ &&
		    stamp == refusedStamp_)
			return false;
		refusedStamp_ = stamp;
		for (const std::string &warning : result.warnings)
			logMessage(LogLevel::Warning, warning, {{"SETTINGS_FILE", path}});
		for (const SettingsError &error : result.errors)
			logMessage(LogLevel::Error, error.toString(), {{"SETTINGS_FILE", path}});
		settingsProblem_ = problem;
		if (inForce)
			logMessage(LogLevel::Warning,
				   "refused " + path + "; the last good settings stay in force",
				   {{"SETTINGS_FILE", path}});
		else
			logMessage(LogLevel::Warning,
				   "no good settings loaded: answering check-syncs 503 until " +
					   path + " is fixed",
				   {{"SETTINGS_FILE", path}});
		return true;
	}

	for (const std::string &warning : result.warnings)
		logMessage(LogLevel::Warning, warning, {{"SETTINGS_FILE", path}});
	for (const std::string &warning : authWarnings(*result.settings))
		logMessage(LogLevel::Warning, path + ": " + warning, {{"SETTINGS_FILE", path}});
	inForce = std::make_shared<const Settings>(std::move(*result.settings));
	settingsProblem_.clear();
	logMessage(LogLevel::Info,
		   "settings loaded from " + path +
			   ": challenge_checksync=" + onOff(inForce->challengeChecksync) + ", " +
			   std::to_string(inForce->identities.size()) + " identities",
		   {{"SETTINGS_FILE", path}});
	return true;
}

void Instance::reload(ReadCause cause)
{
	// MONOTONIC_USEC lets systemd >= 253 use Type=notify-reload.
	std::string reloading = "RELOADING=1\nMONOTONIC_USEC=" +
				std::to_string(EventLoop::nowMs() * 1000);
	(void)sd_notify(0, reloading.c_str());
	bool changed = loadSettings(cause, settings_);
	if (changed)
		sip_.setSettings(settings_);
	// New settings look every name of the source filter up again; so does
	// a SIGHUP that changed nothing.
	if (changed)
		gate_.setSettings(settings_.get());
	else if (cause == ReadCause::Asked)
		gate_.refresh();
	if (changed)
		pnp_.setSettings(settings_);
	publishSettings();
	notifyReady();
}

std::string Instance::status() const
{
	std::string text;
	if (settings_) {
		text = options_.noListen
			       ? std::string("Serving check-syncs handed over by the UA only "
					     "(--listen none)")
			       : "Serving check-sync on " + sip_.listening() +
					 " and handed over by the UA";
		text += std::string("; challenge ") + onOff(settings_->challengeChecksync);
		if (std::string filter = gate_.status(); !filter.empty())
			text += "; " + filter;
		if (!settingsProblem_.empty())
			text += "; kept last good settings (" + settingsProblem_ + ")";
	} else {
		text = "Waiting for good settings (" + settingsProblem_ + "); answering 503";
	}
	return text;
}

void Instance::publishSettings()
{
	statusService_.setState(settings_ ? ServiceState::Serving : ServiceState::NoSettings);
	statusService_.setSettings(options_.settingsPath, settingsProblem_);
}

void Instance::notifyReady()
{
	std::string message = "READY=1\nSTATUS=" + status();
	(void)sd_notify(0, message.c_str());
}

void Instance::onSignal()
{
	signalfd_siginfo info{};
	while (read(signalFd_.get(), &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
		switch (info.ssi_signo) {
		case SIGHUP:
			logMessage(LogLevel::Info, "SIGHUP: reloading " + options_.settingsPath);
			// Watch what the path names now (a change inotify does not
			// report, such as a mount, is followed from here on), then read.
			watcher_.rearm();
			reload(ReadCause::Asked);
			break;
		case SIGTERM:
		case SIGINT:
			logMessage(LogLevel::Info,
				   std::string("stopping on ") +
					   strsignal(static_cast<int>(info.ssi_signo)));
			(void)sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
			statusService_.setState(ServiceState::Stopping);
			loop_.stop();
			break;
		default:
			break;
		}
	}
}

int Instance::run()
{
	watchdog_.start();
	logMessage(LogLevel::Notice, "checksyncd " CHECKSYNCD_VERSION " ready: " + status());
	notifyReady();
	loop_.run();
	// What changed since the last write: the stop before the reboot a
	// check-sync asked for is the moment the PBX's source matters most.
	knownSources_.flush();
	return 0;
}

} // namespace checksyncd
