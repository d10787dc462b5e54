// SPDX-License-Identifier: MIT

#include <string>
#include <vector>

#include "filter/dns_message.hpp"
#include "support/dns_support.hpp"

#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;
using checksyncd::test::Bytes;
using checksyncd::test::rdataA;
using checksyncd::test::rdataAaaa;
using checksyncd::test::rdataNaptr;
using checksyncd::test::rdataSrv;
using checksyncd::test::Response;
using checksyncd::test::Rr;
using checksyncd::test::wireName;

namespace {

IpAddress ip(const char *text)
{
	const std::optional<IpAddress> address = IpAddress::parse(text);
	if (!address)
		FAIL((std::string("not an address: ") + text).c_str());
	return *address;
}

DnsMessage parsed(const Bytes &bytes)
{
	const std::optional<DnsMessage> message = parseDnsMessage(bytes.data(), bytes.size());
	if (!message)
		FAIL("the message did not parse");
	return *message;
}

DnsRecord record(std::string name, std::uint16_t type, const char *address = nullptr,
		 std::uint32_t ttl = 300)
{
	DnsRecord r;
	r.name = std::move(name);
	r.type = type;
	r.rclass = kDnsClassIn;
	r.ttl = ttl;
	if (address)
		r.address = ip(address);
	return r;
}

DnsRecord cname(std::string name, std::string target, std::uint32_t ttl = 300)
{
	DnsRecord r = record(std::move(name), kDnsTypeCname, nullptr, ttl);
	r.target = std::move(target);
	return r;
}

// A response with ID 7 to the question `qname` `qtype`.
DnsMessage answer(std::string qname, std::uint16_t qtype, std::vector<DnsRecord> records,
		  unsigned rcode = 0)
{
	DnsMessage m;
	m.id = 7;
	m.response = true;
	m.rcode = rcode;
	m.questions.push_back({std::move(qname), qtype, kDnsClassIn});
	m.answers = std::move(records);
	return m;
}

const DnsQuestion kAskedA{"pbx.example.com", kDnsTypeA};

std::vector<IpAddress> addressesOf(const DnsAnswer &answer)
{
	std::vector<IpAddress> addresses;
	for (const DnsRecord &r : answer.records)
		if (r.address)
			addresses.push_back(*r.address);
	return addresses;
}

} // namespace

TEST_GROUP(DnsQuery){};

TEST(DnsQuery, isOneQuestionWithRecursionDesiredAndAnEdnsRecord)
{
	const Bytes query = makeDnsQuery(0xbeef, {"Pbx.Example.com.", kDnsTypeSrv}, Edns::On);
	Bytes expected = {0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1};
	const Bytes name = wireName("Pbx.Example.com");
	expected.insert(expected.end(), name.begin(), name.end());
	expected.insert(expected.end(), {0, 33, 0, 1});
	// OPT: the root, type 41, 1232 bytes, no extended RCODE, flags or data.
	expected.insert(expected.end(), {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0});
	CHECK(query == expected);

	const Bytes plain = makeDnsQuery(1, {"pbx.example.com", kDnsTypeA}, Edns::Off);
	LONGS_EQUAL(12 + name.size() + 4, plain.size());
	LONGS_EQUAL(0, plain[11]); // ARCOUNT
}

TEST(DnsQuery, namesThatCannotBeAskedMakeNoQuery)
{
	CHECK(isQueryableDnsName("_sip._udp.pbx-1.example.com"));
	CHECK(isQueryableDnsName(std::string(63, 'a') + ".example"));
	for (const std::string &name :
	     {std::string(), std::string("."), std::string("a..b"), std::string(".a"),
	      std::string(64, 'a') + ".example", std::string("a b.example"),
	      std::string("a\\.b.example"), std::string("ex\001ample"),
	      std::string(127, 'a') + "." + std::string(126, 'b')}) {
		CHECK_FALSE_TEXT(isQueryableDnsName(name), name.c_str());
		CHECK_TEXT(makeDnsQuery(1, {name, kDnsTypeA}, Edns::On).empty(), name.c_str());
	}
}

