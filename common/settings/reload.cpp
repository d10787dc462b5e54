// SPDX-License-Identifier: MIT

#include "settings/reload.hpp"

namespace checksyncd {

ReloadDecision decideReload(const Settings *current, const LoadResult &loaded)
{
	if (!loaded.settings)
		return ReloadDecision::Refused;
	if (current && *current == *loaded.settings)
		return ReloadDecision::Unchanged;
	return ReloadDecision::Apply;
}

} // namespace checksyncd
