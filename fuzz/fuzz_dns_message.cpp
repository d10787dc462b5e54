// SPDX-License-Identifier: MIT
//
// libFuzzer target for what the source filter's resolver believes of a DNS
// answer (common/filter/dns_message.hpp): the input is one datagram as it arrives
// on a query's socket. It is read with parseDnsMessage(), then judged by
// acceptDnsAnswer() as the answer to a query for its own first question
// (the forger's best case: the question matches) and for a fixed one, for
// each of the five types the filter asks, with the message's own ID and
// with another, and with a full and an exhausted CNAME budget.
//
// Invariants checked (a failure aborts, which libFuzzer reports): anything
// but a response with the query's ID, opcode QUERY and its one question is
// no answer at all; every record taken has the type asked, class IN and
// the chain's end as its owner; the chain is no longer than the budget and
// starts at the name asked; records taken, CNAMEs followed and records
// ignored add up to the answer section; a name the chain ends at that can
// be asked makes a query that reads back as that question.

#include <cstddef>
#include <cstdint>
#include <string>

#include "filter/dns_message.hpp"
#include "fuzz_support.hpp"

using namespace checksyncd;

namespace {

constexpr std::uint16_t kTypes[] = {kDnsTypeA, kDnsTypeAaaa, kDnsTypeSrv, kDnsTypeNaptr,
				    kDnsTypeCname};

void check(const DnsQuestion &asked, std::uint16_t id, const DnsMessage &message,
	   unsigned maxCnames)
{
	const DnsAnswer answer = acceptDnsAnswer(asked, id, message, maxCnames);
	const bool matches = message.response && message.opcode == 0 && message.id == id &&
			     message.questions.size() == 1 &&
			     message.questions[0].type == asked.type &&
			     message.questions[0].qclass == kDnsClassIn &&
			     sameDnsName(message.questions[0].name, asked.name);
	FUZZ_CHECK(matches == (answer.outcome != DnsOutcome::NotAnAnswer));
	FUZZ_CHECK(answer.cnames <= maxCnames);
	FUZZ_CHECK(answer.cnames > 0 || sameDnsName(answer.canonical, asked.name));
	if (answer.outcome == DnsOutcome::Answer)
		FUZZ_CHECK(!answer.records.empty() && message.rcode == 0);
	else
		FUZZ_CHECK(answer.records.empty());
	for (const DnsRecord &record : answer.records) {
		FUZZ_CHECK(record.type == asked.type);
		FUZZ_CHECK(record.rclass == kDnsClassIn);
		FUZZ_CHECK(sameDnsName(record.name, answer.canonical));
		if (record.type == kDnsTypeA)
			FUZZ_CHECK(record.address && record.address->isV4());
	}
	if (answer.outcome == DnsOutcome::Answer || answer.outcome == DnsOutcome::NoData)
		FUZZ_CHECK(answer.records.size() + answer.cnames + answer.ignored ==
			   message.answers.size());
	if (isQueryableDnsName(answer.canonical)) {
		const std::vector<std::uint8_t> query = makeDnsQuery(
			id, {answer.canonical, asked.type}, Edns::On);
		const std::optional<DnsMessage> back = parseDnsMessage(query.data(), query.size());
		FUZZ_CHECK(back && back->id == id && !back->response &&
			   back->questions.size() == 1 &&
			   sameDnsName(back->questions[0].name, answer.canonical) &&
			   back->questions[0].type == asked.type);
	}
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const std::optional<DnsMessage> message = parseDnsMessage(data, size);
	if (!message)
		return 0;
	for (const std::uint16_t type : kTypes) {
		for (const unsigned budget : {kDnsMaxCnames, 1U, 0U}) {
			if (!message->questions.empty())
				check({message->questions[0].name, type}, message->id, *message,
				      budget);
			check({"pbx.example.com", type}, message->id, *message, budget);
			check({"pbx.example.com", type},
			      static_cast<std::uint16_t>(message->id + 1), *message, budget);
		}
	}
	return 0;
}
