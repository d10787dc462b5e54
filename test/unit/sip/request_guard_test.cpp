// SPDX-License-Identifier: MIT
//
// The request guard: every decision about a request, with the clock passed
// in. Each test is one finding of the security review (docs/security.md).

#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>

#include <string>
#include <vector>

#include "auth/known_sources.hpp"
#include "base/sofia.hpp"
#include "base/text.hpp"
#include "sip/request_guard.hpp"

#include "support/sip_text.hpp"
#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;
using checksyncd::test::quotedParam;

namespace {

constexpr const char *kRealm = "ser.berlin.snom.com";

} // namespace

TEST_GROUP(RequestGuard)
{
	SuHome home;
	Settings settings;
	RequestGuard guard{NonceAuthority::Key{7}, RequestKeyer::Key{8}};
	RequestGuard *deciding = &guard; // the one send() asks
	SourceAddress pbx = *SourceAddress::fromText("192.0.2.1", 5060);
	std::uint64_t now = 100'000;
	int branch = 0;

	void setup() override
	{
		Identity one;
		one.idx = 1;
		one.name = "340899";
		one.host = kRealm;
		one.pass = "1234";
		settings.identities[1] = one;
		settings.challengeChecksync = true;
	}

	struct Sent {
		std::string user = "340899";
		std::string uri = "sip:340899@192.0.2.9";
		std::string callId = "call@pbx";
		std::string branch;
		std::string authorization; // header value, may be empty
		const SourceAddress *source = nullptr;
		std::string event = "check-sync;reboot=false";
		bool named = false;           // the source filter names the source
		std::size_t requestBytes = 0; // 0: size unknown
		std::size_t copiedBytes = 0;
	};

	Sent notify(const SourceAddress &source, std::string user = "340899")
	{
		Sent s;
		s.user = user;
		s.uri = "sip:" + user + "@192.0.2.9";
		s.branch = "z9hG4bK." + std::to_string(++branch);
		s.source = &source;
		return s;
	}

	Verdict send(const Sent &s)
	{
		sip_event_t *event = sip_event_make(home.get(), s.event.c_str());
		GuardRequest request;
		request.facts.method = "NOTIFY";
		request.facts.event = classifyEvent(event);
		request.facts.uriHasUser = !s.user.empty();
		request.facts.uriUser = s.user;
		request.uriHost = "192.0.2.9";
		request.requestUri = s.uri;
		request.authorization = s.authorization.empty()
						? nullptr
						: sip_authorization_make(home.get(),
									 s.authorization.c_str());
		request.source = s.source;
		request.branch = s.branch;
		request.callId = s.callId;
		request.cseq = 1;
		request.named = s.named;
		request.requestBytes = s.requestBytes;
		request.copiedBytes = s.copiedBytes;
		return deciding->decide(&settings, request, now);
	}

	// An answer to `challenge` with `password`.
	std::string answer(const Sent &s, const std::string &challenge,
			   const std::string &password = "1234",
			   const std::string &username = "340899")
	{
		std::string realm = quotedParam(challenge, "realm");
		std::string nonce = quotedParam(challenge, "nonce");
		std::string ha1 = computeHa1(Algorithm::Md5, username, realm, password);
		DigestInput in;
		in.method = "NOTIFY";
		in.uri = s.uri;
		in.nonce = nonce;
		in.qop = "auth";
		in.nc = "00000001";
		in.cnonce = "abc";
		std::string response = computeResponse(Algorithm::Md5, ha1, in);
		return "Digest username=\"" + username + "\", realm=\"" + realm + "\", nonce=\"" +
		       nonce + "\", uri=\"" + s.uri + "\", response=\"" + response +
		       "\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"abc\"";
	}

	// A challenged NOTIFY answered with `password`: the verdict of the
	// answer (same Call-ID, new branch as a client sends it).
	Verdict authenticate(const SourceAddress &source, const std::string &password = "1234",
			     std::string user = "340899", std::size_t challengeIndex = 0,
			     bool named = false)
	{
		Sent first = notify(source, user);
		first.named = named;
		return authenticate(first, password, challengeIndex);
	}

	// `first` challenged, then sent again answering the challenge.
	Verdict authenticate(const Sent &first, const std::string &password = "1234",
			     std::size_t challengeIndex = 0)
	{
		Verdict challenge = send(first);
		LONGS_EQUAL(401, challenge.status);
		Sent second = notify(*first.source, first.user);
		second.event = first.event;
		second.authorization = answer(second, challenge.challenges.at(challengeIndex),
					      password);
		second.named = first.named;
		return send(second);
	}

	// Four sources, five wrong answers each: the guess budget spent, each
	// of them locked out.
	void spendTheGuessBudget()
	{
		for (int i = 0; i < 4; i++) {
			SourceAddress s = *SourceAddress::fromText(
				"203.0.113." + std::to_string(i + 1), 5060);
			for (int j = 0; j < 5; j++)
				LONGS_EQUAL(401, authenticate(s, "guess").status);
		}
	}
};

TEST(RequestGuard, guardRequestOfReadsAParsedRequestAsTheDaemonHandsItOver)
{
	const UniqueMsg msg = parseDatagram(
		"NOTIFY sip:340899@192.0.2.9:5060 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK.b1\r\n"
		"From: <sip:pbx@192.0.2.1>;tag=1\r\n"
		"To: <sip:340899@192.0.2.9>\r\n"
		"Call-ID: c1@192.0.2.1\r\n"
		"CSeq: 7 NOTIFY\r\n"
		"Event: check-sync;reboot=true\r\n"
		"Authorization: Digest username=\"340899\", realm=\"r\"\r\n"
		"Content-Length: 0\r\n\r\n",
		8192);
	CHECK_TRUE(msg);
	const sip_t *sip = sip_object(msg.get());
	const std::string uri = urlText(msg_home(msg.get()), sip->sip_request->rq_url);
	STRCMP_EQUAL("sip:340899@192.0.2.9:5060", uri.c_str());

	const GuardRequest request = guardRequestOf(sip, pbx, uri);
	STRCMP_EQUAL("NOTIFY", std::string(request.facts.method).c_str());
	CHECK_EQUAL(EventInfo::Kind::Known, request.facts.event.kind);
	CHECK_TRUE(request.facts.event.reboot.value_or(false));
	CHECK_TRUE(request.facts.uriHasUser);
	STRCMP_EQUAL("340899", std::string(request.facts.uriUser).c_str());
	STRCMP_EQUAL("192.0.2.9", std::string(request.uriHost).c_str());
	STRCMP_EQUAL(uri.c_str(), std::string(request.requestUri).c_str());
	CHECK_TRUE(request.authorization == sip->sip_authorization);
	CHECK_TRUE(request.source == &pbx);
	STRCMP_EQUAL("z9hG4bK.b1", std::string(request.branch).c_str());
	STRCMP_EQUAL("c1@192.0.2.1", std::string(request.callId).c_str());
	CHECK_EQUAL(7u, request.cseq);
	CHECK_FALSE(request.refused); // the source filter's, set by the caller

	// Without a Call-ID or a user part: empty, never null.
	const UniqueMsg bare = parseDatagram("OPTIONS sip:192.0.2.9 SIP/2.0\r\n"
					     "Via: SIP/2.0/UDP 192.0.2.1:5060\r\n"
					     "CSeq: 1 OPTIONS\r\n\r\n",
					     8192);
	CHECK_TRUE(bare);
	const GuardRequest options = guardRequestOf(sip_object(bare.get()), pbx, "");
	CHECK_FALSE(options.facts.uriHasUser);
	CHECK_TRUE(options.facts.uriUser.empty());
	CHECK_TRUE(options.branch.empty());
	CHECK_TRUE(options.callId.empty());
	CHECK_TRUE(options.authorization == nullptr);
}

