// SPDX-License-Identifier: MIT
//
// checksyncd-nua's SIP user agent: sofia-sip's nua on the daemon library's
// su_root loop (daemon/loop/loop.hpp). It registers one identity of checksyncd's
// settings to its registrar over UDP, TCP or TLS and keeps the
// registration's flow as nua does (refreshing before expiry, a new
// connection and REGISTER when one closes, keepalives); every
// out-of-dialog NOTIFY it receives goes to checksyncd's HandleRequest, and
// the answer checksyncd gives is sent in the NOTIFY's own server
// transaction. checksyncd-nua(8); docs/ua-integration.md.
//
// How nua lets an application do that (sofia-sip 1.12, Debian 12):
// NUTAG_APPL_METHOD("NOTIFY") hands an unsolicited NOTIFY to the
// application as nua_i_notify with status 100 instead of answering 481
// (nua_subnotref.c, nua_notify_server_preprocess()); nua_save_event()
// keeps the request for an answer later, given with nua_respond() and
// NUTAG_WITH_SAVED(); nta absorbs the retransmissions meanwhile and
// repeats the final answer.

#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include "base/sofia.hpp"
#include "handoff_client.hpp"
#include "handoff_rules.hpp"
#include "loop/loop.hpp"

namespace checksyncd::nua {

// The account, as checksyncd's settings hold it for one idx
// (docs/settings.md: user_name, user_host, user_pname, user_pass,
// user_outbound).
struct Account {
	unsigned idx = 0;
	std::string user;     // user_name: the Contact's and the AoR's user
	std::string host;     // user_host, host[:port]: the registrar
	std::string domain;   // its host part: the AoR's domain
	std::string authUser; // user_pname, or user_name
	std::string password; // user_pass, secret
	std::string outbound; // user_outbound, host[:port], may be empty
	// The host the REGISTERs' connection goes to (the outbound proxy's,
	// else the registrar's), without a port: what a TLS peer's
	// certificate must name.
	std::string tlsName;
};

struct UaOptions {
	Account account;
	SipTransport transport = SipTransport::Udp;
	// TLS: the CA certificates (PEM) the registrar's certificate is
	// verified with.
	std::string caFile;
	// UDP: the local address and port, host[:port] (default: every
	// address, a port the system picks).
	std::string bind;
	unsigned expiresS = 600;
	// Keepalives on the flow (nua's outbound: OPTIONS over UDP, CRLF
	// over TCP and TLS): often enough for a NAT's UDP binding (Linux
	// conntrack forgets an unanswered one after 30 s, nf_conntrack_udp_timeout).
	unsigned keepaliveS = 25;
};

// Holding a request checksyncd asked not to answer (status 0): nua cannot
// leave a transaction unanswered (nta_incoming_destroy() sends 500), so it
// is held until the sender's transaction has timed out (Timer F, 64*T1 =
// 32 s, RFC 3261 section 17.1.2.2) and only then let go; at most
// kMaxHeld are held, the oldest let go first.
inline constexpr std::uint64_t kHoldMs = 32'000;
inline constexpr std::size_t kMaxHeld = 16;

class UserAgent
{
public:
	// Throws when the stack cannot be made (no transport, no TLS).
	UserAgent(EventLoop &loop, HandoffClient &handoff, UaOptions options);
	~UserAgent();
	UserAgent(const UserAgent &) = delete;
	UserAgent &operator=(const UserAgent &) = delete;

	// Send the first REGISTER. `registered` is called at each 2xx.
	void start(std::function<void()> registered);
	// Answer what waits 503, un-REGISTER and stop the stack; `stopped` is
	// called once nua has shut down (at most a few seconds).
	void shutdown(std::function<void()> stopped);

	const Registration &registration() const { return registration_; }

private:
	struct Pending {
		UniqueNuaHandle handle;
		UniqueSavedEvent event;
		std::string what; // "NOTIFY from tcp:192.0.2.1:5060 (Event: ...)" for the log
		std::unique_ptr<HandoffCall> call; // while checksyncd is asked
		std::unique_ptr<Timer> hold;       // while held unanswered
	};
	using PendingList = std::list<Pending>;

	static void onEvent(nua_event_t event, int status, char const *phrase, nua_t *nua,
			    nua_magic_t *magic, nua_handle_t *nh, nua_hmagic_t *hmagic,
			    sip_t const *sip, tagi_t tags[]) noexcept;
	void event(nua_event_t event, int status, char const *phrase, nua_handle_t *nh,
		   sip_t const *sip);
	void registerNow();
	void onRegister(int status, char const *phrase, sip_t const *sip);
	void onNotify(nua_handle_t *nh, sip_t const *sip);
	void answer(PendingList::iterator pending, const HandoffResult &result);
	void respond(PendingList::iterator pending, const Reply &reply);
	void hold(PendingList::iterator pending);
	void logFailure(const std::string &line);

	EventLoop &loop_;
	HandoffClient &handoff_;
	UaOptions options_;
	std::string aor_;       // sip:user@domain
	std::string registrar_; // the registrar's URL
	UniqueNua nua_;
	UniqueNuaHandle registerHandle_;
	Registration registration_;
	std::function<void()> registered_;
	std::function<void()> stopped_;
	unsigned challenges_ = 0; // 401/407 in a row: a refused password ends it
	Timer retry_;
	Timer shutdownTimeout_;
	bool shuttingDown_ = false;
	// Declared after nua_: every handle goes before the stack does.
	PendingList pending_;
	PendingList held_;
	std::uint64_t lastFailureLogMs_ = 0;
	unsigned failuresNotLogged_ = 0;
};

} // namespace checksyncd::nua
