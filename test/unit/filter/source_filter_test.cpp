// SPDX-License-Identifier: MIT

#include <string>
#include <vector>

#include "filter/source_filter.hpp"

#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

namespace {

IpAddress ip(const char *text)
{
	const std::optional<IpAddress> address = IpAddress::parse(text);
	if (!address)
		FAIL((std::string("not an address: ") + text).c_str());
	return *address;
}

enum class State : bool {
	Active,
	Inactive,
};

Identity identity(unsigned idx, std::string host, std::string outbound = "",
		  State state = State::Active)
{
	Identity id;
	id.idx = idx;
	id.active = state == State::Active;
	id.name = "user" + std::to_string(idx);
	id.host = std::move(host);
	id.outbound = std::move(outbound);
	return id;
}

std::vector<TrustedSource> trusted(const char *list)
{
	TrustedSources parsed = parseTrustedSources(list);
	LONGS_EQUAL(0, parsed.errors.size());
	return parsed.sources;
}

Resolution resolved(std::vector<const char *> addresses, std::uint32_t ttlS)
{
	Resolution result;
	for (const char *text : addresses)
		result.addresses.push_back(ip(text));
	result.ttlS = ttlS;
	return result;
}

Resolution failed(const char *error)
{
	Resolution result;
	result.error = error;
	return result;
}

const ResolveTarget kPbx{"pbx.example.com", true};
const ResolveTarget kOther{"other.example.com", false};

} // namespace

// The plan

TEST_GROUP(SourceFilterPlan)
{
	Settings settings;
};

TEST(SourceFilterPlan, isOffByDefault)
{
	const FilterPlan plan = planFilter(settings);
	CHECK_FALSE(plan.enabled);
	CHECK_TRUE(plan.prefixes.empty());
	CHECK_TRUE(plan.targets.empty());
}

TEST(SourceFilterPlan, filterRegistrarTakesEveryActiveRegistrarAndProxy)
{
	settings.filterRegistrar = true;
	settings.identities[1] = identity(1, "PBX.example.com", "proxy.example.com:5070");
	settings.identities[2] = identity(2, "192.0.2.10:5060", "[2001:db8::10]");
	settings.identities[3] = identity(3, "inactive.example.com", "", State::Inactive);
	settings.identities[4] = identity(4, "pbx.example.com");
	const FilterPlan plan = planFilter(settings);
	CHECK_TRUE(plan.enabled);
	// Literal addresses as they are; names once each, sorted.
	LONGS_EQUAL(2, plan.prefixes.size());
	STRCMP_EQUAL("192.0.2.10", plan.prefixes[0].toString().c_str());
	STRCMP_EQUAL("2001:db8::10", plan.prefixes[1].toString().c_str());
	LONGS_EQUAL(2, plan.targets.size());
	// No port: RFC 3263 (NAPTR, SRV, A/AAAA); an explicit port: A/AAAA.
	STRCMP_EQUAL("pbx.example.com (NAPTR/SRV/A/AAAA)", plan.targets[0].toString().c_str());
	STRCMP_EQUAL("proxy.example.com (A/AAAA)", plan.targets[1].toString().c_str());
}

TEST(SourceFilterPlan, trustedSourcesTurnTheFilterOnByThemselves)
{
	settings.trusted = trusted("192.0.2.0/24, trusted.example.com");
	settings.identities[1] = identity(1, "pbx.example.com");
	const FilterPlan plan = planFilter(settings);
	CHECK_TRUE(plan.enabled);
	LONGS_EQUAL(1, plan.prefixes.size());
	// filter_registrar is off: the registrar is not a source of its own.
	LONGS_EQUAL(1, plan.targets.size());
	STRCMP_EQUAL("trusted.example.com (A/AAAA)", plan.targets[0].toString().c_str());
}

TEST(SourceFilterPlan, carriesThePolicy)
{
	settings.filterRegistrar = true;
	CHECK_EQUAL(UntrustedPolicy::Drop, planFilter(settings).policy);
	settings.untrusted = UntrustedPolicy::Refuse;
	CHECK_EQUAL(UntrustedPolicy::Refuse, planFilter(settings).policy);
}

