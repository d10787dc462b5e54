// SPDX-License-Identifier: MIT

#include "status/status_report.hpp"

#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>

#include "base/sofia.hpp"

namespace checksyncd {

namespace {

// The action, where the guard decided one.
std::string_view actionOf(const Verdict &verdict)
{
	return verdict.actionDecided ? actionName(verdict.action) : std::string_view();
}

} // namespace

void reportAnswer(StatusSink *sink, const sip_t *sip, const SourceAddress &source, Arrival arrival,
		  const Verdict &verdict)
{
	if (!sink || verdict.retransmission)
		return;
	int status = verdict.status;
	bool checkSync = verdict.checkSync;
	sink->answered(static_cast<unsigned>(status),
		       checkSync ? AnswerTo::CheckSync : AnswerTo::OtherRequest);
	if (!checkSync)
		return;

	// The Event header's text, encoded into the stack under a flood of
	// challenged check-syncs; one longer than the status keeps anyway
	// (rare) the slow way.
	char buffer[StatusModel::kMaxTextBytes + 2];
	std::string longer;
	std::string_view event;
	const auto *header = reinterpret_cast<const sip_header_t *>(sip->sip_event);
	issize_t length = header ? sip_header_field_e(buffer, sizeof(buffer), header, 0) : 0;
	if (length > 0 && static_cast<std::size_t>(length) < sizeof(buffer) - 1) {
		event = std::string_view(buffer, static_cast<std::size_t>(length));
	} else if (length > 0) {
		longer = headerValue(header);
		event = longer;
	}

	CheckSyncReport report;
	report.remote = source.remote;
	report.transport = transportName(source.transport);
	report.handedOver = arrival == Arrival::HandedOver;
	report.callId = callIdOf(sip);
	report.event = event;
	report.action = actionOf(verdict);
	report.identity = verdict.identity;
	report.authenticated = verdict.authenticated;
	report.sipStatus = static_cast<unsigned>(status);
	report.provisioning = Provisioning::NotAsked;
	sink->checkSyncAnswered(report);
}

void reportFinished(StatusSink *sink, const CheckSyncFacts &facts, int status,
		    const CallOutcome &outcome)
{
	if (!sink)
		return;
	sink->answered(static_cast<unsigned>(status), AnswerTo::CheckSync);
	CheckSyncReport report;
	report.remote = facts.remote;
	report.transport = transportName(facts.transport);
	report.handedOver = facts.handedOver;
	report.callId = facts.callIdAsReceived();
	report.event = facts.eventAsReceived();
	report.action = actionName(facts.action);
	report.identity = facts.identity;
	report.authenticated = facts.authenticated;
	report.sipStatus = static_cast<unsigned>(status);
	report.provisioning = outcome.accepted() ? Provisioning::Accepted : Provisioning::Failed;
	report.provisioningError = outcome.error;
	sink->checkSyncAnswered(report);
}

} // namespace checksyncd
