// SPDX-License-Identifier: MIT
//
// Watches the settings file with inotify, registered with the su_root
// loop (no polling). It watches directories, not the file: the directory
// that holds the file (so rename-into-place, in-place rewrite, delete and
// re-create are all seen), the directory of a symlink's target (so the
// target's changes and a repointed link are seen), and, while a directory
// is missing, its nearest existing ancestor (so a removed and re-created
// directory is seen). A burst of events gives one callback, at most
// kSettleMs after the first event.

#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "loop.hpp"

namespace checksyncd {

class SettingsWatcher
{
public:
	static constexpr std::uint64_t kSettleMs = 20;

	// Throws std::system_error when inotify is not available.
	SettingsWatcher(EventLoop &loop, std::string path, std::function<void()> changed);
	~SettingsWatcher();
	SettingsWatcher(const SettingsWatcher &) = delete;
	SettingsWatcher &operator=(const SettingsWatcher &) = delete;

private:
	void rewatch();
	void onReadable();

	EventLoop &loop_;
	std::string path_;
	std::function<void()> changed_;
	int fd_ = -1;
	std::unique_ptr<FdWatch> watch_;
	Timer settle_;
	// watch descriptor -> (directory, names in it that matter)
	std::map<int, std::pair<std::string, std::set<std::string>>> watches_;
};

} // namespace checksyncd
