#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# checksyncd's footprint budget, measured on the packages as they ship
# (docs/footprint.md):
#
#   sudo bench/footprint.sh [--quick] [--verbose] [--markdown FILE] [ARCH...]
#
# ARCH: amd64 (native), arm64, armhf (under qemu-user, the target's
# libraries from tools/cross-build's build root); default: amd64 arm64.
#
# amd64: builds the package (dpkg-buildpackage -b, without its tests) in a
# copy of the work tree. arm64/armhf: uses build-cross/checksyncd_*_ARCH.deb,
# running `tools/cross-build --no-test ARCH` first when it is missing.
# Then bench/footprint.py prints, per architecture: stripped binary size,
# Installed-Size, start to READY=1, idle wake-ups per minute over 60 s, and
# private memory idle, after 10 000 authenticated check-syncs (sipp at
# 120/s) and 35 s later, twice. About 6 minutes per architecture; --quick:
# 1 000 check-syncs, 10 s idle, 5 s settle, one load (1 minute). --verbose
# adds the private pages per class of mapping and per library.
#
# Everything runs on 127.0.0.1; every process started is stopped on exit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${CHECKSYNCD_CROSS_CACHE:-/var/cache/checksyncd-cross}
args=()
arches=()
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) args+=(--checksyncs 1000 --idle 10 --expire 5 --loads 1) ;;
	--verbose) args+=(--verbose) ;;
	--markdown) args+=(--markdown "$(realpath -m "$2")"); shift ;;
	amd64 | arm64 | armhf) arches+=("$1") ;;
	-h | --help) sed -n '4,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "footprint: unknown argument $1" >&2; exit 64 ;;
	esac
	shift
done
[ ${#arches[@]} -gt 0 ] || arches=(amd64 arm64)

"$repo/tools/install-deps"
for tool in dpkg-buildpackage:dpkg-dev dh:debhelper strip:binutils; do
	command -v "${tool%%:*}" >/dev/null || apt-get install -y -q --no-install-recommends "${tool#*:}"
done

work=$(mktemp -d /tmp/csd-footprint-XXXXXX)
trap 'rm -rf "$work"' EXIT

# The provisioning stand-in is a test peer, not measured: native everywhere.
g++ -std=c++20 -O2 -o "$work/provisioning-standin" "$repo/test/provisioning_standin.cpp" \
	$(pkg-config --cflags --libs libsystemd)

version=$(dpkg-parsechangelog -l "$repo/debian/changelog" -SVersion)
for arch in "${arches[@]}"; do
	emulator=()
	case "$arch" in
	amd64)
		mkdir -p "$work/src"
		(cd "$repo" && git ls-files -z --cached --others --exclude-standard |
			tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$work/src"
		echo "footprint: building the amd64 package (log $work/build.log)"
		(cd "$work/src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 ||
			{ tail -n 30 "$work/build.log"; exit 1; }
		deb=$work/checksyncd_${version}_amd64.deb
		;;
	arm64 | armhf)
		deb=$repo/build-cross/checksyncd_${version}_$arch.deb
		[ -f "$deb" ] && [ -d "$cache/$arch" ] || "$repo/tools/cross-build" --no-test "$arch"
		qemu=qemu-aarch64-static
		[ "$arch" = armhf ] && qemu=qemu-arm-static
		emulator=(--emulator "$qemu -L $cache/$arch")
		;;
	esac
	python3 "$repo/bench/footprint.py" --deb "$deb" --standin "$work/provisioning-standin" \
		--label "$arch" "${emulator[@]}" "${args[@]}"
done
