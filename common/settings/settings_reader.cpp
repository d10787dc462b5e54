// SPDX-License-Identifier: MIT
//
// Reader of the Snom-style XML settings file (docs/settings.md).
//
// libxml2 builds the tree, without network access, without entity
// substitution and without DTD loading. A DOCTYPE is refused outright: the
// SAX callback that would create the internal subset stops the parser
// instead, so no entity is ever declared, expanded or fetched. A "billion
// laughs" or XXE document therefore ends at its DOCTYPE line, in time and
// memory bounded by that line.
//
// Errors are collected, not thrown, so that --check-config can show all of
// them at once. Values of secret settings never enter an error message, and
// libxml2's messages are cut to their first line (the second one quotes
// input bytes).

#include "settings/settings.hpp"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlversion.h>
#include <sofia-sip/hostdomain.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <climits>
#include <memory>
#include <system_error>
#include <utility>

#include "auth/digest.hpp"
#include "base/text.hpp"
#include "base/unique_fd.hpp"
#include "base/xml.hpp"
#include "pnp/pnp.hpp"
#include "settings/settings_values.hpp"

namespace checksyncd {

namespace {

// The structured error callback takes a const pointer from libxml2 2.12 on.
#if LIBXML_VERSION >= 21200
using XmlErrorArg = const xmlError *;
#else
using XmlErrorArg = xmlError *;
#endif

struct ParseState {
	// First error (level >= XML_ERR_ERROR) libxml2 reported.
	bool failed = false;
	long errorLine = 0;
	std::string errorMessage;
	// Set when the document holds a DOCTYPE or an entity declaration.
	bool doctype = false;
	long doctypeLine = 0;
};

std::string describeXmlError(XmlErrorArg error)
{
	if (error->code == XML_ERR_UNDECLARED_ENTITY || error->code == XML_WAR_UNDECLARED_ENTITY) {
		// libxml2 quotes the entity name, which may be part of a
		// password that holds an unescaped '&'.
		return "not well-formed XML: undefined entity reference (write & as &amp;)";
	}
	std::string_view text = error->message ? error->message : "";
	// The first line only: a second line such as "Bytes: 0x.." quotes
	// input bytes, which may belong to a password.
	text = trim(text.substr(0, text.find('\n')));
	if (text.empty())
		return "not well-formed XML";
	return "not well-formed XML: " + std::string(text);
}

void onXmlError(void *data, XmlErrorArg error) noexcept
{
	auto *state = static_cast<ParseState *>(data);
	if (!state || !error || error->level < XML_ERR_ERROR || state->failed)
		return;
	try {
		state->errorMessage = describeXmlError(error);
		state->errorLine = error->line;
		state->failed = true;
	} catch (...) {
		state->errorMessage.clear();
		state->failed = true;
	}
}

// libxml2's generic (unstructured) error channel: silenced while parsing.
void onXmlGenericError(void *, const char *, ...) noexcept {}

ParseState *stateOf(void *ctx) noexcept
{
	auto *ctxt = static_cast<xmlParserCtxt *>(ctx);
	return ctxt ? static_cast<ParseState *>(ctxt->_private) : nullptr;
}

void refuseDoctype(void *ctx) noexcept
{
	auto *ctxt = static_cast<xmlParserCtxt *>(ctx);
	ParseState *state = stateOf(ctx);
	if (!state)
		return;
	if (!state->doctype) {
		state->doctype = true;
		state->doctypeLine = ctxt->input ? ctxt->input->line : 0;
	}
	xmlStopParser(ctxt);
}

// SAX: "<!DOCTYPE name ..." seen, before any internal subset is parsed.
void onInternalSubset(void *ctx, const xmlChar *, const xmlChar *, const xmlChar *) noexcept
{
	refuseDoctype(ctx);
}

// SAX: an entity declaration. Unreachable once the DOCTYPE is refused; kept
// so that no declaration can ever be recorded.
void onEntityDecl(void *ctx, const xmlChar *, int, const xmlChar *, const xmlChar *,
		  xmlChar *) noexcept
{
	refuseDoctype(ctx);
}

// Routes every libxml2 error of this thread to a ParseState while alive and
// restores the previous handlers afterwards (the handlers are per thread).
class XmlErrorCapture
{
public:
	explicit XmlErrorCapture(ParseState &state)
		: structured_(xmlStructuredError), structuredContext_(xmlStructuredErrorContext),
		  generic_(xmlGenericError), genericContext_(xmlGenericErrorContext)
	{
		xmlSetStructuredErrorFunc(&state, onXmlError);
		xmlSetGenericErrorFunc(nullptr, onXmlGenericError);
	}
	~XmlErrorCapture()
	{
		xmlSetStructuredErrorFunc(structuredContext_, structured_);
		xmlSetGenericErrorFunc(genericContext_, generic_);
	}
	XmlErrorCapture(const XmlErrorCapture &) = delete;
	XmlErrorCapture &operator=(const XmlErrorCapture &) = delete;

private:
	xmlStructuredErrorFunc structured_;
	void *structuredContext_;
	xmlGenericErrorFunc generic_;
	void *genericContext_;
};

// No NOENT (entity substitution), no DTDLOAD, no HUGE (keeps libxml2's depth
// and size limits). NOERROR/NOWARNING keep libxml2 off stderr.
constexpr int kParseOptions = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
			      XML_PARSE_BIG_LINES;

// The settings the daemon reads

enum class Key : unsigned char {
	ChallengeChecksync,
	ChallengeReboot,
	ChecksyncAction,
	NetworkIdPort,
	AuthAlgorithms,
	AuthQop,
	AuthUserhash,
	ChecksyncEvents,
	PnpConfig,
	SettingServer,
	PnpVendor,
	PnpModel,
	PnpVersion,
	PnpMac,
	PnpUrlSchemes,
	UserActive,
	UserName,
	UserHost,
	UserPname,
	UserPass,
	UserHash,
	UserOutbound,
	FilterRegistrar,
	ChecksyncTrusted,
	ChecksyncUntrusted,
};

struct KeySpec {
	std::string_view name;
	Key key;
	bool perIdentity;
};

constexpr std::array kKeys{
	KeySpec{"challenge_checksync", Key::ChallengeChecksync, false},
	KeySpec{"challenge_reboot", Key::ChallengeReboot, false},
	KeySpec{"checksync_action", Key::ChecksyncAction, false},
	KeySpec{"network_id_port", Key::NetworkIdPort, false},
	KeySpec{"checksync_auth_algorithms", Key::AuthAlgorithms, false},
	KeySpec{"checksync_auth_qop", Key::AuthQop, false},
	KeySpec{"checksync_auth_userhash", Key::AuthUserhash, false},
	KeySpec{"checksync_events", Key::ChecksyncEvents, false},
	KeySpec{"pnp_config", Key::PnpConfig, false},
	KeySpec{"setting_server", Key::SettingServer, false},
	KeySpec{"pnp_vendor", Key::PnpVendor, false},
	KeySpec{"pnp_model", Key::PnpModel, false},
	KeySpec{"pnp_version", Key::PnpVersion, false},
	KeySpec{"pnp_mac", Key::PnpMac, false},
	KeySpec{"pnp_url_schemes", Key::PnpUrlSchemes, false},
	KeySpec{"user_active", Key::UserActive, true},
	KeySpec{"user_name", Key::UserName, true},
	KeySpec{"user_host", Key::UserHost, true},
	KeySpec{"user_pname", Key::UserPname, true},
	KeySpec{"user_pass", Key::UserPass, true},
	KeySpec{"user_hash", Key::UserHash, true},
	KeySpec{"user_outbound", Key::UserOutbound, true},
	KeySpec{"filter_registrar", Key::FilterRegistrar, false},
	KeySpec{"checksync_trusted", Key::ChecksyncTrusted, false},
	KeySpec{"checksync_untrusted", Key::ChecksyncUntrusted, false},
};

const KeySpec *findKey(std::string_view name)
{
	for (const KeySpec &spec : kKeys) {
		if (spec.name == name)
			return &spec;
	}
	return nullptr;
}

constexpr unsigned long kMaxIdx = 999999;
constexpr std::size_t kHashHexDigits = 32;

std::string_view elementName(const xmlNode *node)
{
	return node->name ? reinterpret_cast<const char *>(node->name) : "";
}

std::optional<std::string> attribute(xmlNode *node, const char *name)
{
	UniqueXmlChar value{xmlGetNoNsProp(node, reinterpret_cast<const xmlChar *>(name))};
	if (!value)
		return std::nullopt;
	return std::string(reinterpret_cast<const char *>(value.get()));
}

std::string textContent(const xmlNode *node)
{
	UniqueXmlChar text{xmlNodeGetContent(node)};
	if (!text)
		return {};
	return std::string(reinterpret_cast<const char *>(text.get()));
}

// Walks the tree and fills a Settings, collecting every error.
class Reader
{
public:
	explicit Reader(const std::string &file) : file_(file) {}

