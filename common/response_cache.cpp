// SPDX-License-Identifier: MIT

#include "response_cache.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <system_error>

namespace checksyncd {

RequestKeyer::RequestKeyer(const Key &key)
	: mac_(nullptr, EVP_MAC_CTX_free)
{
	EVP_MAC *siphash = EVP_MAC_fetch(nullptr, "SIPHASH", nullptr);
	if (siphash)
		mac_.reset(EVP_MAC_CTX_new(siphash));
	EVP_MAC_free(siphash); // the context keeps its own reference
	std::size_t size = 16;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
		OSSL_PARAM_construct_end(),
	};
	if (!mac_ || EVP_MAC_init(mac_.get(), key.data(), key.size(), params) != 1)
		throw std::runtime_error("cannot set up SipHash");
}

RequestKeyer::~RequestKeyer() = default;

RequestKeyer::Key RequestKeyer::randomKey()
{
	Key key{};
	std::size_t filled = 0;
	while (filled < key.size()) {
		ssize_t n = getrandom(key.data() + filled, key.size() - filled, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			throw std::system_error(errno, std::generic_category(), "getrandom");
		}
		filled += static_cast<std::size_t>(n);
	}
	return key;
}

RequestKey RequestKeyer::key(std::string_view source, std::string_view branch,
			     std::string_view callId, std::uint32_t cseq,
			     std::string_view method) const
{
	// Each field is preceded by its length, so no two different requests
	// feed the same bytes.
	EVP_MAC_CTX *ctx = mac_.get();
	auto field = [ctx](const void *data, std::size_t size) {
		std::uint32_t length = static_cast<std::uint32_t>(size);
		return EVP_MAC_update(ctx, reinterpret_cast<const unsigned char *>(&length),
				      sizeof(length)) == 1 &&
		       EVP_MAC_update(ctx, static_cast<const unsigned char *>(data), size) == 1;
	};
	RequestKey out{};
	std::size_t length = 0;
	if (EVP_MAC_init(ctx, nullptr, 0, nullptr) != 1 || !field(source.data(), source.size()) ||
	    !field(branch.data(), branch.size()) || !field(callId.data(), callId.size()) ||
	    !field(&cseq, sizeof(cseq)) || !field(method.data(), method.size()) ||
	    EVP_MAC_final(ctx, out.data(), &length, out.size()) != 1 || length != out.size())
		throw std::runtime_error("SipHash failed");
	return out;
}

std::string toTagFor(const RequestKey &key)
{
	char text[17];
	for (int i = 0; i < 8; i++)
		std::snprintf(text + 2 * i, 3, "%02x", key[static_cast<std::size_t>(i)]);
	return std::string(text, 16);
}

bool ResponseCache::hasRoomForAuthenticated(std::uint64_t nowMs) const
{
	const CachedAnswer *oldest = authenticated_.oldest();
	return authenticated_.size() < authenticated_.capacity() || !oldest ||
	       nowMs >= oldest->expiresMs;
}

void ResponseCache::remember(const RequestKey &key, bool authenticated, int status,
			     unsigned retryAfterS, std::uint64_t nowMs)
{
	CachedAnswer &answer = (authenticated ? authenticated_ : plain_).get(key);
	answer.status = status;
	answer.retryAfterS = retryAfterS;
	answer.expiresMs = nowMs + kLifetimeMs;
}

std::optional<CachedAnswer> ResponseCache::lookup(const RequestKey &key, std::uint64_t nowMs)
{
	for (auto *table : {&authenticated_, &plain_}) {
		CachedAnswer *answer = table->find(key);
		if (!answer)
			continue;
		if (nowMs >= answer->expiresMs) {
			table->erase(key);
			continue;
		}
		return *answer;
	}
	return std::nullopt;
}

} // namespace checksyncd
