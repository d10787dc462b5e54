// SPDX-License-Identifier: MIT
//
// Tests of the loop wrappers (daemon/loop/loop.cpp) on a real su_root: timers,
// fd watches and the pre-poll fan-out.

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "base/unique_fd.hpp"
#include "loop/loop.hpp"
#include "support/daemon_support.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;
using checksyncd::test::runFor;
using checksyncd::test::StderrCapture;
using checksyncd::test::stepPast;
using checksyncd::test::stepUntil;

namespace {

// A timer far enough away that it never fires during a test: a callback
// that has not run when it is checked against a witness that has.
constexpr std::uint64_t kNeverMs = 60'000;

// An eventfd the tests make readable at will.
class EventFd
{
public:
	EventFd() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC))
	{
		if (!fd_)
			throw std::system_error(errno, std::generic_category(), "eventfd");
	}

	int fd() const { return fd_.get(); }
	void signal() const
	{
		const std::uint64_t one = 1;
		CHECK_EQUAL(static_cast<ssize_t>(sizeof(one)),
			    ::write(fd_.get(), &one, sizeof(one)));
	}
	void drain() const
	{
		std::uint64_t value = 0;
		const ssize_t n = ::read(fd_.get(), &value,
					 sizeof(value)); // nothing to read is drained too
		(void)n;
	}

private:
	UniqueFd fd_;
};

} // namespace

TEST_GROUP(Timer)
{
	EventLoop loop;
};

TEST(Timer, firesOnceWhenItsTimeHasCome)
{
	Timer timer(loop);
	Timer later(loop);
	int fired = 0;
	bool laterFired = false;
	timer.arm(10, [&] { fired++; });
	later.arm(kNeverMs, [&] { laterFired = true; });
	CHECK_TRUE(timer.armed());
	CHECK_EQUAL(0, fired); // only the loop calls it

	CHECK_TRUE(stepUntil(loop, [&] { return fired > 0; }));
	CHECK_FALSE(timer.armed());
	CHECK_FALSE(laterFired);
	CHECK_TRUE(stepPast(loop, 30));
	CHECK_EQUAL(1, fired);
}

TEST(Timer, doesNotFireOnceCancelled)
{
	Timer timer(loop);
	bool fired = false;
	timer.arm(1, [&] { fired = true; });
	timer.cancel();
	CHECK_FALSE(timer.armed());
	CHECK_TRUE(stepPast(loop, 20));
	CHECK_FALSE(fired);
}

TEST(Timer, armingAgainReplacesTheCallback)
{
	Timer timer(loop);
	int first = 0;
	int second = 0;
	timer.arm(1, [&] { first++; });
	timer.arm(5, [&] { second++; });
	CHECK_TRUE(stepUntil(loop, [&] { return second > 0; }));
	CHECK_TRUE(stepPast(loop, 20));
	CHECK_EQUAL(0, first);
	CHECK_EQUAL(1, second);
}

TEST(Timer, mayArmItselfAgainFromItsCallback)
{
	Timer timer(loop);
	int fired = 0;
	bool armedInside = false;
	std::function<void()> tick = [&] {
		armedInside = armedInside || timer.armed();
		if (++fired < 3)
			timer.arm(1, tick);
	};
	timer.arm(1, tick);
	CHECK_TRUE(stepUntil(loop, [&] { return fired == 3; }));
	CHECK_FALSE(armedInside); // the callback runs disarmed
	CHECK_FALSE(timer.armed());
	CHECK_TRUE(stepPast(loop, 20));
	CHECK_EQUAL(3, fired);
}

TEST(Timer, mayBeCancelledByItsCallbackAfterArmingAgain)
{
	Timer timer(loop);
	int fired = 0;
	timer.arm(1, [&] {
		fired++;
		timer.arm(1, [&] { fired++; });
		timer.cancel();
	});
	CHECK_TRUE(stepUntil(loop, [&] { return fired > 0; }));
	CHECK_TRUE(stepPast(loop, 20));
	CHECK_EQUAL(1, fired);
	CHECK_FALSE(timer.armed());
}

TEST(Timer, mayBeDestroyedByItsCallback)
{
	auto timer = std::make_unique<Timer>(loop);
	bool fired = false;
	timer->arm(1, [&] {
		timer.reset();
		fired = true;
	});
	CHECK_TRUE(stepUntil(loop, [&] { return fired; }));
	CHECK_TRUE(timer == nullptr);
	CHECK_TRUE(stepPast(loop, 5)); // the loop goes on
}

