// SPDX-License-Identifier: MIT
//
// Thin RAII wrappers and safe helpers around sofia-sip's C API, shared by
// the daemon, the tests and the fuzzers: the sofia-sip member of the RAII
// family (unique_fd.hpp, sdbus.hpp, openssl.hpp, xml.hpp).

#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <sofia-sip/msg.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nua.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/su_alloc.h>

namespace checksyncd {

// A su_home_t for the duration of a scope: everything allocated from it is
// freed with it.
class SuHome
{
public:
	SuHome() { su_home_init(home_); }
	~SuHome() { su_home_deinit(home_); }
	SuHome(const SuHome &) = delete;
	SuHome &operator=(const SuHome &) = delete;

	su_home_t *get() { return home_; }

private:
	su_home_t home_[1] = {};
};

// One deleter, overloaded per type: a message, an nta agent and an
// incoming (server) transaction; and for a user agent on nua (the
// adapter in integrations/sofia-nua/), a nua stack, a handle and an event
// saved to be answered later (nua_save_event()). A function of sofia-sip
// that takes a message (nta_msg_treply, nta_incoming_create) is given
// msg.release().
//
// A nua stack may only be destroyed once nua_shutdown() has reported
// nua_r_shutdown with a final status (nua.h): its owner shuts it down
// first and lets it go after that.
struct SofiaDeleter {
	void operator()(msg_t *msg) const noexcept { msg_destroy(msg); }
	void operator()(nta_agent_t *agent) const noexcept { nta_agent_destroy(agent); }
	void operator()(nta_incoming_t *irq) const noexcept { nta_incoming_destroy(irq); }
	void operator()(nua_t *nua) const noexcept { nua_destroy(nua); }
	void operator()(nua_handle_t *nh) const noexcept { nua_handle_destroy(nh); }
	void operator()(nua_saved_event *saved) const noexcept
	{
		nua_saved_event_t event[1] = {saved};
		nua_destroy_event(event);
	}
};
using UniqueMsg = std::unique_ptr<msg_t, SofiaDeleter>;
using UniqueAgent = std::unique_ptr<nta_agent_t, SofiaDeleter>;
using UniqueIncoming = std::unique_ptr<nta_incoming_t, SofiaDeleter>;
using UniqueNua = std::unique_ptr<nua_t, SofiaDeleter>;
using UniqueNuaHandle = std::unique_ptr<nua_handle_t, SofiaDeleter>;
using UniqueSavedEvent = std::unique_ptr<nua_saved_event, SofiaDeleter>;

// sofia-sip leaves absent text fields null.
inline const char *orEmpty(const char *text)
{
	return text ? text : "";
}

// The Call-ID, empty when there is none.
inline std::string_view callIdOf(const sip_t *sip)
{
	return sip->sip_call_id ? orEmpty(sip->sip_call_id->i_id) : "";
}

// A URL as text ("sip:340899@192.0.2.10"), built in `home` and copied out.
std::string urlText(su_home_t *home, const url_t *url);

// The value of a parsed header as text ("check-sync;reboot=false" for an
// Event header), encoded into a buffer of the exact size. Not
// sip_header_as_string(): the sofia-sip in Debian 12 leaves values of
// about 126 characters and more unterminated there (fixed upstream).
// Empty for nullptr or a header that cannot be encoded.
std::string headerValue(const sip_header_t *header);

// The bytes of the headers an answer copies from the request (every Via,
// From, To, Call-ID, CSeq and Record-Route), as an answer writes them.
std::size_t copiedHeaderBytes(const sip_t *sip);

// Parse `text` as one UDP datagram, the way sofia-sip's transport does
// (tport_recv_dgram: commit with end-of-stream, then msg_extract; an
// incomplete message is an error, marked MSG_FLG_ERROR). nullptr for a
// datagram over maxSize bytes or when sofia-sip gives up before there is a
// sip_t to look at.
UniqueMsg parseDatagram(std::string_view text, std::size_t maxSize);

} // namespace checksyncd
