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
#include <vector>

#include "auth/digest.hpp"
#include "base/openssl.hpp"

namespace checksyncd {

inline constexpr std::uint64_t kNonceLifetimeMs = 30'000;
// The length of every nonce (base64url of 36 bytes) and opaque value.
inline constexpr std::size_t kNonceLength = 48;
inline constexpr std::size_t kOpaqueLength = 16;

struct NonceFacts {
	Algorithm algorithm = Algorithm::Md5;
	bool qop = true;            // qop="auth" was offered with it
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

	std::string issue(std::uint64_t nowMs, Algorithm algorithm, QopPolicy qop,
			  std::string_view realm, std::string_view sourceIp);

	// The facts inside `nonce` when it is well-formed and its MAC matches
	// realm and source IP; std::nullopt otherwise (forged, altered, for
	// another realm or address, or from another process). Expiry and use
	// are the caller's to check.
	std::optional<NonceFacts> verify(std::string_view nonce, std::string_view realm,
					 std::string_view sourceIp) const;

	// The opaque value of the challenges for `realm` (RFC 7616 3.3), which
	// an answer echoes: 16 characters, the same for every challenge of
	// this process and realm, so that no state is kept for it.
	std::string opaque(std::string_view realm) const;

	// The serial of the nonce issued last (0 before the first).
	std::uint32_t newestSerial() const { return nextSerial_ - 1; }

private:
	static constexpr std::size_t kMacBytes = 24;
	std::array<unsigned char, kMacBytes> mac(const unsigned char *head, std::size_t headSize,
						 std::string_view realm,
						 std::string_view sourceIp) const;

	// HMAC-SHA256 keyed once; each MAC re-initialises it with the same
	// key (EVP_MAC_init with a NULL key), which skips the key schedule.
	UniqueMacCtx hmac_;
	std::uint32_t nextSerial_ = 1;
};

// Nonces that have authorised a request: a sliding window of bits over the
// nonce serials, as Kamailio's one-time nonces keep them. The window covers
// the `size` serials issued last; a nonce older than that is refused as
// stale (the client is challenged again, RFC 7616 3.3), never with a 503,
// and the memory is size / 8 bytes whatever the traffic.
class UsedNonces
{
public:
	enum class Mark {
		Fresh,       // first use, now recorded
		AlreadyUsed, // replay
		OutOfWindow, // too many nonces were issued since: stale
	};

	// size: a power of two, at least 64.
	explicit UsedNonces(std::uint32_t size = kDefaultSize);

	// serial: the nonce's; newest: the serial of the nonce issued last
	// (NonceAuthority::newestSerial()).
	Mark markUsed(std::uint32_t serial, std::uint32_t newest);

	std::uint32_t size() const { return size_; }
	std::size_t bytes() const { return bits_.size() * sizeof(std::uint64_t); }

	// 2^16 serials (8 KiB): a flood must issue 65 536 challenges within
	// one PBX round trip to push the PBX's nonce out of the window.
	static constexpr std::uint32_t kDefaultSize = 1u << 16;

private:
	std::uint32_t size_;
	std::uint32_t high_ = 0; // newest serial the window has moved to
	std::vector<std::uint64_t> bits_;
};

} // namespace checksyncd
