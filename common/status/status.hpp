// SPDX-License-Identifier: MIT
//
// What checksyncd's own D-Bus object (org.checksyncd.CheckSync1, checksyncd(8)
// "Status object") shows, and which of it changed since the last
// PropertiesChanged signal: the state, the settings file and its newest
// refusal, the listen URIs, the last check-sync and how it ended, the
// counters, and the sources locked out now. Pure: the clocks are passed in.
//
// The SIP side reports through StatusSink and is asked through StatusFeed,
// so that neither it nor this model knows about D-Bus.

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/failure_table.hpp"
#include "pnp/pnp.hpp"

namespace checksyncd {

enum class ServiceState : unsigned char {
	Serving,    // good settings in force (maybe not the newest file: SettingsError)
	NoSettings, // no good settings ever loaded: check-syncs are answered 503
	Stopping,   // SIGTERM or SIGINT received
};

std::string_view stateName(ServiceState state); // "serving", "no-settings", "stopping"

enum class Property : unsigned char {
	State,
	SettingsFile,
	SettingsError,
	Listening,
	LastCheckSync,
	Counters,
	LockedOut,
	PlugAndPlay,
};

inline constexpr std::size_t kPropertyCount = 8;

std::string_view propertyName(Property property); // the D-Bus name, "State", ...

struct Counters {
	std::uint64_t received = 0;        // SIP requests, retransmissions included
	std::uint64_t served = 0;          // check-syncs answered 200
	std::uint64_t challenged = 0;      // answers 401
	std::uint64_t authFailures = 0;    // answers with wrong credentials
	std::uint64_t refused = 0;         // other answers >= 300: 403, 404, 400, 405, 489, 503
	std::uint64_t lockedOut = 0;       // sources locked out now (a level, not a count)
	std::uint64_t droppedByFilter = 0; // requests the source filter dropped unanswered
	std::uint64_t handedOver = 0;      // requests the phone's SIP UA handed over
	// Of droppedByFilter, the ones the kernel's socket filter dropped
	// before the daemon read them (daemon/filter/socket_filter.hpp).
	std::uint64_t droppedInKernel = 0;
	// Datagrams the kernel shed while the daemon was overloaded: from
	// sources that neither authenticated before nor are the filter's.
	std::uint64_t shed = 0;
	std::uint64_t silenced = 0; // answers held back from unproven sources

	bool operator==(const Counters &) const = default;
};

inline constexpr std::size_t kCounterCount = 11;

// The counters under their D-Bus keys ("received", "served", "challenged",
// "auth_failures", "refused", "locked_out", "dropped_by_filter",
// "handed_over", "dropped_in_kernel", "shed", "silenced").
std::array<std::pair<std::string_view, std::uint64_t>, kCounterCount>
counterEntries(const Counters &counters);

// Whether and how the provisioning process took a check-sync.
enum class Provisioning : unsigned char {
	NotAsked, // challenged or refused: no D-Bus call
	Accepted, // the call returned (or a trailing call will cover it)
	Failed,   // error, no answer in time, not connected: answered 503
};

std::string_view provisioningName(Provisioning value); // "not-asked", "accepted", "failed"

// A check-sync NOTIFY that was answered, as the SIP side reports it. The
// views need to live only for the call.
struct CheckSyncReport {
	std::string_view remote;    // "udp:192.0.2.1:5060"
	std::string_view transport; // "udp", "tcp", "tls", "ws", "wss"
	bool handedOver = false;    // by the phone's SIP UA, not on the port
	std::string_view callId;    // network text
	std::string_view event;     // the raw Event header value, network text
	std::string_view action;    // "Resync", "Reboot"; empty when none was decided
	unsigned identity = 0;      // idx, 0 if none
	bool authenticated = false;
	unsigned sipStatus = 0;
	Provisioning provisioning = Provisioning::NotAsked;
	std::string_view provisioningError; // D-Bus error name or reason when Failed
};

// How the provisioning process says an action ended (ActionFinished).
struct ActionResult {
	bool success = false;
	std::string message;
	std::uint64_t timeUs = 0; // CLOCK_REALTIME
};

// Plug and play, as the PnP service reports it (PlugAndPlay).
struct PlugAndPlayStatus {
	PnpState state = PnpState::Idle;
	std::string lastServer;           // e.g. udp:192.0.2.1:5060; empty before the first
	std::string lastUrl;              // the last URL handed over; empty before the first
	std::uint64_t droppedOffLink = 0; // datagrams not from a round's link, dropped

	bool operator==(const PlugAndPlayStatus &) const = default;
};

struct LastCheckSync {
	bool seen = false;        // false until the first check-sync
	std::uint64_t timeUs = 0; // CLOCK_REALTIME, when it was answered
	std::string remote;
	std::string transport;
	bool handedOver = false;
	std::string callId;
	std::string event;
	std::string action;
	unsigned identity = 0;
	bool authenticated = false;
	unsigned sipStatus = 0;
	Provisioning provisioning = Provisioning::NotAsked;
	std::string provisioningError;
	std::optional<ActionResult> result;
};

// Which properties changed, and when the next PropertiesChanged may go
// out: at once after a quiet spell, then at most one per kMinIntervalMs,
// whatever the traffic (a flood changes the counters with every datagram,
// the signal carries them four times a second).
class ChangeTracker
{
public:
	static constexpr std::uint64_t kMinIntervalMs = 250;

