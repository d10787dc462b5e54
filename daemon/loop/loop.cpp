// SPDX-License-Identifier: MIT

#include "loop/loop.hpp"

#include <sofia-sip/su_wait.h>

#include <algorithm>
#include <ctime>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "loop/log.hpp"

namespace checksyncd {

EventLoop::EventLoop()
{
	root_ = su_root_create(nullptr);
	if (!root_)
		throw std::runtime_error("cannot create the event loop (su_root_create)");
	su_root_magic_t *magic = reinterpret_cast<su_root_magic_t *>(this);
	su_root_set_magic(root_, magic);
	// sofia-sip wakes an idle loop every 15 s by default; nothing here
	// needs that (every wait has its own timer), and an idle phone should
	// sleep. A day is the longest wait that fits a 32-bit su_duration_t.
	su_root_set_max_defer(root_, 24 * 3600 * 1000);
	// sofia-sip's callbacks are captureless lambdas of exactly the type it
	// calls (no function pointer cast), each into a noexcept member.
	su_prepoll_f *prepoll = [](su_prepoll_magic_t *self, su_root_t *) noexcept {
		reinterpret_cast<EventLoop *>(self)->runPrepoll();
	};
	if (su_root_add_prepoll(root_, prepoll, reinterpret_cast<su_prepoll_magic_t *>(this)) < 0) {
		su_root_destroy(root_);
		throw std::runtime_error("cannot install the pre-poll hook");
	}
}

EventLoop::~EventLoop()
{
	su_root_remove_prepoll(root_);
	su_root_destroy(root_);
}

void EventLoop::run()
{
	su_root_run(root_);
}

void EventLoop::stop()
{
	su_root_break(root_);
}

PrepollHook EventLoop::addPrepoll(std::function<void()> fn)
{
	const std::uint64_t id = nextHookId_++;
	prepoll_.push_back(Hook{id, std::move(fn)});
	return PrepollHook(*this, id);
}

void EventLoop::removePrepoll(std::uint64_t id) noexcept
{
	auto hook = std::find_if(prepoll_.begin(), prepoll_.end(),
				 [id](const Hook &h) { return h.id == id; });
	if (hook == prepoll_.end())
		return;
	// A hook may be running (even the one removed): erased after the run.
	if (runningHooks_ > 0)
		hook->id = 0;
	else
		prepoll_.erase(hook);
}

PrepollHook::PrepollHook(PrepollHook &&other) noexcept
	: loop_(std::exchange(other.loop_, nullptr)), id_(std::exchange(other.id_, 0))
{
}

PrepollHook &PrepollHook::operator=(PrepollHook &&other) noexcept
{
	if (this != &other) {
		reset();
		loop_ = std::exchange(other.loop_, nullptr);
		id_ = std::exchange(other.id_, 0);
	}
	return *this;
}

void PrepollHook::reset() noexcept
{
	if (loop_)
		loop_->removePrepoll(id_);
	loop_ = nullptr;
	id_ = 0;
}

void EventLoop::runPrepoll() noexcept
{
	runningHooks_++;
	for (Hook &hook : prepoll_) {
		if (hook.id == 0)
			continue;
		try {
			hook.fn();
		} catch (const std::exception &e) {
			logMessage(LogLevel::Error,
				   std::string("pre-poll hook failed: ") + e.what());
		}
	}
	if (--runningHooks_ == 0)
		prepoll_.remove_if([](const Hook &hook) { return hook.id == 0; });
}

std::uint64_t EventLoop::nowMs()
{
	timespec ts{};
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return static_cast<std::uint64_t>(ts.tv_sec) * 1000u +
	       static_cast<std::uint64_t>(ts.tv_nsec) / 1'000'000u;
}

Timer::Timer(EventLoop &loop) : loop_(loop)
{
	timer_ = su_timer_create(su_root_task(loop.root()), 0);
	if (!timer_)
		throw std::runtime_error("cannot create a timer (su_timer_create)");
}

Timer::~Timer()
{
	su_timer_destroy(timer_);
}

void Timer::arm(std::uint64_t ms, std::function<void()> fn)
{
	fn_ = std::move(fn);
	su_duration_t duration = ms > 0x7fffffff ? 0x7fffffff : static_cast<su_duration_t>(ms);
	const su_timer_f expired = [](su_root_magic_t *, su_timer_t *,
				      su_timer_arg_t *self) noexcept {
		reinterpret_cast<Timer *>(self)->fire();
	};
	if (su_timer_set_interval(timer_, expired, reinterpret_cast<su_timer_arg_t *>(this),
				  duration) < 0) {
		fn_ = nullptr;
		throw std::runtime_error("cannot arm a timer");
	}
}

void Timer::cancel()
{
	su_timer_reset(timer_);
	fn_ = nullptr;
}

void Timer::fire() noexcept
{
	EventLoop &loop = loop_;
	// Move the callback out first: it may re-arm or destroy this timer.
	std::function<void()> fn = std::move(fn_);
	fn_ = nullptr;
	if (!fn)
		return;
	try {
		fn();
	} catch (const std::exception &e) {
		logMessage(LogLevel::Error, std::string("timer callback failed: ") + e.what());
	}
	// sofia-sip ran the pre-poll hooks before its timers: run them again,
	// so the poll that follows waits for what this callback asked for.
	loop.runPrepoll();
}

FdWatch::FdWatch(EventLoop &loop, int fd, int events, std::function<void(int)> fn)
	: loop_(loop), fd_(fd), events_(events), fn_(std::move(fn))
{
	su_wait_t wait[1] = {};
	if (su_wait_create(wait, fd, events) < 0)
		throw std::system_error(errno, std::generic_category(), "su_wait_create");
	const su_wakeup_f woken = [](su_root_magic_t *, su_wait_t *w,
				     su_wakeup_arg_t *arg) noexcept {
		auto *self = reinterpret_cast<FdWatch *>(arg);
		self->ready(su_wait_events(w, self->fd_));
		return 0;
	};
	index_ = su_root_register(loop.root(), wait, woken,
				  reinterpret_cast<su_wakeup_arg_t *>(this), 0);
	if (index_ < 0) {
		su_wait_destroy(wait);
		throw std::runtime_error("cannot register a file descriptor with the loop");
	}
}

FdWatch::~FdWatch()
{
	if (index_ >= 0)
		su_root_deregister(loop_.root(), index_);
}

void FdWatch::setEvents(int events)
{
	if (events == events_)
		return;
	if (su_root_eventmask(loop_.root(), index_, fd_, events) < 0)
		throw std::runtime_error("cannot change the events of a watched descriptor");
	events_ = events;
}

void FdWatch::ready(int revents) noexcept
{
	try {
		fn_(revents);
	} catch (const std::exception &e) {
		logMessage(LogLevel::Error, std::string("event handler failed: ") + e.what());
	}
}

} // namespace checksyncd
