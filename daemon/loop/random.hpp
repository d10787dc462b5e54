// SPDX-License-Identifier: MIT
//
// The per-process keys (nonces, request keys, DNS query IDs) from the
// kernel's CSPRNG: the loop side makes them and passes them in, so the
// pure side never reads the kernel.

#pragma once

#include <cstddef>

namespace checksyncd {

// Fill `data` from the kernel's CSPRNG (getrandom); throws
// std::system_error when it cannot deliver.
void fillRandom(unsigned char *data, std::size_t size);

// A key of type `Key` (a std::array of bytes) from fillRandom().
template<class Key>
Key randomKey()
{
	Key key{};
	fillRandom(key.data(), key.size());
	return key;
}

} // namespace checksyncd
