// SPDX-License-Identifier: MIT

#include "text.hpp"

#include <libxml/xmlstring.h>

#include <algorithm>

namespace checksyncd {

namespace {

constexpr std::string_view kReplacement = "\xef\xbf\xbd"; // U+FFFD

// The length of the well-formed character at the start of `text`, 0 when
// there is none.
std::size_t characterLength(std::string_view text)
{
	auto byte = static_cast<unsigned char>(text.front());
	if (byte != 0 && byte < 0x80)
		return 1;
	int length = static_cast<int>(std::min<std::size_t>(text.size(), 4));
	int code = xmlGetUTF8Char(reinterpret_cast<const xmlChar *>(text.data()), &length);
	if (code <= 0 || length <= 1)
		return 0;
	// xmlGetUTF8Char() takes some forms D-Bus refuses: overlong
	// encodings, surrogates and values past U+10FFFF.
	int shortest = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
	if (length != shortest || (code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff)
		return 0;
	return static_cast<std::size_t>(length);
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
		if (byte < 0x20 || byte == 0x7f) {
			static constexpr char kHex[] = "0123456789abcdef";
			out += "\\x";
			out += kHex[byte >> 4];
			out += kHex[byte & 0x0f];
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

} // namespace checksyncd