	void read(xmlNode *root)
	{
		if (elementName(root) != "settings") {
			error(xmlGetLineNo(root), "root element is <" +
							  std::string(elementName(root)) +
							  ">, expected <settings>");
			return;
		}
		for (xmlNode *section = root->children; section; section = section->next) {
			if (section->type != XML_ELEMENT_NODE ||
			    elementName(section) != "phone-settings")
				continue;
			for (xmlNode *node = section->children; node; node = node->next) {
				if (node->type == XML_ELEMENT_NODE)
					readSetting(node);
			}
		}
	}

	void error(long line, std::string message)
	{
		errors_.push_back(SettingsError{file_, line, std::move(message)});
	}

	std::vector<SettingsError> &errors() { return errors_; }
	Settings &settings() { return settings_; }

private:
	void readSetting(xmlNode *node)
	{
		const KeySpec *spec = findKey(elementName(node));
		if (!spec)
			return; // unknown setting
		const long line = xmlGetLineNo(node);

		std::string key(spec->name);
		unsigned idx = 0;
		if (spec->perIdentity) {
			const std::optional<std::string> idxText = attribute(node, "idx");
			const std::optional<unsigned long> parsed = idxText ? parseDecimal(*idxText,
											   1,
											   kMaxIdx)
									    : std::nullopt;
			if (!parsed) {
				error(line, key + ": idx must be a positive integer");
				return;
			}
			idx = static_cast<unsigned>(*parsed);
			key = identityKey(spec->name, idx);
		}

		const auto [first, inserted] = seen_.emplace(key, line);
		if (!inserted) {
			error(line, key + " given twice (first at line " +
					    std::to_string(first->second) + ")");
			return;
		}

		const std::string text = textContent(node);
		const std::string_view value = trim(text);
		const bool ok = spec->perIdentity ? applyIdentity(spec->key, key, idx, value, line)
						  : applyGlobal(spec->key, key, value, line);
		if (ok)
			settings_.fromFile.insert(key);
	}

