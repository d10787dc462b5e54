#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Build checksyncd for a benchmark from a snapshot of the sources, not in
# the work tree: others may edit the work tree while a build runs, and an
# incremental build that overlaps an edit can link objects compiled against
# two versions of a header (seen: a daemon that dies with std::bad_alloc at
# start). The snapshot is taken in milliseconds and built from scratch.
#
#   bench/build-snapshot.sh DIR [worktree|REV]
#
# worktree (default): the files git knows or would add (tracked and
# untracked, not ignored), as they are now; REV: that commit (git archive).
# Builds DIR/src/build/daemon/checksyncd with the project's default options
# (tests off) and the provisioning stand-in DIR/provisioning-standin, and
# prints the two paths, one a line.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench="$repo/bench"
bench_name="build-snapshot"
# shellcheck source=bench/lib.sh
. "$bench/lib.sh"
dir=${1:?usage: build-snapshot.sh DIR [worktree|REV]}
source=${2:-worktree}

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bench_snapshot "$dir/src" "$source"
[ "$source" != worktree ] || revision="$revision $(date -u +%FT%TZ)"
echo "$revision" >"$dir/REVISION"

meson setup "$dir/src/build" "$dir/src" -Dtests=disabled >"$dir/build.log" 2>&1 ||
	{ tail -20 "$dir/build.log" >&2; exit 1; }
ninja -C "$dir/src/build" daemon/checksyncd >>"$dir/build.log" 2>&1 ||
	{ tail -30 "$dir/build.log" >&2; exit 1; }
# shellcheck disable=SC2046
g++ -std=c++20 -O2 -I "$dir/src/common" -I "$dir/src/daemon" -o "$dir/provisioning-standin" "$dir/src/test/provisioning_standin.cpp" \
	$(pkg-config --cflags --libs libsystemd) >>"$dir/build.log" 2>&1 ||
	{ tail -20 "$dir/build.log" >&2; exit 1; }
echo "$dir/src/build/daemon/checksyncd"
echo "$dir/provisioning-standin"
