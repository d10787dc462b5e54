// SPDX-License-Identifier: MIT
//
// Thin RAII wrappers around sofia-sip's event loop: the su_root itself, a
// one-shot timer, and an fd watch. Everything the daemon waits on (SIP
// transports, sd-bus, inotify, signalfd, the watchdog) runs on this one
// loop.

#pragma once

#include <cstdint>
#include <functional>
#include <vector>

extern "C" {
struct su_root_s;
struct su_timer_s;
}

namespace checksyncd {

class EventLoop
{
public:
	EventLoop();
	~EventLoop();
	EventLoop(const EventLoop &) = delete;
	EventLoop &operator=(const EventLoop &) = delete;

	su_root_s *root() const { return root_; }

	void run();
	void stop();

	// Run fn before every poll. sofia-sip allows one pre-poll hook per
	// root; this loop owns it and fans it out. sofia-sip runs its timers
	// after that hook and before the poll, so the hooks also run after each
	// Timer callback: what a timer callback changed (a D-Bus call sent from
	// it, with its reply timeout) is followed before the loop sleeps.
	void addPrepoll(std::function<void()> fn);

	// Monotonic clock in milliseconds.
	static std::uint64_t nowMs();

private:
	friend class Timer;

	static void prepollTrampoline(void *magic, su_root_s *root) noexcept;
	void runPrepoll() noexcept;

	su_root_s *root_ = nullptr;
	std::vector<std::function<void()>> prepoll_;
};

class Timer
{
public:
	explicit Timer(EventLoop &loop);
	~Timer();
	Timer(const Timer &) = delete;
	Timer &operator=(const Timer &) = delete;

	// Call fn once, after ms milliseconds. Re-arming replaces the previous
	// callback. fn may re-arm or destroy the timer.
	void arm(std::uint64_t ms, std::function<void()> fn);
	void cancel();
	bool armed() const { return static_cast<bool>(fn_); }

private:
	static void trampoline(void *magic, su_timer_s *timer, void *arg) noexcept;

	EventLoop &loop_;
	su_timer_s *timer_ = nullptr;
	std::function<void()> fn_;
};

class FdWatch
{
public:
	// events and the callback's argument are poll(2) bits.
	FdWatch(EventLoop &loop, int fd, int events, std::function<void(int revents)> fn);
	~FdWatch();
	FdWatch(const FdWatch &) = delete;
	FdWatch &operator=(const FdWatch &) = delete;

	void setEvents(int events);
	int fd() const { return fd_; }

private:
	static int trampoline(void *magic, void *wait, void *arg) noexcept;

	EventLoop &loop_;
	int fd_;
	int events_;
	int index_ = -1;
	std::function<void(int)> fn_;
};

} // namespace checksyncd
