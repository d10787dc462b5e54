// SPDX-License-Identifier: MIT

#include "sip/response_cache.hpp"

#include "auth/nonce.hpp"
#include "base/text.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstdint>
#include <cstring>
#include <new>
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
		// An empty field may come from an empty string_view, whose
		// data() is null: memcpy() takes no null pointer even for no bytes
		// (C11 7.24.1; UBSan's nonnull-attribute check).
		if (size > 0)
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
	return toHex(std::span<const unsigned char>(key.data(), 8));
}

AnswerTable::AnswerTable(std::size_t capacity, WhenFull whenFull)
	: capacity_(capacity), whenFull_(whenFull)
{
	// Two index slots per entry, a power of two: probe runs stay short.
	std::size_t slots = 2;
	while (slots < 2 * capacity_)
		slots *= 2;
	mask_ = slots - 1;
}

std::size_t AnswerTable::bytesBound() const
{
	return capacity_ * sizeof(Entry) + (mask_ + 1) * sizeof(std::uint32_t);
}

std::uint64_t AnswerTable::tagOf(const RequestKey &key)
{
	// Eight bytes of a keyed hash: no sender can choose two requests with
	// the same tag, and by chance two of 32 768 share one once in 2^34.
	std::uint64_t tag;
	std::memcpy(&tag, key.data(), sizeof(tag));
	return tag;
}

void AnswerTable::allocate()
{
	if (ring_)
		return;
	ring_ = std::make_unique_for_overwrite<Entry[]>(capacity_);
	index_.reset(static_cast<std::uint32_t *>(std::calloc(mask_ + 1, sizeof(std::uint32_t))));
	if (!index_)
		throw std::bad_alloc();
}

std::size_t AnswerTable::find(std::uint64_t tag) const
{
	if (!index_)
		return SIZE_MAX;
	for (std::size_t slot = tag & mask_;; slot = (slot + 1) & mask_) {
		const std::uint32_t held = index_.get()[slot];
		if (!held)
			return SIZE_MAX;
		if (ring_[held - 1].tag == tag)
			return slot;
	}
}

std::size_t AnswerTable::slotOf(std::uint64_t tag, std::size_t position) const
{
	for (std::size_t slot = tag & mask_;; slot = (slot + 1) & mask_)
		if (index_.get()[slot] == position + 1)
			return slot;
}

void AnswerTable::dropOldest()
{
	const std::size_t position = oldest_;
	std::uint32_t *index = index_.get();
	std::size_t hole = slotOf(ring_[position].tag, position);
	// Backward-shift deletion: move up every later entry of the run that
	// could sit in the hole, so that no probe stops early.
	for (std::size_t slot = (hole + 1) & mask_; index[slot]; slot = (slot + 1) & mask_) {
		const std::size_t home = ring_[index[slot] - 1].tag & mask_;
		if (((slot - home) & mask_) >= ((slot - hole) & mask_)) {
			index[hole] = index[slot];
			hole = slot;
		}
	}
	index[hole] = 0;
	oldest_ = (oldest_ + 1) % capacity_;
	--count_;
}

void AnswerTable::expire(std::uint64_t nowMs)
{
	while (count_ && nowMs >= ring_[oldest_].expiresMs)
		dropOldest();
}

bool AnswerTable::hasRoom(std::uint64_t nowMs)
{
	expire(nowMs);
	return count_ < capacity_ || whenFull_ == WhenFull::PushOutOldest;
}

std::uint64_t AnswerTable::roomAtMs(std::uint64_t nowMs)
{
	if (hasRoom(nowMs))
		return nowMs;
	return ring_[oldest_].expiresMs;
}

bool AnswerTable::remember(const RequestKey &key, int status, unsigned retryAfterS,
			   std::uint64_t nowMs)
{
	if (!capacity_)
		return false;
	allocate();
	expire(nowMs);
	const std::uint64_t tag = tagOf(key);
	// Answered again (a request served twice): the newer answer counts,
	// for the lifetime of the first.
	if (const std::size_t slot = find(tag); slot != SIZE_MAX) {
		Entry &entry = ring_[index_.get()[slot] - 1];
		entry.status = static_cast<std::uint16_t>(status);
		entry.retryAfterS = static_cast<std::uint16_t>(retryAfterS);
		return true;
	}
	if (count_ == capacity_) {
		if (whenFull_ == WhenFull::Refuse)
			return false;
		dropOldest();
	}
	const std::size_t position = (oldest_ + count_) % capacity_;
	ring_[position] = Entry{tag, nowMs + kLifetimeMs, static_cast<std::uint16_t>(status),
				static_cast<std::uint16_t>(retryAfterS)};
	std::size_t slot = tag & mask_;
	while (index_.get()[slot])
		slot = (slot + 1) & mask_;
	index_.get()[slot] = static_cast<std::uint32_t>(position + 1);
	++count_;
	return true;
}

std::optional<CachedAnswer> AnswerTable::lookup(const RequestKey &key, std::uint64_t nowMs)
{
	if (!count_)
		return std::nullopt;
	expire(nowMs);
	const std::size_t slot = find(tagOf(key));
	if (slot == SIZE_MAX)
		return std::nullopt;
	const Entry &entry = ring_[index_.get()[slot] - 1];
	return CachedAnswer{entry.status, entry.retryAfterS, entry.expiresMs};
}

bool ResponseCache::remember(const RequestKey &key, Sender sender, int status, unsigned retryAfterS,
			     std::uint64_t nowMs)
{
	return (sender == Sender::Authenticated ? authenticated_ : plain_)
		.remember(key, status, retryAfterS, nowMs);
}

std::optional<CachedAnswer> ResponseCache::lookup(const RequestKey &key, std::uint64_t nowMs)
{
	if (std::optional<CachedAnswer> answer = authenticated_.lookup(key, nowMs)) {
		answer->authenticated = true;
		return answer;
	}
	return plain_.lookup(key, nowMs);
}

} // namespace checksyncd
