// SPDX-License-Identifier: MIT

#include "settings_watcher.hpp"

#include <limits.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <system_error>
#include <vector>

#include "log.hpp"

namespace checksyncd {

namespace {

constexpr std::uint32_t kDirEvents = IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM |
				     IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF |
				     IN_ONLYDIR;

std::string parentOf(const std::string &path)
{
	std::size_t slash = path.find_last_of('/');
	if (slash == std::string::npos)
		return ".";
	if (slash == 0)
		return "/";
	return path.substr(0, slash);
}

std::string baseOf(const std::string &path)
{
	std::size_t slash = path.find_last_of('/');
	return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool isDirectory(const std::string &path)
{
	struct stat st {};
	return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The directory to watch for `path` to appear or change, and the name in
// it that matters: the parent of path, or the nearest existing ancestor.
std::pair<std::string, std::string> watchPoint(std::string path)
{
	std::string dir = parentOf(path);
	std::string name = baseOf(path);
	while (!isDirectory(dir) && dir != "/" && dir != ".") {
		name = baseOf(dir);
		dir = parentOf(dir);
	}
	return {dir, name};
}

// Where a symlink at `path` points, as a path (relative targets resolved
// against the link's directory); empty when path is not a symlink.
std::string linkTarget(const std::string &path)
{
	struct stat st {};
	if (lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode))
		return {};
	std::array<char, PATH_MAX> buffer{};
	ssize_t n = readlink(path.c_str(), buffer.data(), buffer.size() - 1);
	if (n <= 0)
		return {};
	std::string target(buffer.data(), static_cast<std::size_t>(n));
	if (target.front() != '/')
		target = parentOf(path) + "/" + target;
	return target;
}

} // namespace

SettingsWatcher::SettingsWatcher(EventLoop &loop, std::string path, std::function<void()> changed)
	: loop_(loop), path_(std::move(path)), changed_(std::move(changed)), settle_(loop)
{
	if (path_.find('/') == std::string::npos)
		path_ = "./" + path_;
	fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd_ < 0)
		throw std::system_error(errno, std::generic_category(), "inotify_init1");
	watch_ = std::make_unique<FdWatch>(loop_, fd_, POLLIN, [this](int) { onReadable(); });
	rewatch();
}

SettingsWatcher::~SettingsWatcher()
{
	watch_.reset();
	if (fd_ >= 0)
		close(fd_);
}

void SettingsWatcher::rewatch()
{
	// What should be watched now: the file's own directory, and along a
	// chain of symlinks (bounded, like the kernel's) each target's.
	std::map<std::string, std::set<std::string>> wanted;
	std::string current = path_;
	for (int depth = 0; depth < 8 && !current.empty(); depth++) {
		auto [dir, name] = watchPoint(current);
		wanted[dir].insert(name);
		current = linkTarget(current);
	}

	std::map<int, std::pair<std::string, std::set<std::string>>> next;
	for (auto &[dir, names] : wanted) {
		int wd = inotify_add_watch(fd_, dir.c_str(), kDirEvents);
		if (wd < 0) {
			logMessage(LogLevel::Warning, "cannot watch " + dir + ": " +
							      std::system_category().message(errno));
			continue;
		}
		// Two wanted directories may be the same inode (bind mounts,
		// "." and its path): merge their names.
		auto &entry = next[wd];
		entry.first = dir;
		entry.second.insert(names.begin(), names.end());
	}
	for (auto &[wd, entry] : watches_)
		if (!next.contains(wd))
			inotify_rm_watch(fd_, wd);
	watches_ = std::move(next);
}

void SettingsWatcher::onReadable()
{
	alignas(inotify_event) std::array<char, 4096> buffer{};
	bool relevant = false;
	for (;;) {
		ssize_t n = read(fd_, buffer.data(), buffer.size());
		if (n <= 0)
			break;
		for (ssize_t offset = 0; offset < n;) {
			const auto *event = reinterpret_cast<const inotify_event *>(buffer.data() + offset);
			offset += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
			if (event->mask & (IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
				relevant = true;
				continue;
			}
			auto it = watches_.find(event->wd);
			if (it == watches_.end() || event->len == 0)
				continue;
			if (it->second.second.contains(std::string(event->name)))
				relevant = true;
		}
	}
	if (relevant && !settle_.armed())
		settle_.arm(kSettleMs, [this] {
			rewatch();
			changed_();
		});
}

} // namespace checksyncd