TEST(Timer, anExceptionFromItsCallbackIsLoggedAndTheLoopGoesOn)
{
	StderrCapture log;
	Timer timer(loop);
	timer.arm(1, [] { throw std::runtime_error("no disk"); });
	CHECK_TRUE(stepPast(loop, 10));
	CHECK_TRUE(log.contains("error: timer callback failed: no disk"));
}

TEST(Timer, aDelayLongerThanSofiaSipCountsIsClampedNotImmediate)
{
	Timer timer(loop);
	bool fired = false;
	timer.arm(UINT64_MAX, [&] { fired = true; });
	CHECK_TRUE(timer.armed());
	CHECK_TRUE(stepPast(loop, 10));
	CHECK_FALSE(fired);
}

TEST_GROUP(FdWatch)
{
	EventLoop loop;
	EventFd event;
};

TEST(FdWatch, callsBackWhenItsDescriptorIsReady)
{
	int calls = 0;
	int revents = 0;
	FdWatch watch(loop, event.fd(), POLLIN, [&](int events) {
		calls++;
		revents = events;
		event.drain();
	});
	CHECK_EQUAL(event.fd(), watch.fd());
	CHECK_TRUE(stepPast(loop, 10));
	CHECK_EQUAL(0, calls); // not ready: not called

	event.signal();
	CHECK_EQUAL(0, calls); // only the loop calls it
	CHECK_TRUE(stepUntil(loop, [&] { return calls > 0; }));
	CHECK_TRUE(revents & POLLIN);
	CHECK_TRUE(stepPast(loop, 10));
	CHECK_EQUAL(1, calls); // drained: not ready any more
}

TEST(FdWatch, setEventsChangesWhatItWaitsFor)
{
	// An eventfd is always writable: POLLOUT is ready as soon as asked for.
	int writable = 0;
	FdWatch watch(loop, event.fd(), POLLIN, [&](int events) {
		if (events & POLLOUT)
			writable++;
	});
	CHECK_TRUE(stepPast(loop, 10));
	CHECK_EQUAL(0, writable);

	watch.setEvents(POLLIN | POLLOUT);
	CHECK_TRUE(stepUntil(loop, [&] { return writable > 0; }));

	watch.setEvents(POLLIN);
	const int seen = writable;
	CHECK_TRUE(stepPast(loop, 10));
	CHECK_EQUAL(seen, writable);
}

TEST(FdWatch, itsDestructorUnregistersTheDescriptor)
{
	int calls = 0;
	auto watch = std::make_unique<FdWatch>(loop, event.fd(), POLLIN, [&](int) { calls++; });
	event.signal();
	watch.reset();
	CHECK_TRUE(stepPast(loop, 10));
	CHECK_EQUAL(0, calls);

	// Registered again: the loop had let go of it (epoll refuses a
	// descriptor it still has).
	FdWatch again(loop, event.fd(), POLLIN, [&](int) {
		calls++;
		event.drain();
	});
	CHECK_TRUE(stepUntil(loop, [&] { return calls > 0; }));
}

TEST(FdWatch, mayBeDestroyedByItsCallback)
{
	EventFd other;
	bool otherCalled = false;
	std::unique_ptr<FdWatch> watch;
	int calls = 0;
	watch = std::make_unique<FdWatch>(loop, event.fd(), POLLIN, [&](int) {
		calls++;
		watch.reset();
	});
	FdWatch otherWatch(loop, other.fd(), POLLIN, [&](int) {
		otherCalled = true;
		other.drain();
	});
	event.signal();
	other.signal();
	CHECK_TRUE(stepUntil(loop, [&] { return calls > 0 && otherCalled; }));
	CHECK_TRUE(watch == nullptr);
	CHECK_TRUE(stepPast(loop, 10));
	CHECK_EQUAL(1, calls);
}

TEST(FdWatch, reportsTheOtherEndClosing)
{
	int fds[2];
	CHECK_EQUAL(0, ::pipe2(fds, O_NONBLOCK | O_CLOEXEC));
	// Declared before the watch, closed after it: the watch does not own
	// the descriptor.
	const UniqueFd readEnd(fds[0]);
	UniqueFd writeEnd(fds[1]);
	int revents = 0;
	FdWatch watch(loop, readEnd.get(), POLLIN, [&](int events) { revents |= events; });
	writeEnd.reset();
	CHECK_TRUE(stepUntil(loop, [&] { return revents != 0; }));
	CHECK_TRUE(revents & POLLHUP);
}