TEST_GROUP(DnsMessage){};

TEST(DnsMessage, aResponseIsReadWithItsQuestionAndAnswerSection)
{
	Response response;
	response.id = 0x1234;
	response.qname = "pbx.example.com";
	response.answers = {{"pbx.example.com", kDnsTypeA, rdataA("192.0.2.1"), 60},
			    {"pbx.example.com", kDnsTypeAaaa, rdataAaaa("2001:db8::1"), 70}};
	response.authority = {{"example.com", 2, wireName("ns.example.com")}};
	response.additional = {{"pbx.example.com", kDnsTypeA, rdataA("192.0.2.66")}};
	const DnsMessage m = parsed(response.bytes());
	LONGS_EQUAL(0x1234, m.id);
	CHECK(m.response);
	LONGS_EQUAL(0, m.rcode);
	LONGS_EQUAL(1, m.questions.size());
	STRCMP_EQUAL("pbx.example.com", m.questions[0].name.c_str());
	LONGS_EQUAL(kDnsTypeA, m.questions[0].type);
	// The authority and additional sections are not kept.
	LONGS_EQUAL(2, m.answers.size());
	CHECK(m.answers[0].address == ip("192.0.2.1"));
	LONGS_EQUAL(60, m.answers[0].ttl);
	CHECK(m.answers[1].address == ip("2001:db8::1"));
}

TEST(DnsMessage, srvNaptrAndCnameTargetsAreRead)
{
	Response response;
	response.qname = "pbx.example.com";
	response.qtype = kDnsTypeNaptr;
	response.answers = {
		{"pbx.example.com", kDnsTypeNaptr,
		 rdataNaptr("S", "SIP+D2U", "_sip._udp.example.com")},
		{"_sip._udp.example.com", kDnsTypeSrv, rdataSrv(5070, "sip1.example.com")},
		{"alias.example.com", kDnsTypeCname, wireName("pbx.example.com")},
	};
	const DnsMessage m = parsed(response.bytes());
	LONGS_EQUAL(3, m.answers.size());
	STRCMP_EQUAL("S", m.answers[0].flags.c_str());
	STRCMP_EQUAL("SIP+D2U", m.answers[0].services.c_str());
	STRCMP_EQUAL("_sip._udp.example.com", m.answers[0].target.c_str());
	STRCMP_EQUAL("sip1.example.com", m.answers[1].target.c_str());
	LONGS_EQUAL(5070, m.answers[1].port);
	STRCMP_EQUAL("pbx.example.com", m.answers[2].target.c_str());
}

TEST(DnsMessage, compressedNamesAreFollowed)
{
	Response response;
	response.qname = "pbx.example.com";
	Bytes bytes = response.bytes();
	// An answer whose owner points at the question's name (offset 12) and
	// a CNAME whose target is "sip1" then a pointer to "example.com"
	// (offset 16).
	const Bytes target = {4, 's', 'i', 'p', '1', 0xc0, 16};
	bytes[7] = 1; // ANCOUNT
	bytes.insert(bytes.end(), {0xc0, 12});
	test::put16(bytes, kDnsTypeCname);
	test::put16(bytes, 1);
	test::put32(bytes, 30);
	test::put16(bytes, static_cast<unsigned>(target.size()));
	bytes.insert(bytes.end(), target.begin(), target.end());
	const DnsMessage m = parsed(bytes);
	LONGS_EQUAL(1, m.answers.size());
	STRCMP_EQUAL("pbx.example.com", m.answers[0].name.c_str());
	STRCMP_EQUAL("sip1.example.com", m.answers[0].target.c_str());
}

