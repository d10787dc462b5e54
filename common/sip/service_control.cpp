// SPDX-License-Identifier: MIT

#include "sip/service_control.hpp"

#include <array>

#include "base/text.hpp"

namespace checksyncd {

namespace {

constexpr std::array<ServiceControlVerb, 4> kVerbs{
	ServiceControlVerb::Restart,
	ServiceControlVerb::Reset,
	ServiceControlVerb::CheckVersion,
	ServiceControlVerb::PrtReport,
};

bool isBlank(char c)
{
	return c == ' ' || c == '\t';
}

std::string_view trimBlanks(std::string_view text)
{
	while (!text.empty() && isBlank(text.front()))
		text.remove_prefix(1);
	while (!text.empty() && isBlank(text.back()))
		text.remove_suffix(1);
	return text;
}

// Printable ASCII or a blank: what every key and value is made of.
bool isTextByte(char c)
{
	const auto byte = static_cast<unsigned char>(c);
	return (byte >= 0x20 && byte < 0x7f) || byte == '\t';
}

} // namespace

std::string_view serviceControlVerbName(ServiceControlVerb verb)
{
	switch (verb) {
	case ServiceControlVerb::Restart:
		return "restart";
	case ServiceControlVerb::Reset:
		return "reset";
	case ServiceControlVerb::CheckVersion:
		return "check-version";
	case ServiceControlVerb::PrtReport:
		return "prt-report";
	}
	return "restart";
}

ServiceControl parseServiceControl(std::optional<std::string_view> contentType,
				   std::string_view body)
{
	ServiceControl out;
	auto refuse = [&out](BodyProblem problem) {
		out.problem = problem;
		out.registerCallId.reset();
		return out;
	};
	// No body and no type: no action either. Any other type, or a body
	// without one, is not what service-control carries (RFC 3261 21.4.13).
	if (!contentType && body.empty())
		return refuse(BodyProblem::MissingAction);
	if (!contentType || !equalsIgnoreCase(*contentType, "text/plain"))
		return refuse(BodyProblem::NotTextPlain);
	if (body.size() > kMaxServiceControlBytes)
		return refuse(BodyProblem::TooLarge);

	std::array<std::string_view, kMaxServiceControlLines> keys{};
	std::size_t lines = 0;
	std::optional<std::string_view> action;
	while (!body.empty()) {
		const std::size_t lf = body.find('\n');
		std::string_view line = body.substr(0, lf);
		body = lf == std::string_view::npos ? std::string_view() : body.substr(lf + 1);
		if (lf != std::string_view::npos && !line.empty() && line.back() == '\r')
			line.remove_suffix(1);
		for (char c : line) {
			if (!isTextByte(c)) // a lone CR among them
				return refuse(BodyProblem::Malformed);
		}
		line = trimBlanks(line);
		if (line.empty())
			continue;
		if (lines == kMaxServiceControlLines)
			return refuse(BodyProblem::Malformed);
		const std::size_t eq = line.find('=');
		if (eq == std::string_view::npos)
			return refuse(BodyProblem::Malformed);
		const std::string_view key = trimBlanks(line.substr(0, eq));
		const std::string_view value = trimBlanks(line.substr(eq + 1));
		if (key.empty() || value.size() > kMaxServiceControlValueBytes)
			return refuse(BodyProblem::Malformed);
		for (std::size_t i = 0; i < lines; ++i) {
			if (equalsIgnoreCase(keys[i], key))
				return refuse(BodyProblem::DuplicateKey);
		}
		keys[lines++] = key;

		if (equalsIgnoreCase(key, "action")) {
			action = value;
		} else if (equalsIgnoreCase(key, "RegisterCallId")) {
			if (value.size() < 2 || value.front() != '{' || value.back() != '}')
				return refuse(BodyProblem::Malformed);
			out.registerCallId = value.substr(1, value.size() - 2);
		}
	}

	if (!action || action->empty())
		return refuse(BodyProblem::MissingAction);
	for (ServiceControlVerb verb : kVerbs) {
		if (equalsIgnoreCase(*action, serviceControlVerbName(verb))) {
			out.verb = verb;
			out.problem = BodyProblem::None;
			return out;
		}
	}
	return refuse(BodyProblem::UnknownAction);
}

} // namespace checksyncd
