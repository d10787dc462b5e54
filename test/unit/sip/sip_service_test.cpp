// SPDX-License-Identifier: MIT
//
// The SIP side in process (daemon/sip/sip_service.cpp): a real SipService on a
// real su_root, listening on a loopback UDP port, with the daemon's D-Bus
// client and the provisioning double on a private dbus-daemon. A request
// sent to the port and the same request handed over as the phone's UA
// does (handOver()) go through one path: the same answers, from the same
// guard.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/digest.hpp"
#include "base/text.hpp"
#include "base/unique_fd.hpp"
#include "filter/source_gate.hpp"
#include "loop/bus_connection.hpp"
#include "loop/log.hpp"
#include "loop/loop.hpp"
#include "provisioning/provisioning_client.hpp"
#include "settings/settings.hpp"
#include "sip/sip_service.hpp"
#include "status/status.hpp"
#include "support/daemon_support.hpp"
#include "support/provisioning_double.hpp"
#include "support/sip_text.hpp"
#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;
using checksyncd::test::PrivateBus;
using checksyncd::test::ProvisioningDouble;
using checksyncd::test::quotedParam;
using checksyncd::test::stepUntil;
using checksyncd::test::TempDir;

namespace {

constexpr const char *kRealm = "ser.berlin.snom.com";

// A free UDP port on 127.0.0.1 (the kernel's pick, released again).
std::uint16_t freePort()
{
	UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	sockaddr_in in{};
	in.sin_family = AF_INET;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t length = sizeof(in);
	if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr *>(&in), sizeof(in)) != 0 ||
	    ::getsockname(fd.get(), reinterpret_cast<sockaddr *>(&in), &length) != 0)
		return 0;
	return ntohs(in.sin_port);
}

// An answer as the peer sees it: status line, then each header as
// "Name: value" in order (what is compared), by either way.
struct Seen {
	int status = 0;
	std::string reason;
	std::vector<std::string> headers; // but Via (the port pins it to the source)

	std::string header(std::string_view name) const
	{
		for (const std::string &line : headers)
			if (line.starts_with(std::string(name) + ": "))
				return line.substr(name.size() + 2);
		return {};
	}
};

Seen parseAnswer(std::string_view text)
{
	Seen seen;
	std::size_t end = text.find("\r\n");
	const std::string_view statusLine = text.substr(0, end);
	if (statusLine.size() > 12) {
		seen.status = std::stoi(std::string(statusLine.substr(8, 3)));
		seen.reason = std::string(statusLine.substr(12));
	}
	while (end != std::string_view::npos) {
		const std::size_t start = end + 2;
		end = text.find("\r\n", start);
		const std::string_view line = text.substr(start, end - start);
		if (line.empty())
			break;
		if (!line.starts_with("Via:"))
			seen.headers.emplace_back(line);
	}
	return seen;
}

// The nonce of a challenge, replaced: two challenges differ in nothing else.
std::string withoutNonce(std::string challenge)
{
	const std::size_t at = challenge.find("nonce=\"");
	if (at != std::string::npos)
		challenge.erase(at + 7, challenge.find('"', at + 7) - at - 7);
	return challenge;
}

// What the status object hears of each check-sync answered, with the
// texts copied (a report's views live only for the call).
struct RecordingStatus final : StatusSink {
	struct Report {
		std::string remote;
		std::string transport;
		bool handedOver = false;
		std::string callId;
		std::string event;
		std::string action;
		unsigned identity = 0;
		bool authenticated = false;
		unsigned sipStatus = 0;
		Provisioning provisioning = Provisioning::NotAsked;
	};
	std::vector<Report> reports;

	void received(Arrival) override {}
	void answered(unsigned, AnswerTo) override {}
	void authenticationFailed() override {}
	void droppedByFilter() override {}
	void droppedInKernel(std::uint64_t, std::uint64_t) override {}
	void silenced() override {}
	void checkSyncAnswered(const CheckSyncReport &r) override
	{
		reports.push_back({std::string(r.remote), std::string(r.transport), r.handedOver,
				   std::string(r.callId), std::string(r.event),
				   std::string(r.action), r.identity, r.authenticated, r.sipStatus,
				   r.provisioning});
	}
};

} // namespace

