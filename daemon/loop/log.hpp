// SPDX-License-Identifier: MIT
//
// Logging: to journald with structured fields when stderr is the journal
// (JOURNAL_STREAM), to stderr otherwise. Library code in common/ does not
// log; the daemon decides what is worth a line.
//
// No secret is ever passed to these functions: passwords and HA1 values
// stay in Settings and auth.cpp.

#pragma once

#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace checksyncd {

// syslog(3) priorities.
enum class LogLevel : int {
	Error = 3,
	Warning = 4,
	Notice = 5,
	Info = 6,
	Debug = 7,
};

std::optional<LogLevel> parseLogLevel(std::string_view name);

struct LogField {
	std::string_view name; // upper-case journal field name, e.g. "SIP_REMOTE"
	std::string_view value;
};

enum class LogBackend : bool {
	Stderr,
	Journal, // structured fields
};

// identifier: the program's name, at the start of a stderr line and as
// the journal's SYSLOG_IDENTIFIER.
void logSetup(LogLevel maxLevel, LogBackend backend, std::string_view identifier = "checksyncd");

// True when stderr is connected to the journal (JOURNAL_STREAM matches).
bool stderrIsJournal();

bool logEnabled(LogLevel level);

void logMessage(LogLevel level, std::string_view message,
		std::initializer_list<LogField> fields = {});
// With fields chosen at run time.
void logMessage(LogLevel level, std::string_view message, std::span<const LogField> fields);

} // namespace checksyncd
