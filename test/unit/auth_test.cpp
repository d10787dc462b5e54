// SPDX-License-Identifier: MIT
//
// Digest verification of Authorization headers parsed by sofia-sip.

#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>

#include <string>
#include <vector>

#include "auth.hpp"

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
	su_home_t home[1] = {};
	Settings settings;
	NonceAuthority nonces{NonceAuthority::Key{}};
	UsedNonces used{16};
	AuthRequest request;

	void setup() override
	{
		su_home_init(home);
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
	void teardown() override { su_home_deinit(home); }

	const Identity *identity() { return &settings.identities[1]; }

	std::string nonceFor(Algorithm algorithm)
	{
		return nonces.issue(request.nowMs, algorithm, settings.qop == QopPolicy::Auth, kRealm, kIp);
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
		std::string h = "Digest username=\"" + a.username + "\", uri=\"" + a.uri + "\", realm=\"" +
				a.realm + "\", nonce=\"" + a.nonce + "\", response=\"" + response + "\"";
		if (a.sendAlgorithm)
			h += ", algorithm=" + a.algorithm;
		if (!a.qop.empty())
			h += ", qop=" + a.qop + ", nc=" + a.nc + ", cnonce=\"" + a.cnonce + "\"";
		h += a.extra;
		return h;
	}

	AuthResult verifyText(const std::string &text, const Identity *who)
	{
		msg_auth_t *auth = sip_authorization_make(home, text.c_str());
		CHECK_TRUE(auth != nullptr);
		return verifyAuthorization(auth, settings, who, kRealm, request, nonces, used).result;
	}

	AuthResult verify(const Answer &a) { return verifyText(header(a), identity()); }

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
	CHECK(verify(answer()) == AuthResult::Ok);
}

TEST(Auth, acceptsACorrectQopAuthAnswerForEveryAlgorithm)
{
	settings.algorithms = {Algorithm::Sha512_256, Algorithm::Sha256, Algorithm::Md5};
	CHECK(verify(answer(Algorithm::Md5)) == AuthResult::Ok);
	CHECK(verify(answer(Algorithm::Sha256)) == AuthResult::Ok);
	CHECK(verify(answer(Algorithm::Sha512_256)) == AuthResult::Ok);
}

TEST(Auth, noAlgorithmParameterMeansMd5)
{
	Answer a = answer();
	a.sendAlgorithm = false;
	CHECK(verify(a) == AuthResult::Ok);
}

TEST(Auth, aNonceAuthorisesOneRequestOnly)
{
	Answer a = answer();
	std::string text = header(a);
	CHECK(verifyText(text, identity()) == AuthResult::Ok);
	CHECK(verifyText(text, identity()) == AuthResult::Replayed);
	CHECK_TRUE(isStale(AuthResult::Replayed));
}

TEST(Auth, anExpiredNonceWithTheRightDigestIsStale)
{
	Answer a = answer();
	request.nowMs += kNonceLifetimeMs + 1;
	CHECK(verify(a) == AuthResult::Stale);
}

TEST(Auth, anExpiredNonceWithAWrongDigestIsAFailureNotStale)
{
	Answer a = answer();
	a.password = "4321";
	request.nowMs += kNonceLifetimeMs + 1;
	CHECK(verify(a) == AuthResult::WrongDigest);
	CHECK_TRUE(isAuthFailure(AuthResult::WrongDigest));
}

TEST(Auth, aReplayWithAWrongDigestIsNotStale)
{
	Answer a = answer();
	CHECK(verify(a) == AuthResult::Ok);
	a.password = "0000";
	CHECK(verify(a) == AuthResult::WrongDigest);
}

TEST(Auth, aWrongPasswordFails)
{
	Answer a = answer();
	a.password = "12345";
	CHECK(verify(a) == AuthResult::WrongDigest);
	// ... and a failed answer does not use up the nonce.
	a.password = "1234";
	CHECK(verify(a) == AuthResult::Ok);
}

TEST(Auth, credentialsForAnotherRealmAreNoCredentials)
{
	Answer a = answer();
	a.realm = "other.example.com";
	CHECK(verify(a) == AuthResult::NoCredentials);
	CHECK_FALSE(isAuthFailure(AuthResult::NoCredentials));
}

