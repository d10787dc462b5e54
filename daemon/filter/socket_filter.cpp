// SPDX-License-Identifier: MIT

#include "filter/socket_filter.hpp"

#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/tport.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/text.hpp"
#include "filter/source_gate.hpp"
#include "loop/log.hpp"
#include "status/status.hpp"

namespace checksyncd {

namespace {

// tport's UDP sockets are among the first descriptors (they are made at
// start); the TCP guard looks as far.
constexpr int kScanEnd = 1024;

bool sameAddress(const sockaddr_storage &a, const sockaddr_storage &b)
{
	if (a.ss_family != b.ss_family)
		return false;
	if (a.ss_family == AF_INET) {
		const auto &x = reinterpret_cast<const sockaddr_in &>(a);
		const auto &y = reinterpret_cast<const sockaddr_in &>(b);
		return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
	}
	const auto &x = reinterpret_cast<const sockaddr_in6 &>(a);
	const auto &y = reinterpret_cast<const sockaddr_in6 &>(b);
	return x.sin6_port == y.sin6_port && IN6_ARE_ADDR_EQUAL(&x.sin6_addr, &y.sin6_addr);
}

std::string nameOf(const sockaddr_storage &address)
{
	std::uint16_t port = 0;
	const std::optional<IpAddress> ip = IpAddress::fromSockaddr(
		reinterpret_cast<const sockaddr *>(&address), &port);
	if (!ip)
		return "udp ?";
	const std::string host = ip->toString();
	return "udp " + (address.ss_family == AF_INET6 ? "[" + host + "]" : host) + ":" +
	       std::to_string(port);
}

bool isDatagramSocket(int fd)
{
	int type = 0;
	socklen_t length = sizeof(type);
	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 && type == SOCK_DGRAM;
}

std::uint64_t processCpuNs()
{
	timespec ts{};
	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
		return 0;
	return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
	       static_cast<std::uint64_t>(ts.tv_nsec);
}

const char *precisionText(KernelProgram::Precision precision)
{
	switch (precision) {
	case KernelProgram::Precision::Exact:
		return "exact";
	case KernelProgram::Precision::Coarse:
		return "widened to /24 and /64";
	case KernelProgram::Precision::Unfit:
		return "too long";
	}
	return "";
}

} // namespace

SocketFilter::SocketFilter(EventLoop &loop, nta_agent_s *agent, SourceGate &gate,
			   StatusSink *status, AuthenticatedSources authenticated)
	: gate_(gate), status_(status), authenticated_(std::move(authenticated)), tickTimer_(loop),
	  countTimer_(loop)
{
	std::vector<sockaddr_storage> bound;
	tport_t *master = agent ? nta_agent_tports(agent) : nullptr;
	for (tport_t *tp = master ? tport_primaries(master) : nullptr; tp; tp = tport_next(tp)) {
		const su_addrinfo_t *ai = tport_get_address(tp);
		if (!tport_is_udp(tp) || !ai || !ai->ai_addr ||
		    ai->ai_addrlen > static_cast<socklen_t>(sizeof(sockaddr_storage)))
			continue;
		sockaddr_storage address{};
		std::memcpy(&address, ai->ai_addr, ai->ai_addrlen);
		if (address.ss_family == AF_INET || address.ss_family == AF_INET6)
			bound.push_back(address);
	}
	for (int fd = 0; fd < kScanEnd && !bound.empty(); fd++) {
		sockaddr_storage local{};
		socklen_t length = sizeof(local);
		if (!isDatagramSocket(fd) ||
		    getsockname(fd, reinterpret_cast<sockaddr *>(&local), &length) != 0)
			continue;
		auto found = std::find_if(
			bound.begin(), bound.end(),
			[&](const sockaddr_storage &b) { return sameAddress(b, local); });
		if (found == bound.end())
			continue;
		bound.erase(found);
		Socket socket;
		socket.fd = fd;
		socket.family = local.ss_family == AF_INET ? SocketFamily::V4 : SocketFamily::V6;
		socket.name = nameOf(local);
		sockets_.push_back(std::move(socket));
	}
	for (const sockaddr_storage &missed : bound)
		logMessage(LogLevel::Warning, "no descriptor found for the SIP transport on " +
						      nameOf(missed) +
						      ": the kernel does not filter it");
	readSockets(); // the drop counters' starting points
	busyWallMs_ = EventLoop::nowMs();
	busyCpuNs_ = processCpuNs();
	if (logEnabled(LogLevel::Debug)) {
		const std::string names = join(sockets_, ", ", [](const Socket &socket) {
			return socket.name + " (fd " + std::to_string(socket.fd) + ")";
		});
		logMessage(LogLevel::Debug,
			   "socket filter: UDP sockets " + (names.empty() ? "none" : names));
	}
	// The programs: now, and again whenever the source filter's sources
	// change.
	gate_.setKernelListener([this] { rebuild(); });
	rebuild();
}

SocketFilter::~SocketFilter()
{
	// The programs stay with the sockets, which close with the agent.
	gate_.setKernelListener(nullptr);
}

std::vector<std::string> SocketFilter::sockets() const
{
	std::vector<std::string> names;
	for (const Socket &socket : sockets_)
		names.push_back(socket.name);
	return names;
}

std::vector<IpPrefix> SocketFilter::authenticatedPrefixes() const
{
	std::vector<IpPrefix> prefixes;
	if (authenticated_) {
		for (const SourcePrefix &source : authenticated_())
			prefixes.push_back(ipPrefixOf(source));
	}
	std::sort(prefixes.begin(), prefixes.end());
	return prefixes;
}

void SocketFilter::rebuild()
{
	// What the old programs dropped is theirs.
	countDrops();
	const SourceGate::KernelSources sources = gate_.kernelSources();
	const unsigned level = governor_.level();
	KernelFilterSpec spec;
	State state = State::None;
	builtAuthenticated_.clear();
	if (sources.drops) {
		spec.pass = sources.prefixes;
		spec.restOneIn = kSampleOneIn * governor_.restOneIn();
		state = State::Filtering;
	} else if (level > 0) {
		spec.pass = sources.prefixes;
		builtAuthenticated_ = authenticatedPrefixes();
		spec.pass.insert(spec.pass.end(), builtAuthenticated_.begin(),
				 builtAuthenticated_.end());
		spec.restOneIn = governor_.restOneIn();
		state = State::Shedding;
	} else {
		spec.restOneIn = 1;
	}
	dropping_ = false;
	bool sampling = false;
	for (Socket &socket : sockets_) {
		attach(socket, spec, state);
		dropping_ = dropping_ || socket.attached;
		sampling = sampling || (socket.attached && socket.counts == Drops::Filter);
	}
	weight_ = sampling ? spec.restOneIn : 1;
	if (dropping_)
		countSoon(kCountMinMs);
}

void SocketFilter::attach(Socket &socket, const KernelFilterSpec &spec, State state)
{
	std::size_t limit = BPF_MAXINSNS;
	for (;;) {
		const KernelProgram program = buildKernelFilter(spec, socket.family, limit);
		if (program.code.empty()) {
			detach(socket);
			setState(socket, program.precision == KernelProgram::Precision::Unfit
						 ? State::Unfit
						 : State::None);
			return;
		}
		sock_fprog fprog{static_cast<unsigned short>(program.code.size()),
				 const_cast<sock_filter *>(program.code.data())};
		if (setsockopt(socket.fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) ==
		    0) {
			socket.attached = true;
			socket.counts = state == State::Filtering ? Drops::Filter : Drops::Shed;
			if (logEnabled(LogLevel::Debug))
				logMessage(LogLevel::Debug,
					   "socket filter: " + socket.name + ": " +
						   std::to_string(program.code.size()) +
						   " instructions, " +
						   std::to_string(program.prefixes) +
						   " prefixes (" +
						   precisionText(program.precision) +
						   "), others pass 1 in " +
						   std::to_string(spec.restOneIn));
			setState(socket, program.precision == KernelProgram::Precision::Coarse
						 ? State::Coarse
						 : state);
			return;
		}
		const int error = errno;
		// The kernel charges the program, translated, to the socket's
		// option memory (net.core.optmem_max): try a shorter one.
		if (error == ENOMEM && program.code.size() > 1) {
			limit = program.code.size() / 2;
			continue;
		}
		detach(socket);
		setState(socket, State::Failed, errnoText(error));
		return;
	}
}

void SocketFilter::detach(Socket &socket)
{
	if (!socket.attached)
		return;
	int unused = 0;
	if (setsockopt(socket.fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof(unused)) != 0) {
		// qemu-user does not translate SO_DETACH_FILTER (ENOPROTOOPT): a
		// program that passes everything does the same.
		sock_filter passAll = {BPF_RET | BPF_K, 0, 0, 0xffffffffu};
		sock_fprog fprog{1, &passAll};
		(void)setsockopt(socket.fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog));
	}
	socket.attached = false;
	socket.counts = Drops::Overflow;
}

