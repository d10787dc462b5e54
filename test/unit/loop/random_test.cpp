// SPDX-License-Identifier: MIT

#include <CppUTest/TestHarness.h>

#include <array>

#include "loop/random.hpp"

using namespace checksyncd;

TEST_GROUP(Random){};

TEST(Random, keysDiffer)
{
	using Key = std::array<unsigned char, 32>;
	const Key first = randomKey<Key>();
	CHECK_TRUE(first != randomKey<Key>());
	CHECK_TRUE(first != Key{});
}
