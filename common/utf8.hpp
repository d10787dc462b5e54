// SPDX-License-Identifier: MIT
//
// UTF-8 checks for text that crosses from the network into D-Bus: sd-bus
// refuses a string that is not valid UTF-8 (the whole call would fail), so
// network text is either checked (and refused) or made valid first.

#pragma once

#include <string>
#include <string_view>

namespace checksyncd {

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
// above U+10FFFF, no truncated sequence. NUL is refused too (D-Bus strings
// cannot hold it).
bool isValidUtf8(std::string_view text);

// `text` with every byte that is not part of a valid sequence (and every
// NUL) replaced by '?'.
std::string toValidUtf8(std::string_view text);

} // namespace checksyncd
