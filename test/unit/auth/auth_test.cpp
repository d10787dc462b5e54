// SPDX-License-Identifier: MIT
//
// Digest verification of Authorization headers parsed by sofia-sip.

#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>

#include <string>
#include <vector>

#include "auth/auth.hpp"
#include "base/sofia.hpp"

#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

namespace {

constexpr const char *kUri = "sip:340899@192.168.137.181:5305";
constexpr const char *kRealm = "ser.berlin.snom.com";
constexpr const char *kIp = "192.168.137.1";

struct Answer {
	std::string username = "340899";
	std::string realm = kRealm;
	std::string uri = kUri;
	std::string nonce;
	std::string algorithm = "MD5";
	bool sendAlgorithm = true;
	std::string qop = "auth";
	std::string nc = "00000001";
	std::string cnonce = "0a4f113b";
	std::string password = "1234";
	std::string response; // computed when empty
	std::string extra;    // appended verbatim
};

} // namespace

TEST_GROUP(Auth)
{
	SuHome home;
	Settings settings;
	NonceAuthority nonces{NonceAuthority::Key{}};
	UsedNonces used;
	AuthRequest request;

	void setup() override
	{
		Identity one;
		one.idx = 1;
		one.name = "340899";
		one.host = kRealm;
		one.pass = "1234";
		settings.identities[1] = one;
		request.method = "NOTIFY";
		request.requestUri = kUri;
		request.sourceIp = kIp;
		request.nowMs = 100'000;
	}

	const Identity *identity()
	{
		return &settings.identities[1];
	}

	std::string nonceFor(Algorithm algorithm)
	{
		return nonces.issue(request.nowMs, algorithm, settings.qop, kRealm, kIp);
	}

	std::string header(const Answer &a)
	{
		Algorithm algorithm = parseAlgorithm(a.algorithm).value_or(Algorithm::Md5);
		std::string response = a.response;
		if (response.empty()) {
			std::string ha1 = computeHa1(algorithm, a.username, a.realm, a.password);
			DigestInput in;
			in.method = "NOTIFY";
			in.uri = a.uri;
			in.nonce = a.nonce;
			if (!a.qop.empty()) {
				in.qop = a.qop;
				in.nc = a.nc;
				in.cnonce = a.cnonce;
			}
			response = computeResponse(algorithm, ha1, in);
		}
		std::string h = "Digest username=\"" + a.username + "\", uri=\"" + a.uri +
				"\", realm=\"" + a.realm + "\", nonce=\"" + a.nonce +
				"\", response=\"" + response + "\"";
		if (a.sendAlgorithm)
			h += ", algorithm=" + a.algorithm;
		if (!a.qop.empty())
			h += ", qop=" + a.qop + ", nc=" + a.nc + ", cnonce=\"" + a.cnonce + "\"";
		h += a.extra;
		return h;
	}

	// The outcome for the Request-URI user `user` (the fixture's request).
	AuthOutcome outcomeFor(const msg_auth_t *auth, std::string_view user = "340899")
	{
		request.uriHasUser = true;
		request.uriUser = user;
		return verifyAuthorization(auth, settings,
					   challengeRealms(settings, "192.168.137.181"), request,
					   nonces, used);
	}

	AuthResult verifyText(const std::string &text, std::string_view user = "340899")
	{
		msg_auth_t *auth = sip_authorization_make(home.get(), text.c_str());
		CHECK_TRUE(auth != nullptr);
		return outcomeFor(auth, user).result;
	}

	AuthResult verify(const Answer &a)
	{
		return verifyText(header(a));
	}

	Answer answer(Algorithm algorithm = Algorithm::Md5)
	{
		Answer a;
		a.nonce = nonceFor(algorithm);
		a.algorithm = std::string(algorithmName(algorithm));
		if (settings.qop == QopPolicy::None)
			a.qop.clear();
		return a;
	}
};

TEST(Auth, acceptsTheSeedShapedAnswerWithoutQop)
{
	settings.qop = QopPolicy::None;
	CHECK_EQUAL(AuthResult::Ok, verify(answer()));
}

TEST(Auth, acceptsACorrectQopAuthAnswerForEveryAlgorithm)
{
	settings.algorithms = {Algorithm::Sha512_256, Algorithm::Sha256, Algorithm::Md5};
	CHECK_EQUAL(AuthResult::Ok, verify(answer(Algorithm::Md5)));
	CHECK_EQUAL(AuthResult::Ok, verify(answer(Algorithm::Sha256)));
	CHECK_EQUAL(AuthResult::Ok, verify(answer(Algorithm::Sha512_256)));
}

