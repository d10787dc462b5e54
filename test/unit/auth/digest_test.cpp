// SPDX-License-Identifier: MIT
//
// Digest arithmetic against the RFC 2617, RFC 7616 and RFC 8760 examples
// and the phone documentation's real exchange (docs/security.md).

#include <string>

#include "auth/digest.hpp"

#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

TEST_GROUP(Digest){};

TEST(Digest, reproducesTheSeedResponseWithPassword1234)
{
	std::string ha1 = computeHa1(Algorithm::Md5, "340899", "ser.berlin.snom.com", "1234");
	DigestInput in;
	in.method = "NOTIFY";
	in.uri = "sip:340899@192.168.137.181:5305";
	in.nonce = "b5e73bf9ef0fc8b2";
	STRCMP_EQUAL("f10d6c2cc255089c948c58c14ed0b44f",
		     computeResponse(Algorithm::Md5, ha1, in).c_str());
}

TEST(Digest, reproducesRfc2617Section35)
{
	std::string ha1 = computeHa1(Algorithm::Md5, "Mufasa", "testrealm@host.com",
				     "Circle Of Life");
	STRCMP_EQUAL("939e7578ed9e3c518a452acee763bce9", ha1.c_str());
	STRCMP_EQUAL("39aff3a2bab6126f332b942af96d3366",
		     hashHex(Algorithm::Md5, "GET:/dir/index.html").c_str());
	DigestInput in;
	in.method = "GET";
	in.uri = "/dir/index.html";
	in.nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
	in.nc = "00000001";
	in.cnonce = "0a4f113b";
	in.qop = "auth";
	STRCMP_EQUAL("6629fae49393a05397450978507c4ef1",
		     computeResponse(Algorithm::Md5, ha1, in).c_str());
}

namespace {

DigestInput rfc7616Input()
{
	DigestInput in;
	in.method = "GET";
	in.uri = "/dir/index.html";
	in.nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
	in.nc = "00000001";
	in.cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
	in.qop = "auth";
	return in;
}

} // namespace

TEST(Digest, reproducesRfc7616Md5)
{
	std::string ha1 = computeHa1(Algorithm::Md5, "Mufasa", "http-auth@example.org",
				     "Circle of Life");
	STRCMP_EQUAL("8ca523f5e9506fed4657c9700eebdbec",
		     computeResponse(Algorithm::Md5, ha1, rfc7616Input()).c_str());
}

TEST(Digest, reproducesRfc7616Sha256)
{
	std::string ha1 = computeHa1(Algorithm::Sha256, "Mufasa", "http-auth@example.org",
				     "Circle of Life");
	STRCMP_EQUAL("753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
		     computeResponse(Algorithm::Sha256, ha1, rfc7616Input()).c_str());
}

TEST(Digest, reproducesRfc7616Sha512_256AsCorrectedByErratum4897)
{
	std::string ha1 = computeHa1(Algorithm::Sha512_256, "J\xc3\xa4s\xc3\xb8n Doe",
				     "api@example.org", "Secret, or not?");
	STRCMP_EQUAL("2d3d9f12c9f3d30011259dc5fecee005ae24de40e3e1f61806d03e65f1e6024f",
		     ha1.c_str());
	STRCMP_EQUAL("1734b070bafdeb53ae52f93659427bb4bc545e2ef4d5e74ba247dad4861b4634",
		     hashHex(Algorithm::Sha512_256, "GET:/doe.json").c_str());
	DigestInput in;
	in.method = "GET";
	in.uri = "/doe.json";
	in.nonce = "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK";
	in.nc = "00000001";
	in.cnonce = "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v";
	in.qop = "auth";
	STRCMP_EQUAL("3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5",
		     computeResponse(Algorithm::Sha512_256, ha1, in).c_str());
}

namespace {

struct NotifyVector {
	Algorithm algorithm;
	const char *ha1;
	const char *withQop;
	const char *withoutQop;
};

const NotifyVector kNotifyVectors[] = {
	{Algorithm::Md5, "0b059f51c0e88be1aa4106790e31944a", "c2602c129760ec58e71a95c0bf50efb3",
	 "7c71a33c87286c9b68dd2fa8b80ab4dc"},
	{Algorithm::Sha256, "ebdf4e4172e4612f0ab1dc20c3d56eeac4fd8f879d65fa9b784d654c607619e9",
	 "82650a3345929a7698d6c473eea204b752e3915dc4d804ad184208e728e412fd",
	 "7b7e9fe6184f59b3ced46cee9bb0f040ab8662c8796719d61df95ae3319afb1e"},
	{Algorithm::Sha512_256, "6a451caa38d7a3ebc5656ca9fe50cba1877687210a18fd97c55e4109b9264c50",
	 "503eb8bc7870e8007fbdac50b2b66f826a826f577aa02b821093a23a166d9de4",
	 "468e2713997f41189da92b019f0268936dccff576eb6294430df8a6a8676470c"},
};

} // namespace