TEST(DnsMessage, aMessageThatOverrunsItselfOrLoopsIsNotRead)
{
	Response response;
	response.qname = "pbx.example.com";
	response.answers = {{"pbx.example.com", kDnsTypeA, rdataA("192.0.2.1")}};
	const Bytes whole = response.bytes();
	for (std::size_t size = 0; size < whole.size(); ++size)
		CHECK_FALSE(parseDnsMessage(whole.data(), size));
	Bytes extra = whole;
	extra[7] = 2; // ANCOUNT says two
	CHECK_FALSE(parseDnsMessage(extra.data(), extra.size()));

	// A CNAME target pointing at itself.
	Response empty;
	empty.qname = "pbx.example.com";
	Bytes loop = empty.bytes();
	loop[7] = 1; // ANCOUNT
	loop.insert(loop.end(), {0xc0, 12});
	test::put16(loop, kDnsTypeCname);
	test::put16(loop, 1);
	test::put32(loop, 30);
	test::put16(loop, 2);
	const std::size_t at = loop.size();
	loop.insert(loop.end(), {static_cast<std::uint8_t>(0xc0 | (at >> 8)),
				 static_cast<std::uint8_t>(at & 0xff)});
	CHECK_FALSE(parseDnsMessage(loop.data(), loop.size()));
}

TEST(DnsMessage, aRecordOfAKnownTypeWhoseDataDoesNotDecodeRejectsTheMessage)
{
	for (const Rr &bad : {Rr{"pbx.example.com", kDnsTypeA, {192, 0, 2}},
			      Rr{"pbx.example.com", kDnsTypeAaaa, rdataA("192.0.2.1")},
			      Rr{"pbx.example.com", kDnsTypeSrv, {0, 1, 0, 2}},
			      Rr{"pbx.example.com", kDnsTypeCname, {3, 'a', 'b'}},
			      Rr{"pbx.example.com", kDnsTypeNaptr, {0, 1, 0, 2, 5, 'S'}}}) {
		Response response;
		response.qname = "pbx.example.com";
		response.answers = {{"pbx.example.com", kDnsTypeA, rdataA("192.0.2.1")}, bad};
		const Bytes bytes = response.bytes();
		CHECK_FALSE_TEXT(parseDnsMessage(bytes.data(), bytes.size()),
				 dnsTypeName(bad.type).c_str());
	}
	// A type the filter does not use is kept as it is.
	Response response;
	response.qname = "pbx.example.com";
	response.answers = {{"pbx.example.com", 16, {3, 'a', 'b', 'c'}}};
	LONGS_EQUAL(1, parsed(response.bytes()).answers.size());
}

TEST_GROUP(DnsAnswer){};

TEST(DnsAnswer, theRecordsOfTheQuestionAskedAreTaken)
{
	const DnsAnswer a = acceptDnsAnswer(
		kAskedA, 7,
		answer("pbx.example.com", kDnsTypeA,
		       {record("pbx.example.com", kDnsTypeA, "192.0.2.1"),
			record("PBX.example.com.", kDnsTypeA, "192.0.2.2")}));
	CHECK_EQUAL(DnsOutcome::Answer, a.outcome);
	CHECK(addressesOf(a) == (std::vector<IpAddress>{ip("192.0.2.1"), ip("192.0.2.2")}));
	LONGS_EQUAL(0, a.ignored);
	LONGS_EQUAL(0, a.cnames);
	STRCMP_EQUAL("pbx.example.com", a.canonical.c_str());
}

TEST(DnsAnswer, anAnswerToAnotherQuestionIsNoAnswerAtAll)
{
	// The forgery sresolv took: question and record for another name.
	const DnsAnswer a = acceptDnsAnswer(
		kAskedA, 7,
		answer("unrelated.invalid", kDnsTypeA,
		       {record("unrelated.invalid", kDnsTypeA, "127.0.0.66")}));
	CHECK_EQUAL(DnsOutcome::NotAnAnswer, a.outcome);
	CHECK(a.records.empty());
}

