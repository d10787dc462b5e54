// SPDX-License-Identifier: MIT
//
// Which inbound TCP connections to keep (docs/security.md, "Floods"): at
// most `total` open, at most `perSource` from one source, none without a
// complete request `firstRequestMs` after it opened or `idleMs` after its
// last one. The caller reports the connections it sees (update()) and the
// requests they carry (requestSeen()), and closes what it is told to; this
// unit only decides, with the clock passed in.
//
// Requests, not bytes: a peer that sends nothing, or trickles a request a
// byte at a time, holds its place no longer than one that sends nothing.
//
// A newcomer is always let in, and room is made by closing an older
// connection instead: refusing newcomers would let whoever filled the table
// first keep the PBX out for good, while closing the oldest connection of
// the source that holds the most lets a PBX with one or two connections in
// even while others hold the rest. A source over its own cap loses its own
// oldest connection: a PBX that opens one connection per NOTIFY and never
// closes them is still served on the newest.
//
// What goes first is what has proven least (Rank, from the caller's
// Trust of each source and the requests seen): a connection that never
// carried a request the source filter lets in, then one that did, and
// only when nothing else is left one from a source that authenticated
// before or that the filter names. So an attacker churning connections
// from many sources (each holding one, as a PBX does) pushes out its own
// oldest, never the PBX's.
//
// Sources are SourcePrefix values (common/base/source_address.hpp), as for the
// brute-force table: IPv4 addresses (also when IPv4-mapped) and IPv6 /64
// prefixes, since one IPv6 host commonly owns a whole /64 and counting its
// single addresses would not bound it.

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/source_address.hpp"

namespace checksyncd {

class ConnectionLimits
{
public:
	using Id = std::uint64_t;

	struct Limits {
		std::size_t total;
		std::size_t perSource;
		std::uint64_t firstRequestMs;
		std::uint64_t idleMs;
	};

	// What the caller knows of a connection's source, now.
	enum class Trust : unsigned char {
		Filtered, // the source filter lets none of its requests in
		Allowed,  // the filter lets its requests in (or is off)
		Kept,     // it authenticated before, or the filter names it
	};

	struct Seen {
		Id id;
		SourcePrefix source;
		Trust trust = Trust::Allowed;
	};

	enum class Reason {
		SourceFull, // its source had perSource open: its own least proven
			    // oldest goes
		TableFull,  // total open: the least proven, largest holder's oldest
			    // goes
		NoRoom,     // total or perSource is 0
		NoRequest,  // no complete request within firstRequestMs
		Idle,       // no request for idleMs since the last one
		Shed,       // shed(): descriptors ran out
	};

	struct Close {
		Id id;
		Reason reason;
	};

	explicit ConnectionLimits(Limits limits);

	// `open` is every connection open now, oldest first as far as the
	// caller knows. Forgets what is gone, takes in what is new, and returns
	// what to close now (over a limit, or past its time). What it
	// returns is not counted again while it stays in `open`.
	std::vector<Close> update(std::span<const Seen> open, std::uint64_t nowMs);

	// A complete request arrived on connection `id` (unknown ids are
	// ignored: the caller reports the connection with update() first).
	void requestSeen(Id id, std::uint64_t nowMs);

	bool contains(Id id) const;

	// Descriptors ran out: the connection to give up first (as for a full
	// table), or nullopt when none is open.
	std::optional<Close> shed();

	// When update() should next be called to close a connection that is
	// still waiting for a request then; nullopt with no connection open.
	std::optional<std::uint64_t> nextExpiryMs() const;

	const Limits &limits() const { return limits_; }
	std::size_t size() const { return open_.size(); }
	// Told to close, not yet gone from what update() was given.
	std::size_t closing() const { return closing_.size(); }
	std::size_t countOf(const SourcePrefix &source) const;

private:
	// The order in which connections make room, lowest first.
	enum class Rank : unsigned char {
		Unproven,       // no request its source filter lets in
		CarriedRequest, // a request the filter lets in
		Kept,           // Trust::Kept
	};

	struct Entry {
		Id id;
		SourcePrefix source;
		std::uint64_t sinceMs; // first seen
		std::optional<std::uint64_t> lastRequestMs;
		Trust trust = Trust::Allowed; // as of the last update()

		Rank rank() const
		{
			if (trust == Trust::Kept)
				return Rank::Kept;
			return trust == Trust::Allowed && lastRequestMs ? Rank::CarriedRequest
									: Rank::Unproven;
		}

		std::uint64_t deadlineMs(const Limits &limits) const
		{
			return lastRequestMs ? *lastRequestMs + limits.idleMs
					     : sinceMs + limits.firstRequestMs;
		}
	};

	// open_ is in order of admission, so the first match is the oldest.
	// Among the connections of the lowest rank there is (of `source`'s
	// own when given), the oldest of the source that holds the most.
	std::vector<Entry>::iterator victim(const SourcePrefix *source = nullptr);
	Close close(std::vector<Entry>::iterator entry, Reason reason);
	Entry *find(Id id);

	Limits limits_;
	std::vector<Entry> open_;
	std::vector<Id> closing_; // told to close, still reported open
};

} // namespace checksyncd
