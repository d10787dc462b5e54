// SPDX-License-Identifier: MIT
//
// Tests of checksyncd-nua's hand-off (integrations/sofia-nua/): the
// context it reports and the answers it relays (handoff_rules.hpp), and its
// D-Bus client (handoff_client.hpp) against a stand-in of checksyncd's
// Handoff1 interface on a private dbus-daemon, on a real su_root.

#include <systemd/sd-bus.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "handoff_client.hpp"
#include "handoff_rules.hpp"
#include "loop/bus_connection.hpp"
#include "loop/loop.hpp"
#include "support/daemon_support.hpp"

#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;
using namespace checksyncd::nua;
using checksyncd::test::PrivateBus;
using checksyncd::test::StderrCapture;
using checksyncd::test::stepPast;
using checksyncd::test::stepUntil;
using checksyncd::test::TempDir;

namespace {

Peer peer(SipTransport transport, const char *address, std::uint16_t port)
{
	return Peer{transport, *IpAddress::parse(address), port};
}

Registration registeredAt(const Peer &registrar)
{
	Registration registration;
	registration.identity = 3;
	registration.registrar = registrar;
	registration.callId = "reg-1@phone";
	registration.verifiedName = "pbx.example.net";
	return registration;
}

} // namespace

TEST_GROUP(NuaHandoffRules){};

TEST(NuaHandoffRules, transportIsReadFromTheViaSentProtocolInAnyCase)
{
	CHECK_EQUAL(SipTransport::Udp, transportOfVia("SIP/2.0/UDP"));
	CHECK_EQUAL(SipTransport::Tcp, transportOfVia("SIP/2.0/TCP"));
	CHECK_EQUAL(SipTransport::Tls, transportOfVia("sip/2.0/tls"));
	CHECK(!transportOfVia("SIP/2.0/WS"));
	CHECK(!transportOfVia("SIP/2.0/"));
	CHECK(!transportOfVia("SIP/1.0/UDP"));
	CHECK(!transportOfVia(""));
}

TEST(NuaHandoffRules, peerTextPutsAnIpv6AddressInBrackets)
{
	STRCMP_EQUAL("192.0.2.1:5060", peerText(*IpAddress::parse("192.0.2.1"), 5060).c_str());
	STRCMP_EQUAL("[2001:db8::1]:5061",
		     peerText(*IpAddress::parse("2001:db8::1"), 5061).c_str());
	// An IPv4-mapped source is its IPv4 address, as checksyncd writes it.
	STRCMP_EQUAL("192.0.2.1:5060",
		     peerText(*IpAddress::parse("::ffff:192.0.2.1"), 5060).c_str());
}

TEST(NuaHandoffRules, aRequestFromTheRegistrarsPeerOverItsTransportIsOnTheRegistrarFlow)
{
	const Registration registration = registeredAt(peer(SipTransport::Tcp, "192.0.2.1", 5060));
	const HandoffContext context = contextFor(peer(SipTransport::Tcp, "192.0.2.1", 5060),
						  registration);
	CHECK(context.registrarFlow);
	CHECK_EQUAL(SipTransport::Tcp, context.transport);
	STRCMP_EQUAL("192.0.2.1:5060", context.remote.c_str());
	UNSIGNED_LONGS_EQUAL(3, context.identity);
	STRCMP_EQUAL("reg-1@phone", context.registerCallId.c_str());
	// TLS keys only for TLS.
	CHECK(!context.tlsPeerVerified);
	CHECK(context.tlsPeerName.empty());
}

TEST(NuaHandoffRules, anotherPortAddressOrTransportIsNotTheRegistrarFlow)
{
	const Registration registration = registeredAt(peer(SipTransport::Tcp, "192.0.2.1", 5060));
	CHECK(!contextFor(peer(SipTransport::Tcp, "192.0.2.1", 5070), registration).registrarFlow);
	CHECK(!contextFor(peer(SipTransport::Tcp, "192.0.2.2", 5060), registration).registrarFlow);
	CHECK(!contextFor(peer(SipTransport::Udp, "192.0.2.1", 5060), registration).registrarFlow);
}

