// SPDX-License-Identifier: MIT
//
// Final answers sent statelessly to check-syncs that were served, kept for
// as long as the sender may retransmit (Timer J, 32 s), so that a
// retransmission gets the same answer and never a second action without
// any transaction state.
//
// Keys are a keyed hash of what makes a retransmission the same request
// (RFC 3261 17.2.3: source, top Via branch, Call-ID, CSeq number, method),
// 16 bytes whatever the request carries: a 60 kB Call-ID costs the cache
// what a 10-byte one does.
//
// Two tables (ResponseCache below), each a ring of fixed-size entries
// (AnswerTable): bounded in bytes whatever the rate.

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/bounded_lru.hpp"
#include "base/openssl.hpp"

namespace checksyncd {

using RequestKey = ByteKey<16>;

// SipHash-2-4 (libcrypto's EVP_MAC "SIPHASH", 128-bit output) under a
// random per-process key: collisions cannot be chosen from outside.
class RequestKeyer
{
public:
	using Key = std::array<unsigned char, 16>;

	explicit RequestKeyer(const Key &key);
	~RequestKeyer();
	RequestKeyer(const RequestKeyer &) = delete;
	RequestKeyer &operator=(const RequestKeyer &) = delete;

	RequestKey key(std::string_view source, std::string_view branch, std::string_view callId,
		       std::uint32_t cseq, std::string_view method) const;

private:
	UniqueMacCtx mac_;
};

// The To tag of every final answer to the request (RFC 3261 8.2.6.2: a
// retransmission gets the same tag): 16 hex digits of its key.
std::string toTagFor(const RequestKey &key);

struct CachedAnswer {
	int status = 0;
	unsigned retryAfterS = 0; // 0: none
	std::uint64_t expiresMs = 0;
	bool authenticated = false; // from the table of authenticated answers
};

// Answers in arrival order, each kept for kLifetimeMs: a ring of
// fixed-size entries (a 64-bit tag of the request's key, the answer and
// its expiry; 24 bytes) with an open-addressing index (linear probing,
// backward-shift deletion; two 4-byte slots per entry). Every entry lives
// exactly kLifetimeMs, so the oldest is always the first to expire: no
// per-entry allocation, no timer, O(1) per request. Memory is taken at the
// first answer (the index zeroed by calloc, so the kernel maps pages only
// as they are written) and never grows: capacity * 32 bytes.
class AnswerTable
{
public:
	static constexpr std::uint64_t kLifetimeMs = 32'000;

	enum class WhenFull : bool {
		PushOutOldest, // the newest answer wins
		Refuse,        // remember() fails while all are younger than kLifetimeMs
	};

	AnswerTable(std::size_t capacity, WhenFull whenFull);
	AnswerTable(const AnswerTable &) = delete;
	AnswerTable &operator=(const AnswerTable &) = delete;

	// Whether remember() would take a new answer now.
	bool hasRoom(std::uint64_t nowMs);
	// When a full Refuse table has room again (nowMs when it has).
	std::uint64_t roomAtMs(std::uint64_t nowMs);
	// False when refused (a full Refuse table): the answer is not kept.
	bool remember(const RequestKey &key, int status, unsigned retryAfterS, std::uint64_t nowMs);
	std::optional<CachedAnswer> lookup(const RequestKey &key, std::uint64_t nowMs);

	std::size_t size() const { return count_; }
	std::size_t capacity() const { return capacity_; }
	std::size_t bytesBound() const;

private:
	struct Entry {
		std::uint64_t tag;
		std::uint64_t expiresMs;
		std::uint16_t status;
		std::uint16_t retryAfterS;
	};
	struct Free {
		void operator()(std::uint32_t *p) const noexcept { std::free(p); }
	};

	static std::uint64_t tagOf(const RequestKey &key);
	void allocate();
	void expire(std::uint64_t nowMs);
	void dropOldest();
	// The index slot that holds ring position `position`, or of `tag`
	// (npos when absent).
	std::size_t slotOf(std::uint64_t tag, std::size_t position) const;
	std::size_t find(std::uint64_t tag) const;

	std::size_t capacity_;
	WhenFull whenFull_;
	std::size_t mask_ = 0; // index size - 1
	std::unique_ptr<Entry[]> ring_;
	std::unique_ptr<std::uint32_t, Free> index_; // ring position + 1; 0: empty
	std::size_t oldest_ = 0;                     // ring position of the oldest entry
	std::size_t count_ = 0;
};

// Answers kept for retransmissions, in two tables: answers to
// authenticated requests, which only a sender that knows the password can
// add, and the others. A flood of unauthenticated check-syncs can push out
// only its own kind, never the answer a PBX's retransmission needs after
// it authenticated; and the authenticated table is never pushed out
// within Timer J at all: when it is full of answers younger than that,
// the guard admits no more authenticated check-syncs until it has room
// (503 with Retry-After), instead of holding state without a bound.
class ResponseCache
{
public:
	static constexpr std::uint64_t kLifetimeMs = AnswerTable::kLifetimeMs;

	ResponseCache(std::size_t plainCapacity, std::size_t authenticatedCapacity)
		: plain_(plainCapacity, AnswerTable::WhenFull::PushOutOldest),
		  authenticated_(authenticatedCapacity, AnswerTable::WhenFull::Refuse)
	{
	}

	// Whether an authenticated answer given now can be kept for Timer J.
	bool hasRoomForAuthenticated(std::uint64_t nowMs) { return authenticated_.hasRoom(nowMs); }
	// When it has room again.
	std::uint64_t authenticatedRoomAtMs(std::uint64_t nowMs)
	{
		return authenticated_.roomAtMs(nowMs);
	}

	// Who sent the request answered: picks the table.
	enum class Sender : bool {
		Unauthenticated,
		Authenticated, // knows the password
	};
	// False when an authenticated answer could not be kept (no room).
	bool remember(const RequestKey &key, Sender sender, int status, unsigned retryAfterS,
		      std::uint64_t nowMs);
	std::optional<CachedAnswer> lookup(const RequestKey &key, std::uint64_t nowMs);

	std::size_t size() const { return plain_.size() + authenticated_.size(); }
	std::size_t bytesBound() const { return plain_.bytesBound() + authenticated_.bytesBound(); }

private:
	AnswerTable plain_;
	AnswerTable authenticated_;
};

} // namespace checksyncd
