// SPDX-License-Identifier: MIT
//
// What the tests of daemon/ share: driving a real su_root, a private
// directory, a private D-Bus, and a look at what was logged.
//
// The loop is the daemon's own EventLoop. stepUntil() runs it one
// su_root_step() at a time until what a test waits for has happened or a
// deadline has passed: a step sleeps in the poll until the next event or
// timer, so no test sleeps. runFor() runs it as the daemon does
// (EventLoop::run(), until a callback calls stop()): su_root_run() orders
// its work differently from su_root_step() (no timers after the poll), and
// some behaviour is only seen that way.

#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sofia-sip/su_wait.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>

#include "base/unique_fd.hpp"
#include "loop/loop.hpp"

extern char **environ;

namespace checksyncd::test {

// Step the loop until done() is true or withinMs have passed; returns
// done().
//
// A step runs the timers that are due, then polls for at most the time it
// is given, then runs the timers again. A timer that falls due between two
// steps fires before the poll, and that poll still waits as long as it was
// told: so a step never waits longer than the previous one said the next
// timer was away (the first step only looks).
template<typename Done>
bool stepUntil(EventLoop &loop, Done done, std::uint64_t withinMs = 3000)
{
	const std::uint64_t deadline = EventLoop::nowMs() + withinMs;
	su_duration_t nextTimer = 0;
	while (!done()) {
		const std::uint64_t now = EventLoop::nowMs();
		if (now >= deadline)
			return false;
		su_duration_t wait = static_cast<su_duration_t>(deadline - now);
		if (nextTimer != SU_WAIT_FOREVER && nextTimer < wait)
			wait = nextTimer;
		nextTimer = su_root_step(loop.root(), wait);
	}
	return true;
}

// Step the loop until a timer armed now for ms milliseconds has fired:
// what was due before it has had its turn, and what a test expects not to
// happen has had that long to happen. False if the loop is stuck.
inline bool stepPast(EventLoop &loop, std::uint64_t ms)
{
	Timer witness(loop);
	bool fired = false;
	witness.arm(ms, [&] { fired = true; });
	return stepUntil(
		loop, [&] { return fired; }, ms + 3000);
}

// Run the loop as the daemon does until a callback calls loop.stop(), or
// withinMs have passed; true when it was stopped before the deadline.
inline bool runFor(EventLoop &loop, std::uint64_t withinMs)
{
	bool late = false;
	Timer deadline(loop);
	deadline.arm(withinMs, [&] {
		late = true;
		loop.stop();
	});
	loop.run();
	return !late;
}

// A private directory under the system temp directory, removed with its
// contents.
class TempDir
{
public:
	TempDir()
	{
		std::string pattern = (std::filesystem::temp_directory_path() /
				       "checksyncd-daemon-test.XXXXXX")
					      .string();
		if (::mkdtemp(pattern.data()) == nullptr)
			throw std::system_error(errno, std::generic_category(), "mkdtemp");
		path_ = pattern;
	}
	~TempDir()
	{
		std::error_code ec;
		std::filesystem::remove_all(path_, ec);
	}
	TempDir(const TempDir &) = delete;
	TempDir &operator=(const TempDir &) = delete;

	const std::string &path() const { return path_; }
	std::string path(std::string_view name) const { return path_ + "/" + std::string(name); }

private:
	std::string path_;
};

// A dbus-daemon of its own (dbus-daemon --session), listening on a socket
// in a private directory; stopped (SIGTERM, then reaped) by stop() or the
// destructor.
class PrivateBus
{
public:
	explicit PrivateBus(std::string dir) : dir_(std::move(dir)) {}
	~PrivateBus() { stop(); }
	PrivateBus(const PrivateBus &) = delete;
	PrivateBus &operator=(const PrivateBus &) = delete;

