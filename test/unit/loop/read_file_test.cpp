// SPDX-License-Identifier: MIT

#include <CppUTest/TestHarness.h>

#include <cerrno>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include "base/unique_fd.hpp"
#include "loop/read_file.hpp"

using namespace checksyncd;

namespace {

// A pipe holding `text`, its write end closed: a read sees end of file
// after it, as at the end of a regular file.
UniqueFd pipeWith(const std::string &text)
{
	int fds[2];
	if (pipe(fds) != 0)
		FAIL("pipe");
	UniqueFd in(fds[0]);
	UniqueFd out(fds[1]);
	CHECK_EQUAL(static_cast<ssize_t>(text.size()), write(out.get(), text.data(), text.size()));
	return in;
}

} // namespace

TEST_GROUP(ReadFile){};

TEST(ReadFile, readsToTheEndGrowingPastASmallHint)
{
	std::string text;
	for (int i = 0; i < 1000; i++)
		text += "nameserver 127.0.0." + std::to_string(i % 250) + "\n";
	UniqueFd fd = pipeWith(text.substr(0, 60000));
	std::string data = "left from before";
	CHECK_EQUAL(0, readUpTo(fd.get(), 1 << 20, data, 16));
	STRCMP_EQUAL(text.substr(0, 60000).c_str(), data.c_str());
}

TEST(ReadFile, stopsAtTheLimit)
{
	UniqueFd fd = pipeWith(std::string(5000, 'x') + "tail");
	std::string data;
	CHECK_EQUAL(0, readUpTo(fd.get(), 5000, data));
	CHECK_EQUAL(5000u, data.size());
	CHECK_EQUAL(std::string::npos, data.find("tail"));
}

TEST(ReadFile, anEmptyFileIsEmpty)
{
	UniqueFd fd = pipeWith("");
	std::string data = "old";
	CHECK_EQUAL(0, readUpTo(fd.get(), 100, data, 0));
	CHECK_TRUE(data.empty());
}

TEST(ReadFile, aFailedReadGivesItsErrno)
{
	UniqueFd fd(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	CHECK_TRUE(fd.get() >= 0);
	std::string data;
	CHECK_EQUAL(EISDIR, readUpTo(fd.get(), 100, data));
	CHECK_EQUAL(EBADF, readUpTo(-1, 100, data));
}
