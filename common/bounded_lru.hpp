// SPDX-License-Identifier: MIT
//
// A map with a fixed maximum size that forgets its least recently used
// entry to make room: the shape of every table that network traffic can
// fill. Lookups do not allocate; an insert allocates one node and, at
// capacity, frees one.

#pragma once

#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace checksyncd {

template<typename Value>
class BoundedLru
{
public:
	explicit BoundedLru(std::size_t capacity)
		: capacity_(capacity)
	{
		index_.reserve(capacity);
	}

	// The entry for key, made most recently used; nullptr when absent.
	Value *find(std::string_view key)
	{
		auto it = index_.find(key);
		if (it == index_.end())
			return nullptr;
		order_.splice(order_.begin(), order_, it->second);
		return &it->second->second;
	}

	// The entry for key, created (evicting the least recently used entry
	// at capacity) when absent.
	Value &get(std::string_view key)
	{
		if (Value *value = find(key))
			return *value;
		if (order_.size() >= capacity_) {
			index_.erase(std::string_view(order_.back().first));
			order_.pop_back();
		}
		order_.emplace_front(std::string(key), Value{});
		index_.emplace(std::string_view(order_.front().first), order_.begin());
		return order_.front().second;
	}

	void erase(std::string_view key)
	{
		auto it = index_.find(key);
		if (it == index_.end())
			return;
		auto node = it->second;
		index_.erase(it);
		order_.erase(node);
	}

	// fn(key, value) for every entry, most recently used first; does not
	// change the order.
	template<typename Fn>
	void forEach(Fn fn) const
	{
		for (const Node &node : order_)
			fn(std::string_view(node.first), node.second);
	}

	std::size_t size() const { return order_.size(); }
	std::size_t capacity() const { return capacity_; }

private:
	using Node = std::pair<std::string, Value>;
	std::size_t capacity_;
	std::list<Node> order_; // most recently used first
	// Keys view the strings owned by the list nodes (stable addresses).
	std::unordered_map<std::string_view, typename std::list<Node>::iterator> index_;
};

} // namespace checksyncd