TEST(Digest, reproducesTheSipNotifyVectorsForEveryAlgorithm)
{
	for (const NotifyVector &v : kNotifyVectors) {
		std::string ha1 = computeHa1(v.algorithm, "alice", "notify.example.com", "s3cr3t");
		STRCMP_EQUAL(v.ha1, ha1.c_str());
		DigestInput in;
		in.method = "NOTIFY";
		in.uri = "sip:device@192.0.2.10:5060";
		in.nonce = "testnonce-0001";
		STRCMP_EQUAL(v.withoutQop, computeResponse(v.algorithm, ha1, in).c_str());
		in.nc = "00000001";
		in.cnonce = "0a4f113b";
		in.qop = "auth";
		STRCMP_EQUAL(v.withQop, computeResponse(v.algorithm, ha1, in).c_str());
	}
}

TEST(Digest, joinsItsPartsWithColonsWhateverTheirLength)
{
	// Up to 512 bytes the parts are joined in a buffer, past it fed one by
	// one: both give the hash of the joined text, empty parts included.
	for (Algorithm algorithm : {Algorithm::Md5, Algorithm::Sha256, Algorithm::Sha512_256}) {
		for (std::size_t total : {std::size_t{5}, std::size_t{511}, std::size_t{512},
					  std::size_t{513}, std::size_t{2000}}) {
			const std::string user = total > 5 ? "alice" : "";
			const std::string realm = total > 5 ? "example.org" : "";
			const std::string pass(total - 2 - user.size() - realm.size(), 'p');
			STRCMP_EQUAL(hashHex(algorithm, user + ":" + realm + ":" + pass).c_str(),
				     computeHa1(algorithm, user, realm, pass).c_str());
		}
		STRCMP_EQUAL(hashHex(algorithm, "::").c_str(),
			     computeHa1(algorithm, "", "", "").c_str());
	}
}

TEST(Digest, sha512_256IsNotATruncatedSha512)
{
	// SHA-512 of "abc" begins ddaf35a1...; SHA-512/256 of "abc" is:
	STRCMP_EQUAL("53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23",
		     hashHex(Algorithm::Sha512_256, "abc").c_str());
}

TEST(Digest, parsesAlgorithmTokensCaseInsensitively)
{
	CHECK_EQUAL(Algorithm::Md5, parseAlgorithm("md5"));
	CHECK_EQUAL(Algorithm::Sha256, parseAlgorithm("SHA-256"));
	CHECK_EQUAL(Algorithm::Sha512_256, parseAlgorithm("sha-512-256"));
	CHECK_FALSE(parseAlgorithm("MD5-sess").has_value());
	CHECK_FALSE(parseAlgorithm("SHA-256-sess").has_value());
	CHECK_FALSE(parseAlgorithm("SHA1").has_value());
	CHECK_FALSE(parseAlgorithm("").has_value());
	LONGS_EQUAL(32, hexLength(Algorithm::Md5));
	LONGS_EQUAL(64, hexLength(Algorithm::Sha256));
	LONGS_EQUAL(64, hexLength(Algorithm::Sha512_256));
}

TEST(Digest, comparesHexInConstantTimeIgnoringTheCaseOfTheAnswer)
{
	CHECK_TRUE(hexEqualConstantTime("f10d6c2cc255089c948c58c14ed0b44f",
					"F10D6C2CC255089C948C58C14ED0B44F"));
	CHECK_FALSE(hexEqualConstantTime("f10d6c2cc255089c948c58c14ed0b44f",
					 "f10d6c2cc255089c948c58c14ed0b44e"));
	CHECK_FALSE(hexEqualConstantTime("f10d6c2cc255089c948c58c14ed0b44f",
					 "f10d6c2cc255089c948c58c14ed0b44"));
	CHECK_FALSE(hexEqualConstantTime("", ""));
}

TEST(Digest, recognisesHexOfAnExactLength)
{
	CHECK_TRUE(isHex("00000001", 8));
	CHECK_TRUE(isHex("AbCdEf09", 8));
	CHECK_FALSE(isHex("0000001", 8));
	CHECK_FALSE(isHex("0000000g", 8));
	CHECK_FALSE(isHex("000000001", 8));
}
