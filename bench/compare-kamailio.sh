#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# checksyncd against Kamailio 5.6 (Debian 12, auth module, one UDP worker; as
# Debian ships it and with the tlsf allocator),
# in one run, on loopback, with sipp:
#
#   (a) flood: unauthenticated NOTIFY check-sync at the highest rate sipp
#       sends here, challenge on, every answer must be 401 (open loop);
#   (b) auth : NOTIFY -> 401 -> NOTIFY with the digest answer -> 200,
#       challenge on, at a fixed rate (default 1000 check-syncs/s);
#   (b') auth-max: the same as fast as the server answers (closed loop, a
#       fixed number of check-syncs in flight);
#   (c) plain: NOTIFY -> 200 with the challenge off, at the highest rate
#       sipp sends here (open loop);
#   (c') plain-rate: the same at the rate of (b) (--auth-rate, at most
#       --auth-concurrency in flight, --auth-calls of them).
#
# For each server and scenario it prints check-syncs per second, p50/p99
# response time, server CPU per 1000 check-syncs, idle/peak/final memory,
# and during (a) and (c) whether a legitimate check-sync sent once a second
# from 127.0.0.2 was answered, and how fast. See docs/benchmarks.md.
#
# Usage (as root on Debian 12; installs kamailio and sip-tester with apt-get):
#   bench/compare-kamailio.sh [--out DIR] [--source worktree|REV]
#                             [--checksyncd BIN] [--standin BIN]
#                             [--duration S] [--flood-rate R] [--auth-calls N]
#                             [--auth-rate R] [--auth-concurrency N] [--settle S]
#                             [--scenarios "S..."] [--servers "S..."] [--rounds N]
#                             [--sampler-interval S] [--no-install]
#
#   --out DIR           results (table, CSV, markdown, raw data); default
#                       /tmp/checksyncd-bench-DATE
#   --source SRC        what to build: worktree (default: the work tree as it
#                       is now, copied first) or a git revision such as HEAD;
#                       built from scratch under DIR/build
#   --checksyncd BIN    measure this daemon instead of building one
#   --standin BIN       provisioning stand-in; default: compiled from
#                       test/provisioning_standin.cpp with the snapshot
#   --duration S        length of (a) and (c), default 10
#   --flood-rate R      sipp -r for (a) and (c), default 100000 (more than
#                       sipp can send: it then sends as fast as it can)
#   --auth-calls N      check-syncs in (b) and (b'), default 3600 (any number
#                       works: used nonces are a window of the last 65 536
#                       issued, docs/security.md)
#   --auth-rate R       check-syncs per second in (b), default 1000
#   --auth-concurrency  at most this many check-syncs in flight in (b) and
#                       (b'), default 20
#   --settle S          seconds after the load before the final sample, default 2
#   --scenarios LIST    which of flood auth auth-max plain plain-rate, default
#                       "flood auth auth-max plain"
#   --servers LIST      which of checksyncd kamailio kamailio-tlsf, default all
#   --rounds N          run every scenario N times, the servers alternating
#                       within each round (the machine's noise then falls
#                       on all of them alike); ratios are given per round
#                       and as their median and range; default 1
#   --sampler-interval  seconds between the latency sampler's check-syncs,
#                       default 0.02 (50/s on top of sipp's)
#
# Everything listens on and talks to 127.0.0.1 / 127.0.0.2 only. Every process
# started here is stopped on exit. Every loop is bounded in count and time.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench="$repo/bench"
bench_name="compare-kamailio"
# shellcheck source=bench/lib.sh
. "$bench/lib.sh"
started=$(date +%s)

out=/tmp/checksyncd-bench-$(date +%Y%m%d-%H%M%S)
checksyncd=""
standin=""
source=worktree
revision=""
duration=10
flood_rate=100000
auth_calls=3600
auth_concurrency=20
auth_rate=1000
settle=2
install=1
scenarios="flood auth auth-max plain"
servers="checksyncd kamailio kamailio-tlsf"
rounds=1
sampler_interval=0.02
csd_port=${BENCH_CHECKSYNCD_PORT:-25060}
kam_port=${BENCH_KAMAILIO_PORT:-25070}
sipp_port=${BENCH_SIPP_PORT:-25080}

