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

#include <cerrno>
#include <charconv>
#include <climits>
#include <memory>
#include <span>
#include <system_error>
#include <utility>

#include "base/text.hpp"
#include "base/unique_fd.hpp"
#include "base/xml.hpp"
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

// The key of that name in `keys`, or nullptr.
template<typename Target>
const SettingKey<Target> *findKey(std::span<const SettingKey<Target>> keys, std::string_view name)
{
	for (const SettingKey<Target> &key : keys) {
		if (key.name == name)
			return &key;
	}
	return nullptr;
}

constexpr unsigned long kMaxIdx = 999999;

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
		const std::string_view name = elementName(node);
		const SettingKey<Settings> *global = findKey(settingKeys(), name);
		const SettingKey<Identity> *perIdentity = global ? nullptr
								 : findKey(identityKeys(), name);
		if (!global && !perIdentity)
			return; // unknown setting
		const long line = xmlGetLineNo(node);

		std::string key(name);
		unsigned idx = 0;
		if (perIdentity) {
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
			key = identityKey(name, idx);
		}

		const auto [first, inserted] = seen_.emplace(key, line);
		if (!inserted) {
			error(line, key + " given twice (first at line " +
					    std::to_string(first->second) + ")");
			return;
		}

		const std::string text = textContent(node);
		std::vector<std::string> refusals;
		const SettingValue value{key, trim(text), refusals};
		bool ok = false;
		if (perIdentity) {
			Identity &identity = settings_.identities[idx];
			identity.idx = idx;
			ok = perIdentity->read(identity, value);
		} else {
			ok = global->read(settings_, value);
		}
		for (std::string &refusal : refusals)
			error(line, std::move(refusal));
		if (ok)
			settings_.fromFile.insert(key);
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
