// SPDX-License-Identifier: MIT
//
// HTTP digest arithmetic (RFC 2617, RFC 7616, RFC 8760) on top of libcrypto.
// Pure functions: no state, no logging, no I/O.

#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace checksyncd {

enum class Algorithm : unsigned char {
	Md5 = 0,
	Sha256 = 1,
	Sha512_256 = 2,
};

// Whether challenges (and the nonces in them) ask for qop="auth"
// (checksync_qop).
enum class QopPolicy : unsigned char {
	Auth, // qop="auth" (RFC 2617/7616)
	None, // RFC 2069 style, the seed's challenge
};

// The token used in WWW-Authenticate and Authorization ("MD5", "SHA-256",
// "SHA-512-256").
std::string_view algorithmName(Algorithm algorithm);

// Case-insensitive inverse of algorithmName(). "-sess" variants and unknown
// tokens give std::nullopt.
std::optional<Algorithm> parseAlgorithm(std::string_view token);

// Number of lower-case hex digits of a digest made with this algorithm.
std::size_t hexLength(Algorithm algorithm);

// Lower-case hex of H(data).
std::string hashHex(Algorithm algorithm, std::string_view data);

// HA1 = H(username ":" realm ":" password)
std::string computeHa1(Algorithm algorithm, std::string_view username, std::string_view realm,
		       std::string_view password);

struct DigestInput {
	std::string_view method;
	std::string_view uri;
	std::string_view nonce;
	std::string_view nc;     // empty when qop is empty
	std::string_view cnonce; // empty when qop is empty
	std::string_view qop;    // "auth", or empty for RFC 2069 style
};

// The request-digest for the given HA1 (lower-case hex).
std::string computeResponse(Algorithm algorithm, std::string_view ha1Hex, const DigestInput &input);

// Constant-time comparison of two hex strings, case-insensitive for the
// received one. Different lengths compare unequal without an early exit on
// content.
bool hexEqualConstantTime(std::string_view expected, std::string_view received);

// True when text is exactly `length` hex digits (either case).
bool isHex(std::string_view text, std::size_t length);

} // namespace checksyncd
