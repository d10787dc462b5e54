// SPDX-License-Identifier: MIT

#include "pnp/pnp_service.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "base/sofia.hpp"
#include "base/source_address.hpp"
#include "base/text.hpp"
#include "base/unique_fd.hpp"
#include "loop/log.hpp"

namespace checksyncd {

namespace {

// A DHCP client adds the address first and the routes right after it: give
// them a moment before a round looks for the route to the group.
constexpr std::uint64_t kAddressSettleMs = 1'000;
// Answers remembered per round for retransmitted NOTIFYs (oldest forgotten).
constexpr std::size_t kMaxAnswers = 16;
// Refused NOTIFYs logged per round; the rest are counted in one line.
constexpr unsigned kMaxRefusalLines = 8;
// Datagrams read per wake-up before the loop gets its turn.
constexpr int kMaxReadsPerWakeup = 32;
// Room for the IP_PKTINFO control message of a datagram.
constexpr std::size_t kControlBytes = CMSG_SPACE(sizeof(in_pktinfo));

// Random hex for Call-ID, tags and branch. They must be unique, not
// secret (the NOTIFY is accepted whatever its Call-ID and tags), so when
// the kernel's pool is not ready yet (early boot, where a factory-new phone
// runs its first round) they come from the clock, the pid and a counter
// instead of blocking the loop.
std::string randomHex(std::size_t bytes)
{
	std::array<unsigned char, 32> raw{};
	bytes = std::min(bytes, raw.size());
	if (getrandom(raw.data(), bytes, GRND_NONBLOCK) != static_cast<ssize_t>(bytes)) {
		static std::uint64_t counter = 0;
		std::uint64_t state = EventLoop::nowMs() ^
				      (static_cast<std::uint64_t>(getpid()) << 32) ^
				      (++counter * 0x9e3779b97f4a7c15ull);
		for (std::size_t i = 0; i < bytes; ++i) {
			state = state * 6364136223846793005ull + 1442695040888963407ull;
			raw[i] = static_cast<unsigned char>(state >> 56);
		}
	}
	return toHex(std::span<const unsigned char>(raw.data(), bytes));
}

std::string addressText(const in_addr &address)
{
	char text[INET_ADDRSTRLEN] = "";
	inet_ntop(AF_INET, &address, text, sizeof(text));
	return text;
}

// "udp:192.0.2.1:5060", as the check-sync path names its peers.
std::string remoteOf(const sockaddr_in &from)
{
	return SourceAddress::fromSockaddr(reinterpret_cast<const sockaddr *>(&from),
					   Transport::Udp)
		->remote;
}

sockaddr_in groupAddress()
{
	sockaddr_in group{};
	group.sin_family = AF_INET;
	group.sin_port = htons(kPnpPort);
	inet_pton(AF_INET, kPnpGroup, &group.sin_addr);
	return group;
}

std::string lastError()
{
	return errnoText(errno);
}

IpAddress ipOf(const in_addr &address)
{
	std::uint8_t bytes[4];
	std::memcpy(bytes, &address, sizeof(bytes));
	return IpAddress::fromV4(bytes);
}

// "pv0 (10.213.0.1/24)", for the log.
std::string linkText(const RoundLink &link)
{
	return interfaceName(link.ifindex()) + " (" + link.describe() + ")";
}

// The interface a datagram arrived by, from its IP_PKTINFO; 0 when the
// kernel did not say.
int arrivalInterface(msghdr &message)
{
	for (cmsghdr *c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
		if (c->cmsg_level != IPPROTO_IP || c->cmsg_type != IP_PKTINFO ||
		    c->cmsg_len < CMSG_LEN(sizeof(in_pktinfo)))
			continue;
		in_pktinfo info{};
		std::memcpy(&info, CMSG_DATA(c), sizeof(info));
		return info.ipi_ifindex;
	}
	return 0;
}

// The local IPv4 address the kernel sends to the group from: its route to
// 224.0.1.75 (a multicast route, or the default route). nullopt with
// `problem` when there is none.
std::optional<in_addr> sourceForGroup(std::string &problem)
{
	const UniqueFd probe(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	if (!probe) {
		problem = "cannot open a UDP socket: " + lastError();
		return std::nullopt;
	}
	// connect() on a UDP socket sends nothing: it only looks the route up.
	const sockaddr_in group = groupAddress();
	sockaddr_in local{};
	socklen_t length = sizeof(local);
	std::optional<in_addr> source;
	if (::connect(probe.get(), reinterpret_cast<const sockaddr *>(&group), sizeof(group)) < 0)
		problem = std::string("no IPv4 route to ") + kPnpGroup + ": " + lastError();
	else if (::getsockname(probe.get(), reinterpret_cast<sockaddr *>(&local), &length) < 0)
		problem = "cannot read the source address: " + lastError();
	else if (local.sin_addr.s_addr == htonl(INADDR_ANY))
		problem = "no IPv4 address to send from";
	else
		source = local.sin_addr;
	return source;
}

// The one line on what became of a URL handed to the provisioning process:
// where the phone will provision from, or why it was not taken.
void logProvisioned(const std::string &server, const std::string &url, const CallOutcome &outcome)
{
	if (outcome.accepted()) {
		logMessage(LogLevel::Notice,
			   "pnp: provisioning URL handed over: server=" + server + " url=" + url,
			   {{"PNP_SERVER", server}, {"PNP_URL", url}});
		return;
	}
	const LogField fields[] = {{"PNP_SERVER", server},
				   {"CHECKSYNC_ACTION", "Provision"},
				   {"DBUS_ERROR", outcome.error}};
	logMessage(outcome.result == CallResult::LocalError ? LogLevel::Error : LogLevel::Warning,
		   "pnp: the provisioning process did not take the URL from " + server + " (" +
			   failureText(outcome) + ")",
		   std::span<const LogField>(fields, outcome.busError() ? 3 : 2));
}

} // namespace

struct PnpService::Round {
	enum class Phase : unsigned char {
		Waiting,    // for a NOTIFY with a good URL
		Handing,    // its URL is with the provisioning process
		HandedOver, // done; the port stays open a little for retransmissions
		Closed,
	};

