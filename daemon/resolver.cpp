// SPDX-License-Identifier: MIT

#include "resolver.hpp"

#include <sofia-sip/sresolv.h>
#include <sofia-sip/su_string.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "log.hpp"
#include "text.hpp"

namespace checksyncd {

namespace {

// Bounds on what one name may make the daemon look up and keep: a DNS
// answer comes from the network too.
constexpr std::size_t kMaxSrvNames = 4;   // NAPTR replacements followed
constexpr std::size_t kMaxHosts = 16;     // SRV targets looked up
constexpr std::size_t kMaxAddresses = 32; // addresses kept per name

// A NAPTR record that leads to SIP over UDP or TCP (RFC 3263 4.1): flag
// "s" (the replacement is an SRV name) and service SIP+D2U or SIP+D2T.
bool isSipNaptr(const sres_naptr_record_t &naptr)
{
	if (!naptr.na_flags || !naptr.na_replace)
		return false;
	if (!std::strchr(naptr.na_flags, 's') && !std::strchr(naptr.na_flags, 'S'))
		return false;
	if (!*naptr.na_replace || std::strcmp(naptr.na_replace, ".") == 0)
		return false;
	return su_casematch(naptr.na_services, "SIP+D2U") ||
	       su_casematch(naptr.na_services, "SIP+D2T");
}

// How bad a failed query is, for the one reason a failed lookup gives.
int severity(int status)
{
	switch (status) {
	case SRES_TIMEOUT_ERR:
	case SRES_NETWORK_ERR:
		return 4;
	case SRES_SERVER_ERR:
	case SRES_AUTH_ERR:
	case SRES_FORMAT_ERR:
	case SRES_UNIMPL_ERR:
	case SRES_INTERNAL_ERR:
		return 3;
	case SRES_NAME_ERR:
		return 2;
	default:
		return 1;
	}
}

std::string describeStatus(int status)
{
	switch (status) {
	case SRES_TIMEOUT_ERR:
	case SRES_NETWORK_ERR:
		return "no answer from the DNS server";
	case SRES_NAME_ERR:
		return "no such name";
	case SRES_RECORD_ERR:
		return "no A or AAAA record";
	case SRES_SERVER_ERR:
		return "DNS server failure";
	case SRES_AUTH_ERR:
		return "refused by the DNS server";
	default:
		return "DNS error " + std::to_string(status);
	}
}

void addUnique(std::vector<std::string> &names, const char *name, std::size_t max)
{
	if (!name || !*name || std::strcmp(name, ".") == 0 || names.size() >= max)
		return;
	if (std::find(names.begin(), names.end(), name) == names.end())
		names.emplace_back(name);
}

} // namespace

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
		// sofia-sip's own way to drop a query (nta does the same): its
		// answer, or its timeout, then goes nowhere.
		for (const auto &query : queries_) {
			if (query->query)
				sres_query_bind(query->query, nullptr, nullptr);
		}
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
			ask(sres_type_naptr, target_.name);
		} else {
			hosts_.push_back(target_.name);
			askAddresses();
		}
	}

