// SPDX-License-Identifier: MIT

#include "settings/settings_watcher.hpp"

#include <limits.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <system_error>

#include "base/text.hpp"
#include "loop/log.hpp"

namespace checksyncd {

namespace {

// IN_DONT_FOLLOW and IN_ONLYDIR: a watch goes on the directory the plan
// names, never on what a symlink that replaced it meanwhile points to (the
// plan is checked again after the watches are added).
constexpr std::uint32_t kDirEvents = IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM |
				     IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF |
				     IN_ONLYDIR | IN_DONT_FOLLOW;

// A watched directory went away (deleted, moved, unmounted): what the path
// names may have changed.
constexpr std::uint32_t kGoneEvents = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED;

// A change of the path while the watches are being added needs another
// look; a path that keeps changing keeps sending events, and each event
// re-arms, so a few rounds are enough.
constexpr int kArmRounds = 4;

Entry lookupEntry(const std::string &path)
{
	struct stat st {
	};
	if (lstat(path.c_str(), &st) != 0)
		return {};
	if (S_ISDIR(st.st_mode))
		return {EntryKind::Directory, {}};
	if (!S_ISLNK(st.st_mode))
		return {EntryKind::Other, {}};
	std::array<char, PATH_MAX> buffer{};
	ssize_t n = readlink(path.c_str(), buffer.data(), buffer.size());
	if (n <= 0 || static_cast<std::size_t>(n) >= buffer.size())
		return {EntryKind::Symlink, {}}; // unreadable or too long: the walk ends here
	return {EntryKind::Symlink, std::string(buffer.data(), static_cast<std::size_t>(n))};
}

} // namespace

SettingsWatcher::SettingsWatcher(EventLoop &loop, std::string path, std::function<void()> changed)
	: loop_(loop), path_(std::move(path)), changed_(std::move(changed)), settle_(loop)
{
	fd_.reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
	if (!fd_)
		throw std::system_error(errno, std::generic_category(), "inotify_init1");
	watch_ = std::make_unique<FdWatch>(loop_, fd_.get(), POLLIN, [this](int) { onReadable(); });
	rearm();
}

void SettingsWatcher::rearm()
{
	WatchPlan plan = planWatches(path_, lookupEntry);
	apply(plan);
	// Look again once the watches exist: a change made while they were
	// being added may have come before the watch that would report it.
	for (int round = 1; round < kArmRounds; round++) {
		WatchPlan again = planWatches(path_, lookupEntry);
		if (again == plan)
			break;
		plan = std::move(again);
		apply(plan);
	}
}

void SettingsWatcher::apply(const WatchPlan &plan)
{
	// Every directory is watched again, even when the plan did not change:
	// the same path may name another directory now (a mount), and adding a
	// watch that exists only returns its descriptor.
	std::map<int, std::set<std::string>> next;
	std::set<std::string> unwatchable;
	for (const auto &[dir, names] : plan.directories) {
		int wd = inotify_add_watch(fd_.get(), dir.c_str(), kDirEvents);
		if (wd < 0) {
			int error = errno;
			// ENOENT, ENOTDIR: the path changed since the plan was made,
			// which the next look (or the event) handles. Anything else
			// (EACCES, ENOSPC: the watch limit) is said once per directory.
			if (error != ENOENT && error != ENOTDIR) {
				unwatchable.insert(dir);
				if (!unwatchable_.contains(dir))
					logMessage(
						LogLevel::Warning,
						"cannot watch " + dir + ": " + errnoText(error) +
							"; changes there are seen on SIGHUP only");
			}
			continue;
		}
		// Two directories of the plan may be the same inode (a bind
		// mount, a path through ".."): merge their names.
		next[wd].insert(names.begin(), names.end());
	}
	for (const auto &[wd, names] : watches_)
		if (!next.contains(wd))
			inotify_rm_watch(fd_.get(), wd);
	watches_ = std::move(next);
	unwatchable_ = std::move(unwatchable);
}

void SettingsWatcher::onReadable()
{
	alignas(inotify_event) std::array<char, 4096> buffer{};
	bool relevant = false;
	for (;;) {
		ssize_t n = read(fd_.get(), buffer.data(), buffer.size());
		if (n <= 0)
			break;
		for (ssize_t offset = 0; offset < n;) {
			const auto *event = reinterpret_cast<const inotify_event *>(buffer.data() +
										    offset);
			offset += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
			if (event->mask & IN_Q_OVERFLOW) {
				relevant = true; // events were lost: look at everything again
				continue;
			}
			// Events of a watch removed by apply() (its IN_IGNORED, and
			// what was queued before) belong to a plan no longer in force.
			auto it = watches_.find(event->wd);
			if (it == watches_.end())
				continue;
			if (event->mask & kGoneEvents)
				relevant = true;
			else if (event->len > 0 && it->second.contains(std::string(event->name)))
				relevant = true;
		}
	}
	if (relevant && !settle_.armed())
		settle_.arm(kSettleMs, [this] {
			rearm();
			changed_();
		});
}

} // namespace checksyncd
