// SPDX-License-Identifier: MIT

#include "filter/resolver.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/text.hpp"
#include "base/unique_fd.hpp"
#include "filter/dns_message.hpp"
#include "loop/log.hpp"
#include "loop/random.hpp"
#include "loop/read_file.hpp"

namespace checksyncd {

namespace {

// Bounds on what one name may make the daemon look up and keep: a DNS
// answer comes from the network too.
constexpr std::size_t kMaxSrvNames = 4;   // NAPTR replacements followed
constexpr std::size_t kMaxHosts = 16;     // SRV targets looked up
constexpr std::size_t kMaxAddresses = 32; // addresses kept per name

// Datagrams read per wakeup of a query's socket: a flood at its port
// (someone who guessed it) cannot hold the loop.
constexpr int kReadsPerWakeup = 16;
// Larger than any answer to a query offering kDnsEdnsPayload; a larger
// datagram is not an answer (MSG_TRUNC tells).
constexpr std::size_t kReceiveBuffer = 4096;
// resolv.conf is a few lines; more than this is not read.
constexpr std::size_t kMaxResolvConf = 64 * 1024;

// A NAPTR record that leads to SIP over UDP or TCP (RFC 3263 4.1): flag
// "s" (the replacement is an SRV name) and service SIP+D2U or SIP+D2T.
bool isSipNaptr(const DnsRecord &naptr)
{
	if (naptr.flags.find_first_of("sS") == std::string::npos)
		return false;
	return equalsIgnoreCase(naptr.services, "SIP+D2U") ||
	       equalsIgnoreCase(naptr.services, "SIP+D2T");
}

// A name from an answer joins the names to ask only when it can be asked.
void addUnique(std::vector<std::string> &names, const std::string &name, std::size_t max)
{
	if (!isQueryableDnsName(name) || names.size() >= max)
		return;
	std::string lower = asciiLower(name);
	if (lower.back() == '.')
		lower.pop_back();
	if (std::find(names.begin(), names.end(), lower) == names.end())
		names.push_back(std::move(lower));
}

sockaddr_storage socketAddressOf(const DnsServer &server, int family, socklen_t &length)
{
	sockaddr_storage storage{};
	if (family == AF_INET) {
		auto &in = reinterpret_cast<sockaddr_in &>(storage);
		in.sin_family = AF_INET;
		in.sin_port = htons(server.port);
		std::memcpy(&in.sin_addr, server.address.bytes().data() + 12, 4);
		length = sizeof(in);
	} else {
		// An IPv4 server through the dual-stack socket: its IPv4-mapped
		// form, which bytes() already is.
		auto &in6 = reinterpret_cast<sockaddr_in6 &>(storage);
		in6.sin6_family = AF_INET6;
		in6.sin6_port = htons(server.port);
		std::memcpy(&in6.sin6_addr, server.address.bytes().data(), 16);
		length = sizeof(in6);
	}
	return storage;
}

} // namespace

// One question on a socket of its own, sent to the configured servers in
// turn until one answers it or the sends run out.

class Resolver::Query
{
public:
	struct Result {
		DnsAnswer answer;      // outcome Timeout or CannotSend: none came
		std::string error;     // CannotSend: why
		std::size_t ignored{}; // datagrams that did not answer this query
	};
	// Called once, from a timer; may destroy the Query.
	using Done = std::function<void(Query &, const Result &)>;

	Query(Resolver &owner, DnsQuestion question, unsigned maxCnames, Done done)
		: owner_(owner), question_(std::move(question)), maxCnames_(maxCnames),
		  done_(std::move(done)), timer_(owner.loop_)
	{
	}
	~Query() { owner_.leave(*this); }
	Query(const Query &) = delete;
	Query &operator=(const Query &) = delete;

	const DnsQuestion &question() const { return question_; }
	unsigned maxCnames() const { return maxCnames_; }

	void start()
	{
		state_ = State::Waiting;
		owner_.admit(*this);
	}