TEST(NuaHandoffRules, nothingIsOnTheRegistrarFlowBeforeARegistration)
{
	Registration registration = registeredAt(peer(SipTransport::Udp, "192.0.2.1", 5060));
	registration.registrar.reset();
	const HandoffContext context = contextFor(peer(SipTransport::Udp, "192.0.2.1", 5060),
						  registration);
	CHECK(!context.registrarFlow);
	UNSIGNED_LONGS_EQUAL(3, context.identity);
}

TEST(NuaHandoffRules, tlsOnTheRegistrarFlowIsVerifiedForTheRegistrarsName)
{
	const Registration registration = registeredAt(
		peer(SipTransport::Tls, "2001:db8::5", 5061));
	const HandoffContext on = contextFor(peer(SipTransport::Tls, "2001:db8::5", 5061),
					     registration);
	CHECK(on.registrarFlow);
	CHECK(on.tlsPeerVerified);
	STRCMP_EQUAL("pbx.example.net", on.tlsPeerName.c_str());
	STRCMP_EQUAL("[2001:db8::5]:5061", on.remote.c_str());
	const HandoffContext off = contextFor(peer(SipTransport::Tls, "2001:db8::6", 5061),
					      registration);
	CHECK(!off.registrarFlow);
	CHECK(!off.tlsPeerVerified);
	CHECK(off.tlsPeerName.empty());
}

TEST(NuaHandoffRules, theContextIsDescribedInTheOrderItIsSent)
{
	const Registration registration = registeredAt(peer(SipTransport::Tls, "192.0.2.1", 5061));
	STRCMP_EQUAL("transport=tls remote=192.0.2.1:5061 identity=3 registrar_flow=true "
		     "tls_peer_verified=true tls_peer_name=pbx.example.net "
		     "register_call_id=reg-1@phone",
		     describe(contextFor(peer(SipTransport::Tls, "192.0.2.1", 5061), registration))
			     .c_str());
	Registration none;
	STRCMP_EQUAL(
		"transport=udp remote=192.0.2.1:5060 identity=0 registrar_flow=false",
		describe(contextFor(peer(SipTransport::Udp, "192.0.2.1", 5060), none)).c_str());
}

TEST(NuaHandoffRules, aChallengeIsRelayedWithItsHeadersInOrder)
{
	const HandoffAnswer answer{401,
				   "Unauthorized",
				   {{"WWW-Authenticate", "Digest realm=\"a\", nonce=\"1\""},
				    {"WWW-Authenticate", "Digest realm=\"b\", nonce=\"2\""},
				    {"Server", "checksyncd"}}};
	const auto reply = replyFor(answer);
	const Reply *relayed = std::get_if<Reply>(&reply);
	CHECK(relayed != nullptr);
	LONGS_EQUAL(401, relayed->status);
	STRCMP_EQUAL("Unauthorized", relayed->reason.c_str());
	STRCMP_EQUAL("WWW-Authenticate: Digest realm=\"a\", nonce=\"1\"\r\n"
		     "WWW-Authenticate: Digest realm=\"b\", nonce=\"2\"\r\n"
		     "Server: checksyncd\r\n",
		     relayed->headers.c_str());
}

TEST(NuaHandoffRules, statusZeroMeansNoAnswer)
{
	CHECK(std::holds_alternative<NoReply>(replyFor(HandoffAnswer{0, "", {}})));
}

TEST(NuaHandoffRules, aProvisionalOrOutOfRangeStatusIsNotRelayed)
{
	for (std::uint16_t status : {100, 183, 199, 700, 999})
		CHECK(std::holds_alternative<BadAnswer>(replyFor(HandoffAnswer{status, "X", {}})));
	CHECK(std::holds_alternative<Reply>(replyFor(HandoffAnswer{699, "X", {}})));
	CHECK(std::holds_alternative<Reply>(replyFor(HandoffAnswer{200, "OK", {}})));
}

