// SPDX-License-Identifier: MIT

#include "utf8.hpp"

#include <cstddef>

namespace checksyncd {

namespace {

// Length of the valid sequence that starts at text[i], or 0 when there is
// none (the table of RFC 3629 section 4).
std::size_t sequenceLength(std::string_view text, std::size_t i)
{
	const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
	const unsigned char c = byte(i);
	if (c == 0)
		return 0;
	if (c < 0x80)
		return 1;
	std::size_t length = 0;
	unsigned char low = 0x80;
	unsigned char high = 0xbf;
	if (c >= 0xc2 && c <= 0xdf) {
		length = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		length = 3;
		if (c == 0xe0)
			low = 0xa0; // overlong
		else if (c == 0xed)
			high = 0x9f; // surrogates
	} else if (c >= 0xf0 && c <= 0xf4) {
		length = 4;
		if (c == 0xf0)
			low = 0x90; // overlong
		else if (c == 0xf4)
			high = 0x8f; // above U+10FFFF
	} else {
		return 0;
	}
	if (i + length > text.size())
		return 0;
	// The second byte has the narrowed range; the others 80..BF.
	if (byte(i + 1) < low || byte(i + 1) > high)
		return 0;
	for (std::size_t k = 2; k < length; ++k) {
		if (byte(i + k) < 0x80 || byte(i + k) > 0xbf)
			return 0;
	}
	return length;
}

} // namespace

bool isValidUtf8(std::string_view text)
{
	for (std::size_t i = 0; i < text.size();) {
		const std::size_t length = sequenceLength(text, i);
		if (length == 0)
			return false;
		i += length;
	}
	return true;
}

std::string toValidUtf8(std::string_view text)
{
	std::string out;
	out.reserve(text.size());
	for (std::size_t i = 0; i < text.size();) {
		const std::size_t length = sequenceLength(text, i);
		if (length == 0) {
			out += '?';
			++i;
		} else {
			out.append(text.substr(i, length));
			i += length;
		}
	}
	return out;
}

} // namespace checksyncd