TEST(Auth, noAlgorithmParameterMeansMd5)
{
	Answer a = answer();
	a.sendAlgorithm = false;
	CHECK_EQUAL(AuthResult::Ok, verify(a));
}

TEST(Auth, aNonceAuthorisesOneRequestOnly)
{
	Answer a = answer();
	std::string text = header(a);
	CHECK_EQUAL(AuthResult::Ok, verifyText(text));
	CHECK_EQUAL(AuthResult::Replayed, verifyText(text));
	CHECK_TRUE(isStale(AuthResult::Replayed));
}

TEST(Auth, anExpiredNonceWithTheRightDigestIsStale)
{
	Answer a = answer();
	request.nowMs += kNonceLifetimeMs + 1;
	CHECK_EQUAL(AuthResult::Stale, verify(a));
}

TEST(Auth, anExpiredNonceWithAWrongDigestIsAFailureNotStale)
{
	Answer a = answer();
	a.password = "4321";
	request.nowMs += kNonceLifetimeMs + 1;
	CHECK_EQUAL(AuthResult::WrongDigest, verify(a));
	CHECK_TRUE(isAuthFailure(AuthResult::WrongDigest));
}

TEST(Auth, aReplayWithAWrongDigestIsNotStale)
{
	Answer a = answer();
	CHECK_EQUAL(AuthResult::Ok, verify(a));
	a.password = "0000";
	CHECK_EQUAL(AuthResult::WrongDigest, verify(a));
}

TEST(Auth, aWrongPasswordFails)
{
	Answer a = answer();
	a.password = "12345";
	CHECK_EQUAL(AuthResult::WrongDigest, verify(a));
	// ... and a failed answer does not use up the nonce.
	a.password = "1234";
	CHECK_EQUAL(AuthResult::Ok, verify(a));
}

TEST(Auth, credentialsForAnotherRealmAreNoCredentials)
{
	Answer a = answer();
	a.realm = "other.example.com";
	CHECK_EQUAL(AuthResult::NoCredentials, verify(a));
	CHECK_FALSE(isAuthFailure(AuthResult::NoCredentials));
}

TEST(Auth, picksTheHeaderForOurRealmAmongSeveral)
{
	Answer ours = answer();
	Answer theirs = answer();
	theirs.realm = "proxy.example.com";
	msg_auth_t *first = sip_authorization_make(home.get(), header(theirs).c_str());
	msg_auth_t *second = sip_authorization_make(home.get(), header(ours).c_str());
	first->au_next = second;
	CHECK_EQUAL(AuthResult::Ok, outcomeFor(first).result);
}

TEST(Auth, moreThanFourAuthorizationHeadersAreRefused)
{
	Answer a = answer();
	msg_auth_t *head = nullptr;
	for (int i = 0; i < 5; i++) {
		msg_auth_t *h = sip_authorization_make(home.get(), header(a).c_str());
		h->au_next = head;
		head = h;
	}
	CHECK_EQUAL(AuthResult::Malformed, outcomeFor(head).result);
}

TEST(Auth, aWrongUsernameFails)
{
	Answer a = answer();
	a.username = "340898";
	CHECK_EQUAL(AuthResult::WrongUser, verify(a));
}

TEST(Auth, theUsernameIsUserPnameWhenSet)
{
	settings.identities[1].pname = "auth340899";
	Answer a = answer();
	CHECK_EQUAL(AuthResult::WrongUser, verify(a));
	a = answer();
	a.username = "auth340899";
	CHECK_EQUAL(AuthResult::Ok, verify(a));
}

TEST(Auth, theUriMustBeTheRequestUri)
{
	Answer a = answer();
	a.uri = "sip:340899@192.168.137.181:5306";
	CHECK_EQUAL(AuthResult::WrongUri, verify(a));
	a = answer();
	a.uri = "sip:someone@192.168.137.181:5305";
	CHECK_EQUAL(AuthResult::WrongUri, verify(a));
}

TEST(Auth, theUriIsComparedAsASipUri)
{
	// Host case does not matter in SIP URI comparison (RFC 3261 19.1.4).
	request.requestUri = "sip:340899@Phone.Example.COM";
	Answer a = answer();
	a.uri = "sip:340899@phone.example.com";
	CHECK_EQUAL(AuthResult::Ok, verify(a));
}