TEST(NuaHandoffRules, headersTheTransactionWritesAreRefusedInFullAndCompactForm)
{
	for (const char *name : {"Via", "v", "VIA", "From", "f", "To", "t", "Call-ID", "i",
				 "call-id", "CSeq", "Content-Length", "l"}) {
		const auto reply = replyFor(HandoffAnswer{200, "OK", {{name, "x"}}});
		CHECK_TEXT(std::holds_alternative<BadAnswer>(reply), name);
	}
	for (const char *name : {"Allow-Events", "Retry-After", "Allow", "X-Vialike", "Tok"}) {
		const auto reply = replyFor(HandoffAnswer{200, "OK", {{name, "x"}}});
		CHECK_TEXT(std::holds_alternative<Reply>(reply), name);
	}
}

TEST(NuaHandoffRules, aLineBreakInAReasonOrValueOrANameThatIsNoTokenIsRefused)
{
	CHECK(std::holds_alternative<BadAnswer>(replyFor(HandoffAnswer{200, "O\r\nK", {}})));
	CHECK(std::holds_alternative<BadAnswer>(replyFor(HandoffAnswer{200, "", {}})));
	CHECK(std::holds_alternative<BadAnswer>(
		replyFor(HandoffAnswer{401, "Unauthorized", {{"Server", "a\r\nVia: x"}}})));
	CHECK(std::holds_alternative<BadAnswer>(replyFor(
		HandoffAnswer{401, "Unauthorized", {{"Server", std::string("a\0b", 3)}}})));
	CHECK(std::holds_alternative<BadAnswer>(
		replyFor(HandoffAnswer{200, "OK", {{"Bad Name", "x"}}})));
	CHECK(std::holds_alternative<BadAnswer>(replyFor(HandoffAnswer{200, "OK", {{"", "x"}}})));
}

TEST(NuaHandoffRules, tooManyOrTooLongHeadersAreRefused)
{
	HandoffAnswer many{200, "OK", {}};
	for (std::size_t i = 0; i <= kMaxAnswerHeaders; i++)
		many.headers.emplace_back("X-N", "1");
	CHECK(std::holds_alternative<BadAnswer>(replyFor(many)));
	many.headers.pop_back();
	CHECK(std::holds_alternative<Reply>(replyFor(many)));
	const HandoffAnswer longValue{200, "OK", {{"X-Long", std::string(kMaxAnswerBytes, 'a')}}};
	CHECK(std::holds_alternative<BadAnswer>(replyFor(longValue)));
}

TEST(NuaHandoffRules, aFailedHandOverIsAnswered503WithRetryAfterUnlessTheRequestWasAtFault)
{
	const Reply unavailable = failureReply("org.freedesktop.DBus.Error.ServiceUnknown");
	LONGS_EQUAL(503, unavailable.status);
	STRCMP_EQUAL("Retry-After: 5\r\n", unavailable.headers.c_str());
	CHECK(failureReply({}) == unavailable);
	CHECK(failureReply("org.checksyncd.Handoff1.Error.Busy") == unavailable);
	CHECK(failureReply("org.freedesktop.DBus.Error.AccessDenied") == unavailable);
	LONGS_EQUAL(413, failureReply("org.checksyncd.Handoff1.Error.TooLarge").status);
	LONGS_EQUAL(400, failureReply("org.checksyncd.Handoff1.Error.NotARequest").status);
}

namespace {

// checksyncd's Handoff1 as far as a caller sees it: records each call's
// request and context, and answers as the test says (an answer, an error,
// or not at all).
class HandoffStandIn
{
public:
	enum class Mode {
		Answer,
		Fail,
		Hold, // keep the call unanswered
	};

	struct Seen {
		std::string request;
		std::map<std::string, std::string> context; // key -> "type:value"
	};

	HandoffStandIn(EventLoop &loop, const std::string &address) : bus_(loop, address)
	{
		int r = sd_bus_request_name(bus_.get(), kHandoffService, 0);
		if (r < 0)
			FAIL("cannot own org.checksyncd.CheckSync1");
		sd_bus_slot *slot = nullptr;
		r = sd_bus_add_object_vtable(bus_.get(), &slot, kHandoffPath, kHandoffInterface,
					     kVtable, this);
		slot_.reset(slot);
		if (r < 0)
			FAIL("cannot add the stand-in's object");
	}

