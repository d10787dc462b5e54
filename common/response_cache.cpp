// SPDX-License-Identifier: MIT

#include "response_cache.hpp"

#include "nonce.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstring>
#include <stdexcept>

namespace checksyncd {

RequestKeyer::RequestKeyer(const Key &key)
{
	std::size_t size = 16;
	const OSSL_PARAM params[] = {
		OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
		OSSL_PARAM_construct_end(),
	};
	mac_ = keyedMac("SIPHASH", key, params);
	if (!mac_)
		throw std::runtime_error("cannot set up SipHash");
}

RequestKeyer::~RequestKeyer() = default;

RequestKeyer::Key RequestKeyer::randomKey()
{
	Key key{};
	fillRandom(key.data(), key.size());
	return key;
}

RequestKey RequestKeyer::key(std::string_view source, std::string_view branch,
			     std::string_view callId, std::uint32_t cseq,
			     std::string_view method) const
{
	// Each field is preceded by its length, so no two different requests
	// feed the same bytes. Gathered into one buffer (one update is much
	// cheaper than ten); a longer request's Call-ID goes in by itself.
	std::array<unsigned char, 512> buffer;
	std::size_t used = 0;
	EVP_MAC_CTX *ctx = mac_.get();
	bool ok = EVP_MAC_init(ctx, nullptr, 0, nullptr) == 1;
	auto flush = [&] {
		ok = ok && EVP_MAC_update(ctx, buffer.data(), used) == 1;
		used = 0;
	};
	auto field = [&](const void *data, std::size_t size) {
		std::uint32_t length = static_cast<std::uint32_t>(size);
		if (used + sizeof(length) + size > buffer.size())
			flush();
		std::memcpy(buffer.data() + used, &length, sizeof(length));
		used += sizeof(length);
		if (size > buffer.size() - used) {
			flush();
			ok = ok && EVP_MAC_update(ctx, static_cast<const unsigned char *>(data),
						  size) == 1;
			return;
		}
		std::memcpy(buffer.data() + used, data, size);
		used += size;
	};
	field(source.data(), source.size());
	field(branch.data(), branch.size());
	field(callId.data(), callId.size());
	field(&cseq, sizeof(cseq));
	field(method.data(), method.size());
	flush();
	RequestKey out{};
	std::size_t length = 0;
	if (!ok || EVP_MAC_final(ctx, out.data(), &length, out.size()) != 1 || length != out.size())
		throw std::runtime_error("SipHash failed");
	return out;
}

std::string toTagFor(const RequestKey &key)
{
	static constexpr char kHex[] = "0123456789abcdef";
	std::string text(16, '0');
	for (std::size_t i = 0; i < 8; i++) {
		text[2 * i] = kHex[key[i] >> 4];
		text[2 * i + 1] = kHex[key[i] & 0x0f];
	}
	return text;
}

bool ResponseCache::hasRoomForAuthenticated(std::uint64_t nowMs) const
{
	const CachedAnswer *oldest = authenticated_.oldest();
	return authenticated_.size() < authenticated_.capacity() || !oldest ||
	       nowMs >= oldest->expiresMs;
}

void ResponseCache::remember(const RequestKey &key, Sender sender, int status, unsigned retryAfterS,
			     std::uint64_t nowMs)
{
	CachedAnswer &answer = (sender == Sender::Authenticated ? authenticated_ : plain_).get(key);
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