TEST(Auth, anUnknownUserNeverSucceeds)
{
	Answer a = answer();
	CHECK_EQUAL(AuthResult::UnknownUser, verifyText(header(a), "nobody"));
	settings.identities[1].pass.clear(); // no secret to check against
	CHECK_EQUAL(AuthResult::UnknownUser, verifyText(header(answer())));
}

TEST(Auth, anMd5AnswerToASha256NonceFails)
{
	settings.algorithms = {Algorithm::Sha256, Algorithm::Md5};
	Answer a = answer(Algorithm::Sha256);
	a.algorithm = "MD5";
	CHECK_EQUAL(AuthResult::AlgorithmMismatch, verify(a));
}

TEST(Auth, anAlgorithmNotOfferedFails)
{
	Answer a = answer(Algorithm::Md5);
	a.algorithm = "SHA-256";
	CHECK_EQUAL(AuthResult::BadAlgorithm, verify(a));
}

TEST(Auth, sessVariantsAndUnknownAlgorithmsAreRefused)
{
	Answer a = answer();
	a.algorithm = "MD5-sess";
	a.response = std::string(32, 'a');
	CHECK_EQUAL(AuthResult::BadAlgorithm, verify(a));
	a.algorithm = "SHA1";
	CHECK_EQUAL(AuthResult::BadAlgorithm, verify(a));
}

TEST(Auth, withQopOfferedAnAnswerWithoutQopFails)
{
	Answer a = answer();
	a.qop.clear();
	CHECK_EQUAL(AuthResult::BadQop, verify(a));
}

TEST(Auth, withoutQopOfferedAnAnswerWithQopFails)
{
	settings.qop = QopPolicy::None;
	Answer a = answer();
	a.qop = "auth";
	CHECK_EQUAL(AuthResult::BadQop, verify(a));
}

TEST(Auth, authIntAndBadNonceCountsAndMissingCnonceFail)
{
	Answer a = answer();
	a.qop = "auth-int";
	CHECK_EQUAL(AuthResult::BadQop, verify(a));
	a = answer();
	a.nc = "1";
	CHECK_EQUAL(AuthResult::BadQop, verify(a));
	a = answer();
	a.nc = "0000000g";
	CHECK_EQUAL(AuthResult::BadQop, verify(a));
	a = answer();
	a.cnonce.clear();
	CHECK_EQUAL(AuthResult::BadQop, verify(a));
}

TEST(Auth, aNonceFromAnotherAddressOrForgedFails)
{
	Answer a = answer();
	request.sourceIp = "192.168.137.2";
	CHECK_EQUAL(AuthResult::BadNonce, verify(a));
	request.sourceIp = kIp;
	a.nonce = "b5e73bf9ef0fc8b2";
	CHECK_EQUAL(AuthResult::BadNonce, verify(a));
}

TEST(Auth, aNonceIssuedWithoutQopCannotBeAnsweredWithQop)
{
	// qop policy changed between challenge and answer: the nonce says none.
	settings.qop = QopPolicy::None;
	Answer a = answer();
	settings.qop = QopPolicy::Auth;
	a.qop = "auth";
	CHECK_EQUAL(AuthResult::BadQop, verify(a));
}

TEST(Auth, malformedParametersAreRefused)
{
	Answer a = answer();
	a.response = "f10d6c2cc255089c948c58c14ed0b44"; // 31 digits
	CHECK_EQUAL(AuthResult::Malformed, verify(a));
	a.response = std::string(64, 'a'); // SHA-256 length for MD5
	CHECK_EQUAL(AuthResult::Malformed, verify(a));
	a = answer();
	a.extra = ", nonce=\"other\"";
	CHECK_EQUAL(AuthResult::Malformed, verify(a));
	a = answer();
	a.extra = ", opaque=\"" + std::string(600, 'x') + "\"";
	CHECK_EQUAL(AuthResult::Malformed, verify(a));
	std::string missing = "Digest username=\"340899\", realm=\"ser.berlin.snom.com\", uri=\"" +
			      std::string(kUri) + "\"";
	CHECK_EQUAL(AuthResult::Malformed, verifyText(missing));
}

