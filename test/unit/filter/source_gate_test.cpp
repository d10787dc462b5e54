// SPDX-License-Identifier: MIT
//
// The source filter in process (daemon/filter/source_gate.cpp): a real SourceGate
// on a real su_root, whose Resolver asks a DNS server of the test's on
// 127.0.0.1 (support/fake_dns.hpp) through a resolv.conf of the test's.
// What it answers about each source, what it tells the kernel's filter,
// what it logs, and how a name's lookups follow the settings and SIGHUP.

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/net_address.hpp"
#include "filter/source_gate.hpp"
#include "loop/log.hpp"
#include "loop/loop.hpp"
#include "settings/settings.hpp"

#include "support/daemon_support.hpp"
#include "support/dns_support.hpp"
#include "support/fake_dns.hpp"
#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;
using namespace checksyncd::test;

namespace {

std::optional<IpAddress> ip(const char *text)
{
	return IpAddress::parse(text);
}

TrustedSource trustedName(const char *name)
{
	TrustedSource source;
	source.name = name;
	return source;
}

TrustedSource trustedPrefix(const char *prefix)
{
	TrustedSource source;
	source.prefix = IpPrefix::parse(prefix);
	return source;
}

std::size_t occurrences(const std::string &text, const std::string &part)
{
	std::size_t n = 0;
	for (std::size_t at = text.find(part); at != std::string::npos;
	     at = text.find(part, at + part.size()))
		++n;
	return n;
}

} // namespace

TEST_GROUP(SourceGate)
{
	EventLoop loop;
	TempDir dir;
	// What the DNS server answers for an A query, by name; a name not
	// here gets NXDOMAIN. AAAA queries get no records.
	std::map<std::string, const char *> addresses{{"pbx.example", "192.0.2.1"}};
	std::unique_ptr<FakeDns> dns;
	std::unique_ptr<SourceGate> gate;
	int kernelChanges = 0;

	void setup() override
	{
		logSetup(getenv("DEBUGLOG") ? LogLevel::Debug : LogLevel::Error,
			 LogBackend::Stderr);
		dns = std::make_unique<FakeDns>(loop, [this](FakeDns &server, const Received &r) {
			Response response = FakeDns::answerTo(r.query);
			response.answers.clear();
			const auto found = addresses.find(r.query.name);
			if (found == addresses.end())
				response.rcode = 3; // NXDOMAIN
			else if (r.query.type == 1)
				response.answers = {{r.query.name, 1, rdataA(found->second), 60}};
			server.send(response.bytes(), r.from);
		});
		writeResolvConf(dir.path("resolv.conf"), *dns);
		gate = std::make_unique<SourceGate>(loop, nullptr, dir.path("resolv.conf"));
		gate->setKernelListener([this] { ++kernelChanges; });
	}

	void teardown() override
	{
		gate.reset();
		dns.reset();
	}

	// Settings whose filter takes only `trusted`.
	Settings filtering(std::vector<TrustedSource> trusted,
			   UntrustedPolicy untrusted = UntrustedPolicy::Drop)
	{
		Settings settings;
		settings.trusted = std::move(trusted);
		settings.untrusted = untrusted;
		return settings;
	}

	// How many queries for `name` the server has seen.
	std::size_t asked(const std::string &name) const
	{
		std::size_t n = 0;
		for (const Received &r : dns->seen)
			n += r.query.name == name ? 1 : 0;
		return n;
	}

	bool kernelPasses(const char *prefix) const
	{
		const SourceGate::KernelSources sources = gate->kernelSources();
		return std::find(sources.prefixes.begin(), sources.prefixes.end(),
				 *IpPrefix::parse(prefix)) != sources.prefixes.end();
	}
};

TEST(SourceGate, withoutAFilterEverySourceIsConsideredAndNothingIsLookedUp)
{
	CHECK_EQUAL(SourceVerdict::Allow, gate->check(ip("198.51.100.1")));
	Settings settings; // filter_registrar off, no checksync_trusted
	Identity pbx;
	pbx.idx = 1;
	pbx.name = "340899";
	pbx.host = "pbx.example";
	settings.identities[1] = pbx;
	gate->setSettings(&settings);
	CHECK_EQUAL(SourceVerdict::Allow, gate->check(ip("198.51.100.1")));
	CHECK_EQUAL(SourceVerdict::Allow, gate->check(std::nullopt));
	CHECK_FALSE(gate->kernelSources().enabled);
	STRCMP_EQUAL("", gate->status().c_str());
	CHECK_TRUE(stepPast(loop, 100));
	LONGS_EQUAL(0, dns->seen.size());
}

