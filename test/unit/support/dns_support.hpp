// SPDX-License-Identifier: MIT
//
// DNS messages written byte by byte for the tests (RFC 1035 4.1): the
// answers a server, or a forger, sends. Independent of
// common/filter/dns_message.cpp, which reads them.

#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace checksyncd::test {

using Bytes = std::vector<std::uint8_t>;

inline void put16(Bytes &out, unsigned value)
{
	out.push_back(static_cast<std::uint8_t>((value >> 8) & 0xff));
	out.push_back(static_cast<std::uint8_t>(value & 0xff));
}

inline void put32(Bytes &out, std::uint32_t value)
{
	put16(out, value >> 16);
	put16(out, value & 0xffff);
}

// Uncompressed labels, then the root.
inline Bytes wireName(std::string_view name)
{
	Bytes out;
	while (!name.empty()) {
		const std::size_t dot = std::min(name.find('.'), name.size());
		out.push_back(static_cast<std::uint8_t>(dot));
		out.insert(out.end(), name.begin(),
			   name.begin() + static_cast<std::ptrdiff_t>(dot));
		name.remove_prefix(std::min(dot + 1, name.size()));
	}
	out.push_back(0);
	return out;
}

inline Bytes rdataA(const char *address)
{
	Bytes out(4);
	inet_pton(AF_INET, address, out.data());
	return out;
}

inline Bytes rdataAaaa(const char *address)
{
	Bytes out(16);
	inet_pton(AF_INET6, address, out.data());
	return out;
}

inline Bytes rdataSrv(unsigned port, std::string_view target)
{
	Bytes out;
	put16(out, 10); // priority
	put16(out, 20); // weight
	put16(out, port);
	const Bytes name = wireName(target);
	out.insert(out.end(), name.begin(), name.end());
	return out;
}

inline Bytes rdataNaptr(std::string_view flags, std::string_view services,
			std::string_view replacement)
{
	Bytes out;
	put16(out, 10); // order
	put16(out, 10); // preference
	for (const std::string_view text : {flags, services, std::string_view()}) {
		out.push_back(static_cast<std::uint8_t>(text.size()));
		out.insert(out.end(), text.begin(), text.end());
	}
	const Bytes name = wireName(replacement);
	out.insert(out.end(), name.begin(), name.end());
	return out;
}

struct Rr {
	std::string name;
	std::uint16_t type = 1;
	Bytes rdata;
	std::uint32_t ttl = 300;
	std::uint16_t rclass = 1;
};

inline void putRr(Bytes &out, const Rr &rr)
{
	const Bytes name = wireName(rr.name);
	out.insert(out.end(), name.begin(), name.end());
	put16(out, rr.type);
	put16(out, rr.rclass);
	put32(out, rr.ttl);
	put16(out, static_cast<unsigned>(rr.rdata.size()));
	out.insert(out.end(), rr.rdata.begin(), rr.rdata.end());
}

struct Response {
	std::uint16_t id = 0;
	std::string qname;
	std::uint16_t qtype = 1;
	std::vector<Rr> answers;
	std::vector<Rr> authority;
	std::vector<Rr> additional;
	unsigned rcode = 0;
	unsigned flags = 0x8180; // QR, RD, RA
	unsigned questions = 1;

	Bytes bytes() const
	{
		Bytes out;
		put16(out, id);
		put16(out, flags | rcode);
		put16(out, questions);
		put16(out, static_cast<unsigned>(answers.size()));
		put16(out, static_cast<unsigned>(authority.size()));
		put16(out, static_cast<unsigned>(additional.size()));
		for (unsigned i = 0; i < questions; ++i) {
			const Bytes name = wireName(qname);
			out.insert(out.end(), name.begin(), name.end());
			put16(out, qtype);
			put16(out, 1);
		}
		for (const auto *section : {&answers, &authority, &additional})
			for (const Rr &rr : *section)
				putRr(out, rr);
		return out;
	}
};

// The ID and question of a query (uncompressed, as queries are).
struct SeenQuery {
	std::uint16_t id = 0;
	std::string name;
	std::uint16_t type = 0;
	unsigned additional = 0; // ARCOUNT: 1 with an EDNS(0) OPT record
};

inline bool readQuery(const std::uint8_t *data, std::size_t size, SeenQuery &query)
{
	if (size < 12)
		return false;
	query.id = static_cast<std::uint16_t>((data[0] << 8) | data[1]);
	query.additional = static_cast<unsigned>((data[10] << 8) | data[11]);
	std::size_t at = 12;
	query.name.clear();
	while (at < size && data[at] != 0) {
		const std::size_t length = data[at++];
		if (at + length > size)
			return false;
		if (!query.name.empty())
			query.name += '.';
		query.name.append(reinterpret_cast<const char *>(data + at), length);
		at += length;
	}
	if (at + 5 > size)
		return false;
	query.type = static_cast<std::uint16_t>((data[at + 1] << 8) | data[at + 2]);
	return true;
}

} // namespace checksyncd::test
