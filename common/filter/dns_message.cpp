// SPDX-License-Identifier: MIT

#include "filter/dns_message.hpp"

#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <cstring>

#include "base/text.hpp"

namespace checksyncd {

namespace {

std::string_view withoutTrailingDot(std::string_view name)
{
	if (!name.empty() && name.back() == '.')
		name.remove_suffix(1);
	return name;
}

void putU16(std::vector<std::uint8_t> &out, std::uint16_t value)
{
	out.push_back(static_cast<std::uint8_t>(value >> 8));
	out.push_back(static_cast<std::uint8_t>(value & 0xff));
}

std::uint16_t getU16(const unsigned char *p)
{
	return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

// A name in RDATA (compressed or not) at `at`, within the RDATA's `end`:
// dn_expand() bounds pointers by the whole message; the first label must
// start inside the record. Returns the bytes it took in place, or -1.
int expandName(const ns_msg &handle, const unsigned char *at, const unsigned char *end,
	       std::string &name)
{
	if (at >= end)
		return -1;
	char buffer[NS_MAXDNAME];
	const int used = dn_expand(ns_msg_base(handle), ns_msg_end(handle), at, buffer,
				   sizeof(buffer));
	if (used < 0 || at + used > end)
		return -1;
	name = buffer;
	return used;
}

// One <character-string> (RFC 1035 3.3) at `at`; returns the bytes it took
// or -1.
int characterString(const unsigned char *at, const unsigned char *end, std::string &text)
{
	if (at >= end || at + 1 + *at > end)
		return -1;
	text.assign(reinterpret_cast<const char *>(at + 1), *at);
	return 1 + *at;
}

// The RDATA of the types the filter uses; false when it does not decode.
bool decodeRdata(const ns_msg &handle, const ns_rr &rr, DnsRecord &record)
{
	const unsigned char *data = ns_rr_rdata(rr);
	const unsigned char *end = data + ns_rr_rdlen(rr);
	const std::size_t length = ns_rr_rdlen(rr);
	switch (record.type) {
	case kDnsTypeA: {
		if (length != 4)
			return false;
		std::uint8_t bytes[4];
		std::memcpy(bytes, data, sizeof(bytes));
		record.address = IpAddress::fromV4(bytes);
		return true;
	}
	case kDnsTypeAaaa: {
		if (length != 16)
			return false;
		std::uint8_t bytes[16];
		std::memcpy(bytes, data, sizeof(bytes));
		record.address = IpAddress::fromV6(bytes);
		return true;
	}
	case kDnsTypeCname:
		return expandName(handle, data, end, record.target) == static_cast<int>(length);
	case kDnsTypeSrv: // priority, weight, port, target (RFC 2782)
		if (length < 7)
			return false;
		record.port = getU16(data + 4);
		return expandName(handle, data + 6, end, record.target) ==
		       static_cast<int>(length - 6);
	case kDnsTypeNaptr: { // order, preference, flags, services, regexp, replacement
		if (length < 4)
			return false;
		const unsigned char *at = data + 4;
		std::string regexp;
		for (std::string *text : {&record.flags, &record.services, &regexp}) {
			const int used = characterString(at, end, *text);
			if (used < 0)
				return false;
			at += used;
		}
		const int used = expandName(handle, at, end, record.target);
		return used >= 0 && at + used == end;
	}
	default:
		return true; // kept as a record of another type, never used
	}
}

} // namespace

std::string dnsTypeName(std::uint16_t type)
{
	switch (type) {
	case kDnsTypeA:
		return "A";
	case kDnsTypeAaaa:
		return "AAAA";
	case kDnsTypeCname:
		return "CNAME";
	case kDnsTypeSrv:
		return "SRV";
	case kDnsTypeNaptr:
		return "NAPTR";
	default:
		return "TYPE" + std::to_string(type);
	}
}

bool sameDnsName(std::string_view a, std::string_view b)
{
	return equalsIgnoreCase(withoutTrailingDot(a), withoutTrailingDot(b));
}

bool isQueryableDnsName(std::string_view name)
{
	name = withoutTrailingDot(name);
	if (name.empty() || name.size() > 253)
		return false;
	std::size_t label = 0;
	for (const char c : name) {
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				     (c >= '0' && c <= '9') || c == '-' || c == '_';
		if (!allowed || ++label > 63)
			return false;
	}
	return label > 0;
}

std::vector<std::uint8_t> makeDnsQuery(std::uint16_t id, const DnsQuestion &question, Edns edns)
{
	if (!isQueryableDnsName(question.name))
		return {};
	std::vector<std::uint8_t> out;
	out.reserve(12 + question.name.size() + 2 + 4 + 11);
	putU16(out, id);
	putU16(out, 0x0100); // a standard query, RD
	putU16(out, 1);      // QDCOUNT
	putU16(out, 0);      // ANCOUNT
	putU16(out, 0);      // NSCOUNT
	putU16(out, edns == Edns::On ? 1 : 0);
	std::string_view rest = withoutTrailingDot(question.name);
	while (!rest.empty()) {
		const std::size_t dot = std::min(rest.find('.'), rest.size());
		out.push_back(static_cast<std::uint8_t>(dot));
		out.insert(out.end(), rest.begin(),
			   rest.begin() + static_cast<std::ptrdiff_t>(dot));
		rest.remove_prefix(std::min(dot + 1, rest.size()));
	}
	out.push_back(0);
	putU16(out, question.type);
	putU16(out, question.qclass);
	if (edns == Edns::On) {
		out.push_back(0); // the root
		putU16(out, 41);  // OPT
		putU16(out, kDnsEdnsPayload);
		putU16(out, 0); // extended RCODE, version 0
		putU16(out, 0); // no DO bit
		putU16(out, 0); // no options
	}
	return out;
}

std::optional<DnsMessage> parseDnsMessage(const std::uint8_t *data, std::size_t size)
{
	ns_msg handle{};
	if (size > 65535 || ns_initparse(data, static_cast<int>(size), &handle) < 0)
		return std::nullopt;
	DnsMessage message;
	message.id = ns_msg_id(handle);
	message.response = ns_msg_getflag(handle, ns_f_qr) != 0;
	message.opcode = static_cast<unsigned>(ns_msg_getflag(handle, ns_f_opcode));
	message.truncated = ns_msg_getflag(handle, ns_f_tc) != 0;
	message.rcode = static_cast<unsigned>(ns_msg_getflag(handle, ns_f_rcode));

	ns_rr rr{};
	for (int i = 0; i < ns_msg_count(handle, ns_s_qd); ++i) {
		if (ns_parserr(&handle, ns_s_qd, i, &rr) < 0)
			return std::nullopt;
		message.questions.push_back({ns_rr_name(rr),
					     static_cast<std::uint16_t>(ns_rr_type(rr)),
					     static_cast<std::uint16_t>(ns_rr_class(rr))});
	}
	for (int i = 0; i < ns_msg_count(handle, ns_s_an); ++i) {
		if (ns_parserr(&handle, ns_s_an, i, &rr) < 0)
			return std::nullopt;
		DnsRecord record;
		record.name = ns_rr_name(rr);
		record.type = static_cast<std::uint16_t>(ns_rr_type(rr));
		record.rclass = static_cast<std::uint16_t>(ns_rr_class(rr));
		record.ttl = ns_rr_ttl(rr);
		if (!decodeRdata(handle, rr, record))
			return std::nullopt;
		message.answers.push_back(std::move(record));
	}
	return message;
}

int dnsSeverity(DnsOutcome outcome)
{
	switch (outcome) {
	case DnsOutcome::Timeout:
	case DnsOutcome::CannotSend:
		return 4;
	case DnsOutcome::ServerFailure:
	case DnsOutcome::Refused:
	case DnsOutcome::FormatError:
		return 3;
	case DnsOutcome::NoSuchName:
		return 2;
	case DnsOutcome::NoData:
		return 1;
	case DnsOutcome::Answer:
	case DnsOutcome::NotAnAnswer:
		return 0;
	}
	return 0;
}

std::string describeDnsOutcome(DnsOutcome outcome)
{
	switch (outcome) {
	case DnsOutcome::Timeout:
		return "no answer from the DNS server";
	case DnsOutcome::CannotSend:
		return "cannot send a DNS query";
	case DnsOutcome::NoSuchName:
		return "no such name";
	case DnsOutcome::NoData:
	case DnsOutcome::Answer:
	case DnsOutcome::NotAnAnswer:
		return "no A or AAAA record";
	case DnsOutcome::ServerFailure:
		return "DNS server failure";
	case DnsOutcome::Refused:
		return "refused by the DNS server";
	case DnsOutcome::FormatError:
		return "the DNS server did not understand the query";
	}
	return "DNS error";
}

DnsAnswer acceptDnsAnswer(const DnsQuestion &asked, std::uint16_t id, const DnsMessage &message,
			  unsigned maxCnames)
{
	DnsAnswer answer;
	answer.canonical = std::string(withoutTrailingDot(asked.name));
	if (!message.response || message.opcode != 0 || message.id != id ||
	    message.questions.size() != 1)
		return answer; // NotAnAnswer
	const DnsQuestion &question = message.questions.front();
	if (question.type != asked.type || question.qclass != kDnsClassIn ||
	    !sameDnsName(question.name, asked.name))
		return answer;

	switch (message.rcode) {
	case 0:
		break;
	case 1:
		answer.outcome = DnsOutcome::FormatError;
		return answer;
	case 3:
		answer.outcome = DnsOutcome::NoSuchName;
		return answer;
	case 5:
		answer.outcome = DnsOutcome::Refused;
		return answer;
	default:
		answer.outcome = DnsOutcome::ServerFailure;
		return answer;
	}

	const std::vector<DnsRecord> &records = message.answers;
	std::vector<bool> used(records.size(), false);
	// The chain from the name asked: at each step the first CNAME owned by
	// the current name (RFC 2181 10.1: there is at most one). A CNAME
	// query would take the CNAME itself as its record.
	if (asked.type != kDnsTypeCname) {
		while (answer.cnames < maxCnames) {
			const auto next = std::find_if(
				records.begin(), records.end(), [&](const DnsRecord &record) {
					return record.type == kDnsTypeCname &&
					       record.rclass == kDnsClassIn &&
					       sameDnsName(record.name, answer.canonical);
				});
			if (next == records.end())
				break;
			const auto index = static_cast<std::size_t>(next - records.begin());
			if (used[index])
				break; // a loop
			used[index] = true;
			++answer.cnames;
			answer.cnameTtl = std::min(answer.cnameTtl, next->ttl);
			answer.canonical = std::string(withoutTrailingDot(next->target));
		}
	}
	for (std::size_t i = 0; i < records.size(); ++i) {
		const DnsRecord &record = records[i];
		if (used[i] || record.type != asked.type || record.rclass != kDnsClassIn ||
		    !sameDnsName(record.name, answer.canonical))
			continue;
		used[i] = true;
		answer.records.push_back(record);
	}
	answer.ignored = static_cast<std::size_t>(std::count(used.begin(), used.end(), false));
	answer.outcome = answer.records.empty() ? DnsOutcome::NoData : DnsOutcome::Answer;
	return answer;
}

} // namespace checksyncd