	// An enumerated setting: one of `choices` (settings_values.hpp).
	template<typename T, std::size_t N>
	bool applyChoice(T &target, const std::array<Choice<T>, N> &choices, const std::string &key,
			 std::string_view value, long line)
	{
		const std::optional<T> chosen = choose(choices, value);
		if (!chosen) {
			error(line, key + ": invalid value " + quoted(value) + " (expected " +
					    expectedChoices(choices) + ")");
			return false;
		}
		target = *chosen;
		return true;
	}

	bool applyGlobal(Key which, const std::string &key, std::string_view value, long line)
	{
		switch (which) {
		case Key::ChallengeChecksync:
			return applyChoice(settings_.challengeChecksync, kOnOffChoices, key, value,
					   line);
		case Key::ChallengeReboot:
			return applyChoice(settings_.challengeReboot, kOnOffChoices, key, value,
					   line);
		case Key::ChecksyncAction:
			return applyChoice(settings_.action, kActionChoices, key, value, line);
		case Key::NetworkIdPort:
			if (const auto port = parseDecimal(value, 1, 65535)) {
				settings_.port = static_cast<std::uint16_t>(*port);
				return true;
			}
			error(line, key + ": invalid value " + quoted(value) +
					    " (expected a port number from 1 to 65535)");
			return false;
		case Key::AuthAlgorithms:
			return applyAlgorithms(key, value, line);
		case Key::FilterRegistrar:
			return applyChoice(settings_.filterRegistrar, kOnOffChoices, key, value,
					   line);
		case Key::ChecksyncTrusted:
			return applyTrusted(key, value, line);
		case Key::ChecksyncUntrusted:
			return applyChoice(settings_.untrusted, kUntrustedChoices, key, value,
					   line);
		case Key::AuthUserhash:
			return applyChoice(settings_.userhash, kOnOffChoices, key, value, line);
		case Key::AuthQop:
			return applyChoice(settings_.qop, kQopChoices, key, value, line);
		case Key::ChecksyncEvents:
			return applyEvents(key, value, line);
		case Key::PnpConfig:
			return applyChoice(settings_.pnp.enabled, kOnOffChoices, key, value, line);
		case Key::SettingServer:
			// Written by the provisioning process: any text is taken (a
			// refusal would hold back every other setting of the file);
			// only whether it is empty matters here.
			settings_.pnp.settingServer = value;
			return true;
		case Key::PnpVendor:
			return applyPnpParameter(settings_.pnp.vendor, "checksyncd", key, value,
						 line);
		case Key::PnpModel:
			return applyPnpParameter(settings_.pnp.model, "generic", key, value, line);
		case Key::PnpVersion:
			return applyPnpParameter(settings_.pnp.version, CHECKSYNCD_VERSION, key,
						 value, line);
		case Key::PnpMac:
			if (value.empty()) {
				settings_.pnp.mac.clear();
				return true;
			}
			if (const auto mac = parsePnpMac(value)) {
				settings_.pnp.mac = *mac;
				return true;
			}
			error(line,
			      key + ": invalid value " + quoted(value) +
				      " (expected 12 hex digits, e.g. 000413939050, or empty)");
			return false;
		case Key::PnpUrlSchemes:
			return applyUrlSchemes(key, value, line);
		default:
			return false;
		}
	}