	Mode mode = Mode::Answer;
	std::vector<Seen> seen;
	std::vector<UniqueBusMessage> held;

private:
	static int handle(sd_bus_message *call, void *userdata, sd_bus_error *error) noexcept
	{
		auto &self = *static_cast<HandoffStandIn *>(userdata);
		Seen seen;
		const void *bytes = nullptr;
		std::size_t size = 0;
		if (sd_bus_message_read_array(call, 'y', &bytes, &size) < 0)
			return -EINVAL;
		seen.request.assign(static_cast<const char *>(bytes), size);
		if (sd_bus_message_enter_container(call, 'a', "{sv}") < 0)
			return -EINVAL;
		while (sd_bus_message_enter_container(call, 'e', "sv") > 0) {
			const char *key = nullptr;
			const char *type = nullptr;
			if (sd_bus_message_read(call, "s", &key) < 0 ||
			    sd_bus_message_peek_type(call, nullptr, &type) < 0 ||
			    sd_bus_message_enter_container(call, 'v', type) < 0)
				return -EINVAL;
			std::string value;
			if (std::string(type) == "s") {
				const char *text = nullptr;
				(void)sd_bus_message_read(call, "s", &text);
				value = std::string("s:") + text;
			} else if (std::string(type) == "u") {
				std::uint32_t number = 0;
				(void)sd_bus_message_read(call, "u", &number);
				value = "u:" + std::to_string(number);
			} else if (std::string(type) == "b") {
				int flag = 0;
				(void)sd_bus_message_read(call, "b", &flag);
				value = flag ? "b:true" : "b:false";
			} else {
				(void)sd_bus_message_skip(call, type);
				value = std::string(type) + ":?";
			}
			(void)sd_bus_message_exit_container(call);
			(void)sd_bus_message_exit_container(call);
			seen.context[key] = value;
		}
		self.seen.push_back(std::move(seen));
		switch (self.mode) {
		case Mode::Fail:
			return sd_bus_error_set(error, "org.checksyncd.Handoff1.Error.Busy",
						"32 hand-overs are in flight");
		case Mode::Hold:
			self.held.emplace_back(sd_bus_message_ref(call));
			return 1;
		case Mode::Answer:
			break;
		}
		sd_bus_message *created = nullptr;
		int r = sd_bus_message_new_method_return(call, &created);
		const UniqueBusMessage reply(created);
		const char response[] = "SIP/2.0 401 Unauthorized\r\n\r\n";
		if (r >= 0)
			r = sd_bus_message_append(
				reply.get(), "qsa(ss)", 401, "Unauthorized", 2, "WWW-Authenticate",
				"Digest realm=\"r\", nonce=\"n\"", "Server", "checksyncd");
		if (r >= 0)
			r = sd_bus_message_append_array(reply.get(), 'y', response,
							sizeof(response) - 1);
		if (r >= 0)
			r = sd_bus_send(nullptr, reply.get(), nullptr);
		return r < 0 ? r : 1;
	}

	static constexpr sd_bus_vtable kVtable[] = {
		SD_BUS_VTABLE_START(0),
		SD_BUS_METHOD("HandleRequest", "aya{sv}", "qsa(ss)ay", &HandoffStandIn::handle,
			      SD_BUS_VTABLE_UNPRIVILEGED),
		SD_BUS_VTABLE_END,
	};

	BusConnection bus_;
	UniqueSlot slot_;
};

HandoffContext tcpContext()
{
	return contextFor(peer(SipTransport::Tcp, "192.0.2.1", 5060),
			  registeredAt(peer(SipTransport::Tcp, "192.0.2.1", 5060)));
}

} // namespace