TEST(RequestGuard, checkSyncFactsOfMakesEachTextSafeForWhereItGoes)
{
	// A Call-ID with a byte that starts no UTF-8 character and longer than
	// D-Bus is given, a User-Agent with a Latin-1 byte, a user part longer
	// than a log line quotes: what a PBX or a forger may send.
	const std::string longId = "\xff" + std::string(300, 'c') + "@pbx";
	const std::string longUser(80, 'u');
	const UniqueMsg msg = parseDatagram(
		"NOTIFY sip:" + longUser +
			"@192.0.2.9 SIP/2.0\r\n"
			"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK.f1\r\n"
			"From: <sip:pbx@192.0.2.1>;tag=1\r\n"
			"To: <sip:340899@192.0.2.9>\r\n"
			"Call-ID: " +
			longId +
			"\r\n"
			"CSeq: 7 NOTIFY\r\n"
			"Event: check-sync;reboot=true\r\n"
			"User-Agent: PBX \xe9t\xe9\r\n"
			"Content-Length: 0\r\n\r\n",
		8192);
	CHECK_TRUE(msg);
	const sip_t *sip = sip_object(msg.get());
	STRCMP_EQUAL(longId.c_str(), std::string(callIdOf(sip)).c_str()); // as sent
	Verdict verdict;
	verdict.serve = true;
	verdict.action = Action::Reboot;
	verdict.rebootKind = RebootKind::Soft;
	verdict.identity = 1;
	verdict.authenticated = true;

	const CheckSyncFacts facts = checkSyncFactsOf(sip, pbx, true, verdict);
	STRCMP_EQUAL("udp:192.0.2.1:5060", facts.remote.c_str());
	CHECK_EQUAL(Transport::Udp, facts.transport);
	CHECK_TRUE(facts.handedOver);
	// For D-Bus: valid UTF-8, cut to 256 bytes.
	STRCMP_EQUAL(toValidUtf8(longId, 256).c_str(), facts.callId.c_str());
	CHECK_EQUAL(256u, facts.callId.size());
	STRCMP_EQUAL("\xef\xbf\xbd", facts.callId.substr(0, 3).c_str()); // U+FFFD
	STRCMP_EQUAL("check-sync;reboot=true", facts.event.c_str());
	STRCMP_EQUAL("PBX \xef\xbf\xbdt\xef\xbf\xbd", facts.userAgent.c_str());
	// For the status object: what was received, where it differs.
	STRCMP_EQUAL(longId.c_str(), std::string(facts.callIdAsReceived()).c_str());
	CHECK_TRUE(facts.receivedEvent.empty()); // the same text: not kept twice
	STRCMP_EQUAL("check-sync;reboot=true", std::string(facts.eventAsReceived()).c_str());
	// For the log line: printable().
	STRCMP_EQUAL(printable(orEmpty(sip->sip_request->rq_url->url_user)).c_str(),
		     facts.user.c_str());
	STRCMP_EQUAL((std::string(64, 'u') + "...").c_str(), facts.user.c_str());
	CHECK_EQUAL(Action::Reboot, facts.action);
	CHECK_EQUAL(RebootKind::Soft, facts.rebootKind);
	CHECK_EQUAL(1u, facts.identity);
	CHECK_TRUE(facts.authenticated);

	// An ordinary Call-ID is kept once.
	const UniqueMsg plain = parseDatagram(
		"NOTIFY sip:340899@192.0.2.9 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK.f2\r\n"
		"From: <sip:pbx@192.0.2.1>;tag=1\r\n"
		"To: <sip:340899@192.0.2.9>\r\n"
		"Call-ID: c1@192.0.2.1\r\n"
		"CSeq: 8 NOTIFY\r\n"
		"Event: check-sync\r\n"
		"Content-Length: 0\r\n\r\n",
		8192);
	CHECK_TRUE(plain);
	const CheckSyncFacts ordinary = checkSyncFactsOf(sip_object(plain.get()), pbx, false,
							 verdict);
	STRCMP_EQUAL("c1@192.0.2.1", ordinary.callId.c_str());
	CHECK_TRUE(ordinary.receivedCallId.empty());
	STRCMP_EQUAL("c1@192.0.2.1", std::string(ordinary.callIdAsReceived()).c_str());
	CHECK_TRUE(ordinary.userAgent.empty());
	STRCMP_EQUAL("340899", ordinary.user.c_str());
	CHECK_FALSE(ordinary.handedOver);
}

TEST(RequestGuard, servesAValidAnswerAndChallengesEverythingElse)
{
	Verdict v = authenticate(pbx);
	CHECK_TRUE(v.serve);
	CHECK_TRUE(v.authenticated);
	LONGS_EQUAL(1, v.identity);
	CHECK_EQUAL(Action::Resync, v.action);
	v = authenticate(pbx, "wrong");
	CHECK_FALSE(v.serve);
	LONGS_EQUAL(401, v.status);
	CHECK_EQUAL(GuardEvent::AuthFailure, v.event);
}

