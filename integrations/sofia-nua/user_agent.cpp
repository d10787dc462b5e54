// SPDX-License-Identifier: MIT

#include "user_agent.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/tport_tag.h>

#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "base/text.hpp"
#include "loop/log.hpp"

namespace checksyncd::nua {

namespace {

// After a refused REGISTER (or one without an answer), the next try.
constexpr std::uint64_t kRetryMs = 30'000;
// A 401 or 407 in a row beyond this many means the registrar refuses the
// credentials (one challenge, and one more for a stale nonce).
constexpr unsigned kMaxChallenges = 2;
// How long an un-REGISTER and nua's shutdown may take before the process
// goes anyway.
constexpr std::uint64_t kShutdownMs = 4'000;
// Failed hand-overs are logged at most once a minute (a flood must not
// become a flood of lines; checksyncd logs each request it does answer).
constexpr std::uint64_t kFailureLogSpacingMs = 60'000;

// sofia-sip reads the CA certificates of a TLS transport from a directory
// (TPTAG_CERTIFICATE: DIR/cafile.pem, and DIR/agent.pem for a client
// certificate of its own; tport_type_tls.c, tport_tls_init_master()). For
// a CA file given as such, a private directory with a link to it, for as
// long as the stack is being made: the transport reads it once, then.
class CaDirectory
{
public:
	explicit CaDirectory(const std::string &caFile)
	{
		if (::access(caFile.c_str(), R_OK) != 0)
			throw std::system_error(errno, std::generic_category(),
						"cannot read the CA file " + caFile);
		std::string pattern = (std::filesystem::temp_directory_path() /
				       "checksyncd-nua-ca.XXXXXX")
					      .string();
		if (::mkdtemp(pattern.data()) == nullptr)
			throw std::system_error(errno, std::generic_category(), "mkdtemp");
		path_ = pattern;
		std::error_code ec;
		std::filesystem::create_symlink(std::filesystem::absolute(caFile),
						std::filesystem::path(path_) / "cafile.pem", ec);
		if (ec) {
			std::filesystem::remove_all(path_, ec);
			throw std::runtime_error("cannot link the CA file " + caFile + ": " +
						 ec.message());
		}
	}
	~CaDirectory()
	{
		std::error_code ec;
		std::filesystem::remove_all(path_, ec);
	}
	CaDirectory(const CaDirectory &) = delete;
	CaDirectory &operator=(const CaDirectory &) = delete;

