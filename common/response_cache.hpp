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
// Two tables, each an LRU: answers to authenticated requests, which only a
// sender that knows the password can add, and the others. A flood of
// unauthenticated check-syncs can push out only its own kind, never the
// answer a PBX's retransmission needs after it authenticated.

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "bounded_lru.hpp"
#include "openssl.hpp"

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

	// A key from the kernel's CSPRNG.
	static Key randomKey();

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
};

class ResponseCache
{
public:
	static constexpr std::uint64_t kLifetimeMs = 32'000;

	explicit ResponseCache(std::size_t capacity = 1024)
		: plain_(capacity), authenticated_(capacity)
	{
	}

	// False when remembering an authenticated answer now would push out
	// one whose sender may still retransmit: the caller answers it in a
	// server transaction instead (nta then keeps it for Timer J). Only a
	// sender that knows the password gets here, at its own rate.
	bool hasRoomForAuthenticated(std::uint64_t nowMs) const;

	// Who sent the request answered: picks the table.
	enum class Sender : bool {
		Unauthenticated,
		Authenticated, // knows the password
	};
	void remember(const RequestKey &key, Sender sender, int status, unsigned retryAfterS,
		      std::uint64_t nowMs);
	std::optional<CachedAnswer> lookup(const RequestKey &key, std::uint64_t nowMs);

	std::size_t size() const { return plain_.size() + authenticated_.size(); }
	std::size_t bytesBound() const { return plain_.bytesBound() + authenticated_.bytesBound(); }

private:
	BoundedLru<RequestKey, CachedAnswer> plain_;
	BoundedLru<RequestKey, CachedAnswer> authenticated_;
};

} // namespace checksyncd
