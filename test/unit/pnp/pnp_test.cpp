// SPDX-License-Identifier: MIT
//
// Plug and play (common/pnp/pnp.cpp): the SUBSCRIBE's shape, the NOTIFY
// acceptance rules, the answers, timer E and the pacing of rounds. Messages
// are parsed by sofia-sip, the way the daemon reads them.

#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/sofia.hpp"
#include "pnp/pnp.hpp"

#include "support/string_from.hpp"

#include <CppUTest/TestHarness.h>

using namespace checksyncd;

namespace {

const std::vector<std::string> kHttps{"https"};
const std::vector<std::string> kHttpsHttp{"https", "http"};

PnpSubscribe snomExample()
{
	PnpSubscribe s;
	s.mac = "000413939050";
	s.vendor = "checksyncd";
	s.model = "generic";
	s.version = "0.1.0";
	s.localIp = "192.168.1.114";
	s.localPort = 57648;
	s.callId = "3c26700b6e08-abcdef";
	s.fromTag = "t4g";
	s.branch = "z9hG4bKbr4nch";
	return s;
}

UniqueMsg parse(std::string_view text)
{
	UniqueMsg msg = parseDatagram(text, kPnpMaxDatagram);
	CHECK_TRUE(msg != nullptr);
	return msg;
}

sip_t *sipOf(const UniqueMsg &msg)
{
	return sip_object(msg.get());
}

// Header lines of a message, name -> values (in order), and its first line.
struct Lines {
	std::string first;
	std::multimap<std::string, std::string> headers;
	std::vector<std::string> names;
	std::string body;
};

Lines lines(const std::string &text)
{
	Lines out;
	const auto end = text.find("\r\n\r\n");
	CHECK_TRUE(end != std::string::npos);
	out.body = text.substr(end + 4);
	std::string_view head(text.data(), end);
	bool first = true;
	while (!head.empty()) {
		const auto eol = head.find("\r\n");
		const std::string_view line = head.substr(0, eol);
		head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
		if (first) {
			out.first = line;
			first = false;
			continue;
		}
		const auto colon = line.find(": ");
		CHECK_TRUE(colon != std::string_view::npos);
		out.names.emplace_back(line.substr(0, colon));
		out.headers.emplace(std::string(line.substr(0, colon)),
				    std::string(line.substr(colon + 2)));
	}
	return out;
}

std::string header(const Lines &l, const std::string &name)
{
	const auto it = l.headers.find(name);
	return it == l.headers.end() ? std::string("(none)") : it->second;
}

std::string notify(std::string_view extra, std::string_view body)
{
	std::string text = "NOTIFY sip:192.168.1.114:57648 SIP/2.0\r\n"
			   "Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKsrv1\r\n"
			   "From: <sip:pnp@192.168.1.10>;tag=s1\r\n"
			   "To: <sip:MAC%3a000413939050@224.0.1.75>\r\n"
			   "Call-ID: srv-call-1\r\n"
			   "CSeq: 2 NOTIFY\r\n";
	text += extra;
	text += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
	text += body;
	return text;
}

} // namespace

TEST_GROUP(Pnp){};

// Setting values

TEST(Pnp, eventParametersMustBeQuotable)
{
	CHECK_TRUE(validPnpParameter("checksyncd"));
	CHECK_TRUE(validPnpParameter("D785 (r\xc3\xa9v. 2)"));
	CHECK_TRUE(validPnpParameter(std::string(kPnpMaxParameterBytes, 'x')));
	CHECK_FALSE(validPnpParameter(""));
	CHECK_FALSE(validPnpParameter(std::string(kPnpMaxParameterBytes + 1, 'x')));
	CHECK_FALSE(validPnpParameter("a\"b"));
	CHECK_FALSE(validPnpParameter("a\\b"));
	CHECK_FALSE(validPnpParameter("a\r\nEvent: x"));
	CHECK_FALSE(validPnpParameter("a\x7f"));
	CHECK_FALSE(validPnpParameter("\xc3"));
}

