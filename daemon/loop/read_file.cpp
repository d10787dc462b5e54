// SPDX-License-Identifier: MIT

#include "loop/read_file.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace checksyncd {

int readUpTo(int fd, std::size_t limit, std::string &data, std::size_t sizeHint)
{
	constexpr std::size_t kFirstRead = 4096;
	data.resize(std::min(limit, std::max(sizeHint, kFirstRead)));
	std::size_t used = 0;
	int error = 0;
	while (used < limit) {
		if (used == data.size())
			data.resize(std::min(limit, data.size() * 2));
		const ssize_t n = ::read(fd, data.data() + used, data.size() - used);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			error = errno;
			break;
		}
		if (n == 0)
			break;
		used += static_cast<std::size_t>(n);
	}
	data.resize(used);
	return error;
}

} // namespace checksyncd
