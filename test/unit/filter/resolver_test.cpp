// SPDX-License-Identifier: MIT
//
// daemon/filter/resolver.cpp against a DNS server in the test itself
// (support/fake_dns.hpp): a UDP socket on 127.0.0.1 at a port of its own,
// named by a resolv.conf of the test's (`port`), served from the same loop.

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "filter/resolver.hpp"
#include "support/daemon_support.hpp"
#include "support/dns_support.hpp"
#include "support/fake_dns.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;
using namespace checksyncd::test;

TEST_GROUP(Resolver)
{
	EventLoop loop;
	TempDir dir;
	std::map<ResolveTarget, Resolution> results;

	std::unique_ptr<Resolver> resolverFor(const FakeDns &dns,
					      const char *options = "timeout:1 attempts:1")
	{
		writeResolvConf(dir.path("resolv.conf"), dns, options);
		return std::make_unique<Resolver>(
			loop,
			[this](const ResolveTarget &target, const Resolution &result) {
				results[target] = result;
			},
			dir.path("resolv.conf"));
	}

	const Resolution &resultOf(const char *name, bool sip = false)
	{
		const auto found = results.find(ResolveTarget{name, sip});
		if (found == results.end())
			FAIL((std::string("no result for ") + name).c_str());
		return found->second;
	}
};

TEST(Resolver, everyQueryHasASocketOfItsOwnAndARandomIdAndAtMostSixAreOpen)
{
	// Holds every query until six have come: the six are open at once, so
	// the kernel gave each its own port; the rest wait for a socket.
	std::vector<Received> held;
	FakeDns dns(loop, [&](FakeDns &server, const Received &received) {
		held.push_back(received);
		if (server.seen.size() < Resolver::kMaxOpenQueries)
			return;
		for (const Received &r : held)
			server.send(FakeDns::answerTo(r.query).bytes(), r.from);
		held.clear();
	});
	const auto resolver = resolverFor(dns);
	for (const char *name : {"a.example", "b.example", "c.example", "d.example"})
		resolver->lookup({name, false});
	LONGS_EQUAL(Resolver::kMaxOpenQueries, resolver->openQueries());
	LONGS_EQUAL(2, resolver->waitingQueries());
	CHECK(stepUntil(loop, [&] { return results.size() == 4; }));

	LONGS_EQUAL(8, dns.seen.size());
	std::set<std::uint16_t> ports;
	std::vector<std::uint16_t> ids;
	for (const Received &r : dns.seen) {
		ids.push_back(r.query.id);
		LONGS_EQUAL(1, r.query.additional); // EDNS(0)
	}
	for (std::size_t i = 0; i < Resolver::kMaxOpenQueries; ++i)
		ports.insert(dns.seen[i].port());
	LONGS_EQUAL(Resolver::kMaxOpenQueries, ports.size());
	CHECK(ports.count(dns.port()) == 0);
	std::set<int> steps;
	for (std::size_t i = 1; i < ids.size(); ++i)
		steps.insert((ids[i] - ids[i - 1] + 65536) % 65536);
	CHECK_TEXT(steps.size() > 1, "the IDs go up in one step");
	for (const char *name : {"a.example", "b.example", "c.example", "d.example"}) {
		CHECK(resultOf(name).addresses ==
		      std::vector<IpAddress>{*IpAddress::parse("192.0.2.1")});
		LONGS_EQUAL(60, resultOf(name).ttlS);
	}
	LONGS_EQUAL(0, resolver->openQueries());
}

TEST(Resolver, onlyTheAnswerFromTheServerToTheQuestionAskedCounts)
{
	const UniqueFd elsewhere = FakeDns::bound(0);
	FakeDns dns(loop, [&](FakeDns &server, const Received &received) {
		// From another port of the same address: a perfect answer.
		server.send(FakeDns::answerTo(received.query, "127.0.0.66").bytes(), received.from,
			    elsewhere.get());
		// From the server: another question, with the query's ID.
		Response other = FakeDns::answerTo(received.query, "127.0.0.67");
		other.qname = "unrelated.invalid";
		other.answers = {{"unrelated.invalid", 1, rdataA("127.0.0.67")}};
		server.send(other.bytes(), received.from);
		// Not even a DNS message.
		server.send({1, 2, 3}, received.from);
		server.send(FakeDns::answerTo(received.query).bytes(), received.from);
	});
	const auto resolver = resolverFor(dns);
	resolver->lookup({"pbx.example", false});
	CHECK(stepUntil(loop, [&] { return !results.empty(); }));
	const Resolution &result = resultOf("pbx.example");
	CHECK(result.addresses == std::vector<IpAddress>{*IpAddress::parse("192.0.2.1")});
	LONGS_EQUAL(6, result.ignoredMessages); // three for each of A and AAAA
}

