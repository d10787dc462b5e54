// SPDX-License-Identifier: MIT
//
// Thin RAII wrappers around sofia-sip's event loop: the su_root itself, a
// one-shot timer, and an fd watch. Everything the daemon waits on (SIP
// transports, sd-bus, inotify, signalfd, the watchdog) runs on this one
// loop.

#pragma once

#include <cstdint>
#include <functional>
#include <list>

extern "C" {
struct su_root_s;
struct su_timer_s;
}

namespace checksyncd {

class EventLoop;

// A pre-poll hook's place in the loop (EventLoop::addPrepoll): the hook is
// removed when this is destroyed or reset.
class PrepollHook
{
public:
	PrepollHook() noexcept = default;
	~PrepollHook() { reset(); }
	PrepollHook(PrepollHook &&other) noexcept;
	PrepollHook &operator=(PrepollHook &&other) noexcept;
	PrepollHook(const PrepollHook &) = delete;
	PrepollHook &operator=(const PrepollHook &) = delete;

	void reset() noexcept;

private:
	friend class EventLoop;
	PrepollHook(EventLoop &loop, std::uint64_t id) noexcept : loop_(&loop), id_(id) {}

	EventLoop *loop_ = nullptr;
	std::uint64_t id_ = 0;
};

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
	// The hook runs until the returned handle goes; a hook may remove
	// itself or add others while it runs.
	[[nodiscard]] PrepollHook addPrepoll(std::function<void()> fn);

	// Monotonic clock in milliseconds.
	static std::uint64_t nowMs();

private:
	friend class Timer;
	friend class PrepollHook;

	struct Hook {
		std::uint64_t id = 0; // 0: removed while the hooks ran
		std::function<void()> fn;
	};

	void runPrepoll() noexcept;
	void removePrepoll(std::uint64_t id) noexcept;

	su_root_s *root_ = nullptr;
	// A list: a hook that adds another must not see itself moved.
	std::list<Hook> prepoll_;
	std::uint64_t nextHookId_ = 1;
	unsigned runningHooks_ = 0; // nesting depth of runPrepoll()
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
	void fire() noexcept; // from sofia-sip's timer callback

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
	void ready(int revents) noexcept; // from sofia-sip's wakeup callback

	EventLoop &loop_;
	int fd_;
	int events_;
	int index_ = -1;
	std::function<void(int)> fn_;
};

} // namespace checksyncd