while [ $# -gt 0 ]; do
	case "$1" in
	--out) out=$2; shift 2 ;;
	--checksyncd) checksyncd=$2; shift 2 ;;
	--source) source=$2; shift 2 ;;
	--standin) standin=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--flood-rate) flood_rate=$2; shift 2 ;;
	--auth-calls) auth_calls=$2; shift 2 ;;
	--auth-concurrency) auth_concurrency=$2; shift 2 ;;
	--auth-rate) auth_rate=$2; shift 2 ;;
	--settle) settle=$2; shift 2 ;;
	--scenarios) scenarios=$2; shift 2 ;;
	--servers) servers=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--sampler-interval) sampler_interval=$2; shift 2 ;;
	--no-install) install=0; shift ;;
	-h | --help) sed -n '4,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) bench_usage "unknown argument $1" ;;
	esac
done
for n in "$duration" "$flood_rate" "$auth_calls" "$auth_concurrency" "$auth_rate" "$settle" "$rounds"; do
	[[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ] || bench_usage "bad number $n"
done
[ "$duration" -le 60 ] || bench_usage "--duration at most 60"
[[ $sampler_interval =~ ^[0-9]*\.?[0-9]+$ ]] || bench_usage "bad --sampler-interval"
[ "$rounds" -le 20 ] || bench_usage "--rounds at most 20"
[ "$auth_calls" -le 200000 ] || bench_usage "--auth-calls at most 200000"
for s in $scenarios; do
	case $s in flood | auth | auth-max | plain | plain-rate) ;; *) bench_usage "unknown scenario $s" ;; esac
done
for s in $servers; do
	case $s in checksyncd | kamailio | kamailio-tlsf) ;; *) bench_usage "unknown server $s" ;; esac
done
# sipp's -timeout for the fixed-rate scenarios: the calls at their rate
# and a minute more.
auth_timeout=$((auth_calls / auth_rate + 60))

log() { printf '[%5ss] %s\n' "$(($(date +%s) - started))" "$*"; }

# ------------------------------------------------------------------ install
if [ "$install" = 1 ]; then
	"$repo/tools/install-deps"
	missing=()
	for p in kamailio sip-tester dbus python3 g++ pkg-config libsystemd-dev; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		[ "$(id -u)" -eq 0 ] || { echo "compare-kamailio: missing ${missing[*]}; run as root" >&2; exit 1; }
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q
		apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
fi
bench_require "" kamailio sipp dbus-daemon python3
kam_modules=$(dirname "$(dpkg -L kamailio 2>/dev/null | grep '/modules/sl\.so$' | head -1)")
[ -f "$kam_modules/auth.so" ] || { echo "compare-kamailio: Kamailio modules not found" >&2; exit 1; }

mkdir -p "$out/runs" "$out/logs"
out=$(cd "$out" && pwd)
rm -rf "${out:?}/runs/"*

# -------------------------------------------------------------------- build
if [ -z "$checksyncd" ] || [ -z "$standin" ]; then
	log "building checksyncd from a snapshot of the $source (bench/build-snapshot.sh)"
fi
bench_build "$out" "$source"
checksyncd=$(realpath "$checksyncd")
standin=$(realpath "$standin")

# ------------------------------------------------------------ process care
# Kamailio's children, should the main process have gone first (lib.sh
# stops the rest at exit).
bench_cleanup_more() {
	if [ -n "${kam_children:-}" ]; then
		kill -KILL $kam_children 2>/dev/null || true
	fi
}

# stop PID...: SIGTERM, wait up to 5 s, then SIGKILL; forget them.
stop() {
	local pid keep=()
	for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "$@"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		[[ " $* " == *" $pid "* ]] || keep+=("$pid")
	done
	pids=("${keep[@]}")
}

port_free() {
	python3 - "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}
for p in "$csd_port" "$kam_port" "$sipp_port"; do
	port_free "$p" || { echo "compare-kamailio: UDP port 127.0.0.1:$p is in use (set BENCH_*_PORT)" >&2; exit 1; }
done

# An array, not a function: "${benchlib[@]}" ... & must make $! the
# python process itself, so that stopping it by PID stops it.
benchlib=(python3 "$bench/benchlib.py")

# Busy and idle jiffies of the whole machine.
machine_cpu() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 ", " $5 + $6; exit }' /proc/stat; }

# Receive-buffer drops of the UDP socket bound to 127.0.0.1:PORT.
udp_drops() {
	awk -v p="$(printf ':%04X' "$1")" \
		'NR > 1 && substr($2, length($2) - 4) == p { n += $NF } END { print n + 0 }' /proc/net/udp
}

