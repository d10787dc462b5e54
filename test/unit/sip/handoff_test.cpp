// SPDX-License-Identifier: MIT
//
// The hand-off context (common/sip/handoff.hpp): what the UA says about where a
// request came from, read and checked, and who may hand requests over.

#include <string>

#include "sip/handoff.hpp"

#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

namespace {

HandoffEntries minimal(std::string transport = "udp", std::string remote = "192.0.2.1:5060")
{
	return {{"transport", std::move(transport)}, {"remote", std::move(remote)}};
}

HandoffContext read(const HandoffEntries &entries)
{
	auto result = readHandoffContext(entries);
	const auto *error = std::get_if<HandoffContextError>(&result);
	if (error)
		FAIL(error->toString().c_str());
	return std::get<HandoffContext>(result);
}

std::string errorOf(const HandoffEntries &entries)
{
	auto result = readHandoffContext(entries);
	const auto *error = std::get_if<HandoffContextError>(&result);
	return error ? error->toString() : "no error";
}

} // namespace

TEST_GROUP(Handoff){};

TEST(Handoff, readsTheTwoRequiredKeysAndDefaultsTheRest)
{
	const HandoffContext context = read(minimal());
	STRCMP_EQUAL("udp:192.0.2.1:5060", context.remote.remote.c_str());
	STRCMP_EQUAL("192.0.2.1", context.remote.ip.c_str());
	CHECK_EQUAL(5060, context.remote.port);
	CHECK_EQUAL(Transport::Udp, context.remote.transport);
	CHECK_EQUAL(0u, context.identity);
	CHECK_FALSE(context.registrarFlow);
	CHECK_FALSE(context.tlsPeerVerified);
	CHECK_TRUE(context.local.empty());
	CHECK_TRUE(context.registerCallId.empty());
}

TEST(Handoff, readsEveryKeyOfTheContract)
{
	HandoffEntries entries = minimal("tls", "[2001:db8::1]:5061");
	entries.emplace_back("local", std::string("[2001:db8::10]:49152"));
	entries.emplace_back("identity", std::uint32_t{3});
	entries.emplace_back("registrar_flow", true);
	entries.emplace_back("tls_peer_verified", true);
	entries.emplace_back("tls_peer_name", std::string("pbx.example.com"));
	entries.emplace_back("register_call_id", std::string("reg-1@phone"));
	entries.emplace_back("a_key_of_a_newer_ua", OtherType{"as"});
	const HandoffContext context = read(entries);
	STRCMP_EQUAL("tls:[2001:db8::1]:5061", context.remote.remote.c_str());
	STRCMP_EQUAL("2001:db8::1", context.remote.ip.c_str());
	STRCMP_EQUAL("[2001:db8::10]:49152", context.local.c_str());
	CHECK_EQUAL(3u, context.identity);
	CHECK_TRUE(context.registrarFlow);
	CHECK_TRUE(context.tlsPeerVerified);
	STRCMP_EQUAL("pbx.example.com", context.tlsPeerName.c_str());
	STRCMP_EQUAL("reg-1@phone", context.registerCallId.c_str());
}

TEST(Handoff, namesTheKeyOfEveryBadContext)
{
	STRCMP_EQUAL("context key \"transport\": missing",
		     errorOf({{"remote", std::string("192.0.2.1:5060")}}).c_str());
	STRCMP_EQUAL("context key \"remote\": missing",
		     errorOf({{"transport", std::string("udp")}}).c_str());
	STRCMP_EQUAL("context key \"transport\": not one of udp, tcp, tls, ws, wss",
		     errorOf(minimal("sctp")).c_str());
	// Names are lower case, as the contract writes them.
	STRCMP_EQUAL("context key \"transport\": not one of udp, tcp, tls, ws, wss",
		     errorOf(minimal("UDP")).c_str());
	HandoffEntries wrongType = {{"transport", std::string("udp")},
				    {"remote", std::uint32_t{5}}};
	STRCMP_EQUAL("context key \"remote\": must be of type s, not u",
		     errorOf(wrongType).c_str());
	HandoffEntries flow = minimal();
	flow.emplace_back("registrar_flow", std::string("yes"));
	STRCMP_EQUAL("context key \"registrar_flow\": must be of type b, not s",
		     errorOf(flow).c_str());
	HandoffEntries identity = minimal();
	identity.emplace_back("identity", OtherType{"i"});
	STRCMP_EQUAL("context key \"identity\": must be of type u, not i",
		     errorOf(identity).c_str());
	HandoffEntries twice = minimal();
	twice.emplace_back("transport", std::string("tcp"));
	STRCMP_EQUAL("context key \"transport\": given twice", errorOf(twice).c_str());
	HandoffEntries longName = minimal();
	longName.emplace_back("tls_peer_name", std::string(kMaxContextText + 1, 'a'));
	STRCMP_EQUAL("context key \"tls_peer_name\": longer than 256 bytes",
		     errorOf(longName).c_str());
	HandoffEntries verifiedTcp = minimal("tcp");
	verifiedTcp.emplace_back("tls_peer_verified", true);
	STRCMP_EQUAL("context key \"tls_peer_verified\": true only over tls or wss",
		     errorOf(verifiedTcp).c_str());
}

TEST(Handoff, takesOnlyAnAddressAndAPortAsTheRemote)
{
	for (const char *bad :
	     {"192.0.2.1", "192.0.2.1:", "192.0.2.1:0", "192.0.2.1:65536", "192.0.2.1:50x",
	      "192.0.2.1:-1", "pbx.example.com:5060", "2001:db8::1:5060", "[2001:db8::1]",
	      "[192.0.2.1]:5060", "[2001:db8::1:5060", " 192.0.2.1:5060", "192.0.2.1:5060 ",
	      ":5060", ""}) {
		const std::string error = errorOf(minimal("udp", bad));
		CHECK_TEXT(error.starts_with("context key \"remote\": not ADDRESS:PORT"), bad);
	}
	CHECK_EQUAL(65535, read(minimal("tcp", "192.0.2.1:65535")).remote.port);
	// An IPv4-mapped peer is its IPv4 address, as on the port.
	STRCMP_EQUAL("tcp:192.0.2.1:5060",
		     read(minimal("tcp", "[::ffff:192.0.2.1]:5060")).remote.remote.c_str());
}

TEST(Handoff, theUaVouchesForTheRegistrarOnlyOverAConnection)
{
	for (const char *transport : {"tcp", "tls", "ws", "wss"}) {
		HandoffEntries entries = minimal(transport);
		entries.emplace_back("registrar_flow", true);
		CHECK_TEXT(fromRegistrarByFlow(read(entries)), transport);
	}
	HandoffEntries udp = minimal("udp");
	udp.emplace_back("registrar_flow", true);
	CHECK_FALSE(fromRegistrarByFlow(read(udp)));
	CHECK_FALSE(fromRegistrarByFlow(read(minimal("tls"))));
}

TEST(Handoff, onlyRootAndTheUaGroupMayHandRequestsOver)
{
	CHECK_TRUE(mayHandOver(0, {}, std::nullopt));
	CHECK_TRUE(mayHandOver(0, {100}, 990));
	CHECK_TRUE(mayHandOver(1000, {1000, 990, 27}, 990));
	CHECK_FALSE(mayHandOver(1000, {1000, 27}, 990));
	// No such group on this system: nobody but root.
	CHECK_FALSE(mayHandOver(1000, {1000, 990}, std::nullopt));
}