TEST(Auth, anIdentityWithOnlyAnHa1IsOfferedMd5Only)
{
	settings.algorithms = {Algorithm::Sha256, Algorithm::Md5};
	Identity &one = settings.identities[1];
	one.hash = computeHa1(Algorithm::Md5, "340899", kRealm, "1234");
	one.pass.clear();
	auto realms = challengeRealms(settings, "");
	LONGS_EQUAL(1, realms.size());
	LONGS_EQUAL(1, realms[0].algorithms.size());
	CHECK_EQUAL(Algorithm::Md5, realms[0].algorithms[0]);
	CHECK_EQUAL(AuthResult::Ok, verify(answer(Algorithm::Md5)));
	CHECK_EQUAL(AuthResult::BadAlgorithm, verify(answer(Algorithm::Sha256)));
	LONGS_EQUAL(1, authWarnings(settings).size());
}

TEST(Auth, anHa1OnlyIdentityWithoutMd5OfferedIsWarnedAbout)
{
	settings.algorithms = {Algorithm::Sha256};
	Identity &one = settings.identities[1];
	one.hash = computeHa1(Algorithm::Md5, "340899", kRealm, "1234");
	one.pass.clear();
	auto realms = challengeRealms(settings, "");
	CHECK_EQUAL(std::vector<Algorithm>{Algorithm::Sha256}, realms[0].algorithms);
	auto warnings = authWarnings(settings);
	LONGS_EQUAL(1, warnings.size());
	CHECK_TRUE(warnings[0].find("can never authenticate") != std::string::npos);
}

TEST(Auth, anIdentityWithoutPasswordIsWarnedAboutWhenTheForcedActionDestroysData)
{
	Identity two;
	two.idx = 2;
	two.name = "77";
	two.host = kRealm;
	settings.identities[2] = two; // no user_pass, no user_hash
	for (ForcedAction harmless : {ForcedAction::None, ForcedAction::Sync, ForcedAction::Reboot,
				      ForcedAction::Reregister}) {
		settings.action = harmless;
		CHECK_TRUE(authWarnings(settings).empty());
	}
	for (ForcedAction destroys : {ForcedAction::FactoryReset, ForcedAction::DeleteContacts}) {
		settings.action = destroys;
		const auto warnings = authWarnings(settings);
		LONGS_EQUAL(1, warnings.size());
		CHECK_TRUE(
			warnings[0].starts_with("identity 2 has neither user_pass nor user_hash"));
		CHECK_TRUE(warnings[0].find("refused (403)") != std::string::npos);
	}
	CHECK_TRUE(authWarnings(settings)[0].find("delete-contacts") != std::string::npos);
	// An inactive one is never asked for anything.
	settings.identities[2].active = false;
	CHECK_TRUE(authWarnings(settings).empty());
}

TEST(Auth, aReplayOutsideTheUsedNonceWindowIsStaleNeverA503)
{
	UsedNonces window(64);
	Answer first = answer();
	// 64 more challenges push the first nonce out of the window.
	for (int i = 0; i < 64; i++)
		nonceFor(Algorithm::Md5);
	msg_auth_t *h = sip_authorization_make(home.get(), header(first).c_str());
	request.uriHasUser = true;
	request.uriUser = "340899";
	AuthOutcome outcome = verifyAuthorization(h, settings, challengeRealms(settings, ""),
						  request, nonces, window);
	CHECK_EQUAL(AuthResult::Replayed, outcome.result);
	CHECK_TRUE(isStale(outcome.result));
	CHECK_FALSE(isAuthFailure(outcome.result));
}

TEST(Auth, aRightDigestOnAUsedNonceIsStaleAndNoFailure)
{
	std::string text = header(answer());
	CHECK_EQUAL(AuthResult::Ok, verifyText(text));
	CHECK_EQUAL(AuthResult::Replayed, verifyText(text));
	CHECK_TRUE(isStale(AuthResult::Replayed));
	CHECK_FALSE(isAuthFailure(AuthResult::Replayed));
}

TEST(Auth, challengesHaveTheSeedShapeWithoutQop)
{
	settings.qop = QopPolicy::None;
	auto challenges = makeChallenges(settings, challengeRealms(settings, ""), request,
					 StaleFlag::Absent, nonces);
	LONGS_EQUAL(1, challenges.size());
	const std::string &c = challenges[0];
	CHECK_TRUE(c.starts_with("Digest realm=\"ser.berlin.snom.com\", nonce=\""));
	CHECK_TRUE(c.ends_with("\", algorithm=MD5"));
}

