// SPDX-License-Identifier: MIT
//
// A file descriptor that closes itself: the fd member of the RAII family
// (sofia.hpp: msg_t and su_home; openssl.hpp, sdbus.hpp, xml.hpp).

#pragma once

#include <unistd.h>

#include <utility>

namespace checksyncd {

class UniqueFd
{
public:
	UniqueFd() noexcept = default;
	explicit UniqueFd(int fd) noexcept : fd_(fd) {}
	~UniqueFd() { reset(); }
	UniqueFd(UniqueFd &&other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
	UniqueFd &operator=(UniqueFd &&other) noexcept
	{
		if (this != &other)
			reset(std::exchange(other.fd_, -1));
		return *this;
	}
	UniqueFd(const UniqueFd &) = delete;
	UniqueFd &operator=(const UniqueFd &) = delete;

	int get() const noexcept { return fd_; }
	explicit operator bool() const noexcept { return fd_ >= 0; }

	// Close the descriptor held (if any) and hold `fd` instead.
	void reset(int fd = -1) noexcept
	{
		if (fd_ >= 0)
			(void)::close(fd_);
		fd_ = fd;
	}
	int release() noexcept { return std::exchange(fd_, -1); }

private:
	int fd_ = -1;
};

} // namespace checksyncd
