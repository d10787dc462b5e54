// SPDX-License-Identifier: MIT

#include "auth/known_sources.hpp"

#include <algorithm>

namespace checksyncd {

std::string KnownSourcesFile::write(std::span<const SourcePrefix> sources)
{
	std::string text(kVersionLine);
	text += '\n';
	const std::size_t count = std::min(sources.size(), kMaxEntries);
	for (const SourcePrefix &source : sources.first(count)) {
		text += source.toString();
		text += '\n';
	}
	return text;
}

std::variant<std::vector<SourcePrefix>, KnownSourcesFile::Refusal>
KnownSourcesFile::read(std::string_view text)
{
	if (text.size() > kMaxBytes)
		return Refusal{"larger than " + std::to_string(kMaxBytes) + " bytes"};
	if (text.empty() || !text.ends_with('\n'))
		return Refusal{"does not end with a complete line"};
	std::vector<SourcePrefix> sources;
	bool first = true;
	std::size_t lineNumber = 0;
	while (!text.empty()) {
		const std::size_t end = text.find('\n');
		const std::string_view line = text.substr(0, end);
		text.remove_prefix(end + 1);
		++lineNumber;
		if (first) {
			if (line != kVersionLine)
				return Refusal{"not a known-sources file of version 1"};
			first = false;
			continue;
		}
		const std::string where = "line " + std::to_string(lineNumber) + ": ";
		if (sources.size() == kMaxEntries)
			return Refusal{where + "more than " + std::to_string(kMaxEntries) +
				       " sources"};
		// Only the text toString() writes: no blanks, no host bits, no
		// second spelling of a prefix already read.
		const std::optional<SourcePrefix> source = SourcePrefix::parse(line);
		if (!source || source->toString() != line)
			return Refusal{where + "not a source prefix"};
		if (std::find(sources.begin(), sources.end(), *source) != sources.end())
			return Refusal{where + "a source listed twice"};
		sources.push_back(*source);
	}
	return sources;
}

} // namespace checksyncd