TEST(DnsAnswer, anotherIdTypeClassOpcodeOrQuestionCountIsNoAnswer)
{
	const DnsMessage good = answer("pbx.example.com", kDnsTypeA,
				       {record("pbx.example.com", kDnsTypeA, "192.0.2.1")});
	CHECK_EQUAL(DnsOutcome::Answer, acceptDnsAnswer(kAskedA, 7, good).outcome);
	CHECK_EQUAL(DnsOutcome::NotAnAnswer, acceptDnsAnswer(kAskedA, 8, good).outcome);
	CHECK_EQUAL(DnsOutcome::NotAnAnswer,
		    acceptDnsAnswer({"pbx.example.com", kDnsTypeAaaa}, 7, good).outcome);
	DnsMessage m = good;
	m.questions[0].qclass = 3; // CH
	CHECK_EQUAL(DnsOutcome::NotAnAnswer, acceptDnsAnswer(kAskedA, 7, m).outcome);
	m = good;
	m.response = false; // a query
	CHECK_EQUAL(DnsOutcome::NotAnAnswer, acceptDnsAnswer(kAskedA, 7, m).outcome);
	m = good;
	m.opcode = 4; // NOTIFY
	CHECK_EQUAL(DnsOutcome::NotAnAnswer, acceptDnsAnswer(kAskedA, 7, m).outcome);
	m = good;
	m.questions.clear();
	CHECK_EQUAL(DnsOutcome::NotAnAnswer, acceptDnsAnswer(kAskedA, 7, m).outcome);
	m = good;
	m.questions.push_back(m.questions[0]);
	CHECK_EQUAL(DnsOutcome::NotAnAnswer, acceptDnsAnswer(kAskedA, 7, m).outcome);
	// Not even an error code counts from another question.
	m = answer("unrelated.invalid", kDnsTypeA, {}, 3);
	CHECK_EQUAL(DnsOutcome::NotAnAnswer, acceptDnsAnswer(kAskedA, 7, m).outcome);
}

TEST(DnsAnswer, recordsOwnedByOtherNamesOrOfOtherTypesAndClassesAreIgnored)
{
	DnsRecord chaos = record("pbx.example.com", kDnsTypeA, "192.0.2.3");
	chaos.rclass = 3;
	const DnsAnswer a = acceptDnsAnswer(
		kAskedA, 7,
		answer("pbx.example.com", kDnsTypeA,
		       {record("unrelated.invalid", kDnsTypeA, "127.0.0.66"),
			record("pbx.example.com", kDnsTypeAaaa, "2001:db8::66"),
			record("example.com.pbx.example.com", kDnsTypeA, "127.0.0.67"), chaos,
			record("pbx.example.com", kDnsTypeA, "192.0.2.1")}));
	CHECK_EQUAL(DnsOutcome::Answer, a.outcome);
	CHECK(addressesOf(a) == std::vector<IpAddress>{ip("192.0.2.1")});
	LONGS_EQUAL(4, a.ignored);

	const DnsAnswer none = acceptDnsAnswer(
		kAskedA, 7,
		answer("pbx.example.com", kDnsTypeA,
		       {record("unrelated.invalid", kDnsTypeA, "127.0.0.66")}));
	CHECK_EQUAL(DnsOutcome::NoData, none.outcome);
	LONGS_EQUAL(1, none.ignored);
	STRCMP_EQUAL("pbx.example.com", none.canonical.c_str());
}

TEST(DnsAnswer, theCnameChainFromTheNameAskedIsFollowedInAnyOrder)
{
	const DnsAnswer a = acceptDnsAnswer(
		kAskedA, 7,
		answer("pbx.example.com", kDnsTypeA,
		       {record("host.example.net", kDnsTypeA, "192.0.2.1", 600),
			cname("alias.example.org", "host.example.net", 30),
			cname("pbx.example.com", "Alias.Example.org.", 120)}));
	CHECK_EQUAL(DnsOutcome::Answer, a.outcome);
	CHECK(addressesOf(a) == std::vector<IpAddress>{ip("192.0.2.1")});
	LONGS_EQUAL(2, a.cnames);
	LONGS_EQUAL(30, a.cnameTtl);
	LONGS_EQUAL(0, a.ignored);
	STRCMP_EQUAL("host.example.net", a.canonical.c_str());
}

