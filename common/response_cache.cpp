// SPDX-License-Identifier: MIT

#include "response_cache.hpp"

namespace checksyncd {

void ResponseCache::remember(std::string_view key, int status, unsigned retryAfterS,
			     std::uint64_t nowMs)
{
	CachedAnswer &answer = entries_.get(key);
	answer.status = status;
	answer.retryAfterS = retryAfterS;
	answer.expiresMs = nowMs + kLifetimeMs;
}

std::optional<CachedAnswer> ResponseCache::lookup(std::string_view key, std::uint64_t nowMs)
{
	CachedAnswer *answer = entries_.find(key);
	if (!answer)
		return std::nullopt;
	if (nowMs >= answer->expiresMs) {
		entries_.erase(key);
		return std::nullopt;
	}
	return *answer;
}

std::string requestKey(std::string_view source, std::string_view branch, std::string_view callId,
		       std::uint32_t cseq, std::string_view method)
{
	std::string key;
	key.reserve(source.size() + branch.size() + callId.size() + method.size() + 16);
	key.append(source).push_back('\n');
	key.append(branch).push_back('\n');
	key.append(callId).push_back('\n');
	key.append(std::to_string(cseq)).push_back('\n');
	key.append(method);
	return key;
}

} // namespace checksyncd
