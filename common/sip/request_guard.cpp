// SPDX-License-Identifier: MIT

#include "sip/request_guard.hpp"

#include <sofia-sip/sip.h>
#include <sofia-sip/sip_status.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "base/retry_after.hpp"
#include "base/sofia.hpp"
#include "base/text.hpp"

namespace checksyncd {

namespace {

// The answer to a service-control body that is refused.
std::pair<int, const char *> bodyAnswer(BodyProblem problem)
{
	switch (problem) {
	case BodyProblem::None:
	case BodyProblem::Malformed:
		break;
	case BodyProblem::NotTextPlain:
		return {SIP_415_UNSUPPORTED_MEDIA};
	case BodyProblem::TooLarge:
		return {SIP_413_REQUEST_TOO_LARGE};
	case BodyProblem::DuplicateKey:
		return {400, "Duplicate service-control key"};
	case BodyProblem::MissingAction:
		return {400, "Missing service-control action"};
	case BodyProblem::UnknownAction:
		return {400, "Unknown service-control action"};
	}
	return {400, "Bad service-control body"};
}

// A service-control NOTIFY handed over by the UA whose RegisterCallId is
// not the Call-ID of the UA's REGISTER: a Cisco phone answers it 400, and
// so does checksyncd. On the port (registerCallId nullopt) the digest
// decides alone.
bool registerCallIdDiffers(const GuardRequest &request)
{
	const EventInfo &event = request.facts.event;
	return request.registerCallId && event.package == EventPackage::ServiceControl &&
	       event.serviceControl.registerCallId != request.registerCallId;
}

} // namespace

RequestGuard::RequestGuard(const NonceAuthority::Key &nonceKey, const RequestKeyer::Key &requestKey)
	: nonces_(nonceKey), failures_(kFailureTableCapacity),
	  answers_(kPlainAnswers, kAuthenticatedAnswers), keyer_(requestKey)
{
}

std::size_t RequestGuard::bytesBound() const
{
	return used_.bytes() + failures_.bytesBound() + answers_.bytesBound() +
	       proven_.bytesBound() + unprovenRate_.bytesBound();
}

GuardRequest guardRequestOf(const sip_s *sip, const SourceAddress &source,
			    std::string_view requestUri)
{
	GuardRequest request;
	request.facts = requestFactsOf(sip);
	request.uriHost = orEmpty(sip->sip_request->rq_url->url_host);
	request.requestUri = requestUri;
	request.authorization = sip->sip_authorization;
	request.source = &source;
	request.branch = orEmpty(sip->sip_via->v_branch);
	request.callId = callIdOf(sip);
	request.cseq = sip->sip_cseq->cs_seq;
	return request;
}

CheckSyncFacts checkSyncFactsOf(const sip_s *sip, const SourceAddress &source, bool handedOver,
				const Verdict &verdict)
{
	constexpr std::size_t bound = CheckSyncFacts::kMaxDetailBytes;
	CheckSyncFacts facts;
	facts.remote = source.remote;
	facts.transport = source.transport;
	facts.handedOver = handedOver;
	const std::string_view callId = callIdOf(sip);
	facts.callId = toValidUtf8(callId, bound);
	if (facts.callId != callId)
		facts.receivedCallId = callId;
	std::string event = headerValue(reinterpret_cast<const sip_header_t *>(sip->sip_event));
	facts.event = toValidUtf8(event, bound);
	if (facts.event != event)
		facts.receivedEvent = std::move(event);
	facts.userAgent = toValidUtf8(
		sip->sip_user_agent ? orEmpty(sip->sip_user_agent->g_string) : "", bound);
	facts.user = printable(orEmpty(sip->sip_request->rq_url->url_user));
	facts.action = verdict.action;
	facts.rebootKind = verdict.rebootKind;
	facts.identity = verdict.identity;
	facts.authenticated = verdict.authenticated;
	return facts;
}

namespace {

AuthRequest authRequestOf(const GuardRequest &request, std::uint64_t nowMs)
{
	AuthRequest auth;
	auth.method = request.facts.method;
	auth.requestUri = request.requestUri;
	auth.uriHasUser = request.facts.uriHasUser;
	auth.uriUser = request.facts.uriUser;
	auth.uriHost = request.uriHost;
	auth.sourceIp = request.source->ip;
	auth.nowMs = nowMs;
	return auth;
}

} // namespace

RequestKey RequestGuard::keyOf(const GuardRequest &request) const
{
	return keyer_.key(request.source->remote, request.branch, request.callId, request.cseq,
			  request.facts.method);
}

bool RequestGuard::proven(const GuardRequest &request) const
{
	// A source that authenticated before a restart returned a nonce of
	// ours from its address then (failure_table.hpp keeps it).
	return isConnection(request.source->transport) || proven_.proven(request.source->prefix) ||
	       failures_.isKnown(request.source->prefix);
}

std::size_t RequestGuard::answerBytesWithoutChallenges(const Settings *settings,
						       const GuardRequest &request,
						       const Verdict &verdict) const
{
	// "SIP/2.0 401 Unauthorized" CRLF; the copies as the answer writes
	// them; ";tag=" and 16 hex digits; "Server: checksyncd",
	// "Content-Length: 0" and the empty line.
	std::size_t bytes = std::strlen("SIP/2.0 000 \r\n") + std::strlen(verdict.phrase) +
			    request.copiedBytes + 21 + std::strlen("Server: checksyncd\r\n") +
			    std::strlen("Content-Length: 0\r\n\r\n");
	if (verdict.allow)
		bytes += std::strlen("Allow: NOTIFY, OPTIONS\r\n");
	if (verdict.allowEvents)
		bytes += std::strlen("Allow-Events: \r\n") + allowEvents(settings).size();
	if (verdict.retryAfterS)
		bytes += std::strlen("Retry-After: 4294967295\r\n");
	if (verdict.accept)
		bytes += std::strlen("Accept: \r\n") + std::strlen(verdict.accept);
	return bytes;
}

void RequestGuard::silence(Verdict &verdict, std::uint64_t nowMs)
{
	verdict.status = 0;
	verdict.phrase = "";
	verdict.silenced = true;
	verdict.challenges.clear();
	if (verdict.event == GuardEvent::None &&
	    (!silencedLogged_ || nowMs - silencedLoggedMs_ >= FailureTable::kWindowMs)) {
		silencedLogged_ = true;
		silencedLoggedMs_ = nowMs;
		verdict.event = GuardEvent::Silenced;
	}
}

Verdict RequestGuard::decide(const Settings *settings, const GuardRequest &request,
			     std::uint64_t nowMs)
{
	Verdict verdict = answer(settings, request, nowMs);
	// Amplification (unproven.hpp): a source that has not proven itself
	// gets an answer no bigger than twice its request, and its 4xx and
	// 5xx answers at a bounded rate. A 401 was held to both as it was
	// made (challenge()); what is served, or a retransmission's answer,
	// went to a request that was accepted, and is not held back.
	if (!verdict.status || verdict.serve || verdict.retransmission || verdict.status == 401 ||
	    proven(request))
		return verdict;
	if (answerBytesWithoutChallenges(settings, request, verdict) >
		    unprovenAnswerBound(request.requestBytes) ||
	    (verdict.status >= 300 && !unprovenRate_.allow(request.source->address, nowMs)))
		silence(verdict, nowMs);
	return verdict;
}

Verdict RequestGuard::answer(const Settings *settings, const GuardRequest &request,
			     std::uint64_t nowMs)
{
	Verdict verdict;
	Plan plan = planRequest(settings, request.facts);
	if (plan.answer == Answer::Ignore)
		return verdict;
	verdict.checkSync = request.facts.method == "NOTIFY" &&
			    request.facts.event.kind == EventInfo::Kind::Known;
	verdict.actionDecided = plan.answer == Answer::Serve || plan.answer == Answer::Challenge ||
				plan.answer == Answer::NotFound ||
				plan.answer == Answer::NoPassword;
	verdict.action = plan.action;
	verdict.rebootKind = plan.rebootKind;
	verdict.identity = plan.identity ? plan.identity->idx : 0;

	// Every answer below is final and carries the To tag made from this
	// key, so a retransmission gets the same tag.
	verdict.key = keyOf(request);

	auto answer = [&](int status, const char *phrase) {
		verdict.status = status;
		verdict.phrase = phrase;
		return verdict;
	};
	// The source filter refuses the source: 403, before anything else.
	if (request.refused)
		return answer(SIP_403_FORBIDDEN);
	switch (plan.answer) {
	case Answer::Ignore:
		return verdict;
	case Answer::Options:
		verdict.allow = verdict.allowEvents = true;
		return answer(SIP_200_OK);
	case Answer::MethodNotAllowed:
		verdict.allow = true;
		return answer(SIP_405_METHOD_NOT_ALLOWED);
	case Answer::MissingEvent:
		return answer(400, "Missing Event header");
	case Answer::BadEvent:
		verdict.allowEvents = true;
		return answer(SIP_489_BAD_EVENT);
	case Answer::BadRebootValue:
		return answer(400, "Bad reboot parameter");
	case Answer::BadBody: {
		const BodyProblem problem = request.facts.event.serviceControl.problem;
		if (problem == BodyProblem::NotTextPlain)
			verdict.accept = "text/plain"; // RFC 3261 21.4.13
		const auto [status, phrase] = bodyAnswer(problem);
		return answer(status, phrase);
	}
	case Answer::NoSettings:
		verdict.retryAfterS = kNoSettingsRetryAfterS;
		return answer(SIP_503_SERVICE_UNAVAILABLE);
	case Answer::NotFound:
	case Answer::NoPassword:
	case Answer::Serve:
	case Answer::Challenge:
		break;
	}

	if (registerCallIdDiffers(request))
		return answer(400, "RegisterCallId does not match");
	if (plan.answer == Answer::NotFound)
		return answer(SIP_404_NOT_FOUND);
	if (plan.answer == Answer::NoPassword) {
		// A settings mistake, not an attack: worth a line, but a flood of
		// such requests must not become a flood of lines.
		if (!noPasswordLogged_ || nowMs - noPasswordLoggedMs_ >= FailureTable::kWindowMs) {
			noPasswordLogged_ = true;
			noPasswordLoggedMs_ = nowMs;
			verdict.event = GuardEvent::NoPassword;
		}
		return answer(SIP_403_FORBIDDEN);
	}

	// A retransmission of a check-sync that was answered statelessly gets
	// the same answer again, and nothing else happens.
	if (std::optional<CachedAnswer> cached = answers_.lookup(verdict.key, nowMs)) {
		verdict.retransmission = true;
		verdict.retryAfterS = cached->retryAfterS;
		// Its Authentication-Info again: rspauth is the same, the
		// nextnonce a fresh one for the same source.
		if (cached->authenticated && cached->status / 100 == 2 && request.authorization) {
			verdict.authenticated = true;
			const AuthOutcome again = verifyAuthorization(
				request.authorization, *settings,
				realmsFor(*settings, request.uriHost),
				authRequestOf(request, nowMs), nonces_, used_,
				NonceUse::Retransmission);
			if (again.result == AuthResult::Ok)
				verdict.authenticationInfo = authenticationInfoFor(
					*settings, request, again, nowMs);
		}
		return answer(cached->status, sip_status_phrase(cached->status));
	}

	if (plan.answer == Answer::Serve) {
		verdict.serve = true;
		return verdict;
	}
	challenge(*settings, request, nowMs, verdict);
	return verdict;
}

std::string RequestGuard::authenticationInfoFor(const Settings &settings,
						const GuardRequest &request,
						const AuthOutcome &outcome, std::uint64_t nowMs)
{
	return authenticationInfo(outcome, nonces_.issue(nowMs, outcome.algorithm, settings.qop,
							 outcome.realm, request.source->ip));
}

void RequestGuard::challenge(const Settings &settings, const GuardRequest &request,
			     std::uint64_t nowMs, Verdict &verdict)
{
	const SourcePrefix &prefix = request.source->prefix;

	// Brute force: a source that failed too often is refused for a while.
	if (failures_.locked(prefix, nowMs)) {
		verdict.status = 403;
		verdict.phrase = sip_403_Forbidden;
		return;
	}
	// Guessing from many sources at once: past the budget, only a source
	// that authenticated before, or one the source filter names, has its
	// answer checked.
	if (request.authorization && !request.named && !failures_.mayGuess(prefix, nowMs)) {
		std::uint64_t retryMs = failures_.budgetRetryAfterMs(nowMs);
		verdict.status = 503;
		verdict.phrase = sip_503_Service_unavailable;
		verdict.retryAfterS = retryAfterSeconds(retryMs);
		if (!budgetLogged_ || nowMs - budgetLoggedMs_ >= FailureTable::kWindowMs) {
			budgetLogged_ = true;
			budgetLoggedMs_ = nowMs;
			verdict.event = GuardEvent::GuessBudgetSpent;
		}
		return;
	}

	const std::vector<ChallengeRealm> &realms = realmsFor(settings, request.uriHost);
	const AuthRequest auth = authRequestOf(request, nowMs);
	AuthOutcome outcome = verifyAuthorization(request.authorization, settings, realms, auth,
						  nonces_, used_);
	verdict.auth = outcome.result;
	verdict.authUser = std::move(outcome.username);
	// A nonce of ours for this address came back: the source receives
	// what is sent there, and gets full answers from now on.
	if (outcome.addressProven)
		proven_.prove(prefix);

	if (outcome.result == AuthResult::Ok) {
		failures_.recordSuccess(prefix, nowMs);
		// Its answer must be kept for its retransmissions: past the
		// table's bound (more than 1 024 a second for 32 s), 503 until
		// the oldest answer expires, and no state held for it.
		if (!answers_.hasRoomForAuthenticated(nowMs)) {
			const std::uint64_t roomMs = answers_.authenticatedRoomAtMs(nowMs) - nowMs;
			verdict.status = 503;
			verdict.phrase = sip_503_Service_unavailable;
			verdict.retryAfterS = retryAfterSeconds(roomMs);
			verdict.authenticated = true;
			if (!fullLogged_ || nowMs - fullLoggedMs_ >= FailureTable::kWindowMs) {
				fullLogged_ = true;
				fullLoggedMs_ = nowMs;
				verdict.event = GuardEvent::AnswersFull;
			}
			return;
		}
		verdict.serve = true;
		verdict.authenticated = true;
		verdict.identity = outcome.identity ? outcome.identity->idx : 0;
		verdict.authenticationInfo = authenticationInfoFor(settings, request, outcome,
								   nowMs);
		return;
	}
	if (isAuthFailure(outcome.result)) {
		if (outcome.addressProven) {
			verdict.event = GuardEvent::AuthFailure;
			verdict.lockoutStarted = failures_.recordFailure(prefix, nowMs);
		} else {
			// Without a nonce of ours for this address the source may be
			// spoofed: refuse, but hold nothing against the address.
			verdict.event = GuardEvent::CredentialsRefused;
		}
	}
	const StaleFlag stale = isStale(outcome.result) ? StaleFlag::Present : StaleFlag::Absent;
	verdict.status = 401;
	verdict.phrase = sip_401_Unauthorized;
	// An unproven source: within its rate, and as many challenges as keep
	// the answer within twice the request; none fitting, no answer.
	ChallengeBudget budget;
	if (!proven(request)) {
		if (!unprovenRate_.allow(request.source->address, nowMs)) {
			silence(verdict, nowMs);
			return;
		}
		const std::size_t bound = unprovenAnswerBound(request.requestBytes);
		const std::size_t base = answerBytesWithoutChallenges(&settings, request, verdict);
		if (bound != SIZE_MAX)
			budget.maxBytes = bound > base ? bound - base : 0;
	}
	verdict.challenges = makeChallenges(settings, realms, auth, stale, nonces_, budget);
	if (verdict.challenges.empty())
		silence(verdict, nowMs);
}

const std::vector<ChallengeRealm> &RequestGuard::realmsFor(const Settings &settings,
							   std::string_view uriHost)
{
	if (realmsFor_ == &settings && !realmsUseUriHost_)
		return realms_;
	realms_ = challengeRealms(settings, uriHost);
	realmsFor_ = &settings;
	realmsUseUriHost_ = std::none_of(settings.identities.begin(), settings.identities.end(),
					 [](const auto &entry) { return entry.second.active; }) ||
			    std::any_of(settings.identities.begin(), settings.identities.end(),
					[](const auto &entry) {
						return entry.second.active &&
						       entry.second.realm().empty();
					});
	return realms_;
}

void RequestGuard::answeredAtOnce(const Verdict &verdict, int status, unsigned retryAfterS,
				  std::uint64_t nowMs)
{
	const ResponseCache::Sender sender = verdict.authenticated
						     ? ResponseCache::Sender::Authenticated
						     : ResponseCache::Sender::Unauthenticated;
	answers_.remember(verdict.key, sender, status, retryAfterS, nowMs);
}

} // namespace checksyncd
