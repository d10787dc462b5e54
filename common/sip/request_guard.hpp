// SPDX-License-Identifier: MIT
//
// Every decision about a request, in one pure unit: which answer, which
// challenges, whether it is served and for which identity, whether it is a
// retransmission, whether a failure counts against its source, and what is
// worth a log line. It owns the state those decisions need (nonces, the
// used-nonce window, the brute-force table, the answers kept for
// retransmissions) and takes the clock as an argument. daemon/ only
// translates between sofia-sip and this unit, and does what the verdict
// says.

#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "auth/auth.hpp"
#include "auth/failure_table.hpp"
#include "auth/nonce.hpp"
#include "base/source_address.hpp"
#include "settings/settings.hpp"
#include "sip/checksync.hpp"
#include "sip/response_cache.hpp"
#include "sip/unproven.hpp"

extern "C" {
struct msg_auth_s;
struct sip_s;
}

namespace checksyncd {

// A request as far as the guard looks at it (sofia-sip parsed it).
struct GuardRequest {
	RequestFacts facts; // method, Event, the Request-URI's user part
	std::string_view uriHost;
	std::string_view requestUri; // the Request-URI as text
	const msg_auth_s *authorization = nullptr;
	const SourceAddress *source = nullptr;
	// What makes a retransmission the same request.
	std::string_view branch; // top Via branch, may be empty (RFC 2543)
	std::string_view callId;
	std::uint32_t cseq = 0;
	// The source filter refuses the source (checksync_untrusted refuse).
	bool refused = false;
	// The source filter names the source (a registrar, an outbound proxy,
	// a checksync_trusted address: SourceGate::names()): its answers are
	// checked even while the guess budget is spent.
	bool named = false;
	// The request's size, and the bytes its answer copies from it (Via,
	// From, To, Call-ID, CSeq, Record-Route, and what pinning the Via to
	// the source adds): what an answer to an unproven source is held to
	// (unproven.hpp). 0: unknown, no bound. copiedBytes is read only
	// while the source has not proven itself (proven()).
	std::size_t requestBytes = 0;
	std::size_t copiedBytes = 0;
	// Handed over by the phone's UA: the Call-ID of its REGISTER for the
	// identity whose flow carried the request (the hand-off context's
	// register_call_id); nullopt on the port or when the UA gave none.
	std::optional<std::string_view> registerCallId;
};

// The GuardRequest of a request sofia-sip parsed, with what nta checked
// before handing it over (a request line, a top Via and a CSeq). Its
// views point into `sip`, `source` and `requestUri` (the Request-URI's
// text, urlText(); only an answer's uri is compared with it, so the caller
// may leave it empty when there is no Authorization).
GuardRequest guardRequestOf(const sip_s *sip, const SourceAddress &source,
			    std::string_view requestUri);

// What is worth a log line beyond the answer itself.
enum class GuardEvent : unsigned char {
	None,
	AuthFailure,        // a counted failure: the fail2ban line
	CredentialsRefused, // refused, but nothing proves the address
	GuessBudgetSpent,   // first refusal of a window: answers not checked
	AnswersFull,        // first 503 of a window: authenticated answers at their bound
	Silenced,           // first answer of a window not sent to an unproven source
	NoPassword,         // data would be destroyed and no identity has a password
			    // (at most once a minute)
};

struct Verdict {
	// 0 with serve false: no answer at all (ACK). With serve true the
	// answer comes from the provisioning process's outcome.
	int status = 0;
	const char *phrase = "";
	bool serve = false;
	// A NOTIFY of an honoured event package (what the status object
	// counts as a check-sync), and whether its action was decided (the
	// settings in force and the Event header good).
	bool checkSync = false;
	bool actionDecided = false;
	Action action = Action::Reboot;
	RebootKind rebootKind = RebootKind::Unspecified; // a Reboot's details' `kind`
	// The identity: the Request-URI user's, and once authenticated the
	// one the answer's realm picked; 0 if none.
	unsigned identity = 0;
	bool authenticated = false;
	bool retransmission = false; // answered from the response cache
	// Not answered: the source has not proven itself and is over its rate,
	// or the answer would be more than twice the request (unproven.hpp).
	bool silenced = false;
	unsigned retryAfterS = 0;            // 0: no Retry-After
	bool allow = false;                  // carries Allow
	bool allowEvents = false;            // carries Allow-Events
	const char *accept = nullptr;        // an Accept value to carry (415)
	std::vector<std::string> challenges; // WWW-Authenticate values
	RequestKey key{};                    // the request's identity; toTagFor(key)
	GuardEvent event = GuardEvent::None;
	bool lockoutStarted = false; // this failure locked its source out
	AuthResult auth = AuthResult::NoCredentials;
	// The 200's Authentication-Info (RFC 7616 3.5), for an authenticated
	// request served; empty otherwise.
	std::string authenticationInfo;
	std::string authUser; // the answer's username (raw), for the log
};

// The record of a check-sync the guard serves (verdict.serve), read from
// sofia-sip's parse of it: from `source` (for one handed over by the UA,
// where the UA says it came from). Its texts are made safe here, once
// (CheckSyncFacts says how).
CheckSyncFacts checkSyncFactsOf(const sip_s *sip, const SourceAddress &source, bool handedOver,
				const Verdict &verdict);

class RequestGuard
{
public:
	// Answers kept for retransmissions (Timer J, 32 s) to requests that
	// did not authenticate: the newest push out the oldest.
	static constexpr std::size_t kPlainAnswers = 1024;
	// And to authenticated ones: 1 024 a second for Timer J, never pushed
	// out (docs/security.md, "Stateless answers and retransmissions").
	static constexpr std::size_t kAuthenticatedAnswers = 32'768;
	// Sources remembered for brute-force protection.
	static constexpr std::size_t kFailureTableCapacity = 1024;
	// Retry-After while no good settings are loaded.
	static constexpr unsigned kNoSettingsRetryAfterS = 10;