TEST(SourceFilterPlan, warnsWhenTheFilterIsOnAndTheChallengeOff)
{
	CHECK_TRUE(filterWarnings(settings).empty());
	settings.trusted = trusted("192.0.2.1");
	const std::vector<std::string> warnings = filterWarnings(settings);
	LONGS_EQUAL(1, warnings.size());
	CHECK_TRUE(warnings[0].find("challenge_checksync is off") != std::string::npos);
	settings.challengeChecksync = true;
	CHECK_TRUE(filterWarnings(settings).empty());
}

TEST(SourceFilterPlan, warnsWhenFilterRegistrarHasNoRegistrar)
{
	settings.challengeChecksync = true;
	settings.filterRegistrar = true;
	settings.identities[1] = identity(1, "pbx.example.com", "", State::Inactive);
	std::vector<std::string> warnings = filterWarnings(settings);
	LONGS_EQUAL(1, warnings.size());
	CHECK_TRUE(warnings[0].find("every request is filtered out") != std::string::npos);
	settings.identities[2] = identity(2, "", "proxy.example.com");
	CHECK_TRUE(filterWarnings(settings).empty());
}

TEST(SourceFilterPlan, theKernelIsGivenTheLiteralsAndEveryResolvedAddress)
{
	settings.trusted = trusted("192.0.2.0/24, 2001:db8::/32, trusted.example.com");
	settings.filterRegistrar = true;
	settings.identities[1] = identity(1, "198.51.100.7:5060", "pbx.example.com");
	const FilterPlan plan = planFilter(settings);
	NameTable names;
	names.setTargets(plan.targets, 1000);
	names.takeDue(1000);
	names.complete(plan.targets[0], resolved({"203.0.113.5", "2001:db8:1::5"}, 60), 1000);
	// The other name has not resolved: it adds nothing.
	std::vector<std::string> texts;
	for (const IpPrefix &prefix : allowedPrefixes(plan, names))
		texts.push_back(prefix.toString());
	const std::vector<std::string> expected{"192.0.2.0/24", "198.51.100.7", "203.0.113.5",
						"2001:db8::/32", "2001:db8:1::5"};
	CHECK_TRUE(expected == texts);
}

// Names and their addresses

TEST_GROUP(NameTable)
{
	NameTable table;

	void start(std::uint64_t now = 1000)
	{
		table.setTargets({kOther, kPbx}, now);
		LONGS_EQUAL(2, table.takeDue(now).size());
	}
};

TEST(NameTable, everyNewNameIsDueAtOnceAndTakenOnce)
{
	table.setTargets({kPbx}, 1000);
	CHECK_TRUE(table.nextDueMs() == std::optional<std::uint64_t>(1000));
	const std::vector<ResolveTarget> due = table.takeDue(1000);
	LONGS_EQUAL(1, due.size());
	CHECK_TRUE(due[0] == kPbx);
	// In flight: neither due again nor a reason to wake up.
	CHECK_TRUE(table.takeDue(5000).empty());
	CHECK_FALSE(table.nextDueMs().has_value());
}

TEST(NameTable, anUnresolvedNameAllowsNothing)
{
	start();
	CHECK_FALSE(table.allows(ip("192.0.2.10"), 1000));
}

