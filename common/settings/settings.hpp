// SPDX-License-Identifier: MIT
//
// The phone's settings, as far as checksyncd reads them, and the reader of
// the Snom-style XML settings file (docs/settings.md).
//
// The reader is pure with respect to the daemon: it returns a result and
// never logs. The caller decides what to log.

#pragma once

#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "auth/digest.hpp"
#include "base/net_address.hpp"
#include "config.h"

namespace checksyncd {

// checksync_action: Snom's values (firmware 10.1.180 and later).
enum class ForcedAction : unsigned char {
	None,           // follow the NOTIFY
	Sync,           // always resync
	Reboot,         // always reboot
	Reregister,     // always refresh the SIP registrations
	DeleteContacts, // always clear the phonebook, local and provisioned entries
	FactoryReset,   // always reset the phone to its factory settings
};

// The event packages a NOTIFY may ask a phone to act with (checksyncd(8),
// "SIP ANSWERS"), in their canonical order: Allow-Events and --check-config list
// them so, whatever order the settings file gives.
enum class EventPackage : unsigned char {
	CheckSync,      // check-sync: Snom, Aastra, Digium, Polycom, Cisco
	Resync,         // resync: Sipura/Linksys/Cisco SPA; Grandstream, Fanvil, Htek
	Reboot,         // reboot: Cisco SPA
	RebootNow,      // reboot_now: Linksys cold restart
	RestartNow,     // restart_now: Linksys warm restart
	ServiceControl, // service-control: Cisco Enterprise (CUCM, CME, Asterisk)
	Report,         // report: Cisco SPA, upload the configuration report
};

inline constexpr EventPackage kEventPackages[] = {
	EventPackage::CheckSync, EventPackage::Resync,     EventPackage::Reboot,
	EventPackage::RebootNow, EventPackage::RestartNow, EventPackage::ServiceControl,
	EventPackage::Report,
};
// EventPackageSet keeps one bit per package in a byte.
static_assert(std::size(kEventPackages) <= 8);

// "check-sync", "resync", "reboot", "reboot_now", "restart_now",
// "service-control", "report".
std::string_view eventPackageName(EventPackage package);
// The package of that name, in any case (event-type is a token compared
// case-insensitively, as for check-sync); nullopt for any other name.
std::optional<EventPackage> parseEventPackage(std::string_view name);

// A set of event packages (checksync_events).
class EventPackageSet
{
public:
	constexpr EventPackageSet() = default;
	constexpr EventPackageSet(std::initializer_list<EventPackage> packages)
	{
		for (EventPackage package : packages)
			insert(package);
	}

	constexpr bool contains(EventPackage package) const { return (bits_ & bit(package)) != 0; }
	constexpr void insert(EventPackage package) { bits_ |= bit(package); }
	constexpr bool empty() const { return bits_ == 0; }

	bool operator==(const EventPackageSet &) const = default;

private:
	static constexpr std::uint8_t bit(EventPackage package)
	{
		return static_cast<std::uint8_t>(1u << static_cast<unsigned>(package));
	}
	std::uint8_t bits_ = 0;
};

// checksync_events when the settings do not say.
inline constexpr EventPackageSet kDefaultEventPackages{EventPackage::CheckSync};

// The names of the packages in the set, in canonical order, joined by
// `separator`.
std::string joinEventPackages(EventPackageSet packages, std::string_view separator);

// What a request from a source the filter does not accept gets
// (checksync_untrusted).
enum class UntrustedPolicy : unsigned char {
	Drop,   // no answer at all
	Refuse, // 403
};

struct Identity {
	unsigned idx = 0;
	bool active = true;
	std::string name;     // user_name
	std::string host;     // user_host, host[:port]
	std::string pname;    // user_pname (authentication user), may be empty
	std::string pass;     // user_pass, secret
	std::string hash;     // user_hash, lower-case 32 hex (MD5 HA1), secret
	std::string outbound; // user_outbound, host[:port]

	// Host part of user_host (port removed; IPv6 keeps its brackets).
	std::string realm() const;
	// user_pname, or user_name when user_pname is empty.
	const std::string &authUser() const;
	// True when the identity has a password or an HA1 to check against.
	bool hasCredentials() const { return !pass.empty() || !hash.empty(); }

	bool operator==(const Identity &) const = default;
};

// Plug and play (common/pnp/pnp.hpp): the ua-profile SUBSCRIBE a factory-new
// phone multicasts to find its provisioning server.
struct PnpSettings {
	bool enabled = true;       // pnp_config
	std::string settingServer; // setting_server: PnP runs only while empty
	std::string vendor = "checksyncd";
	std::string model = "generic";
	std::string version = CHECKSYNCD_VERSION;
	// pnp_mac, 12 upper-case hex digits; empty: the MAC of the interface
	// that holds the default IPv4 route, found when a round starts.
	std::string mac;
	// pnp_url_schemes, lower-case, in the order given.
	std::vector<std::string> urlSchemes{"https"};

	// pnp_config on and setting_server empty.
	bool wanted() const { return enabled && settingServer.empty(); }

	bool operator==(const PnpSettings &) const = default;
};

struct Settings {
	bool challengeChecksync = false;
	bool challengeReboot = false;
	ForcedAction action = ForcedAction::None;
	std::uint16_t port = 5060;
	std::vector<Algorithm> algorithms{Algorithm::Md5};
	QopPolicy qop = QopPolicy::Auth;
	// checksync_auth_userhash: challenges offer userhash=true and an opaque
	// value (RFC 7616 3.3), answers may hash the username (3.4.4).
	bool userhash = false;
	// checksync_events: the packages honoured; never empty.
	EventPackageSet events = kDefaultEventPackages;
	// Source filter: filter_registrar, checksync_trusted, checksync_untrusted.
	bool filterRegistrar = false;
	std::vector<TrustedSource> trusted;
	UntrustedPolicy untrusted = UntrustedPolicy::Drop;
	// Keyed by idx, so iteration runs from the lowest idx up.
	std::map<unsigned, Identity> identities;
	PnpSettings pnp;
	// Names of the settings that came from the file (the rest are defaults);
	// per-identity names are stored as "user_name[1]" and so on.
	std::set<std::string> fromFile;

	// The active identity whose user_name equals `user` (exact match).
	const Identity *findActiveByUser(std::string_view user) const;
	// The active identity with the lowest idx, or nullptr.
	const Identity *lowestActive() const;

	// Same effective settings (fromFile included: --check-config would
	// print them differently).
	bool operator==(const Settings &) const = default;
};

struct SettingsError {
	std::string file;
	long line = 0; // 0 when the error is not tied to a line
	std::string message;

	// "FILE:LINE: message", or "FILE: message" without a line.
	std::string toString() const;
};

struct LoadResult {
	std::optional<Settings> settings; // set only when errors is empty
	std::vector<SettingsError> errors;
	std::vector<std::string> warnings; // e.g. file readable by others
};

// Largest settings file accepted.
inline constexpr std::size_t kMaxSettingsBytes = 1024 * 1024;

// Parse an in-memory document; `name` stands for the file name in errors.
LoadResult parseSettings(std::string_view xml, const std::string &name);

// Human-readable effective configuration for --check-config: every setting
// with its value and its source ("file" or "default"); passwords and hashes
// are masked.
std::string describeSettings(const Settings &settings);

} // namespace checksyncd
