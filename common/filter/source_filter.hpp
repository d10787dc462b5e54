// SPDX-License-Identifier: MIT
//
// The source filter (filter_registrar, checksync_trusted,
// checksync_untrusted): which sources may send requests at all, as pure
// logic with the clock passed in. The daemon looks the names up
// (daemon/filter/resolver.cpp) and asks here.
//
// - FilterPlan: what the settings allow. Literal addresses and prefixes
//   (checksync_trusted entries, a user_host or user_outbound that is an IP
//   address) are matched directly; every host name becomes a ResolveTarget.
// - NameTable: the addresses each name resolved to, until when they count,
//   and when to look the name up again. A name that never resolved, whose
//   lookup failed, or whose refresh got no answer in time allows no source
//   (fail closed); literal entries are unaffected.
// - DropLog: filtered requests counted per source prefix and summarised at
//   most once a minute per prefix, in a bounded table.
//
// A UDP source address can be forged: the filter keeps scanners and noise
// out, digest authentication is what proves the sender (docs/security.md).

#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/net_address.hpp"
#include "settings/settings.hpp"

namespace checksyncd {

enum class SourceVerdict : unsigned char {
	Allow,  // consider the request
	Drop,   // no answer at all
	Refuse, // 403
};

// A host name to look up.
struct ResolveTarget {
	std::string name; // lower case
	// true: RFC 3263 section 4 (NAPTR, then SRV _sip._udp/_sip._tcp, then
	// A/AAAA), for a user_host or user_outbound without a port.
	// false: A/AAAA only (an explicit port, or a checksync_trusted name).
	bool sip = false;

	// "pbx.example.com (NAPTR/SRV/A/AAAA)", "pbx.example.com (A/AAAA)"
	std::string toString() const;
	auto operator<=>(const ResolveTarget &) const = default;
};

struct FilterPlan {
	bool enabled = false; // filter_registrar on, or checksync_trusted set
	UntrustedPolicy policy = UntrustedPolicy::Drop;
	std::vector<IpPrefix> prefixes;     // matched as they are
	std::vector<ResolveTarget> targets; // sorted, no duplicates
	// The entries that name single sources, filter on or off (see
	// namesSource()); sorted, no duplicates.
	std::vector<IpPrefix> named;

	bool operator==(const FilterPlan &) const = default;
};

// The plan for these settings. With filter_registrar on, every active
// identity's user_host and user_outbound is a source; checksync_trusted
// entries always are.
FilterPlan planFilter(const Settings &settings);

// What --check-config warns about: the filter on with the challenge off (a
// forged source address gets past the filter), filter_registrar on with no
// registrar or proxy to take addresses from.
std::vector<std::string> filterWarnings(const Settings &settings);

// The outcome of one lookup of a ResolveTarget.
struct Resolution {
	std::vector<IpAddress> addresses; // empty: the lookup failed
	std::uint32_t ttlS = 0;           // smallest TTL along the records used
	std::string error;                // why it failed ("no such name", ...)
	// What the lookup did not believe (common/filter/dns_message.hpp): datagrams
	// that answered none of its queries, and records of answers that were
	// not of the type asked on the name asked or the CNAME chain from it.
	std::size_t ignoredMessages = 0;
	std::size_t ignoredRecords = 0;
};

// The longest a lookup may take; one still unanswered then has failed.
inline constexpr std::uint64_t kLookupTimeoutMs = 10'000;

class NameTable
{
public:
	// TTLs are clamped to this range: not more than one lookup per name
	// every 5 s, and at least one an hour.
	static constexpr std::uint64_t kMinTtlMs = 5'000;
	static constexpr std::uint64_t kMaxTtlMs = 3'600'000;
	// Resolved addresses keep counting this long after their TTL, while
	// the refresh runs (it ends within kLookupTimeoutMs).
	static constexpr std::uint64_t kGraceMs = kLookupTimeoutMs + 1'000;
	// A failed name is tried again after 5 s, doubling up to 5 minutes.
	static constexpr std::uint64_t kFirstRetryMs = 5'000;
	static constexpr std::uint64_t kMaxRetryMs = 300'000;

	struct Entry {
		std::vector<IpAddress> addresses; // sorted
		std::uint64_t validUntilMs = 0;   // the addresses count until then
		std::uint64_t dueMs = 0;          // next lookup
		std::uint32_t ttlS = 0;           // of the last good answer
		bool inFlight = false;
		bool resolved = false; // the last lookup succeeded
		unsigned failures = 0; // consecutive failed lookups
		std::string error;     // of the last failed lookup
	};

	// What a completed lookup changed, so the caller can log each change
	// once.
	enum class Change : unsigned char {
		Resolved,     // first good answer, or the first after failures
		Changed,      // good answer, other addresses than before
		Refreshed,    // good answer, same addresses
		Failed,       // failed, after a good answer or at the first try
		StillFailing, // failed again
		Unknown,      // the name is no longer listed
	};

