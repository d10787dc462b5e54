// SPDX-License-Identifier: MIT

#include "filter/resolver_config.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

#include "base/text.hpp"

namespace checksyncd {

namespace {

constexpr unsigned kMaxTimeoutS = 30;
constexpr unsigned kMaxAttempts = 5;

// The first blank-separated word of `text`, and `text` after it.
std::string_view takeWord(std::string_view &text)
{
	text = trim(text);
	const std::size_t end = std::min(text.find_first_of(" \t"), text.size());
	const std::string_view word = text.substr(0, end);
	text.remove_prefix(end);
	return word;
}

// A decimal number and nothing else.
bool number(std::string_view text, unsigned &value)
{
	const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
	return error == std::errc() && end == text.data() + text.size();
}

void parseOptions(ResolverConfig &config, std::string_view options)
{
	for (std::string_view option = takeWord(options); !option.empty();
	     option = takeWord(options)) {
		const std::size_t colon = option.find(':');
		const std::string_view name = option.substr(0, colon);
		unsigned value = 0;
		const bool valued = colon != std::string_view::npos &&
				    number(option.substr(colon + 1), value);
		if (name == "timeout" && valued)
			config.timeoutS = std::clamp(value, 1U, kMaxTimeoutS);
		else if (name == "attempts" && valued)
			config.attempts = std::clamp(value, 1U, kMaxAttempts);
		else if (option == "rotate")
			config.rotate = true;
		else if (option == "no-rotate")
			config.rotate = false;
		else if (option == "edns0")
			config.edns = Edns::On;
		else if (option == "no-edns0")
			config.edns = Edns::Off;
	}
}

} // namespace

std::uint64_t ResolverConfig::waitAfterMs(std::size_t k) const
{
	const std::size_t round = std::min<std::size_t>(k / servers.size(), 4);
	return std::uint64_t{timeoutS} * 1000 << round;
}

ResolverConfig parseResolverConfig(std::string_view resolvConf, std::string_view resOptions,
				   std::string_view sresOptions)
{
	ResolverConfig config;
	std::vector<IpAddress> addresses;
	std::uint16_t port = 53;
	while (!resolvConf.empty()) {
		const std::size_t newline = std::min(resolvConf.find('\n'), resolvConf.size());
		std::string_view line = resolvConf.substr(0, newline);
		resolvConf.remove_prefix(std::min(newline + 1, resolvConf.size()));
		line = line.substr(0, std::min(line.find_first_of("#;"), line.size()));
		const std::string_view keyword = takeWord(line);
		if (keyword == "nameserver") {
			const std::optional<IpAddress> address = IpAddress::parse(takeWord(line));
			if (address && addresses.size() < kMaxDnsServers)
				addresses.push_back(*address);
		} else if (keyword == "port") {
			unsigned value = 0;
			if (number(takeWord(line), value) && value > 0 && value <= 65535)
				port = static_cast<std::uint16_t>(value);
		} else if (keyword == "options") {
			parseOptions(config, line);
		}
	}
	parseOptions(config, resOptions);
	parseOptions(config, sresOptions);
	if (addresses.empty())
		addresses.push_back(*IpAddress::parse("127.0.0.1"));
	for (const IpAddress &address : addresses)
		config.servers.push_back({address, port});
	return config;
}

} // namespace checksyncd