	// pnp_vendor, pnp_model, pnp_version: quoted strings in the SUBSCRIBE's
	// Event header. Empty means the default.
	bool applyPnpParameter(std::string &target, std::string_view fallback,
			       const std::string &key, std::string_view value, long line)
	{
		if (value.empty()) {
			target = fallback;
			return true;
		}
		if (!validPnpParameter(value)) {
			error(line, key + ": invalid value " + quoted(value) + " (at most " +
					    std::to_string(kPnpMaxParameterBytes) +
					    " bytes, no '\"', no '\\', no control characters)");
			return false;
		}
		target = value;
		return true;
	}

	bool applyUrlSchemes(const std::string &key, std::string_view value, long line)
	{
		if (value.empty()) {
			settings_.pnp.urlSchemes = PnpSettings{}.urlSchemes;
			return true;
		}
		// The first fault ends the list.
		std::vector<std::string> schemes;
		for (const std::string_view item : listItems(value)) {
			std::string scheme = asciiLower(item);
			if (!validUrlScheme(item)) {
				error(line, key + ": invalid scheme " + quoted(item) + " in " +
						    quoted(value));
				return false;
			}
			if (std::find(schemes.begin(), schemes.end(), scheme) != schemes.end()) {
				error(line, key + ": " + scheme + " listed twice");
				return false;
			}
			if (schemes.size() == kPnpMaxSchemes) {
				error(line, key + ": more than " + std::to_string(kPnpMaxSchemes) +
						    " schemes");
				return false;
			}
			schemes.push_back(std::move(scheme));
		}
		settings_.pnp.urlSchemes = std::move(schemes);
		return true;
	}

	// Same rules as checksync_auth_algorithms: every item known, none
	// twice, the list not empty (a phone that honours no package would
	// answer every PBX 489, which is never what the file meant).
	bool applyEvents(const std::string &key, std::string_view value, long line)
	{
		static constexpr std::string_view kExpected =
			"check-sync, resync, reboot, reboot_now, restart_now, service-control or "
			"report";
		if (value.empty()) {
			error(line, key + ": empty (expected a comma-separated list of " +
					    std::string(kExpected) + ")");
			return false;
		}
		EventPackageSet events;
		bool ok = true;
		for (const std::string_view item : listItems(value)) {
			if (item.empty()) {
				error(line, key + ": empty item in " + quoted(value));
				ok = false;
			} else if (const auto package = parseEventPackage(item)) {
				if (events.contains(*package)) {
					error(line,
					      key + ": " + std::string(eventPackageName(*package)) +
						      " listed twice");
					ok = false;
				}
				events.insert(*package);
			} else {
				error(line, key + ": unknown event package " + quoted(item) +
						    " (expected " + std::string(kExpected) + ")");
				ok = false;
			}
		}
		if (ok)
			settings_.events = events;
		return ok;
	}

	bool applyAlgorithms(const std::string &key, std::string_view value, long line)
	{
		if (value.empty()) {
			error(line,
			      key + ": empty (expected a comma-separated list of SHA-512-256, "
				    "SHA-256 and MD5)");
			return false;
		}
		std::vector<Algorithm> algorithms;
		bool ok = true;
		for (const std::string_view item : listItems(value)) {
			if (item.empty()) {
				error(line, key + ": empty item in " + quoted(value));
				ok = false;
			} else if (const auto algorithm = parseAlgorithm(item)) {
				bool duplicate = false;
				for (Algorithm known : algorithms)
					duplicate = duplicate || known == *algorithm;
				if (duplicate) {
					error(line, key + ": " +
							    std::string(algorithmName(*algorithm)) +
							    " listed twice");
					ok = false;
				} else {
					algorithms.push_back(*algorithm);
				}
			} else {
				error(line, key + ": unknown algorithm " + quoted(item) +
						    " (expected SHA-512-256, SHA-256 or MD5)");
				ok = false;
			}
		}
		if (ok)
			settings_.algorithms = std::move(algorithms);
		return ok;
	}

