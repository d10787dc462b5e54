// SPDX-License-Identifier: MIT

#include "text.hpp"

namespace checksyncd {

namespace {

// Length of the well-formed UTF-8 sequence at the start of `text`
// (RFC 3629 table 3-7: no overlong forms, no surrogates, nothing above
// U+10FFFF), or 0 when there is none.
std::size_t sequenceLength(std::string_view text)
{
	auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
	auto continuation = [&](std::size_t i) { return i < text.size() && (byte(i) & 0xc0) == 0x80; };
	unsigned char lead = byte(0);
	if (lead < 0x80)
		return 1;
	std::size_t length = 0;
	unsigned char low = 0x80, high = 0xbf; // range of the second byte
	if (lead >= 0xc2 && lead <= 0xdf) {
		length = 2;
	} else if (lead >= 0xe0 && lead <= 0xef) {
		length = 3;
		if (lead == 0xe0)
			low = 0xa0;
		else if (lead == 0xed)
			high = 0x9f;
	} else if (lead >= 0xf0 && lead <= 0xf4) {
		length = 4;
		if (lead == 0xf0)
			low = 0x90;
		else if (lead == 0xf4)
			high = 0x8f;
	} else {
		return 0;
	}
	if (text.size() < length || byte(1) < low || byte(1) > high)
		return 0;
	for (std::size_t i = 2; i < length; i++)
		if (!continuation(i))
			return 0;
	return length;
}

bool isControl(std::string_view character)
{
	auto lead = static_cast<unsigned char>(character[0]);
	if (character.size() == 1)
		return lead < 0x20 || lead == 0x7f;
	// C1 controls, U+0080..U+009F: C2 80..C2 9F.
	return character.size() == 2 && lead == 0xc2 && static_cast<unsigned char>(character[1]) < 0xa0;
}

} // namespace

void assignPrintableUtf8(std::string &out, std::string_view text, std::size_t maxBytes)
{
	out.clear();
	constexpr std::string_view kCut = "...";
	auto printableAscii = [](char c) { return c >= 0x20 && c < 0x7f; };
	std::size_t i = 0;
	while (i < text.size()) {
		// Runs of printable ASCII (nearly all of it) in one append; this
		// runs for every datagram of a flood.
		std::size_t run = i;
		while (run < text.size() && printableAscii(text[run]))
			run++;
		if (run > i && out.size() + (run - i) <= maxBytes) {
			out.append(text.data() + i, run - i);
			i = run;
			continue;
		}
		std::size_t length = sequenceLength(text.substr(i));
		std::string_view character = length ? text.substr(i, length) : std::string_view("?");
		if (isControl(character))
			character = "?";
		if (out.size() + character.size() > maxBytes) {
			// Make room for the mark, one whole character at a time.
			while (!out.empty() && out.size() + kCut.size() > maxBytes) {
				while ((static_cast<unsigned char>(out.back()) & 0xc0) == 0x80)
					out.pop_back();
				out.pop_back();
			}
			out += kCut;
			return;
		}
		out += character;
		i += length ? length : 1;
	}
}

} // namespace checksyncd
