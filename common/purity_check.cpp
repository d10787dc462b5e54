// SPDX-License-Identifier: MIT
//
// Links the whole pure library with nothing but its own dependencies
// (common/meson.build): nothing to run.

int main()
{
	return 0;
}
