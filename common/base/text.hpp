// SPDX-License-Identifier: MIT
//
// Text from the wire, made safe for where it goes: D-Bus strings must be
// valid UTF-8 (sd-bus refuses anything else), log lines must stay one line
// and keep their quoting.

#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace checksyncd {

// `text` as valid UTF-8 of at most `maxBytes` bytes: every byte that does
// not start a well-formed character (overlong forms, surrogates, code
// points above U+10FFFF, NUL) becomes U+FFFD, and a cut falls on a
// character boundary.
std::string toValidUtf8(std::string_view text, std::size_t maxBytes);

// One line for a log or an error message: valid UTF-8, control
// characters as \n, \t, \r or \xNN, '"' and '\' escaped with '\', at
// most `limit` bytes of the value (then "...").
std::string printable(std::string_view text, std::size_t limit = 64);

// `text` between double quotes, printable(): how an error message quotes a
// value it refuses (never a secret).
std::string quoted(std::string_view text, std::size_t limit = 64);

// `text` with ASCII upper-case letters made lower-case.
std::string asciiLower(std::string_view text);

// `text` without ASCII white space at either end.
std::string_view trim(std::string_view text);

// The items of a comma-separated setting value, each trimmed. An empty
// item stays in (the caller refuses it); "" is one empty item.
std::vector<std::string_view> listItems(std::string_view list);

// ASCII case-insensitive equality (sofia-sip's su_casenmatch).
bool equalsIgnoreCase(std::string_view a, std::string_view b);

// The text of an errno value; a negative one (sd-bus's convention) too.
std::string errnoText(int error);

enum class HexCase : bool {
	Lower, // digests, tags, nonces' randomness
	Upper, // MAC addresses as plug and play writes them
};

// Two hex digits per byte.
std::string toHex(std::span<const unsigned char> bytes, HexCase letters = HexCase::Lower);

// text(item) for every item, `separator` between them: the one way lists
// are written in log lines, --check-config and the status object.
template<class Items, class Text>
std::string join(const Items &items, std::string_view separator, Text text)
{
	std::string out;
	for (const auto &item : items) {
		if (!out.empty())
			out += separator;
		out += text(item);
	}
	return out;
}

// Text for display (the status object's properties): replace `out` with
// `text` as valid UTF-8 on one line, at most maxBytes (>= 3) bytes long. A
// byte that does not start a well-formed character and every control
// character (C0, DEL, C1) becomes '?'; a text that does not fit is cut on a
// character boundary and ends in "...". Reuses out's buffer: no
// allocation once it is large enough.
void assignPrintableUtf8(std::string &out, std::string_view text, std::size_t maxBytes);

inline std::string printableUtf8(std::string_view text, std::size_t maxBytes)
{
	std::string out;
	assignPrintableUtf8(out, text, maxBytes);
	return out;
}

} // namespace checksyncd
