// SPDX-License-Identifier: MIT
//
// What a reload of the settings file does to the settings in force
// (docs/settings.md): a good file that differs replaces them, a good file
// that is the same changes nothing, and a refused file leaves the last good
// settings in force (or none, if none was ever loaded). Pure.

#pragma once

#include "settings/settings.hpp"

namespace checksyncd {

enum class ReloadDecision : unsigned char {
	Apply,     // new settings: put them in force
	Unchanged, // good, and the same as those in force
	Refused,   // invalid: keep what is in force
};

// current is nullptr when no good settings were ever loaded.
ReloadDecision decideReload(const Settings *current, const LoadResult &loaded);

} // namespace checksyncd
