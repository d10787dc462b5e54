#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The daemon's binary as the package builds it (docs/footprint.md): a
# snapshot of the sources configured with meson as dh_auto_configure does
# (--buildtype=plain, the flags dpkg-buildflags gives under debian/rules'
# exports: -Os, link-time optimisation, the hardening flags), tests off as
# in a nocheck build, stripped as dh_strip strips an executable. Prints the
# stripped size and its sections. About two minutes on two cores.
#
#   bench/binary-size.sh [--source worktree|REV] [--files N] [--symbols N]
#                        [--objects N] [--keep DIR]
#
# --source: the work tree as it is (default: tracked and new files), or a
#   commit (git archive).
# --files N: the N source files with the most code in the linked binary,
#   each function counted in the file of its first instruction (after
#   link-time inlining: a function inlined into another counts where it
#   was inlined; template code counts in the header that defines it).
# --symbols N: the N largest functions and objects of the linked binary.
# --objects N: a second build with the same flags but without link-time
#   optimisation, to attribute: the N object files with the most code and
#   data (.text, .rodata, .eh_frame, .gcc_except_table, .data.rel.ro),
#   before the linker folds the template instances they share.
# --keep DIR: build in DIR and keep it.
#
# Needs meson, ninja, dpkg-dev (dpkg-buildflags) and binutils. No root.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench="$repo/bench"
bench_name="binary-size"
# shellcheck source=bench/lib.sh
. "$bench/lib.sh"
source=worktree
files=0
symbols=0
objects=0
keep=""
while [ $# -gt 0 ]; do
	case "$1" in
	--source) source=$2; shift 2 ;;
	--files) files=$2; shift 2 ;;
	--symbols) symbols=$2; shift 2 ;;
	--objects) objects=$2; shift 2 ;;
	--keep) keep=$2; shift 2 ;;
	-h | --help) sed -n '4,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) bench_usage "unknown argument $1" ;;
	esac
done
for n in "$files" "$symbols" "$objects"; do
	[[ $n =~ ^[0-9]+$ ]] || bench_usage "--files, --symbols and --objects take a number"
done
bench_require "apt-get install meson ninja-build dpkg-dev binutils" \
	meson ninja dpkg-buildflags strip size nm addr2line c++filt

if [ -n "$keep" ]; then
	mkdir -p "$keep"
	work=$(cd "$keep" && pwd)
	rm -rf "$work/src" "$work/build" "$work/build-nolto"
else
	work=$(mktemp -d /tmp/csd-binary-size-XXXXXX)
	bench_cleanup_more() { rm -rf "$work"; }
fi
bench_snapshot "$work/src" "$source"

# debian/rules' exports, read from the snapshot's own debian/rules.
maint=()
while IFS= read -r line; do
	maint+=("$line")
done < <(sed -n 's/^export \(DEB_[A-Z_]*\) *[:?]\{0,1\}= *\(.*[^ ]\) *$/\1=\2/p' "$work/src/debian/rules")

# build DIR [MAINT-OPTIONS]: meson and ninja as dh_auto_configure and
# dh_auto_build run them, in a subshell so the flags stay there.
build() {
	local dir=$1 options=${2:-}
	(
		for assignment in "${maint[@]}"; do export "${assignment?}"; done
		[ -z "$options" ] || export DEB_BUILD_MAINT_OPTIONS="$options"
		eval "$(dpkg-buildflags --export=sh)"
		meson setup --buildtype=plain --prefix=/usr -Dtests=disabled "$dir" "$work/src" &&
			ninja -C "$dir" daemon/checksyncd
	) >"$dir.log" 2>&1 || { tail -n 30 "$dir.log" >&2; exit 1; }
}

build "$work/build"
binary=$work/build/daemon/checksyncd
# dh_strip on an executable.
strip --remove-section=.comment --remove-section=.note -o "$binary.stripped" "$binary"
bytes=$(stat -c %s "$binary.stripped")

