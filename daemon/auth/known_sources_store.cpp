// SPDX-License-Identifier: MIT

#include "auth/known_sources_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <variant>

#include "auth/known_sources.hpp"
#include "base/text.hpp"
#include "base/unique_fd.hpp"
#include "loop/log.hpp"
#include "loop/read_file.hpp"

namespace checksyncd {

namespace {

constexpr const char *kForgotten = "the sources that authenticated are forgotten at a restart";

bool writeAll(int fd, std::string_view text)
{
	while (!text.empty()) {
		const ssize_t n = ::write(fd, text.data(), text.size());
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		text.remove_prefix(static_cast<std::size_t>(n));
	}
	return true;
}

} // namespace

std::string KnownSourcesStore::directoryFromEnvironment()
{
	const char *value = std::getenv("STATE_DIRECTORY");
	if (!value)
		return {};
	std::string_view directory(value);
	directory = directory.substr(0, directory.find(':'));
	if (!directory.starts_with('/'))
		return {};
	return std::string(directory);
}

KnownSourcesStore::KnownSourcesStore(EventLoop &loop, RequestGuard &guard, std::string directory)
	: guard_(guard), directory_(std::move(directory)), timer_(loop)
{
	if (directory_.empty()) {
		logMessage(LogLevel::Info,
			   std::string("no state directory ($STATE_DIRECTORY unset): ") +
				   kForgotten);
		return;
	}
	struct stat st {
	};
	std::string why;
	if (stat(directory_.c_str(), &st) != 0)
		why = errnoText(errno);
	else if (!S_ISDIR(st.st_mode))
		why = "not a directory";
	else if (access(directory_.c_str(), W_OK | X_OK) != 0)
		why = errnoText(errno);
	if (!why.empty()) {
		logMessage(LogLevel::Warning,
			   "state directory " + directory_ + " cannot be used (" + why +
				   "): " + kForgotten,
			   {{"STATE_DIRECTORY", directory_}});
		return;
	}
	path_ = directory_ + "/" + kFileName;
	load();
	// What was just read needs no writing.
	writtenVersion_ = guard_.knownSourcesVersion();
	beforePoll_ = loop.addPrepoll([this] { beforePoll(); });
}

void KnownSourcesStore::load()
{
	const UniqueFd fd(open(path_.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
	const auto ignored = [&](const std::string &why) {
		logMessage(LogLevel::Warning,
			   path_ + ": ignored (" + why +
				   "); no source is known to have authenticated before",
			   {{"STATE_FILE", path_}});
	};
	if (!fd) {
		if (errno != ENOENT)
			ignored(errno == ELOOP ? "a symbolic link" : errnoText(errno));
		return;
	}
	struct stat st {
	};
	if (fstat(fd.get(), &st) != 0)
		return ignored(errnoText(errno));
	if (!S_ISREG(st.st_mode))
		return ignored("not a regular file");
	if (st.st_size > static_cast<off_t>(KnownSourcesFile::kMaxBytes))
		return ignored("larger than " + std::to_string(KnownSourcesFile::kMaxBytes) +
			       " bytes");
	// One more byte than may be taken: a file that grew since fstat() is
	// refused by the parser's own bound.
	std::string text;
	if (const int error = readUpTo(fd.get(), KnownSourcesFile::kMaxBytes + 1, text,
				       static_cast<std::size_t>(st.st_size) + 1);
	    error != 0)
		return ignored(errnoText(error));
	auto result = KnownSourcesFile::read(text);
	if (const auto *refusal = std::get_if<KnownSourcesFile::Refusal>(&result))
		return ignored(refusal->reason);
	const auto &sources = std::get<std::vector<SourcePrefix>>(result);
	guard_.restoreKnownSources(sources);
	logMessage(LogLevel::Info,
		   path_ + ": " + std::to_string(sources.size()) +
			   (sources.size() == 1 ? " source" : " sources") +
			   " that authenticated before, outside the guess budget",
		   {{"STATE_FILE", path_}});
}

void KnownSourcesStore::beforePoll()
{
	// One comparison per wakeup; the write itself waits for the timer.
	if (path_.empty() || guard_.knownSourcesVersion() == writtenVersion_ || timer_.armed())
		return;
	const std::uint64_t now = EventLoop::nowMs();
	const std::uint64_t due = wroteOnce_ ? lastWriteMs_ + kWriteIntervalMs : now;
	timer_.arm(due > now ? due - now : 0, [this] { write(); });
}

void KnownSourcesStore::flush()
{
	if (path_.empty() || guard_.knownSourcesVersion() == writtenVersion_)
		return;
	timer_.cancel();
	write();
}

void KnownSourcesStore::write()
{
	if (path_.empty())
		return;
	const std::uint64_t version = guard_.knownSourcesVersion();
	const std::vector<SourcePrefix> sources = guard_.authenticatedSources();
	const std::string text = KnownSourcesFile::write(sources);
	const std::string temporary = path_ + ".tmp";
	// A temporary file left by a crash (or anything else at its name)
	// goes first: the new one is made afresh, never through a link.
	(void)unlink(temporary.c_str());
	{
		const UniqueFd fd(open(temporary.c_str(),
				       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
		if (!fd)
			return giveUp("cannot create " + temporary + ": " + errnoText(errno));
		if (!writeAll(fd.get(), text) || fsync(fd.get()) != 0) {
			const int error = errno;
			(void)unlink(temporary.c_str());
			return giveUp("cannot write " + temporary + ": " + errnoText(error));
		}
	}
	if (rename(temporary.c_str(), path_.c_str()) != 0) {
		const int error = errno;
		(void)unlink(temporary.c_str());
		return giveUp("cannot rename " + temporary + ": " + errnoText(error));
	}
	// The rename itself reaches the disk with the directory.
	const UniqueFd directory(open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (directory)
		(void)fsync(directory.get());
	writtenVersion_ = version;
	lastWriteMs_ = EventLoop::nowMs();
	wroteOnce_ = true;
	if (logEnabled(LogLevel::Debug))
		logMessage(LogLevel::Debug, "wrote " + std::to_string(sources.size()) +
						    " known sources to " + path_);
}

void KnownSourcesStore::giveUp(const std::string &why)
{
	logMessage(LogLevel::Warning, why + ": " + kForgotten, {{"STATE_FILE", path_}});
	path_.clear();
	timer_.cancel();
}

} // namespace checksyncd
