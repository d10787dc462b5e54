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

// The final answer of a check-sync that was served, from its record
// (the Call-ID and Event as received: the status object makes its own
// printable text of them, as reportAnswer() does).
void reportFinished(StatusSink *sink, const CheckSyncFacts &facts, int status,
		    const CallOutcome &outcome);

} // namespace checksyncd