	// The Resolver's turn for this query. done_ is only ever called from
	// timer_, never from here or from the watch's callback: the caller
	// (a Lookup asking, another query leaving) is in the middle of its work.
	void open()
	{
		state_ = State::Open;
		config_ = owner_.config_;
		first_ = config_.rotate ? owner_.nextServer_++ % config_.servers.size() : 0;
		edns_ = config_.edns;
		try {
			fillRandom(reinterpret_cast<unsigned char *>(&id_), sizeof(id_));
		} catch (const std::exception &e) {
			return failLater(std::string("no random query ID: ") + e.what());
		}
		packet_ = makeDnsQuery(id_, question_, edns_);
		if (packet_.empty())
			return failLater("the name cannot be asked");

		// One socket for both families when a server is IPv6 (and the
		// kernel has IPv6): IPv4 servers through their IPv4-mapped form.
		const bool v6 = std::any_of(config_.servers.begin(), config_.servers.end(),
					    [](const DnsServer &s) { return !s.address.isV4(); });
		if (v6) {
			socket_.reset(
				::socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
			const int off = 0;
			if (socket_ && setsockopt(socket_.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off,
						  sizeof(off)) == 0)
				family_ = AF_INET6;
			else
				socket_.reset();
		}
		if (!socket_) {
			socket_.reset(
				::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
			family_ = AF_INET;
		}
		if (!socket_)
			return failLater("cannot send a DNS query: " + errnoText(errno));
		try {
			watch_ = std::make_unique<FdWatch>(owner_.loop_, socket_.get(), POLLIN,
							   [this](int) { onReadable(); });
		} catch (const std::exception &e) {
			return failLater(std::string("cannot send a DNS query: ") + e.what());
		}
		sendNext();
	}

private:
	enum class State : unsigned char {
		New,
		Waiting,  // for a socket (Resolver::waiting_)
		Open,     // has one, sent, waits for the answer
		Answered, // result_ is set, done_ runs from the timer
		Done,
	};

	friend class Resolver;

	// Sends the next datagram, skipping servers it cannot be sent to, and
	// waits for its answer; without a server left, the query has failed.
	void sendNext()
	{
		int error = 0;
		while (sent_ < config_.sends()) {
			const std::size_t k = sent_++;
			const DnsServer &server = config_.serverFor(k, first_);
			if (family_ == AF_INET && !server.address.isV4()) {
				error = EAFNOSUPPORT; // no IPv6 socket to be had
				continue;
			}
			socklen_t length = 0;
			const sockaddr_storage to = socketAddressOf(server, family_, length);
			const ssize_t n = ::sendto(socket_.get(), packet_.data(), packet_.size(),
						   MSG_NOSIGNAL,
						   reinterpret_cast<const sockaddr *>(&to), length);
			if (n != static_cast<ssize_t>(packet_.size())) {
				error = n < 0 ? errno : EMSGSIZE;
				continue;
			}
			if (std::find(asked_.begin(), asked_.end(), server) == asked_.end())
				asked_.push_back(server);
			timer_.arm(config_.waitAfterMs(k), [this] { sendNext(); });
			return;
		}
		if (asked_.empty())
			return failLater("cannot send a DNS query: " +
					 errnoText(error ? error : EIO));
		result_.answer.outcome = DnsOutcome::Timeout;
		state_ = State::Answered;
		timer_.arm(0, [this] { complete(); });
	}

	void onReadable()
	{
		for (int i = 0; i < kReadsPerWakeup && state_ == State::Open; ++i) {
			std::uint8_t buffer[kReceiveBuffer];
			sockaddr_storage from{};
			socklen_t fromLength = sizeof(from);
			const ssize_t n = ::recvfrom(
				socket_.get(), buffer, sizeof(buffer), MSG_DONTWAIT | MSG_TRUNC,
				reinterpret_cast<sockaddr *>(&from), &fromLength);
			if (n < 0)
				return; // EAGAIN, or an error queued by ICMP: the sends go on
			if (static_cast<std::size_t>(n) > sizeof(buffer) || !fromServer(from)) {
				++result_.ignored;
				continue;
			}
			const std::optional<DnsMessage> message = parseDnsMessage(
				buffer, static_cast<std::size_t>(n));
			DnsAnswer answer;
			if (message)
				answer = acceptDnsAnswer(question_, id_, *message, maxCnames_);
			if (answer.outcome == DnsOutcome::NotAnAnswer) {
				++result_.ignored;
				continue;
			}
			if (answer.outcome == DnsOutcome::FormatError && edns_ == Edns::On) {
				// RFC 6891 7: a server without EDNS(0) answers FORMERR;
				// ask it again without the OPT record, same ID.
				edns_ = Edns::Off;
				packet_ = makeDnsQuery(id_, question_, edns_);
				sent_ = 0;
				asked_.clear();
				sendNext();
				return;
			}
			result_.answer = std::move(answer);
			state_ = State::Answered;
			// done_ may destroy this query, and with it the watch whose
			// callback this is: it runs from the timer (before the next
			// poll), which may be destroyed from its own callback.
			timer_.arm(0, [this] { complete(); });
			return;
		}
	}

	bool fromServer(const sockaddr_storage &from) const
	{
		std::uint16_t port = 0;
		const std::optional<IpAddress> address = IpAddress::fromSockaddr(
			reinterpret_cast<const sockaddr *>(&from), &port);
		if (!address)
			return false;
		return std::find(asked_.begin(), asked_.end(), DnsServer{*address, port}) !=
		       asked_.end();
	}

	void failLater(std::string error)
	{
		state_ = State::Answered;
		result_.answer.outcome = DnsOutcome::CannotSend;
		result_.error = std::move(error);
		timer_.arm(0, [this] { complete(); });
	}

	// May destroy this query (through done_): nothing touches a member
	// after it.
	void complete()
	{
		timer_.cancel();
		watch_.reset();
		socket_.reset();
		owner_.leave(*this); // the next waiting query may start
		state_ = State::Done;
		const Result result = std::move(result_);
		Done done = std::move(done_);
		done(*this, result);
	}

	Resolver &owner_;
	DnsQuestion question_;
	unsigned maxCnames_;
	Done done_;
	State state_ = State::New;
	ResolverConfig config_;
	std::size_t first_ = 0; // the server of the first send
	std::size_t sent_ = 0;
	std::uint16_t id_ = 0;
	Edns edns_ = Edns::On;
	int family_ = AF_INET;
	std::vector<std::uint8_t> packet_;
	std::vector<DnsServer> asked_; // the servers a datagram went to
	Result result_;
	UniqueFd socket_;
	std::unique_ptr<FdWatch> watch_; // after socket_: stops watching first
	Timer timer_;
};

// One lookup: the steps of RFC 3263 section 4, each a set of parallel
// queries; the next step starts when every query of the current one has
// its answer.

class Resolver::Lookup
{
public:
	Lookup(Resolver &owner, ResolveTarget target)
		: owner_(owner), target_(std::move(target)), deadline_(owner.loop_)
	{
	}
	~Lookup()
	{
		// The newest first: those still waiting for a socket leave the
		// queue before an older one's socket goes and would let them in.
		while (!queries_.empty())
			queries_.pop_back();
	}
	Lookup(const Lookup &) = delete;
	Lookup &operator=(const Lookup &) = delete;

	void start()
	{
		deadline_.arm(kLookupTimeoutMs, [this] {
			// The one line a name gets while its server stays silent is
			// the caller's (Change::Failed).
			error_ = "no answer from the DNS server within " +
				 std::to_string(kLookupTimeoutMs / 1000) + " s";
			finish();
		});
		if (target_.sip) {
			step_ = Step::Naptr;
			ask(kDnsTypeNaptr, target_.name);
		} else {
			hosts_.push_back(target_.name);
			askAddresses();
		}
		if (pending_ == 0) // nothing could be asked
			deadline_.arm(0, [this] { finish(); });
	}

private:
	enum class Step : unsigned char {
		Naptr,
		Srv,
		Address
	};

	// maxCnames: what is left of kDnsMaxCnames for the name whose chain
	// this query continues.
	void ask(std::uint16_t type, const std::string &name, unsigned maxCnames = kDnsMaxCnames)
	{
		if (!isQueryableDnsName(name))
			return;
		queries_.push_back(
			std::make_unique<Query>(owner_, DnsQuestion{name, type}, maxCnames,
						[this](Query &query, const Query::Result &result) {
							onAnswer(query, result);
						}));
		++pending_;
		queries_.back()->start();
	}

	void askAddresses()
	{
		step_ = Step::Address;
		for (const std::string &host : hosts_) {
			ask(kDnsTypeA, host);
			ask(kDnsTypeAaaa, host);
		}
	}

	// May destroy this Lookup (through finish()): nothing may touch a
	// member after the call to next().
	void onAnswer(const Query &query, const Query::Result &result)
	{
		--pending_;
		ignoredMessages_ += result.ignored;
		const DnsAnswer &answer = result.answer;
		ignoredRecords_ += answer.ignored;
		for (const DnsRecord &record : answer.records)
			use(record, std::min(record.ttl, answer.cnameTtl));
		const unsigned cnamesLeft = query.maxCnames() -
					    std::min(query.maxCnames(), answer.cnames);
		if (answer.outcome == DnsOutcome::NoData &&
		    !sameDnsName(answer.canonical, query.question().name) && cnamesLeft > 0) {
			// RFC 1034 4.3.2: the chain ended at a CNAME whose target
			// the answer did not hold; ask for the target.
			ttl_ = std::min(ttl_, answer.cnameTtl);
			const std::size_t before = pending_;
			ask(query.question().type, asciiLower(answer.canonical), cnamesLeft);
			if (pending_ > before)
				return;
		}
		if (answer.outcome == DnsOutcome::CannotSend && error_.empty())
			error_ = result.error;
		if (step_ == Step::Address && answer.outcome != DnsOutcome::Answer &&
		    dnsSeverity(answer.outcome) > dnsSeverity(worst_))
			worst_ = answer.outcome;
		if (pending_ == 0)
			next();
	}

	void use(const DnsRecord &record, std::uint32_t ttl)
	{
		const auto lowerTtl = [&] { ttl_ = std::min(ttl_, ttl); };
		switch (record.type) {
		case kDnsTypeNaptr:
			if (isSipNaptr(record)) {
				addUnique(srvNames_, record.target, kMaxSrvNames);
				lowerTtl();
			}
			break;
		case kDnsTypeSrv:
			if (record.target != "." && !record.target.empty()) {
				addUnique(hosts_, record.target, kMaxHosts);
				lowerTtl();
			}
			break;
		case kDnsTypeA:
		case kDnsTypeAaaa:
			if (record.address) {
				addAddress(*record.address);
				lowerTtl();
			}
			break;
		default:
			break;
		}
	}

	void addAddress(const IpAddress &address)
	{
		if (addresses_.size() < kMaxAddresses &&
		    std::find(addresses_.begin(), addresses_.end(), address) == addresses_.end())
			addresses_.push_back(address);
	}

	void next()
	{
		switch (step_) {
		case Step::Naptr:
			// RFC 3263 4.1: no usable NAPTR record, SRV for the
			// transports we take.
			if (srvNames_.empty()) {
				srvNames_.push_back("_sip._udp." + target_.name);
				srvNames_.push_back("_sip._tcp." + target_.name);
			}
			step_ = Step::Srv;
			for (const std::string &name : srvNames_)
				ask(kDnsTypeSrv, name);
			break;
		case Step::Srv:
			// RFC 3263 4.2: no SRV record, the name's own addresses.
			if (hosts_.empty())
				hosts_.push_back(target_.name);
			askAddresses();
			break;
		case Step::Address:
			break;
		}
		if (pending_ == 0)
			finish();
	}

	// Destroys this Lookup.
	void finish()
	{
		Resolution result;
		result.addresses = addresses_;
		result.ignoredMessages = ignoredMessages_;
		result.ignoredRecords = ignoredRecords_;
		if (!addresses_.empty())
			result.ttlS = ttl_;
		else if (!error_.empty())
			result.error = error_;
		else
			result.error = describeDnsOutcome(worst_);
		owner_.finished(target_, result);
	}

	Resolver &owner_;
	ResolveTarget target_;
	Step step_ = Step::Address;
	std::vector<std::unique_ptr<Query>> queries_;
	std::size_t pending_ = 0;
	std::vector<std::string> srvNames_;
	std::vector<std::string> hosts_;
	std::vector<IpAddress> addresses_;
	std::uint32_t ttl_ = std::numeric_limits<std::uint32_t>::max();
	DnsOutcome worst_ = DnsOutcome::NoData; // worst failure of an address query
	std::string error_;
	std::size_t ignoredMessages_ = 0;
	std::size_t ignoredRecords_ = 0;
	Timer deadline_;
};

// Resolver

Resolver::Resolver(EventLoop &loop, Done done, std::string resolvConf)
	: loop_(loop), done_(std::move(done)), resolvConf_(std::move(resolvConf))
{
	updateConfig();
}

Resolver::~Resolver()
{
	closing_ = true; // a query that goes starts no other
	lookups_.clear();
}

void Resolver::updateConfig()
{
	FileStamp stamp;
	struct stat st {
	};
	if (::stat(resolvConf_.c_str(), &st) == 0) {
		stamp = {true, st.st_dev, st.st_ino, st.st_size,
			 std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
	}
	if (stamp_ && *stamp_ == stamp)
		return;
	stamp_ = stamp;
	std::string text;
	if (stamp.exists) {
		// What it holds up to a read error or kMaxResolvConf; nothing if it
		// cannot be opened.
		const UniqueFd fd{::open(resolvConf_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)};
		if (fd)
			(void)readUpTo(fd.get(), kMaxResolvConf, text,
				       static_cast<std::size_t>(std::max<off_t>(st.st_size, 0)));
	}
	const char *resOptions = std::getenv("RES_OPTIONS");
	const char *sresOptions = std::getenv("SRES_OPTIONS");
	config_ = parseResolverConfig(text, resOptions ? resOptions : "",
				      sresOptions ? sresOptions : "");
}

void Resolver::admit(Query &query)
{
	if (open_ < kMaxOpenQueries) {
		++open_;
		query.open();
		return;
	}
	waiting_.push_back(&query);
}

void Resolver::leave(Query &query)
{
	switch (query.state_) {
	case Query::State::Waiting:
		waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), &query),
			       waiting_.end());
		query.state_ = Query::State::Done;
		return;
	case Query::State::Open:
	case Query::State::Answered:
		--open_;
		query.state_ = Query::State::Done;
		break;
	case Query::State::New:
	case Query::State::Done:
		return;
	}
	while (!closing_ && open_ < kMaxOpenQueries && !waiting_.empty()) {
		Query *next = waiting_.front();
		waiting_.erase(waiting_.begin());
		++open_;
		next->open();
	}
}

void Resolver::lookup(const ResolveTarget &target)
{
	lookups_.erase(target);
	updateConfig();
	auto lookup = std::make_unique<Lookup>(*this, target);
	Lookup &started = *lookup;
	lookups_.emplace(target, std::move(lookup));
	started.start();
}

void Resolver::cancel(const ResolveTarget &target)
{
	lookups_.erase(target);
}

void Resolver::finished(const ResolveTarget &target, const Resolution &result)
{
	// Keep the Lookup alive until done_ returns (it owns `target` and
	// `result`'s source), then let it go.
	auto node = lookups_.extract(target);
	done_(target, result);
}

} // namespace checksyncd