void SocketFilter::setState(Socket &socket, State state, const std::string &why)
{
	const State before = socket.state;
	socket.state = state;
	if (state == before)
		return;
	switch (state) {
	case State::Filtering:
		logMessage(LogLevel::Info,
			   "source filter: the kernel drops datagrams from other sources on " +
				   socket.name + " before the daemon reads them (1 in " +
				   std::to_string(kSampleOneIn) +
				   " still reaches it, to be counted by its prefix)",
			   {{"SOURCE_FILTER", "kernel"}});
		break;
	case State::Coarse:
		logMessage(
			LogLevel::Warning,
			"source filter: too many sources for one socket filter on " + socket.name +
				": the kernel compares their /24 (IPv4) and /64 (IPv6) prefixes, "
				"the daemon the addresses",
			{{"SOURCE_FILTER", "kernel-coarse"}});
		break;
	case State::Unfit:
		logMessage(LogLevel::Warning,
			   "source filter: too many sources for a socket filter on " + socket.name +
				   ", even by prefix: the daemon filters alone",
			   {{"SOURCE_FILTER", "kernel-unfit"}});
		break;
	case State::Failed:
		logMessage(LogLevel::Warning,
			   "cannot attach a socket filter to " + socket.name + ": " + why +
				   "; the daemon filters alone",
			   {{"SOURCE_FILTER", "kernel-failed"}});
		break;
	case State::None:
		if (before == State::Filtering || before == State::Coarse)
			logMessage(LogLevel::Info,
				   "source filter: the kernel no longer filters " + socket.name,
				   {{"SOURCE_FILTER", "kernel-off"}});
		break;
	case State::Shedding:
		break; // the overload's own lines say it
	}
}