TEST(RequestGuard, aRetransmissionGetsTheSameAnswerWhateverHappenedInBetween)
{
	// Finding 5: an answered-at-once authenticated check-sync, then a
	// flood of other served check-syncs, then the PBX's retransmission.
	Sent first = notify(pbx);
	Verdict challenge = send(first);
	Sent served = notify(pbx);
	served.authorization = answer(served, challenge.challenges[0]);
	Verdict ok = send(served);
	CHECK_TRUE(ok.serve);
	guard.answeredAtOnce(ok, 200, 0, now);

	settings.challengeChecksync = false;
	SourceAddress stranger = *SourceAddress::fromText("203.0.113.5", 5060);
	for (int i = 0; i < 5000; i++) {
		Sent s = notify(stranger);
		Verdict v = send(s);
		CHECK_TRUE(v.serve);
		guard.answeredAtOnce(v, 200, 0, now);
	}
	settings.challengeChecksync = true;

	now += 31'000; // still inside Timer J
	Verdict again = send(served);
	CHECK_TRUE(again.retransmission);
	LONGS_EQUAL(200, again.status);
	CHECK_FALSE(again.serve);
	CHECK_TRUE(again.key == ok.key);
}

TEST(RequestGuard, aUsedNonceWithARightDigestIsStaleAndNeverLocksOut)
{
	// Finding 5: even with no cached answer, a PBX repeating its own
	// right answer is told stale, never counted.
	Sent first = notify(pbx);
	Verdict challenge = send(first);
	Sent served = notify(pbx);
	served.authorization = answer(served, challenge.challenges[0]);
	CHECK_TRUE(send(served).serve); // served in a transaction: not cached
	for (int i = 0; i < 20; i++) {
		Sent replay = served;
		replay.branch = "z9hG4bK.replay" + std::to_string(i);
		Verdict v = send(replay);
		LONGS_EQUAL(401, v.status);
		CHECK_TRUE(v.challenges[0].ends_with("stale=true"));
		CHECK_EQUAL(GuardEvent::None, v.event);
	}
	CHECK_TRUE(authenticate(pbx).serve); // not locked out
}

TEST(RequestGuard, ipv6SourcesAreCountedPerSlash64)
{
	// Finding 6: five wrong answers from five addresses of one /64 lock
	// the whole /64 out.
	std::vector<SourceAddress> hosts;
	for (int i = 1; i <= 6; i++)
		hosts.push_back(
			*SourceAddress::fromText("2001:db8:1:2::" + std::to_string(i), 5060));
	for (int i = 0; i < 5; i++)
		CHECK_EQUAL(GuardEvent::AuthFailure,
			    authenticate(hosts[static_cast<std::size_t>(i)], "guess").event);
	Sent next = notify(hosts[5]);
	LONGS_EQUAL(403, send(next).status);
	SourceAddress otherNet = *SourceAddress::fromText("2001:db8:1:3::1", 5060);
	LONGS_EQUAL(401, send(notify(otherNet)).status);
}

TEST(RequestGuard, manySourcesTogetherGetOnlyTheGuessBudgetButAKnownPbxIsServed)
{
	// Finding 6: a /48 or a botnet, each source under its own limit.
	CHECK_TRUE(authenticate(pbx).serve); // the PBX authenticated before
	unsigned checked = 0;
	unsigned refused = 0;
	for (int net = 0; net < 50; net++) {
		SourceAddress s = *SourceAddress::fromText(
			"2001:db8:1:" + std::to_string(net) + "::1", 5060);
		for (int i = 0; i < 4; i++) {
			// Within the rate unproven sources are answered at (one
			// /48 here, two answers each: unproven.hpp), and all
			// inside the budget's minute.
			now += 250;
			Verdict v = authenticate(s, "guess");
			if (v.status == 401)
				checked++;
			else if (v.status == 503)
				refused++;
		}
	}
	LONGS_EQUAL(FailureTable::kGuessBudget, checked);
	LONGS_EQUAL(200 - FailureTable::kGuessBudget, refused);
	CHECK_TRUE(authenticate(pbx).serve);
	// A newcomer that never authenticated waits for the budget.
	SourceAddress newcomer = *SourceAddress::fromText("198.51.100.7", 5060);
	Verdict v = authenticate(newcomer);
	LONGS_EQUAL(503, v.status);
	CHECK_TRUE(v.retryAfterS > 0 && v.retryAfterS <= 60);
	now += FailureTable::kWindowMs;
	CHECK_TRUE(authenticate(newcomer).serve);
}

TEST(RequestGuard, aSourceTheFilterNamesIsOutsideTheGuessBudget)
{
	// Four attackers spend the budget; the PBX never authenticated in this
	// run (the phone has just rebooted).
	spendTheGuessBudget();
	LONGS_EQUAL(503, authenticate(pbx).status);
	// The same PBX, named by the source filter (its registrar's address):
	// its answer is checked, and it is served.
	Verdict named = authenticate(pbx, "1234", "340899", 0, true);
	CHECK_TRUE(named.serve);
	CHECK_TRUE(named.authenticated);
	// Named is not a pass: a wrong answer from it is still a failure.
	SourceAddress other = *SourceAddress::fromText("192.0.2.2", 5060);
	Verdict wrong = authenticate(other, "guess", "340899", 0, true);
	LONGS_EQUAL(401, wrong.status);
	CHECK_EQUAL(GuardEvent::AuthFailure, wrong.event);
}

TEST(RequestGuard, aSourceThatAuthenticatedBeforeARestartIsServedWithTheBudgetSpent)
{
	CHECK_TRUE(authenticate(pbx).serve);
	// The restart: a new guard (new keys), given what the last one knew
	// as the state file keeps it.
	const std::string saved = KnownSourcesFile::write(guard.authenticatedSources());
	RequestGuard restarted{NonceAuthority::Key{9}, RequestKeyer::Key{10}};
	auto read = KnownSourcesFile::read(saved);
	restarted.restoreKnownSources(std::get<std::vector<SourcePrefix>>(read));
	CHECK_TRUE(restarted.isKnownSource(pbx.prefix));
	deciding = &restarted;
	spendTheGuessBudget();
	LONGS_EQUAL(503, authenticate(*SourceAddress::fromText("198.51.100.7", 5060)).status);
	CHECK_TRUE(authenticate(pbx).serve);
}

