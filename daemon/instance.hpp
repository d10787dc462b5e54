// SPDX-License-Identifier: MIT
//
// The running daemon: owns every subsystem as a member, declared in start
// order (loop, signals, settings watcher, settings, bus connection, D-Bus
// client, status object, source filter, SIP service, known sources,
// hand-overs from the UA, plug and play, watchdog) and built in that order
// by the constructor's initialiser list, so teardown runs in reverse for
// free. Each is handed what it works with when it is built; none is wired
// up later.
//
// None is optional: with --listen none the SIP service binds no port but
// still parses and answers the requests the UA hands over, and plug and
// play is a setting a reload can turn on, so each subsystem lives as long
// as the daemon.

#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
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
#include "status/status.hpp"
#include "status/status_service.hpp"

namespace checksyncd {

struct Options {
	std::string settingsPath;
	std::vector<std::string> listen; // empty: the default transports
	bool noListen = false;           // --listen none: hand-overs only
	std::string bus = "system";
};

class Instance final : StatusFeed
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
	// Read the settings file and put it in `inForce` if it is good and new.
	// Returns whether the settings or the refusal changed.
	bool loadSettings(ReadCause cause, std::shared_ptr<const Settings> &inForce);
	// The first read, for settings_ (nullptr: no good settings).
	std::shared_ptr<const Settings> settingsAtStart();
	void reload(ReadCause cause);
	void onSignal();
	void notifyReady();
	std::string status() const;
	void publishSettings();

	// StatusFeed: what the status object asks the SIP side.
	std::vector<Lockout> lockedOut(std::uint64_t nowMs) override
	{
		return sip_.lockedOut(nowMs);
	}
	bool unlock(std::string_view source) override { return sip_.unlock(source); }

	Options options_;
	EventLoop loop_;
	UniqueFd signalFd_; // SIGTERM, SIGINT and SIGHUP, blocked
	FdWatch signals_;
	// Before the settings: the watches exist when the file is first read,
	// so a change made meanwhile is reported.
	SettingsWatcher watcher_;
	std::string settingsProblem_; // why the file was last refused
	std::string refusedStamp_;    // which version of the file that was
	std::shared_ptr<const Settings> settings_;
	BusConnection bus_;
	ProvisioningClient provisioning_;
	// The status object and the SIP service use each other. The SIP
	// service reports every request to the status object, so it comes
	// after it: the status object outlives it and the pointer the SIP
	// service (and its socket filter) holds is good for as long as they
	// exist. The status object asks about lockouts through this Instance
	// (its StatusFeed), which asks sip_: it does so only from the loop
	// (a property read, Unlock, a timer), which runs only in run(), after
	// sip_ is built and before it goes. (It cannot be given sip_ itself:
	// sip_ is not built yet when the status object is, and a reference to
	// a base of an object not yet built is undefined, [class.cdtor]/3.)
	StatusService statusService_;
	SourceGate gate_; // the source filter: asked by sip_ about every request
	SipService sip_;
	// The SIP side's known sources, kept across a restart.
	KnownSourcesStore knownSources_;
	// Requests handed over by the phone's UA: into sip_, answered on bus_.
	HandoffService handoff_;
	PnpService pnp_; // tells statusService_ of every change
	Watchdog watchdog_;
};

} // namespace checksyncd
