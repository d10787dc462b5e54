// SPDX-License-Identifier: MIT

#include "settings/watch_plan.hpp"

#include <algorithm>
#include <iterator>
#include <string>
#include <vector>

namespace checksyncd {

std::vector<std::string> pathComponents(std::string_view path)
{
	std::vector<std::string> components;
	std::size_t start = 0;
	while (start <= path.size()) {
		std::size_t slash = path.find('/', start);
		if (slash == std::string_view::npos)
			slash = path.size();
		std::string_view component = path.substr(start, slash - start);
		if (!component.empty() && component != ".")
			components.emplace_back(component);
		start = slash + 1;
	}
	return components;
}

std::string childPath(const std::string &directory, const std::string &name)
{
	if (directory == ".")
		return name;
	if (directory == "/")
		return "/" + name;
	return directory + "/" + name;
}

std::string parentPath(const std::string &directory)
{
	if (directory == "/")
		return "/";
	if (directory == ".")
		return "..";
	std::size_t slash = directory.find_last_of('/');
	std::string_view last = slash == std::string::npos
					? std::string_view(directory)
					: std::string_view(directory).substr(slash + 1);
	// Only leading ".." components remain in a resolved relative path:
	// going up from there is one more "..".
	if (last == "..")
		return directory + "/..";
	if (slash == std::string::npos)
		return ".";
	if (slash == 0)
		return "/";
	return directory.substr(0, slash);
}

WatchPlan planWatches(std::string_view path, const EntryLookup &lookup, int maxSymlinks)
{
	WatchPlan plan;
	// The components still to walk, the next one last: a vector used as a
	// stack (a deque's insertion at the front doubled this file's object code).
	std::vector<std::string> pending = pathComponents(path);
	std::reverse(pending.begin(), pending.end());
	// Where the walk stands: a directory reached through no symlink (each
	// one met was replaced by its target), so ".." is lexical.
	std::string directory = !path.empty() && path.front() == '/' ? "/" : ".";

	while (!pending.empty()) {
		std::string name = std::move(pending.back());
		pending.pop_back();
		if (name == "..") {
			directory = parentPath(directory);
			continue;
		}
		plan.directories[directory].insert(name);
		std::string here = childPath(directory, name);
		Entry entry = lookup(here);
		if (entry.kind == EntryKind::Directory) {
			directory = std::move(here);
			continue;
		}
		if (entry.kind != EntryKind::Symlink || entry.target.empty() ||
		    plan.symlinks >= maxSymlinks)
			break; // absent, the file itself, not a directory, or ELOOP
		plan.symlinks++;
		// The target takes the link's place; a relative one is resolved
		// from the directory that holds the link, where the walk stands.
		std::vector<std::string> target = pathComponents(entry.target);
		pending.insert(pending.end(), std::make_move_iterator(target.rbegin()),
			       std::make_move_iterator(target.rend()));
		if (entry.target.front() == '/')
			directory.assign(1, '/'); // not = "/": GCC 12's false -Wrestrict
	}
	return plan;
}

} // namespace checksyncd
