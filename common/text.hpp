// SPDX-License-Identifier: MIT
//
// Text that comes from outside (a SIP request, another process on the bus)
// made fit for a D-Bus string and a log line. Pure.

#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace checksyncd {

// Replace `out` with `text` as valid UTF-8 (sd-bus refuses anything else),
// on one line, at most maxBytes (>= 3) bytes long. A byte that is not part
// of a well-formed UTF-8 sequence and every control character (C0, DEL, C1)
// becomes '?'; a text that does not fit is cut on a character boundary and
// ends in "...". Reuses out's buffer: no allocation once it is large
// enough.
void assignPrintableUtf8(std::string &out, std::string_view text, std::size_t maxBytes);

inline std::string printableUtf8(std::string_view text, std::size_t maxBytes)
{
	std::string out;
	assignPrintableUtf8(out, text, maxBytes);
	return out;
}

} // namespace checksyncd