	bool applyTrusted(const std::string &key, std::string_view value, long line)
	{
		TrustedSources parsed = parseTrustedSources(value);
		for (const TrustedSourceError &bad : parsed.errors)
			error(line,
			      key + ": " + bad.reason + " " + quoted(bad.entry) +
				      (bad.invalid ? " (expected an IP address, a CIDR prefix or a "
						     "host name)"
						   : ""));
		if (!parsed.errors.empty())
			return false;
		settings_.trusted = std::move(parsed.sources);
		return true;
	}

	bool applyIdentity(Key which, const std::string &key, unsigned idx, std::string_view value,
			   long line)
	{
		Identity &identity = settings_.identities[idx];
		identity.idx = idx;
		switch (which) {
		case Key::UserActive:
			return applyChoice(identity.active, kOnOffChoices, key, value, line);
		case Key::UserName:
			identity.name = value;
			return true;
		case Key::UserHost: {
			// The host part becomes the realm, quoted in every 401: only a
			// domain name, an IPv4 address or a bracketed IPv6 address,
			// with an optional port.
			identity.host = value;
			if (value.empty() || validHostPort(identity.host, identity.realm()))
				return true;
			error(line,
			      key + ": invalid value " + quoted(value) + " (expected host[:port])");
			return false;
		}
		case Key::UserOutbound: {
			// The outbound proxy, a source filter_registrar accepts: the
			// same host[:port] form as user_host.
			identity.outbound = value;
			if (value.empty() ||
			    validHostPort(identity.outbound,
					  std::string(hostPart(identity.outbound))))
				return true;
			error(line,
			      key + ": invalid value " + quoted(value) + " (expected host[:port])");
			return false;
		}
		case Key::UserPname:
			identity.pname = value;
			return true;
		case Key::UserPass:
			identity.pass = value;
			return true;
		case Key::UserHash: {
			// Secret: the value never goes into the message.
			if (!value.empty() && !isHex(value, kHashHexDigits)) {
				error(line,
				      key + ": invalid value (expected empty or 32 hex digits)");
				return false;
			}
			identity.hash = asciiLower(value);
			return true;
		}
		default:
			return false;
		}
	}

	const std::string &file_;
	Settings settings_;
	std::vector<SettingsError> errors_;
	// Setting key ("user_name[1]") -> line it was first seen on.
	std::map<std::string, long> seen_;
};

} // namespace

LoadResult parseSettings(std::string_view xml, const std::string &name)
{
	LoadResult result;
	if (xml.size() > kMaxSettingsBytes || xml.size() > static_cast<std::size_t>(INT_MAX)) {
		result.errors.push_back(SettingsError{name, 0, "larger than 1 MiB"});
		return result;
	}

	ParseState state;
	UniqueXmlDoc doc;
	{
		XmlErrorCapture capture(state);
		UniqueXmlParserCtxt ctxt{xmlNewParserCtxt()};
		if (!ctxt) {
			result.errors.push_back(SettingsError{name, 0, "out of memory"});
			return result;
		}
		ctxt->_private = &state;
		ctxt->sax->internalSubset = onInternalSubset;
		ctxt->sax->entityDecl = onEntityDecl;
		const char *data = xml.empty() ? "" : xml.data();
		doc.reset(xmlCtxtReadMemory(ctxt.get(), data, static_cast<int>(xml.size()), nullptr,
					    nullptr, kParseOptions));
		if (!state.failed && !state.doctype && ctxt->wellFormed == 0) {
			state.failed = true;
			state.errorMessage = "not well-formed XML";
		}
	}

	if (doc && !state.doctype && (doc->intSubset || doc->extSubset)) {
		state.doctype = true;
		state.doctypeLine = 0;
	}
	if (state.doctype) {
		result.errors.push_back(
			SettingsError{name, state.doctypeLine,
				      "DOCTYPE and entity declarations are not allowed"});
		return result;
	}
	if (state.failed || !doc) {
		result.errors.push_back(SettingsError{
			name, state.errorLine,
			state.errorMessage.empty() ? "not well-formed XML" : state.errorMessage});
		return result;
	}
	xmlNode *root = xmlDocGetRootElement(doc.get());
	if (!root) {
		result.errors.push_back(SettingsError{name, 0, "no root element"});
		return result;
	}

	Reader reader(name);
	reader.read(root);
	result.errors = std::move(reader.errors());
	if (result.errors.empty())
		result.settings = std::move(reader.settings());
	return result;
}

} // namespace checksyncd