	const std::string &path() const { return path_; }

private:
	std::string path_;
};

// ";transport=tcp" and the like for a URL of the registrar or the proxy.
std::string transportParameter(SipTransport transport)
{
	return ";transport=" + std::string(transportName(transport));
}

// The peer a message came from, over `transport`.
std::optional<Peer> peerOf(msg_t *msg, SipTransport transport)
{
	if (!msg)
		return std::nullopt;
	const su_addrinfo_t *ai = msg_addrinfo(msg);
	if (!ai || !ai->ai_addr)
		return std::nullopt;
	std::uint16_t port = 0;
	std::optional<IpAddress> address = IpAddress::fromSockaddr(ai->ai_addr, &port);
	if (!address)
		return std::nullopt;
	return Peer{transport, *address, port};
}

} // namespace

UserAgent::UserAgent(EventLoop &loop, HandoffClient &handoff, UaOptions options)
	: loop_(loop), handoff_(handoff), options_(std::move(options)), retry_(loop),
	  shutdownTimeout_(loop)
{
	const Account &account = options_.account;
	const SipTransport transport = options_.transport;
	const bool stream = transport != SipTransport::Udp;
	aor_ = "sip:" + account.user + "@" + account.domain;
	registrar_ = "sip:" + account.host + transportParameter(transport);
	const std::string proxy = account.outbound.empty() ? ""
							   : "sip:" + account.outbound +
								     transportParameter(transport);
	registration_.identity = account.idx;

	// Over TCP and TLS a client-only transport (TPTAG_SERVER(0):
	// tport_bind_client(), no listening socket): every connection is one
	// the stack opened for its REGISTERs, which is what registrar_flow
	// rests on (handoff_rules.hpp). A TLS transport needs a sips: URL in
	// nta (tports_sips, nta_agent_add_tport()).
	std::string url;
	if (transport == SipTransport::Udp)
		url = "sip:" + (options_.bind.empty() ? std::string("*:*") : options_.bind) +
		      ";transport=udp";
	else if (transport == SipTransport::Tcp)
		url = "sip:*:*;transport=tcp";
	else
		url = "sips:*:*;transport=tls";

	std::unique_ptr<CaDirectory> ca;
	if (transport == SipTransport::Tls)
		ca = std::make_unique<CaDirectory>(options_.caFile);

	// nua runs its stack in the loop's own thread (su_clone_start() with
	// threading off): one thread, as checksyncd itself.
	su_root_threading(loop_.root(), 0);
	nua_.reset(nua_create(
		loop_.root(), &UserAgent::onEvent, reinterpret_cast<nua_magic_t *>(this),
		NUTAG_URL(url.c_str()), TAG_IF(stream, TPTAG_SERVER(0)),
		TAG_IF(!proxy.empty(), NUTAG_PROXY(proxy.c_str())),
		// Out-of-dialog NOTIFYs reach the application; nothing else it
		// would have to answer does (nua answers OPTIONS, and any method
		// but the two allowed 405: nta_check_method()).
		NUTAG_APPL_METHOD(static_cast<const char *>(nullptr)), NUTAG_APPL_METHOD("NOTIFY"),
		SIPTAG_ALLOW_STR("OPTIONS, NOTIFY"), NUTAG_ENABLEINVITE(0), NUTAG_ENABLEMESSAGE(0),
		NUTAG_MEDIA_ENABLE(0), NUTAG_USER_AGENT("checksyncd-nua"),
		// nua's outbound (RFC 5626 style): the Contact takes the address
		// the registrar saw (natify, nua's default), keepalives at the
		// interval given; no validation OPTIONS sent to its own Contact.
		NUTAG_OUTBOUND("no-validate"), NUTAG_KEEPALIVE(options_.keepaliveS * 1000),
		NUTAG_KEEPALIVE_STREAM(options_.keepaliveS * 1000), NTATAG_MAXSIZE(65536),
		// TLS: TLS_method() rather than TLSv1_method() (TPTAG_TLS_VERSION
		// 1, sofia-sip's default, which OpenSSL 3 refuses), and a
		// connection only to a peer whose certificate chains to the CA
		// and names the host connected to (TPTLS_VERIFY_SUBJECTS_OUT:
		// tport_tls.c, tls_post_connection_check()).
		TAG_IF(ca, TPTAG_CERTIFICATE(ca ? ca->path().c_str() : "")),
		TAG_IF(ca, TPTAG_TLS_VERSION(0)),
		TAG_IF(ca, TPTAG_TLS_VERIFY_POLICY(TPTLS_VERIFY_SUBJECTS_OUT)),
		TAG_IF(ca, TPTAG_TLS_VERIFY_DEPTH(5)), SIPTAG_FROM_STR(aor_.c_str()), TAG_END()));
	if (!nua_)
		throw std::runtime_error("cannot start the SIP stack on " + url +
					 " (--log-level debug shows why)");
	registration_.verifiedName = options_.account.tlsName;
}

UserAgent::~UserAgent() = default;

void UserAgent::start(std::function<void()> registered)
{
	registered_ = std::move(registered);
	registerNow();
}

void UserAgent::registerNow()
{
	if (shuttingDown_)
		return;
	if (!registerHandle_)
		registerHandle_.reset(
			nua_handle(nua_.get(), nullptr, SIPTAG_TO_STR(aor_.c_str()), TAG_END()));
	if (!registerHandle_) {
		logMessage(LogLevel::Error, "cannot make a nua handle for the REGISTERs");
		retry_.arm(kRetryMs, [this] { registerNow(); });
		return;
	}
	challenges_ = 0;
	const std::string expires = std::to_string(options_.expiresS);
	nua_register(registerHandle_.get(), NUTAG_REGISTRAR(URL_STRING_MAKE(registrar_.c_str())),
		     NUTAG_M_USERNAME(options_.account.user.c_str()),
		     SIPTAG_EXPIRES_STR(expires.c_str()), TAG_END());
}

void UserAgent::onEvent(nua_event_t event, int status, char const *phrase, nua_t *,
			nua_magic_t *magic, nua_handle_t *nh, nua_hmagic_t *, sip_t const *sip,
			tagi_t[]) noexcept
{
	try {
		reinterpret_cast<UserAgent *>(magic)->event(event, status, phrase, nh, sip);
	} catch (const std::exception &e) {
		logMessage(LogLevel::Error,
			   std::string("handling a nua event failed: ") + e.what());
	}
}

void UserAgent::event(nua_event_t event, int status, char const *phrase, nua_handle_t *nh,
		      sip_t const *sip)
{
	switch (event) {
	case nua_r_register:
		if (nh == registerHandle_.get())
			onRegister(status, phrase, sip);
		return;
	case nua_r_unregister:
		if (status >= 200 && nh == registerHandle_.get() && shuttingDown_) {
			registerHandle_.reset();
			nua_shutdown(nua_.get());
		}
		return;
	case nua_r_shutdown:
		if (status >= 200) {
			shutdownTimeout_.cancel();
			if (std::function<void()> stopped = std::exchange(stopped_, nullptr))
				stopped();
		}
		return;
	case nua_i_notify:
		// Status 100: nua waits for the application's answer
		// (NUTAG_APPL_METHOD); anything else it has answered itself.
		if (status == 100 && sip && nh != registerHandle_.get()) {
			onNotify(nh, sip);
			return;
		}
		break;
	default:
		break;
	}
	// A handle the stack made for an incoming request it answered itself
	// (OPTIONS, a refused INVITE) is the application's to destroy (nua.h).
	if (nua_event_is_incoming_request(event) && nh && nh != registerHandle_.get())
		UniqueNuaHandle{nh};
}

void UserAgent::onRegister(int status, char const *phrase, sip_t const *sip)
{
	if (status < 200)
		return;
	const std::string answered = std::to_string(status) + " " + printable(orEmpty(phrase));
	if ((status == 401 || status == 407) && sip) {
		if (++challenges_ > kMaxChallenges) {
			logMessage(LogLevel::Error, "the registrar refused the credentials of " +
							    aor_ + " (" + answered +
							    "); trying again in " +
							    std::to_string(kRetryMs / 1000) + " s");
			retry_.arm(kRetryMs, [this] { registerNow(); });
			return;
		}
		// One credential per challenge, for its scheme and realm as the
		// challenge writes them ("Digest:\"realm\":user:password",
		// auth_client.c, auc_credentials()).
		const msg_auth_t *challenge = status == 401 ? sip->sip_www_authenticate
							    : static_cast<const msg_auth_t *>(
								      sip->sip_proxy_authenticate);
		for (; challenge; challenge = challenge->au_next) {
			const char *realm = msg_params_find(challenge->au_params, "realm=");
			if (!challenge->au_scheme || !realm)
				continue;
			const std::string credentials = std::string(challenge->au_scheme) + ":" +
							realm + ":" + options_.account.authUser +
							":" + options_.account.password;
			nua_authenticate(registerHandle_.get(), NUTAG_AUTH(credentials.c_str()),
					 TAG_END());
			return;
		}
		logMessage(LogLevel::Error,
			   "the registrar's " + answered +
				   " carries no challenge to answer; trying again in " +
				   std::to_string(kRetryMs / 1000) + " s");
		retry_.arm(kRetryMs, [this] { registerNow(); });
		return;
	}
	if (status >= 300) {
		registration_.registrar.reset();
		logMessage(LogLevel::Warning,
			   "REGISTER of " + aor_ + " at " + registrar_ + " failed: " + answered +
				   "; trying again in " + std::to_string(kRetryMs / 1000) + " s");
		retry_.arm(kRetryMs, [this] { registerNow(); });
		return;
	}
	challenges_ = 0;
	// The 2xx's own peer: the registrar, or the outbound proxy the
	// REGISTERs go through, as this flow reaches it.
	std::optional<Peer> peer = peerOf(nua_current_request(nua_.get()), options_.transport);
	const bool changed = peer != registration_.registrar;
	registration_.registrar = peer;
	registration_.callId = sip ? std::string(callIdOf(sip)) : std::string();
	if (changed)
		logMessage(
			LogLevel::Notice,
			"registered " + aor_ + " at " + registrar_ + " over " +
				std::string(transportName(options_.transport)) +
				(peer ? ":" + peerText(peer->address, peer->port) : std::string()),
			{{"SIP_CALL_ID", registration_.callId}});
	if (registered_)
		registered_();
}

void UserAgent::onNotify(nua_handle_t *nh, sip_t const *sip)
{
	UniqueNuaHandle handle(nh);
	nua_saved_event_t saved[1] = {nullptr};
	if (nua_save_event(nua_.get(), saved) != 1 || !saved[0]) {
		logMessage(LogLevel::Error, "cannot keep a NOTIFY to answer it (nua_save_event)");
		nua_respond(nh, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		return;
	}
	UniqueSavedEvent event(saved[0]);
	msg_t *request = nua_saved_event_request(saved);

	const std::optional<SipTransport> transport = sip->sip_via
							      ? transportOfVia(orEmpty(
									sip->sip_via->v_protocol))
							      : std::nullopt;
	const std::optional<Peer> from = transport ? peerOf(request, *transport)
						   : std::optional<Peer>();
	PendingList::iterator pending = pending_.insert(
		pending_.end(), Pending{std::move(handle), std::move(event), {}, nullptr, nullptr});
	pending->what = "NOTIFY from " +
			(from ? std::string(transportName(from->transport)) + ":" +
					 peerText(from->address, from->port)
			      : std::string("an unknown peer")) +
			" (Event: " +
			printable(headerValue(
				reinterpret_cast<const sip_header_t *>(sip->sip_event))) +
			")";

	if (!from || shuttingDown_) {
		respond(pending, failureReply({}));
		return;
	}
	// The request as nua holds it: the bytes received, with the
	// received= and rport= that nta adds to the topmost Via (nta.c,
	// agent_check_request_via()).
	SuHome home;
	size_t length = 0;
	const char *text = msg_as_string(home.get(), request, nullptr, 0, &length);
	if (!text) {
		respond(pending, failureReply({}));
		return;
	}
	const HandoffContext context = contextFor(*from, registration_);
	logMessage(LogLevel::Debug, "handing the " + pending->what + " over: " + describe(context));
	auto call = handoff_.handOver(
		std::string_view(text, length), context,
		[this, pending](const HandoffResult &result) { answer(pending, result); });
	if (auto *failure = std::get_if<HandoffFailure>(&call))
		answer(pending, *failure);
	else
		pending->call = std::move(std::get<std::unique_ptr<HandoffCall>>(call));
}

void UserAgent::answer(PendingList::iterator pending, const HandoffResult &result)
{
	if (const auto *failure = std::get_if<HandoffFailure>(&result)) {
		const Reply reply = failureReply(failure->error);
		logFailure("could not hand the " + pending->what + " over to checksyncd: " +
			   failureText(*failure) + "; answered " + std::to_string(reply.status));
		respond(pending, reply);
		return;
	}
	const auto &handed = std::get<HandoffAnswer>(result);
	std::variant<Reply, NoReply, BadAnswer> reply = replyFor(handed);
	if (std::holds_alternative<NoReply>(reply)) {
		logMessage(LogLevel::Debug, pending->what + ": checksyncd answers nothing");
		hold(pending);
		return;
	}
	if (const auto *bad = std::get_if<BadAnswer>(&reply)) {
		const Reply failed = failureReply({});
		logFailure("checksyncd's answer to the " + pending->what + " cannot be sent: " +
			   bad->why + "; answered " + std::to_string(failed.status));
		respond(pending, failed);
		return;
	}
	const Reply &ok = std::get<Reply>(reply);
	// One line per hand-over that checksyncd served; challenges and
	// refusals at debug level (checksyncd logs each with its reason).
	logMessage(ok.status < 300 ? LogLevel::Info : LogLevel::Debug,
		   pending->what + " handed over to checksyncd: " + std::to_string(ok.status) +
			   " " + printable(ok.reason));
	respond(pending, ok);
}

void UserAgent::respond(PendingList::iterator pending, const Reply &reply)
{
	nua_saved_event_t saved[1] = {pending->event.get()};
	// nua_respond() is a message to the stack, run from the loop later: it
	// copies the tags but keeps the phrase's pointer, and holds a reference
	// to the handle (nua_stack.c, nua_signal()). So the phrase is copied
	// into the handle's home, which outlives the message.
	nua_handle_t *nh = pending->handle.get();
	const char *phrase = su_strdup(nua_handle_home(nh), reply.reason.c_str());
	nua_respond(nh, reply.status, phrase, NUTAG_WITH_SAVED(saved),
		    TAG_IF(!reply.headers.empty(), SIPTAG_HEADER_STR(reply.headers.c_str())),
		    TAG_END());
	pending_.erase(pending);
}

void UserAgent::hold(PendingList::iterator pending)
{
	if (held_.size() >= kMaxHeld)
		held_.pop_front();
	held_.splice(held_.end(), pending_, pending);
	pending->hold = std::make_unique<Timer>(loop_);
	pending->hold->arm(kHoldMs, [this, pending] { held_.erase(pending); });
}

void UserAgent::logFailure(const std::string &line)
{
	const std::uint64_t now = EventLoop::nowMs();
	if (lastFailureLogMs_ != 0 && now - lastFailureLogMs_ < kFailureLogSpacingMs) {
		failuresNotLogged_++;
		return;
	}
	std::string text = line;
	if (failuresNotLogged_ > 0)
		text += " (and " + std::to_string(failuresNotLogged_) +
			" more failed hand-overs in the last minute)";
	logMessage(LogLevel::Warning, text);
	lastFailureLogMs_ = now;
	failuresNotLogged_ = 0;
}

void UserAgent::shutdown(std::function<void()> stopped)
{
	stopped_ = std::move(stopped);
	if (shuttingDown_)
		return;
	shuttingDown_ = true;
	retry_.cancel();
	while (!pending_.empty())
		respond(pending_.begin(), failureReply({}));
	held_.clear();
	shutdownTimeout_.arm(kShutdownMs, [this] {
		logMessage(LogLevel::Warning, "nua did not shut down in time");
		if (std::function<void()> stopped = std::exchange(stopped_, nullptr))
			stopped();
	});
	if (registerHandle_ && registration_.registrar)
		nua_unregister(registerHandle_.get(), TAG_END());
	else {
		registerHandle_.reset();
		nua_shutdown(nua_.get());
	}
}

} // namespace checksyncd::nua
