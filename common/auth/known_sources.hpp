// SPDX-License-Identifier: MIT
//
// The sources that authenticated before (FailureTable::authenticatedSources()), as
// the state file keeps them across a restart (docs/security.md, "Brute
// force"): a phone that a check-sync reboots comes back with an empty
// table, and its PBX would otherwise compete with an attacker for the
// guess budget on its very next check-sync. Pure: the daemon reads and
// writes the file (daemon/auth/known_sources_store.hpp), this unit only writes
// and reads its text.
//
// The text is a version line and one source prefix per line, as
// SourcePrefix::toString() writes it, most recently authenticated first:
//
//   checksyncd known-sources 1
//   192.0.2.10
//   2001:db8:1:2::/64
//
// It is read back as if a stranger had written it: at most kMaxBytes,
// exactly that version line, at most kMaxEntries lines, each one the
// canonical text of a source prefix, none twice, every line ended by a
// newline. Anything else refuses the whole file (with the reason): a file
// that is half right is not trusted for the half that looks right.

#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "auth/failure_table.hpp"
#include "base/source_address.hpp"

namespace checksyncd {

struct KnownSourcesFile {
	static constexpr std::string_view kVersionLine = "checksyncd known-sources 1";
	static constexpr std::size_t kMaxEntries = FailureTable::kKnownGood;
	// The version line and kMaxEntries of the longest prefix text
	// ("ffff:ffff:ffff:ffff::/64"), with their newlines, fit in 2 KiB;
	// 4 KiB is the most ever read.
	static constexpr std::size_t kMaxBytes = 4096;

	// The file's text for `sources` (most recent first; at most
	// kMaxEntries are written).
	static std::string write(std::span<const SourcePrefix> sources);

	// Why a text was refused, for the one log line.
	struct Refusal {
		std::string reason;
	};
	// The sources of a file's text, most recent first, or why it was
	// refused.
	static std::variant<std::vector<SourcePrefix>, Refusal> read(std::string_view text);
};

} // namespace checksyncd
