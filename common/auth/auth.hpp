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

#include "auth/digest.hpp"
#include "auth/nonce.hpp"
#include "settings/settings.hpp"

extern "C" {
struct msg_auth_s;
}

namespace checksyncd {

enum class AuthResult : unsigned char {
	Ok,
	NoCredentials,     // no Digest Authorization for our realm: challenge
	Malformed,         // missing, duplicate or ill-formed parameters
	UnknownUser,       // no identity or no secret: can never succeed
	WrongUser,         // username is not the identity's
	WrongUri,          // uri is not the Request-URI
	BadAlgorithm,      // algorithm not offered (or a -sess variant)
	BadQop,            // qop missing where offered, or not "auth"
	BadNonce,          // not ours, altered, or for another realm/address
	AlgorithmMismatch, // answer's algorithm differs from the nonce's
	WrongDigest,       // response does not match
	Stale,             // nonce expired, digest right: 401 stale=true
	Replayed,          // nonce already used or out of the used-nonce
			   // window, digest right: 401 stale=true
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
	std::string_view method;     // "NOTIFY"
	std::string_view requestUri; // the Request-URI, as text
	bool uriHasUser = false;     // the Request-URI has a user part
	std::string_view uriUser;    // ... and this is it
	std::string_view uriHost;    // the Request-URI host
	std::string_view sourceIp;   // address only, no port
	std::uint64_t nowMs = 0;     // monotonic
};

struct AuthOutcome {
	AuthResult result = AuthResult::NoCredentials;
	std::string username; // as sent, for the log line; may be empty
	// The answer carried a nonce we issued to this source address: the
	// sender receives our answers there, so a failure can be held against
	// the address (brute-force lockout) without letting a spoofer lock
	// out someone else.
	bool addressProven = false;
	// Ok: the identity that authenticated (picked by the answer's realm),
	// and what the answer's Authentication-Info needs (RFC 7616 3.5).
	const Identity *identity = nullptr;
	std::string realm;
	Algorithm algorithm = Algorithm::Md5;
	std::string rspauth; // the digest over A2 = ":" uri; empty without qop
	std::string nc;
	std::string cnonce;
};

// One realm a 401 challenges, with the algorithms offered for it.
struct ChallengeRealm {
	std::string realm;
	std::vector<Algorithm> algorithms;
};

// What every 401 offers, whatever the Request-URI user (no account
// enumeration): one realm per distinct user_host host of the active
// identities, lowest idx first, each with the configured algorithms,
// reduced to MD5 when one of that realm's identities has only an HA1
// (user_hash is MD5). An identity without user_host, or no active identity
// at all, stands for the Request-URI host when it is a valid host name or
// address, else for an empty realm.
std::vector<ChallengeRealm> challengeRealms(const Settings &settings, std::string_view uriHost);

// Settings under which some identity can never authenticate (an HA1-only
// identity where MD5 is not offered): one sentence each, for
// --check-config and the log.
std::vector<std::string> authWarnings(const Settings &settings);

// Whether the challenges of a 401 carry stale=true (see isStale()).
enum class StaleFlag : bool {
	Absent,
	Present,
};

// What a 401 may carry, in bytes of its WWW-Authenticate headers (each
// value plus kChallengeHeaderBytes): SIZE_MAX for all of them.
struct ChallengeBudget {
	std::size_t maxBytes = SIZE_MAX;
};

// "WWW-Authenticate: " and the CRLF that end each challenge's line.
inline constexpr std::size_t kChallengeHeaderBytes = 20;

// One WWW-Authenticate value ("Digest realm=..., nonce=..., ...") per realm
// and algorithm, realms in order, algorithms in preference order. Within a
// budget: every realm's most preferred algorithm first, then every realm's
// second, and so on, as many as fit (none when not even the first does),
// so that each realm keeps its preference order and as many realms as
// possible are offered what they prefer. Each carries
// qop="auth" (checksync_auth_qop auth), opaque and userhash=true
// (checksync_auth_userhash), charset=UTF-8 (a realm with a name or
// password that is not ASCII) and stale=true as asked.
std::vector<std::string> makeChallenges(const Settings &settings,
					const std::vector<ChallengeRealm> &realms,
					const AuthRequest &request, StaleFlag stale,
					NonceAuthority &nonces,
					const ChallengeBudget &budget = ChallengeBudget{});

// What verifyAuthorization() does with a right answer's nonce.
enum class NonceUse : bool {
	Mark,           // a new request: the nonce must be fresh, and is used up
	Retransmission, // one already served: neither, for its Authentication-Info
};

// Verify the Authorization headers of a request, in the stages of
// Kamailio's auth module: find our credentials, read the answer, check the
// nonce, check the digest. The answer's realm picks the identity: the
// active identity of that realm whose user_name is the Request-URI user
// (the lowest one of the realm without a user part). An unknown user never
// succeeds but costs the same work. Accepts username* (RFC 7616 3.4, UTF-8)
// and, where offered, userhash=true and the echoed opaque. With
// NonceUse::Mark, marks the nonce used when, and only when, the result is
// Ok.
AuthOutcome verifyAuthorization(const msg_auth_s *authorization, const Settings &settings,
				const std::vector<ChallengeRealm> &realms,
				const AuthRequest &request, const NonceAuthority &nonces,
				UsedNonces &used, NonceUse use = NonceUse::Mark);

// The Authentication-Info value of the 200 to a request that authenticated
// (RFC 7616 3.5): nextnonce, and with qop, rspauth, cnonce and nc.
std::string authenticationInfo(const AuthOutcome &outcome, std::string_view nextNonce);

} // namespace checksyncd
