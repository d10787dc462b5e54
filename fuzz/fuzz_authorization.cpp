// SPDX-License-Identifier: MIT
//
// libFuzzer target for the digest verification path: sofia-sip's message
// and Authorization parsers, then what the daemon's SipService::onRequest
// does with a request (classifyEvent, planRequest, challengeRealms,
// verifyAuthorization, makeChallenges).
//
// Input: one selector byte, then text.
//   bits 0-1  settings variant (kVariants below)
//   bit 2     the text is a whole SIP message; otherwise it is the value
//             of an Authorization header appended to a fixed NOTIFY (the
//             seed's second request), so it may also add headers or a body
//   bit 3     verify 31 s after the nonces were issued (all expired)
//   bits 4-5  which of the 401's challenges NONCE stands for (modulo
//             their count), which picks the nonce's algorithm
//   bit 6     NONCE is issued with the other qop policy instead
//   bit 7     the answer comes from another source address than the one
//             the nonce was issued to
//
// Markers, so that the fuzzer reaches past the nonce and digest checks:
//   NONCE     replaced by a nonce the daemon issued for this request
//   RESPONSE  replaced by the right response for the parameters of the
//             first Digest Authorization header (username, realm, uri,
//             algorithm, qop, nc and cnonce as sent; the identity's
//             password or HA1)
//
// Invariants checked (a failure aborts, which libFuzzer reports): only a
// real nonce and a computed response are ever accepted, an accepted answer
// names the identity and cannot be replayed, and every challenge the
// daemon would send parses back with sofia-sip as one Digest challenge for
// the realm used.

#include <sofia-sip/auth_digest.h>
#include <sofia-sip/hostdomain.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/su_string.h>
#include <sofia-sip/url.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/auth.hpp"
#include "auth/digest.hpp"
#include "auth/nonce.hpp"
#include "fuzz_support.hpp"
#include "settings/settings.hpp"
#include "sip/checksync.hpp"

using namespace checksyncd;
using namespace checksyncd::fuzz;