TEST(RequestGuard, aNonceIssuedBeforeAReloadTakesTheNewPasswordOnly)
{
	// The 401 went out under the old settings; the password changes before
	// the answer comes (a reload racing the check-sync).
	Sent first = notify(pbx);
	Verdict challenge = send(first);
	LONGS_EQUAL(401, challenge.status);
	Settings reloaded = settings;
	reloaded.identities[1].pass = "5678";
	settings = reloaded; // in place, at the same address, as a test can
	guard.settingsChanged();

	Sent old = notify(pbx);
	old.authorization = answer(old, challenge.challenges[0], "1234");
	Verdict refused = send(old);
	LONGS_EQUAL(401, refused.status);
	CHECK_EQUAL(AuthResult::WrongDigest, refused.auth);
	CHECK_EQUAL(GuardEvent::AuthFailure, refused.event);
	// The nonce itself is still good, for the password in force.
	Sent fresh = notify(pbx);
	fresh.authorization = answer(fresh, challenge.challenges[0], "5678");
	Verdict served = send(fresh);
	CHECK_TRUE(served.serve);
	CHECK_TRUE(served.authenticated);
}

TEST(RequestGuard, aReloadThatDropsARealmOrAnAlgorithmRefusesAnswersToTheOldNonces)
{
	Verdict challenge = send(notify(pbx));
	LONGS_EQUAL(401, challenge.status);
	STRCMP_EQUAL(kRealm, quotedParam(challenge.challenges[0], "realm").c_str());

	// MD5 no longer offered: the MD5 nonce's answer is refused, however
	// right, and the realm cache follows the new settings.
	settings.algorithms = {Algorithm::Sha256};
	guard.settingsChanged();
	Sent md5 = notify(pbx);
	md5.authorization = answer(md5, challenge.challenges[0]);
	Verdict refused = send(md5);
	LONGS_EQUAL(401, refused.status);
	CHECK_EQUAL(AuthResult::BadAlgorithm, refused.auth);
	LONGS_EQUAL(1, refused.challenges.size());
	CHECK_TRUE(refused.challenges[0].find("algorithm=SHA-256") != std::string::npos);

	// Another realm: the old realm's answer is no credentials of ours.
	settings.algorithms = {Algorithm::Md5};
	settings.identities[1].host = "pbx.example.net";
	guard.settingsChanged();
	Sent other = notify(pbx);
	other.authorization = answer(other, challenge.challenges[0]);
	Verdict again = send(other);
	LONGS_EQUAL(401, again.status);
	CHECK_EQUAL(AuthResult::NoCredentials, again.auth);
	STRCMP_EQUAL("pbx.example.net", quotedParam(again.challenges[0], "realm").c_str());
}

TEST(RequestGuard, anInactiveIdentityAfterAReloadNeverAuthenticates)
{
	Verdict challenge = send(notify(pbx));
	settings.identities[1].active = false;
	guard.settingsChanged();
	Sent late = notify(pbx);
	late.authorization = answer(late, challenge.challenges[0]);
	Verdict refused = send(late);
	CHECK_FALSE(refused.serve);
	LONGS_EQUAL(401, refused.status);
}

TEST(RequestGuard, theRealmOfTheAnswerPicksTheIdentityOfTwoPbxs)
{
	// Finding 7: one user name on two identities, two PBXs.
	settings.identities[1].host = "a.example.net";
	Identity two = settings.identities[1];
	two.idx = 2;
	two.host = "b.example.net";
	two.pass = "5678";
	settings.identities[2] = two;

	Verdict challenge = send(notify(pbx));
	LONGS_EQUAL(2, challenge.challenges.size());
	STRCMP_EQUAL("a.example.net", quotedParam(challenge.challenges[0], "realm").c_str());
	STRCMP_EQUAL("b.example.net", quotedParam(challenge.challenges[1], "realm").c_str());

	Verdict second = authenticate(pbx, "5678", "340899", 1);
	CHECK_TRUE(second.serve);
	LONGS_EQUAL(2, second.identity);
	Verdict first = authenticate(pbx, "1234", "340899", 0);
	CHECK_TRUE(first.serve);
	LONGS_EQUAL(1, first.identity);
	// The second PBX's password does not open the first realm.
	CHECK_EQUAL(GuardEvent::AuthFailure, authenticate(pbx, "5678", "340899", 0).event);
}

TEST(RequestGuard, the401IsTheSameForEveryUserButTheNonces)
{
	// Finding 8: no user oracle, also with an HA1-only identity.
	Identity two;
	two.idx = 2;
	two.name = "hashonly";
	two.host = "b.example.net";
	two.hash = computeHa1(Algorithm::Md5, "hashonly", "b.example.net", "x");
	settings.identities[2] = two;
	settings.algorithms = {Algorithm::Sha256, Algorithm::Md5};

	auto shape = [](const Verdict &v) {
		std::vector<std::string> out;
		for (const std::string &c : v.challenges) {
			std::string nonce = quotedParam(c, "nonce");
			std::string masked = c;
			masked.replace(masked.find(nonce), nonce.size(), "N");
			out.push_back(masked);
		}
		return out;
	};
	Verdict known = send(notify(pbx, "340899"));
	Verdict hashOnly = send(notify(pbx, "hashonly"));
	Verdict unknown = send(notify(pbx, "nobody"));
	Verdict noUser = send(notify(pbx, ""));
	LONGS_EQUAL(3, known.challenges.size());
	CHECK(shape(known) == shape(hashOnly));
	CHECK(shape(known) == shape(unknown));
	CHECK(shape(known) == shape(noUser));
	CHECK_FALSE(quotedParam(known.challenges[0], "nonce") ==
		    quotedParam(unknown.challenges[0], "nonce"));
}

TEST(RequestGuard, noCeilingOnAuthenticatedCheckSyncs)
{
	// Finding 11: far more than 4096 authenticated check-syncs inside 30 s
	// are all served; none gets a 503.
	for (int i = 0; i < 6000; i++) {
		Verdict v = authenticate(pbx);
		CHECK_TRUE(v.serve);
		now += 1;
	}
}

TEST(RequestGuard, aNoncePushedOutOfTheWindowIsStaleNotA503)
{
	Sent first = notify(pbx);
	Verdict challenge = send(first);
	// A flood of challenges moves the window past the PBX's nonce (from a
	// source that proved itself: others get 401s only at a bounded rate).
	SourceAddress flood = *SourceAddress::fromText("203.0.113.1", 5060, Transport::Tcp);
	for (std::uint32_t i = 0; i < UsedNonces::kDefaultSize; i++)
		send(notify(flood));
	Sent late = notify(pbx);
	late.authorization = answer(late, challenge.challenges[0]);
	Verdict v = send(late);
	LONGS_EQUAL(401, v.status);
	CHECK_TRUE(v.challenges[0].ends_with("stale=true"));
	CHECK_EQUAL(GuardEvent::None, v.event);
}