TEST(Pnp, macIsTwelveHexDigitsInUpperCase)
{
	STRCMP_EQUAL("000413A1B2C3", parsePnpMac("000413a1b2c3").value().c_str());
	STRCMP_EQUAL("000413939050", parsePnpMac("000413939050").value().c_str());
	CHECK_FALSE(parsePnpMac("00:04:13:a1:b2:c3").has_value());
	CHECK_FALSE(parsePnpMac("000413a1b2c").has_value());
	CHECK_FALSE(parsePnpMac("000413a1b2c3d").has_value());
	CHECK_FALSE(parsePnpMac("000413a1b2cg").has_value());
}

TEST(Pnp, urlSchemesFollowRfc3986)
{
	CHECK_TRUE(validUrlScheme("https"));
	CHECK_TRUE(validUrlScheme("HTTP"));
	CHECK_TRUE(validUrlScheme("coap+tcp"));
	CHECK_TRUE(validUrlScheme("a.b-c"));
	CHECK_FALSE(validUrlScheme(""));
	CHECK_FALSE(validUrlScheme("1http"));
	CHECK_FALSE(validUrlScheme("ht tp"));
	CHECK_FALSE(validUrlScheme("http:"));
	CHECK_FALSE(validUrlScheme(std::string(kPnpMaxSchemeBytes + 1, 'a')));
}

// The SUBSCRIBE

TEST(Pnp, subscribeHasTheShapeSnomPhonesSend)
{
	const std::string text = buildPnpSubscribe(snomExample());
	const Lines l = lines(text);
	STRCMP_EQUAL("SUBSCRIBE sip:MAC%3a000413939050@224.0.1.75 SIP/2.0", l.first.c_str());
	STRCMP_EQUAL("SIP/2.0/UDP 192.168.1.114:57648;rport;branch=z9hG4bKbr4nch",
		     header(l, "Via").c_str());
	STRCMP_EQUAL("<sip:MAC%3a000413939050@224.0.1.75>;tag=t4g", header(l, "From").c_str());
	STRCMP_EQUAL("<sip:MAC%3a000413939050@224.0.1.75>", header(l, "To").c_str());
	STRCMP_EQUAL("3c26700b6e08-abcdef", header(l, "Call-ID").c_str());
	STRCMP_EQUAL("1 SUBSCRIBE", header(l, "CSeq").c_str());
	STRCMP_EQUAL("ua-profile;profile-type=\"device\";vendor=\"checksyncd\";model=\"generic\";"
		     "version=\"0.1.0\"",
		     header(l, "Event").c_str());
	STRCMP_EQUAL("0", header(l, "Expires").c_str());
	STRCMP_EQUAL("application/url", header(l, "Accept").c_str());
	STRCMP_EQUAL("<sip:192.168.1.114:57648>", header(l, "Contact").c_str());
	STRCMP_EQUAL("70", header(l, "Max-Forwards").c_str());
	STRCMP_EQUAL("0", header(l, "Content-Length").c_str());
	// Exactly these headers, each once, no body, and no maddr anywhere.
	LONGS_EQUAL(11, l.names.size());
	LONGS_EQUAL(11, l.headers.size());
	for (const std::string &name : l.names)
		LONGS_EQUAL(1, l.headers.count(name));
	STRCMP_EQUAL("", l.body.c_str());
	CHECK_TRUE(text.find("maddr") == std::string::npos);
}