	RequestGuard(const NonceAuthority::Key &nonceKey, const RequestKeyer::Key &requestKey);

	// What makes a retransmission the same request (RFC 3261 17.2.3), as
	// a keyed hash: the key of decide()'s verdict.
	RequestKey keyOf(const GuardRequest &request) const;

	// settings: nullptr while no good settings were ever loaded.
	Verdict decide(const Settings *settings, const GuardRequest &request, std::uint64_t nowMs);

	// A served request was answered statelessly: its retransmissions get
	// the same answer for Timer J (32 s). decide() serves an authenticated
	// request only while there is room for its answer.
	void answeredAtOnce(const Verdict &verdict, int status, unsigned retryAfterS,
			    std::uint64_t nowMs);

	std::vector<Lockout> lockedOut(std::uint64_t nowMs) const
	{
		return failures_.lockedOut(nowMs);
	}
	bool unlock(std::string_view source, std::uint64_t nowMs)
	{
		return failures_.unlock(source, nowMs);
	}

	// The sources that authenticated (FailureTable): kept across a restart
	// by the daemon (common/auth/known_sources.hpp), let through by the kernel
	// while the daemon is overloaded (daemon/filter/socket_filter.hpp).
	bool isKnownSource(const SourcePrefix &source) const { return failures_.isKnown(source); }
	std::vector<SourcePrefix> authenticatedSources() const
	{
		return failures_.authenticatedSources();
	}
	void restoreKnownSources(std::span<const SourcePrefix> sources)
	{
		failures_.restoreKnownSources(sources);
	}
	std::uint64_t knownSourcesVersion() const { return failures_.knownSourcesVersion(); }

	// The settings object passed to decide() changed in place, or another
	// one may now live at its address: forget what was derived from it.
	void settingsChanged() { realmsFor_ = nullptr; }

	// Whether the request's source has proven it receives our answers at
	// its address: it came over a connection, or answered a challenge
	// with a nonce of ours for its address before.
	bool proven(const GuardRequest &request) const;

	// An upper bound of the heap all of the guard's tables can hold.
	std::size_t bytesBound() const;

private:
	Verdict answer(const Settings *settings, const GuardRequest &request, std::uint64_t nowMs);
	void challenge(const Settings &settings, const GuardRequest &request, std::uint64_t nowMs,
		       Verdict &verdict);
	// The bytes of this verdict's answer but its challenges, estimated
	// from the request (an upper bound, RFC 3261's header names).
	std::size_t answerBytesWithoutChallenges(const Settings *settings,
						 const GuardRequest &request,
						 const Verdict &verdict) const;
	void silence(Verdict &verdict, std::uint64_t nowMs);
	// The Authentication-Info of an authenticated request's 200: a new
	// nextnonce for its source, and rspauth.
	std::string authenticationInfoFor(const Settings &settings, const GuardRequest &request,
					  const AuthOutcome &outcome, std::uint64_t nowMs);
	// challengeRealms(), kept while the settings stay the same and do not
	// depend on the Request-URI host.
	const std::vector<ChallengeRealm> &realmsFor(const Settings &settings,
						     std::string_view uriHost);

	NonceAuthority nonces_;
	UsedNonces used_;
	FailureTable failures_;
	ResponseCache answers_;
	ProvenSources proven_;
	AnswerRateLimit unprovenRate_;
	RequestKeyer keyer_;
	const Settings *realmsFor_ = nullptr;
	bool realmsUseUriHost_ = false;
	std::vector<ChallengeRealm> realms_;
	std::uint64_t budgetLoggedMs_ = 0;
	bool budgetLogged_ = false;
	std::uint64_t fullLoggedMs_ = 0;
	bool fullLogged_ = false;
	std::uint64_t silencedLoggedMs_ = 0;
	bool silencedLogged_ = false;
	std::uint64_t noPasswordLoggedMs_ = 0;
	bool noPasswordLogged_ = false;
};

} // namespace checksyncd
