// SPDX-License-Identifier: MIT
//
// handoff-bench-client: calls checksyncd's org.checksyncd.Handoff1.HandleRequest
// as fast as it answers, and prints what one call costs from the caller's
// side. Driven by bench/handoff.py (docs/benchmarks.md, "Hand-overs from
// the UA").
//
//   handoff-bench-client --bus ADDRESS --calls N [--parallel K] [--port P]
//
// Each call hands over a NOTIFY check-sync of its own (a Call-ID and branch
// of its own: checksyncd answers a request it has seen again from its
// answer table), from remote 192.0.2.1:PORT over udp. --parallel 1 (the
// default) waits for each answer before the next call: the round trip.
// With K, K calls are kept in flight (checksyncd takes 32): the rate.
// Prints one line of key=value pairs: calls, ok (answers with a status),
// errors, seconds, calls_per_s, mean_us, p50_us, p99_us, max_us, and the
// first status seen.

#include <getopt.h>
#include <time.h>

#include <systemd/sd-bus.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "loop/sdbus.hpp"

using checksyncd::UniqueBus;
using checksyncd::UniqueBusMessage;
using checksyncd::UniqueSlot;

namespace {

std::uint64_t nowUs()
{
	timespec ts{};
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u +
	       static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

struct Bench {
	sd_bus *bus = nullptr;
	unsigned calls = 0;
	unsigned port = 5060;
	unsigned sent = 0;
	unsigned done = 0;
	unsigned ok = 0;
	unsigned errors = 0;
	unsigned firstStatus = 0;
	std::string firstError;
	std::vector<std::uint64_t> latencies;
};

struct Call {
	Bench *bench = nullptr;
	std::uint64_t startUs = 0;
	UniqueSlot slot;
};

std::string notifyText(unsigned n)
{
	const std::string id = std::to_string(n);
	return "NOTIFY sip:340899@192.0.2.10:5060 SIP/2.0\r\n"
	       "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKbench" +
	       id +
	       "\r\n"
	       "From: <sip:pbx@192.0.2.1>;tag=b" +
	       id +
	       "\r\n"
	       "To: <sip:340899@192.0.2.10>\r\n"
	       "Call-ID: bench-" +
	       id +
	       "@192.0.2.1\r\n"
	       "CSeq: 1 NOTIFY\r\n"
	       "Max-Forwards: 70\r\n"
	       "Event: check-sync;reboot=false\r\n"
	       "Subscription-State: terminated\r\n"
	       "Content-Length: 0\r\n\r\n";
}

int onReply(sd_bus_message *reply, void *userdata, sd_bus_error *) noexcept;

int send(Call &call)
{
	Bench &b = *call.bench;
	const std::string text = notifyText(b.sent);
	const std::string remote = "192.0.2.1:" + std::to_string(b.port);
	sd_bus_message *created = nullptr;
	int r = sd_bus_message_new_method_call(b.bus, &created, "org.checksyncd.CheckSync1",
					       "/org/checksyncd/CheckSync1",
					       "org.checksyncd.Handoff1", "HandleRequest");
	const UniqueBusMessage message(created);
	if (r >= 0)
		r = sd_bus_message_append_array(message.get(), 'y', text.data(), text.size());
	if (r >= 0)
		r = sd_bus_message_append(message.get(), "a{sv}", 3, "transport", "s", "udp",
					  "remote", "s", remote.c_str(), "identity", "u", 1);
	sd_bus_slot *slot = nullptr;
	call.startUs = nowUs();
	if (r >= 0)
		r = sd_bus_call_async(b.bus, &slot, message.get(), onReply, &call, 10'000'000);
	call.slot.reset(slot);
	if (r >= 0)
		b.sent++;
	return r;
}

int onReply(sd_bus_message *reply, void *userdata, sd_bus_error *) noexcept
{
	Call &call = *static_cast<Call *>(userdata);
	Bench &b = *call.bench;
	b.latencies.push_back(nowUs() - call.startUs);
	b.done++;
	if (const sd_bus_error *error = sd_bus_message_get_error(reply)) {
		b.errors++;
		if (b.firstError.empty())
			b.firstError = error->name ? error->name : "?";
	} else {
		std::uint16_t status = 0;
		if (sd_bus_message_read(reply, "q", &status) >= 0) {
			b.ok++;
			if (!b.firstStatus)
				b.firstStatus = status;
		}
	}
	call.slot.reset();
	if (b.sent < b.calls)
		(void)send(call);
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	std::string address;
	Bench b;
	unsigned parallel = 1;
	static const struct option options[] = {
		{"bus", required_argument, nullptr, 'b'},
		{"calls", required_argument, nullptr, 'n'},
		{"parallel", required_argument, nullptr, 'k'},
		{"port", required_argument, nullptr, 'p'},
		{nullptr, 0, nullptr, 0},
	};
	for (int c; (c = getopt_long(argc, argv, "", options, nullptr)) != -1;) {
		if (c == 'b')
			address = optarg;
		else if (c == 'n')
			b.calls = static_cast<unsigned>(std::strtoul(optarg, nullptr, 10));
		else if (c == 'k')
			parallel = static_cast<unsigned>(std::strtoul(optarg, nullptr, 10));
		else if (c == 'p')
			b.port = static_cast<unsigned>(std::strtoul(optarg, nullptr, 10));
		else
			return 64;
	}
	if (address.empty() || b.calls == 0 || parallel == 0) {
		std::fprintf(stderr, "usage: handoff-bench-client --bus ADDRESS --calls N "
				     "[--parallel K] [--port P]\n");
		return 64;
	}

	sd_bus *opened = nullptr;
	int r = sd_bus_new(&opened);
	const UniqueBus bus(opened);
	if (r >= 0)
		r = sd_bus_set_address(bus.get(), address.c_str());
	if (r >= 0)
		r = sd_bus_set_bus_client(bus.get(), 1);
	if (r >= 0)
		r = sd_bus_start(bus.get());
	if (r < 0) {
		std::fprintf(stderr, "handoff-bench-client: cannot connect to %s\n",
			     address.c_str());
		return 1;
	}
	b.bus = bus.get();
	b.latencies.reserve(b.calls);

	std::vector<Call> calls(std::min(parallel, b.calls));
	const std::uint64_t started = nowUs();
	for (Call &call : calls) {
		call.bench = &b;
		if (send(call) < 0) {
			std::fprintf(stderr, "handoff-bench-client: cannot send a call\n");
			return 1;
		}
	}
	while (b.done < b.calls) {
		r = sd_bus_process(bus.get(), nullptr);
		if (r < 0) {
			std::fprintf(stderr, "handoff-bench-client: the bus went away\n");
			return 1;
		}
		if (r == 0 && sd_bus_wait(bus.get(), UINT64_MAX) < 0)
			return 1;
	}
	const double seconds = static_cast<double>(nowUs() - started) / 1e6;

	std::vector<std::uint64_t> sorted = b.latencies;
	std::sort(sorted.begin(), sorted.end());
	std::uint64_t sum = 0;
	for (std::uint64_t us : sorted)
		sum += us;
	const auto at = [&](double q) {
		return sorted[std::min(sorted.size() - 1,
				       static_cast<std::size_t>(q * sorted.size()))];
	};
	std::printf("calls=%u ok=%u errors=%u seconds=%.3f calls_per_s=%.0f mean_us=%.0f "
		    "p50_us=%llu p99_us=%llu max_us=%llu first_status=%u first_error=%s\n",
		    b.done, b.ok, b.errors, seconds, b.done / seconds,
		    static_cast<double>(sum) / sorted.size(),
		    static_cast<unsigned long long>(at(0.5)),
		    static_cast<unsigned long long>(at(0.99)),
		    static_cast<unsigned long long>(sorted.back()), b.firstStatus,
		    b.firstError.empty() ? "-" : b.firstError.c_str());
	return b.errors == 0 ? 0 : 2;
}
