#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Where checksyncd spends its CPU at a real rate, kernel included: the
# companion of profile-callgrind.sh (user-space instructions at a rate
# valgrind can follow). checksyncd runs natively (private bus, the
# provisioning stand-in, 127.0.0.1) while sipp sends check-syncs at RATE
# with at most LIMIT in flight, three times:
#
#   1. perf stat -e task-clock,...: CPU per check-sync, user and system
#      (the process's utime/stime over the same window);
#   2. perf record -g (the cpu-clock event: no hardware counters needed,
#      so it works in a VM) and perf report: the top symbols, self and
#      with their callees, user and kernel;
#   3. strace -c -f: system calls per check-sync (strace slows the daemon:
#      the counts are exact, its times are not).
#
# Usage (as root, after compare-kamailio.sh has installed sip-tester; needs
# linux-perf and strace):
#   bench/profile-perf.sh [--scenario auth|plain|flood] [--calls N] [--rate R]
#       [--limit N] [--source worktree|REV] [--checksyncd BIN] [--standin BIN]
#       [--out DIR] [--stat-only]
#
# Defaults: auth, 10000 check-syncs at 1000/s, 200 in flight. Files (perf.data,
# the reports, strace's table) stay in DIR (default /tmp/checksyncd-perf-DATE).
# --stat-only: step 1 alone (to compare builds: run it for each, in turns).
# Everything talks to 127.0.0.1 only; every process started here is stopped
# on exit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench="$repo/bench"
bench_name="profile-perf"
# shellcheck source=bench/lib.sh
. "$bench/lib.sh"
scenario=auth
calls=10000
rate=1000
limit=200
checksyncd=""
standin=""
source=worktree
out=/tmp/checksyncd-perf-$(date +%Y%m%d-%H%M%S)
stat_only=0
csd_port=${BENCH_CHECKSYNCD_PORT:-25060}
sipp_port=${BENCH_SIPP_PORT:-25080}

while [ $# -gt 0 ]; do
	case "$1" in
	--scenario) scenario=$2; shift 2 ;;
	--calls) calls=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	--limit) limit=$2; shift 2 ;;
	--checksyncd) checksyncd=$2; shift 2 ;;
	--standin) standin=$2; shift 2 ;;
	--source) source=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--stat-only) stat_only=1; shift ;;
	-h | --help) sed -n '4,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) bench_usage "unknown argument $1" ;;
	esac
done
bench_scenario "$scenario"
for n in "$calls" "$rate" "$limit"; do
	[[ $n =~ ^[0-9]+$ && $n -gt 0 ]] || bench_usage "bad number $n"
done
[ "$calls" -le 200000 ] || bench_usage "--calls at most 200000"
bench_require "apt-get install linux-perf strace sip-tester dbus" perf strace sipp dbus-daemon python3

mkdir -p "$out"
out=$(cd "$out" && pwd)
bench_build "$out" "$source"

bench_write_settings "$out/settings.xml" "$challenge"
bench_start_bus "$out"
"$checksyncd" --settings "$out/settings.xml" --listen "sip:127.0.0.1:$csd_port;transport=udp" \
	--bus "unix:path=$out/bus" >"$out/checksyncd.log" 2>&1 &
csd=$!
pids+=("$csd")
bench_wait_ready "$out/checksyncd.log" 50 || exit 1
# A check-sync answered as expected: ready, warm, and 127.0.0.1 a source that
# proved itself (it answered a challenge), so nothing is held back from it.
python3 "$bench/benchlib.py" client --server "127.0.0.1:$csd_port" --bind 127.0.0.1 \
	--mode "$scenario" --interval 0.1 --duration 5 --until-ok --out "$out/warmup.csv" ||
	{ echo "$bench_name: checksyncd does not answer" >&2; exit 1; }