TEST_GROUP(SipService)
{
	EventLoop loop;
	TempDir dir;
	// The source filter, off (no settings): every source is considered.
	SourceGate gate{loop, nullptr, dir.path("resolv.conf")};
	std::unique_ptr<PrivateBus> bus;
	std::unique_ptr<ProvisioningDouble> provisioning;
	std::unique_ptr<BusConnection> connection;
	std::unique_ptr<ProvisioningClient> client;
	std::unique_ptr<SipService> sip;
	UniqueFd peer; // the PBX's socket
	std::uint16_t peerPort = 0;
	std::uint16_t port = 0;
	std::shared_ptr<Settings> settings = std::make_shared<Settings>();
	int sequence = 0;

	void setup() override
	{
		logSetup(getenv("DEBUGLOG") ? LogLevel::Debug : LogLevel::Error,
			 LogBackend::Stderr);
		bus = std::make_unique<PrivateBus>(dir.path());
		const std::string error = bus->start();
		if (!error.empty())
			FAIL(error.c_str());
		provisioning = std::make_unique<ProvisioningDouble>(loop);
		const std::string served = provisioning->connect(bus->address());
		if (!served.empty())
			FAIL(served.c_str());
		connection = std::make_unique<BusConnection>(loop, bus->address());
		client = std::make_unique<ProvisioningClient>(loop, *connection);
		port = freePort();
		sip = std::make_unique<SipService>(
			loop, *client, gate,
			std::vector<std::string>{"sip:127.0.0.1:" + std::to_string(port) +
						 ";transport=udp"});
		Identity one;
		one.idx = 1;
		one.name = "340899";
		one.host = kRealm;
		one.pass = "1234";
		settings->identities[1] = one;
		settings->challengeChecksync = true;
		sip->setSettings(settings);

		peer.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
		sockaddr_in in{};
		in.sin_family = AF_INET;
		in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t length = sizeof(in);
		CHECK_TRUE(peer &&
			   ::bind(peer.get(), reinterpret_cast<sockaddr *>(&in), sizeof(in)) == 0);
		CHECK_EQUAL(0,
			    ::getsockname(peer.get(), reinterpret_cast<sockaddr *>(&in), &length));
		peerPort = ntohs(in.sin_port);
	}

	void teardown() override
	{
		sip.reset();
		client.reset();
		connection.reset();
		provisioning.reset();
		bus.reset();
	}

	std::string peerAddress() const
	{
		return "127.0.0.1:" + std::to_string(peerPort);
	}

	// A NOTIFY from the PBX's socket, a new transaction each time.
	std::string notify(const std::string &authorization = {}, const char *event = nullptr,
			   const std::string &callId = "same@pbx")
	{
		const int n = ++sequence;
		std::string text = "NOTIFY sip:340899@127.0.0.1:" + std::to_string(port) +
				   " SIP/2.0\r\n"
				   "Via: SIP/2.0/UDP " +
				   peerAddress() + ";branch=z9hG4bK-" + std::to_string(n) +
				   ";rport\r\n"
				   "From: <sip:pbx@127.0.0.1>;tag=f" +
				   std::to_string(n) +
				   "\r\n"
				   "To: <sip:340899@127.0.0.1>\r\n"
				   "Call-ID: " +
				   callId + "\r\nCSeq: " + std::to_string(n) +
				   " NOTIFY\r\n"
				   "Event: " +
				   (event ? event : "check-sync;reboot=false") + "\r\n";
		if (!authorization.empty())
			text += "Authorization: " + authorization + "\r\n";
		return text + "Content-Length: 0\r\n\r\n";
	}

	std::string uri() const
	{
		return "sip:340899@127.0.0.1:" + std::to_string(port);
	}

	std::string answer(const std::string &challenge, const std::string &password = "1234")
	{
		const std::string realm = quotedParam(challenge, "realm");
		const std::string nonce = quotedParam(challenge, "nonce");
		const std::string target = uri();
		DigestInput in;
		in.method = "NOTIFY";
		in.uri = target;
		in.nonce = nonce;
		in.qop = "auth";
		in.nc = "00000001";
		in.cnonce = "abc";
		const std::string response = computeResponse(
			Algorithm::Md5, computeHa1(Algorithm::Md5, "340899", realm, password), in);
		return "Digest username=\"340899\", realm=\"" + realm + "\", nonce=\"" + nonce +
		       "\", uri=\"" + target + "\", response=\"" + response +
		       "\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"abc\"";
	}

	// Sent to the port: the bytes of the answer, empty when none came
	// within withinMs.
	std::string rawOverThePort(const std::string &request, std::uint64_t withinMs = 3000)
	{
		sockaddr_in to{};
		to.sin_family = AF_INET;
		to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		to.sin_port = htons(port);
		CHECK_EQUAL(static_cast<ssize_t>(request.size()),
			    ::sendto(peer.get(), request.data(), request.size(), 0,
				     reinterpret_cast<sockaddr *>(&to), sizeof(to)));
		std::string received;
		stepUntil(
			loop,
			[&] {
				char buffer[16384];
				const ssize_t n = ::recv(peer.get(), buffer, sizeof(buffer), 0);
				if (n > 0)
					received.assign(buffer, static_cast<std::size_t>(n));
				return n > 0;
			},
			withinMs);
		return received;
	}

	// Sent to the port: the answer the PBX's socket receives.
	Seen overThePort(const std::string &request)
	{
		sockaddr_in to{};
		to.sin_family = AF_INET;
		to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		to.sin_port = htons(port);
		CHECK_EQUAL(static_cast<ssize_t>(request.size()),
			    ::sendto(peer.get(), request.data(), request.size(), 0,
				     reinterpret_cast<sockaddr *>(&to), sizeof(to)));
		std::string received;
		CHECK_TRUE(stepUntil(loop, [&] {
			char buffer[8192];
			const ssize_t n = ::recv(peer.get(), buffer, sizeof(buffer), 0);
			if (n > 0)
				received.assign(buffer, static_cast<std::size_t>(n));
			return n > 0;
		}));
		return parseAnswer(received);
	}

	// Handed over as the UA does, from the PBX's address over UDP.
	Seen handedOver(const std::string &request)
	{
		HandoffContext context;
		context.remote = *SourceAddress::fromAddressPort(peerAddress(), Transport::Udp);
		std::optional<HandoffAnswer> later;
		HandoffResult result = sip->handOver(
			std::span(reinterpret_cast<const std::uint8_t *>(request.data()),
				  request.size()),
			context, [&](const HandoffAnswer &answer) { later = answer; });
		HandoffAnswer answer;
		if (auto *now = std::get_if<HandoffAnswer>(&result)) {
			answer = *now;
		} else {
			CHECK_TRUE(std::holds_alternative<std::monostate>(result));
			CHECK_TRUE(stepUntil(loop, [&] { return later.has_value(); }));
			answer = *later;
		}
		Seen seen = parseAnswer(answer.response);
		// The reply's own fields say what its bytes say.
		CHECK_EQUAL(seen.status, static_cast<int>(answer.status));
		STRCMP_EQUAL(seen.reason.c_str(), answer.reason.c_str());
		for (const auto &[name, value] : answer.headers)
			STRCMP_EQUAL(value.c_str(), seen.header(name).c_str());
		return seen;
	}
};

