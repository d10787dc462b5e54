// SPDX-License-Identifier: MIT
//
// Plug and play on the loop: while pnp_config is on and setting_server is
// empty (a phone not yet provisioned), a round multicasts the ua-profile
// SUBSCRIBE of common/pnp/pnp.hpp and waits for a PnP server's NOTIFY; the
// first valid provisioning URL goes to the provisioning process
// (Provision). A round runs at start, when PnP is turned on, and when the
// phone gains a new IPv4 address, at most one a minute.
//
// Why a plain UDP socket and not a second nta agent: a round is one
// request and a few answers on an ephemeral port for ten seconds, and the
// NOTIFYs come from sloppy servers (copied Via, From and To, a new
// Call-ID, another source port). nta would route its answer to a NOTIFY by
// the NOTIFY's Via, which for a server that copied our Via is our own
// address, and it builds a transaction for every datagram. Here the socket
// is watched by the su_root loop, sofia-sip's parser reads every datagram
// (parseDatagram), sofia-sip builds the SUBSCRIBE and every answer from
// its request (common/pnp/pnp.cpp), and the answer goes to the NOTIFY's source
// address and port, nowhere else.
//
// Only the round's own link is heard: every datagram at the round's port
// is judged by common/pnp/pnp_link.hpp before it is parsed (its source and,
// from IP_PKTINFO, the interface it arrived by, against the addresses of
// the interface the SUBSCRIBE left by, read from rtnetlink when the round
// starts and again whenever the phone's addresses change). Anything else
// is dropped unanswered and counted (PnpStatus::droppedOffLink).

#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/sofia.hpp"
#include "loop/loop.hpp"
#include "pnp/address_watch.hpp"
#include "pnp/pnp.hpp"
#include "pnp/pnp_link.hpp"
#include "provisioning/provisioning_client.hpp"
#include "settings/settings.hpp"

namespace checksyncd {

// What the daemon's status shows of plug and play.
struct PnpStatus {
	PnpState state = PnpState::Idle;
	std::string lastServer; // e.g. udp:192.0.2.1:5060
	std::string lastUrl;    // the last URL handed over
	// Datagrams at a round's port not from the round's link, dropped
	// unanswered since the daemon started.
	std::uint64_t droppedOffLink = 0;
};

class PnpService
{
public:
	// Called with the status at once and whenever it changes (the status
	// object).
	using Observer = std::function<void(const PnpStatus &)>;

	PnpService(EventLoop &loop, ProvisioningClient &provisioning, Observer observer);
	~PnpService();
	PnpService(const PnpService &) = delete;
	PnpService &operator=(const PnpService &) = delete;

	// nullptr: no good settings yet (then no round runs). Takes effect at
	// once: PnP turned on starts a round, setting_server set or pnp_config
	// off stops the round in progress.
	void setSettings(std::shared_ptr<const Settings> settings);

	const PnpStatus &status() const { return status_; }

private:
	struct Round;

	void request(std::string_view why);
	void armOwed();
	void start(std::string_view why);
	void close(Round &round, std::string_view why);
	void stop(std::string_view why);
	void send(Round &round);
	void onDeadline(Round &round);
	void onReadable(Round &round);
	void onAddressesChanged();
	void dropOffLink(Round &round, LinkVerdict verdict, const sockaddr_in &from);
	void onDatagram(Round &round, std::string_view data, const sockaddr_in &from);
	void onNotify(Round &round, UniqueMsg &msg, sip_t *sip, const sockaddr_in &from,
		      const std::string &remote);
	void onProvisioned(Round &round, const CallOutcome &outcome);
	void answer(Round &round, const sip_t *request, const sockaddr_in &to, int status,
		    const std::string &key, unsigned retryAfterS = 0);
	void publish();

	EventLoop &loop_;
	ProvisioningClient &provisioning_;
	std::shared_ptr<const Settings> settings_;
	bool wanted_ = false;
	bool everWanted_ = false; // the first round is the one "at start"
	RoundPacer pacer_;
	Timer owed_;   // the round at start, or one owed by the pacer
	Timer settle_; // a new address settles (its routes follow it)
	Timer reaper_; // a closed round is freed outside its own callbacks
	std::unique_ptr<AddressWatch> addresses_;
	std::shared_ptr<Round> round_;
	std::shared_ptr<Round> retired_;
	PnpStatus status_;
	Observer observer_;
};

} // namespace checksyncd
