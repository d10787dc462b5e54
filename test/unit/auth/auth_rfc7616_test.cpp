// SPDX-License-Identifier: MIT
//
// RFC 7616 on the answer side (common/auth/auth.hpp): Authentication-Info with
// rspauth and nextnonce (3.5), userhash (3.4.4), username* (3.4, RFC 8187),
// charset=UTF-8 and opaque (3.3). The hash values here were computed apart
// from the code under test (Python's hashlib), as in vectors/digest.md.

#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>

#include <string>

#include "auth/auth.hpp"
#include "base/sofia.hpp"

#include "support/sip_text.hpp"
#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;
using checksyncd::test::quotedParam;

namespace {

constexpr const char *kUri = "sip:340899@192.0.2.10:5060";
constexpr const char *kRealm = "ser.berlin.snom.com";
constexpr const char *kIp = "192.0.2.1";

} // namespace

TEST_GROUP(AuthRfc7616)
{
	SuHome home;
	Settings settings;
	NonceAuthority nonces{NonceAuthority::Key{3}};
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
		request.uriHasUser = true;
		request.uriUser = "340899";
	}

	std::vector<ChallengeRealm> realms()
	{
		return challengeRealms(settings, "192.0.2.10");
	}

	std::string challenge(std::size_t index = 0)
	{
		return makeChallenges(settings, realms(), request, StaleFlag::Absent, nonces)
			.at(index);
	}

	// An answer to `challenge`: `nameParam` is the whole username (or
	// username*) parameter, `user` what is hashed, `extra` appended.
	std::string answer(const std::string &challenge, const std::string &nameParam,
			   const std::string &user, const std::string &password,
			   Algorithm algorithm = Algorithm::Md5, const std::string &extra = "")
	{
		const std::string realm = quotedParam(challenge, "realm");
		const std::string nonce = quotedParam(challenge, "nonce");
		DigestInput in;
		in.method = "NOTIFY";
		in.uri = kUri;
		in.nonce = nonce;
		in.qop = "auth";
		in.nc = "00000001";
		in.cnonce = "0a4f113b";
		const std::string response = computeResponse(
			algorithm, computeHa1(algorithm, user, realm, password), in);
		return "Digest " + nameParam + ", realm=\"" + realm + "\", nonce=\"" + nonce +
		       "\", uri=\"" + kUri + "\", response=\"" + response +
		       "\", algorithm=" + std::string(algorithmName(algorithm)) +
		       ", qop=auth, nc=00000001, cnonce=\"0a4f113b\"" + extra;
	}

	AuthOutcome verify(const std::string &text)
	{
		msg_auth_t *auth = sip_authorization_make(home.get(), text.c_str());
		CHECK_TRUE(auth != nullptr);
		return verifyAuthorization(auth, settings, realms(), request, nonces, used);
	}
};

TEST(AuthRfc7616, rspauthIsTheDigestOverTheEmptyMethod)
{
	// vectors/digest.md section 5 and RFC 2617 3.5's parameters, with
	// A2 = ":" digest-uri.
	struct Vector {
		Algorithm algorithm;
		const char *rspauth;
	};
	for (const Vector &v :
	     {Vector{Algorithm::Md5, "1c5cbd14577d87548e85f90edf6b6af4"},
	      Vector{Algorithm::Sha256, "3acced693287b5dc521fda9f9e8e9690b30b9f41"
					"b9d3ed7bb4c4d598cad51d71"},
	      Vector{Algorithm::Sha512_256,
		     "f1a400ad2308c2a875da47a64df473c46083b410b74ca3124c93f23a13a20e"
		     "9b"}}) {
		DigestInput in;
		in.method = "";
		in.uri = "sip:device@192.0.2.10:5060";
		in.nonce = "testnonce-0001";
		in.qop = "auth";
		in.nc = "00000001";
		in.cnonce = "0a4f113b";
		STRCMP_EQUAL(v.rspauth, computeResponse(v.algorithm,
							computeHa1(v.algorithm, "alice",
								   "notify.example.com", "s3cr3t"),
							in)
						.c_str());
	}
	DigestInput rfc2617;
	rfc2617.uri = "/dir/index.html";
	rfc2617.nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
	rfc2617.qop = "auth";
	rfc2617.nc = "00000001";
	rfc2617.cnonce = "0a4f113b";
	STRCMP_EQUAL("376602cfd2f4e8e5e78b948a85263e85",
		     computeResponse(Algorithm::Md5, "939e7578ed9e3c518a452acee763bce9", rfc2617)
			     .c_str());
}

