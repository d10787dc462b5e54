// SPDX-License-Identifier: MIT
//
// The running daemon: owns every subsystem in start order (loop, signals,
// settings watcher, settings, bus connection, D-Bus client, status object,
// source filter, SIP service, hand-overs from the UA, plug and play,
// watchdog), so teardown runs in reverse for free.

#pragma once

#include <memory>
#include <string>
#include <vector>

#include "auth/known_sources_store.hpp"
#include "base/unique_fd.hpp"
#include "filter/source_gate.hpp"
#include "loop/bus_connection.hpp"
#include "loop/loop.hpp"
#include "loop/watchdog.hpp"
#include "pnp/pnp_service.hpp"
#include "provisioning/provisioning_client.hpp"
#include "settings/settings.hpp"
#include "settings/settings_watcher.hpp"
#include "sip/handoff_service.hpp"
#include "sip/sip_service.hpp"
#include "status/status_service.hpp"

namespace checksyncd {

struct Options {
	std::string settingsPath;
	std::vector<std::string> listen; // empty: the default transports
	bool noListen = false;           // --listen none: hand-overs only
	std::string bus = "system";
};

class Instance
{
public:
	// Throws std::runtime_error when a transport cannot be bound or the
	// bus cannot be reached.
	explicit Instance(const Options &options);
	Instance(const Instance &) = delete;
	Instance &operator=(const Instance &) = delete;

	// Runs until SIGTERM or SIGINT; returns the exit status.
	int run();

private:
	// Why the settings are read: asked (at start, SIGHUP: every outcome is
	// logged) or a change the watcher saw (an unchanged file, or the same
	// refusal again, is not).
	enum class ReadCause : bool {
		Watched,
		Asked,
	};
	// Read the settings file and put it in force if it is good and new.
	// Returns whether the settings or the refusal changed.
	bool loadSettings(ReadCause cause);
	void reload(ReadCause cause);
	void onSignal();
	void notifyReady();
	std::string status() const;
	void publishSettings();

	Options options_;
	EventLoop loop_;
	UniqueFd signalFd_;
	std::unique_ptr<FdWatch> signals_;
	// Before the settings: the watches exist when the file is first read,
	// so a change made meanwhile is reported.
	std::unique_ptr<SettingsWatcher> watcher_;
	std::shared_ptr<const Settings> settings_;
	std::string settingsProblem_; // why the file was last refused
	std::string refusedStamp_;    // which version of the file that was
	std::unique_ptr<BusConnection> bus_;
	std::unique_ptr<ProvisioningClient> provisioning_;
	std::unique_ptr<StatusService> statusService_;
	std::unique_ptr<SourceGate> gate_;
	std::unique_ptr<SipService> sip_;
	// The status object reads the SIP side's lockouts while both exist:
	// declared after sip_, so the link goes first.
	struct FeedLink {
		StatusService *status = nullptr;
		~FeedLink()
		{
			if (status)
				status->setFeed(nullptr);
		}
	} feedLink_;
	// The SIP side's known sources, kept across a restart.
	std::unique_ptr<KnownSourcesStore> knownSources_;
	// Requests handed over by the phone's UA: into sip_, answered on bus_.
	std::unique_ptr<HandoffService> handoff_;
	std::unique_ptr<PnpService> pnp_;
	Watchdog watchdog_{loop_};
};

} // namespace checksyncd