TEST(FdWatch, anExceptionFromItsCallbackIsLoggedAndTheLoopGoesOn)
{
	StderrCapture log;
	bool called = false;
	FdWatch watch(loop, event.fd(), POLLIN, [&](int) {
		called = true;
		event.drain();
		throw std::runtime_error("bad datagram");
	});
	event.signal();
	CHECK_TRUE(stepUntil(loop, [&] { return called; }));
	CHECK_TRUE(stepPast(loop, 5));
	CHECK_TRUE(log.contains("error: event handler failed: bad datagram"));
}

TEST_GROUP(EventLoop)
{
	EventLoop loop;
	EventFd event;
	std::vector<std::string> trace;
};

TEST(EventLoop, everyPrepollHookRunsBeforeEachPoll)
{
	const PrepollHook a = loop.addPrepoll([&] { trace.push_back("a"); });
	const PrepollHook b = loop.addPrepoll([&] { trace.push_back("b"); });
	FdWatch watch(loop, event.fd(), POLLIN, [&](int) {
		trace.push_back("event");
		event.drain();
	});

	// One step: the hooks, in the order added, then the poll that finds
	// the descriptor ready.
	event.signal();
	su_root_step(loop.root(), 1000);
	event.signal();
	su_root_step(loop.root(), 1000);
	const std::vector<std::string> expected{"a", "b", "event", "a", "b", "event"};
	CHECK_TRUE(trace == expected);

	// A hook added later joins the fan-out.
	trace.clear();
	PrepollHook c = loop.addPrepoll([&] { trace.push_back("c"); });
	event.signal();
	su_root_step(loop.root(), 1000);
	const std::vector<std::string> withC{"a", "b", "c", "event"};
	CHECK_TRUE(trace == withC);

	// And leaves it when its handle goes.
	trace.clear();
	c.reset();
	event.signal();
	su_root_step(loop.root(), 1000);
	const std::vector<std::string> withoutC{"a", "b", "event"};
	CHECK_TRUE(trace == withoutC);
}

TEST(EventLoop, aHookMayRemoveItselfOrAddAnotherWhileItRuns)
{
	// As an object that owns its hook and is destroyed from inside it.
	auto once = std::make_unique<PrepollHook>();
	int onceRuns = 0;
	PrepollHook added;
	int addedRuns = 0;
	*once = loop.addPrepoll([&] {
		onceRuns++;
		added = loop.addPrepoll([&] { addedRuns++; });
		once.reset(); // destroys the std::function that is running
	});
	const PrepollHook after = loop.addPrepoll([&] { trace.push_back("after"); });

	su_root_step(loop.root(), 0);
	su_root_step(loop.root(), 0);
	CHECK_EQUAL(1, onceRuns);
	// Added during the first run, it runs in that run already and again
	// in the second.
	CHECK_EQUAL(2, addedRuns);
	const std::vector<std::string> expected{"after", "after"};
	CHECK_TRUE(trace == expected);
}

TEST(EventLoop, aHookThatThrowsIsLoggedAndTheOthersStillRun)
{
	StderrCapture log;
	int after = 0;
	const PrepollHook throws = loop.addPrepoll([] { throw std::runtime_error("no bus"); });
	const PrepollHook counts = loop.addPrepoll([&] { after++; });
	su_root_step(loop.root(), 0);
	su_root_step(loop.root(), 0);
	CHECK_EQUAL(2, after);
	CHECK_TRUE(log.contains("error: pre-poll hook failed: no bus"));
}

TEST(EventLoop, theHooksSeeWhatATimerCallbackChangedBeforeTheLoopSleeps)
{
	// As ProvisioningClient does with sd-bus: a hook arms a timer for a
	// deadline that something else asked for. Here a timer callback asks
	// (a D-Bus call sent from a timer, with its reply timeout): the poll
	// that follows must wait for the hook's timer, not sleep past it.
	std::uint64_t wantedMs = 0;
	Timer follower(loop);
	bool followed = false;
	const PrepollHook hook = loop.addPrepoll([&] {
		if (wantedMs == 0)
			return;
		follower.arm(wantedMs, [&] {
			followed = true;
			loop.stop();
		});
		wantedMs = 0;
	});
	Timer asker(loop);
	asker.arm(1, [&] { wantedMs = 20; });
	CHECK_TRUE(runFor(loop, 2000));
	CHECK_TRUE(followed);
}

TEST(EventLoop, runReturnsWhenACallbackStopsIt)
{
	Timer timer(loop);
	int fired = 0;
	std::function<void()> tick = [&] {
		if (++fired == 3)
			loop.stop();
		else
			timer.arm(1, tick);
	};
	timer.arm(1, tick);
	CHECK_TRUE(runFor(loop, 2000));
	CHECK_EQUAL(3, fired);
}