private:
	enum class Step : unsigned char {
		Naptr,
		Srv,
		Address
	};

	struct Query {
		Lookup *lookup = nullptr;
		sres_query_t *query = nullptr; // null once answered
		std::uint16_t type = 0;
	};

	void ask(std::uint16_t type, const std::string &name)
	{
		auto query = std::make_unique<Query>();
		query->lookup = this;
		query->type = type;
		errno = 0;
		query->query = sres_query(owner_.sres_, &Lookup::answerTrampoline,
					  reinterpret_cast<sres_context_t *>(query.get()), type,
					  name.c_str());
		if (!query->query) {
			// No DNS server configured, or out of memory: this lookup
			// cannot work. Fail it from the loop, not from within
			// lookup().
			const int error = errno;
			error_ = error == ENETDOWN ? std::string("no DNS server configured")
						   : "cannot send a DNS query: " +
							     errnoText(error ? error : EIO);
			deadline_.arm(0, [this] { finish(); });
			failedToAsk_ = true;
			return;
		}
		queries_.push_back(std::move(query));
		++pending_;
	}

	void askAddresses()
	{
		step_ = Step::Address;
		for (const std::string &host : hosts_) {
			ask(sres_type_a, host);
			if (failedToAsk_)
				return;
			ask(sres_type_aaaa, host);
			if (failedToAsk_)
				return;
		}
	}

	static void answerTrampoline(sres_context_t *context, sres_query_t *,
				     sres_record_t **answers) noexcept
	{
		auto *query = reinterpret_cast<Query *>(context);
		Lookup *self = query->lookup;
		try {
			self->onAnswer(*query, answers);
		} catch (const std::exception &e) {
			logMessage(LogLevel::Error,
				   std::string("DNS answer handling failed: ") + e.what());
		}
	}

	// May destroy this Lookup (through finish()): nothing may touch a
	// member after the call to next().
	void onAnswer(Query &query, sres_record_t **answers)
	{
		query.query = nullptr; // sofia-sip frees it after this callback
		--pending_;
		int worst = 0;
		for (std::size_t i = 0; answers && answers[i] != nullptr; ++i) {
			const sres_record_t *record = answers[i];
			const sres_common_t &common = *record->sr_record;
			if (common.r_status != 0) {
				if (severity(common.r_status) > severity(worst))
					worst = common.r_status;
				continue;
			}
			if (common.r_type != query.type)
				continue; // a CNAME on the way
			use(*record, common.r_ttl);
		}
		sres_free_answers(owner_.sres_, answers);
		if (step_ == Step::Address && worst != 0 &&
		    (status_ == 0 || severity(worst) > severity(status_)))
			status_ = worst;
		if (pending_ == 0)
			next();
	}

	void use(const sres_record_t &record, std::uint32_t ttl)
	{
		const auto lowerTtl = [&] { ttl_ = std::min(ttl_, ttl); };
		switch (record.sr_record->r_type) {
		case sres_type_naptr:
			if (isSipNaptr(*record.sr_naptr)) {
				addUnique(srvNames_, record.sr_naptr->na_replace, kMaxSrvNames);
				lowerTtl();
			}
			break;
		case sres_type_srv:
			if (record.sr_srv->srv_target &&
			    std::strcmp(record.sr_srv->srv_target, ".") != 0) {
				addUnique(hosts_, record.sr_srv->srv_target, kMaxHosts);
				lowerTtl();
			}
			break;
		case sres_type_a: {
			std::uint8_t bytes[4];
			std::memcpy(bytes, &record.sr_a->a_addr, sizeof(bytes));
			addAddress(IpAddress::fromV4(bytes));
			lowerTtl();
			break;
		}
		case sres_type_aaaa: {
			std::uint8_t bytes[16];
			std::memcpy(bytes, record.sr_aaaa->aaaa_addr.u6_addr, sizeof(bytes));
			addAddress(IpAddress::fromV6(bytes));
			lowerTtl();
			break;
		}
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
			for (const std::string &name : srvNames_) {
				ask(sres_type_srv, name);
				if (failedToAsk_)
					return;
			}
			return;
		case Step::Srv:
			// RFC 3263 4.2: no SRV record, the name's own addresses.
			if (hosts_.empty())
				hosts_.push_back(target_.name);
			askAddresses();
			return;
		case Step::Address:
			finish();
			return;
		}
	}

	// Destroys this Lookup.
	void finish()
	{
		Resolution result;
		result.addresses = addresses_;
		if (!addresses_.empty())
			result.ttlS = ttl_;
		else if (!error_.empty())
			result.error = error_;
		else
			result.error = describeStatus(status_ ? status_ : SRES_RECORD_ERR);
		owner_.finished(target_, result);
	}

	Resolver &owner_;
	ResolveTarget target_;
	Step step_ = Step::Address;
	std::vector<std::unique_ptr<Query>> queries_;
	std::size_t pending_ = 0;
	bool failedToAsk_ = false;
	std::vector<std::string> srvNames_;
	std::vector<std::string> hosts_;
	std::vector<IpAddress> addresses_;
	std::uint32_t ttl_ = std::numeric_limits<std::uint32_t>::max();
	int status_ = 0; // worst failure of an address query
	std::string error_;
	Timer deadline_;
};

// Resolver

Resolver::Resolver(EventLoop &loop, Done done) : loop_(loop), done_(std::move(done))
{
	sres_ = sres_resolver_create(loop.root(), nullptr, TAG_END());
	if (!sres_)
		throw std::runtime_error("cannot create the DNS resolver (sres_resolver_create)");
}

Resolver::~Resolver()
{
	lookups_.clear(); // unbinds their queries first
	sres_resolver_destroy(sres_);
}

void Resolver::lookup(const ResolveTarget &target)
{
	lookups_.erase(target);
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