TEST(SipService, aChallengeIsTheSameOnThePortAndHandedOver)
{
	const std::string request = notify();
	const Seen port = overThePort(request);
	const Seen handoff = handedOver(request);
	CHECK_EQUAL(401, port.status);
	CHECK_EQUAL(401, handoff.status);
	STRCMP_EQUAL(port.reason.c_str(), handoff.reason.c_str());
	CHECK_EQUAL(port.headers.size(), handoff.headers.size());
	for (std::size_t i = 0; i < port.headers.size(); ++i)
		STRCMP_EQUAL(withoutNonce(port.headers[i]).c_str(),
			     withoutNonce(handoff.headers[i]).c_str());
	// Only the nonces differ: each answer has its own.
	CHECK_TRUE(quotedParam(port.header("WWW-Authenticate"), "nonce") !=
		   quotedParam(handoff.header("WWW-Authenticate"), "nonce"));
	CHECK_EQUAL(0u, provisioning->calls.size());
}

TEST(SipService, everyOtherAnswerOfTheTableIsTheSame)
{
	settings->challengeChecksync = false;
	sip->setSettings(settings);
	for (const char *event : {"presence", "check-sync;reboot=maybe"}) {
		const std::string request = notify({}, event);
		const Seen port = overThePort(request);
		const Seen handoff = handedOver(request);
		CHECK_TEXT(port.status >= 400, event);
		CHECK_EQUAL(port.status, handoff.status);
		STRCMP_EQUAL(port.reason.c_str(), handoff.reason.c_str());
		CHECK_TRUE(port.headers == handoff.headers);
	}
}