TEST_GROUP(HandoffClient)
{
	EventLoop loop;
	TempDir dir;
	PrivateBus bus{dir.path()};
	std::unique_ptr<BusConnection> connection;
	std::unique_ptr<HandoffClient> client;

	void setup() override
	{
		const std::string error = bus.start();
		if (!error.empty())
			FAIL(error.c_str());
		connection = std::make_unique<BusConnection>(loop, bus.address());
		client = std::make_unique<HandoffClient>(*connection);
	}
	void teardown() override
	{
		client.reset();
		connection.reset();
	}

	// Hand one request over and wait for its outcome.
	std::optional<HandoffResult> handOverAndWait(const HandoffContext &context,
						     std::uint64_t withinMs = 3000)
	{
		std::optional<HandoffResult> result;
		auto call = client->handOver("NOTIFY sip:340899@phone SIP/2.0\r\n\r\n", context,
					     [&](const HandoffResult &r) { result = r; });
		if (auto *failure = std::get_if<HandoffFailure>(&call))
			return HandoffResult(*failure);
		CHECK(stepUntil(
			loop, [&] { return result.has_value(); }, withinMs));
		return result;
	}
};

TEST(HandoffClient, theRequestAndContextArriveAndTheAnswerComesBack)
{
	HandoffStandIn standIn(loop, bus.address());
	const std::optional<HandoffResult> result = handOverAndWait(tcpContext());
	CHECK(result.has_value());
	const auto *answer = std::get_if<HandoffAnswer>(&*result);
	CHECK(answer != nullptr);
	UNSIGNED_LONGS_EQUAL(401, answer->status);
	STRCMP_EQUAL("Unauthorized", answer->reason.c_str());
	LONGS_EQUAL(2, answer->headers.size());
	STRCMP_EQUAL("WWW-Authenticate", answer->headers[0].first.c_str());
	STRCMP_EQUAL("Digest realm=\"r\", nonce=\"n\"", answer->headers[0].second.c_str());

	LONGS_EQUAL(1, standIn.seen.size());
	const HandoffStandIn::Seen &seen = standIn.seen[0];
	STRCMP_EQUAL("NOTIFY sip:340899@phone SIP/2.0\r\n\r\n", seen.request.c_str());
	const std::map<std::string, std::string> expected{
		{"transport", "s:tcp"},
		{"remote", "s:192.0.2.1:5060"},
		{"identity", "u:3"},
		{"registrar_flow", "b:true"},
		{"register_call_id", "s:reg-1@phone"},
	};
	CHECK(seen.context == expected);
	LONGS_EQUAL(0, client->inFlight());
}

TEST(HandoffClient, tlsContextsCarryTheVerificationKeys)
{
	HandoffStandIn standIn(loop, bus.address());
	const Registration registration = registeredAt(peer(SipTransport::Tls, "192.0.2.1", 5061));
	(void)handOverAndWait(contextFor(peer(SipTransport::Tls, "192.0.2.1", 5061), registration));
	(void)handOverAndWait(contextFor(peer(SipTransport::Tls, "192.0.2.9", 5061), registration));
	LONGS_EQUAL(2, standIn.seen.size());
	STRCMP_EQUAL("b:true", standIn.seen[0].context["tls_peer_verified"].c_str());
	STRCMP_EQUAL("s:pbx.example.net", standIn.seen[0].context["tls_peer_name"].c_str());
	STRCMP_EQUAL("b:false", standIn.seen[1].context["tls_peer_verified"].c_str());
	CHECK(standIn.seen[1].context.count("tls_peer_name") == 0);
	STRCMP_EQUAL("b:false", standIn.seen[1].context["registrar_flow"].c_str());
}

TEST(HandoffClient, anErrorFromChecksyncdIsAFailureWithItsName)
{
	HandoffStandIn standIn(loop, bus.address());
	standIn.mode = HandoffStandIn::Mode::Fail;
	const std::optional<HandoffResult> result = handOverAndWait(tcpContext());
	const auto *failure = std::get_if<HandoffFailure>(&*result);
	CHECK(failure != nullptr);
	STRCMP_EQUAL("org.checksyncd.Handoff1.Error.Busy", failure->error.c_str());
	STRCMP_EQUAL("org.checksyncd.Handoff1.Error.Busy (32 hand-overs are in flight)",
		     failureText(*failure).c_str());
}

TEST(HandoffClient, noChecksyncdOnTheBusIsAFailure)
{
	const std::optional<HandoffResult> result = handOverAndWait(tcpContext());
	const auto *failure = std::get_if<HandoffFailure>(&*result);
	CHECK(failure != nullptr);
	STRCMP_EQUAL("org.freedesktop.DBus.Error.ServiceUnknown", failure->error.c_str());
}