TEST(Pnp, subscribeParsesBackAsTheSameRequest)
{
	const UniqueMsg msg = parse(buildPnpSubscribe(snomExample()));
	const sip_t *sip = sipOf(msg);
	CHECK_TRUE(sip->sip_request != nullptr);
	CHECK_TRUE(sip->sip_request->rq_method == sip_method_subscribe);
	STRCMP_EQUAL("224.0.1.75", sip->sip_request->rq_url->url_host);
	STRCMP_EQUAL("ua-profile", sip->sip_event->o_type);
	CHECK_TRUE(sip->sip_via->v_rport != nullptr);
	CHECK_TRUE(sip->sip_via->v_maddr == nullptr);
	STRCMP_EQUAL("z9hG4bKbr4nch", sip->sip_via->v_branch);
	CHECK_TRUE(sip->sip_error == nullptr);
}

TEST(Pnp, subscribeCarriesTheEventParametersItIsGiven)
{
	PnpSubscribe s = snomExample();
	s.vendor = "Snom";
	s.model = "D785";
	s.version = "10.1.54.13";
	STRCMP_EQUAL("ua-profile;profile-type=\"device\";vendor=\"Snom\";model=\"D785\";"
		     "version=\"10.1.54.13\"",
		     pnpEventValue(s).c_str());
	CHECK_TRUE(buildPnpSubscribe(s).find("Event: " + pnpEventValue(s) + "\r\n") !=
		   std::string::npos);
}

TEST(Pnp, noSubscribeFromFieldsThatWouldBreakIt)
{
	PnpSubscribe s = snomExample();
	s.vendor = "a\"b";
	STRCMP_EQUAL("", buildPnpSubscribe(s).c_str());
	s = snomExample();
	s.mac = "00:04:13";
	STRCMP_EQUAL("", buildPnpSubscribe(s).c_str());
	s = snomExample();
	s.branch = "nomagic";
	STRCMP_EQUAL("", buildPnpSubscribe(s).c_str());
	s = snomExample();
	s.localPort = 0;
	STRCMP_EQUAL("", buildPnpSubscribe(s).c_str());
}

TEST(Pnp, addressOfRecordKeepsTheLowerCaseEscape)
{
	STRCMP_EQUAL("sip:MAC%3a000413939050@224.0.1.75",
		     pnpAddressOfRecord("000413939050").c_str());
}

TEST(Pnp, subscribeIsRetransmittedPerTimerEForFiveSeconds)
{
	LONGS_EQUAL(0, pnpSendOffsetMs(0).value());
	LONGS_EQUAL(500, pnpSendOffsetMs(1).value());
	LONGS_EQUAL(1500, pnpSendOffsetMs(2).value());
	LONGS_EQUAL(3500, pnpSendOffsetMs(3).value());
	// The next would be at 7.5 s (interval capped at T2 = 4 s).
	CHECK_FALSE(pnpSendOffsetMs(4).has_value());
	CHECK_FALSE(pnpSendOffsetMs(100).has_value());
}

// What arrives at the round's port

