// SPDX-License-Identifier: MIT

#include "sip/unproven.hpp"

#include <algorithm>

namespace checksyncd {

void ProvenSources::prove(const SourcePrefix &prefix)
{
	entries_.get(prefix.bytes) = true;
}

bool ProvenSources::proven(const SourcePrefix &prefix) const
{
	return entries_.peek(prefix.bytes) != nullptr;
}

IpPrefix AnswerRateLimit::prefixOf(const IpAddress &address)
{
	return IpPrefix(address, address.isV4() ? 24 : 48);
}

bool AnswerRateLimit::take(Bucket &bucket, std::uint64_t rate, std::uint64_t burst,
			   std::uint64_t nowMs)
{
	const std::uint64_t full = burst * 1000;
	if (!bucket.started) {
		bucket.started = true;
		bucket.milliTokens = full;
	} else if (nowMs > bucket.lastMs) {
		// rate tokens a second: rate thousandths a millisecond.
		const std::uint64_t elapsed = std::min<std::uint64_t>(nowMs - bucket.lastMs, full);
		bucket.milliTokens = std::min(full, bucket.milliTokens + elapsed * rate);
	}
	bucket.lastMs = std::max(bucket.lastMs, nowMs);
	if (bucket.milliTokens < 1000)
		return false;
	bucket.milliTokens -= 1000;
	return true;
}

bool AnswerRateLimit::allow(const IpAddress &destination, std::uint64_t nowMs)
{
	Bucket &prefix = prefixes_.get(prefixOf(destination).network().bytes());
	// The prefix's own bucket first: a destination over its limit spends
	// nothing of the others' share.
	if (!take(prefix, kPerPrefixRate, kPerPrefixBurst, nowMs))
		return false;
	if (!take(total_, kTotalRate, kTotalBurst, nowMs)) {
		prefix.milliTokens += 1000; // not sent: its token is not spent
		return false;
	}
	return true;
}

} // namespace checksyncd