	explicit Round(EventLoop &loop) : retransmit(loop), end(loop) {}
	Round(const Round &) = delete;
	Round &operator=(const Round &) = delete;

	Phase phase = Phase::Waiting;
	bool stopping = false; // PnP was turned off while Handing
	bool expired = false;  // the round's time ran out while Handing
	UniqueFd fd;
	std::unique_ptr<FdWatch> watch; // after fd: goes before it is closed
	Timer retransmit;
	Timer end;
	IpAddress local;      // the address the SUBSCRIBE left from
	RoundLink link;       // its interface and that interface's addresses
	unsigned offLink = 0; // datagrams dropped as not from the link
	std::uint64_t startMs = 0;
	unsigned sent = 0;
	unsigned sendErrors = 0;
	std::string subscribe; // the datagram, the same for every send
	std::string callId;
	std::string toTag; // for our answers
	bool subscribeAnswered = false;
	// The NOTIFY whose URL is with the provisioning process.
	UniqueMsg pending;
	sockaddr_in pendingFrom{};
	std::string pendingKey;
	std::string pendingRemote;
	std::string pendingUrl;
	// Answers sent, for retransmitted NOTIFYs: (transaction key, datagram).
	// At most kMaxAnswers: a vector, the oldest first (a deque is more code).
	std::vector<std::pair<std::string, std::string>> answers;
	unsigned refusals = 0;
};

PnpService::PnpService(EventLoop &loop, ProvisioningClient &provisioning, Observer observer)
	: loop_(loop), provisioning_(provisioning), owed_(loop), settle_(loop), reaper_(loop),
	  observer_(std::move(observer))
{
	try {
		addresses_ = std::make_unique<AddressWatch>(
			loop,
			[this] {
				if (wanted_ && !settle_.armed())
					settle_.arm(kAddressSettleMs,
						    [this] { request("a new IPv4 address"); });
			},
			[this] { onAddressesChanged(); });
	} catch (const std::exception &e) {
		logMessage(LogLevel::Warning,
			   std::string("pnp: cannot watch the IPv4 addresses (") + e.what() +
				   "): plug and play runs only at start and when turned on");
	}
	publish();
}

PnpService::~PnpService() = default;

void PnpService::setSettings(std::shared_ptr<const Settings> settings)
{
	settings_ = std::move(settings);
	const bool wanted = settings_ && settings_->pnp.wanted();
	if (wanted == wanted_)
		return;
	wanted_ = wanted;
	if (wanted) {
		// From the loop, once it runs: not before the daemon is ready.
		const char *why = everWanted_ ? "plug and play turned on" : "start";
		everWanted_ = true;
		owed_.arm(0, [this, why] { request(why); });
		return;
	}
	pacer_.cancel();
	owed_.cancel();
	settle_.cancel();
	const char *why = !settings_                ? "no settings"
			  : !settings_->pnp.enabled ? "pnp_config is off"
						    : "setting_server is set";
	if (round_)
		stop(why);
	else
		logMessage(LogLevel::Debug, std::string("pnp: off (") + why + ")");
}

void PnpService::request(std::string_view why)
{
	if (!wanted_)
		return;
	if (!pacer_.request(EventLoop::nowMs())) {
		logMessage(LogLevel::Debug,
			   "pnp: " + std::string(why) +
				   ": a round ran less than a minute ago or is running; "
				   "one more follows");
		armOwed();
		return;
	}
	start(why);
}

void PnpService::armOwed()
{
	const std::optional<std::uint64_t> due = pacer_.dueAt();
	if (!due || !wanted_)
		return;
	const std::uint64_t now = EventLoop::nowMs();
	owed_.arm(*due > now ? *due - now : 0, [this] { request("a round was owed"); });
}

void PnpService::start(std::string_view why)
{
	const PnpSettings &pnp = settings_->pnp;
	std::string problem;
	std::string mac = pnp.mac;
	if (mac.empty()) {
		std::optional<std::string> found = defaultRouteMac(problem);
		if (!found) {
			logMessage(LogLevel::Info,
				   "pnp: no round (" + std::string(why) + "): " + problem +
					   "; set pnp_mac, or a new address starts one");
			return;
		}
		mac = std::move(*found);
	}
	const std::optional<in_addr> source = sourceForGroup(problem);
	if (!source) {
		logMessage(LogLevel::Info, "pnp: no round (" + std::string(why) + "): " + problem +
						   "; a new address starts one");
		return;
	}
	// The link the round hears: the interface that holds the source
	// address (a multicast with a bound source leaves by it) and its
	// prefixes. Without it nothing could be told from off the link.
	const IpAddress sourceIp = ipOf(*source);
	std::optional<RoundLink> link;
	if (std::optional<std::vector<Ipv4AddressChange>> all = ipv4Addresses(problem)) {
		link = RoundLink::holding(sourceIp, *all);
		if (!link)
			problem = "no interface holds " + sourceIp.toString() + " any more";
	}
	if (!link) {
		logMessage(LogLevel::Info, "pnp: no round (" + std::string(why) +
						   "): cannot tell the link: " + problem);
		return;
	}
	if (!link->hasRoomForPeers()) {
		logMessage(LogLevel::Info,
			   "pnp: no round (" + std::string(why) + "): " + linkText(*link) +
				   " connects no prefix, so no PnP server can be on the link; a "
				   "new address starts one");
		return;
	}

	auto round = std::make_shared<Round>(loop_);
	round->fd.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	sockaddr_in local{};
	local.sin_family = AF_INET;
	local.sin_addr = *source;
	socklen_t length = sizeof(local);
	// TTL 1: the SUBSCRIBE stays on the phone's own link. Bound to the
	// source address, a multicast leaves by that address's interface
	// (Linux routes a multicast with a local source that way);
	// IP_MULTICAST_IF says the same where it is available (qemu-user, for
	// one, may not know it), so its failure does not matter.
	// IP_PKTINFO: the interface every datagram arrived by, which must be
	// the round's.
	const int ttl = 1;
	const int on = 1;
	if (!round->fd ||
	    ::bind(round->fd.get(), reinterpret_cast<const sockaddr *>(&local), sizeof(local)) <
		    0 ||
	    ::setsockopt(round->fd.get(), IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) < 0 ||
	    ::setsockopt(round->fd.get(), IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)) < 0 ||
	    ::getsockname(round->fd.get(), reinterpret_cast<sockaddr *>(&local), &length) < 0) {
		logMessage(LogLevel::Warning,
			   "pnp: no round (" + std::string(why) +
				   "): cannot set up the UDP socket: " + lastError());
		return;
	}
	(void)::setsockopt(round->fd.get(), IPPROTO_IP, IP_MULTICAST_IF, &*source, sizeof(*source));