TEST(Resolver, aServerWithoutEdnsIsAskedAgainWithoutIt)
{
	FakeDns dns(loop, [&](FakeDns &server, const Received &received) {
		Response response = FakeDns::answerTo(received.query);
		if (received.query.additional) {
			response.answers.clear();
			response.rcode = 1; // FORMERR
		}
		server.send(response.bytes(), received.from);
	});
	const auto resolver = resolverFor(dns);
	resolver->lookup({"pbx.example", false});
	CHECK(stepUntil(loop, [&] { return !results.empty(); }));
	CHECK(resultOf("pbx.example").addresses ==
	      std::vector<IpAddress>{*IpAddress::parse("192.0.2.1")});
	// A and AAAA with EDNS(0), then again without it, from the same sockets.
	LONGS_EQUAL(4, dns.seen.size());
	std::set<std::uint16_t> ednsPorts;
	std::vector<std::uint16_t> plainPorts;
	for (const Received &r : dns.seen) {
		if (r.query.additional)
			ednsPorts.insert(r.port());
		else
			plainPorts.push_back(r.port());
	}
	LONGS_EQUAL(2, ednsPorts.size());
	LONGS_EQUAL(2, plainPorts.size());
	for (const std::uint16_t port : plainPorts)
		CHECK(ednsPorts.count(port) == 1);
}

TEST(Resolver, aSilentServerFailsTheLookupAfterItsSendsAndTheLoopGoesOn)
{
	FakeDns dns(loop, [](FakeDns &, const Received &) {});
	const auto resolver = resolverFor(dns, "timeout:1 attempts:2");
	const std::uint64_t started = EventLoop::nowMs();
	int ticks = 0;
	Timer tick(loop);
	std::function<void()> again = [&] {
		++ticks;
		tick.arm(100, again);
	};
	tick.arm(100, again);
	resolver->lookup({"pbx.example", false});
	CHECK(stepUntil(
		loop, [&] { return !results.empty(); }, 8000));
	const std::uint64_t took = EventLoop::nowMs() - started;
	STRCMP_EQUAL("no answer from the DNS server", resultOf("pbx.example").error.c_str());
	// Sent at 0 and 1 s, waited 2 s after the second: not before 3 s.
	CHECK(took >= 2900);
	LONGS_EQUAL(4, dns.seen.size()); // A and AAAA, twice each
	// A timer every 100 ms kept running meanwhile.
	CHECK(ticks >= 10);
}

TEST(Resolver, aCnameWithoutItsTargetIsFollowedWithAQueryForTheTarget)
{
	FakeDns dns(loop, [&](FakeDns &server, const Received &received) {
		Response response = FakeDns::answerTo(received.query, "192.0.2.7");
		if (received.query.name == "pbx.example")
			response.answers = {{"pbx.example", 5, wireName("Host.Example"), 30}};
		server.send(response.bytes(), received.from);
	});
	const auto resolver = resolverFor(dns);
	resolver->lookup({"pbx.example", false});
	CHECK(stepUntil(loop, [&] { return !results.empty(); }));
	CHECK(resultOf("pbx.example").addresses ==
	      std::vector<IpAddress>{*IpAddress::parse("192.0.2.7")});
	LONGS_EQUAL(30, resultOf("pbx.example").ttlS); // the CNAME's
	std::set<std::string> asked;
	for (const Received &r : dns.seen)
		asked.insert(r.query.name);
	CHECK(asked == (std::set<std::string>{"pbx.example", "host.example"}));
}