TEST(Auth, picksTheHeaderForOurRealmAmongSeveral)
{
	Answer ours = answer();
	Answer theirs = answer();
	theirs.realm = "proxy.example.com";
	msg_auth_t *first = sip_authorization_make(home, header(theirs).c_str());
	msg_auth_t *second = sip_authorization_make(home, header(ours).c_str());
	first->au_next = second;
	CHECK(verifyAuthorization(first, settings, identity(), kRealm, request, nonces, used).result ==
	      AuthResult::Ok);
}

TEST(Auth, moreThanFourAuthorizationHeadersAreRefused)
{
	Answer a = answer();
	msg_auth_t *head = nullptr;
	for (int i = 0; i < 5; i++) {
		msg_auth_t *h = sip_authorization_make(home, header(a).c_str());
		h->au_next = head;
		head = h;
	}
	CHECK(verifyAuthorization(head, settings, identity(), kRealm, request, nonces, used).result ==
	      AuthResult::Malformed);
}

TEST(Auth, aWrongUsernameFails)
{
	Answer a = answer();
	a.username = "340898";
	CHECK(verify(a) == AuthResult::WrongUser);
}

TEST(Auth, theUsernameIsUserPnameWhenSet)
{
	settings.identities[1].pname = "auth340899";
	Answer a = answer();
	CHECK(verify(a) == AuthResult::WrongUser);
	a = answer();
	a.username = "auth340899";
	CHECK(verify(a) == AuthResult::Ok);
}

TEST(Auth, theUriMustBeTheRequestUri)
{
	Answer a = answer();
	a.uri = "sip:340899@192.168.137.181:5306";
	CHECK(verify(a) == AuthResult::WrongUri);
	a = answer();
	a.uri = "sip:someone@192.168.137.181:5305";
	CHECK(verify(a) == AuthResult::WrongUri);
}

TEST(Auth, theUriIsComparedAsASipUri)
{
	// Host case does not matter in SIP URI comparison (RFC 3261 19.1.4).
	request.requestUri = "sip:340899@Phone.Example.COM";
	Answer a = answer();
	a.uri = "sip:340899@phone.example.com";
	CHECK(verify(a) == AuthResult::Ok);
}

TEST(Auth, anUnknownUserNeverSucceeds)
{
	Answer a = answer();
	CHECK(verifyText(header(a), nullptr) == AuthResult::UnknownUser);
	Identity noSecret;
	noSecret.idx = 2;
	noSecret.name = "340899";
	CHECK(verifyText(header(answer()), &noSecret) == AuthResult::UnknownUser);
}

TEST(Auth, anMd5AnswerToASha256NonceFails)
{
	settings.algorithms = {Algorithm::Sha256, Algorithm::Md5};
	Answer a = answer(Algorithm::Sha256);
	a.algorithm = "MD5";
	CHECK(verify(a) == AuthResult::AlgorithmMismatch);
}

TEST(Auth, anAlgorithmNotOfferedFails)
{
	Answer a = answer(Algorithm::Md5);
	a.algorithm = "SHA-256";
	CHECK(verify(a) == AuthResult::BadAlgorithm);
}

TEST(Auth, sessVariantsAndUnknownAlgorithmsAreRefused)
{
	Answer a = answer();
	a.algorithm = "MD5-sess";
	a.response = std::string(32, 'a');
	CHECK(verify(a) == AuthResult::BadAlgorithm);
	a.algorithm = "SHA1";
	CHECK(verify(a) == AuthResult::BadAlgorithm);
}

TEST(Auth, withQopOfferedAnAnswerWithoutQopFails)
{
	Answer a = answer();
	a.qop.clear();
	CHECK(verify(a) == AuthResult::BadQop);
}

TEST(Auth, withoutQopOfferedAnAnswerWithQopFails)
{
	settings.qop = QopPolicy::None;
	Answer a = answer();
	a.qop = "auth";
	CHECK(verify(a) == AuthResult::BadQop);
}

TEST(Auth, authIntAndBadNonceCountsAndMissingCnonceFail)
{
	Answer a = answer();
	a.qop = "auth-int";
	CHECK(verify(a) == AuthResult::BadQop);
	a = answer();
	a.nc = "1";
	CHECK(verify(a) == AuthResult::BadQop);
	a = answer();
	a.nc = "0000000g";
	CHECK(verify(a) == AuthResult::BadQop);
	a = answer();
	a.cnonce.clear();
	CHECK(verify(a) == AuthResult::BadQop);
}

