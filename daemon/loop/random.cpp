// SPDX-License-Identifier: MIT

#include "loop/random.hpp"

#include <sys/random.h>

#include <cerrno>
#include <system_error>

namespace checksyncd {

// The kernel's CSPRNG, which also seeds OpenSSL's: RAND_bytes() would
// instantiate OpenSSL's DRBG for these 32 bytes read once, and with it an
// AES-256-CTR context and the provider's cipher store, about 140 KiB of heap
// kept for the life of the process (docs/footprint.md). Like RAND_bytes(),
// getrandom() waits only until the kernel's pool is first initialised.
void fillRandom(unsigned char *data, std::size_t size)
{
	std::size_t filled = 0;
	while (filled < size) {
		ssize_t n = getrandom(data + filled, size - filled, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			throw std::system_error(errno, std::generic_category(), "getrandom");
		}
		filled += static_cast<std::size_t>(n);
	}
}

} // namespace checksyncd