	// Start it and read the address it prints; empty on success, else
	// what went wrong.
	std::string start()
	{
		const std::string socket = dir_ + "/bus";
		const std::string log = dir_ + "/dbus-daemon.log";
		(void)::unlink(socket.c_str()); // a previous daemon's
		int fds[2];
		if (::pipe2(fds, O_CLOEXEC) != 0)
			return "pipe2 failed";
		const UniqueFd readEnd(fds[0]);
		UniqueFd writeEnd(fds[1]);
		posix_spawn_file_actions_t actions;
		posix_spawn_file_actions_init(&actions);
		posix_spawn_file_actions_adddup2(&actions, writeEnd.get(), STDOUT_FILENO);
		posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(),
						 O_WRONLY | O_CREAT | O_TRUNC, 0600);
		const std::string address = "--address=unix:path=" + socket;
		const char *argv[] = {"dbus-daemon",       "--session",     "--nofork",
				      "--print-address=1", address.c_str(), nullptr};
		const int r = posix_spawnp(&pid_, "dbus-daemon", &actions, nullptr,
					   const_cast<char *const *>(argv), environ);
		posix_spawn_file_actions_destroy(&actions);
		writeEnd.reset(); // the child's copy is the only one left
		if (r != 0) {
			pid_ = -1;
			return "cannot start dbus-daemon (is it installed?)";
		}
		const std::string printed = readLine(readEnd.get(), 5000);
		// The address as configured, without the guid= that dbus-daemon
		// adds: a daemon started again on the same socket is the same bus.
		address_ = "unix:path=" + socket;
		if (printed.rfind(address_, 0) != 0) {
			std::ifstream in(log);
			return "dbus-daemon printed no address: " +
			       std::string(std::istreambuf_iterator<char>(in), {});
		}
		return {};
	}

	void stop()
	{
		if (pid_ <= 0)
			return;
		(void)::kill(pid_, SIGTERM);
		(void)::waitpid(pid_, nullptr, 0);
		pid_ = -1;
	}

	const std::string &address() const { return address_; }

private:
	static std::string readLine(int fd, int withinMs)
	{
		std::string line;
		const std::uint64_t deadline = EventLoop::nowMs() +
					       static_cast<std::uint64_t>(withinMs);
		for (;;) {
			const std::uint64_t now = EventLoop::nowMs();
			if (now >= deadline)
				return line;
			pollfd p{fd, POLLIN, 0};
			if (::poll(&p, 1, static_cast<int>(deadline - now)) <= 0)
				return line;
			char c;
			if (::read(fd, &c, 1) != 1 || c == '\n')
				return line;
			line += c;
		}
	}

	std::string dir_;
	pid_t pid_ = -1;
	std::string address_;
};

// Replace the contents of a file (create it if needed), as an editor
// writing in place does: open, write, close.
inline bool writeFile(const std::string &path, std::string_view content)
{
	UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
	if (!fd)
		return false;
	const bool ok = ::write(fd.get(), content.data(), content.size()) ==
			static_cast<ssize_t>(content.size());
	// close(2) reports a failed write-back: checked, not left to reset().
	return ::close(fd.release()) == 0 && ok;
}

// While it lives, what is written to stderr (the daemon's log when it is
// not the journal) goes to a memory file that text() reads.
class StderrCapture
{
public:
	StderrCapture()
	{
		std::fflush(stderr);
		file_.reset(::memfd_create("stderr", MFD_CLOEXEC));
		saved_.reset(::dup(STDERR_FILENO));
		if (!file_ || !saved_ || ::dup2(file_.get(), STDERR_FILENO) < 0)
			throw std::system_error(errno, std::generic_category(), "capturing stderr");
	}
	~StderrCapture()
	{
		std::fflush(stderr);
		(void)::dup2(saved_.get(), STDERR_FILENO);
	}
	StderrCapture(const StderrCapture &) = delete;
	StderrCapture &operator=(const StderrCapture &) = delete;

	std::string text() const
	{
		std::fflush(stderr);
		std::string text;
		char buffer[4096];
		ssize_t n;
		for (off_t offset = 0;
		     (n = ::pread(file_.get(), buffer, sizeof(buffer), offset)) > 0; offset += n)
			text.append(buffer, static_cast<std::size_t>(n));
		return text;
	}

	bool contains(std::string_view needle) const
	{
		return text().find(needle) != std::string::npos;
	}

private:
	UniqueFd file_;
	UniqueFd saved_;
};

} // namespace checksyncd::test
