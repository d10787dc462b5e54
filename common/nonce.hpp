// SPDX-License-Identifier: MIT
//
// Stateless digest nonces and the bounded set of nonces already used.
//
// A nonce is base64url of 36 bytes:
//   version(1) | flags(1: algorithm, qop) | issued ms(6) | serial(4)
//   | HMAC-SHA256(key, the 12 bytes above | realm | 0 | source IP)[0..24)
// so the daemon keeps no per-challenge state: everything it needs to check
// an answer comes back inside the nonce, and the MAC binds it to the realm,
// the source address (not the port), the algorithm and the qop policy.
// The key is random per process; nonces do not survive a restart.

#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "digest.hpp"

extern "C" {
struct evp_mac_ctx_st;
}

namespace checksyncd {

inline constexpr std::uint64_t kNonceLifetimeMs = 30'000;

struct NonceFacts {
	Algorithm algorithm = Algorithm::Md5;
	bool qop = true;	  // qop="auth" was offered with it
	std::uint64_t issuedMs = 0; // monotonic milliseconds
	std::uint32_t serial = 0;

	bool expired(std::uint64_t nowMs) const
	{
		return nowMs < issuedMs || nowMs - issuedMs > kNonceLifetimeMs;
	}
};

class NonceAuthority
{
public:
	using Key = std::array<unsigned char, 32>;

	explicit NonceAuthority(const Key &key);
	~NonceAuthority();
	NonceAuthority(const NonceAuthority &) = delete;
	NonceAuthority &operator=(const NonceAuthority &) = delete;

	// A key from the kernel's CSPRNG (getrandom); throws std::system_error
	// when it cannot deliver.
	static Key randomKey();

	std::string issue(std::uint64_t nowMs, Algorithm algorithm, bool qop,
			  std::string_view realm, std::string_view sourceIp);

	// The facts inside `nonce` when it is well-formed and its MAC matches
	// realm and source IP; std::nullopt otherwise (forged, altered, for
	// another realm or address, or from another process). Expiry and use
	// are the caller's to check.
	std::optional<NonceFacts> verify(std::string_view nonce, std::string_view realm,
					 std::string_view sourceIp) const;

private:
	static constexpr std::size_t kMacBytes = 24;
	std::array<unsigned char, kMacBytes> mac(const unsigned char *head, std::size_t headSize,
						 std::string_view realm,
						 std::string_view sourceIp) const;

	// HMAC-SHA256 keyed once; each MAC re-initialises it with the same
	// key (EVP_MAC_init with a NULL key), which skips the key schedule.
	std::unique_ptr<evp_mac_ctx_st, void (*)(evp_mac_ctx_st *)> hmac_;
	std::uint32_t nextSerial_ = 1;
};

// Nonces that have authorised a request. Bounded: `capacity` entries, each
// kept only while its nonce could still be accepted (kNonceLifetimeMs).
class UsedNonces
{
public:
	enum class Mark {
		Fresh,	     // first use, now recorded
		AlreadyUsed, // replay
		Full,	     // no room: fail closed, the caller refuses
	};

	explicit UsedNonces(std::size_t capacity);

	Mark markUsed(const NonceFacts &nonce, std::uint64_t nowMs);
	std::size_t size() const { return used_.size(); }
	std::size_t capacity() const { return capacity_; }

private:
	void prune(std::uint64_t nowMs);

	std::size_t capacity_;
	std::unordered_map<std::uint32_t, std::uint64_t> used_; // serial -> issued ms
};

} // namespace checksyncd
