// SPDX-License-Identifier: MIT

#include "auth/auth.hpp"

#include <openssl/crypto.h>
#include <sofia-sip/auth_digest.h>
#include <sofia-sip/hostdomain.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/su_string.h>
#include <sofia-sip/url.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>

#include "base/sofia.hpp"
#include "base/text.hpp"
#include "settings/settings_values.hpp"

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

namespace {

bool isAscii(std::string_view text)
{
	return std::all_of(text.begin(), text.end(),
			   [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// RFC 7616 3.3: charset=UTF-8 where a realm's user names or passwords are
// not ASCII, so that the client hashes them as UTF-8 (and may send the
// name as username*).
bool realmNeedsUtf8(const Settings &settings, const ChallengeRealm &realm, std::string_view uriHost)
{
	return std::any_of(
		settings.identities.begin(), settings.identities.end(), [&](const auto &entry) {
			const Identity &identity = entry.second;
			return identity.active && realmOf(identity, uriHost) == realm.realm &&
			       (!isAscii(identity.authUser()) || !isAscii(identity.pass));
		});
}

// The length of the challenge make() in makeChallenges() writes.
std::size_t challengeBytes(const Settings &settings, const ChallengeRealm &realm,
			   Algorithm algorithm, StaleFlag stale, std::string_view uriHost)
{
	std::size_t bytes = std::strlen("Digest realm=\"\", nonce=\"\", algorithm=") +
			    realm.realm.size() + kNonceLength + algorithmName(algorithm).size();
	if (settings.qop == QopPolicy::Auth)
		bytes += std::strlen(", qop=\"auth\"");
	if (settings.userhash)
		bytes += std::strlen(", opaque=\"\", userhash=true") + kOpaqueLength;
	if (realmNeedsUtf8(settings, realm, uriHost))
		bytes += std::strlen(", charset=UTF-8");
	if (stale == StaleFlag::Present)
		bytes += std::strlen(", stale=true");
	return bytes;
}

} // namespace

std::vector<std::string> makeChallenges(const Settings &settings,
					const std::vector<ChallengeRealm> &realms,
					const AuthRequest &request, StaleFlag stale,
					NonceAuthority &nonces, const ChallengeBudget &budget)
{
	const auto make = [&](const ChallengeRealm &realm, Algorithm algorithm) {
		std::string value = "Digest realm=\"";
		value.append(realm.realm);
		value.append("\", nonce=\"");
		value.append(nonces.issue(request.nowMs, algorithm, settings.qop, realm.realm,
					  request.sourceIp));
		value.append("\", algorithm=");
		value.append(algorithmName(algorithm));
		if (settings.qop == QopPolicy::Auth)
			value.append(", qop=\"auth\"");
		if (settings.userhash) {
			value.append(", opaque=\"");
			value.append(nonces.opaque(realm.realm));
			value.append("\", userhash=true");
		}
		if (realmNeedsUtf8(settings, realm, request.uriHost))
			value.append(", charset=UTF-8");
		if (stale == StaleFlag::Present)
			value.append(", stale=true");
		return value;
	};
	std::vector<std::string> challenges;
	if (budget.maxBytes == SIZE_MAX) {
		for (const ChallengeRealm &realm : realms)
			for (Algorithm algorithm : realm.algorithms)
				challenges.push_back(make(realm, algorithm));
		return challenges;
	}
	// The size of a challenge is known before its nonce is issued (a
	// nonce has a fixed length): one that does not fit costs nothing.
	std::size_t spent = 0;
	for (std::size_t rank = 0;; ++rank) {
		bool any = false;
		for (const ChallengeRealm &realm : realms) {
			if (rank >= realm.algorithms.size())
				continue;
			any = true;
			const std::size_t bytes = challengeBytes(settings, realm,
								 realm.algorithms[rank], stale,
								 request.uriHost) +
						  kChallengeHeaderBytes;
			if (spent + bytes > budget.maxBytes)
				return challenges;
			spent += bytes;
			challenges.push_back(make(realm, realm.algorithms[rank]));
		}
		if (!any)
			return challenges;
	}
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

namespace {

// Stage 1 (Kamailio's auth module calls it finding the credentials): the
// first Digest credentials for one of our realms, among at most a few
// headers.
struct Credentials {
	const msg_auth_t *header = nullptr;
	const ChallengeRealm *realm = nullptr;
};

AuthResult findCredentials(const msg_auth_t *authorization,
			   const std::vector<ChallengeRealm> &realms, Credentials &found)
{
	std::size_t headers = 0;
	for (const msg_auth_t *a = authorization; a; a = a->au_next) {
		if (++headers > 4)
			return AuthResult::Malformed;
		if (found.header || !a->au_scheme || !su_casematch(a->au_scheme, "Digest"))
			continue;
		for (const ChallengeRealm &r : realms) {
			if (realmMatches(a->au_params, r.realm)) {
				found = {a, &r};
				break;
			}
		}
	}
	return found.header ? AuthResult::Ok : AuthResult::NoCredentials;
}

// A parameter's value without the quotes a client may put around it.
std::string_view unquoted(std::string_view value)
{
	if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
		return value.substr(1, value.size() - 2);
	return value;
}

// RFC 8187's ext-value of username* (RFC 7616 3.4): "UTF-8'" [language]
// "'" and the name percent-encoded; only UTF-8, and the name must be
// valid UTF-8.
std::optional<std::string> decodeExtValue(std::string_view text)
{
	const std::size_t charsetEnd = text.find('\'');
	if (charsetEnd == std::string_view::npos ||
	    !equalsIgnoreCase(text.substr(0, charsetEnd), "UTF-8"))
		return std::nullopt;
	const std::size_t languageEnd = text.find('\'', charsetEnd + 1);
	if (languageEnd == std::string_view::npos)
		return std::nullopt;
	const auto hex = [](char c) -> int {
		if (c >= '0' && c <= '9')
			return c - '0';
		c = static_cast<char>(c | 0x20);
		return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
	};
	std::string name;
	for (std::size_t i = languageEnd + 1; i < text.size(); ++i) {
		const char c = text[i];
		if (c == '%') {
			if (i + 2 >= text.size() || hex(text[i + 1]) < 0 || hex(text[i + 2]) < 0)
				return std::nullopt;
			name.push_back(static_cast<char>(hex(text[i + 1]) << 4 | hex(text[i + 2])));
			i += 2;
		} else if (std::isalnum(static_cast<unsigned char>(c)) ||
			   std::string_view("!#$&+-.^_`|~").find(c) != std::string_view::npos) {
			name.push_back(c);
		} else {
			return std::nullopt;
		}
	}
	if (name.empty() || toValidUtf8(name, name.size()) != name)
		return std::nullopt;
	return name;
}

// Stage 2, reading the response: the answer's parameters, parsed by
// sofia-sip and checked against what the challenge offered.
struct Answer {
	auth_response_t ar{};
	std::string username; // username, or username* decoded
	bool userhash = false;
	Algorithm algorithm = Algorithm::Md5;
};

AuthResult readAnswer(su_home_t *home, const Credentials &credentials, const Settings &settings,
		      Answer &answer)
{
	const msg_param_t *params = credentials.header->au_params;
	if (!paramsWellFormed(params))
		return AuthResult::Malformed;
	auth_response_t &ar = answer.ar;
	ar.ar_size = sizeof(ar);
	if (auth_digest_response_get(home, &ar, params) < 0)
		return AuthResult::Malformed;
	// username* carries a name the quoted form cannot; never both.
	const char *extended = msg_params_find(params, "username*=");
	if (extended && ar.ar_username)
		return AuthResult::Malformed;
	if (extended) {
		std::optional<std::string> name = decodeExtValue(extended);
		if (!name)
			return AuthResult::Malformed;
		answer.username = std::move(*name);
	} else if (ar.ar_username) {
		answer.username = ar.ar_username;
	}
	if (answer.username.empty() || !ar.ar_nonce || !ar.ar_uri || !ar.ar_response)
		return AuthResult::Malformed;
	// userhash=true: the username is H(user ":" realm), only where the
	// challenge offered it and never with username* (RFC 7616 3.4.4).
	if (const char *hashed = msg_params_find(params, "userhash=")) {
		const std::string_view value = unquoted(hashed);
		if (!equalsIgnoreCase(value, "true") && !equalsIgnoreCase(value, "false"))
			return AuthResult::Malformed;
		answer.userhash = equalsIgnoreCase(value, "true");
		if (answer.userhash && (!settings.userhash || extended))
			return AuthResult::Malformed;
	}

	// Algorithm: absent means MD5 (RFC 2617); it must be one we offer.
	std::optional<Algorithm> algorithm = ar.ar_algorithm ? parseAlgorithm(ar.ar_algorithm)
							     : Algorithm::Md5;
	const std::vector<Algorithm> &offered = credentials.realm->algorithms;
	if (!algorithm || std::find(offered.begin(), offered.end(), *algorithm) == offered.end())
		return AuthResult::BadAlgorithm;
	answer.algorithm = *algorithm;
	if (!isHex(ar.ar_response, hexLength(*algorithm)))
		return AuthResult::Malformed;

	// qop: exactly what the nonce was issued with. The cnonce comes back
	// in Authentication-Info: no control character in it.
	if (settings.qop == QopPolicy::Auth) {
		if (!ar.ar_qop || std::strcmp(ar.ar_qop, "auth") != 0 || !ar.ar_nc ||
		    !isHex(ar.ar_nc, 8) || !ar.ar_cnonce || !*ar.ar_cnonce)
			return AuthResult::BadQop;
		if (std::any_of(ar.ar_cnonce, ar.ar_cnonce + std::strlen(ar.ar_cnonce), [](char c) {
			    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
		    }))
			return AuthResult::Malformed;
	} else if (ar.ar_qop) {
		return AuthResult::BadQop;
	}
	return AuthResult::Ok;
}

// Stage 3, checking the nonce: ours, for this realm and address, issued
// with the answer's algorithm and qop; and the opaque value echoed where
// the challenge offered one.
AuthResult checkNonce(const Answer &answer, const ChallengeRealm &realm, const Settings &settings,
		      const AuthRequest &request, const NonceAuthority &nonces, NonceFacts &facts,
		      bool &addressProven)
{
	std::optional<NonceFacts> nonce = nonces.verify(answer.ar.ar_nonce, realm.realm,
							request.sourceIp);
	if (!nonce)
		return AuthResult::BadNonce;
	addressProven = true;
	facts = *nonce;
	if (nonce->algorithm != answer.algorithm)
		return AuthResult::AlgorithmMismatch;
	if (nonce->qop != (settings.qop == QopPolicy::Auth))
		return AuthResult::BadQop;
	if (settings.userhash &&
	    (!answer.ar.ar_opaque || nonces.opaque(realm.realm) != answer.ar.ar_opaque))
		return AuthResult::Malformed;
	return AuthResult::Ok;
}

// Stage 4, checking the digest: the same work whether or not the identity
// exists and the username is right (no timing oracle); and, for a right
// one, the rspauth of Authentication-Info (RFC 7616 3.5: the digest over
// A2 = ":" digest-uri).
struct DigestCheck {
	bool known = false;
	bool userMatches = false;
	bool digestRight = false;
	std::string rspauth; // empty without qop
};

DigestCheck checkDigest(const Answer &answer, const Identity *identity, const ChallengeRealm &realm,
			const Settings &settings, const AuthRequest &request)
{
	DigestCheck check;
	const auth_response_t &ar = answer.ar;
	const Algorithm algorithm = answer.algorithm;
	check.known = identity && identity->hasCredentials();
	if (check.known) {
		const std::string &user = identity->authUser();
		check.userMatches = answer.userhash
					    ? hexEqualConstantTime(
						      hashHex(algorithm, user + ":" + realm.realm),
						      answer.username)
					    : user == answer.username;
	}
	std::string ha1;
	if (check.known && !identity->pass.empty())
		ha1 = computeHa1(algorithm, identity->authUser(), realm.realm, identity->pass);
	else if (check.known)
		ha1 = identity->hash; // MD5 only, see challengeRealms()
	else
		ha1 = computeHa1(algorithm, answer.username, realm.realm, "\x01no-such-identity");

	DigestInput input;
	input.method = request.method;
	input.uri = ar.ar_uri;
	input.nonce = ar.ar_nonce;
	if (settings.qop == QopPolicy::Auth) {
		input.qop = ar.ar_qop;
		input.nc = ar.ar_nc;
		input.cnonce = ar.ar_cnonce;
	}
	std::string expected = computeResponse(algorithm, ha1, input);
	check.digestRight = hexEqualConstantTime(expected, ar.ar_response);
	if (check.digestRight && check.known && check.userMatches && !input.qop.empty()) {
		input.method = "";
		check.rspauth = computeResponse(algorithm, ha1, input);
	}
	OPENSSL_cleanse(ha1.data(), ha1.size());
	return check;
}

} // namespace

AuthOutcome verifyAuthorization(const msg_auth_t *authorization, const Settings &settings,
				const std::vector<ChallengeRealm> &realms,
				const AuthRequest &request, const NonceAuthority &nonces,
				UsedNonces &used, NonceUse use)
{
	AuthOutcome outcome;
	Credentials credentials;
	outcome.result = findCredentials(authorization, realms, credentials);
	if (outcome.result != AuthResult::Ok)
		return outcome;
	const ChallengeRealm &realm = *credentials.realm;
	const Identity *identity = identityFor(settings, realm.realm, request);

	SuHome home;
	Answer answer;
	outcome.result = readAnswer(home.get(), credentials, settings, answer);
	outcome.username = answer.username;
	if (outcome.result != AuthResult::Ok)
		return outcome;

	NonceFacts nonce;
	outcome.result = checkNonce(answer, realm, settings, request, nonces, nonce,
				    outcome.addressProven);
	if (outcome.result != AuthResult::Ok)
		return outcome;

	// The uri must name the Request-URI (compared as SIP URIs).
	url_t *uri = url_make(home.get(), answer.ar.ar_uri);
	url_t *requestUri = url_make(home.get(), std::string(request.requestUri).c_str());
	if (!uri || !requestUri || url_cmp_all(uri, requestUri) != 0) {
		outcome.result = AuthResult::WrongUri;
		return outcome;
	}

	DigestCheck digest = checkDigest(answer, identity, realm, settings, request);
	if (!digest.known) {
		outcome.result = AuthResult::UnknownUser;
		return outcome;
	}
	if (!digest.userMatches) {
		outcome.result = AuthResult::WrongUser;
		return outcome;
	}
	if (!digest.digestRight) {
		outcome.result = AuthResult::WrongDigest;
		return outcome;
	}
	// A retransmission of an answer already served: its nonce is used
	// and may have aged; only its Authentication-Info is wanted.
	if (use == NonceUse::Mark) {
		if (nonce.expired(request.nowMs)) {
			outcome.result = AuthResult::Stale;
			return outcome;
		}
		const UsedNonces::Mark mark = used.markUsed(nonce.serial, nonces.newestSerial());
		if (mark != UsedNonces::Mark::Fresh) {
			outcome.result = AuthResult::Replayed;
			return outcome;
		}
	}
	outcome.result = AuthResult::Ok;
	outcome.identity = identity;
	outcome.realm = realm.realm;
	outcome.algorithm = answer.algorithm;
	outcome.rspauth = std::move(digest.rspauth);
	if (!outcome.rspauth.empty()) {
		outcome.nc = answer.ar.ar_nc;
		outcome.cnonce = answer.ar.ar_cnonce;
	}
	return outcome;
}

std::string authenticationInfo(const AuthOutcome &outcome, std::string_view nextNonce)
{
	std::string value = "nextnonce=\"";
	value.append(nextNonce);
	value.push_back('"');
	if (!outcome.rspauth.empty()) {
		value.append(", qop=auth, rspauth=\"");
		value.append(outcome.rspauth);
		value.append("\", cnonce=\"");
		for (char c : outcome.cnonce) {
			if (c == '"' || c == '\\')
				value.push_back('\\');
			value.push_back(c);
		}
		value.append("\", nc=");
		value.append(outcome.nc);
	}
	return value;
}

} // namespace checksyncd
