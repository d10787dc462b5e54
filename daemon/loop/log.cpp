// SPDX-License-Identifier: MIT

#include "loop/log.hpp"

#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <systemd/sd-journal.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace checksyncd {

namespace {

LogLevel gMaxLevel = LogLevel::Info;
LogBackend gBackend = LogBackend::Stderr;
std::string gIdentifier = "checksyncd";

const char *levelName(LogLevel level)
{
	switch (level) {
	case LogLevel::Error:
		return "error";
	case LogLevel::Warning:
		return "warning";
	case LogLevel::Notice:
		return "notice";
	case LogLevel::Info:
		return "info";
	case LogLevel::Debug:
		return "debug";
	}
	return "info";
}

} // namespace

std::optional<LogLevel> parseLogLevel(std::string_view name)
{
	for (LogLevel level : {LogLevel::Error, LogLevel::Warning, LogLevel::Notice, LogLevel::Info,
			       LogLevel::Debug})
		if (name == levelName(level))
			return level;
	return std::nullopt;
}

void logSetup(LogLevel maxLevel, LogBackend backend, std::string_view identifier)
{
	gMaxLevel = maxLevel;
	gBackend = backend;
	gIdentifier = identifier;
}

bool stderrIsJournal()
{
	const char *stream = std::getenv("JOURNAL_STREAM");
	if (!stream)
		return false;
	struct stat st {
	};
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	unsigned long long dev = 0, ino = 0;
	if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

bool logEnabled(LogLevel level)
{
	return static_cast<int>(level) <= static_cast<int>(gMaxLevel);
}

void logMessage(LogLevel level, std::string_view message, std::initializer_list<LogField> fields)
{
	logMessage(level, message, std::span<const LogField>(fields.begin(), fields.size()));
}

void logMessage(LogLevel level, std::string_view message, std::span<const LogField> fields)
{
	if (!logEnabled(level))
		return;

	if (gBackend == LogBackend::Journal) {
		std::vector<std::string> lines;
		lines.reserve(fields.size() + 3);
		lines.push_back("MESSAGE=" + std::string(message));
		lines.push_back("PRIORITY=" + std::to_string(static_cast<int>(level)));
		lines.push_back("SYSLOG_IDENTIFIER=" + gIdentifier);
		for (const LogField &field : fields)
			lines.push_back(std::string(field.name) + "=" + std::string(field.value));
		std::vector<iovec> iov;
		iov.reserve(lines.size());
		for (std::string &line : lines)
			iov.push_back({line.data(), line.size()});
		if (sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) >= 0)
			return;
	}

	std::fprintf(stderr, "%s: %s: %.*s\n", gIdentifier.c_str(), levelName(level),
		     static_cast<int>(message.size()), message.data());
}

} // namespace checksyncd