TEST(Pnp, classifiesWhatArrives)
{
	const UniqueMsg n = parse(notify("Event: ua-profile\r\n", ""));
	CHECK_EQUAL(PnpInbound::Notify, classifyPnpInbound(sipOf(n), "ours"));

	const UniqueMsg ok = parse(
		"SIP/2.0 200 OK\r\n"
		"Via: SIP/2.0/UDP 192.168.1.114:57648;rport=57648;branch=z9hG4bKbr4nch\r\n"
		"From: <sip:MAC%3a000413939050@224.0.1.75>;tag=t4g\r\n"
		"To: <sip:MAC%3a000413939050@224.0.1.75>;tag=x\r\n"
		"Call-ID: ours\r\n"
		"CSeq: 1 SUBSCRIBE\r\n"
		"Content-Length: 0\r\n\r\n");
	CHECK_EQUAL(PnpInbound::SubscribeResponse, classifyPnpInbound(sipOf(ok), "ours"));
	CHECK_EQUAL(PnpInbound::Unrelated, classifyPnpInbound(sipOf(ok), "another"));

	const UniqueMsg ack = parse("ACK sip:x@192.168.1.114 SIP/2.0\r\n"
				    "Via: SIP/2.0/UDP 192.168.1.10;branch=z9hG4bKa\r\n"
				    "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n"
				    "Call-ID: c\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n");
	CHECK_EQUAL(PnpInbound::Ack, classifyPnpInbound(sipOf(ack), "ours"));

	const UniqueMsg options = parse(
		"OPTIONS sip:x@192.168.1.114 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 192.168.1.10;branch=z9hG4bKo\r\n"
		"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n"
		"Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
	CHECK_EQUAL(PnpInbound::OtherRequest, classifyPnpInbound(sipOf(options), "ours"));

	// Without a Via there is nothing to answer.
	const UniqueMsg noVia = parse("NOTIFY sip:x@192.168.1.114 SIP/2.0\r\n"
				      "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n"
				      "Call-ID: c\r\nCSeq: 1 NOTIFY\r\nEvent: ua-profile\r\n"
				      "Content-Length: 0\r\n\r\n");
	CHECK_EQUAL(PnpInbound::Unrelated, classifyPnpInbound(sipOf(noVia), "ours"));
	CHECK_EQUAL(PnpInbound::Unrelated, classifyPnpInbound(nullptr, "ours"));
}

// The provisioning URL

TEST(Pnp, acceptsOneAbsoluteHttpsUrlWithPlaceholders)
{
	const UrlCheck check = checkProvisioningUrl("https://prov.example.com/snom/{mac}.xml",
						    kHttps);
	CHECK_TRUE(check.ok);
	STRCMP_EQUAL("https://prov.example.com/snom/{mac}.xml", check.url.c_str());
	CHECK_TRUE(checkProvisioningUrl("HTTPS://[2001:db8::1]:8443/p?m={mac}", kHttps).ok);
	CHECK_TRUE(checkProvisioningUrl("https://prov.example.com", kHttps).ok);
	CHECK_TRUE(checkProvisioningUrl("https://h/t\xc3\xa9l\xc3\xa9phone", kHttps).ok);
}

TEST(Pnp, takesTheUrlWithoutTheWhiteSpaceAroundIt)
{
	const UrlCheck check = checkProvisioningUrl("\r\n https://prov.example.com/x\r\n", kHttps);
	CHECK_TRUE(check.ok);
	STRCMP_EQUAL("https://prov.example.com/x", check.url.c_str());
}

TEST(Pnp, plainHttpOnlyWhenAllowed)
{
	const UrlCheck refused = checkProvisioningUrl("http://prov.example.com/x", kHttps);
	CHECK_FALSE(refused.ok);
	STRCMP_EQUAL("scheme http not allowed (pnp_url_schemes)", refused.reason.c_str());
	CHECK_TRUE(checkProvisioningUrl("http://prov.example.com/x", kHttpsHttp).ok);
	STRCMP_EQUAL("scheme tftp not allowed (pnp_url_schemes)",
		     checkProvisioningUrl("TFTP://prov.example.com/x", kHttpsHttp).reason.c_str());
}

TEST(Pnp, refusesWhatIsNotOneAbsoluteUrl)
{
	const auto reason = [](std::string_view body) {
		const UrlCheck check = checkProvisioningUrl(body, kHttps);
		CHECK_FALSE(check.ok);
		return check.reason;
	};
	STRCMP_EQUAL("empty body", reason("").c_str());
	STRCMP_EQUAL("empty body", reason(" \r\n").c_str());
	STRCMP_EQUAL("not an absolute URL", reason("/snom/{mac}.xml").c_str());
	STRCMP_EQUAL("not an absolute URL", reason("prov.example.com").c_str());
	STRCMP_EQUAL("no authority (expected https://host/...)", reason("https:/x").c_str());
	STRCMP_EQUAL("no host in the URL", reason("https:///x").c_str());
	STRCMP_EQUAL("no host in the URL", reason("https://:443/x").c_str());
	STRCMP_EQUAL("white space or a control character in the body (one URL expected)",
		     reason("https://a/x\r\nhttps://b/y").c_str());
	STRCMP_EQUAL("white space or a control character in the body (one URL expected)",
		     reason("https://a/x y").c_str());
	STRCMP_EQUAL("white space or a control character in the body (one URL expected)",
		     reason(std::string_view("https://a/\0x", 12)).c_str());
	STRCMP_EQUAL("URL not valid UTF-8", reason("https://a/\xff").c_str());
}

TEST(Pnp, refusesCredentialsInTheUrl)
{
	const UrlCheck check = checkProvisioningUrl("https://admin:secret@prov.example.com/x",
						    kHttps);
	CHECK_FALSE(check.ok);
	STRCMP_EQUAL("credentials in the URL", check.reason.c_str());
	CHECK_FALSE(checkProvisioningUrl("https://token@prov.example.com/x", kHttps).ok);
	// An '@' after the authority is not userinfo.
	CHECK_TRUE(checkProvisioningUrl("https://prov.example.com/a@b", kHttps).ok);
}

TEST(Pnp, urlIsAtMost1024Bytes)
{
	const std::string prefix = "https://prov.example.com/";
	const std::string longest = prefix + std::string(kPnpMaxUrlBytes - prefix.size(), 'a');
	CHECK_TRUE(checkProvisioningUrl(longest, kHttps).ok);
	const UrlCheck check = checkProvisioningUrl(longest + "a", kHttps);
	CHECK_FALSE(check.ok);
	STRCMP_EQUAL("URL longer than 1024 bytes", check.reason.c_str());
}

// The NOTIFY

TEST(Pnp, acceptsANotifyWhateverItsTagsAndCallId)
{
	const UniqueMsg msg = parse(notify("Event: ua-profile;profile-type=\"device\"\r\n"
					   "Content-Type: application/url\r\n",
					   "https://prov.example.com/{mac}.xml"));
	const PnpVerdict verdict = judgePnpNotify(sipOf(msg), kHttps);
	LONGS_EQUAL(200, verdict.status);
	STRCMP_EQUAL("https://prov.example.com/{mac}.xml", verdict.url.c_str());
}

TEST(Pnp, acceptsANotifyWithoutContentTypeAndInAnyCase)
{
	const UniqueMsg msg = parse(
		notify("Event: UA-Profile\r\n", "https://prov.example.com/x\r\n"));
	const PnpVerdict verdict = judgePnpNotify(sipOf(msg), kHttps);
	LONGS_EQUAL(200, verdict.status);
	STRCMP_EQUAL("https://prov.example.com/x", verdict.url.c_str());
	const UniqueMsg upper = parse(
		notify("o: ua-profile\r\nc: Application/URL\r\n", "https://p/x"));
	LONGS_EQUAL(200, judgePnpNotify(sipOf(upper), kHttps).status);
}

TEST(Pnp, anotherEventPackageGets489)
{
	const UniqueMsg other = parse(notify("Event: check-sync\r\n", "https://p/x"));
	PnpVerdict verdict = judgePnpNotify(sipOf(other), kHttps);
	LONGS_EQUAL(489, verdict.status);
	STRCMP_EQUAL("not the ua-profile event package", verdict.reason.c_str());
	const UniqueMsg none = parse(notify("", "https://p/x"));
	verdict = judgePnpNotify(sipOf(none), kHttps);
	LONGS_EQUAL(489, verdict.status);
	STRCMP_EQUAL("no Event header", verdict.reason.c_str());
}

TEST(Pnp, anotherContentTypeGets415)
{
	const UniqueMsg msg = parse(
		notify("Event: ua-profile\r\nContent-Type: text/plain\r\n", "https://p/x"));
	const PnpVerdict verdict = judgePnpNotify(sipOf(msg), kHttps);
	LONGS_EQUAL(415, verdict.status);
	STRCMP_EQUAL("Content-Type is not application/url", verdict.reason.c_str());
}

TEST(Pnp, aBadUrlGets488)
{
	const UniqueMsg http = parse(notify("Event: ua-profile\r\n", "http://prov.example.com/x"));
	PnpVerdict verdict = judgePnpNotify(sipOf(http), kHttps);
	LONGS_EQUAL(488, verdict.status);
	STRCMP_EQUAL("scheme http not allowed (pnp_url_schemes)", verdict.reason.c_str());
	LONGS_EQUAL(200, judgePnpNotify(sipOf(http), kHttpsHttp).status);
	const UniqueMsg empty = parse(notify("Event: ua-profile\r\n", ""));
	LONGS_EQUAL(488, judgePnpNotify(sipOf(empty), kHttps).status);
}

TEST(Pnp, transactionKeyTellsRetransmissionsFromNewRequests)
{
	const UniqueMsg a = parse(notify("Event: ua-profile\r\n", "https://p/x"));
	const UniqueMsg again = parse(notify("Event: ua-profile\r\n", "https://p/x"));
	const std::string key = pnpTransactionKey("udp:192.168.1.10:5060", sipOf(a));
	STRCMP_EQUAL(key.c_str(), pnpTransactionKey("udp:192.168.1.10:5060", sipOf(again)).c_str());
	CHECK(key != pnpTransactionKey("udp:192.168.1.10:5061", sipOf(a)));
	std::string next = notify("Event: ua-profile\r\n", "https://p/x");
	next.replace(next.find("CSeq: 2"), 7, "CSeq: 3");
	const UniqueMsg later = parse(next);
	CHECK(key != pnpTransactionKey("udp:192.168.1.10:5060", sipOf(later)));
}

// Answers

TEST(Pnp, answerCopiesTheRequestsHeadersAndAddsAToTag)
{
	// A server that copied our Via (with a maddr) on top of its own: the
	// answer carries both, unchanged (the daemon sends it to the source).
	const UniqueMsg msg = parse(
		"NOTIFY sip:192.168.1.114:57648 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKsrv1\r\n"
		"Via: SIP/2.0/UDP "
		"192.168.1.114:57648;rport;branch=z9hG4bKbr4nch;maddr=224.0.1.75\r\n"
		"From: <sip:MAC%3a000413939050@224.0.1.75>;tag=t4g\r\n"
		"To: <sip:MAC%3a000413939050@224.0.1.75>\r\n"
		"Call-ID: 3c26700b6e08-abcdef\r\n"
		"CSeq: 1 NOTIFY\r\n"
		"Event: ua-profile\r\n"
		"Content-Length: 0\r\n\r\n");
	const Lines l = lines(buildPnpAnswer(sipOf(msg), 200, "ourtag"));
	STRCMP_EQUAL("SIP/2.0 200 OK", l.first.c_str());
	LONGS_EQUAL(2, l.headers.count("Via"));
	STRCMP_EQUAL("SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKsrv1", header(l, "Via").c_str());
	CHECK_TRUE(header(l, "To").ends_with(";tag=ourtag"));
	CHECK_TRUE(header(l, "From").ends_with(";tag=t4g"));
	STRCMP_EQUAL("3c26700b6e08-abcdef", header(l, "Call-ID").c_str());
	STRCMP_EQUAL("1 NOTIFY", header(l, "CSeq").c_str());
	STRCMP_EQUAL("checksyncd", header(l, "Server").c_str());
	STRCMP_EQUAL("0", header(l, "Content-Length").c_str());
	STRCMP_EQUAL("(none)", header(l, "Accept").c_str());
}

TEST(Pnp, answerKeepsAToTagTheRequestHas)
{
	std::string text = notify("Event: ua-profile\r\n", "");
	text.replace(text.find("224.0.1.75>"), 11, "224.0.1.75>;tag=theirs");
	const UniqueMsg msg = parse(text);
	const Lines l = lines(buildPnpAnswer(sipOf(msg), 200, "ourtag"));
	CHECK_TRUE(header(l, "To").ends_with(";tag=theirs"));
}

TEST(Pnp, refusalsSayWhatWouldBeAccepted)
{
	const UniqueMsg msg = parse(notify("Event: presence\r\n", ""));
	const sip_t *sip = sipOf(msg);
	Lines l = lines(buildPnpAnswer(sip, 489, "t"));
	STRCMP_EQUAL("SIP/2.0 489 Bad Event", l.first.c_str());
	STRCMP_EQUAL("ua-profile", header(l, "Allow-Events").c_str());
	l = lines(buildPnpAnswer(sip, 415, "t"));
	STRCMP_EQUAL("SIP/2.0 415 Unsupported Media Type", l.first.c_str());
	STRCMP_EQUAL("application/url", header(l, "Accept").c_str());
	l = lines(buildPnpAnswer(sip, 488, "t"));
	STRCMP_EQUAL("SIP/2.0 488 Not Acceptable Here", l.first.c_str());
	l = lines(buildPnpAnswer(sip, 405, "t"));
	STRCMP_EQUAL("NOTIFY", header(l, "Allow").c_str());
	l = lines(buildPnpAnswer(sip, 503, "t", 5));
	STRCMP_EQUAL("5", header(l, "Retry-After").c_str());
	l = lines(buildPnpAnswer(sip, 481, "t"));
	STRCMP_EQUAL("SIP/2.0 481 Call/Transaction Does Not Exist", l.first.c_str());
	STRCMP_EQUAL("", buildPnpAnswer(nullptr, 200, "t").c_str());
}

// State and pacing

TEST(Pnp, stateNames)
{
	STRCMP_EQUAL("idle", std::string(pnpStateName(PnpState::Idle)).c_str());
	STRCMP_EQUAL("round-in-progress",
		     std::string(pnpStateName(PnpState::RoundInProgress)).c_str());
	STRCMP_EQUAL("url-handed-over", std::string(pnpStateName(PnpState::UrlHandedOver)).c_str());
}

TEST(Pnp, pacerAllowsTheFirstRound)
{
	RoundPacer pacer(60'000);
	CHECK_TRUE(pacer.request(1'000));
	CHECK_FALSE(pacer.dueAt().has_value());
}

TEST(Pnp, pacerOwesOneRoundForTriggersInsideTheMinute)
{
	RoundPacer pacer(60'000);
	CHECK_TRUE(pacer.request(1'000));
	pacer.started(1'000);
	CHECK_FALSE(pacer.request(2'000)); // during the round
	CHECK_FALSE(pacer.dueAt().has_value());
	pacer.ended();
	LONGS_EQUAL(61'000, pacer.dueAt().value());
	CHECK_FALSE(pacer.request(30'000)); // still inside the minute: the same owed round
	LONGS_EQUAL(61'000, pacer.dueAt().value());
	CHECK_FALSE(pacer.request(60'999));
	CHECK_TRUE(pacer.request(61'000));
	pacer.started(61'000);
	CHECK_FALSE(pacer.dueAt().has_value());
	pacer.ended();
	CHECK_FALSE(pacer.dueAt().has_value());
}

TEST(Pnp, aRoundThatCouldNotStartDoesNotCount)
{
	RoundPacer pacer(60'000);
	CHECK_TRUE(pacer.request(1'000)); // no route: the caller did not start one
	CHECK_TRUE(pacer.request(2'000)); // a new address a second later may
}

TEST(Pnp, pacerForgetsTheOwedRoundWhenPnpIsTurnedOff)
{
	RoundPacer pacer(60'000);
	pacer.request(1'000);
	pacer.started(1'000);
	pacer.ended();
	CHECK_FALSE(pacer.request(5'000));
	CHECK_TRUE(pacer.dueAt().has_value());
	pacer.cancel();
	CHECK_FALSE(pacer.dueAt().has_value());
}
