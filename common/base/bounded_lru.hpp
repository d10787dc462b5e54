// SPDX-License-Identifier: MIT
//
// A map with a fixed maximum size that forgets its least recently used
// entry to make room: the shape of every table that network traffic can
// fill. Keys are fixed-size byte arrays (a keyed hash of a request, an
// address prefix), never text from the wire, so the table is bounded in
// bytes as well as in entries: capacity * (key + value + two list links +
// one index node), all counted by bytesBound(). Lookups do not allocate;
// an insert allocates one node and, at capacity, frees one.

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <list>
#include <unordered_map>
#include <utility>

namespace checksyncd {

template<std::size_t N>
using ByteKey = std::array<std::uint8_t, N>;

// FNV-1a over the key's bytes. The keys are keyed hashes or address
// prefixes in a table of bounded size: an attacker who collides them only
// makes a bounded bucket longer.
struct ByteKeyHash {
	template<std::size_t N>
	std::size_t operator()(const ByteKey<N> &key) const
	{
		std::uint64_t hash = 14695981039346656037ull;
		for (std::uint8_t byte : key)
			hash = (hash ^ byte) * 1099511628211ull;
		return static_cast<std::size_t>(hash);
	}
};

template<typename Key, typename Value, typename Hash = ByteKeyHash>
class BoundedLru
{
public:
	explicit BoundedLru(std::size_t capacity) : capacity_(capacity)
	{
		index_.reserve(capacity);
	}

	// The entry for key, made most recently used; nullptr when absent.
	Value *find(const Key &key)
	{
		auto it = index_.find(key);
		if (it == index_.end())
			return nullptr;
		order_.splice(order_.begin(), order_, it->second);
		return &it->second->second;
	}

	// The entry for key without touching the order; nullptr when absent.
	const Value *peek(const Key &key) const
	{
		auto it = index_.find(key);
		return it == index_.end() ? nullptr : &it->second->second;
	}

	// The entry for key, created (evicting the least recently used entry
	// at capacity) when absent.
	Value &get(const Key &key)
	{
		if (Value *value = find(key))
			return *value;
		if (order_.size() >= capacity_) {
			index_.erase(order_.back().first);
			order_.pop_back();
		}
		order_.emplace_front(key, Value{});
		index_.emplace(key, order_.begin());
		return order_.front().second;
	}

	// Add key as the least recently used entry (the next to be evicted),
	// without evicting anything: nullptr when it is present already or
	// the table is full. For restoring an order from elsewhere.
	Value *addOldest(const Key &key)
	{
		if (order_.size() >= capacity_ || index_.count(key))
			return nullptr;
		order_.emplace_back(key, Value{});
		index_.emplace(key, std::prev(order_.end()));
		return &order_.back().second;
	}

	// Whether key is the most recently used entry.
	bool isNewest(const Key &key) const
	{
		return !order_.empty() && order_.front().first == key;
	}

	void erase(const Key &key)
	{
		auto it = index_.find(key);
		if (it == index_.end())
			return;
		auto node = it->second;
		index_.erase(it);
		order_.erase(node);
	}

	// Entries from the most recently used on.
	template<typename F>
	void forEach(F &&f) const
	{
		for (const auto &[key, value] : order_)
			f(key, value);
	}

	// The least recently used entry (the next to be evicted); nullptr
	// when empty.
	const Value *oldest() const { return order_.empty() ? nullptr : &order_.back().second; }

	std::size_t size() const { return order_.size(); }
	std::size_t capacity() const { return capacity_; }

	// An upper bound of the heap this table can hold when full: list
	// nodes, index nodes (key, iterator, cached hash, next link) and the
	// bucket array.
	std::size_t bytesBound() const
	{
		constexpr std::size_t listNode = sizeof(Node) + 2 * sizeof(void *);
		constexpr std::size_t indexNode = sizeof(Key) +
						  sizeof(typename std::list<Node>::iterator) +
						  2 * sizeof(void *);
		return capacity_ * (listNode + indexNode) + index_.bucket_count() * sizeof(void *);
	}

private:
	using Node = std::pair<Key, Value>;
	std::size_t capacity_;
	std::list<Node> order_; // most recently used first
	std::unordered_map<Key, typename std::list<Node>::iterator, Hash> index_;
};

} // namespace checksyncd