TEST(AuthRfc7616, aRightAnswerYieldsAuthenticationInfoThatProvesThePassword)
{
	const std::string c = challenge();
	AuthOutcome outcome = verify(answer(c, "username=\"340899\"", "340899", "1234"));
	CHECK_EQUAL(AuthResult::Ok, outcome.result);
	// rspauth computed apart: H(HA1 ":" nonce ":" nc ":" cnonce ":" qop
	// ":" H(":" uri)).
	const std::string ha1 = hashHex(Algorithm::Md5, "340899:ser.berlin.snom.com:1234");
	const std::string expected = hashHex(
		Algorithm::Md5, ha1 + ":" + quotedParam(c, "nonce") + ":00000001:0a4f113b:auth:" +
					hashHex(Algorithm::Md5, std::string(":") + kUri));
	STRCMP_EQUAL(expected.c_str(), outcome.rspauth.c_str());
	STRCMP_EQUAL(("nextnonce=\"N\", qop=auth, rspauth=\"" + expected +
		      "\", cnonce=\"0a4f113b\", nc=00000001")
			     .c_str(),
		     authenticationInfo(outcome, "N").c_str());
	// A wrong password proves nothing and gets none.
	AuthOutcome wrong = verify(answer(challenge(), "username=\"340899\"", "340899", "x"));
	CHECK_EQUAL(AuthResult::WrongDigest, wrong.result);
	CHECK_TRUE(wrong.rspauth.empty());
}

TEST(AuthRfc7616, withoutQopAuthenticationInfoCarriesOnlyTheNextNonce)
{
	settings.qop = QopPolicy::None;
	const std::string c = challenge();
	const std::string nonce = quotedParam(c, "nonce");
	DigestInput in;
	in.method = "NOTIFY";
	in.uri = kUri;
	in.nonce = nonce;
	const std::string response = computeResponse(
		Algorithm::Md5, computeHa1(Algorithm::Md5, "340899", kRealm, "1234"), in);
	AuthOutcome outcome = verify("Digest username=\"340899\", realm=\"" + std::string(kRealm) +
				     "\", nonce=\"" + nonce + "\", uri=\"" + kUri +
				     "\", response=\"" + response + "\", algorithm=MD5");
	CHECK_EQUAL(AuthResult::Ok, outcome.result);
	STRCMP_EQUAL("nextnonce=\"N2\"", authenticationInfo(outcome, "N2").c_str());
}

TEST(AuthRfc7616, aRetransmissionOfAServedAnswerYieldsTheSameRspauth)
{
	const std::string text = answer(challenge(), "username=\"340899\"", "340899", "1234");
	AuthOutcome first = verify(text);
	CHECK_EQUAL(AuthResult::Ok, first.result);
	msg_auth_t *auth = sip_authorization_make(home.get(), text.c_str());
	// Used now, and aged past the nonce's lifetime: still its proof.
	request.nowMs += kNonceLifetimeMs + 1000;
	AuthOutcome again = verifyAuthorization(auth, settings, realms(), request, nonces, used,
						NonceUse::Retransmission);
	CHECK_EQUAL(AuthResult::Ok, again.result);
	STRCMP_EQUAL(first.rspauth.c_str(), again.rspauth.c_str());
	// As a new request it is a replay.
	CHECK_EQUAL(AuthResult::Stale,
		    verifyAuthorization(auth, settings, realms(), request, nonces, used).result);
}

TEST(AuthRfc7616, aCnonceWithAControlCharacterIsRefused)
{
	std::string text = answer(challenge(), "username=\"340899\"", "340899", "1234");
	text.replace(text.find("cnonce=\"0a4f113b\""), 17,
		     "cnonce=\"0a4f\x01"
		     "113b\"");
	CHECK_EQUAL(AuthResult::Malformed, verify(text).result);
}

TEST(AuthRfc7616, userhashIsOfferedWithAnOpaqueAndAHashedUsernameAuthenticates)
{
	settings.userhash = true;
	const std::string c = challenge();
	CHECK_TRUE(c.find(", userhash=true") != std::string::npos);
	const std::string opaque = quotedParam(c, "opaque");
	LONGS_EQUAL(16, opaque.size());
	// The same opaque for every challenge of the realm: nothing is kept.
	STRCMP_EQUAL(opaque.c_str(), quotedParam(challenge(), "opaque").c_str());
	// H("340899:ser.berlin.snom.com"), computed apart.
	const std::string hashed = "username=\"e1074b8d7ec0529cff6099a149f67a85\", userhash=true";
	const std::string echo = ", opaque=\"" + opaque + "\"";
	CHECK_EQUAL(AuthResult::Ok,
		    verify(answer(c, hashed, "340899", "1234", Algorithm::Md5, echo)).result);
	// The plain name stays good (the client chooses).
	CHECK_EQUAL(AuthResult::Ok, verify(answer(challenge(), "username=\"340899\"", "340899",
						  "1234", Algorithm::Md5, echo))
					    .result);
	// The opaque must come back unchanged.
	CHECK_EQUAL(AuthResult::Malformed,
		    verify(answer(challenge(), hashed, "340899", "1234")).result);
	CHECK_EQUAL(AuthResult::Malformed,
		    verify(answer(challenge(), hashed, "340899", "1234", Algorithm::Md5,
				  ", opaque=\"AAAAAAAAAAAAAAAA\""))
			    .result);
	// Another user's hash is another user.
	CHECK_EQUAL(AuthResult::WrongUser,
		    verify(answer(challenge(),
				  "username=\"e1074b8d7ec0529cff6099a149f67a86\", userhash=true",
				  "340899", "1234", Algorithm::Md5, echo))
			    .result);
}

