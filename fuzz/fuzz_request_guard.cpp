// SPDX-License-Identifier: MIT
//
// libFuzzer target for the request guard (common/sip/request_guard.hpp): a
// datagram parsed as the daemon's transport does, turned into a
// GuardRequest as SipService::onRequest does (guardRequestOf()), and decided.
//
// Input: one selector byte, then a whole SIP message.
//   bits 0-1  settings variant (kVariants below), with bit 5
//   bit 2     the source is an IPv6 address (else IPv4)
//   bits 3-4  how often the same request is sent again (0-3 times)
//   bit 5     the variants 4-7
//
// Invariants checked (a failure aborts, which libFuzzer reports):
//   - the answer is one of the answer table's (checksyncd(8), "SIP
//     ANSWERS"), or no answer only for ACK;
//   - nothing is served unauthenticated while the challenge is on, nor
//     anything that destroys data whatever the settings;
//   - a service-control NOTIFY handed over with a RegisterCallId no body
//     can carry is never served;
//   - a 401 offers every realm and algorithm of the settings, and its
//     challenges are the same, nonces aside, as for any other user;
//   - a request sent again gets the same key (so the same To tag), and
//     an answer kept for it comes back as a retransmission;
//   - the guard's tables never grow past their bound in bytes.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/sofia.hpp"
#include "fuzz_support.hpp"
#include "settings/settings.hpp"
#include "sip/request_guard.hpp"

using namespace checksyncd;
using namespace checksyncd::fuzz;

