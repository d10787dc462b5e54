// SPDX-License-Identifier: MIT
//
// Helpers shared by the libFuzzer targets: a su_home and a msg_t that free
// themselves, the datagram parse the daemon's transport does, settings read
// from XML with the real reader, and a check that aborts (so that libFuzzer
// records the input) when an invariant of the code under test is broken.

#pragma once

#include <libxml/parser.h>
#include <openssl/crypto.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_buffer.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/sofia.hpp"
#include "settings/settings.hpp"

namespace checksyncd::fuzz {

// Largest message the daemon's agent accepts (NTATAG_MAXSIZE).
inline constexpr std::size_t kMaxMessage = 8192;

// Abort with a message when an invariant fails: libFuzzer's deadly-signal
// handler saves the input as crash-*.
#define FUZZ_CHECK(condition)                                                                      \
	do {                                                                                       \
		if (!(condition)) {                                                                \
			std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,  \
				     #condition);                                                  \
			std::abort();                                                              \
		}                                                                                  \
	} while (false)

// The libraries' global state, set up before the first input, so that
// none of it is counted as the first input's work (the unit tests' main
// does the same).
inline void initLibraries()
{
	xmlInitParser();
	OPENSSL_init_crypto(0, nullptr);
}

using checksyncd::SuHome;
using checksyncd::UniqueMsg;

// Parse `text` as one UDP datagram, the way the daemon's transport does
// (common/base/sofia.hpp).
inline UniqueMsg parseDatagram(std::string_view text)
{
	return checksyncd::parseDatagram(text, kMaxMessage);
}

// Settings from a phone-settings body, through the real reader; aborts when
// the document is refused (a harness bug, not a finding).
inline Settings settingsFrom(std::string_view body)
{
	std::string xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
			  "<settings><phone-settings e=\"2\">\n" +
			  std::string(body) + "</phone-settings></settings>\n";
	LoadResult result = parseSettings(xml, "fuzz-settings.xml");
	if (!result.settings) {
		for (const SettingsError &error : result.errors)
			std::fprintf(stderr, "%s\n", error.toString().c_str());
		std::abort();
	}
	return *result.settings;
}

// Settings from each body, in order: a target's variants.
template<std::size_t N>
std::vector<Settings> settingsFrom(const std::array<std::string_view, N> &bodies)
{
	std::vector<Settings> all;
	for (std::string_view body : bodies)
		all.push_back(settingsFrom(body));
	return all;
}

} // namespace checksyncd::fuzz