TEST(SourceGate, literalEntriesAreMatchedAsTheyAre)
{
	const Settings settings = filtering(
		{trustedPrefix("192.0.2.0/24"), trustedPrefix("2001:db8::7")},
		UntrustedPolicy::Refuse);
	gate->setSettings(&settings);
	CHECK_EQUAL(SourceVerdict::Allow, gate->check(ip("192.0.2.200")));
	CHECK_EQUAL(SourceVerdict::Allow, gate->check(ip("::ffff:192.0.2.9")));
	CHECK_EQUAL(SourceVerdict::Allow, gate->check(ip("2001:db8::7")));
	CHECK_EQUAL(SourceVerdict::Refuse, gate->check(ip("2001:db8::8")));
	CHECK_EQUAL(SourceVerdict::Refuse, gate->check(ip("198.51.100.1")));
	// A /24 names a network, an address one PBX.
	CHECK_FALSE(gate->names(*ip("192.0.2.200")));
	CHECK_TRUE(gate->names(*ip("2001:db8::7")));
	const SourceGate::KernelSources kernel = gate->kernelSources();
	CHECK_TRUE(kernel.enabled);
	CHECK_FALSE(kernel.drops); // refused requests are answered: the kernel passes them
	CHECK_TRUE(kernelPasses("192.0.2.0/24"));
	CHECK_TRUE(kernelPasses("2001:db8::7/128"));
	STRCMP_EQUAL("source filter on, 2 requests filtered", gate->status().c_str());
	CHECK_TRUE(stepPast(loop, 100));
	LONGS_EQUAL(0, dns->seen.size());
}

TEST(SourceGate, aNameLetsNothingInUntilItResolvesThenItsAddresses)
{
	const Settings settings = filtering({trustedName("pbx.example")});
	gate->setSettings(&settings);
	// Fail closed while the lookup runs.
	CHECK_EQUAL(SourceVerdict::Drop, gate->check(ip("192.0.2.1")));
	CHECK_TRUE(gate->kernelSources().drops);
	const int before = kernelChanges;
	CHECK_TRUE(stepUntil(loop, [&] { return gate->allows(*ip("192.0.2.1")); }));
	CHECK_TRUE(kernelChanges > before); // the kernel hears of the new address
	CHECK_TRUE(kernelPasses("192.0.2.1/32"));
	CHECK_TRUE(gate->names(*ip("192.0.2.1")));
	CHECK_EQUAL(SourceVerdict::Allow, gate->check(ip("192.0.2.1")));
	CHECK_EQUAL(SourceVerdict::Drop, gate->check(ip("192.0.2.2")));
	STRCMP_EQUAL("source filter on (1 of 1 names resolved), 2 requests filtered",
		     gate->status().c_str());
	// A checksync_trusted name is looked up with A and AAAA only.
	LONGS_EQUAL(2, asked("pbx.example"));
}

TEST(SourceGate, aNameThatStopsResolvingLetsItsAddressesInNoMore)
{
	const Settings settings = filtering({trustedName("pbx.example")});
	gate->setSettings(&settings);
	CHECK_TRUE(stepUntil(loop, [&] { return gate->allows(*ip("192.0.2.1")); }));
	StderrCapture log;
	logSetup(LogLevel::Info, LogBackend::Stderr);
	addresses.clear(); // NXDOMAIN from now on
	const int before = kernelChanges;
	gate->refresh(); // SIGHUP: every name again, at once
	CHECK_TRUE(stepUntil(loop, [&] { return kernelChanges > before; }));
	CHECK_FALSE(gate->allows(*ip("192.0.2.1")));
	CHECK_FALSE(kernelPasses("192.0.2.1/32"));
	CHECK_EQUAL(SourceVerdict::Drop, gate->check(ip("192.0.2.1")));
	LONGS_EQUAL(4, asked("pbx.example"));
	CHECK_TRUE(log.contains("source filter: cannot resolve pbx.example (A/AAAA): "));
	CHECK_TRUE(log.contains("requests from it are filtered out until it resolves"));
}

