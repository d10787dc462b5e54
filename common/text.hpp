// SPDX-License-Identifier: MIT
//
// Text from the wire, made safe for where it goes: D-Bus strings must be
// valid UTF-8 (sd-bus refuses anything else), log lines must stay one line
// and keep their quoting.

#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace checksyncd {

// `text` as valid UTF-8 of at most `maxBytes` bytes: every byte that does
// not start a well-formed character (overlong forms, surrogates, code
// points above U+10FFFF, NUL) becomes U+FFFD, and a cut falls on a
// character boundary.
std::string toValidUtf8(std::string_view text, std::size_t maxBytes);

// One line for a log: valid UTF-8, control characters as \xNN, '"' and
// '\' escaped with '\', at most `limit` bytes of the value (then "...").
std::string printable(std::string_view text, std::size_t limit = 64);

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