echo "checksyncd as the package builds it: $revision, $(dpkg --print-architecture), $(c++ --version | head -1)"
echo "  flags: ${maint[*]}"
awk -v b="$bytes" 'BEGIN {
	printf "  stripped: %d bytes = %.1f KiB (goal <= 300 KiB)\n", b, b / 1024 }'
echo "  sections (bytes; the file also holds its segments' page alignment):"
size -A "$binary.stripped" | awk '
	$1 ~ /^\./ {
		if ($2 >= 1024) printf "    %-20s %8d\n", $1, $2
		else small += $2
	}
	END { printf "    %-20s %8d\n", "(the rest)", small }'

if [ "$files" -gt 0 ] || [ "$symbols" -gt 0 ]; then
	# Symbols with their sizes, one per address (aliases counted once).
	nm -S "$binary" | awk 'NF == 4 && $3 ~ /^[tTwWrRdDbB]$/ { print $1, $2, $3, $4 }' |
		sort -u -k1,1 >"$work/symbols"
fi
if [ "$files" -gt 0 ]; then
	echo "  code per source file (first instruction's line, after inlining; bytes):"
	awk '$3 ~ /^[tTwW]$/ { print $1, $2, $4 }' "$work/symbols" >"$work/text-symbols"
	awk '{ print "0x" $1 }' "$work/text-symbols" | addr2line -e "$binary" |
		paste -d' ' "$work/text-symbols" - | python3 -c '
import collections, os, sys
sizes = collections.Counter()
for line in sys.stdin:
    _, size, _, where = line.split(" ", 3)
    path = where.split(":")[0].strip()
    if "/c++/" in path:
        path = "libstdc++ headers: " + path.rsplit("/", 1)[-1]
    elif path.startswith("/usr/include"):
        path = "other headers"
    else:
        path = os.path.relpath(os.path.normpath(path), sys.argv[2]) if path.startswith("/") else path
    sizes[path] += int(size, 16)
total = sum(sizes.values())
for path, size in sizes.most_common(int(sys.argv[1])):
    print(f"    {size:8d} {100 * size / total:5.1f} %  {path}")
print(f"    {total:8d} in all")' "$files" "$work/src"
fi
if [ "$symbols" -gt 0 ]; then
	echo "  largest symbols (bytes, nm type):"
	sort -k2,2 -r "$work/symbols" | sed -n "1,${symbols}p" |
		while read -r _ size type name; do
			printf '    %8d %s  %s\n' "$((16#$size))" "$type" "$(echo "$name" | c++filt | cut -c1-110)"
		done
fi

if [ "$objects" -gt 0 ]; then
	# The same flags without -flto: object files with machine code in them.
	build "$work/build-nolto" "hardening=+all"
	echo "  per object file, built without link-time optimisation (bytes):"
	printf '    %8s %8s %8s %8s %8s %8s  %s\n' all .text .rodata .eh_frame except .rel.ro object
	find "$work/build-nolto" -name '*.o' -path '*checksyncd*' | while read -r object; do
		size -A "$object" | awk -v o="${object#"$work/build-nolto/"}" '
			$1 ~ /^\.text/ { t += $2 }
			$1 ~ /^\.rodata/ { r += $2 }
			$1 == ".eh_frame" { e += $2 }
			$1 ~ /^\.gcc_except_table/ { x += $2 }
			$1 ~ /^\.data\.rel\.ro/ { d += $2 }
			END { printf "%d %d %d %d %d %d %s\n", t + r + e + x + d, t, r, e, x, d, o }'
	done | sort -rn | sed -n "1,${objects}p" |
		awk '{ printf "    %8d %8d %8d %8d %8d %8d  %s\n", $1, $2, $3, $4, $5, $6, $7 }'
	strip --remove-section=.comment --remove-section=.note -o "$work/nolto.stripped" \
		"$work/build-nolto/daemon/checksyncd"
	echo "  (that build stripped: $(stat -c %s "$work/nolto.stripped") bytes)"
fi
[ -z "$keep" ] || echo "  kept: $work"