	void mark(Property property) { dirty_ |= bit(property); }
	bool pending() const { return dirty_ != 0; }
	bool marked(Property property) const { return (dirty_ & bit(property)) != 0; }

	// When the next signal is due: nullopt when nothing changed, else
	// nowMs or the end of the interval since the last one.
	std::optional<std::uint64_t> dueAt(std::uint64_t nowMs) const;

	// The changed properties, in Property order, for a signal sent at
	// nowMs; forgets them. Empty (and no signal counted) when none changed.
	std::vector<Property> take(std::uint64_t nowMs);

private:
	static unsigned bit(Property property) { return 1u << static_cast<unsigned>(property); }

	unsigned dirty_ = 0;
	std::optional<std::uint64_t> lastSentMs_;
};

// A monotonic time in milliseconds as CLOCK_REALTIME microseconds (the unit
// of systemd's *Timestamp properties), given both clocks now.
std::uint64_t realtimeUsOf(std::uint64_t monotonicMs, std::uint64_t nowMs,
			   std::uint64_t nowRealtimeUs);

// How a request arrived.
enum class Arrival : bool {
	Port,       // on checksyncd's own SIP port
	HandedOver, // from the phone's SIP UA (org.checksyncd.Handoff1)
};

// What a counted answer answered.
enum class AnswerTo : bool {
	OtherRequest, // OPTIONS, a NOTIFY of another event, ...
	CheckSync,
};

// How the provisioning process says an action ended (ActionFinished's
// success).
enum class ActionOutcome : bool {
	Failed,
	Succeeded,
};

class StatusModel
{
public:
	// Network text (Call-ID, Event) and text from the provisioning
	// process is kept as printable UTF-8 of at most this many bytes.
	static constexpr std::size_t kMaxTextBytes = 256;

	void setState(ServiceState state);
	void setSettings(std::string_view file, std::string_view error);
	void setListening(std::vector<std::string> uris);

	void countReceived(Arrival arrival);
	// 401: challenged; other >= 300: refused; 2xx to a check-sync: served.
	void countAnswer(unsigned sipStatus, AnswerTo request);
	void countAuthFailure();
	void countDroppedByFilter();
	// The kernel dropped `filtered` datagrams for the source filter and
	// shed `shed` for overload.
	void countDroppedInKernel(std::uint64_t filtered, std::uint64_t shed);
	void countSilenced();

	void checkSyncAnswered(const CheckSyncReport &report, std::uint64_t timeUs);

	// The provisioning process's ActionFinished: shown in LastCheckSync
	// when it is about the same Call-ID; returns whether it was.
	bool actionFinished(std::string_view callId, ActionOutcome outcome,
			    std::string_view message, std::uint64_t timeUs);

	// Plug and play's state, its last server and the last URL handed
	// over (network text: kept printable, the URL up to kPnpMaxUrlBytes),
	// and how many datagrams it dropped as not from a round's link.
	void setPlugAndPlay(PnpState state, std::string_view lastServer, std::string_view lastUrl,
			    std::uint64_t droppedOffLink);

	// The sources locked out now (any order; kept sorted by source).
	void setLockouts(std::vector<Lockout> lockouts);
	// When the first of them expires (monotonic ms); nullopt when none.
	std::optional<std::uint64_t> nextExpiryMs() const;

	ServiceState state() const { return state_; }
	const std::string &settingsFile() const { return settingsFile_; }
	const std::string &settingsError() const { return settingsError_; }
	const std::vector<std::string> &listening() const { return listening_; }
	const LastCheckSync &lastCheckSync() const { return last_; }
	const Counters &counters() const { return counters_; }
	const std::vector<Lockout> &lockouts() const { return lockouts_; }
	const PlugAndPlayStatus &plugAndPlay() const { return pnp_; }

	ChangeTracker &changes() { return changes_; }

private:
	ServiceState state_ = ServiceState::NoSettings;
	std::string settingsFile_;
	std::string settingsError_;
	std::vector<std::string> listening_;
	LastCheckSync last_;
	Counters counters_;
	std::vector<Lockout> lockouts_;
	PlugAndPlayStatus pnp_;
	ChangeTracker changes_;
};

// What the SIP side reports; SipService holds one (or nullptr).
class StatusSink
{
public:
	virtual ~StatusSink() = default;

	// Every request, on arrival.
	virtual void received(Arrival arrival) = 0;
	// Every final answer but a retransmission's.
	virtual void answered(unsigned sipStatus, AnswerTo request) = 0;
	// Every answer with wrong credentials.
	virtual void authenticationFailed() = 0;
	// Every request the source filter drops without an answer.
	virtual void droppedByFilter() = 0;
	// Datagrams the kernel dropped for the source filter, and shed while
	// the daemon was overloaded, since the last call.
	virtual void droppedInKernel(std::uint64_t filtered, std::uint64_t shed) = 0;
	// Every answer held back from a source that has not proven itself.
	virtual void silenced() = 0;
	// Every check-sync answered (a retransmission's answer aside).
	virtual void checkSyncAnswered(const CheckSyncReport &report) = 0;
};

// What the status object asks the SIP side; Instance (daemon/instance.hpp)
// answers it from SipService.
class StatusFeed
{
public:
	virtual ~StatusFeed() = default;

	// The sources refused now, and until when (monotonic ms).
	virtual std::vector<Lockout> lockedOut(std::uint64_t nowMs) = 0;
	// Lift a source's lockout; false when it is not locked out.
	virtual bool unlock(std::string_view source) = 0;
};

} // namespace checksyncd