# ------------------------------------------------------------------ servers
server_pid=""
server_aux=()
kam_children=""

start_checksyncd() { # RUNDIR on|off
	local dir=$1
	bench_start_bus "$dir" --record "$dir/dbus-calls.jsonl"
	server_aux=("${bench_bus_pids[@]}")
	bench_write_settings "$dir/settings.xml" "$2"
	"$checksyncd" --settings "$dir/settings.xml" --listen "sip:127.0.0.1:$csd_port;transport=udp" \
		--bus "unix:path=$dir/bus" >"$dir/server.log" 2>&1 &
	server_pid=$!
	pids+=("$server_pid")
	bench_wait_ready "$dir/server.log" 50
}

start_kamailio() { # RUNDIR on|off [MEMORY-MANAGER]
	local dir=$1 args=()
	[ "$2" = on ] && args+=(-A WITH_AUTH)
	# Debian's Kamailio uses q_malloc, its debugging allocator, unless told
	# otherwise; -x/-X tlsf is what a tuned installation would run.
	[ -n "${3:-}" ] && args+=(-x "$3" -X "$3")
	mkdir -p "$dir/kamailio-run"
	kamailio -DD -E -f "$bench/kamailio/kamailio.cfg" -L "$kam_modules" "${args[@]}" \
		-l "udp:127.0.0.1:$kam_port" -P "$dir/kamailio-run/kamailio.pid" \
		-Y "$dir/kamailio-run" -w "$dir/kamailio-run" >"$dir/server.log" 2>&1 &
	server_pid=$!
	pids+=("$server_pid")
	server_aux=()
	sleep 0.5
	kam_children=$(pgrep -P "$server_pid" | tr '\n' ' ' || true)
}

start_kamailio-tlsf() { start_kamailio "$1" "$2" tlsf; }

stop_server() {
	if [ -n "$kam_children" ]; then
		# Kamailio's main process stops its children on SIGTERM; make sure.
		kill -TERM $kam_children 2>/dev/null || true
	fi
	stop "$server_pid"
	if [ -n "$kam_children" ]; then
		kill -KILL $kam_children 2>/dev/null || true
		kam_children=""
	fi
	[ ${#server_aux[@]} -eq 0 ] || stop "${server_aux[@]}"
	server_aux=()
}

# --------------------------------------------------------------- scenarios
now() { date +%s.%N; }

run() { # SERVER SCENARIO ROUND
	local server=$1 scenario=$2 round=$3 dir port challenge xml mode
	local sipp_args=() aux=() t0 t1 rc monitor drops0 drops1 machine0 machine1
	dir="$out/runs/$server-$scenario"
	[ "$rounds" -eq 1 ] || dir="$out/runs/r$round-$server-$scenario"
	mkdir -p "$dir"
	case $server in checksyncd) port=$csd_port ;; kamailio*) port=$kam_port ;; esac
	case $scenario in
	flood) challenge=on; xml=sipp-flood-401.xml; mode=flood
		sipp_args=(-r "$flood_rate" -rp 1000 -m $((flood_rate * duration)) -timeout "${duration}s") ;;
	auth | auth-max) challenge=on; xml=sipp-auth-checksync.xml; mode=auth
		# sipp's digest uri is remote_ip:port unless told otherwise;
		# checksyncd wants the Request-URI there (Kamailio does not check).
		sipp_args=(-rp 1000 -l "$auth_concurrency" -m "$auth_calls" -timeout "${auth_timeout}s"
			-auth_uri "340899@127.0.0.1:$port")
		if [ "$scenario" = auth ]; then sipp_args+=(-r "$auth_rate"); else sipp_args+=(-r 100000); fi ;;
	plain) challenge=off; xml=sipp-plain-checksync.xml; mode=plain
		sipp_args=(-r "$flood_rate" -rp 1000 -m $((flood_rate * duration)) -timeout "${duration}s") ;;
	plain-rate) challenge=off; xml=sipp-plain-checksync.xml; mode=plain
		sipp_args=(-r "$auth_rate" -rp 1000 -l "$auth_concurrency" -m "$auth_calls"
			-timeout "${auth_timeout}s") ;;
	esac

	"start_$server" "$dir" "$challenge"
	# Ready and warm: one check-sync answered as expected (at most 5 s).
	"${benchlib[@]}" client --server "127.0.0.1:$port" --bind 127.0.0.1 --mode "$mode" \
		--interval 0.1 --duration 5 --until-ok --out "$dir/warmup.csv" ||
		{ log "$server did not answer"; tail "$dir/server.log"; stop_server; return 1; }

	"${benchlib[@]}" monitor --pid "$server_pid" --out "$dir/monitor.csv" --interval 0.05 \
		--max-seconds $((duration + settle + auth_timeout + 30)) &
	monitor=$!
	pids+=("$monitor")
	sleep 0.5

	ss -uamn "sport = :$port" >"$dir/socket.txt" 2>&1 || true
	drops0=$(udp_drops "$port")
	machine0=$(machine_cpu)
	t0=$(now)
	"${benchlib[@]}" client --server "127.0.0.1:$port" --bind 127.0.0.1 --mode "$mode" \
		--interval "$sampler_interval" --duration 60 --out "$dir/sampler.csv" &
	aux=($!)
	if [ "$scenario" = flood ] || [ "$scenario" = plain ]; then
		"${benchlib[@]}" client --server "127.0.0.1:$port" --bind 127.0.0.2 --mode "$mode" --retransmit \
			--interval 1 --duration "$duration" --out "$dir/probe.csv" &
		aux+=($!)
	fi
	pids+=("${aux[@]}")
	rc=0
	(cd "$dir" && timeout -k 5 $((duration + auth_timeout + 10)) sipp -sf "$bench/$xml" -s 340899 "127.0.0.1:$port" \
		-i 127.0.0.1 -p "$sipp_port" -t u1 -nr -recv_timeout 1000 -nostdin \
		"${sipp_args[@]}" -trace_stat -stf "$dir/sipp-stat.csv" -fd 1 >"$dir/sipp.out" 2>&1) || rc=$?
	t1=$(now)
	machine1=$(machine_cpu)
	stop "${aux[@]}"
	sleep "$settle"
	drops1=$(udp_drops "$port")
	stop "$monitor"
	stop_server
	cat >"$dir/meta.json" <<JSON
{"server": "$server", "scenario": "$scenario", "round": $round, "load_start": $t0, "load_end": $t1,
 "sipp_rc": $rc, "sampler_interval": $sampler_interval, "settle": $settle,
 "drops_before": $drops0, "drops_after": $drops1,
 "machine_before": [$machine0], "machine_after": [$machine1],
 "dbus_calls": $(cat "$dir/dbus-calls.jsonl" 2>/dev/null | wc -l)}
