// SPDX-License-Identifier: MIT
//
// Final answers sent statelessly to check-syncs that were served, kept for
// as long as the sender may retransmit (Timer J, 32 s), so that a
// retransmission gets the same answer and never a second action without
// any transaction state. Bounded (LRU): under a flood old entries are
// forgotten first; the action gate still bounds the D-Bus calls.

#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bounded_lru.hpp"

namespace checksyncd {

struct CachedAnswer {
	int status = 0;
	unsigned retryAfterS = 0; // 0: none
	std::uint64_t expiresMs = 0;
};

class ResponseCache
{
public:
	static constexpr std::uint64_t kLifetimeMs = 32'000;

	explicit ResponseCache(std::size_t capacity = 1024)
		: entries_(capacity)
	{
	}

	// key identifies the request: see requestKey().
	void remember(std::string_view key, int status, unsigned retryAfterS, std::uint64_t nowMs);
	std::optional<CachedAnswer> lookup(std::string_view key, std::uint64_t nowMs);

	std::size_t size() const { return entries_.size(); }

private:
	BoundedLru<CachedAnswer> entries_;
};

// What makes a retransmission the same request (RFC 3261 17.2.3): source,
// top Via branch, Call-ID, CSeq number and method.
std::string requestKey(std::string_view source, std::string_view branch, std::string_view callId,
		       std::uint32_t cseq, std::string_view method);

} // namespace checksyncd
