// SPDX-License-Identifier: MIT
//
// DNS messages as the source filter's resolver (daemon/filter/resolver.cpp) sends
// them and what it believes of an answer: pure functions, bytes and
// records in, records out.
//
// - makeDnsQuery(): one question (RFC 1035 4.1), recursion desired, and an
//   EDNS(0) OPT record offering 1232 bytes (RFC 6891; the size DNS Flag
//   Day 2020 settled on, below the IPv6 minimum MTU with headers).
// - parseDnsMessage(): glibc's libresolv reads the wire format (ns_initparse
//   checks every section against the message's end, ns_parserr and
//   dn_expand follow compression pointers); this unit decodes the RDATA of
//   the five types the filter uses and keeps the answer section only. The
//   authority and additional sections are never used (RFC 2181 5.4.1 ranks
//   them below the answer).
// - acceptDnsAnswer(): the rule. A message is the answer to a query only
//   when it is a response (QR, opcode QUERY) with the query's ID and the
//   query's one question, name, type and class IN (RFC 5452 9.1; the
//   caller checks the server's address and port and the socket's own
//   port); anything else is not an answer at all and the query goes on
//   waiting for the real one. Of an answer, only the CNAME chain that
//   starts at the name asked (RFC 1034 3.6.2, 4.3.2) and the records of the
//   type asked at its end count; every other record is ignored.
//
// sofia-sip's sresolv, used before, matched an answer by its ID alone and
// never read the question (sres_decode_msg() skips it), and handed over
// answer records whatever their owner: docs/security.md#the-source-filter.

#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/net_address.hpp"

namespace checksyncd {

inline constexpr std::uint16_t kDnsTypeA = 1;
inline constexpr std::uint16_t kDnsTypeCname = 5;
inline constexpr std::uint16_t kDnsTypeAaaa = 28;
inline constexpr std::uint16_t kDnsTypeSrv = 33;
inline constexpr std::uint16_t kDnsTypeNaptr = 35;
inline constexpr std::uint16_t kDnsClassIn = 1;

// The UDP payload an EDNS(0) query offers.
inline constexpr std::uint16_t kDnsEdnsPayload = 1232;
// The most CNAME records followed from one name, over the answers to it
// and to the queries for the chain's end (a loop ends there too).
inline constexpr unsigned kDnsMaxCnames = 8;

// "A", "AAAA", "SRV", "NAPTR", "CNAME", else the number.
std::string dnsTypeName(std::uint16_t type);

struct DnsQuestion {
	std::string name; // no trailing dot; compared without regard to case
	std::uint16_t type = 0;
	std::uint16_t qclass = kDnsClassIn;

	bool operator==(const DnsQuestion &) const = default;
};

enum class Edns : bool {
	Off,
	On,
};

// True when `name` can be asked: labels of 1 to 63 letters, digits, '-'
// and '_' (SRV names: RFC 2782), at most 253 bytes without the trailing
// dot. A name taken from an answer (a CNAME, SRV or NAPTR target) that is
// not one is not followed.
bool isQueryableDnsName(std::string_view name);

// The query for `question` with `id`; empty when !isQueryableDnsName().
std::vector<std::uint8_t> makeDnsQuery(std::uint16_t id, const DnsQuestion &question, Edns edns);

struct DnsRecord {
	std::string name; // owner, as libresolv writes it: no trailing dot
	std::uint16_t type = 0;
	std::uint16_t rclass = 0;
	std::uint32_t ttl = 0;
	std::optional<IpAddress> address; // A, AAAA
	// CNAME: the canonical name; SRV: the target; NAPTR: the replacement.
	std::string target;
	std::uint16_t port = 0; // SRV
	std::string flags;      // NAPTR
	std::string services;   // NAPTR
};

struct DnsMessage {
	std::uint16_t id = 0;
	bool response = false; // QR
	unsigned opcode = 0;
	bool truncated = false; // TC: the records that fitted are here
	unsigned rcode = 0;
	std::vector<DnsQuestion> questions;
	std::vector<DnsRecord> answers; // the answer section
};

// nullopt: not a DNS message, or one whose sections overrun it, or an A,
// AAAA, CNAME, SRV or NAPTR record in the answer section whose RDATA does
// not decode.
std::optional<DnsMessage> parseDnsMessage(const std::uint8_t *data, std::size_t size);

// What one query came to; the last two are the transport's (the daemon's
// resolver), never acceptDnsAnswer()'s.
enum class DnsOutcome : unsigned char {
	Answer,        // records of the type asked (records not empty)
	NoData,        // NOERROR without them (RFC 2308 2.2)
	NoSuchName,    // NXDOMAIN
	ServerFailure, // SERVFAIL, NOTIMP, any other RCODE
	Refused,       // REFUSED
	FormatError,   // FORMERR: the server may not take EDNS(0)
	NotAnAnswer,   // not the answer to this query: ignore it
	Timeout,       // no answer from any server in time
	CannotSend,    // no socket, or sendto() failed for every server
};

// How bad a failed query is: the one reason a failed lookup gives is its
// worst query's.
int dnsSeverity(DnsOutcome outcome);
// "no such name", "no answer from the DNS server", ...
std::string describeDnsOutcome(DnsOutcome outcome);

struct DnsAnswer {
	DnsOutcome outcome = DnsOutcome::NotAnAnswer;
	// The records of the type asked owned by `canonical`, in message order.
	std::vector<DnsRecord> records;
	// Where the CNAME chain from the name asked ends: the name asked when
	// there is none. With NoData and a canonical name other than the name
	// asked, the chain's target was not in the answer: ask for it.
	std::string canonical;
	unsigned cnames = 0; // CNAME records followed
	// The smallest TTL of the CNAME records followed (UINT32_MAX without
	// one): what the records found through them hold no longer than.
	std::uint32_t cnameTtl = UINT32_MAX;
	// Records of the answer section not taken: other owners, other types,
	// other classes, a CNAME chain that does not start at the name asked,
	// CNAMEs past kDnsMaxCnames.
	std::size_t ignored = 0;
};

// The rule above, for a message received for the query `asked` sent with
// `id`. At most `maxCnames` CNAME records are followed (what is left of
// the lookup's kDnsMaxCnames).
DnsAnswer acceptDnsAnswer(const DnsQuestion &asked, std::uint16_t id, const DnsMessage &message,
			  unsigned maxCnames = kDnsMaxCnames);

// True when a and b are the same DNS name: ASCII case ignored, and a
// trailing dot on either.
bool sameDnsName(std::string_view a, std::string_view b);

} // namespace checksyncd