# load NAME: sipp's CALLS at RATE; prints sipp's successful/failed calls.
load() {
	local extra=()
	[ "$scenario" = auth ] && extra=(-auth_uri "340899@127.0.0.1:$csd_port")
	(cd "$out" && timeout -k 5 $((calls / rate + 70)) sipp -sf "$bench/$xml" -s 340899 \
		"127.0.0.1:$csd_port" -i 127.0.0.1 -p "$sipp_port" -t u1 -nr -recv_timeout 2000 \
		-nostdin -m "$calls" -r "$rate" -rp 1000 -l "$limit" "${extra[@]}" \
		-timeout $((calls / rate + 60))s -trace_stat -stf "$out/$1-sipp-stat.csv" \
		>"$out/$1-sipp.out" 2>&1) || true
	python3 - "$out/$1-sipp-stat.csv" <<'PY'
import sys
rows = [l.rstrip("\n").split(";") for l in open(sys.argv[1]) if l.strip()]
s = dict(zip(rows[0], rows[-1]))
print(f"sipp: {s.get('SuccessfulCall(C)')} successful, {s.get('FailedCall(C)')} failed")
PY
}

# utime and stime of the daemon in clock ticks.
times() { awk '{ sub(/.*\) /, ""); print $12, $13 }' "/proc/$csd/stat"; }
tck=$(getconf CLK_TCK)

echo "checksyncd $("$checksyncd" --version 2>&1 | head -1): $scenario, $calls check-syncs at $rate/s, at most $limit in flight"
echo
echo "1. perf stat"
read -r u0 s0 < <(times)
perf stat -e task-clock,context-switches,cpu-migrations,page-faults -p "$csd" \
	-o "$out/perf-stat.txt" &
stat_pid=$!
pids+=("$stat_pid")
sleep 0.2
load stat
sleep 0.5
kill -INT "$stat_pid"
wait "$stat_pid" 2>/dev/null || true
read -r u1 s1 < <(times)
grep -E 'task-clock|context-switches|page-faults' "$out/perf-stat.txt" | sed 's/^ */  /'
awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v t="$tck" -v n="$calls" 'BEGIN {
	printf "  per 1000 check-syncs: user %.1f ms, system %.1f ms (utime/stime, %d Hz ticks)\n",
		u * 1000 / t * 1000 / n, s * 1000 / t * 1000 / n, t }'

[ "$stat_only" = 0 ] || exit 0
echo
echo "2. perf record -g (cpu-clock), top symbols"
perf record -e cpu-clock -F 4999 -g -p "$csd" -o "$out/perf.data" >"$out/perf-record.log" 2>&1 &
rec_pid=$!
pids+=("$rec_pid")
sleep 0.5
load record
sleep 0.5
kill -INT "$rec_pid"
wait "$rec_pid" 2>/dev/null || true
perf report -i "$out/perf.data" --no-children --sort dso,symbol --stdio -g none \
	--percent-limit 0.8 2>/dev/null >"$out/perf-self.txt" || true
perf report -i "$out/perf.data" --children --sort symbol --stdio -g none \
	--percent-limit 3 2>/dev/null >"$out/perf-children.txt" || true
perf report -i "$out/perf.data" --no-children --sort dso --stdio -g none \
	2>/dev/null >"$out/perf-dso.txt" || true
echo "  by object (self):"
tidy() { sed 's/^ */    /; s/[ -]*$//'; }
grep -E '^ +[0-9]' "$out/perf-dso.txt" | head -12 | tidy
echo "  top symbols (self):"
grep -E '^ +[0-9]' "$out/perf-self.txt" | head -25 | tidy
echo "  with callees (children, at least 3 %):"
grep -E '^ +[0-9]' "$out/perf-children.txt" | head -30 | tidy

echo
echo "3. strace -c -f: system calls"
strace -c -f -q -p "$csd" -o "$out/strace.txt" &
strace_pid=$!
pids+=("$strace_pid")
sleep 0.5
load strace
sleep 1
kill -INT "$strace_pid"
wait "$strace_pid" 2>/dev/null || true
awk -v n="$calls" '
	$1 ~ /^[0-9.]+$/ && NF >= 5 {
		printf "    %-16s %8d calls  %6.2f per check-sync sent\n", $NF, $4, $4 / n }
' "$out/strace.txt"
echo
echo "files: $out"
