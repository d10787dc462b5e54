// SPDX-License-Identifier: MIT
//
// What a source that has not proven itself may be sent. A datagram's
// source address may be forged: whatever is answered to it goes to a
// victim of the sender's choosing, so an answer bigger than the request,
// or as many answers as requests at any rate, makes the phone an
// amplifier. A source proves it receives what is sent to it by answering
// a challenge with a nonce of ours for its address (or by authenticating,
// or over a connection, which no one can spoof); until then (docs/security.md,
// "Amplification"):
//
// - an answer to it is at most twice the request's size (payload bytes;
//   with the IP and UDP headers on the wire, less than twice), so a 401
//   carries only each realm's most preferred algorithm, and only as many
//   realms as fit; when not even one challenge fits, nothing is sent;
// - its 4xx and 5xx answers are rate-limited with token buckets per
//   destination prefix (an IPv4 /24, an IPv6 /48: a victim's network) and
//   over all such destinations; past the limit, silence.
//
// Pure, with the clock passed in; every table bounded in entries and
// bytes (16-byte keys).

#pragma once

#include <cstddef>
#include <cstdint>

#include "base/bounded_lru.hpp"
#include "base/source_address.hpp"

namespace checksyncd {

// The prefixes that proved they receive our answers there: they get full
// answers at any rate. The most recently proven kept first.
class ProvenSources
{
public:
	static constexpr std::size_t kCapacity = 1024;

	ProvenSources() : entries_(kCapacity) {}

	void prove(const SourcePrefix &prefix);
	bool proven(const SourcePrefix &prefix) const;

	std::size_t size() const { return entries_.size(); }
	std::size_t bytesBound() const { return entries_.bytesBound(); }

private:
	BoundedLru<ByteKey<16>, bool> entries_;
};

// Token buckets: one per destination prefix, and one for all of them.
class AnswerRateLimit
{
public:
	// Answers a second to one destination prefix, and the burst allowed.
	static constexpr std::uint64_t kPerPrefixRate = 10;
	static constexpr std::uint64_t kPerPrefixBurst = 20;
	// Answers a second to all unproven destinations together.
	static constexpr std::uint64_t kTotalRate = 100;
	static constexpr std::uint64_t kTotalBurst = 200;
	// Destination prefixes remembered (least recently active forgotten:
	// a forgotten prefix starts again with a full bucket, which the total
	// bucket still bounds).
	static constexpr std::size_t kPrefixes = 1024;

	AnswerRateLimit() : prefixes_(kPrefixes) {}

	// Whether an answer may go to `destination` now; takes a token from
	// its prefix's bucket and from the total when it may.
	bool allow(const IpAddress &destination, std::uint64_t nowMs);

	// The destination prefix an address counts in: /24 or /48.
	static IpPrefix prefixOf(const IpAddress &address);

	std::size_t bytesBound() const { return prefixes_.bytesBound(); }

private:
	// Tokens in thousandths, so that a millisecond refills exactly.
	struct Bucket {
		std::uint64_t milliTokens = 0;
		std::uint64_t lastMs = 0;
		bool started = false;
	};
	static bool take(Bucket &bucket, std::uint64_t rate, std::uint64_t burst,
			 std::uint64_t nowMs);

	BoundedLru<ByteKey<16>, Bucket> prefixes_;
	Bucket total_;
};

// The largest answer an unproven source may be sent for a request of
// `requestBytes` (0: size unknown, no bound).
inline std::size_t unprovenAnswerBound(std::size_t requestBytes)
{
	return requestBytes ? 2 * requestBytes : SIZE_MAX;
}

} // namespace checksyncd