TEST(RequestGuard, aFloodOfHugeCallIdsCostsAFixedFewHundredKilobytes)
{
	// Finding 2: the cache holds fixed-size entries whatever the Call-ID.
	settings.challengeChecksync = false;
	std::size_t bound = guard.bytesBound();
	std::string huge(60'000, 'c');
	for (int i = 0; i < 1100; i++) {
		Sent s = notify(pbx);
		s.callId = huge + std::to_string(i);
		Verdict v = send(s);
		CHECK_TRUE(v.serve);
		guard.answeredAtOnce(v, 200, 0, now);
	}
	CHECK_TRUE(guard.bytesBound() <= bound);
	// The answers kept for Timer J: 1 MiB for 32 768 authenticated ones,
	// 32 KiB for the others; the rest of the guard's tables below 200 KiB.
	CHECK_TRUE(bound < 1536 * 1024);
}

TEST(RequestGuard, pastTheBoundOfAuthenticatedAnswersA503WithRetryAfterHoldsNoState)
{
	// Authenticated check-syncs at more than 1 024 a second for Timer J:
	// every one answered is kept, none is pushed out, and the next ones
	// wait (503) until the oldest answer expires.
	const std::uint64_t start = now;
	Sent first;
	for (std::size_t i = 0; i < RequestGuard::kAuthenticatedAnswers; i++) {
		Verdict ok = authenticate(pbx);
		CHECK_TRUE(ok.serve);
		guard.answeredAtOnce(ok, 200, 0, now);
		if (i == 0)
			first.branch = "z9hG4bK." + std::to_string(branch);
		if (i % 1024 == 1023 && i + 1 < RequestGuard::kAuthenticatedAnswers)
			now += 1000; // 31 s in all
	}
	const std::size_t bytes = guard.bytesBound();
	Verdict full = authenticate(pbx);
	LONGS_EQUAL(503, full.status);
	CHECK_FALSE(full.serve);
	CHECK_TRUE(full.authenticated);
	// The first answer expires 32 s after it was given.
	LONGS_EQUAL((start + ResponseCache::kLifetimeMs - now + 999) / 1000, full.retryAfterS);
	CHECK_EQUAL(GuardEvent::AnswersFull, full.event);
	// Said once a minute, not per request.
	CHECK_EQUAL(GuardEvent::None, authenticate(pbx).event);
	LONGS_EQUAL(bytes, guard.bytesBound());
	// The first answer is still there for its retransmission.
	Sent again = notify(pbx);
	again.branch = first.branch;
	// (its branch names it; its Authorization does not take part)
	now = start + ResponseCache::kLifetimeMs - 1;
	Verdict retransmitted = send(again);
	CHECK_TRUE(retransmitted.retransmission);
	LONGS_EQUAL(200, retransmitted.status);
	// Once it expired, there is room again.
	now = start + ResponseCache::kLifetimeMs;
	CHECK_TRUE(authenticate(pbx).serve);
}

TEST(RequestGuard, theKeyAndSoTheToTagAreStablePerRequest)
{
	settings.challengeChecksync = false;
	Sent s = notify(pbx);
	Verdict a = send(s);
	Verdict b = send(s);
	CHECK_TRUE(a.key == b.key);
	s.branch = "z9hG4bK.other";
	CHECK_FALSE(send(s).key == a.key);
	// RFC 2543: no branch at all is still a stable key.
	s.branch.clear();
	CHECK_TRUE(send(s).key == send(s).key);
}

TEST(RequestGuard, answersTheTableOfTheDesignWithoutState)
{
	settings.challengeChecksync = false;
	GuardRequest request;
	request.source = &pbx;
	request.facts.method = "OPTIONS";
	Verdict v = guard.decide(&settings, request, now);
	LONGS_EQUAL(200, v.status);
	CHECK_TRUE(v.allow && v.allowEvents);
	request.facts.method = "MESSAGE";
	v = guard.decide(&settings, request, now);
	LONGS_EQUAL(405, v.status);
	request.facts.method = "ACK";
	v = guard.decide(&settings, request, now);
	LONGS_EQUAL(0, v.status);
	CHECK_FALSE(v.serve);
	request.facts.method = "NOTIFY";
	v = guard.decide(&settings, request, now);
	LONGS_EQUAL(400, v.status);
	request.facts.event.kind = EventInfo::Kind::Known;
	v = guard.decide(nullptr, request, now);
	LONGS_EQUAL(503, v.status);
	LONGS_EQUAL(RequestGuard::kNoSettingsRetryAfterS, v.retryAfterS);
}

TEST(RequestGuard, unlockLiftsALockout)
{
	for (int i = 0; i < 5; i++)
		authenticate(pbx, "wrong");
	LONGS_EQUAL(403, send(notify(pbx)).status);
	LONGS_EQUAL(1, guard.lockedOut(now).size());
	CHECK_TRUE(guard.unlock("192.0.2.1", now));
	CHECK_TRUE(authenticate(pbx).serve);
}

TEST(RequestGuard, aSourceTheFilterRefusesGets403BeforeAnythingElse)
{
	Sent s = notify(pbx);
	sip_event_t *event = sip_event_make(home.get(), "check-sync;reboot=false");
	GuardRequest request;
	request.facts.method = "NOTIFY";
	request.facts.event = classifyEvent(event);
	request.facts.uriHasUser = true;
	request.facts.uriUser = s.user;
	request.uriHost = "192.0.2.9";
	request.requestUri = s.uri;
	request.source = s.source;
	request.branch = s.branch;
	request.callId = s.callId;
	request.cseq = 1;
	request.refused = true;
	// Not challenged, not served, no settings needed: 403 with a To tag key.
	Verdict verdict = guard.decide(&settings, request, now);
	LONGS_EQUAL(403, verdict.status);
	CHECK_FALSE(verdict.serve);
	CHECK_TRUE(verdict.challenges.empty());
	CHECK_EQUAL(GuardEvent::None, verdict.event);
	CHECK_TRUE(verdict.key == guard.decide(&settings, request, now).key);
	LONGS_EQUAL(403, guard.decide(nullptr, request, now).status);
	// An ACK still gets nothing.
	request.facts.method = "ACK";
	LONGS_EQUAL(0, guard.decide(&settings, request, now).status);
	// Not refused: the usual challenge.
	request.facts.method = "NOTIFY";
	request.refused = false;
	LONGS_EQUAL(401, guard.decide(&settings, request, now).status);
}

// What destroys data, and Cisco service-control (docs/security.md)

TEST(RequestGuard, aFactoryResetIsServedOnlyToADigestEvenWithTheChallengeOff)
{
	settings.challengeChecksync = false;
	settings.action = ForcedAction::FactoryReset;
	Verdict v = send(notify(pbx));
	LONGS_EQUAL(401, v.status);
	CHECK_FALSE(v.serve);
	CHECK_TRUE(v.actionDecided);
	CHECK_EQUAL(Action::FactoryReset, v.action);
	CHECK_FALSE(v.challenges.empty());
	v = authenticate(pbx);
	CHECK_TRUE(v.serve);
	CHECK_TRUE(v.authenticated);
	LONGS_EQUAL(1, v.identity);
	CHECK_EQUAL(Action::FactoryReset, v.action);
	// A wrong password is a counted failure, as for any challenge.
	v = authenticate(pbx, "wrong");
	LONGS_EQUAL(401, v.status);
	CHECK_EQUAL(GuardEvent::AuthFailure, v.event);
}

TEST(RequestGuard, deleteContactsIsServedOnlyToADigestToo)
{
	settings.challengeChecksync = false;
	settings.action = ForcedAction::DeleteContacts;
	LONGS_EQUAL(401, send(notify(pbx)).status);
	const Verdict v = authenticate(pbx);
	CHECK_TRUE(v.serve);
	CHECK_EQUAL(Action::DeleteContacts, v.action);
	// Reregister destroys nothing: served as asked, the challenge off.
	settings.action = ForcedAction::Reregister;
	const Verdict plain = send(notify(pbx));
	CHECK_TRUE(plain.serve);
	CHECK_FALSE(plain.authenticated);
	CHECK_EQUAL(Action::Reregister, plain.action);
}

TEST(RequestGuard, withoutAPasswordAFactoryResetIs403AndSaidOnceAMinute)
{
	for (bool challenge : {false, true}) {
		RequestGuard fresh{NonceAuthority::Key{7}, RequestKeyer::Key{8}};
		settings.challengeChecksync = challenge;
		settings.action = ForcedAction::FactoryReset;
		settings.identities[1].pass.clear();
		GuardRequest request;
		request.facts.method = "NOTIFY";
		request.facts.event = classifyEvent(sip_event_make(home.get(), "check-sync"));
		request.facts.uriHasUser = true;
		request.facts.uriUser = "340899";
		request.source = &pbx;
		Verdict v = fresh.decide(&settings, request, now);
		LONGS_EQUAL(403, v.status);
		CHECK_FALSE(v.serve);
		CHECK_TRUE(v.challenges.empty());
		CHECK_EQUAL(Action::FactoryReset, v.action);
		LONGS_EQUAL(1, v.identity);
		CHECK_EQUAL(GuardEvent::NoPassword, v.event);
		// The next ones inside the minute: the same 403, no line.
		v = fresh.decide(&settings, request, now + 59'999);
		LONGS_EQUAL(403, v.status);
		CHECK_EQUAL(GuardEvent::None, v.event);
		v = fresh.decide(&settings, request, now + 60'000);
		CHECK_EQUAL(GuardEvent::NoPassword, v.event);
		// An answer with credentials changes nothing: none can be right.
		request.authorization = sip_authorization_make(
			home.get(), "Digest username=\"340899\", realm=\"ser.berlin.snom.com\", "
				    "nonce=\"x\", uri=\"sip:340899@192.0.2.9\", response=\"0\"");
		LONGS_EQUAL(403, fresh.decide(&settings, request, now + 60'001).status);
		settings.identities[1].pass = "1234";
	}
}

namespace {

// The NOTIFY Asterisk's res_pjsip_cisco_service_control sends (From without
// a user part, Subscription-State: active, CRLF lines), with `body`.
std::string ciscoNotify(const std::string &body, const char *branch = "z9hG4bKPj.sc1")
{
	return "NOTIFY sip:340899@192.0.2.9:5060 SIP/2.0\r\n"
	       "Via: SIP/2.0/UDP 192.0.2.1:5060;rport;branch=" +
	       std::string(branch) +
	       "\r\n"
	       "From: <sip:192.0.2.1>;tag=sc\r\n"
	       "To: <sip:340899@192.0.2.9>\r\n"
	       "Contact: <sip:asterisk@192.0.2.1:5060>\r\n"
	       "Call-ID: sc-call@192.0.2.1\r\n"
	       "CSeq: 12 NOTIFY\r\n"
	       "Event: service-control\r\n"
	       "Subscription-State: active\r\n"
	       "Max-Forwards: 70\r\n"
	       "User-Agent: Asterisk PBX 22.9.0\r\n"
	       "Content-Type: text/plain\r\n"
	       "Content-Length: " +
	       std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string restartBody(const std::string &registerCallId)
{
	return "action=restart\r\nRegisterCallId={" + registerCallId +
	       "}\r\n"
	       "ConfigVersionStamp={00000000-0000-0000-0000-000000000000}\r\n"
	       "DialplanVersionStamp={00000000-0000-0000-0000-000000000000}\r\n"
	       "SoftkeyVersionStamp={00000000-0000-0000-0000-000000000000}\r\n";
}

} // namespace

TEST_GROUP_BASE(RequestGuardServiceControl, TEST_GROUP_CppUTestGroupRequestGuard)
{
	UniqueMsg msg;

	// A service-control NOTIFY through sofia-sip's parser and
	// guardRequestOf(), as on the port; `registerCallId` as a hand-over
	// sets it.
	Verdict decide(const std::string &text,
		       std::optional<std::string_view> registerCallId = std::nullopt)
	{
		msg = parseDatagram(text, 8192);
		CHECK_TRUE(msg);
		GuardRequest request = guardRequestOf(sip_object(msg.get()), pbx, "");
		request.registerCallId = registerCallId;
		return guard.decide(&settings, request, now);
	}

	void setup() override
	{
		TEST_GROUP_CppUTestGroupRequestGuard::setup();
		settings.challengeChecksync = false;
		settings.events = EventPackageSet{EventPackage::ServiceControl};
	}
};

TEST(RequestGuardServiceControl, restartAndResetAreRebootsThatSayWhich)
{
	Verdict v = decide(ciscoNotify(restartBody("r1@192.0.2.9")));
	CHECK_TRUE(v.serve);
	CHECK_TRUE(v.checkSync);
	CHECK_EQUAL(Action::Reboot, v.action);
	CHECK_EQUAL(RebootKind::Soft, v.rebootKind);
	std::string reset = restartBody("r1@192.0.2.9");
	reset.replace(7, 7, "reset");
	v = decide(ciscoNotify(reset, "z9hG4bKPj.sc2"));
	CHECK_TRUE(v.serve);
	CHECK_EQUAL(RebootKind::Hard, v.rebootKind);
	v = decide(ciscoNotify("action=prt-report\r\nRegisterCallId={r1@192.0.2.9}\r\n",
			       "z9hG4bKPj.sc3"));
	CHECK_TRUE(v.serve);
	CHECK_EQUAL(Action::Report, v.action);
	CHECK_EQUAL(RebootKind::Unspecified, v.rebootKind);
}

TEST(RequestGuardServiceControl, onThePortTheRegisterCallIdIsIgnored)
{
	// Any RegisterCallId, or none: nothing on the port knows the UA's.
	CHECK_TRUE(decide(ciscoNotify(restartBody("whatever"))).serve);
	CHECK_TRUE(decide(ciscoNotify("action=reset\r\n", "z9hG4bKPj.sc4")).serve);
	// With the challenge on the digest decides, whatever the body says.
	settings.challengeChecksync = true;
	LONGS_EQUAL(401, decide(ciscoNotify(restartBody("whatever"), "z9hG4bKPj.sc5")).status);
}

TEST(RequestGuardServiceControl, handedOverARegisterCallIdThatDiffersIs400)
{
	const std::string ours = "a84b4c76e66710@192.0.2.9";
	Verdict v = decide(ciscoNotify(restartBody("someone-else@192.0.2.9")), ours);
	LONGS_EQUAL(400, v.status);
	STRCMP_EQUAL("RegisterCallId does not match", v.phrase);
	CHECK_FALSE(v.serve);
	// Call-IDs compare byte by byte (RFC 3261 20.8): case matters.
	LONGS_EQUAL(400, decide(ciscoNotify(restartBody("A84B4C76E66710@192.0.2.9")), ours).status);
	// A body without one does not match either.
	LONGS_EQUAL(400, decide(ciscoNotify("action=restart\r\n"), ours).status);
	// The UA's own: served.
	v = decide(ciscoNotify(restartBody(ours)), ours);
	CHECK_TRUE(v.serve);
	CHECK_EQUAL(RebootKind::Soft, v.rebootKind);
}

TEST(RequestGuardServiceControl, aMatchingRegisterCallIdIsNoCredential)
{
	// The match is needed, not enough: the challenge still decides, and a
	// mismatch is refused before it.
	settings.challengeChecksync = true;
	const std::string ours = "a84b4c76e66710@192.0.2.9";
	LONGS_EQUAL(401, decide(ciscoNotify(restartBody(ours)), ours).status);
	LONGS_EQUAL(400, decide(ciscoNotify(restartBody("other")), ours).status);
	// Other packages never look at it.
	settings.events = EventPackageSet{EventPackage::CheckSync, EventPackage::ServiceControl};
	const std::string checkSync = "NOTIFY sip:340899@192.0.2.9 SIP/2.0\r\n"
				      "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK.cs\r\n"
				      "From: <sip:192.0.2.1>;tag=a\r\n"
				      "To: <sip:340899@192.0.2.9>\r\n"
				      "Call-ID: cs@192.0.2.1\r\n"
				      "CSeq: 1 NOTIFY\r\n"
				      "Event: check-sync\r\n"
				      "Content-Length: 0\r\n\r\n";
	LONGS_EQUAL(401, decide(checkSync, ours).status);
}

TEST(RequestGuardServiceControl, badBodiesGetTheirAnswers)
{
	const struct {
		std::string body;
		const char *type;
		int status;
		const char *phrase;
	} cases[] = {
		{"action=shutdown\r\n", "text/plain", 400, "Unknown service-control action"},
		{"RegisterCallId={a}\r\n", "text/plain", 400, "Missing service-control action"},
		{"action=reset\r\naction=reset\r\n", "text/plain", 400,
		 "Duplicate service-control key"},
		{"action=reset\rX=1\r\n", "text/plain", 400, "Bad service-control body"},
		{"action=reset\r\nX=caf\xc3\xa9\r\n", "text/plain", 400,
		 "Bad service-control body"},
		{"action=reset\r\n" + std::string(1100, '\n'), "text/plain", 413,
		 "Request Entity Too Large"},
		{"action=reset\r\n", "application/xml", 415, "Unsupported Media Type"},
	};
	int n = 0;
	for (const auto &c : cases) {
		std::string text = ciscoNotify(c.body,
					       ("z9hG4bK.bad" + std::to_string(++n)).c_str());
		text.replace(text.find("text/plain"), 10, c.type);
		const Verdict v = decide(text);
		LONGS_EQUAL_TEXT(c.status, v.status, c.phrase);
		STRCMP_EQUAL(c.phrase, v.phrase);
		CHECK_FALSE(v.serve);
		CHECK_TRUE(v.checkSync); // counted as a check-sync, with no action
		CHECK_FALSE(v.actionDecided);
		if (c.status == 415)
			STRCMP_EQUAL("text/plain", v.accept);
		else
			CHECK_TRUE(v.accept == nullptr);
	}
	// A refused source hears 403 first, a body notwithstanding.
	msg = parseDatagram(ciscoNotify("action=shutdown\r\n", "z9hG4bK.bad9"), 8192);
	GuardRequest request = guardRequestOf(sip_object(msg.get()), pbx, "");
	request.refused = true;
	LONGS_EQUAL(403, guard.decide(&settings, request, now).status);
}

// Amplification (unproven.hpp): what a source that has not proven itself
// may be sent.

namespace {

// The bytes of a 401's WWW-Authenticate lines.
std::size_t challengeLines(const Verdict &v)
{
	std::size_t bytes = 0;
	for (const std::string &c : v.challenges)
		bytes += c.size() + kChallengeHeaderBytes;
	return bytes;
}

} // namespace

TEST(RequestGuard, aSmallRequestFromAnUnprovenSourceGetsNoChallengeThatWouldAmplifyIt)
{
	// The finding's 167-byte NOTIFY: its 401 would be 403 bytes.
	Sent small = notify(pbx);
	small.requestBytes = 167;
	small.copiedBytes = 110;
	Verdict v = send(small);
	LONGS_EQUAL(0, v.status);
	CHECK_TRUE(v.silenced);
	CHECK_TRUE(v.challenges.empty());
	CHECK_EQUAL(GuardEvent::Silenced, v.event);
	// Said once a minute.
	CHECK_EQUAL(GuardEvent::None, send(small).event);
}

TEST(RequestGuard, anUnprovenSourceGetsTheChallengesThatFitInTwiceItsRequest)
{
	// Twelve realms, three algorithms: 36 challenges in all.
	settings.algorithms = {Algorithm::Sha512_256, Algorithm::Sha256, Algorithm::Md5};
	for (unsigned idx = 1; idx <= 12; idx++) {
		Identity identity;
		identity.idx = idx;
		identity.name = "340899";
		identity.host = "pbx" + std::to_string(idx) + ".example.net";
		identity.pass = "1234";
		settings.identities[idx] = identity;
	}
	guard.settingsChanged();
	Sent request = notify(pbx);
	request.requestBytes = 500;
	request.copiedBytes = 200 + 67;
	Verdict v = send(request);
	LONGS_EQUAL(401, v.status);
	CHECK_TRUE(!v.challenges.empty() && v.challenges.size() < 36);
	// Within twice the request, with the rest of the answer as the guard
	// estimates it (status line, copies, tag, Server, Content-Length).
	const std::size_t rest = 26 + 267 + 21 + 20 + 21 + 16;
	CHECK_TRUE(rest + challengeLines(v) <= 1000);
	// Each realm's most preferred algorithm comes first.
	CHECK_TRUE(v.challenges[0].find("realm=\"pbx1.example.net\"") != std::string::npos);
	CHECK_TRUE(v.challenges[0].find("algorithm=SHA-512-256") != std::string::npos);
	if (v.challenges.size() > 1)
		CHECK_TRUE(v.challenges[1].find("realm=\"pbx2.example.net\"") != std::string::npos);

	// Over TCP, or once the source answered a challenge, all of them.
	SourceAddress tcp = *SourceAddress::fromText("192.0.2.1", 5060, Transport::Tcp);
	Sent overTcp = notify(tcp);
	overTcp.requestBytes = 500;
	overTcp.copiedBytes = 267;
	LONGS_EQUAL(36, send(overTcp).challenges.size());
	Sent answered = notify(pbx);
	answered.requestBytes = 500;
	answered.copiedBytes = 267;
	answered.authorization = answer(answered, v.challenges[0], "wrong");
	Verdict proven = send(answered);
	LONGS_EQUAL(401, proven.status);
	LONGS_EQUAL(36, proven.challenges.size());
}

TEST(RequestGuard, aSourceThatAuthenticatedBeforeARestartIsProvenAfterIt)
{
	// It returned a nonce of ours from its address before the restart: its
	// first NOTIFY after it gets a full 401 however small, where a
	// stranger's gets silence.
	CHECK_TRUE(authenticate(pbx).serve);
	RequestGuard restarted{NonceAuthority::Key{9}, RequestKeyer::Key{10}};
	restarted.restoreKnownSources(guard.authenticatedSources());
	deciding = &restarted;
	Sent small = notify(pbx);
	small.requestBytes = 167;
	small.copiedBytes = 110;
	Verdict v = send(small);
	LONGS_EQUAL(401, v.status);
	CHECK_FALSE(v.challenges.empty());
	SourceAddress stranger = *SourceAddress::fromText("192.0.2.77", 5060);
	Sent other = notify(stranger);
	other.requestBytes = 167;
	other.copiedBytes = 110;
	Verdict silent = send(other);
	LONGS_EQUAL(0, silent.status);
	CHECK_TRUE(silent.silenced);
}

TEST(RequestGuard, answersToAnUnprovenPrefixAreRateLimited)
{
	// A spoofer sending as fast as it can at one victim's /24: the burst,
	// then the rate, then silence.
	settings.challengeChecksync = false; // 404s for an unknown user
	unsigned answered = 0;
	for (int i = 0; i < 100; i++) {
		SourceAddress victim = *SourceAddress::fromText(
			"203.0.113." + std::to_string(i % 250), 5060);
		Verdict v = send(notify(victim, "nobody"));
		if (v.status == 404)
			answered++;
		else
			CHECK_TRUE(v.silenced);
	}
	LONGS_EQUAL(AnswerRateLimit::kPerPrefixBurst, answered);
	// A second later: the rate's worth.
	now += 1000;
	answered = 0;
	for (int i = 0; i < 100; i++) {
		SourceAddress victim = *SourceAddress::fromText("203.0.113.9", 5060);
		if (send(notify(victim, "nobody")).status == 404)
			answered++;
	}
	LONGS_EQUAL(AnswerRateLimit::kPerPrefixRate, answered);
	// Another prefix is not held back by it, nor a proven source.
	SourceAddress other = *SourceAddress::fromText("198.51.100.1", 5060);
	LONGS_EQUAL(404, send(notify(other, "nobody")).status);
	SourceAddress tcp = *SourceAddress::fromText("203.0.113.9", 5060, Transport::Tcp);
	LONGS_EQUAL(404, send(notify(tcp, "nobody")).status);
}

TEST(RequestGuard, answersToAllUnprovenPrefixesTogetherAreRateLimited)
{
	settings.challengeChecksync = false;
	unsigned answered = 0;
	for (int net = 0; net < 1000; net++) {
		SourceAddress s = *SourceAddress::fromText("10." + std::to_string(net / 250) + "." +
								   std::to_string(net % 250) + ".1",
							   5060);
		if (send(notify(s, "nobody")).status == 404)
			answered++;
	}
	LONGS_EQUAL(AnswerRateLimit::kTotalBurst, answered);
	// A served check-sync is not held back (it is answered to a request
	// the provisioning process took, and its answer is small).
	SourceAddress pbxToo = *SourceAddress::fromText("10.9.9.9", 5060);
	CHECK_TRUE(send(notify(pbxToo)).serve);
}

TEST(RequestGuard, anAnswerBiggerThanTwiceATinyRequestIsNotSentToAnUnprovenSource)
{
	settings.challengeChecksync = false;
	Sent tiny = notify(pbx, "nobody");
	tiny.requestBytes = 60;
	tiny.copiedBytes = 40 + 67;
	CHECK_TRUE(send(tiny).silenced);
	tiny.requestBytes = 300;
	LONGS_EQUAL(404, send(tiny).status);
}
