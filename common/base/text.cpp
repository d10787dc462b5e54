// SPDX-License-Identifier: MIT

#include "base/text.hpp"

#include <sofia-sip/su_string.h>

#include <cstring>

#include <algorithm>

namespace checksyncd {

namespace {

constexpr std::string_view kReplacement = "\xef\xbf\xbd"; // U+FFFD

// The length of the well-formed character at the start of `text`, 0 when
// there is none (RFC 3629 table 3-7: no overlong forms, no surrogates,
// nothing above U+10FFFF; and no NUL, which D-Bus strings cannot hold).
// Not libxml2's xmlGetUTF8Char(): the one in Debian 12 takes a lone
// continuation byte as the lead of a two-byte character ("\x90\x80"),
// which sd-bus then refuses.
std::size_t characterLength(std::string_view text)
{
	auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
	unsigned char lead = byte(0);
	if (lead < 0x80)
		return lead != 0 ? 1 : 0;
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
		if ((byte(i) & 0xc0) != 0x80)
			return 0;
	return length;
}

// Append `text` as valid UTF-8 to `out` while it stays within maxBytes;
// true when all of it fitted.
bool appendValid(std::string_view text, std::size_t maxBytes, std::string &out)
{
	while (!text.empty()) {
		std::size_t length = characterLength(text);
		std::string_view piece = length ? text.substr(0, length) : kReplacement;
		if (out.size() + piece.size() > maxBytes)
			return false;
		out.append(piece);
		text.remove_prefix(length ? length : 1);
	}
	return true;
}

} // namespace

std::string toValidUtf8(std::string_view text, std::size_t maxBytes)
{
	// The usual case: printable ASCII that fits, taken as it is.
	if (text.size() <= maxBytes &&
	    std::all_of(text.begin(), text.end(), [](char c) { return c > 0 && c < 0x7f; }))
		return std::string(text);
	std::string out;
	out.reserve(std::min(text.size(), maxBytes));
	appendValid(text, maxBytes, out);
	return out;
}

std::string printable(std::string_view text, std::size_t limit)
{
	std::string valid;
	bool cut = !appendValid(text, limit, valid);
	std::string out;
	out.reserve(valid.size() + 3);
	for (char c : valid) {
		auto byte = static_cast<unsigned char>(c);
		if (c == '\n') {
			out += "\\n";
		} else if (c == '\t') {
			out += "\\t";
		} else if (c == '\r') {
			out += "\\r";
		} else if (byte < 0x20 || byte == 0x7f) {
			out += "\\x";
			out += toHex(std::span<const unsigned char>(&byte, 1));
		} else if (c == '"' || c == '\\') {
			out += '\\';
			out += c;
		} else {
			out += c;
		}
	}
	if (cut)
		out += "...";
	return out;
}

std::string quoted(std::string_view text, std::size_t limit)
{
	return '"' + printable(text, limit) + '"';
}

std::string asciiLower(std::string_view text)
{
	std::string out(text);
	for (char &c : out)
		c = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
	return out;
}

std::string_view trim(std::string_view text)
{
	constexpr std::string_view kAsciiSpace = " \t\n\r\f\v";
	const auto first = text.find_first_not_of(kAsciiSpace);
	if (first == std::string_view::npos)
		return {};
	const auto last = text.find_last_not_of(kAsciiSpace);
	return text.substr(first, last - first + 1);
}

std::vector<std::string_view> listItems(std::string_view list)
{
	std::vector<std::string_view> items;
	for (;;) {
		const auto comma = list.find(',');
		items.push_back(trim(list.substr(0, comma)));
		if (comma == std::string_view::npos)
			return items;
		list.remove_prefix(comma + 1);
	}
}

bool equalsIgnoreCase(std::string_view a, std::string_view b)
{
	return a.size() == b.size() && (a.empty() || su_casenmatch(a.data(), b.data(), a.size()));
}

std::string toHex(std::span<const unsigned char> bytes, HexCase letters)
{
	const char *digits = letters == HexCase::Upper ? "0123456789ABCDEF" : "0123456789abcdef";
	std::string hex(bytes.size() * 2, '\0');
	for (std::size_t i = 0; i < bytes.size(); i++) {
		hex[2 * i] = digits[bytes[i] >> 4];
		hex[2 * i + 1] = digits[bytes[i] & 0x0f];
	}
	return hex;
}

std::string errnoText(int error)
{
	return std::strerror(error < 0 ? -error : error);
}

void assignPrintableUtf8(std::string &out, std::string_view text, std::size_t maxBytes)
{
	out.clear();
	constexpr std::string_view kCut = "...";
	auto printableAscii = [](char c) { return c >= 0x20 && c < 0x7f; };
	auto isControl = [](std::string_view character) {
		auto lead = static_cast<unsigned char>(character[0]);
		if (character.size() == 1)
			return lead < 0x20 || lead == 0x7f;
		// C1 controls, U+0080..U+009F: C2 80..C2 9F.
		return character.size() == 2 && lead == 0xc2 &&
		       static_cast<unsigned char>(character[1]) < 0xa0;
	};
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
		std::size_t length = characterLength(text.substr(i));
		std::string_view character = length ? text.substr(i, length)
						    : std::string_view("?");
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
