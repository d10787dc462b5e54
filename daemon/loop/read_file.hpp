// SPDX-License-Identifier: MIT
//
// A small file read whole, with a bound: the settings file, the state file
// of sources that authenticated before, resolv.conf. One loop instead of
// three, and no iostreams (an ifstream brings its locale and buffer code
// into the binary).

#pragma once

#include <cstddef>
#include <string>

namespace checksyncd {

// Read from `fd` until end of file or until `limit` bytes are in `data`
// (replaced), retrying on EINTR. `sizeHint` (the file's size from fstat, or
// 0) is the first buffer's size; it grows by doubling, never past `limit`.
// Returns 0, or the errno of the read that failed (`data` then holds what
// came before it).
int readUpTo(int fd, std::size_t limit, std::string &data, std::size_t sizeHint = 0);

} // namespace checksyncd