TEST(SipService, anAnswerServedIsServedEitherWay)
{
	const Seen portChallenge = overThePort(notify());
	const Seen port = overThePort(notify(answer(portChallenge.header("WWW-Authenticate"))));
	const Seen handoffChallenge = handedOver(notify());
	const Seen handoff = handedOver(
		notify(answer(handoffChallenge.header("WWW-Authenticate"))));
	CHECK_EQUAL(200, port.status);
	CHECK_EQUAL(200, handoff.status);
	CHECK_TRUE(port.headers.size() == handoff.headers.size());
	STRCMP_EQUAL("checksyncd", handoff.header("Server").c_str());
	CHECK_TRUE(stepUntil(loop, [&] { return !provisioning->calls.empty(); }));
	CHECK_TRUE(provisioning->calls.front().authenticated);
	STRCMP_EQUAL(("udp:" + peerAddress()).c_str(), provisioning->calls.front().remote.c_str());
}

TEST(SipService, aServedCheckSyncIsToldAsValidUtf8OnDBusAndAsReceivedToTheStatus)
{
	RecordingStatus status;
	sip.reset(); // again on the same port, with a status sink
	sip = std::make_unique<SipService>(
		loop, *client, gate,
		std::vector<std::string>{"sip:127.0.0.1:" + std::to_string(port) +
					 ";transport=udp"},
		&status);
	settings->challengeChecksync = false;
	sip->setSettings(settings);
	provisioning->answer = ProvisioningDouble::Answer::Hold;
	// A byte that starts no UTF-8 character, and longer than D-Bus is given.
	const std::string callId = "\xff" + std::string(300, 'c') + "@pbx";

	// The first waits for the D-Bus call; the second, while the gate
	// spaces calls, is answered at once (on the trailing call).
	const std::string first = notify({}, nullptr, callId);
	sockaddr_in to{};
	to.sin_family = AF_INET;
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to.sin_port = htons(port);
	CHECK_EQUAL(static_cast<ssize_t>(first.size()),
		    ::sendto(peer.get(), first.data(), first.size(), 0,
			     reinterpret_cast<sockaddr *>(&to), sizeof(to)));
	CHECK_TRUE(stepUntil(loop, [&] { return provisioning->held() == 1; }));
	CHECK_EQUAL(0u, status.reports.size());
	provisioning->answerHeld(ProvisioningDouble::Reply::Success);
	std::string answered;
	CHECK_TRUE(stepUntil(loop, [&] {
		char buffer[8192];
		const ssize_t n = ::recv(peer.get(), buffer, sizeof(buffer), 0);
		if (n > 0)
			answered.assign(buffer, static_cast<std::size_t>(n));
		return n > 0;
	}));
	CHECK_EQUAL(200, parseAnswer(answered).status);
	CHECK_EQUAL(1u, status.reports.size());
	CHECK_EQUAL(200, overThePort(notify({}, nullptr, callId)).status);
	CHECK_EQUAL(2u, status.reports.size());

	CHECK_EQUAL(1u, provisioning->calls.size());
	const ProvisioningDouble::Call &call = provisioning->calls.front();
	STRCMP_EQUAL(toValidUtf8(callId, 256).c_str(), call.callId.c_str());
	STRCMP_EQUAL("check-sync;reboot=false", call.event.c_str());
	STRCMP_EQUAL(("udp:" + peerAddress()).c_str(), call.remote.c_str());
	CHECK_FALSE(call.authenticated);
	CHECK_EQUAL(1u, call.identity);
	for (const RecordingStatus::Report &report : status.reports) {
		STRCMP_EQUAL(callId.c_str(), report.callId.c_str()); // the model makes it printable
		STRCMP_EQUAL("check-sync;reboot=false", report.event.c_str());
		STRCMP_EQUAL(("udp:" + peerAddress()).c_str(), report.remote.c_str());
		STRCMP_EQUAL("udp", report.transport.c_str());
		CHECK_FALSE(report.handedOver);
		STRCMP_EQUAL("Resync", report.action.c_str());
		CHECK_EQUAL(1u, report.identity);
		CHECK_FALSE(report.authenticated);
		CHECK_EQUAL(200u, report.sipStatus);
		CHECK_EQUAL(Provisioning::Accepted, report.provisioning);
	}

	// Handed over: the same facts, said to be handed over.
	CHECK_EQUAL(200, handedOver(notify({}, nullptr, callId)).status);
	CHECK_EQUAL(3u, status.reports.size());
	CHECK_TRUE(status.reports.back().handedOver);
	STRCMP_EQUAL(callId.c_str(), status.reports.back().callId.c_str());
}

