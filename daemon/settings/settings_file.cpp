// SPDX-License-Identifier: MIT
//
// The settings file read from disk: the descriptor and its checks here, on
// the loop side; the document itself is read by parseSettings()
// (common/settings/settings_reader.cpp).

#include "settings/settings_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <utility>

#include "base/text.hpp"
#include "base/unique_fd.hpp"
#include "loop/read_file.hpp"

namespace checksyncd {

LoadResult loadSettingsFile(const std::string &path)
{
	LoadResult result;
	const auto fail = [&](std::string message) {
		result.errors.push_back(SettingsError{path, 0, std::move(message)});
		return std::move(result);
	};

	// O_NONBLOCK: opening a FIFO must not wait for a writer.
	const UniqueFd fd{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)};
	if (!fd)
		return fail(errnoText(errno));
	struct stat st {
	};
	if (::fstat(fd.get(), &st) < 0)
		return fail(errnoText(errno));
	if (!S_ISREG(st.st_mode))
		return fail("not a regular file");
	if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0)
		result.warnings.push_back(
			path + ": readable or writable by other users; it holds SIP passwords");
	if (st.st_size < 0 || static_cast<std::uintmax_t>(st.st_size) > kMaxSettingsBytes)
		return fail("larger than 1 MiB");

	// The file may grow between fstat() and read(): read one byte more than
	// allowed to tell, and never more.
	std::string data;
	if (const int error = readUpTo(fd.get(), kMaxSettingsBytes + 1, data,
				       static_cast<std::size_t>(st.st_size) + 1);
	    error != 0)
		return fail(errnoText(error));
	if (data.size() > kMaxSettingsBytes)
		return fail("larger than 1 MiB");

	LoadResult parsed = parseSettings(data, path);
	parsed.warnings.insert(parsed.warnings.begin(), result.warnings.begin(),
			       result.warnings.end());
	return parsed;
}

} // namespace checksyncd
