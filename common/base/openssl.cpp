// SPDX-License-Identifier: MIT

#include "base/openssl.hpp"

#include <openssl/evp.h>

namespace checksyncd {

void OpenSslDeleter::operator()(EVP_MD *md) const noexcept
{
	EVP_MD_free(md);
}

void OpenSslDeleter::operator()(EVP_MD_CTX *ctx) const noexcept
{
	EVP_MD_CTX_free(ctx);
}

void OpenSslDeleter::operator()(EVP_MAC *mac) const noexcept
{
	EVP_MAC_free(mac);
}

void OpenSslDeleter::operator()(EVP_MAC_CTX *ctx) const noexcept
{
	EVP_MAC_CTX_free(ctx);
}

UniqueMacCtx keyedMac(const char *algorithm, std::span<const std::uint8_t> key,
		      const OSSL_PARAM *params)
{
	// The context keeps its own reference to the algorithm.
	const UniqueMac mac(EVP_MAC_fetch(nullptr, algorithm, nullptr));
	UniqueMacCtx ctx(mac ? EVP_MAC_CTX_new(mac.get()) : nullptr);
	if (!ctx || EVP_MAC_init(ctx.get(), key.data(), key.size(), params) != 1)
		return nullptr;
	return ctx;
}

} // namespace checksyncd