JSON
	log "$server $scenario: done in $(python3 -c "print(round($t1 - $t0, 1))") s (sipp exit $rc)"
}

# Other work on the machine competes for the CPUs and makes the servers drop
# datagrams they would have served: measure how busy it is before starting.
busy_before=$(python3 - <<'PY'
import time
def read():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], v[3] + v[4]
b0, i0 = read(); time.sleep(1); b1, i1 = read()
print(round(100.0 * (b1 - b0) / max(b1 - b0 + i1 - i0, 1)))
PY
)
log "results in $out"
log "machine busy before start: ${busy_before}% of $(nproc) CPUs (load average $(cut -d' ' -f1-3 /proc/loadavg))"
log "checksyncd: $checksyncd ($("$checksyncd" --version 2>&1 | head -1), $revision)"
log "kamailio: $(kamailio -v 2>&1 | head -1)"
log "sipp: $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1); $(nproc) CPUs"
for round in $(seq "$rounds"); do
	for scenario in $scenarios; do
		for server in $servers; do
			log "$server: scenario $scenario, round $round of $rounds"
			run "$server" "$scenario" "$round"
		done
	done
done

{
	echo "checksyncd vs Kamailio 5.6, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -r)"
	echo "checksyncd: $checksyncd ($revision)"
	echo "machine busy before start: ${busy_before}% of $(nproc) CPUs"
	if [ "$busy_before" -gt 10 ]; then
		echo "WARNING: other processes kept the machine ${busy_before}% busy before the run;" \
			"the figures below are disturbed by them"
	fi
	echo
	"${benchlib[@]}" summarize --runs "$out/runs" --csv "$out/results.csv" --md "$out/results.md"
	echo
	echo "total run time: $(($(date +%s) - started)) s"
} | tee "$out/summary.txt"
echo "CSV: $out/results.csv  markdown: $out/results.md  raw data: $out/runs/"