TEST(SourceGate, newSettingsLookTheirNamesUpAndForgetTheOldOnes)
{
	addresses["other.example"] = "192.0.2.50";
	const Settings first = filtering({trustedName("pbx.example")});
	gate->setSettings(&first);
	CHECK_TRUE(stepUntil(loop, [&] { return gate->allows(*ip("192.0.2.1")); }));
	const Settings second = filtering({trustedName("other.example")});
	gate->setSettings(&second);
	CHECK_FALSE(gate->allows(*ip("192.0.2.1"))); // at once, not after the lookup
	CHECK_TRUE(stepUntil(loop, [&] { return gate->allows(*ip("192.0.2.50")); }));
	CHECK_FALSE(gate->allows(*ip("192.0.2.1")));
	CHECK_FALSE(kernelPasses("192.0.2.1/32"));
	// The same settings again: every name is looked up again.
	gate->setSettings(&second);
	CHECK_TRUE(stepUntil(loop, [&] { return asked("other.example") == 4; }));
	LONGS_EQUAL(2, asked("pbx.example"));
}

TEST(SourceGate, aRegistrarsNameIsFollowedThroughNaptrAndSrv)
{
	dns = std::make_unique<FakeDns>(loop, [](FakeDns &server, const Received &r) {
		Response response = FakeDns::answerTo(r.query);
		response.answers.clear();
		if (r.query.type == 35 && r.query.name == "pbx.example")
			response.answers = {{"pbx.example", 35,
					     rdataNaptr("s", "SIP+D2U", "_sip._udp.pbx.example"),
					     60}};
		else if (r.query.type == 33 && r.query.name == "_sip._udp.pbx.example")
			response.answers = {{"_sip._udp.pbx.example", 33,
					     rdataSrv(5060, "sip1.pbx.example"), 60},
					    {"_sip._udp.pbx.example", 33,
					     rdataSrv(5060, "sip2.pbx.example"), 60}};
		else if (r.query.type == 1 && r.query.name == "sip1.pbx.example")
			response.answers = {{"sip1.pbx.example", 1, rdataA("192.0.2.11"), 60}};
		else if (r.query.type == 28 && r.query.name == "sip2.pbx.example")
			response.answers = {
				{"sip2.pbx.example", 28, rdataAaaa("2001:db8::12"), 60}};
		server.send(response.bytes(), r.from);
	});
	writeResolvConf(dir.path("resolv.conf"), *dns);
	gate = std::make_unique<SourceGate>(loop, nullptr, dir.path("resolv.conf"));
	Settings settings;
	settings.filterRegistrar = true;
	Identity pbx;
	pbx.idx = 1;
	pbx.name = "340899";
	pbx.host = "pbx.example"; // no port: RFC 3263
	settings.identities[1] = pbx;
	gate->setSettings(&settings);
	CHECK_TRUE(stepUntil(loop, [&] {
		return gate->allows(*ip("192.0.2.11")) && gate->allows(*ip("2001:db8::12"));
	}));
	// Both servers of the PBX, each by the family it has.
	CHECK_EQUAL(SourceVerdict::Drop, gate->check(ip("192.0.2.12")));
	STRCMP_EQUAL("source filter on (1 of 1 names resolved), 1 requests filtered",
		     gate->status().c_str());
}

TEST(SourceGate, theFirstFilteredRequestOfAPrefixIsLoggedAtOnceTheRestCounted)
{
	const Settings settings = filtering({trustedPrefix("192.0.2.1")});
	gate->setSettings(&settings);
	StderrCapture log;
	logSetup(LogLevel::Info, LogBackend::Stderr);
	for (const char *source : {"198.51.100.1", "198.51.100.2", "198.51.100.1"})
		CHECK_EQUAL(SourceVerdict::Drop, gate->check(ip(source)));
	CHECK_EQUAL(SourceVerdict::Drop, gate->check(ip("203.0.113.9")));
	const std::string text = log.text();
	// One line for each /24, at once; the rest wait for the minute's summary.
	LONGS_EQUAL(2, occurrences(text, "source filter: dropped a request from "));
	CHECK_TRUE(log.contains("dropped a request from 198.51.100.1 "));
	CHECK_TRUE(log.contains("dropped a request from 203.0.113.9 "));
	CHECK_FALSE(log.contains("198.51.100.2"));
	// The kernel's drops count in the status at once, logged later.
	gate->droppedInKernel(5);
	STRCMP_EQUAL("source filter on, 9 requests filtered", gate->status().c_str());
	CHECK_FALSE(log.contains("the kernel dropped"));
}