namespace {

constexpr std::string_view kPrefix =
	"NOTIFY sip:340899@192.168.137.181:5305 SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 192.168.137.1:49894;branch=z9hG4bK.7fcb1e87;rport;alias\r\n"
	"To: sip:340899@192.168.137.181:5305\r\n"
	"From: sip:sipsak@192.168.137.1\r\n"
	"CSeq: 11 NOTIFY\r\n"
	"Call-ID: 1234@192.168.137.1\r\n"
	"Event: check-sync;reboot=false\r\n"
	"Authorization: ";
constexpr std::string_view kSuffix = "\r\n\r\n";

constexpr std::string_view kNonceMarker = "NONCE";
constexpr std::string_view kResponseMarker = "RESPONSE";
constexpr std::string_view kSourceIp = "192.168.137.1";
constexpr std::string_view kOtherIp = "192.168.137.2";
constexpr std::uint64_t kIssuedMs = 1'000'000;
constexpr std::string_view kPassword = "1234";

// The settings variants, as phone-settings bodies.
constexpr std::array<std::string_view, 4> kVariants = {
	// 0: the seed's identity, SHA-256 then MD5, qop=auth.
	"<challenge_checksync>on</challenge_checksync>"
	"<checksync_auth_algorithms>SHA-256,MD5</checksync_auth_algorithms>"
	"<checksync_auth_qop>auth</checksync_auth_qop>"
	"<user_name idx=\"1\">340899</user_name>"
	"<user_host idx=\"1\">ser.berlin.snom.com</user_host>"
	"<user_pass idx=\"1\">1234</user_pass>",
	// 1: the same with the RFC 2069 style challenge (the seed's).
	"<challenge_checksync>on</challenge_checksync>"
	"<checksync_auth_algorithms>SHA-256,MD5</checksync_auth_algorithms>"
	"<checksync_auth_qop>none</checksync_auth_qop>"
	"<user_name idx=\"1\">340899</user_name>"
	"<user_host idx=\"1\">ser.berlin.snom.com</user_host>"
	"<user_pass idx=\"1\">1234</user_pass>",
	// 2: an identity with only user_hash (MD5 offered only), and one with
	// an authentication user and an IPv6 realm.
	"<challenge_checksync>on</challenge_checksync>"
	"<checksync_auth_algorithms>SHA-512-256,SHA-256,MD5</checksync_auth_algorithms>"
	"<checksync_auth_qop>auth</checksync_auth_qop>"
	"<user_name idx=\"1\">340899</user_name>"
	"<user_host idx=\"1\">ser.berlin.snom.com:5060</user_host>"
	"<user_hash idx=\"1\">314145776a5b4d1a66d082ea7d0d74f2</user_hash>"
	"<user_name idx=\"2\">200</user_name>"
	"<user_host idx=\"2\">[2001:db8::1]:5060</user_host>"
	"<user_pname idx=\"2\">pbx</user_pname>"
	"<user_pass idx=\"2\">1234</user_pass>",
	// 3: no identity: the realm comes from the Request-URI host and no
	// answer can succeed.
	"<challenge_checksync>on</challenge_checksync>"
	"<checksync_auth_algorithms>SHA-512-256,MD5</checksync_auth_algorithms>"
	"<checksync_auth_qop>none</checksync_auth_qop>",
};

const std::vector<Settings> &variants()
{
	static const std::vector<Settings> settings = settingsFrom(kVariants);
	return settings;
}

// FUZZ_TRACE=1 in the environment prints each input's verdict (to see
// what a seed or a regression input reaches).
bool trace()
{
	static const bool enabled = std::getenv("FUZZ_TRACE") != nullptr;
	return enabled;
}

bool replaceAll(std::string &text, std::string_view marker, std::string_view value)
{
	bool replaced = false;
	for (std::size_t at = text.find(marker); at != std::string::npos;
	     at = text.find(marker, at + value.size())) {
		text.replace(at, marker.size(), value);
		replaced = true;
	}
	return replaced;
}

// What the daemon derives from a parsed request before verifying it.
struct Derived {
	RequestFacts facts;
	Plan plan;
	std::vector<ChallengeRealm> realms;
	std::string uriText;
	std::string uriHost;
};

// Every (realm, algorithm) a 401 offers, in the order of its challenges.
std::vector<std::pair<std::string, Algorithm>> offers(const std::vector<ChallengeRealm> &realms)
{
	std::vector<std::pair<std::string, Algorithm>> out;
	for (const ChallengeRealm &realm : realms)
		for (Algorithm algorithm : realm.algorithms)
			out.emplace_back(realm.realm, algorithm);
	return out;
}

std::optional<Derived> derive(msg_t *msg, const Settings &settings)
{
	sip_t *sip = sip_object(msg);
	if (!sip || !sip->sip_request)
		return std::nullopt;
	const url_t *ruri = sip->sip_request->rq_url;

	Derived d;
	d.facts = requestFactsOf(sip);
	d.plan = planRequest(&settings, d.facts);
	if (d.plan.answer != Answer::Challenge)
		return d;

	d.uriHost = orEmpty(ruri->url_host);
	d.realms = challengeRealms(settings, d.uriHost);
	d.uriText = urlText(msg_home(msg), ruri);
	return d;
}

AuthRequest authRequest(const Derived &d, std::string_view sourceIp, std::uint64_t nowMs)
{
	AuthRequest request;
	request.method = d.facts.method;
	request.requestUri = d.uriText;
	request.uriHasUser = d.facts.uriHasUser;
	request.uriUser = d.facts.uriUser;
	request.uriHost = d.uriHost;
	request.sourceIp = sourceIp;
	request.nowMs = nowMs;
	return request;
}

// A challenge as sofia-sip reads it back from a WWW-Authenticate value.
struct ParsedChallenge {
	std::string realm;
	std::string nonce;
	std::string algorithm;
	bool qop = false;
	bool stale = false;
};

ParsedChallenge parseChallenge(const std::string &value)
{
	SuHome home;
	msg_auth_t *auth = sip_www_authenticate_make(home.get(), value.c_str());
	FUZZ_CHECK(auth != nullptr);
	FUZZ_CHECK(auth->au_next == nullptr);
	FUZZ_CHECK(auth->au_scheme && su_casematch(auth->au_scheme, "Digest"));
	auth_challenge_t ac[1] = {};
	ac->ac_size = sizeof(ac);
	FUZZ_CHECK(auth_digest_challenge_get(home.get(), ac, auth->au_params) >= 0);
	FUZZ_CHECK(ac->ac_realm && ac->ac_nonce && ac->ac_algorithm);
	ParsedChallenge parsed;
	parsed.realm = ac->ac_realm;
	parsed.nonce = ac->ac_nonce;
	parsed.algorithm = ac->ac_algorithm;
	parsed.qop = ac->ac_qop != nullptr;
	parsed.stale = ac->ac_stale;
	return parsed;
}

// The challenges of a 401 must read back as what was meant: the realm,
// a nonce that verifies for it, the offered algorithms in order, the qop.
void checkChallenges(const std::vector<std::string> &challenges, const Settings &settings,
		     const std::vector<ChallengeRealm> &realms, const AuthRequest &request,
		     StaleFlag stale, const NonceAuthority &nonces)
{
	auto offered = offers(realms);
	FUZZ_CHECK(challenges.size() == offered.size());
	for (std::size_t i = 0; i < challenges.size(); i++) {
		ParsedChallenge parsed = parseChallenge(challenges[i]);
		FUZZ_CHECK(parsed.realm == offered[i].first);
		FUZZ_CHECK(parseAlgorithm(parsed.algorithm) == offered[i].second);
		FUZZ_CHECK(parsed.qop == (settings.qop == QopPolicy::Auth));
		FUZZ_CHECK(parsed.stale == (stale == StaleFlag::Present));
		std::optional<NonceFacts> facts = nonces.verify(parsed.nonce, offered[i].first,
								request.sourceIp);
		FUZZ_CHECK(facts && facts->algorithm == offered[i].second);
	}
}

// The identity an answer for `realm` is for, as the daemon picks it.
const Identity *identityFor(const Settings &settings, std::string_view realm, const Derived &d)
{
	for (const auto &[idx, identity] : settings.identities) {
		std::string own = identity.realm();
		if (own.empty() && host_is_valid(d.uriHost.c_str()))
			own = d.uriHost;
		if (!identity.active || own != realm)
			continue;
		if (!d.facts.uriHasUser || identity.name == d.facts.uriUser)
			return &identity;
	}
	return nullptr;
}

// The right response for the Digest Authorization header of `msg` for one
// of our realms (else the first Digest one), computed as a client that
// knows the identity's secret would.
std::optional<std::string> rightResponse(msg_t *msg, const Settings &settings, const Derived &d)
{
	sip_t *sip = sip_object(msg);
	const msg_auth_t *digest = nullptr;
	const Identity *identity = nullptr;
	for (const msg_auth_t *a = sip ? sip->sip_authorization : nullptr; a && !identity;
	     a = a->au_next) {
		if (!a->au_scheme || !su_casematch(a->au_scheme, "Digest") || !a->au_params)
			continue;
		const char *realm = msg_params_find(a->au_params, "realm=");
		for (const ChallengeRealm &ours : d.realms) {
			if (realm && auth_strcmp(realm, ours.realm.c_str()) == 0) {
				digest = a;
				identity = identityFor(settings, ours.realm, d);
				break;
			}
		}
		if (!digest)
			digest = a;
	}
	std::string_view method = d.facts.method;
	if (!digest)
		return std::nullopt;

	SuHome home;
	auth_response_t ar[1] = {};
	ar->ar_size = sizeof(ar);
	if (auth_digest_response_get(home.get(), ar, digest->au_params) < 0)
		return std::nullopt;
	Algorithm algorithm = Algorithm::Md5;
	if (ar->ar_algorithm)
		algorithm = parseAlgorithm(ar->ar_algorithm).value_or(Algorithm::Md5);
	std::string_view username = ar->ar_username ? ar->ar_username : "";
	std::string_view realm = ar->ar_realm ? ar->ar_realm : "";

	std::string ha1;
	if (identity && identity->pass.empty() && !identity->hash.empty())
		ha1 = identity->hash;
	else
		ha1 = computeHa1(algorithm, username, realm,
				 identity && !identity->pass.empty() ? identity->pass
								     : std::string(kPassword));
	DigestInput input;
	input.method = method;
	input.uri = ar->ar_uri ? ar->ar_uri : "";
	input.nonce = ar->ar_nonce ? ar->ar_nonce : "";
	if (ar->ar_qop) {
		input.qop = ar->ar_qop;
		input.nc = ar->ar_nc ? ar->ar_nc : "";
		input.cnonce = ar->ar_cnonce ? ar->ar_cnonce : "";
	}
	return computeResponse(algorithm, ha1, input);
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
	std::string_view input(reinterpret_cast<const char *>(data + 1), size - 1);

	const Settings &settings = variants()[selector & 3];
	const bool wholeMessage = (selector & 0x04) != 0;
	const bool late = (selector & 0x08) != 0;
	const unsigned challengeIndex = (selector >> 4) & 3;
	const bool otherQop = (selector & 0x40) != 0;
	const std::string_view verifyIp = (selector & 0x80) != 0 ? kOtherIp : kSourceIp;
	const std::uint64_t nowMs = kIssuedMs + (late ? kNonceLifetimeMs + 1000 : 1000);

	std::string text;
	if (wholeMessage) {
		text = input;
	} else {
		text = kPrefix;
		text += input;
		text += kSuffix;
	}

	NonceAuthority nonces(NonceAuthority::Key{0x5e, 0xed});
	UsedNonces used;

	// First look: the realm and identity the daemon would challenge for,
	// so that NONCE becomes a nonce it issued for this very request.
	UniqueMsg first = parseDatagram(text);
	if (!first)
		return 0;
	std::optional<Derived> before = derive(first.get(), settings);
	if (!before || before->plan.answer != Answer::Challenge)
		return 0;

	bool nonceReplaced = false;
	if (text.find(kNonceMarker) != std::string::npos) {
		AuthRequest issue = authRequest(*before, kSourceIp, kIssuedMs);
		std::string nonce;
		if (otherQop) {
			auto offered = offers(before->realms);
			const auto &[realm, algorithm] = offered[challengeIndex % offered.size()];
			const QopPolicy other = settings.qop == QopPolicy::Auth ? QopPolicy::None
										: QopPolicy::Auth;
			nonce = nonces.issue(kIssuedMs, algorithm, other, realm, kSourceIp);
		} else {
			std::vector<std::string> challenges = makeChallenges(
				settings, before->realms, issue, StaleFlag::Absent, nonces);
			checkChallenges(challenges, settings, before->realms, issue,
					StaleFlag::Absent, nonces);
			nonce = parseChallenge(challenges[challengeIndex % challenges.size()])
					.nonce;
		}
		nonceReplaced = replaceAll(text, kNonceMarker, nonce);
	}

	bool responseReplaced = false;
	if (text.find(kResponseMarker) != std::string::npos) {
		UniqueMsg withNonce = parseDatagram(text);
		std::optional<std::string> response = withNonce ? rightResponse(withNonce.get(),
										settings, *before)
								: std::nullopt;
		if (response)
			responseReplaced = replaceAll(text, kResponseMarker, *response);
	}

	// What the daemon sees.
	UniqueMsg msg = parseDatagram(text);
	if (!msg)
		return 0;
	std::optional<Derived> d = derive(msg.get(), settings);
	if (!d || d->plan.answer != Answer::Challenge)
		return 0;
	sip_t *sip = sip_object(msg.get());
	AuthRequest request = authRequest(*d, verifyIp, nowMs);
	AuthOutcome outcome = verifyAuthorization(sip->sip_authorization, settings, d->realms,
						  request, nonces, used);
	if (trace())
		std::fprintf(stderr, "fuzz_authorization: %s (variant %u, nonce %s, response %s)\n",
			     std::string(authReason(outcome.result)).c_str(), selector & 3,
			     nonceReplaced ? "issued" : "as sent",
			     responseReplaced ? "computed" : "as sent");

	// A fresh used-nonce set cannot see a replay or be full.
	FUZZ_CHECK(outcome.result != AuthResult::Replayed);
	// Past the nonce check only with a nonce we issued.
	switch (outcome.result) {
	case AuthResult::AlgorithmMismatch:
	case AuthResult::WrongUri:
	case AuthResult::UnknownUser:
	case AuthResult::WrongUser:
	case AuthResult::WrongDigest:
	case AuthResult::Stale:
	case AuthResult::Ok:
		FUZZ_CHECK(nonceReplaced);
		break;
	default:
		break;
	}
	// A right digest only from a computed response.
	if (outcome.result == AuthResult::Ok || outcome.result == AuthResult::Stale)
		FUZZ_CHECK(responseReplaced);
	if (outcome.result == AuthResult::Stale)
		FUZZ_CHECK(late);
	if (outcome.result == AuthResult::Ok) {
		FUZZ_CHECK(!late);
		FUZZ_CHECK(outcome.identity != nullptr);
		FUZZ_CHECK(outcome.username == outcome.identity->authUser());
		// The nonce authorises exactly one request.
		AuthOutcome again = verifyAuthorization(sip->sip_authorization, settings, d->realms,
							request, nonces, used);
		FUZZ_CHECK(again.result == AuthResult::Replayed);
	}

	// The 401 the daemon would send (also after an Ok, to cover both
	// stale forms).
	const StaleFlag stale = isStale(outcome.result) ? StaleFlag::Present : StaleFlag::Absent;
	std::vector<std::string> challenges = makeChallenges(settings, d->realms, request, stale,
							     nonces);
	checkChallenges(challenges, settings, d->realms, request, stale, nonces);
	return 0;
}