TEST(SipService, failuresOnThePortLockTheRemoteOutOfHandOversToo)
{
	for (int i = 0; i < 5; ++i) {
		const Seen challenge = overThePort(notify());
		CHECK_EQUAL(401, challenge.status);
		CHECK_EQUAL(401, overThePort(notify(answer(challenge.header("WWW-Authenticate"),
							   "wrong")))
					 .status);
	}
	// One guard: the address is refused whichever way its request comes.
	CHECK_EQUAL(403, overThePort(notify()).status);
	CHECK_EQUAL(403, handedOver(notify()).status);
}

TEST(SipService, aNonceIssuedToAHandOverIsBoundToItsRemote)
{
	const Seen challenge = handedOver(notify());
	const std::string request = notify(answer(challenge.header("WWW-Authenticate")));
	HandoffContext elsewhere;
	elsewhere.remote = *SourceAddress::fromAddressPort("192.0.2.7:5060", Transport::Tcp);
	HandoffResult result = sip->handOver(
		std::span(reinterpret_cast<const std::uint8_t *>(request.data()), request.size()),
		elsewhere, [](const HandoffAnswer &) {});
	const auto *answer = std::get_if<HandoffAnswer>(&result);
	CHECK_TRUE(answer);
	CHECK_EQUAL(401u, answer->status);
	CHECK_EQUAL(0u, provisioning->calls.size());
}

TEST(SipService, aCopyHandedOverWhileTheFirstWaitsGetsTheSameAnswerOnce)
{
	settings->challengeChecksync = false;
	sip->setSettings(settings);
	provisioning->answer = ProvisioningDouble::Answer::Hold;
	const std::string request = notify();
	HandoffContext context;
	context.remote = *SourceAddress::fromAddressPort(peerAddress(), Transport::Tcp);
	const auto bytes = std::span(reinterpret_cast<const std::uint8_t *>(request.data()),
				     request.size());
	std::vector<HandoffAnswer> answers;
	const auto keep = [&](const HandoffAnswer &answer) { answers.push_back(answer); };
	CHECK_TRUE(std::holds_alternative<std::monostate>(sip->handOver(bytes, context, keep)));
	CHECK_TRUE(stepUntil(loop, [&] { return provisioning->held() == 1; }));
	CHECK_TRUE(std::holds_alternative<std::monostate>(sip->handOver(bytes, context, keep)));
	CHECK_EQUAL(0u, answers.size());
	provisioning->answerHeld(ProvisioningDouble::Reply::Success);
	CHECK_TRUE(stepUntil(loop, [&] { return answers.size() == 2; }));
	CHECK_EQUAL(200u, answers[0].status);
	STRCMP_EQUAL(answers[0].response.c_str(), answers[1].response.c_str());
	// Answered: a later copy gets it again from the guard, at once.
	HandoffResult again = sip->handOver(bytes, context, keep);
	const auto *third = std::get_if<HandoffAnswer>(&again);
	CHECK_TRUE(third);
	STRCMP_EQUAL(answers[0].response.c_str(), third->response.c_str());
	CHECK_EQUAL(1u, provisioning->calls.size());
}

