// SPDX-License-Identifier: MIT
//
// The status hooks of the SIP side: what SipService tells its StatusSink
// (which may be null), read from sofia-sip's parse of the request. Each
// hook in sip_service.cpp is one call of these.

#pragma once

#include <string>
#include <string_view>

#include "provisioning/provisioning_client.hpp"
#include "sip/request_guard.hpp"
#include "status/status.hpp"

extern "C" {
struct sip_s;
}

namespace checksyncd {

// A request answered by onRequest itself (statelessly). A
// retransmission's answer (the response cache's) is not counted again.
void reportAnswer(StatusSink *sink, const sip_s *sip, const SourceAddress &source, Arrival arrival,
		  const Verdict &verdict);

// What answerWaiting() needs to report a check-sync that serve() handed on:
// kept with the waiting request, since the request belongs to nta by then.
struct CheckSyncNote {
	std::string remote;
	Transport transport = Transport::Udp;
	Arrival arrival = Arrival::Port;
	std::string callId;
	std::string event;
	std::string action;
	unsigned identity = 0;
	bool authenticated = false;
};

// Empty when there is no sink (nothing to keep).
CheckSyncNote noteCheckSync(const StatusSink *sink, const sip_s *sip, const SourceAddress &source,
			    Arrival arrival, const Verdict &verdict);

// The final answer of a check-sync that was handed on.
void reportFinished(StatusSink *sink, const CheckSyncNote &note, int status,
		    const CallOutcome &outcome);

} // namespace checksyncd
