// SPDX-License-Identifier: MIT

#include "sip/checksync.hpp"

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/su_string.h>

namespace checksyncd {

std::string_view actionName(Action action)
{
	switch (action) {
	case Action::Resync:
		return "Resync";
	case Action::Reboot:
		return "Reboot";
	case Action::Reregister:
		return "Reregister";
	case Action::DeleteContacts:
		return "DeleteContacts";
	case Action::FactoryReset:
		return "FactoryReset";
	case Action::Report:
		return "Report";
	}
	return "Reboot";
}

bool destroysData(Action action)
{
	// A factory reset erases the phone's settings; clearing the contacts
	// erases the entries made on the phone itself (Snom: "no matter they
	// are local or provisioned"). Neither can be fetched back.
	return action == Action::FactoryReset || action == Action::DeleteContacts;
}

std::string_view rebootKindName(RebootKind kind)
{
	switch (kind) {
	case RebootKind::Unspecified:
		break;
	case RebootKind::Soft:
		return "soft";
	case RebootKind::Hard:
		return "hard";
	}
	return {};
}

EventInfo classifyEvent(const sip_event_t *event)
{
	EventInfo info;
	if (!event || !event->o_type)
		return info;
	const std::optional<EventPackage> package = parseEventPackage(event->o_type);
	if (!package) {
		info.kind = EventInfo::Kind::Other;
		return info;
	}
	info.kind = EventInfo::Kind::Known;
	info.package = *package;
	// Only check-sync and resync carry a reboot choice; for the packages
	// that are a reboot by name the parameter means nothing.
	if (*package != EventPackage::CheckSync && *package != EventPackage::Resync)
		return info;

	const char *reboot = msg_params_find(event->o_params, "reboot");
	if (!reboot)
		return info;
	// A bare "reboot" flag comes back as "": neither true nor false.
	if (su_casematch(reboot, "true"))
		info.reboot = true;
	else if (su_casematch(reboot, "false"))
		info.reboot = false;
	else
		info.badRebootValue = true;
	return info;
}

Action decideAction(const Settings &settings, const EventInfo &event)
{
	switch (settings.action) {
	case ForcedAction::Sync:
		return Action::Resync;
	case ForcedAction::Reboot:
		return Action::Reboot;
	case ForcedAction::Reregister:
		return Action::Reregister;
	case ForcedAction::DeleteContacts:
		return Action::DeleteContacts;
	case ForcedAction::FactoryReset:
		return Action::FactoryReset;
	case ForcedAction::None:
		break;
	}
	switch (event.package) {
	case EventPackage::CheckSync:
		return event.reboot.value_or(true) ? Action::Reboot : Action::Resync;
	case EventPackage::Resync:
		return event.reboot.value_or(false) ? Action::Reboot : Action::Resync;
	case EventPackage::ServiceControl:
		switch (event.serviceControl.verb) {
		case ServiceControlVerb::Restart:
		case ServiceControlVerb::Reset:
			return Action::Reboot;
		case ServiceControlVerb::CheckVersion:
			return Action::Resync;
		case ServiceControlVerb::PrtReport:
			return Action::Report;
		}
		break;
	case EventPackage::Report:
		return Action::Report;
	case EventPackage::Reboot:
	case EventPackage::RebootNow:
	case EventPackage::RestartNow:
		break;
	}
	return Action::Reboot;
}

RebootKind decideRebootKind(const Settings &settings, const EventInfo &event)
{
	if (settings.action != ForcedAction::None || event.package != EventPackage::ServiceControl)
		return RebootKind::Unspecified;
	switch (event.serviceControl.verb) {
	case ServiceControlVerb::Restart:
		return RebootKind::Soft;
	case ServiceControlVerb::Reset:
		return RebootKind::Hard;
	case ServiceControlVerb::CheckVersion:
	case ServiceControlVerb::PrtReport:
		break;
	}
	return RebootKind::Unspecified;
}

std::string allowEvents(const Settings *settings)
{
	return joinEventPackages(settings ? settings->events : kDefaultEventPackages, ", ");
}

bool needsChallenge(const Settings &settings, Action action)
{
	return settings.challengeChecksync || destroysData(action) ||
	       (action == Action::Reboot && settings.challengeReboot);
}

bool mayAuthenticate(const Settings &settings, const RequestFacts &request)
{
	for (const auto &[idx, identity] : settings.identities) {
		if (identity.active && identity.hasCredentials() &&
		    (!request.uriHasUser || identity.name == request.uriUser))
			return true;
	}
	return false;
}

Plan planRequest(const Settings *settings, const RequestFacts &request)
{
	Plan plan;
	if (request.method == "ACK")
		return plan;
	if (request.method == "OPTIONS") {
		plan.answer = Answer::Options;
		return plan;
	}
	if (request.method != "NOTIFY") {
		plan.answer = Answer::MethodNotAllowed;
		return plan;
	}

	switch (request.event.kind) {
	case EventInfo::Kind::Missing:
		plan.answer = Answer::MissingEvent;
		return plan;
	case EventInfo::Kind::Other:
		plan.answer = Answer::BadEvent;
		return plan;
	case EventInfo::Kind::Known:
		break;
	}
	// Without settings the default set decides, so that the 489 and the
	// Allow-Events of OPTIONS agree at every moment.
	const EventPackageSet &enabled = settings ? settings->events : kDefaultEventPackages;
	if (!enabled.contains(request.event.package)) {
		plan.answer = Answer::BadEvent;
		return plan;
	}
	if (request.event.badRebootValue) {
		plan.answer = Answer::BadRebootValue;
		return plan;
	}
	if (request.event.package == EventPackage::ServiceControl &&
	    request.event.serviceControl.problem != BodyProblem::None) {
		plan.answer = Answer::BadBody;
		return plan;
	}
	if (!settings) {
		plan.answer = Answer::NoSettings;
		return plan;
	}

	plan.action = decideAction(*settings, request.event);
	plan.rebootKind = decideRebootKind(*settings, request.event);
	plan.identity = request.uriHasUser ? settings->findActiveByUser(request.uriUser)
					   : settings->lowestActive();
	bool challenge = needsChallenge(*settings, plan.action);
	// What destroys data is served only to a digest: where no identity the
	// request can be for has a password, none can ever come. An unknown
	// user gets the 401 every user gets (no account enumeration).
	if (destroysData(plan.action) && plan.identity && !mayAuthenticate(*settings, request))
		plan.answer = Answer::NoPassword;
	else if (challenge)
		plan.answer = Answer::Challenge;
	else if (request.uriHasUser && !plan.identity)
		plan.answer = Answer::NotFound;
	else
		plan.answer = Answer::Serve;
	return plan;
}

RequestFacts requestFactsOf(const sip_t *sip)
{
	const url_t *ruri = sip->sip_request->rq_url;
	RequestFacts facts;
	facts.method = sip->sip_request->rq_method_name ? sip->sip_request->rq_method_name : "";
	facts.event = classifyEvent(sip->sip_event);
	if (facts.event.kind == EventInfo::Kind::Known &&
	    facts.event.package == EventPackage::ServiceControl) {
		const sip_content_type_t *type = sip->sip_content_type;
		const sip_payload_t *payload = sip->sip_payload;
		facts.event.serviceControl = parseServiceControl(
			type && type->c_type ? std::optional<std::string_view>(type->c_type)
					     : std::nullopt,
			payload && payload->pl_data
				? std::string_view(payload->pl_data, payload->pl_len)
				: std::string_view());
	}
	facts.uriHasUser = ruri->url_user && *ruri->url_user;
	facts.uriUser = facts.uriHasUser ? ruri->url_user : "";
	return facts;
}

} // namespace checksyncd
