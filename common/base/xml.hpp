// SPDX-License-Identifier: MIT
//
// libxml2 objects that free themselves: the libxml2 member of the RAII
// family (unique_fd.hpp, sofia.hpp, openssl.hpp, sdbus.hpp). One deleter,
// overloaded per type.

#pragma once

#include <memory>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlmemory.h>

namespace checksyncd {

struct XmlDeleter {
	void operator()(xmlParserCtxt *ctxt) const noexcept { xmlFreeParserCtxt(ctxt); }
	void operator()(xmlDoc *doc) const noexcept { xmlFreeDoc(doc); }
	void operator()(xmlChar *text) const noexcept { xmlFree(text); }
};

using UniqueXmlParserCtxt = std::unique_ptr<xmlParserCtxt, XmlDeleter>;
using UniqueXmlDoc = std::unique_ptr<xmlDoc, XmlDeleter>;
using UniqueXmlChar = std::unique_ptr<xmlChar, XmlDeleter>;

} // namespace checksyncd
