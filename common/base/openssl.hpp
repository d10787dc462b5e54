// SPDX-License-Identifier: MIT
//
// OpenSSL objects that free themselves: the OpenSSL member of the RAII
// family (unique_fd.hpp, sofia.hpp, sdbus.hpp, xml.hpp). One deleter,
// overloaded per type; the frees are out of line so that a header holding
// one of these needs only <openssl/types.h>.

#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include <openssl/types.h>

namespace checksyncd {

struct OpenSslDeleter {
	void operator()(EVP_MD *md) const noexcept;
	void operator()(EVP_MD_CTX *ctx) const noexcept;
	void operator()(EVP_MAC *mac) const noexcept;
	// Wipes the key the context holds.
	void operator()(EVP_MAC_CTX *ctx) const noexcept;
};

using UniqueMd = std::unique_ptr<EVP_MD, OpenSslDeleter>;
using UniqueMdCtx = std::unique_ptr<EVP_MD_CTX, OpenSslDeleter>;
using UniqueMac = std::unique_ptr<EVP_MAC, OpenSslDeleter>;
using UniqueMacCtx = std::unique_ptr<EVP_MAC_CTX, OpenSslDeleter>;

// A MAC context of `algorithm` ("HMAC", "SIPHASH") initialised with `key`
// and `params`, ready for EVP_MAC_init(ctx, nullptr, 0, nullptr) per
// message; nullptr when OpenSSL cannot provide it.
UniqueMacCtx keyedMac(const char *algorithm, std::span<const std::uint8_t> key,
		      const OSSL_PARAM *params);

} // namespace checksyncd