TEST(HandoffClient, aCallUnansweredPastTheTimeoutFailsAndNotBefore)
{
	HandoffStandIn standIn(loop, bus.address());
	standIn.mode = HandoffStandIn::Mode::Hold;
	const std::uint64_t started = EventLoop::nowMs();
	std::optional<HandoffResult> result;
	auto call = client->handOver("NOTIFY", tcpContext(),
				     [&](const HandoffResult &r) { result = r; });
	CHECK(std::holds_alternative<std::unique_ptr<HandoffCall>>(call));
	// Past checksyncd's own 2 s the call still waits.
	CHECK(stepPast(loop, 2'100));
	CHECK(!result.has_value());
	CHECK(stepUntil(
		loop, [&] { return result.has_value(); }, 3000));
	const std::uint64_t elapsed = EventLoop::nowMs() - started;
	CHECK(elapsed >= kTimeoutMs);
	const auto *failure = std::get_if<HandoffFailure>(&*result);
	CHECK(failure != nullptr);
	// sd-bus's name for a call that timed out.
	STRCMP_EQUAL("org.freedesktop.DBus.Error.NoReply", failure->error.c_str());
}

TEST(HandoffClient, atMostKMaxInFlightCallsAndAnAbandonedCallNeverAnswers)
{
	HandoffStandIn standIn(loop, bus.address());
	standIn.mode = HandoffStandIn::Mode::Hold;
	int answered = 0;
	std::vector<std::unique_ptr<HandoffCall>> calls;
	for (std::size_t i = 0; i < kMaxInFlight; i++) {
		auto call = client->handOver("NOTIFY", tcpContext(),
					     [&](const HandoffResult &) { answered++; });
		CHECK(std::holds_alternative<std::unique_ptr<HandoffCall>>(call));
		calls.push_back(std::move(std::get<std::unique_ptr<HandoffCall>>(call)));
	}
	LONGS_EQUAL(kMaxInFlight, client->inFlight());
	auto refused = client->handOver("NOTIFY", tcpContext(),
					[&](const HandoffResult &) { answered++; });
	const auto *failure = std::get_if<HandoffFailure>(&refused);
	CHECK(failure != nullptr);
	STRCMP_EQUAL("32 hand-overs in flight", failureText(*failure).c_str());
	CHECK(stepUntil(loop, [&] { return standIn.held.size() == kMaxInFlight; }));

	// Abandoned: the slot goes, the answer that comes later is not heard.
	calls.pop_back();
	LONGS_EQUAL(kMaxInFlight - 1, client->inFlight());
	for (UniqueBusMessage &call : standIn.held) {
		sd_bus_message *created = nullptr;
		(void)sd_bus_message_new_method_return(call.get(), &created);
		const UniqueBusMessage reply(created);
		(void)sd_bus_message_append(reply.get(), "qsa(ss)ay", 200, "OK", 0, 0);
		(void)sd_bus_send(nullptr, reply.get(), nullptr);
	}
	CHECK(stepUntil(loop, [&] { return answered == static_cast<int>(kMaxInFlight) - 1; }));
	CHECK(stepPast(loop, 50));
	LONGS_EQUAL(kMaxInFlight - 1, answered);
	LONGS_EQUAL(0, client->inFlight());
}

TEST(HandoffClient, callsInFlightFailWhenTheBusGoes)
{
	HandoffStandIn standIn(loop, bus.address());
	standIn.mode = HandoffStandIn::Mode::Hold;
	std::optional<HandoffResult> result;
	auto call = client->handOver("NOTIFY", tcpContext(),
				     [&](const HandoffResult &r) { result = r; });
	CHECK(stepUntil(loop, [&] { return standIn.held.size() == 1; }));
	// Both connections say they lost the bus; sd-bus may fail the call
	// itself (NoReply) before the connection hears that the bus is gone.
	const StderrCapture quiet;
	bus.stop();
	CHECK(stepUntil(loop, [&] { return result.has_value(); }));
	CHECK(std::holds_alternative<HandoffFailure>(*result));
	LONGS_EQUAL(0, client->inFlight());
}