TEST(Resolver, aCancelledLookupGivesUpItsSocketsAndItsPlaceInTheQueue)
{
	FakeDns dns(loop, [](FakeDns &, const Received &) {});
	const auto resolver = resolverFor(dns);
	for (const char *name : {"a.example", "b.example", "c.example", "d.example"})
		resolver->lookup({name, false});
	LONGS_EQUAL(6, resolver->openQueries());
	LONGS_EQUAL(2, resolver->waitingQueries());
	resolver->cancel({"d.example", false});
	LONGS_EQUAL(6, resolver->openQueries());
	LONGS_EQUAL(0, resolver->waitingQueries());
	CHECK(stepPast(loop, 100));
	std::set<std::string> asked;
	for (const Received &r : dns.seen)
		asked.insert(r.query.name);
	CHECK(asked == (std::set<std::string>{"a.example", "b.example", "c.example"}));

	resolver->cancel({"a.example", false});
	LONGS_EQUAL(4, resolver->openQueries());
	resolver->lookup({"e.example", false});
	resolver->lookup({"f.example", false});
	LONGS_EQUAL(6, resolver->openQueries());
	LONGS_EQUAL(2, resolver->waitingQueries());
	// f.example's queries get the sockets b.example gives up.
	resolver->cancel({"b.example", false});
	LONGS_EQUAL(6, resolver->openQueries());
	LONGS_EQUAL(0, resolver->waitingQueries());
	LONGS_EQUAL(3, resolver->running()); // c, e and f
	CHECK(results.empty());
}

TEST(Resolver, aSipNameWithoutNaptrOrSrvRecordsIsLookedUpByItself)
{
	FakeDns dns(loop, [](FakeDns &server, const Received &received) {
		server.send(FakeDns::answerTo(received.query, "192.0.2.9").bytes(), received.from);
	});
	const auto resolver = resolverFor(dns);
	resolver->lookup({"pbx.example", true});
	CHECK(stepUntil(loop, [&] { return !results.empty(); }));
	CHECK(resultOf("pbx.example", true).addresses ==
	      std::vector<IpAddress>{*IpAddress::parse("192.0.2.9")});
	// RFC 3263 4.1, 4.2: NAPTR, then both SRV names, then A and AAAA.
	std::vector<std::string> asked;
	for (const Received &r : dns.seen)
		asked.push_back(std::to_string(r.query.type) + " " + r.query.name);
	std::sort(asked.begin() + 1, asked.begin() + 3);
	std::sort(asked.begin() + 3, asked.end());
	CHECK(asked == (std::vector<std::string>{"35 pbx.example", "33 _sip._tcp.pbx.example",
						 "33 _sip._udp.pbx.example", "1 pbx.example",
						 "28 pbx.example"}));
}

TEST(Resolver, aNameKeepsAtMostKMaxAddressesHoweverManyTheAnswerHolds)
{
	FakeDns dns(loop, [](FakeDns &server, const Received &received) {
		Response response = FakeDns::answerTo(received.query);
		response.answers.clear();
		if (received.query.type == 1)
			for (int i = 1; i <= 40; ++i)
				response.answers.push_back(
					{received.query.name, 1,
					 rdataA(("192.0.2." + std::to_string(i)).c_str()), 60});
		server.send(response.bytes(), received.from);
	});
	const auto resolver = resolverFor(dns);
	resolver->lookup({"pbx.example", false});
	CHECK(stepUntil(loop, [&] { return !results.empty(); }));
	LONGS_EQUAL(32, resultOf("pbx.example").addresses.size());
}

TEST(Resolver, aChangedResolvConfIsReadForTheNextLookup)
{
	FakeDns first(loop, [](FakeDns &server, const Received &received) {
		server.send(FakeDns::answerTo(received.query, "192.0.2.1").bytes(), received.from);
	});
	FakeDns second(loop, [](FakeDns &server, const Received &received) {
		server.send(FakeDns::answerTo(received.query, "192.0.2.2").bytes(), received.from);
	});
	const auto resolver = resolverFor(first);
	resolver->lookup({"a.example", false});
	CHECK(stepUntil(loop, [&] { return results.size() == 1; }));
	// Replaced as resolvconf and NetworkManager do: a new file renamed
	// over the old one.
	writeResolvConf(dir.path("resolv.conf.new"), second);
	CHECK_EQUAL(0,
		    ::rename(dir.path("resolv.conf.new").c_str(), dir.path("resolv.conf").c_str()));
	resolver->lookup({"b.example", false});
	CHECK(stepUntil(loop, [&] { return results.size() == 2; }));
	CHECK(resultOf("b.example").addresses ==
	      std::vector<IpAddress>{*IpAddress::parse("192.0.2.2")});
	LONGS_EQUAL(2, first.seen.size());
	LONGS_EQUAL(2, second.seen.size());
}
