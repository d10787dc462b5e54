// SPDX-License-Identifier: MIT

#include "sofia.hpp"

#include <sofia-sip/sip_header.h>

namespace checksyncd {

std::string headerValue(const sip_header_t *header)
{
	if (!header)
		return {};
	// A first pass into a 1-byte buffer returns the full length.
	char probe[1];
	issize_t length = sip_header_field_e(probe, sizeof(probe), header, 0);
	if (length < 0)
		return {};
	// Two spare bytes: the encoder terminates, and must not need more.
	std::string text(static_cast<std::size_t>(length) + 2, '\0');
	if (sip_header_field_e(text.data(), static_cast<isize_t>(text.size()), header, 0) != length)
		return {};
	text.resize(static_cast<std::size_t>(length));
	return text;
}

} // namespace checksyncd