TEST(SipService, aRequestThatNtaWouldRefuseIsRefusedHandedOverToo)
{
	std::string request = notify();
	request.replace(request.find("CSeq: "), 6, "CSeq: x");
	const Seen port = overThePort(request);
	const Seen handoff = handedOver(request);
	CHECK_EQUAL(400, port.status);
	CHECK_EQUAL(400, handoff.status);
	STRCMP_EQUAL(port.reason.c_str(), handoff.reason.c_str());
}

TEST(SipService, whoHandedOverGoesAwayAndNothingIsCalledBack)
{
	settings->challengeChecksync = false;
	sip->setSettings(settings);
	provisioning->answer = ProvisioningDouble::Answer::Hold;
	const std::string request = notify();
	HandoffContext context;
	context.remote = *SourceAddress::fromAddressPort(peerAddress(), Transport::Tcp);
	bool called = false;
	CHECK_TRUE(std::holds_alternative<std::monostate>(sip->handOver(
		std::span(reinterpret_cast<const std::uint8_t *>(request.data()), request.size()),
		context, [&](const HandoffAnswer &) { called = true; })));
	CHECK_TRUE(stepUntil(loop, [&] { return provisioning->held() == 1; }));
	sip->forgetHandoffs();
	provisioning->answerHeld(ProvisioningDouble::Reply::Success);
	CHECK_TRUE(checksyncd::test::stepPast(loop, 200));
	CHECK_FALSE(called);
}

// What a source that has not proven itself is sent (unproven.hpp), in real
// bytes on the port.

TEST(SipService, aSmallRequestFromAnUnprovenSourceGetsNoAmplifiedAnswer)
{
	// As small as a NOTIFY gets: compact names, short values.
	const std::string tiny = "NOTIFY sip:340899@127.0.0.1 SIP/2.0\r\n"
				 "v: SIP/2.0/UDP " +
				 peerAddress() +
				 ";branch=z9hG4bK1\r\n"
				 "f: <sip:p@a>;tag=1\r\nt: <sip:340899@a>\r\ni: x\r\n"
				 "CSeq: 1 NOTIFY\r\no: check-sync\r\n\r\n";
	CHECK_TRUE(rawOverThePort(tiny, 300).empty());
}

TEST(SipService, everyAnswerToAnUnprovenSourceIsAtMostTwiceItsRequest)
{
	// The largest 401 the settings can make: twelve realms, three
	// algorithms, against requests of every size a sender may choose.
	settings->algorithms = {Algorithm::Sha512_256, Algorithm::Sha256, Algorithm::Md5};
	for (unsigned idx = 1; idx <= 12; idx++) {
		Identity identity;
		identity.idx = idx;
		identity.name = "340899";
		identity.host = "pbx" + std::to_string(idx) + ".example.net";
		identity.pass = "1234";
		settings->identities[idx] = identity;
	}
	sip->setSettings(settings);
	std::size_t answered = 0;
	for (std::size_t pad = 0; pad <= 2000; pad += 100) {
		std::string request = notify({}, nullptr,
					     "amplify-" + std::to_string(pad) + "@pbx");
		request.insert(request.find("Content-Length"),
			       "X-Pad: " + std::string(pad, 'p') + "\r\n");
		const std::string answer = rawOverThePort(request, 300);
		if (answer.empty())
			continue;
		answered++;
		CHECK_TEXT(answer.size() <= 2 * request.size(),
			   (std::to_string(answer.size()) + " bytes for " +
			    std::to_string(request.size()))
				   .c_str());
	}
	// All but the smallest were challenged.
	CHECK_TRUE(answered >= 19);
}

TEST(SipService, aSourceThatAnsweredAChallengeGetsEveryChallenge)
{
	settings->algorithms = {Algorithm::Sha512_256, Algorithm::Sha256, Algorithm::Md5};
	sip->setSettings(settings);
	const Seen first = overThePort(notify());
	CHECK_EQUAL(401, first.status);
	// Proven by its answer (even a wrong one): the full list now.
	const Seen second = overThePort(notify(answer(first.header("WWW-Authenticate"), "wrong")));
	CHECK_EQUAL(401, second.status);
	std::size_t challenges = 0;
	for (const std::string &line : second.headers)
		challenges += line.starts_with("WWW-Authenticate: ") ? 1 : 0;
	CHECK_EQUAL(3u, challenges);
}