	// The names to resolve: forgets the names no longer listed, keeps what
	// is known about the others, and makes every listed name due now (a
	// settings change refreshes them).
	void setTargets(const std::vector<ResolveTarget> &targets, std::uint64_t nowMs);
	// Make every name due now (SIGHUP).
	void refreshAll(std::uint64_t nowMs);
	// The names due for a lookup at nowMs; they are marked in flight.
	std::vector<ResolveTarget> takeDue(std::uint64_t nowMs);
	// When the next name becomes due (names in flight aside).
	std::optional<std::uint64_t> nextDueMs() const;
	Change complete(const ResolveTarget &target, const Resolution &result, std::uint64_t nowMs);

	// True when a listed name currently resolves to `address`.
	bool allows(const IpAddress &address, std::uint64_t nowMs) const;

	const std::map<ResolveTarget, Entry> &entries() const { return entries_; }

private:
	std::map<ResolveTarget, Entry> entries_;
};

// The verdict on a request from `source` (nullopt: not an IP source).
SourceVerdict decideSource(const FilterPlan &plan, const NameTable &names,
			   const std::optional<IpAddress> &source, std::uint64_t nowMs);

// Whether the filter names `source` as one of the phone's PBXs, which puts
// it outside the guess budget (docs/security.md, "Brute force"): an active
// identity's user_host or user_outbound written as an address (also with
// the filter off), an address a listed name resolves to (the filter on:
// names are looked up only then), or a checksync_trusted address or
// prefix no wider than one brute-force source (an IPv4 address, an IPv6
// /64). A wider trusted prefix names a network, not a PBX: its sources
// pass the filter but spend the budget like everyone's.
bool namesSource(const FilterPlan &plan, const NameTable &names, const IpAddress &source,
		 std::uint64_t nowMs);
// Every source the filter may allow before the names next change: the
// plan's prefixes and every address a name resolved to, sorted, without
// duplicates (a superset of what decideSource() allows: an address past
// its validity is still listed until its refresh completes). The kernel's
// socket filter passes these (common/filter/kernel_filter.hpp).
std::vector<IpPrefix> allowedPrefixes(const FilterPlan &plan, const NameTable &names);

// Filtered requests, counted per source prefix (/24 for IPv4, /64 for
// IPv6: one network, usually one scanner) and reported at most once a
// minute per prefix. At most `capacity` prefixes are told apart; requests
// from further prefixes share one "other prefixes" line, so the log gets
// at most capacity + 1 lines a minute however many sources send.
class DropLog
{
public:
	static constexpr std::uint64_t kIntervalMs = 60'000;
	static constexpr unsigned kV4PrefixLength = 24;
	static constexpr unsigned kV6PrefixLength = 64;

	struct Report {
		std::string prefix;         // "192.0.2.0/24"; empty: other prefixes
		std::string lastSource;     // the last address counted
		std::uint64_t count = 0;    // requests filtered since the last report
		std::uint64_t periodMs = 0; // over this time
		bool first = false;         // the first request seen from the prefix
		bool estimated = false;     // count includes samples' weights
	};

	explicit DropLog(std::size_t capacity = 64) : capacity_(capacity) {}

	// Count one filtered request; returns a line to log now, if one is due
	// (the first request from a prefix is reported at once). `weight`: how
	// many requests it stands for, when it is a sample of them (the kernel
	// dropped the others: daemon/filter/socket_filter.hpp).
	std::optional<Report> record(const IpAddress &source, std::uint64_t nowMs,
				     std::uint32_t weight = 1);
	// The summaries due at nowMs (counts older than a minute); forgets
	// prefixes that were quiet for a minute.
	std::vector<Report> flush(std::uint64_t nowMs);
	// When flush() next has something to report, if anything is pending.
	std::optional<std::uint64_t> nextFlushMs() const;

	// Requests recorded (each once, whatever its weight).
	std::uint64_t total() const { return total_; }
	std::size_t size() const { return entries_.size(); }
	// An upper bound of the heap the table can hold: capacity map nodes
	// (key, value, three links and the colour).
	std::size_t bytesBound() const
	{
		return capacity_ * (sizeof(std::pair<const IpPrefix, Entry>) + 4 * sizeof(void *));
	}

	static IpPrefix prefixOf(const IpAddress &source);

private:
	struct Entry {
		std::uint64_t reportedMs = 0; // last report (or the first request)
		std::uint64_t pending = 0;    // counted since
		bool estimated = false;       // a weighted sample among them
		IpAddress lastSource;
	};

	enum class Entered : bool {
		Before,
		Now, // the entry was made for this request: report at once
	};
	// prefix nullptr: the entry of the other prefixes.
	std::optional<Report> count(Entry &entry, const IpPrefix *prefix, const IpAddress &source,
				    std::uint64_t nowMs, std::uint32_t weight, Entered entered);

	std::size_t capacity_;
	std::map<IpPrefix, Entry> entries_;
	std::optional<Entry> other_;
	std::uint64_t total_ = 0;
};

} // namespace checksyncd