namespace {

constexpr std::array<std::string_view, 8> kVariants = {
	// 0: the seed's identity, challenge on.
	"<challenge_checksync>on</challenge_checksync>"
	"<user_name idx=\"1\">340899</user_name>"
	"<user_host idx=\"1\">ser.berlin.snom.com</user_host>"
	"<user_pass idx=\"1\">1234</user_pass>",
	// 1: challenge off (the default): plain check-syncs are served.
	"<user_name idx=\"1\">340899</user_name>"
	"<user_host idx=\"1\">ser.berlin.snom.com</user_host>"
	"<user_pass idx=\"1\">1234</user_pass>",
	// 2: two PBXs with one user name, one with only an HA1.
	"<challenge_checksync>on</challenge_checksync>"
	"<checksync_auth_algorithms>SHA-256,MD5</checksync_auth_algorithms>"
	"<user_name idx=\"1\">340899</user_name>"
	"<user_host idx=\"1\">a.example.net</user_host>"
	"<user_pass idx=\"1\">1234</user_pass>"
	"<user_name idx=\"2\">340899</user_name>"
	"<user_host idx=\"2\">b.example.net:5070</user_host>"
	"<user_hash idx=\"2\">314145776a5b4d1a66d082ea7d0d74f2</user_hash>",
	// 3: challenge only reboots.
	"<challenge_reboot>on</challenge_reboot>"
	"<user_name idx=\"1\">340899</user_name>"
	"<user_host idx=\"1\">ser.berlin.snom.com</user_host>"
	"<user_pass idx=\"1\">1234</user_pass>",
	// 4: every dialect, challenge off.
	"<checksync_events>check-sync,resync,reboot,reboot_now,restart_now,service-control,"
	"report</checksync_events>"
	"<user_name idx=\"1\">340899</user_name>"
	"<user_host idx=\"1\">ser.berlin.snom.com</user_host>"
	"<user_pass idx=\"1\">1234</user_pass>",
	// 5: a factory reset forced, the challenge off: challenged all the same.
	"<checksync_action>factory-reset</checksync_action>"
	"<checksync_events>check-sync,service-control,report</checksync_events>"
	"<user_name idx=\"1\">340899</user_name>"
	"<user_host idx=\"1\">ser.berlin.snom.com</user_host>"
	"<user_pass idx=\"1\">1234</user_pass>",
	// 6: clearing the contacts forced, and no password: refused.
	"<checksync_action>delete-contacts</checksync_action>"
	"<checksync_events>check-sync,service-control</checksync_events>"
	"<user_name idx=\"1\">340899</user_name>"
	"<user_host idx=\"1\">ser.berlin.snom.com</user_host>",
	// 7: service-control and report, challenge reboots.
	"<challenge_reboot>on</challenge_reboot>"
	"<checksync_events>service-control,report</checksync_events>"
	"<user_name idx=\"1\">340899</user_name>"
	"<user_host idx=\"1\">ser.berlin.snom.com</user_host>"
	"<user_pass idx=\"1\">1234</user_pass>",
};

const std::vector<Settings> &variants()
{
	static const std::vector<Settings> settings = settingsFrom(kVariants);
	return settings;
}

// The challenges with their nonces blanked out.
std::vector<std::string> shapeOf(const std::vector<std::string> &challenges)
{
	std::vector<std::string> out;
	for (std::string c : challenges) {
		std::size_t at = c.find("nonce=\"");
		FUZZ_CHECK(at != std::string::npos);
		at += 7;
		c.erase(at, c.find('"', at) - at);
		out.push_back(std::move(c));
	}
	return out;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
	initLibraries();
	(void)variants();
	return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	if (size < 1 || size > kMaxMessage)
		return 0;
	const unsigned selector = data[0];
	const Settings &settings = variants()[(selector & 3) | ((selector >> 3) & 4)];
	const SourceAddress source = *SourceAddress::fromText(
		(selector & 4) ? "2001:db8::7" : "192.0.2.7", 5060);
	const unsigned repeats = (selector >> 3) & 3;

	UniqueMsg msg = parseDatagram(
		std::string_view(reinterpret_cast<const char *>(data + 1), size - 1));
	if (!msg)
		return 0;
	sip_t *sip = sip_object(msg.get());
	// What nta hands over: a request line, a Via and a CSeq.
	if (!sip || !sip->sip_request || !sip->sip_via || !sip->sip_cseq ||
	    msg_has_error(msg.get()))
		return 0;

	const std::string uriText = urlText(msg_home(msg.get()), sip->sip_request->rq_url);
	GuardRequest request = guardRequestOf(sip, source, uriText);

	RequestGuard guard(NonceAuthority::Key{1}, RequestKeyer::Key{2});
	const std::size_t bound = guard.bytesBound();
	std::uint64_t now = 1'000'000;
	Verdict verdict = guard.decide(&settings, request, now);

	switch (verdict.status) {
	case 0:
		FUZZ_CHECK(verdict.serve || request.facts.method == "ACK");
		break;
	case 200:
	case 400:
	case 401:
	case 403:
	case 404:
	case 405:
	case 413:
	case 415:
	case 489:
	case 503:
		FUZZ_CHECK(!verdict.serve);
		break;
	default:
		FUZZ_CHECK(false);
	}
	if (verdict.serve) {
		FUZZ_CHECK(request.facts.method == "NOTIFY");
		FUZZ_CHECK(request.facts.event.kind == EventInfo::Kind::Known);
		if (needsChallenge(settings, verdict.action) || destroysData(verdict.action))
			FUZZ_CHECK(verdict.authenticated);
		// An invented nonce and response never pass.
		FUZZ_CHECK(!verdict.authenticated);
	}
	if (verdict.status == 401) {
		std::size_t offered = 0;
		for (const ChallengeRealm &realm : challengeRealms(settings, request.uriHost))
			offered += realm.algorithms.size();
		FUZZ_CHECK(verdict.challenges.size() == offered);
		// The same 401 for any user (no account enumeration).
		GuardRequest other = request;
		other.facts.uriUser = "nobody-at-all";
		other.facts.uriHasUser = true;
		other.authorization = nullptr;
		other.branch = "z9hG4bK.other";
		Verdict unknown = guard.decide(&settings, other, now);
		FUZZ_CHECK(unknown.status == 401);
		FUZZ_CHECK(shapeOf(unknown.challenges) == shapeOf(verdict.challenges) ||
			   isStale(verdict.auth));
	}

	// Handed over with a RegisterCallId no body can carry (a control
	// byte): a service-control NOTIFY is never served, and its answer is
	// a 400 unless something before the body's rules refused it.
	if (request.facts.event.kind == EventInfo::Kind::Known &&
	    request.facts.event.package == EventPackage::ServiceControl) {
		RequestGuard other(NonceAuthority::Key{1}, RequestKeyer::Key{2});
		GuardRequest handedOver = request;
		handedOver.registerCallId = std::string_view("\x01", 1);
		const Verdict refused = other.decide(&settings, handedOver, now);
		FUZZ_CHECK(!refused.serve);
		if (verdict.serve || verdict.status == 401)
			FUZZ_CHECK(refused.status == 400);
	}

	for (unsigned i = 0; i < repeats; i++) {
		Verdict again = guard.decide(&settings, request, now);
		FUZZ_CHECK(again.key == verdict.key);
		if (verdict.serve) {
			guard.answeredAtOnce(verdict, 200, 0, now);
			Verdict cached = guard.decide(&settings, request, now + 1);
			FUZZ_CHECK(cached.retransmission && cached.status == 200 && !cached.serve);
		}
	}
	FUZZ_CHECK(guard.bytesBound() == bound);
	return 0;
}