SocketFilter::Meminfo SocketFilter::readSockets()
{
	Meminfo info;
	std::uint64_t filtered = 0;
	std::uint64_t shed = 0;
	for (Socket &socket : sockets_) {
		std::uint32_t values[SK_MEMINFO_VARS] = {};
		socklen_t length = sizeof(values);
		// Linux 4.12 and later; qemu-user does not translate it: then
		// nothing is counted and the governor goes by the CPU alone.
		if (getsockopt(socket.fd, SOL_SOCKET, SO_MEMINFO, values, &length) != 0 ||
		    length < (SK_MEMINFO_DROPS + 1) * sizeof(values[0]))
			continue;
		const std::uint32_t drops = values[SK_MEMINFO_DROPS];
		const std::uint64_t dropped = drops - socket.drops; // wraps as the counter does
		socket.drops = drops;
		switch (socket.counts) {
		case Drops::Overflow:
			info.overflowed += dropped;
			break;
		case Drops::Filter:
			filtered += dropped;
			break;
		case Drops::Shed:
			shed += dropped;
			break;
		}
		if (values[SK_MEMINFO_RCVBUF] > 0) {
			const double fill = static_cast<double>(values[SK_MEMINFO_RMEM_ALLOC]) /
					    values[SK_MEMINFO_RCVBUF];
			info.fill = std::max(info.fill.value_or(0.0), fill);
		}
	}
	if (filtered > 0 || shed > 0) {
		// Some readings follow each other closely: a delay that saw
		// drops starts over at its shortest.
		countDelayMs_ = kCountMinMs;
		if (status_)
			status_->droppedInKernel(filtered, shed);
		gate_.droppedInKernel(filtered);
		shedTotal_ += shed;
		shedSinceLog_ += shed;
	}
	return info;
}

void SocketFilter::countDrops()
{
	(void)readSockets();
}