TEST(DnsAnswer, aChainThatDoesNotStartAtTheNameAskedIsIgnored)
{
	const DnsAnswer a = acceptDnsAnswer(
		kAskedA, 7,
		answer("pbx.example.com", kDnsTypeA,
		       {cname("unrelated.invalid", "evil.invalid"),
			record("evil.invalid", kDnsTypeA, "127.0.0.66")}));
	CHECK_EQUAL(DnsOutcome::NoData, a.outcome);
	LONGS_EQUAL(0, a.cnames);
	LONGS_EQUAL(2, a.ignored);
	STRCMP_EQUAL("pbx.example.com", a.canonical.c_str());

	// Records of the name asked next to its own CNAME are not on the
	// chain either (RFC 1034 3.6.2: a CNAME has no other data).
	const DnsAnswer b = acceptDnsAnswer(
		kAskedA, 7,
		answer("pbx.example.com", kDnsTypeA,
		       {cname("pbx.example.com", "host.example.com"),
			record("pbx.example.com", kDnsTypeA, "127.0.0.66"),
			record("host.example.com", kDnsTypeA, "192.0.2.1")}));
	CHECK(addressesOf(b) == std::vector<IpAddress>{ip("192.0.2.1")});
	LONGS_EQUAL(1, b.ignored);
}

TEST(DnsAnswer, aChainThatEndsAtACnameNamesTheTargetToAskFor)
{
	const DnsAnswer a = acceptDnsAnswer(
		kAskedA, 7,
		answer("pbx.example.com", kDnsTypeA,
		       {cname("pbx.example.com", "host.example.net", 40)}));
	CHECK_EQUAL(DnsOutcome::NoData, a.outcome);
	STRCMP_EQUAL("host.example.net", a.canonical.c_str());
	LONGS_EQUAL(1, a.cnames);
	LONGS_EQUAL(40, a.cnameTtl);
}

TEST(DnsAnswer, aLoopOrALongChainEndsAtTheLimit)
{
	const DnsAnswer loop = acceptDnsAnswer(kAskedA, 7,
					       answer("pbx.example.com", kDnsTypeA,
						      {cname("pbx.example.com", "b.example.com"),
						       cname("b.example.com", "pbx.example.com")}));
	CHECK_EQUAL(DnsOutcome::NoData, loop.outcome);
	LONGS_EQUAL(2, loop.cnames);

	std::vector<DnsRecord> chain;
	std::string name = "pbx.example.com";
	for (int i = 0; i < 10; ++i) {
		const std::string next = "c" + std::to_string(i) + ".example.com";
		chain.push_back(cname(name, next));
		name = next;
	}
	chain.push_back(record(name, kDnsTypeA, "192.0.2.1"));
	const DnsAnswer longChain = acceptDnsAnswer(kAskedA, 7,
						    answer("pbx.example.com", kDnsTypeA, chain));
	CHECK_EQUAL(DnsOutcome::NoData, longChain.outcome);
	LONGS_EQUAL(kDnsMaxCnames, longChain.cnames);
	LONGS_EQUAL(3, longChain.ignored); // two CNAMEs past the limit, the A record

	// What is left of a lookup's budget.
	const DnsAnswer budget = acceptDnsAnswer(
		kAskedA, 7,
		answer("pbx.example.com", kDnsTypeA,
		       {cname("pbx.example.com", "host.example.com"),
			record("host.example.com", kDnsTypeA, "192.0.2.1")}),
		0);
	CHECK_EQUAL(DnsOutcome::NoData, budget.outcome);
	STRCMP_EQUAL("pbx.example.com", budget.canonical.c_str());
}

