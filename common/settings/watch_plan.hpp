// SPDX-License-Identifier: MIT
//
// Which directories to watch so that every change to what a path names is
// seen: the path is resolved as the kernel resolves it (path_resolution(7)),
// one component at a time, and each component is watched in the directory
// that holds it. A symlink met on the way (in any component, chains,
// relative or absolute targets) is followed, and its target's components
// are watched the same way, so repointing a link anywhere on the path, or
// replacing, removing or creating any directory on it, is an event in a
// watched directory. The walk stops where the kernel's would: at a missing
// entry, at a file that is not a directory with components left, and after
// kMaxSymlinks links (ELOOP).
//
// Pure: the file system is a lookup the caller passes in (lstat and
// readlink in the daemon, a table in the tests).

#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace checksyncd {

// The kernel's bound on the symlinks one resolution follows (MAXSYMLINKS).
inline constexpr int kMaxSymlinks = 40;

// The components of a path, without empty ones and ".":
// "/a//./b/" -> {"a", "b"}; ".." is kept.
std::vector<std::string> pathComponents(std::string_view path);

// The entry `name` in `directory`: ("/", "a") -> "/a", (".", "a") -> "a",
// ("a", "b") -> "a/b".
std::string childPath(const std::string &directory, const std::string &name);

// The parent of a directory path that holds no symlink, where ".." is
// lexical: "/a/b" -> "/a", "/a" -> "/", "/" -> "/" (as the kernel's ".." at
// the root), "a" -> ".", "." -> "..", ".." -> "../..".
std::string parentPath(const std::string &directory);

enum class EntryKind : unsigned char {
	Absent,    // does not exist, or cannot be looked at
	Directory, // a directory (not a symlink to one)
	Symlink,   // a symlink; target is what readlink says (empty: unreadable)
	Other,     // a regular file, a FIFO, a device...
};

struct Entry {
	EntryKind kind = EntryKind::Absent;
	std::string target;
};

// What the path names, without following a symlink in its last component
// (lstat, then readlink for a symlink).
using EntryLookup = std::function<Entry(const std::string &path)>;

struct WatchPlan {
	// directory (holding no symlink) -> the names in it the path goes
	// through
	std::map<std::string, std::set<std::string>> directories;
	int symlinks = 0; // how many links the walk followed

	bool operator==(const WatchPlan &) const = default;
};

// path: absolute, or relative to the working directory (".").
WatchPlan planWatches(std::string_view path, const EntryLookup &lookup,
		      int maxSymlinks = kMaxSymlinks);

} // namespace checksyncd