void SocketFilter::countSoon(std::uint64_t ms)
{
	countDelayMs_ = ms;
	countTimer_.arm(ms, [this] {
		const std::uint64_t before = countDelayMs_;
		countDelayMs_ = std::min(kCountMaxMs, before * 2);
		readSockets(); // back to kCountMinMs when it saw drops
		if (dropping_)
			countSoon(countDelayMs_);
	});
}

std::optional<double> SocketFilter::busy(std::uint64_t nowMs)
{
	if (nowMs - busyWallMs_ < kBusyWindowMs)
		return std::nullopt;
	const std::uint64_t cpu = processCpuNs();
	const double share = static_cast<double>(cpu - busyCpuNs_) /
			     (static_cast<double>(nowMs - busyWallMs_) * 1e6);
	busyWallMs_ = nowMs;
	busyCpuNs_ = cpu;
	return share;
}

void SocketFilter::sawDatagram(Datagram datagram)
{
	// A sample: the kernel is dropping more of its kind; count them soon.
	if (datagram == Datagram::Filtered && dropping_ && countDelayMs_ > kCountMinMs)
		countSoon(kCountMinMs);
	if (++datagrams_ < kProbeEvery)
		return;
	datagrams_ = 0;
	const std::uint64_t now = EventLoop::nowMs();
	const bool fast = now - batchStartMs_ < kProbeEvery;
	batchStartMs_ = now;
	if (fast)
		probe(now);
}

void SocketFilter::probe(std::uint64_t nowMs)
{
	const Meminfo info = readSockets();
	OverloadGovernor::Reading reading;
	reading.queueFill = info.fill;
	reading.overflowed = info.overflowed > 0;
	reading.busy = busy(nowMs);
	const unsigned before = governor_.level();
	if (governor_.observe(reading, nowMs))
		levelChanged(before, nowMs);
}

void SocketFilter::tick()
{
	const std::uint64_t now = EventLoop::nowMs();
	probe(now);
	if (governor_.level() == 0)
		return;
	// A source that authenticated meanwhile (it got through as one of the
	// rest) passes from now on.
	if (!gate_.kernelSources().drops && authenticatedPrefixes() != builtAuthenticated_)
		rebuild();
	if (now - overloadLoggedMs_ >= kOverloadLogMs) {
		logMessage(LogLevel::Warning,
			   "still overloaded: " + std::to_string(shedSinceLog_) +
				   " datagrams from other sources shed in the last minute; 1 in " +
				   std::to_string(governor_.restOneIn()) + " of them passes now",
			   {{"OVERLOAD", "on"}});
		overloadLoggedMs_ = now;
		shedSinceLog_ = 0;
	}
	tickTimer_.arm(kTickMs, [this] { tick(); });
}

void SocketFilter::levelChanged(unsigned before, std::uint64_t nowMs)
{
	const unsigned level = governor_.level();
	if (before == 0) {
		overloadSinceMs_ = nowMs;
		overloadLoggedMs_ = nowMs;
		shedTotal_ = 0;
		shedSinceLog_ = 0;
	}
	rebuild();
	if (before == 0) {
		logMessage(
			LogLevel::Warning,
			"overloaded: the kernel now lets UDP datagrams through only from the " +
				std::to_string(builtAuthenticated_.size()) +
				" sources that authenticated before and from the source filter's, "
				"and 1 in " +
				std::to_string(governor_.restOneIn()) + " of the others",
			{{"OVERLOAD", "on"}});
	} else if (level == 0) {
		logMessage(LogLevel::Info,
			   "no longer overloaded: " + std::to_string(shedTotal_) +
				   " datagrams from other sources shed in " +
				   std::to_string((nowMs - overloadSinceMs_ + 500) / 1000) + " s",
			   {{"OVERLOAD", "off"}});
	} else if (logEnabled(LogLevel::Debug)) {
		logMessage(LogLevel::Debug, "overload: 1 in " +
						    std::to_string(governor_.restOneIn()) +
						    " of the other sources' datagrams passes");
	}
	if (level > 0) {
		if (!tickTimer_.armed())
			tickTimer_.arm(kTickMs, [this] { tick(); });
	} else {
		tickTimer_.cancel();
	}
}

} // namespace checksyncd