TEST(AuthRfc7616, aHashedUsernameIsRefusedWhereUserhashWasNotOffered)
{
	CHECK_EQUAL(AuthResult::Malformed,
		    verify(answer(challenge(),
				  "username=\"e1074b8d7ec0529cff6099a149f67a85\", userhash=true",
				  "340899", "1234"))
			    .result);
	CHECK_EQUAL(
		AuthResult::Malformed,
		verify(answer(challenge(), "username=\"340899\", userhash=maybe", "340899", "1234"))
			.result);
}

TEST(AuthRfc7616, aUtf8UserAuthenticatesByUsernameStarOrItsHash)
{
	// RFC 7616 3.9.2's user, password and algorithm, in a realm a phone can
	// have (the RFC's own userhash value is of the truncated SHA-512 that
	// erratum 4897 corrects).
	settings.identities.clear();
	Identity jason;
	jason.idx = 1;
	jason.name = "340899";
	jason.pname = "J\xc3\xa4s\xc3\xb8n Doe";
	jason.host = "api.example.org";
	jason.pass = "Secret, or not?";
	settings.identities[1] = jason;
	settings.algorithms = {Algorithm::Sha512_256};
	const std::string c = challenge();
	CHECK_TRUE(c.find(", charset=UTF-8") != std::string::npos);
	const std::string user = "J\xc3\xa4s\xc3\xb8n Doe";
	CHECK_EQUAL(AuthResult::Ok, verify(answer(c, "username*=UTF-8''J%C3%A4s%C3%B8n%20Doe", user,
						  "Secret, or not?", Algorithm::Sha512_256))
					    .result);
	// Its HA1, computed apart, is what the answer above was built on.
	STRCMP_EQUAL("c9bbbfa4345b3dd5d1971ee7e7ef234fbb3797459a397deceeac6f097bd91489",
		     computeHa1(Algorithm::Sha512_256, user, "api.example.org", "Secret, or not?")
			     .c_str());
	// Quoted UTF-8 works too.
	CHECK_EQUAL(AuthResult::Ok, verify(answer(challenge(), "username=\"" + user + "\"", user,
						  "Secret, or not?", Algorithm::Sha512_256))
					    .result);
	settings.userhash = true;
	const std::string offered = challenge();
	CHECK_EQUAL(AuthResult::Ok,
		    verify(answer(offered,
				  "username="
				  "\"8fae5b17a811fd56ab11a0a3c4eca561e420e4728b3a31ecc09112cd3864e"
				  "322\", userhash=true",
				  user, "Secret, or not?", Algorithm::Sha512_256,
				  ", opaque=\"" + quotedParam(offered, "opaque") + "\""))
			    .result);
}

TEST(AuthRfc7616, aBadUsernameStarIsRefused)
{
	const std::string c = challenge();
	for (const char *bad :
	     {"username*=ISO-8859-1''J%E4s", "username*=UTF-8'J%C3%A4s", "username*=UTF-8''J%C3",
	      "username*=UTF-8''J%C3%28", "username*=UTF-8''a%2", "username*=UTF-8''a b",
	      "username*=UTF-8''", "username*=UTF-8''340899, username=\"340899\""})
		CHECK_TEXT(verify(answer(challenge(), bad, "340899", "1234")).result ==
				   AuthResult::Malformed,
			   bad);
	// A plain ASCII name as username* is just that name.
	CHECK_EQUAL(AuthResult::Ok,
		    verify(answer(c, "username*=UTF-8''340899", "340899", "1234")).result);
}

TEST(AuthRfc7616, charsetIsOfferedOnlyWhereANameOrPasswordIsNotAscii)
{
	CHECK_TRUE(challenge().find("charset") == std::string::npos);
	settings.identities[1].pass = "p\xc3\xa4ss";
	CHECK_TRUE(challenge().find(", charset=UTF-8") != std::string::npos);
}