TEST(Auth, aNonceFromAnotherAddressOrForgedFails)
{
	Answer a = answer();
	request.sourceIp = "192.168.137.2";
	CHECK(verify(a) == AuthResult::BadNonce);
	request.sourceIp = kIp;
	a.nonce = "b5e73bf9ef0fc8b2";
	CHECK(verify(a) == AuthResult::BadNonce);
}

TEST(Auth, aNonceIssuedWithoutQopCannotBeAnsweredWithQop)
{
	// qop policy changed between challenge and answer: the nonce says none.
	settings.qop = QopPolicy::None;
	Answer a = answer();
	settings.qop = QopPolicy::Auth;
	a.qop = "auth";
	CHECK(verify(a) == AuthResult::BadQop);
}

TEST(Auth, malformedParametersAreRefused)
{
	Answer a = answer();
	a.response = "f10d6c2cc255089c948c58c14ed0b44"; // 31 digits
	CHECK(verify(a) == AuthResult::Malformed);
	a.response = std::string(64, 'a'); // SHA-256 length for MD5
	CHECK(verify(a) == AuthResult::Malformed);
	a = answer();
	a.extra = ", nonce=\"other\"";
	CHECK(verify(a) == AuthResult::Malformed);
	a = answer();
	a.extra = ", opaque=\"" + std::string(600, 'x') + "\"";
	CHECK(verify(a) == AuthResult::Malformed);
	std::string missing = "Digest username=\"340899\", realm=\"ser.berlin.snom.com\", uri=\"" +
			      std::string(kUri) + "\"";
	CHECK(verifyText(missing, identity()) == AuthResult::Malformed);
}

TEST(Auth, anIdentityWithOnlyAnHa1IsOfferedMd5Only)
{
	settings.algorithms = {Algorithm::Sha256, Algorithm::Md5};
	Identity &one = settings.identities[1];
	one.hash = computeHa1(Algorithm::Md5, "340899", kRealm, "1234");
	one.pass.clear();
	auto offered = offeredAlgorithms(settings, &one);
	LONGS_EQUAL(1, offered.size());
	CHECK(offered[0] == Algorithm::Md5);
	CHECK(verify(answer(Algorithm::Md5)) == AuthResult::Ok);
	CHECK(verify(answer(Algorithm::Sha256)) == AuthResult::BadAlgorithm);
}

TEST(Auth, failsClosedWhenTheUsedNonceSetIsFull)
{
	UsedNonces tiny(1);
	Answer first = answer();
	Answer second = answer();
	msg_auth_t *h1 = sip_authorization_make(home, header(first).c_str());
	msg_auth_t *h2 = sip_authorization_make(home, header(second).c_str());
	CHECK(verifyAuthorization(h1, settings, identity(), kRealm, request, nonces, tiny).result ==
	      AuthResult::Ok);
	CHECK(verifyAuthorization(h2, settings, identity(), kRealm, request, nonces, tiny).result ==
	      AuthResult::ReplayTableFull);
}

TEST(Auth, challengesHaveTheSeedShapeWithoutQop)
{
	settings.qop = QopPolicy::None;
	auto challenges = makeChallenges(settings, identity(), kRealm, request, false, nonces);
	LONGS_EQUAL(1, challenges.size());
	const std::string &c = challenges[0];
	CHECK_TRUE(c.starts_with("Digest realm=\"ser.berlin.snom.com\", nonce=\""));
	CHECK_TRUE(c.ends_with("\", algorithm=MD5"));
}

TEST(Auth, oneChallengePerAlgorithmInPreferenceOrder)
{
	settings.algorithms = {Algorithm::Sha512_256, Algorithm::Sha256, Algorithm::Md5};
	auto challenges = makeChallenges(settings, identity(), kRealm, request, true, nonces);
	LONGS_EQUAL(3, challenges.size());
	CHECK_TRUE(challenges[0].ends_with("algorithm=SHA-512-256, qop=\"auth\", stale=true"));
	CHECK_TRUE(challenges[1].ends_with("algorithm=SHA-256, qop=\"auth\", stale=true"));
	CHECK_TRUE(challenges[2].ends_with("algorithm=MD5, qop=\"auth\", stale=true"));
}

TEST(Auth, reasonsAreStableTokens)
{
	STRCMP_EQUAL("wrong-digest", std::string(authReason(AuthResult::WrongDigest)).c_str());
	STRCMP_EQUAL("replayed-nonce", std::string(authReason(AuthResult::Replayed)).c_str());
	STRCMP_EQUAL("unknown-user", std::string(authReason(AuthResult::UnknownUser)).c_str());
}