	PnpSubscribe subscribe;
	subscribe.mac = mac;
	subscribe.vendor = pnp.vendor;
	subscribe.model = pnp.model;
	subscribe.version = pnp.version;
	subscribe.localIp = addressText(*source);
	subscribe.localPort = ntohs(local.sin_port);
	subscribe.callId = randomHex(16);
	subscribe.fromTag = randomHex(8);
	subscribe.branch = "z9hG4bK" + randomHex(12);
	round->subscribe = buildPnpSubscribe(subscribe);
	if (round->subscribe.empty()) {
		logMessage(LogLevel::Error, "pnp: no round: cannot build the SUBSCRIBE");
		return;
	}
	round->callId = subscribe.callId;
	round->toTag = randomHex(8);
	round->local = sourceIp;
	round->link = std::move(*link);
	Round *r = round.get();
	round->watch = std::make_unique<FdWatch>(loop_, round->fd.get(), POLLIN,
						 [this, r](int) { onReadable(*r); });

	const std::uint64_t now = EventLoop::nowMs();
	round->startMs = now;
	round_ = std::move(round);
	pacer_.started(now);
	status_.state = PnpState::RoundInProgress;
	publish();
	const std::string from = subscribe.localIp + ":" + std::to_string(subscribe.localPort);
	logMessage(LogLevel::Info,
		   "pnp: looking for a provisioning server (" + std::string(why) +
			   "): SUBSCRIBE ua-profile to " + kPnpGroup + ":" +
			   std::to_string(kPnpPort) + " from " + from + " on " + linkText(r->link) +
			   ", MAC " + mac,
		   {{"PNP_MAC", mac}, {"PNP_LOCAL", from}});
	r->end.arm(kPnpRoundMs, [this, r] { onDeadline(*r); });
	send(*r);
}

void PnpService::send(Round &round)
{
	const sockaddr_in group = groupAddress();
	if (::sendto(round.fd.get(), round.subscribe.data(), round.subscribe.size(), 0,
		     reinterpret_cast<const sockaddr *>(&group), sizeof(group)) < 0 &&
	    round.sendErrors++ == 0)
		logMessage(LogLevel::Info, "pnp: cannot send the SUBSCRIBE: " + lastError());
	++round.sent;
	const std::optional<std::uint64_t> next = pnpSendOffsetMs(round.sent);
	if (!next || round.phase != Round::Phase::Waiting || round.subscribeAnswered)
		return;
	const std::uint64_t at = round.startMs + *next;
	const std::uint64_t now = EventLoop::nowMs();
	Round *r = &round;
	round.retransmit.arm(at > now ? at - now : 0, [this, r] { send(*r); });
}

void PnpService::onDeadline(Round &round)
{
	switch (round.phase) {
	case Round::Phase::Handing:
		round.expired = true; // closes when the provisioning process answers
		return;
	case Round::Phase::HandedOver:
		close(round, "");
		return;
	case Round::Phase::Waiting:
		close(round,
		      "no provisioning URL within " + std::to_string(kPnpRoundMs / 1000) + " s");
		return;
	case Round::Phase::Closed:
		return;
	}
}

void PnpService::stop(std::string_view why)
{
	Round &round = *round_;
	if (round.phase == Round::Phase::Handing) {
		// The provisioning process has the URL already: let it answer,
		// then answer the server and close.
		round.stopping = true;
		round.retransmit.cancel();
		logMessage(LogLevel::Info, "pnp: the round stops (" + std::string(why) +
						   ") once the provisioning process answers");
		return;
	}
	close(round, "stopped, " + std::string(why));
}

void PnpService::close(Round &round, std::string_view why)
{
	if (round.phase == Round::Phase::Closed)
		return;
	round.phase = Round::Phase::Closed;
	round.retransmit.cancel();
	round.end.cancel();
	if (status_.state == PnpState::RoundInProgress) {
		status_.state = PnpState::Idle;
		publish();
	}
	if (!why.empty())
		logMessage(LogLevel::Info, "pnp: round ended: " + std::string(why));
	if (round.refusals > kMaxRefusalLines)
		logMessage(LogLevel::Warning,
			   "pnp: " + std::to_string(round.refusals - kMaxRefusalLines) +
				   " more NOTIFYs refused in that round");
	if (round.offLink > 1)
		logMessage(
			LogLevel::Warning,
			"pnp: " + std::to_string(round.offLink - 1) +
				" more datagrams not from the round's link dropped in that round");
	pacer_.ended();
	// Freed from a timer of its own: this may run inside the round's
	// socket or timer callbacks.
	if (round_.get() == &round)
		retired_ = std::move(round_);
	reaper_.arm(0, [this] { retired_.reset(); });
	armOwed();
}

void PnpService::onReadable(Round &round)
{
	std::array<char, kPnpMaxDatagram + 1> buffer{};
	const std::uint64_t dropped = status_.droppedOffLink;
	for (int i = 0; i < kMaxReadsPerWakeup; ++i) {
		sockaddr_in from{};
		iovec data{buffer.data(), buffer.size()};
		alignas(cmsghdr) std::array<unsigned char, kControlBytes> control{};
		msghdr message{};
		message.msg_name = &from;
		message.msg_namelen = sizeof(from);
		message.msg_iov = &data;
		message.msg_iovlen = 1;
		message.msg_control = control.data();
		message.msg_controllen = control.size();
		// MSG_TRUNC: the datagram's real length, to drop one too large.
		const ssize_t n = ::recvmsg(round.fd.get(), &message, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (round.phase == Round::Phase::Closed)
			continue; // drained until the round is freed
		// Judged before anything else: what is not from the link is
		// not even parsed.
		const LinkVerdict verdict = from.sin_family == AF_INET
						    ? round.link.judge(ipOf(from.sin_addr),
								       arrivalInterface(message))
						    : LinkVerdict::OffLink;
		if (verdict != LinkVerdict::OnLink) {
			dropOffLink(round, verdict, from);
			continue;
		}
		if (static_cast<std::size_t>(n) > kPnpMaxDatagram) {
			logMessage(LogLevel::Debug,
				   "pnp: dropped a datagram of " + std::to_string(n) + " bytes");
			continue;
		}
		onDatagram(round, std::string_view(buffer.data(), static_cast<std::size_t>(n)),
			   from);
	}
	// Once per wake-up, not per datagram: the status object's signal is
	// coalesced anyway.
	if (status_.droppedOffLink != dropped)
		publish();
}

void PnpService::dropOffLink(Round &round, LinkVerdict verdict, const sockaddr_in &from)
{
	++status_.droppedOffLink;
	// One line a round (rounds are at most one a minute); the rest are
	// counted in one line when the round ends.
	if (round.offLink++ > 0)
		return;
	const std::string remote = from.sin_family == AF_INET ? remoteOf(from)
							      : "a non-IPv4 source";
	logMessage(LogLevel::Warning,
		   "pnp: dropped a datagram from " + remote +
			   " unanswered: " + std::string(linkVerdictText(verdict)) +
			   " (the round's link is " + linkText(round.link) + ")");
}

void PnpService::onAddressesChanged()
{
	if (!round_ || round_->phase == Round::Phase::Closed || round_->stopping)
		return;
	Round &round = *round_;
	std::string problem;
	std::optional<RoundLink> link;
	if (std::optional<std::vector<Ipv4AddressChange>> all = ipv4Addresses(problem)) {
		link = RoundLink::holding(round.local, *all);
		if (!link)
			problem = "its address " + round.local.toString() + " is gone";
	}
	// Without a view of the link nothing could be told from off it.
	if (!link) {
		stop(problem);
		return;
	}
	if (link->ifindex() == round.link.ifindex() && link->addresses() == round.link.addresses())
		return;
	round.link = std::move(*link);
	logMessage(LogLevel::Info, "pnp: the round's link is now " + linkText(round.link));
}

void PnpService::onDatagram(Round &round, std::string_view data, const sockaddr_in &from)
{
	UniqueMsg msg = parseDatagram(data, kPnpMaxDatagram);
	sip_t *sip = msg ? sip_object(msg.get()) : nullptr;
	const std::string remote = remoteOf(from);
	switch (classifyPnpInbound(sip, round.callId)) {
	case PnpInbound::Unrelated:
		logMessage(LogLevel::Debug, "pnp: dropped a datagram from " + remote);
		return;
	case PnpInbound::Ack:
		return;
	case PnpInbound::OtherRequest:
		answer(round, sip, from, 405, "");
		return;
	case PnpInbound::SubscribeResponse: {
		const int status = sip->sip_status->st_status;
		if (status < 200 || status >= 300) {
			logMessage(LogLevel::Debug, "pnp: SUBSCRIBE answered " +
							    std::to_string(status) + " by " +
							    remote);
			return;
		}
		// One server said yes: no more retransmissions. Its NOTIFY
		// (or another server's) may still come.
		round.retransmit.cancel();
		if (!round.subscribeAnswered) {
			round.subscribeAnswered = true;
			if (round.phase == Round::Phase::Waiting) {
				status_.lastServer = remote;
				publish();
			}
			logMessage(LogLevel::Info,
				   "pnp: SUBSCRIBE answered " + std::to_string(status) + " by " +
					   remote,
				   {{"PNP_SERVER", remote}});
		}
		return;
	}
	case PnpInbound::Notify:
		onNotify(round, msg, sip, from, remote);
		return;
	}
}

void PnpService::onNotify(Round &round, UniqueMsg &msg, sip_t *sip, const sockaddr_in &from,
			  const std::string &remote)
{
	const std::string key = pnpTransactionKey(remote, sip);
	// A retransmission: nothing while its URL is with the provisioning
	// process, else the same answer again (not logged again).
	if (round.phase == Round::Phase::Handing && key == round.pendingKey)
		return;
	for (const auto &[known, datagram] : round.answers) {
		if (known != key)
			continue;
		(void)::sendto(round.fd.get(), datagram.data(), datagram.size(), 0,
			       reinterpret_cast<const sockaddr *>(&from), sizeof(from));
		return;
	}

	if (round.phase != Round::Phase::Waiting) {
		// The first valid URL won (or is being handed over).
		logMessage(LogLevel::Notice,
			   "pnp: NOTIFY from " + remote + " ignored: this round's URL came from " +
				   round.pendingRemote,
			   {{"PNP_SERVER", remote}});
		answer(round, sip, from, 481, key);
		return;
	}

	const PnpVerdict verdict = judgePnpNotify(sip, settings_ ? settings_->pnp.urlSchemes
								 : PnpSettings{}.urlSchemes);
	if (verdict.status != 200) {
		if (++round.refusals <= kMaxRefusalLines)
			logMessage(LogLevel::Warning,
				   "pnp: NOTIFY from " + remote +
					   " refused: " + std::to_string(verdict.status) + " (" +
					   verdict.reason + ")",
				   {{"PNP_SERVER", remote},
				    {"SIP_STATUS", std::to_string(verdict.status)}});
		answer(round, sip, from, verdict.status, key);
		return;
	}

	round.phase = Round::Phase::Handing;
	round.retransmit.cancel();
	round.pendingFrom = from;
	round.pendingKey = key;
	round.pendingRemote = remote;
	round.pendingUrl = verdict.url;
	ProvisionDetails details;
	details.url = verdict.url;
	details.remote = remote;
	details.callId = toValidUtf8(callIdOf(sip), kPnpMaxDetailBytes);
	details.event = toValidUtf8(
		headerValue(reinterpret_cast<const sip_header_t *>(sip->sip_event)),
		kPnpMaxDetailBytes);
	details.userAgent = toValidUtf8(sip->sip_user_agent && sip->sip_user_agent->g_string
						? sip->sip_user_agent->g_string
						: "",
					kPnpMaxDetailBytes);
	round.pending = std::move(msg);
	// The outcome may be known at once (returned), or come later: the
	// round may be closed and freed before the call returns (at shutdown),
	// so the callback holds it weakly, and says what became of the URL
	// itself when the round is gone.
	std::weak_ptr<Round> weak = round_;
	std::optional<CallOutcome> now = provisioning_.provision(
		std::move(details),
		[this, weak, server = remote, url = verdict.url](const CallOutcome &outcome) {
			std::shared_ptr<Round> r = weak.lock();
			if (r && r->phase == Round::Phase::Handing)
				onProvisioned(*r, outcome);
			else
				logProvisioned(server, url, outcome);
		});
	if (now)
		onProvisioned(round, *now);
}

void PnpService::onProvisioned(Round &round, const CallOutcome &outcome)
{
	if (round.phase != Round::Phase::Handing)
		return;
	const sip_t *request = sip_object(round.pending.get());
	if (outcome.accepted()) {
		round.phase = Round::Phase::HandedOver;
		answer(round, request, round.pendingFrom, 200, round.pendingKey);
		round.pending.reset();
		status_.state = PnpState::UrlHandedOver;
		status_.lastServer = round.pendingRemote;
		status_.lastUrl = round.pendingUrl;
		publish();
		logProvisioned(round.pendingRemote, round.pendingUrl, outcome);
		if (round.stopping) {
			close(round, "");
			return;
		}
		// Open a little longer for a retransmission whose 200 was lost,
		// and for later NOTIFYs (answered 481 and logged).
		const std::uint64_t now = EventLoop::nowMs();
		const std::uint64_t until = std::max(round.startMs + kPnpRoundMs,
						     now + kPnpLingerMs);
		Round *r = &round;
		round.end.arm(until - now, [this, r] { close(*r, ""); });
		return;
	}

	// Not taken: the server hears 503, and the round waits on.
	answer(round, request, round.pendingFrom, 503, round.pendingKey,
	       retryAfterSeconds(outcome));
	logProvisioned(round.pendingRemote, round.pendingUrl, outcome);
	round.pending.reset();
	round.pendingKey.clear();
	round.pendingRemote.clear();
	round.pendingUrl.clear();
	round.phase = Round::Phase::Waiting;
	if (round.stopping)
		close(round, "stopped");
	else if (round.expired)
		close(round, "no provisioning URL taken within " +
				     std::to_string(kPnpRoundMs / 1000) + " s");
}

void PnpService::publish()
{
	if (observer_)
		observer_(status_);
}

void PnpService::answer(Round &round, const sip_t *request, const sockaddr_in &to, int status,
			const std::string &key, unsigned retryAfterS)
{
	std::string datagram = buildPnpAnswer(request, status, round.toTag, retryAfterS);
	if (datagram.empty())
		return;
	// To the source address and port, never where a Via points.
	(void)::sendto(round.fd.get(), datagram.data(), datagram.size(), 0,
		       reinterpret_cast<const sockaddr *>(&to), sizeof(to));
	if (key.empty())
		return;
	if (round.answers.size() >= kMaxAnswers)
		round.answers.erase(round.answers.begin());
	round.answers.emplace_back(key, std::move(datagram));
}

} // namespace checksyncd