TEST(DnsAnswer, aCnameQueryTakesTheCnameItself)
{
	const DnsAnswer a = acceptDnsAnswer({"pbx.example.com", kDnsTypeCname}, 7,
					    answer("pbx.example.com", kDnsTypeCname,
						   {cname("pbx.example.com", "host.example.com")}));
	CHECK_EQUAL(DnsOutcome::Answer, a.outcome);
	LONGS_EQUAL(1, a.records.size());
	LONGS_EQUAL(0, a.cnames);
}

TEST(DnsAnswer, errorCodesOfTheQuestionAskedAreItsOutcome)
{
	const auto outcome = [](unsigned rcode) {
		return acceptDnsAnswer(kAskedA, 7, answer("pbx.example.com", kDnsTypeA, {}, rcode))
			.outcome;
	};
	CHECK_EQUAL(DnsOutcome::NoData, outcome(0));
	CHECK_EQUAL(DnsOutcome::FormatError, outcome(1));
	CHECK_EQUAL(DnsOutcome::ServerFailure, outcome(2));
	CHECK_EQUAL(DnsOutcome::NoSuchName, outcome(3));
	CHECK_EQUAL(DnsOutcome::ServerFailure, outcome(4));
	CHECK_EQUAL(DnsOutcome::Refused, outcome(5));
	// An NXDOMAIN carrying records: none of them is taken.
	const DnsAnswer nx = acceptDnsAnswer(
		kAskedA, 7,
		answer("pbx.example.com", kDnsTypeA,
		       {record("pbx.example.com", kDnsTypeA, "127.0.0.66")}, 3));
	CHECK_EQUAL(DnsOutcome::NoSuchName, nx.outcome);
	CHECK(nx.records.empty());
}

TEST(DnsAnswer, theWorstFailureIsTheOneALookupReports)
{
	CHECK(dnsSeverity(DnsOutcome::Timeout) > dnsSeverity(DnsOutcome::ServerFailure));
	CHECK(dnsSeverity(DnsOutcome::ServerFailure) > dnsSeverity(DnsOutcome::NoSuchName));
	CHECK(dnsSeverity(DnsOutcome::NoSuchName) > dnsSeverity(DnsOutcome::NoData));
	STRCMP_EQUAL("no such name", describeDnsOutcome(DnsOutcome::NoSuchName).c_str());
	STRCMP_EQUAL("no answer from the DNS server",
		     describeDnsOutcome(DnsOutcome::Timeout).c_str());
	STRCMP_EQUAL("no A or AAAA record", describeDnsOutcome(DnsOutcome::NoData).c_str());
}

TEST(DnsAnswer, whatIsParsedFromTheWireIsJudgedTheSameWay)
{
	// The forgery end to end: bytes in, nothing accepted.
	Response forged;
	forged.id = 7;
	forged.qname = "unrelated.invalid";
	forged.answers = {{"unrelated.invalid", kDnsTypeA, rdataA("127.0.0.66"), 3600}};
	CHECK_EQUAL(DnsOutcome::NotAnAnswer,
		    acceptDnsAnswer(kAskedA, 7, parsed(forged.bytes())).outcome);

	Response real;
	real.id = 7;
	real.qname = "PBX.example.com";
	real.answers = {{"pbx.example.com", kDnsTypeCname, wireName("host.example.net"), 50},
			{"host.example.net", kDnsTypeA, rdataA("192.0.2.1"), 60}};
	real.additional = {{"host.example.net", kDnsTypeA, rdataA("127.0.0.66")}};
	const DnsAnswer a = acceptDnsAnswer(kAskedA, 7, parsed(real.bytes()));
	CHECK_EQUAL(DnsOutcome::Answer, a.outcome);
	CHECK(addressesOf(a) == std::vector<IpAddress>{ip("192.0.2.1")});
	LONGS_EQUAL(50, a.cnameTtl);
}
