// SPDX-License-Identifier: MIT
//
// Keeps the sources that authenticated (the guard's known sources, outside
// the guess budget) across a restart, in the state directory systemd makes
// for the unit (StateDirectory=checksyncd: $STATE_DIRECTORY, on Debian
// /var/lib/checksyncd). The check-sync that reboots the phone is the one
// after which its PBX would otherwise be a stranger (docs/security.md,
// "Brute force"). The file's text is common/auth/known_sources.hpp's.
//
// - Read once, at start, as if a stranger had written it: no symlink
//   followed, a regular file of at most KnownSourcesFile::kMaxBytes, and
//   the whole file ignored, with one log line, when anything in it is
//   wrong.
// - Written atomically (a temporary file in the same directory, fsync,
//   rename, fsync of the directory), only when the list changed, at most
//   once per kWriteIntervalMs, from a timer, never on a request's path;
//   and once more at stop if it changed since.
// - Without $STATE_DIRECTORY, or when the directory cannot be written, the
//   daemon runs as before without it, and says so once.

#pragma once

#include <cstdint>
#include <string>

#include "loop/loop.hpp"
#include "sip/request_guard.hpp"

namespace checksyncd {

class KnownSourcesStore
{
public:
	static constexpr const char *kFileName = "known-sources";
	// A few seconds: a check-sync's reboot comes with a stop, which
	// writes at once (flush()); this only bounds the writes (and the
	// flash wear) when sources keep authenticating.
	static constexpr std::uint64_t kWriteIntervalMs = 5'000;

	// `directory`: where the file is kept; empty: nowhere. Reads the file
	// into `guard`, and from then on writes what changes in it.
	KnownSourcesStore(EventLoop &loop, RequestGuard &guard, std::string directory);
	KnownSourcesStore(const KnownSourcesStore &) = delete;
	KnownSourcesStore &operator=(const KnownSourcesStore &) = delete;

	// Write now whatever changed since the last write (at stop).
	void flush();

	// $STATE_DIRECTORY (its first entry: systemd joins several with ':'),
	// or empty when it is unset or not an absolute path.
	static std::string directoryFromEnvironment();

	// The file, empty when there is none (no directory, or it cannot be
	// written).
	const std::string &path() const { return path_; }

private:
	void load();
	void beforePoll();
	void write();
	void giveUp(const std::string &why);

	RequestGuard &guard_;
	std::string directory_;
	std::string path_;
	std::uint64_t writtenVersion_ = 0;
	std::uint64_t lastWriteMs_ = 0;
	bool wroteOnce_ = false;
	Timer timer_;
	PrepollHook beforePoll_;
};

} // namespace checksyncd
