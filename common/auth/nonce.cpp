// SPDX-License-Identifier: MIT

#include "auth/nonce.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace checksyncd {

namespace {

constexpr unsigned char kVersion = 1;
constexpr std::size_t kHeadBytes = 12;
constexpr std::size_t kNonceBytes = 36;                  // head + 24 bytes of MAC
constexpr std::size_t kNonceChars = kNonceBytes / 3 * 4; // base64, no padding
static_assert(kNonceChars == kNonceLength);

// base64url on top of libcrypto's base64 (standard alphabet, which would
// put '/' and '+' in a header parameter).
std::string encode(const unsigned char *data, std::size_t size)
{
	std::string text(size / 3 * 4 + 4, '\0');
	int n = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(text.data()), data,
				static_cast<int>(size));
	text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
	for (char &c : text)
		c = c == '+' ? '-' : c == '/' ? '_' : c;
	return text;
}

bool decode(std::string_view text, std::array<unsigned char, kNonceBytes> &out)
{
	if (text.size() != kNonceChars)
		return false;
	std::string standard(text);
	for (char &c : standard) {
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (c == '+' || c == '/' || c == '=')
			return false; // only the url-safe alphabet is ours
	}
	std::array<unsigned char, kNonceBytes + 3> buffer{};
	int n = EVP_DecodeBlock(buffer.data(),
				reinterpret_cast<const unsigned char *>(standard.data()),
				static_cast<int>(standard.size()));
	if (n != static_cast<int>(kNonceBytes))
		return false;
	std::copy_n(buffer.begin(), kNonceBytes, out.begin());
	return true;
}

} // namespace

NonceAuthority::NonceAuthority(const Key &key)
{
	char digest[] = "SHA256";
	const OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	hmac_ = keyedMac("HMAC", key, params);
	if (!hmac_)
		throw std::runtime_error("cannot set up HMAC-SHA256");
}

NonceAuthority::~NonceAuthority() = default; // freeing the context wipes the key

std::array<unsigned char, NonceAuthority::kMacBytes>
NonceAuthority::mac(const unsigned char *head, std::size_t headSize, std::string_view realm,
		    std::string_view sourceIp) const
{
	static constexpr unsigned char separator = 0;
	EVP_MAC_CTX *ctx = hmac_.get();
	std::array<unsigned char, EVP_MAX_MD_SIZE> full{};
	std::size_t length = 0;
	if (EVP_MAC_init(ctx, nullptr, 0, nullptr) != 1 ||
	    EVP_MAC_update(ctx, head, headSize) != 1 ||
	    EVP_MAC_update(ctx, reinterpret_cast<const unsigned char *>(realm.data()),
			   realm.size()) != 1 ||
	    EVP_MAC_update(ctx, &separator, 1) != 1 ||
	    EVP_MAC_update(ctx, reinterpret_cast<const unsigned char *>(sourceIp.data()),
			   sourceIp.size()) != 1 ||
	    EVP_MAC_final(ctx, full.data(), &length, full.size()) != 1 || length < kMacBytes)
		throw std::runtime_error("HMAC-SHA256 failed");
	std::array<unsigned char, kMacBytes> out{};
	std::copy_n(full.begin(), kMacBytes, out.begin());
	return out;
}

std::string NonceAuthority::issue(std::uint64_t nowMs, Algorithm algorithm, QopPolicy qop,
				  std::string_view realm, std::string_view sourceIp)
{
	std::array<unsigned char, kNonceBytes> raw{};
	std::uint32_t serial = nextSerial_++;
	raw[0] = kVersion;
	raw[1] = static_cast<unsigned char>(static_cast<unsigned>(algorithm) |
					    (qop == QopPolicy::Auth ? 0x10 : 0));
	for (int i = 0; i < 6; i++)
		raw[2 + i] = static_cast<unsigned char>(nowMs >> (8 * (5 - i)));
	for (int i = 0; i < 4; i++)
		raw[8 + i] = static_cast<unsigned char>(serial >> (8 * (3 - i)));
	auto tag = mac(raw.data(), kHeadBytes, realm, sourceIp);
	std::copy(tag.begin(), tag.end(), raw.begin() + kHeadBytes);
	return encode(raw.data(), raw.size());
}

std::string NonceAuthority::opaque(std::string_view realm) const
{
	// A head no nonce has (its version byte is 1): the value cannot stand
	// for a nonce's MAC, and only 12 of its 24 bytes are shown.
	static constexpr unsigned char kHead[] = {0xff, 'o', 'p', 'a', 'q', 'u', 'e'};
	const auto tag = mac(kHead, sizeof(kHead), realm, "");
	static_assert(12 / 3 * 4 == kOpaqueLength);
	return encode(tag.data(), 12);
}

std::optional<NonceFacts> NonceAuthority::verify(std::string_view nonce, std::string_view realm,
						 std::string_view sourceIp) const
{
	std::array<unsigned char, kNonceBytes> raw{};
	if (!decode(nonce, raw) || raw[0] != kVersion)
		return std::nullopt;

	auto expected = mac(raw.data(), kHeadBytes, realm, sourceIp);
	if (CRYPTO_memcmp(expected.data(), raw.data() + kHeadBytes, kMacBytes) != 0)
		return std::nullopt;

	unsigned algorithm = raw[1] & 0x0f;
	if (algorithm > static_cast<unsigned>(Algorithm::Sha512_256) || (raw[1] & 0xe0))
		return std::nullopt;

	NonceFacts facts;
	facts.algorithm = static_cast<Algorithm>(algorithm);
	facts.qop = (raw[1] & 0x10) != 0;
	for (int i = 0; i < 6; i++)
		facts.issuedMs = (facts.issuedMs << 8) | raw[2 + i];
	for (int i = 0; i < 4; i++)
		facts.serial = (facts.serial << 8) | raw[8 + i];
	return facts;
}

UsedNonces::UsedNonces(std::uint32_t size) : size_(size), bits_(size / 64)
{
	if (size < 64 || (size & (size - 1)) != 0)
		throw std::invalid_argument("the used-nonce window is a power of two >= 64");
}

UsedNonces::Mark UsedNonces::markUsed(std::uint32_t serial, std::uint32_t newest)
{
	// Move the window up to `newest`: the bits of the serials it enters
	// are cleared (they last held serials `size_` older). Unsigned
	// arithmetic makes the serial's wrap-around harmless.
	std::uint32_t advance = newest - high_;
	if (advance >= size_) {
		std::fill(bits_.begin(), bits_.end(), 0);
	} else {
		for (std::uint32_t s = high_ + 1; advance > 0; s++, advance--)
			bits_[(s & (size_ - 1)) / 64] &= ~(std::uint64_t{1} << (s % 64));
	}
	high_ = newest;

	if (newest - serial >= size_)
		return Mark::OutOfWindow;
	std::uint64_t &word = bits_[(serial & (size_ - 1)) / 64];
	std::uint64_t bit = std::uint64_t{1} << (serial % 64);
	if (word & bit)
		return Mark::AlreadyUsed;
	word |= bit;
	return Mark::Fresh;
}

} // namespace checksyncd
