// SPDX-License-Identifier: MIT

#include "base/sofia.hpp"

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_buffer.h>
#include <sofia-sip/sip_header.h>

#include <cstring>

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

std::string urlText(su_home_t *home, const url_t *url)
{
	char *text = url_as_string(home, url);
	std::string value = orEmpty(text);
	su_free(home, text);
	return value;
}

std::size_t copiedHeaderBytes(const sip_t *sip)
{
	// As an answer writes them: each header object on a line of its own,
	// under its full name (the parser keeps no raw text to measure).
	std::size_t bytes = 0;
	const auto add = [&](const void *first) {
		for (auto *h = static_cast<const sip_header_t *>(first); h; h = h->sh_next) {
			char probe[1];
			const issize_t length = sip_header_field_e(probe, sizeof(probe), h, 0);
			if (length > 0)
				bytes += std::strlen(h->sh_class->hc_name) + 2 +
					 static_cast<std::size_t>(length) + 2;
		}
	};
	add(sip->sip_via);
	add(sip->sip_from);
	add(sip->sip_to);
	add(sip->sip_call_id);
	add(sip->sip_cseq);
	add(sip->sip_record_route);
	return bytes;
}

UniqueMsg parseDatagram(std::string_view text, std::size_t maxSize)
{
	if (text.size() > maxSize)
		return nullptr;
	UniqueMsg msg(msg_create(sip_default_mclass(), MSG_DO_CANONIC));
	if (!msg)
		return nullptr;
	msg_maxsize(msg.get(), maxSize);
	void *buffer = msg_buf_alloc(msg.get(), text.size() + 1);
	if (!buffer)
		return nullptr;
	std::memcpy(buffer, text.data(), text.size());
	msg_recv_commit(msg.get(), text.size(), 1);
	if (msg_extract(msg.get()) == 0)
		msg_mark_as_complete(msg.get(), MSG_FLG_ERROR);
	return msg;
}

} // namespace checksyncd
