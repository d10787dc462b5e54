// SPDX-License-Identifier: MIT
//
// Watches the settings file with inotify, registered with the su_root
// loop (no polling). It watches directories, not the file: every component
// of the path in the directory that holds it, and for every symlink on the
// way (in any component, chains too) the components of its target the same
// way (common/settings/watch_plan.hpp). So rename-into-place, in-place rewrite,
// delete and re-create, a repointed link anywhere on the path, and a
// directory on it removed, replaced or created are all seen. After each
// such event, and on rearm() (SIGHUP), the watches are computed again from
// what the path names now: a change inotify does not report (a mount over
// a directory of the path) is followed once the daemon is told. A burst of
// events gives one callback, at most kSettleMs after the first event.

#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "base/unique_fd.hpp"
#include "loop/loop.hpp"
#include "settings/watch_plan.hpp"

namespace checksyncd {

class SettingsWatcher
{
public:
	static constexpr std::uint64_t kSettleMs = 20;

	// Arms the watches before it returns, so that a change made after
	// construction (while the file is first read) is reported.
	// Throws std::system_error when inotify is not available.
	SettingsWatcher(EventLoop &loop, std::string path, std::function<void()> changed);
	SettingsWatcher(const SettingsWatcher &) = delete;
	SettingsWatcher &operator=(const SettingsWatcher &) = delete;

	// Compute the watches again from what the path names now, and put them
	// in place (before the file is read again).
	void rearm();

private:
	void apply(const WatchPlan &plan);
	void onReadable();

	EventLoop &loop_;
	std::string path_;
	std::function<void()> changed_;
	UniqueFd fd_;                    // the inotify instance
	std::unique_ptr<FdWatch> watch_; // after fd_: goes before it is closed
	Timer settle_;
	// watch descriptor -> the names in its directory that matter
	std::map<int, std::set<std::string>> watches_;
	std::set<std::string> unwatchable_; // directories already warned about
};

} // namespace checksyncd
