// SPDX-License-Identifier: MIT

#include "auth.hpp"

#include <openssl/crypto.h>
#include <sofia-sip/auth_digest.h>
#include <sofia-sip/hostdomain.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/su_string.h>
#include <sofia-sip/url.h>

#include <algorithm>
#include <cstring>

#include "settings_values.hpp"
#include "sofia.hpp"

namespace checksyncd {

namespace {

// Refuse header values a real client never sends.
constexpr std::size_t kMaxParams = 16;
constexpr std::size_t kMaxParamLength = 512;

std::string_view nameOf(std::string_view param)
{
	return param.substr(0, param.find('='));
}

// Well-formed Digest parameters: a bounded count, bounded lengths and no
// name given twice (sofia-sip would silently take the first).
bool paramsWellFormed(const msg_param_t *params)
{
	if (!params)
		return false;
	std::size_t count = 0;
	for (; params[count]; count++) {
		std::string_view param(params[count]);
		if (count >= kMaxParams || param.size() > kMaxParamLength)
			return false;
		std::string_view name = nameOf(param);
		for (std::size_t j = 0; j < count; j++) {
			std::string_view other = nameOf(params[j]);
			if (other.size() == name.size() &&
			    su_casenmatch(other.data(), name.data(), name.size()))
				return false;
		}
	}
	return count > 0;
}

bool realmMatches(const msg_param_t *params, std::string_view realm)
{
	const char *value = msg_params_find(params, "realm=");
	if (!value)
		return false;
	// auth_strcmp compares a quoted value against an unquoted one.
	return auth_strcmp(value, std::string(realm).c_str()) == 0;
}

} // namespace

std::string_view authReason(AuthResult result)
{
	switch (result) {
	case AuthResult::Ok:
		return "ok";
	case AuthResult::NoCredentials:
		return "no-credentials";
	case AuthResult::Malformed:
		return "malformed";
	case AuthResult::UnknownUser:
		return "unknown-user";
	case AuthResult::WrongUser:
		return "wrong-username";
	case AuthResult::WrongUri:
		return "wrong-uri";
	case AuthResult::BadAlgorithm:
		return "bad-algorithm";
	case AuthResult::BadQop:
		return "bad-qop";
	case AuthResult::BadNonce:
		return "bad-nonce";
	case AuthResult::AlgorithmMismatch:
		return "algorithm-mismatch";
	case AuthResult::WrongDigest:
		return "wrong-digest";
	case AuthResult::Stale:
		return "stale-nonce";
	case AuthResult::Replayed:
		return "replayed-nonce";
	}
	return "unknown";
}

bool isAuthFailure(AuthResult result)
{
	switch (result) {
	case AuthResult::Ok:
	case AuthResult::NoCredentials:
	case AuthResult::Stale:
	case AuthResult::Replayed:
		// The digest was right: the sender knows the password (a PBX
		// retransmitting, or answering a nonce that aged).
		return false;
	default:
		return true;
	}
}

namespace {

// The sender's text goes into the quoted realm of the 401: only a host
// name or address, never a '"' or '\\' that would break the header.
std::string validHost(std::string_view uriHost)
{
	std::string host(uriHost);
	return host_is_valid(host.c_str()) ? host : std::string();
}

// An identity's realm: its user_host's host part, or, without one, the
// Request-URI host (when valid).
std::string realmOf(const Identity &identity, std::string_view uriHost)
{
	std::string realm = identity.realm();
	return realm.empty() ? validHost(uriHost) : realm;
}

} // namespace

std::vector<ChallengeRealm> challengeRealms(const Settings &settings, std::string_view uriHost)
{
	std::vector<ChallengeRealm> realms;
	bool md5Offered = std::find(settings.algorithms.begin(), settings.algorithms.end(),
				    Algorithm::Md5) != settings.algorithms.end();
	for (const auto &[idx, identity] : settings.identities) {
		if (!identity.active)
			continue;
		std::string realm = realmOf(identity, uriHost);
		auto it = std::find_if(realms.begin(), realms.end(),
				       [&](const ChallengeRealm &r) { return r.realm == realm; });
		if (it == realms.end()) {
			realms.push_back({realm, settings.algorithms});
			it = realms.end() - 1;
		}
		// An HA1 answers MD5 only: offer the realm what all its
		// identities can answer, when MD5 is configured at all.
		if (identity.pass.empty() && !identity.hash.empty() && md5Offered)
			it->algorithms = {Algorithm::Md5};
	}
	if (realms.empty())
		realms.push_back({validHost(uriHost), settings.algorithms});
	return realms;
}

std::vector<std::string> authWarnings(const Settings &settings)
{
	std::vector<std::string> warnings;
	bool md5Offered = std::find(settings.algorithms.begin(), settings.algorithms.end(),
				    Algorithm::Md5) != settings.algorithms.end();
	for (const auto &[idx, identity] : settings.identities) {
		if (!identity.active || !identity.pass.empty() || identity.hash.empty())
			continue;
		if (!md5Offered) {
			warnings.push_back(
				"identity " + std::to_string(idx) +
				" has only user_hash (MD5) and checksync_auth_algorithms "
				"offers no MD5: it can never authenticate");
			continue;
		}
		if (settings.algorithms.size() > 1)
			warnings.push_back("identity " + std::to_string(idx) +
					   " has only user_hash (MD5): its realm \"" +
					   identity.realm() + "\" is offered MD5 only");
	}
	// checksync_action reregister and sync destroy nothing; the two that
	// do are served only to a digest (checksync.hpp, destroysData()).
	if (settings.action == ForcedAction::FactoryReset ||
	    settings.action == ForcedAction::DeleteContacts) {
		const std::string action(choiceText(kActionChoices, settings.action));
		for (const auto &[idx, identity] : settings.identities) {
			if (identity.active && !identity.hasCredentials())
				warnings.push_back(
					"identity " + std::to_string(idx) +
					" has neither user_pass nor user_hash: checksync_action " +
					action +
					" destroys data, is served only to a request that "
					"authenticated with digest, and so is refused (403) for "
					"it");
		}
	}
	return warnings;
}

std::vector<std::string> makeChallenges(const Settings &settings,
					const std::vector<ChallengeRealm> &realms,
					const AuthRequest &request, StaleFlag stale,
					NonceAuthority &nonces)
{
	std::vector<std::string> challenges;
	for (const ChallengeRealm &realm : realms) {
		for (Algorithm algorithm : realm.algorithms) {
			std::string value = "Digest realm=\"";
			value.append(realm.realm);
			value.append("\", nonce=\"");
			value.append(nonces.issue(request.nowMs, algorithm, settings.qop,
						  realm.realm, request.sourceIp));
			value.append("\", algorithm=");
			value.append(algorithmName(algorithm));
			if (settings.qop == QopPolicy::Auth)
				value.append(", qop=\"auth\"");
			if (stale == StaleFlag::Present)
				value.append(", stale=true");
			challenges.push_back(std::move(value));
		}
	}
	return challenges;
}

namespace {

// The identity an answer for `realm` is for: the Request-URI user's in that
// realm, or the realm's lowest active identity without a user part.
const Identity *identityFor(const Settings &settings, std::string_view realm,
			    const AuthRequest &request)
{
	for (const auto &[idx, identity] : settings.identities) {
		if (!identity.active || realmOf(identity, request.uriHost) != realm)
			continue;
		if (!request.uriHasUser || identity.name == request.uriUser)
			return &identity;
	}
	return nullptr;
}

} // namespace

AuthOutcome verifyAuthorization(const msg_auth_t *authorization, const Settings &settings,
				const std::vector<ChallengeRealm> &realms,
				const AuthRequest &request, const NonceAuthority &nonces,
				UsedNonces &used)
{
	AuthOutcome outcome;

	// The first Digest credentials for one of our realms, among at most a
	// few headers.
	const msg_auth_t *ours = nullptr;
	const ChallengeRealm *realm = nullptr;
	std::size_t headers = 0;
	for (const msg_auth_t *a = authorization; a; a = a->au_next) {
		if (++headers > 4) {
			outcome.result = AuthResult::Malformed;
			return outcome;
		}
		if (ours || !a->au_scheme || !su_casematch(a->au_scheme, "Digest"))
			continue;
		for (const ChallengeRealm &r : realms) {
			if (realmMatches(a->au_params, r.realm)) {
				ours = a;
				realm = &r;
				break;
			}
		}
	}
	if (!ours)
		return outcome; // NoCredentials
	const Identity *identity = identityFor(settings, realm->realm, request);

	if (!paramsWellFormed(ours->au_params)) {
		outcome.result = AuthResult::Malformed;
		return outcome;
	}

	SuHome home;
	auth_response_t ar[1] = {};
	ar->ar_size = sizeof(ar);
	if (auth_digest_response_get(home.get(), ar, ours->au_params) < 0) {
		outcome.result = AuthResult::Malformed;
		return outcome;
	}
	if (ar->ar_username)
		outcome.username = ar->ar_username;
	if (!ar->ar_username || !ar->ar_nonce || !ar->ar_uri || !ar->ar_response) {
		outcome.result = AuthResult::Malformed;
		return outcome;
	}

	// Algorithm: absent means MD5 (RFC 2617); it must be one we offer.
	std::optional<Algorithm> algorithm = ar->ar_algorithm ? parseAlgorithm(ar->ar_algorithm)
							      : Algorithm::Md5;
	const std::vector<Algorithm> &offered = realm->algorithms;
	if (!algorithm || std::find(offered.begin(), offered.end(), *algorithm) == offered.end()) {
		outcome.result = AuthResult::BadAlgorithm;
		return outcome;
	}
	if (!isHex(ar->ar_response, hexLength(*algorithm))) {
		outcome.result = AuthResult::Malformed;
		return outcome;
	}

	// qop: exactly what the nonce was issued with.
	bool qopOffered = settings.qop == QopPolicy::Auth;
	if (qopOffered) {
		if (!ar->ar_qop || std::strcmp(ar->ar_qop, "auth") != 0 || !ar->ar_nc ||
		    !isHex(ar->ar_nc, 8) || !ar->ar_cnonce || !*ar->ar_cnonce) {
			outcome.result = AuthResult::BadQop;
			return outcome;
		}
	} else if (ar->ar_qop) {
		outcome.result = AuthResult::BadQop;
		return outcome;
	}

	std::optional<NonceFacts> nonce = nonces.verify(ar->ar_nonce, realm->realm,
							request.sourceIp);
	if (!nonce) {
		outcome.result = AuthResult::BadNonce;
		return outcome;
	}
	outcome.addressProven = true;
	if (nonce->algorithm != *algorithm) {
		outcome.result = AuthResult::AlgorithmMismatch;
		return outcome;
	}
	if (nonce->qop != qopOffered) {
		outcome.result = AuthResult::BadQop;
		return outcome;
	}

	// The uri must name the Request-URI (compared as SIP URIs).
	url_t *uri = url_make(home.get(), ar->ar_uri);
	url_t *requestUri = url_make(home.get(), std::string(request.requestUri).c_str());
	if (!uri || !requestUri || url_cmp_all(uri, requestUri) != 0) {
		outcome.result = AuthResult::WrongUri;
		return outcome;
	}

	// From here on the same work is done whether or not the identity
	// exists and the username is right: no timing oracle.
	bool known = identity && identity->hasCredentials();
	bool userMatches = known && identity->authUser() == ar->ar_username;
	std::string ha1;
	if (known && !identity->pass.empty())
		ha1 = computeHa1(*algorithm, identity->authUser(), realm->realm, identity->pass);
	else if (known)
		ha1 = identity->hash; // MD5 only, see challengeRealms()
	else
		ha1 = computeHa1(*algorithm, ar->ar_username, realm->realm, "\x01no-such-identity");

	DigestInput input;
	input.method = request.method;
	input.uri = ar->ar_uri;
	input.nonce = ar->ar_nonce;
	if (qopOffered) {
		input.qop = ar->ar_qop;
		input.nc = ar->ar_nc;
		input.cnonce = ar->ar_cnonce;
	}
	std::string expected = computeResponse(*algorithm, ha1, input);
	bool digestRight = hexEqualConstantTime(expected, ar->ar_response);
	OPENSSL_cleanse(ha1.data(), ha1.size());

	if (!known) {
		outcome.result = AuthResult::UnknownUser;
		return outcome;
	}
	if (!userMatches) {
		outcome.result = AuthResult::WrongUser;
		return outcome;
	}
	if (!digestRight) {
		outcome.result = AuthResult::WrongDigest;
		return outcome;
	}
	if (nonce->expired(request.nowMs)) {
		outcome.result = AuthResult::Stale;
		return outcome;
	}
	switch (used.markUsed(nonce->serial, nonces.newestSerial())) {
	case UsedNonces::Mark::Fresh:
		outcome.result = AuthResult::Ok;
		outcome.identity = identity;
		break;
	case UsedNonces::Mark::AlreadyUsed:
	case UsedNonces::Mark::OutOfWindow:
		outcome.result = AuthResult::Replayed;
		break;
	}
	return outcome;
}

} // namespace checksyncd
