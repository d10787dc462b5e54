// SPDX-License-Identifier: MIT
//
// Digest authentication of a check-sync: building the challenges and
// verifying an Authorization header that sofia-sip has parsed. Pure logic:
// time, source address and the nonce state are passed in.

#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "digest.hpp"
#include "nonce.hpp"
#include "settings.hpp"

extern "C" {
struct msg_auth_s;
}

namespace checksyncd {

enum class AuthResult : unsigned char {
	Ok,
	NoCredentials,	   // no Digest Authorization for our realm: challenge
	Malformed,	   // missing, duplicate or ill-formed parameters
	UnknownUser,	   // no identity or no secret: can never succeed
	WrongUser,	   // username is not the identity's
	WrongUri,	   // uri is not the Request-URI
	BadAlgorithm,	   // algorithm not offered (or a -sess variant)
	BadQop,		   // qop missing where offered, or not "auth"
	BadNonce,	   // not ours, altered, or for another realm/address
	AlgorithmMismatch, // answer's algorithm differs from the nonce's
	WrongDigest,	   // response does not match
	Stale,		   // nonce expired, digest right: 401 stale=true
	Replayed,	   // nonce already used, digest right: 401 stale=true
	ReplayTableFull,   // used-nonce set full: fail closed
};

// Stable token for logs ("wrong-digest", ...).
std::string_view authReason(AuthResult result);

// True for the results that count as a failed answer (brute force).
bool isAuthFailure(AuthResult result);

// True when the 401 should carry stale=true.
inline bool isStale(AuthResult result)
{
	return result == AuthResult::Stale || result == AuthResult::Replayed;
}

struct AuthRequest {
	std::string_view method;	 // "NOTIFY"
	std::string_view requestUri;	 // the Request-URI, as text
	std::string_view sourceIp;	 // address only, no port
	std::uint64_t nowMs = 0;	 // monotonic
};

struct AuthOutcome {
	AuthResult result = AuthResult::NoCredentials;
	std::string username; // as sent, for the log line; may be empty
	// The answer carried a nonce we issued to this source address: the
	// sender receives our answers there, so a failure can be held against
	// the address (brute-force lockout) without letting a spoofer lock
	// out someone else.
	bool addressProven = false;
};

// The algorithms offered to this identity, in the configured order: MD5
// only for an identity that has just an HA1 (user_hash).
std::vector<Algorithm> offeredAlgorithms(const Settings &settings, const Identity *identity);

// One WWW-Authenticate value ("Digest realm=..., nonce=..., ...") per
// offered algorithm.
std::vector<std::string> makeChallenges(const Settings &settings, const Identity *identity,
					std::string_view realm, const AuthRequest &request,
					bool stale, NonceAuthority &nonces);

// Verify the Authorization headers of a request for `identity` (nullptr:
// unknown user, never succeeds but costs the same work). Marks the nonce
// used when, and only when, the result is Ok.
AuthOutcome verifyAuthorization(const msg_auth_s *authorization, const Settings &settings,
				const Identity *identity, std::string_view realm,
				const AuthRequest &request, const NonceAuthority &nonces,
				UsedNonces &used);

} // namespace checksyncd