TEST(NameTable, aResolvedNameAllowsItsAddressesUntilTheTtlAndTheGraceRunOut)
{
	start();
	CHECK_EQUAL(NameTable::Change::Resolved,
		    table.complete(kPbx, resolved({"192.0.2.10", "2001:db8::10"}, 60), 2000));
	CHECK_TRUE(table.allows(ip("192.0.2.10"), 2000));
	CHECK_TRUE(table.allows(ip("::ffff:192.0.2.10"), 2000));
	CHECK_TRUE(table.allows(ip("2001:db8::10"), 2000));
	CHECK_FALSE(table.allows(ip("192.0.2.11"), 2000));
	// Refresh due when the TTL ends; the addresses count for the grace
	// period after that, while the refresh runs.
	CHECK_TRUE(table.nextDueMs() == std::optional<std::uint64_t>(62'000)); // kOther in flight
	table.complete(kOther, failed("no such name"), 2000);
	CHECK_TRUE(table.nextDueMs() ==
		   std::optional<std::uint64_t>(2000 + NameTable::kFirstRetryMs));
	const std::uint64_t refresh = 2000 + 60'000;
	CHECK_TRUE(table.takeDue(refresh - 1).size() == 1); // only kOther's retry
	const std::vector<ResolveTarget> due = table.takeDue(refresh);
	LONGS_EQUAL(1, due.size());
	CHECK_TRUE(due[0] == kPbx);
	CHECK_TRUE(table.allows(ip("192.0.2.10"), refresh + NameTable::kGraceMs - 1));
	CHECK_FALSE(table.allows(ip("192.0.2.10"), refresh + NameTable::kGraceMs));
}

TEST(NameTable, ttlsAreClampedToASaneRange)
{
	start();
	table.complete(kPbx, resolved({"192.0.2.10"}, 0), 2000);
	table.complete(kOther, resolved({"192.0.2.20"}, 86400 * 7), 2000);
	const auto &entries = table.entries();
	LONGS_EQUAL(2000 + NameTable::kMinTtlMs, entries.at(kPbx).dueMs);
	LONGS_EQUAL(2000 + NameTable::kMaxTtlMs, entries.at(kOther).dueMs);
	LONGS_EQUAL(86400 * 7, entries.at(kOther).ttlS);
}

TEST(NameTable, aRefreshReplacesTheAddresses)
{
	start();
	table.complete(kPbx, resolved({"192.0.2.10"}, 30), 2000);
	table.takeDue(32'000);
	CHECK_EQUAL(NameTable::Change::Changed,
		    table.complete(kPbx, resolved({"192.0.2.11"}, 30), 32'100));
	CHECK_FALSE(table.allows(ip("192.0.2.10"), 32'100));
	CHECK_TRUE(table.allows(ip("192.0.2.11"), 32'100));
	table.takeDue(62'100);
	CHECK_EQUAL(NameTable::Change::Refreshed,
		    table.complete(kPbx, resolved({"192.0.2.11"}, 30), 62'200));
}

TEST(NameTable, aFailedLookupFailsClosedAndIsReportedOnce)
{
	start();
	table.complete(kPbx, resolved({"192.0.2.10"}, 30), 2000);
	table.takeDue(32'000);
	CHECK_EQUAL(NameTable::Change::Failed,
		    table.complete(kPbx, failed("no answer from the DNS server"), 42'000));
	CHECK_FALSE(table.allows(ip("192.0.2.10"), 42'000));
	STRCMP_EQUAL("no answer from the DNS server", table.entries().at(kPbx).error.c_str());
	table.takeDue(100'000);
	CHECK_EQUAL(NameTable::Change::StillFailing,
		    table.complete(kPbx, failed("no answer from the DNS server"), 100'000));
	table.takeDue(200'000);
	CHECK_EQUAL(NameTable::Change::Resolved,
		    table.complete(kPbx, resolved({"192.0.2.10"}, 30), 200'000));
	CHECK_TRUE(table.allows(ip("192.0.2.10"), 200'000));
}

TEST(NameTable, theFirstFailureIsReportedToo)
{
	start();
	CHECK_EQUAL(NameTable::Change::Failed, table.complete(kPbx, failed("no such name"), 2000));
}

TEST(NameTable, failedNamesAreRetriedWithABackoffUpToFiveMinutes)
{
	start(0);
	std::uint64_t now = 0;
	std::vector<std::uint64_t> waits;
	for (int i = 0; i < 10; i++) {
		table.complete(kPbx, failed("no such name"), now);
		table.complete(kOther, resolved({"192.0.2.1"}, 3600), now);
		const std::uint64_t due = table.entries().at(kPbx).dueMs;
		waits.push_back(due - now);
		now = due;
		LONGS_EQUAL(1, table.takeDue(now).size());
		table.takeDue(now + NameTable::kMaxTtlMs); // kOther stays in flight
	}
	const std::vector<std::uint64_t> expected{5'000,   10'000,  20'000,  40'000,  80'000,
						  160'000, 300'000, 300'000, 300'000, 300'000};
	CHECK_TRUE(waits == expected);
}

TEST(NameTable, newSettingsKeepKnownAddressesAndRefreshEveryName)
{
	start();
	table.complete(kPbx, resolved({"192.0.2.10"}, 600), 2000);
	table.complete(kOther, resolved({"192.0.2.20"}, 600), 2000);
	const ResolveTarget added{"new.example.com", false};
	table.setTargets({kPbx, added}, 3000);
	// The dropped name's addresses are gone, the kept one's still count.
	CHECK_FALSE(table.allows(ip("192.0.2.20"), 3000));
	CHECK_TRUE(table.allows(ip("192.0.2.10"), 3000));
	LONGS_EQUAL(2, table.takeDue(3000).size());
	CHECK_EQUAL(NameTable::Change::Unknown,
		    table.complete(kOther, resolved({"192.0.2.20"}, 600), 3000));
	CHECK_FALSE(table.allows(ip("192.0.2.20"), 3000));
}

TEST(NameTable, aNameInFlightIsNotStartedTwice)
{
	start();
	table.setTargets({kPbx, kOther}, 1500);
	CHECK_TRUE(table.takeDue(1500).empty());
	table.complete(kPbx, resolved({"192.0.2.10"}, 600), 2000);
	CHECK_TRUE(table.takeDue(2000).empty());
}

TEST(NameTable, refreshAllMakesEveryNameDue)
{
	start();
	table.complete(kPbx, resolved({"192.0.2.10"}, 600), 2000);
	table.complete(kOther, failed("no such name"), 2000);
	table.refreshAll(2500);
	LONGS_EQUAL(2, table.takeDue(2500).size());
	// Known addresses keep counting meanwhile.
	CHECK_TRUE(table.allows(ip("192.0.2.10"), 2500));
}

// The verdict

TEST_GROUP(SourceVerdict)
{
	Settings settings;
	NameTable names;

	SourceVerdict verdict(const char *source, std::uint64_t now = 2000)
	{
		return decideSource(planFilter(settings), names, ip(source), now);
	}
};

TEST(SourceVerdict, everyoneIsAllowedWhileTheFilterIsOff)
{
	settings.identities[1] = identity(1, "192.0.2.10");
	CHECK_EQUAL(SourceVerdict::Allow, verdict("203.0.113.9"));
	CHECK_EQUAL(SourceVerdict::Allow,
		    decideSource(planFilter(settings), names, std::nullopt, 0));
}

TEST(SourceVerdict, literalRegistrarsAndTrustedPrefixesAreAllowed)
{
	settings.filterRegistrar = true;
	settings.identities[1] = identity(1, "192.0.2.10:5060", "[2001:db8::10]:5070");
	settings.trusted = trusted("198.51.100.0/24");
	CHECK_EQUAL(SourceVerdict::Allow, verdict("192.0.2.10"));
	CHECK_EQUAL(SourceVerdict::Allow, verdict("::ffff:192.0.2.10"));
	CHECK_EQUAL(SourceVerdict::Allow, verdict("2001:db8::10"));
	CHECK_EQUAL(SourceVerdict::Allow, verdict("198.51.100.200"));
	CHECK_EQUAL(SourceVerdict::Drop, verdict("192.0.2.11"));
	CHECK_EQUAL(SourceVerdict::Drop, verdict("2001:db8::11"));
}

TEST(SourceVerdict, refuseAnswersWhatDropWouldIgnore)
{
	settings.trusted = trusted("192.0.2.10");
	settings.untrusted = UntrustedPolicy::Refuse;
	CHECK_EQUAL(SourceVerdict::Allow, verdict("192.0.2.10"));
	CHECK_EQUAL(SourceVerdict::Refuse, verdict("203.0.113.9"));
	CHECK_EQUAL(SourceVerdict::Refuse,
		    decideSource(planFilter(settings), names, std::nullopt, 0));
}

TEST(SourceVerdict, aNameAllowsWhatItResolvesTo)
{
	settings.filterRegistrar = true;
	settings.identities[1] = identity(1, "pbx.example.com");
	names.setTargets(planFilter(settings).targets, 1000);
	names.takeDue(1000);
	CHECK_EQUAL(SourceVerdict::Drop, verdict("192.0.2.10"));
	names.complete(kPbx, resolved({"192.0.2.10"}, 60), 1500);
	CHECK_EQUAL(SourceVerdict::Allow, verdict("192.0.2.10"));
	CHECK_EQUAL(SourceVerdict::Drop,
		    verdict("192.0.2.10", 1500 + 60'000 + NameTable::kGraceMs));
}

// Which sources the filter names (outside the guess budget)

TEST_GROUP(NamedSource)
{
	Settings settings;
	NameTable names;

	bool named(const char *source, std::uint64_t now = 2000)
	{
		return namesSource(planFilter(settings), names, ip(source), now);
	}
	bool allowed(const char *source)
	{
		return decideSource(planFilter(settings), names, ip(source), 2000) ==
		       SourceVerdict::Allow;
	}
};

TEST(NamedSource, literalRegistrarsAndProxiesAreNamedWithTheFilterOffToo)
{
	// The default: the filter off, nothing resolved, no DNS traffic.
	settings.identities[1] = identity(1, "192.0.2.10:5060", "[2001:db8::10]:5070");
	settings.identities[2] = identity(2, "pbx.example.com");
	settings.identities[3] = identity(3, "192.0.2.30", "", State::Inactive);
	const FilterPlan plan = planFilter(settings);
	CHECK_FALSE(plan.enabled);
	CHECK_TRUE(plan.targets.empty());
	CHECK_TRUE(named("192.0.2.10"));
	CHECK_TRUE(named("::ffff:192.0.2.10"));
	CHECK_TRUE(named("2001:db8::10"));
	CHECK_FALSE(named("2001:db8::11"));
	CHECK_FALSE(named("192.0.2.11"));
	CHECK_FALSE(named("192.0.2.30")); // an inactive identity's
}

TEST(NamedSource, trustedAddressesAreNamedButAWidePrefixIsANetworkNotAPbx)
{
	settings.trusted = trusted("198.51.100.0/24, 192.0.2.10, 2001:db8:1:2::/64, "
				   "2001:db8:9::/48, 203.0.113.7/32");
	CHECK_TRUE(named("192.0.2.10"));
	CHECK_TRUE(named("203.0.113.7"));
	CHECK_TRUE(named("2001:db8:1:2::99"));
	// Past the filter, but held to the budget like everyone.
	CHECK_TRUE(allowed("198.51.100.200"));
	CHECK_FALSE(named("198.51.100.200"));
	CHECK_TRUE(allowed("2001:db8:9:1::1"));
	CHECK_FALSE(named("2001:db8:9:1::1"));
}

TEST(NamedSource, aNameNamesWhatItResolvesToWhileTheFilterIsOn)
{
	settings.filterRegistrar = true;
	settings.identities[1] = identity(1, "pbx.example.com");
	names.setTargets(planFilter(settings).targets, 1000);
	names.takeDue(1000);
	CHECK_FALSE(named("192.0.2.10"));
	names.complete(kPbx, resolved({"192.0.2.10"}, 60), 1500);
	CHECK_TRUE(named("192.0.2.10"));
	CHECK_FALSE(named("192.0.2.10", 1500 + 60'000 + NameTable::kGraceMs));
}

// Counting and logging filtered requests

TEST_GROUP(DropLog)
{
	DropLog log{4};
};

TEST(DropLog, theFirstRequestFromAPrefixIsReportedAtOnce)
{
	const std::optional<DropLog::Report> report = log.record(ip("203.0.113.9"), 1000);
	CHECK_TRUE(report.has_value());
	CHECK_TRUE(report->first);
	STRCMP_EQUAL("203.0.113.0/24", report->prefix.c_str());
	STRCMP_EQUAL("203.0.113.9", report->lastSource.c_str());
	LONGS_EQUAL(1, report->count);
}

TEST(DropLog, furtherRequestsAreSummarisedOnceAMinute)
{
	log.record(ip("203.0.113.9"), 1000);
	int lines = 0;
	for (int i = 1; i <= 1000; i++) {
		// 1000 requests from the same /24 over 50 s
		if (log.record(ip(("203.0.113." + std::to_string(i % 250)).c_str()), 1000 + i * 50))
			lines++;
	}
	LONGS_EQUAL(0, lines);
	CHECK_TRUE(log.nextFlushMs() == std::optional<std::uint64_t>(61'000));
	CHECK_TRUE(log.flush(60'999).empty());
	const std::vector<DropLog::Report> reports = log.flush(61'000);
	LONGS_EQUAL(1, reports.size());
	LONGS_EQUAL(1000, reports[0].count);
	LONGS_EQUAL(60'000, reports[0].periodMs);
	CHECK_FALSE(reports[0].first);
	LONGS_EQUAL(1001, log.total());
}

TEST(DropLog, aRequestAfterTheMinuteBringsItsSummaryWithIt)
{
	log.record(ip("203.0.113.9"), 1000);
	CHECK_FALSE(log.record(ip("203.0.113.9"), 2000).has_value());
	const std::optional<DropLog::Report> report = log.record(ip("203.0.113.8"), 61'000);
	CHECK_TRUE(report.has_value());
	LONGS_EQUAL(2, report->count);
	STRCMP_EQUAL("203.0.113.8", report->lastSource.c_str());
	CHECK_TRUE(log.flush(62'000).empty());
}

TEST(DropLog, ipv6SourcesShareTheirSlash64)
{
	CHECK_TRUE(log.record(ip("2001:db8:1:2::1"), 1000).has_value());
	CHECK_FALSE(log.record(ip("2001:db8:1:2:ffff::9"), 1000).has_value());
	const std::optional<DropLog::Report> other = log.record(ip("2001:db8:1:3::1"), 1000);
	CHECK_TRUE(other.has_value());
	STRCMP_EQUAL("2001:db8:1:3::/64", other->prefix.c_str());
	LONGS_EQUAL(2, log.size());
}

TEST(DropLog, quietPrefixesAreForgotten)
{
	log.record(ip("203.0.113.9"), 1000);
	CHECK_TRUE(log.flush(61'000).empty());
	LONGS_EQUAL(0, log.size());
	CHECK_FALSE(log.nextFlushMs().has_value());
	// Back later: reported at once again.
	CHECK_TRUE(log.record(ip("203.0.113.9"), 70'000).has_value());
}

TEST(DropLog, prefixesBeyondTheCapacityShareOneLine)
{
	for (int i = 0; i < 4; i++)
		CHECK_TRUE(log.record(ip(("198.51." + std::to_string(i) + ".1").c_str()), 1000));
	// A flood from a thousand more prefixes: one line now, one a minute.
	int lines = 0;
	std::optional<DropLog::Report> firstOther;
	for (int i = 0; i < 1000; i++) {
		auto report = log.record(
			ip(("10." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ".1")
				   .c_str()),
			2000);
		if (report) {
			lines++;
			firstOther = report;
		}
	}
	LONGS_EQUAL(1, lines);
	STRCMP_EQUAL("", firstOther->prefix.c_str());
	LONGS_EQUAL(4, log.size());
	const std::vector<DropLog::Report> reports = log.flush(62'000);
	LONGS_EQUAL(1, reports.size());
	LONGS_EQUAL(999, reports[0].count);
	STRCMP_EQUAL("", reports[0].prefix.c_str());
}

TEST(DropLog, aSampleCountsForTheRequestsItStandsForAndSaysSo)
{
	// The first of a prefix is reported at once as the one seen; the 63
	// others it stands for go into the next summary.
	const std::optional<DropLog::Report> first = log.record(ip("203.0.113.9"), 1000, 64);
	CHECK_TRUE(first.has_value());
	LONGS_EQUAL(1, first->count);
	CHECK_FALSE(log.record(ip("203.0.113.10"), 2000, 64).has_value());
	const std::vector<DropLog::Report> reports = log.flush(61'000);
	LONGS_EQUAL(1, reports.size());
	LONGS_EQUAL(63 + 64, reports[0].count);
	CHECK_TRUE(reports[0].estimated);
	LONGS_EQUAL(2, log.total());
	// Requests seen one by one again: exact again.
	log.record(ip("203.0.113.11"), 62'000);
	const std::vector<DropLog::Report> exact = log.flush(121'000);
	LONGS_EQUAL(1, exact.size());
	LONGS_EQUAL(1, exact[0].count);
	CHECK_FALSE(exact[0].estimated);
}

TEST(DropLog, staysBoundedUnderAFloodFromSpoofedSources)
{
	DropLog big;
	for (int i = 0; i < 20'000; i++) {
		std::uint8_t bytes[4] = {static_cast<std::uint8_t>(10 + i % 200),
					 static_cast<std::uint8_t>(i / 200),
					 static_cast<std::uint8_t>(i % 7), 1};
		big.record(IpAddress::fromV4(bytes), 1000 + static_cast<std::uint64_t>(i));
	}
	LONGS_EQUAL(64, big.size());
	LONGS_EQUAL(20'000, big.total());
	CHECK_TRUE(big.bytesBound() < 8 * 1024);
}
