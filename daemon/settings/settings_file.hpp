// SPDX-License-Identifier: MIT
//
// The settings file, read from disk (the loop side: it opens files). What
// is in it is checked by parseSettings() (common/settings/settings.hpp).

#pragma once

#include <string>

#include "settings/settings.hpp"

namespace checksyncd {

// Read and validate the file at `path`. Refuses non-regular files (FIFO,
// device), files over kMaxSettingsBytes, unreadable files, files that are
// not well-formed, that contain a DOCTYPE or entity declaration, or that
// hold an invalid value. Never blocks on a FIFO and never reads beyond
// kMaxSettingsBytes + 1 bytes.
LoadResult loadSettingsFile(const std::string &path);

} // namespace checksyncd
