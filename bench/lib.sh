# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034,SC2154 # sets and reads the sourcing script's variables
#
# What the shell benchmarks share, sourced by them (never run): the list of
# processes stopped at exit, the scenario table, the build of a snapshot,
# the settings file the daemon is measured with, and the private bus with
# the provisioning stand-in. The caller sets `bench_name` (how its messages
# begin), `repo` (the checkout) and `bench` (this folder) before sourcing it.

# bench_usage MESSAGE: a bad argument; exit 64 (EX_USAGE).
bench_usage() {
	echo "$bench_name: $*" >&2
	exit 64
}

# bench_require HINT TOOL...: every TOOL on the PATH, or exit naming the
# first missing one and HINT (what to install).
bench_require() {
	local hint=$1 tool
	shift
	for tool in "$@"; do
		command -v "$tool" >/dev/null || {
			echo "$bench_name: $tool not found${hint:+ ($hint)}" >&2
			exit 1
		}
	done
}

# bench_scenario NAME: the sipp scenario file (xml) and the daemon's
# challenge_checksync (challenge) for auth, flood or plain.
bench_scenario() {
	case $1 in
	auth) xml=sipp-auth-checksync.xml; challenge=on ;;
	flood) xml=sipp-flood-401.xml; challenge=on ;;
	plain) xml=sipp-plain-checksync.xml; challenge=off ;;
	*) bench_usage "scenario auth, flood or plain" ;;
	esac
}

# bench_snapshot DIR SOURCE: the sources into DIR (emptied first), taken
# in milliseconds so that edits made meanwhile cannot mix into a build:
# with SOURCE worktree, the files git knows or would add (tracked and
# untracked, not ignored) as they are now; else the commit SOURCE (git
# archive). Sets revision to which it was.
bench_snapshot() {
	rm -rf "$1"
	mkdir -p "$1"
	if [ "$2" = worktree ]; then
		(cd "$repo" && git ls-files -z --cached --others --exclude-standard |
			xargs -0 -r sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh |
			tar -c --null -T - -f -) | tar -x -C "$1"
		revision="$(git -C "$repo" rev-parse --short HEAD) + work tree"
	else
		git -C "$repo" archive "$2" | tar -x -C "$1"
		revision=$(git -C "$repo" rev-parse --short "$2")
	fi
}

# bench_build OUT SOURCE: unless both checksyncd and standin are given,
# build them from a snapshot of SOURCE (the work tree or a revision, see
# build-snapshot.sh) in OUT/build. Sets checksyncd, standin and revision.
bench_build() {
	if [ -n "$checksyncd" ] && [ -n "$standin" ]; then
		revision="given binary"
		return
	fi
	mkdir -p "$1/build"
	"$bench/build-snapshot.sh" "$1/build" "$2" >"$1/build/paths"
	[ -n "$checksyncd" ] || checksyncd=$(sed -n 1p "$1/build/paths")
	[ -n "$standin" ] || standin=$(sed -n 2p "$1/build/paths")
	revision=$(cat "$1/build/REVISION")
}

# Every process started goes into pids; all of them are stopped at exit
# (SIGTERM, then SIGKILL). A caller with more to stop defines
# bench_cleanup_more.
pids=()
bench_cleanup() {
	local pid
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	sleep 0.3
	for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	if declare -F bench_cleanup_more >/dev/null; then bench_cleanup_more; fi
	wait 2>/dev/null || true
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# bench_write_settings FILE on|off: one identity (the seed's), plug and
# play off, challenge_checksync as given; mode 0600 (it holds a password).
bench_write_settings() {
	cat >"$1" <<XML
<?xml version="1.0" encoding="utf-8"?>
<settings>
  <phone-settings e="2">
    <challenge_checksync perm="">$2</challenge_checksync>
    <!-- no plug-and-play SUBSCRIBE on the host's network -->
    <pnp_config perm="">off</pnp_config>
    <user_active idx="1" perm="">on</user_active>
    <user_name idx="1" perm="">340899</user_name>
    <user_host idx="1" perm="">ser.berlin.snom.com</user_host>
    <user_pass idx="1" perm="">1234</user_pass>
  </phone-settings>
</settings>
XML
	chmod 600 "$1"
}

# bench_start_bus DIR [STANDIN-ARGUMENT...]: a private dbus-daemon at
# unix:path=DIR/bus and the provisioning stand-in on it, both in pids and
# in bench_bus_pids; returns once the stand-in is ready.
bench_start_bus() {
	local dir=$1
	shift
	dbus-daemon --session --nofork --address="unix:path=$dir/bus" >"$dir/dbus.log" 2>&1 &
	bench_bus_pids=($!)
	for _ in $(seq 50); do [ -S "$dir/bus" ] && break; sleep 0.1; done
	"$standin" --bus "unix:path=$dir/bus" --quiet "$@" >"$dir/standin.log" 2>&1 &
	bench_bus_pids+=($!)
	pids+=("${bench_bus_pids[@]}")
	for _ in $(seq 50); do grep -qs READY "$dir/standin.log" && break; sleep 0.1; done
}

# bench_wait_ready LOG TENTHS: wait up to TENTHS tenths of a second for the
# daemon's ready line in LOG; fails (printing LOG) without it.
bench_wait_ready() {
	for _ in $(seq "$2"); do grep -qs ' ready: ' "$1" && return 0; sleep 0.1; done
	echo "$bench_name: checksyncd did not become ready:" >&2
	cat "$1" >&2
	return 1
}
