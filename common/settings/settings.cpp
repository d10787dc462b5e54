// SPDX-License-Identifier: MIT
//
// The settings model (settings.hpp) and the effective configuration that
// --check-config prints, key by key from the table in settings_values.cpp.
// The file is read by settings_reader.cpp.

#include "settings/settings.hpp"

#include <sofia-sip/hostdomain.h>

#include "base/text.hpp"
#include "pnp/pnp.hpp"
#include "settings/settings_values.hpp"

namespace checksyncd {

std::string_view eventPackageName(EventPackage package)
{
	switch (package) {
	case EventPackage::CheckSync:
		return "check-sync";
	case EventPackage::Resync:
		return "resync";
	case EventPackage::Reboot:
		return "reboot";
	case EventPackage::RebootNow:
		return "reboot_now";
	case EventPackage::RestartNow:
		return "restart_now";
	case EventPackage::ServiceControl:
		return "service-control";
	case EventPackage::Report:
		return "report";
	}
	return "check-sync";
}

std::optional<EventPackage> parseEventPackage(std::string_view name)
{
	for (EventPackage package : kEventPackages) {
		if (equalsIgnoreCase(name, eventPackageName(package)))
			return package;
	}
	return std::nullopt;
}

std::string joinEventPackages(EventPackageSet packages, std::string_view separator)
{
	// A filtered join, written out: it answers every OPTIONS and 489
	// (allowEvents()), and a list built first would allocate per request.
	std::string out;
	for (EventPackage package : kEventPackages) {
		if (!packages.contains(package))
			continue;
		if (!out.empty())
			out += separator;
		out += eventPackageName(package);
	}
	return out;
}

// Identity and Settings

std::string Identity::realm() const
{
	return std::string(hostPart(host));
}

const std::string &Identity::authUser() const
{
	return pname.empty() ? name : pname;
}

const Identity *Settings::findActiveByUser(std::string_view user) const
{
	if (user.empty())
		return nullptr;
	for (const auto &[idx, identity] : identities) {
		if (identity.active && identity.name == user)
			return &identity;
	}
	return nullptr;
}

const Identity *Settings::lowestActive() const
{
	for (const auto &[idx, identity] : identities) {
		if (identity.active && !identity.name.empty())
			return &identity;
	}
	return nullptr;
}

std::string SettingsError::toString() const
{
	if (line == 0)
		return file + ": " + message;
	return file + ":" + std::to_string(line) + ": " + message;
}

std::string describeSettings(const Settings &settings)
{
	std::string out;
	const auto line = [&](const std::string &key, std::string_view value) {
		out += key;
		out += " = ";
		out += value.empty() ? std::string("(empty)")
				     : printable(value, std::string_view::npos);
		out += settings.fromFile.contains(key) ? " (file)\n" : " (default)\n";
	};

	for (const SettingKey<Settings> &key : settingKeys())
		line(std::string(key.name), key.describe(settings));
	for (const auto &[idx, identity] : settings.identities) {
		for (const SettingKey<Identity> &key : identityKeys())
			line(identityKey(key.name, idx), key.describe(identity));
	}
	return out;
}

} // namespace checksyncd