TEST(Auth, oneChallengePerAlgorithmInPreferenceOrder)
{
	settings.algorithms = {Algorithm::Sha512_256, Algorithm::Sha256, Algorithm::Md5};
	auto challenges = makeChallenges(settings, challengeRealms(settings, ""), request,
					 StaleFlag::Present, nonces);
	LONGS_EQUAL(3, challenges.size());
	CHECK_TRUE(challenges[0].ends_with("algorithm=SHA-512-256, qop=\"auth\", stale=true"));
	CHECK_TRUE(challenges[1].ends_with("algorithm=SHA-256, qop=\"auth\", stale=true"));
	CHECK_TRUE(challenges[2].ends_with("algorithm=MD5, qop=\"auth\", stale=true"));
}

TEST(Auth, oneChallengePerDistinctRealmOfTheActiveIdentities)
{
	Identity two = settings.identities[1];
	two.idx = 2;
	two.host = "b.example.net:5070";
	settings.identities[2] = two;
	Identity three = two;
	three.idx = 3;
	three.name = "other";
	settings.identities[3] = three; // same realm as 2: no third challenge
	Identity four = two;
	four.idx = 4;
	four.host = "c.example.net";
	four.active = false;
	settings.identities[4] = four;
	settings.algorithms = {Algorithm::Sha256, Algorithm::Md5};
	auto realms = challengeRealms(settings, "10.0.0.1");
	LONGS_EQUAL(2, realms.size());
	STRCMP_EQUAL(kRealm, realms[0].realm.c_str());
	STRCMP_EQUAL("b.example.net", realms[1].realm.c_str());
	auto challenges = makeChallenges(settings, realms, request, StaleFlag::Absent, nonces);
	LONGS_EQUAL(4, challenges.size());
	CHECK_TRUE(challenges[2].starts_with("Digest realm=\"b.example.net\""));
}

TEST(Auth, theRealmOfTheAnswerPicksTheIdentityWhenTwoShareTheUserName)
{
	Identity two = settings.identities[1];
	two.idx = 2;
	two.host = "b.example.net";
	two.pass = "5678";
	settings.identities[2] = two;
	Answer a;
	a.realm = "b.example.net";
	a.password = "5678";
	a.nonce = nonces.issue(request.nowMs, Algorithm::Md5, QopPolicy::Auth, "b.example.net",
			       kIp);
	msg_auth_t *h = sip_authorization_make(home.get(), header(a).c_str());
	AuthOutcome outcome = outcomeFor(h);
	CHECK_EQUAL(AuthResult::Ok, outcome.result);
	CHECK_TRUE(outcome.identity != nullptr);
	LONGS_EQUAL(2, outcome.identity->idx);
	// The first PBX still authenticates as identity 1.
	a = answer();
	h = sip_authorization_make(home.get(), header(a).c_str());
	outcome = outcomeFor(h);
	CHECK_EQUAL(AuthResult::Ok, outcome.result);
	LONGS_EQUAL(1, outcome.identity->idx);
}

TEST(Auth, theChallengeIsTheSameForEveryRequestUriUser)
{
	// The realms and algorithms depend on the settings only.
	Identity two = settings.identities[1];
	two.idx = 2;
	two.name = "hashonly";
	two.host = "b.example.net";
	two.pass.clear();
	two.hash = computeHa1(Algorithm::Md5, "hashonly", "b.example.net", "x");
	settings.identities[2] = two;
	settings.algorithms = {Algorithm::Sha256, Algorithm::Md5};
	auto realms = challengeRealms(settings, "10.0.0.1");
	LONGS_EQUAL(2, realms.size());
	CHECK_EQUAL(settings.algorithms, realms[0].algorithms);
	CHECK_EQUAL(std::vector<Algorithm>{Algorithm::Md5}, realms[1].algorithms);
}

TEST(Auth, withoutIdentitiesTheRealmIsAValidRequestUriHostOnly)
{
	settings.identities.clear();
	STRCMP_EQUAL("10.0.0.1", challengeRealms(settings, "10.0.0.1")[0].realm.c_str());
	STRCMP_EQUAL("", challengeRealms(settings, "h\"st")[0].realm.c_str());
	STRCMP_EQUAL("", challengeRealms(settings, "a, nonce=x")[0].realm.c_str());
	STRCMP_EQUAL("[2001:db8::1]", challengeRealms(settings, "[2001:db8::1]")[0].realm.c_str());
}

TEST(Auth, reasonsAreStableTokens)
{
	STRCMP_EQUAL("wrong-digest", std::string(authReason(AuthResult::WrongDigest)).c_str());
	STRCMP_EQUAL("replayed-nonce", std::string(authReason(AuthResult::Replayed)).c_str());
	STRCMP_EQUAL("unknown-user", std::string(authReason(AuthResult::UnknownUser)).c_str());
}
