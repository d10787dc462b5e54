// SPDX-License-Identifier: MIT
//
// StringFrom() for the project's enums, so that CHECK_EQUAL on one says
// what came back ("expected <AuthResult::Ok> but was <AuthResult::Stale>")
// where CHECK(a == b) could only say that it was false.
//
// One template serves every enum: the name of an enumerator is read from
// the compiler's own spelling of a function template instantiated for it
// (__PRETTY_FUNCTION__, which GCC and clang both fill in with the
// template argument, "checksyncd::AuthResult::Ok"), for each value the
// enum's underlying type allows up to kMaxEnumValue; a value that is not
// an enumerator, or lies beyond, prints as "(AuthResult)9". No table to
// keep in step with the enums: a new enumerator is named at once.
//
// CppUTest's CHECK_EQUAL finds these by ordinary lookup (they are in the
// global namespace, as its own StringFrom overloads are).

#pragma once

#include <CppUTest/SimpleString.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "settings/settings.hpp"

namespace checksyncd::test {

// Values looked up by name: the project's enums count from 0 (LogLevel
// from 3, syslog's numbers) and none has more than a few dozen.
inline constexpr int kMaxEnumValue = 63;

// "checksyncd::ConnectionLimits::Reason::Idle" for Reason::Idle; for a
// value that names no enumerator, GCC and clang write a cast instead
// ("(checksyncd::AuthResult)9"), which is told by its parenthesis.
template<auto V>
constexpr std::string_view spelledTemplateArgument()
{
	constexpr std::string_view whole = __PRETTY_FUNCTION__;
	// GCC: "... [with auto V = checksyncd::AuthResult::Ok; ...]"
	// clang: "... [V = checksyncd::AuthResult::Ok]"
	constexpr std::size_t start = whole.find("V = ") + 4;
	constexpr std::size_t end = std::min(whole.find(';', start), whole.find(']', start));
	return whole.substr(start, end - start);
}

constexpr std::string_view withoutNamespaces(std::string_view name)
{
	for (const std::string_view prefix : {"checksyncd::test::", "checksyncd::"})
		if (name.starts_with(prefix))
			return name.substr(prefix.size());
	return name;
}

template<typename E>
constexpr int enumValueCount()
{
	using U = std::underlying_type_t<E>;
	constexpr auto highest = std::numeric_limits<U>::max();
	return static_cast<long long>(highest) < kMaxEnumValue ? static_cast<int>(highest) + 1
							       : kMaxEnumValue + 1;
}

template<typename E, std::size_t... I>
constexpr std::array<std::string_view, sizeof...(I)> enumeratorNames(std::index_sequence<I...>)
{
	return {withoutNamespaces(spelledTemplateArgument<static_cast<E>(I)>())...};
}

// The enumerator's name with its type ("AuthResult::Ok"), or the cast
// that stands for a value without one.
template<typename E>
std::string enumText(E value)
{
	static constexpr auto kNames = enumeratorNames<E>(
		std::make_index_sequence<static_cast<std::size_t>(enumValueCount<E>())>());
	const auto number = static_cast<long long>(value);
	if (number >= 0 && number < static_cast<long long>(kNames.size())) {
		const std::string_view name = kNames[static_cast<std::size_t>(number)];
		if (!name.starts_with('('))
			return std::string(name);
	}
	// The type's name from the first enumerator's spelling.
	std::string_view type = kNames[0];
	if (type.starts_with('('))
		type = type.substr(1, type.find(')') - 1);
	else
		type = type.substr(0, type.rfind("::"));
	return "(" + std::string(withoutNamespaces(type)) + ")" + std::to_string(number);
}

} // namespace checksyncd::test

template<typename E>
requires std::is_enum_v<E> SimpleString StringFrom(E value)
{
	return SimpleString(checksyncd::test::enumText(value).c_str());
}

template<typename E>
requires std::is_enum_v<E> SimpleString StringFrom(const std::optional<E> &value)
{
	return value ? StringFrom(*value) : SimpleString("nullopt");
}

template<typename E>
requires std::is_enum_v<E> SimpleString StringFrom(const std::vector<E> &values)
{
	SimpleString text = "{";
	for (std::size_t i = 0; i < values.size(); ++i) {
		if (i > 0)
			text += ", ";
		text += StringFrom(values[i]);
	}
	return text + "}";
}

// The packages of a checksync_events set, in their enum's order.
inline SimpleString StringFrom(const checksyncd::EventPackageSet &set)
{
	using checksyncd::EventPackage;
	SimpleString text = "{";
	bool first = true;
	for (int i = 0; i < 8; ++i) { // one bit each, in a byte
		const auto package = static_cast<EventPackage>(i);
		if (checksyncd::test::enumText(package).starts_with('(') || !set.contains(package))
			continue;
		if (!first)
			text += ", ";
		first = false;
		text += StringFrom(package);
	}
	return text + "}";
}
