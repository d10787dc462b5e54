#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Where checksyncd spends its instructions, and how many it spends per
# check-sync compared with Kamailio: both servers run under valgrind's
# callgrind, with collection switched on only while sipp sends N check-syncs
# (after start-up and a warm-up check-sync), at a rate valgrind can follow.
# Instruction counts do not depend on what else runs on the machine, so
# this is the noise-free companion of compare-kamailio.sh.
#
# Usage (after compare-kamailio.sh has installed kamailio and sip-tester):
#   bench/profile-callgrind.sh [--scenario auth|flood|plain] [--calls N]
#       [--rate R] [--source worktree|REV] [--checksyncd BIN] [--standin BIN] [--out DIR]
#       [--kamailio-mm "qm tlsf"] [--no-kamailio]
#
# --kamailio-mm lists Kamailio's memory managers to measure (-x/-X): qm is
# Debian's default (q_malloc, the debugging allocator), tlsf or fm what a
# tuned installation runs. Default: "qm tlsf".
#
# Prints instructions per check-sync for each server, and checksyncd's top
# functions by exclusive and by inclusive cost. The callgrind files stay in
# DIR (default /tmp/checksyncd-callgrind-DATE) for callgrind_annotate or
# kcachegrind.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench="$repo/bench"
bench_name="profile-callgrind"
# shellcheck source=bench/lib.sh
. "$bench/lib.sh"
scenario=auth
calls=1000
rate=100
checksyncd=""
standin=""
source=worktree
out=/tmp/checksyncd-callgrind-$(date +%Y%m%d-%H%M%S)
with_kamailio=1
kamailio_mm="qm tlsf"
csd_port=${BENCH_CHECKSYNCD_PORT:-25060}
kam_port=${BENCH_KAMAILIO_PORT:-25070}
sipp_port=${BENCH_SIPP_PORT:-25080}

while [ $# -gt 0 ]; do
	case "$1" in
	--scenario) scenario=$2; shift 2 ;;
	--calls) calls=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	--checksyncd) checksyncd=$2; shift 2 ;;
	--source) source=$2; shift 2 ;;
	--standin) standin=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--no-kamailio) with_kamailio=0; shift ;;
	--kamailio-mm) kamailio_mm=$2; shift 2 ;;
	-h | --help) sed -n '4,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) bench_usage "unknown argument $1" ;;
	esac
done
bench_scenario "$scenario"
[[ $calls =~ ^[0-9]+$ && $calls -gt 0 && $calls -le 20000 ]] || bench_usage "--calls 1..20000"
[[ $rate =~ ^[0-9]+$ && $rate -gt 0 && $rate -le 2000 ]] || bench_usage "--rate 1..2000"
bench_require "apt-get install valgrind kamailio sip-tester dbus" \
	valgrind callgrind_control callgrind_annotate sipp kamailio dbus-daemon

mkdir -p "$out"
out=$(cd "$out" && pwd)
# From a snapshot of the work tree (or --source REV), built from scratch.
bench_build "$out" "$source"

benchlib=(python3 "$bench/benchlib.py")

# tree PID: PID and its descendants
tree() {
	python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import benchlib; print(" ".join(map(str, benchlib.process_tree(int(sys.argv[2])))))' "$bench" "$1"
}

# measure NAME PORT PID: warm up, collect while sipp sends, stop the server.
measure() {
	local name=$1 port=$2 pid=$3 p extra=()
	local mode=${scenario}
	"${benchlib[@]}" client --server "127.0.0.1:$port" --bind 127.0.0.1 --mode "$mode" \
		--interval 0.5 --duration 30 --until-ok --out "$out/$name-warmup.csv" ||
		{ echo "$bench_name: $name does not answer" >&2; return 1; }
	for p in $(tree "$pid"); do callgrind_control -i on "$p" >/dev/null 2>&1 || true; done
	[ "$scenario" = auth ] && extra=(-auth_uri "340899@127.0.0.1:$port")
	(cd "$out" && timeout -k 5 $((calls / rate + 120)) sipp -sf "$bench/$xml" -s 340899 "127.0.0.1:$port" \
		-i 127.0.0.1 -p "$sipp_port" -nr -recv_timeout 5000 -nostdin -m "$calls" -r "$rate" -l 50 \
		"${extra[@]}" -timeout $((calls / rate + 100))s >"$out/$name-sipp.out" 2>&1) || true
	sleep 1
	for p in $(tree "$pid"); do callgrind_control -i off "$p" >/dev/null 2>&1 || true; done
	grep -E "Successful call|Failed call" "$out/$name-sipp.out" | tail -2 | sed "s/^/$name sipp: /"
	# valgrind may run the server as a child of the PID we know: stop the
	# whole tree, then wait (at most 20 s: callgrind writes its files).
	local tree_pids
	tree_pids=$(tree "$pid")
	kill -TERM $tree_pids 2>/dev/null || true
	for _ in $(seq 200); do kill -0 $tree_pids 2>/dev/null || break; sleep 0.1; done
	kill -KILL $tree_pids 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

rm -f "$out"/callgrind.out.*
bench_write_settings "$out/settings.xml" "$challenge"
bench_start_bus "$out"

valgrind --tool=callgrind --instr-atstart=no --log-file="$out/valgrind-checksyncd.log" \
	--callgrind-out-file="$out/callgrind.out.checksyncd.%p" \
	"$checksyncd" --settings "$out/settings.xml" --listen "sip:127.0.0.1:$csd_port;transport=udp" \
	--bus "unix:path=$out/bus" >"$out/checksyncd.log" 2>&1 &
csd=$!
pids+=("$csd")
bench_wait_ready "$out/checksyncd.log" 300
measure checksyncd "$csd_port" "$csd"

if [ "$with_kamailio" = 1 ]; then
	kam_modules=$(dirname "$(dpkg -L kamailio | grep '/modules/sl\.so$' | head -1)")
	for mm in $kamailio_mm; do
		case $mm in qm | fm | tlsf) ;; *) bench_usage "memory manager qm, fm or tlsf" ;; esac
		args=(-x "$mm" -X "$mm")
		[ "$challenge" = on ] && args+=(-A WITH_AUTH)
		mkdir -p "$out/kamailio-run"
		# callgrind_control does not reach the processes Kamailio forks:
		# collect inside the UDP worker's receive loop instead (from its
		# first iteration on, so the warm-up check-sync is included: 1/N).
		valgrind --tool=callgrind --collect-atstart=no --toggle-collect=udp_rcv_loop \
			--log-file="$out/valgrind-kamailio-$mm.%p.log" \
			--callgrind-out-file="$out/callgrind.out.kamailio-$mm.%p" \
			kamailio -DD -E -f "$bench/kamailio/kamailio.cfg" -L "$kam_modules" "${args[@]}" \
			-l "udp:127.0.0.1:$kam_port" -P "$out/kamailio-run/kamailio.pid" -Y "$out/kamailio-run" \
			-w "$out/kamailio-run" >"$out/kamailio-$mm.log" 2>&1 &
		kam=$!
		pids+=("$kam")
		sleep 3
		measure "kamailio-$mm" "$kam_port" "$kam"
	done
fi

echo
echo "instructions (callgrind Ir) per check-sync, $scenario, $calls check-syncs at $rate/s:"
for name in checksyncd $(for mm in $kamailio_mm; do echo "kamailio-$mm"; done); do
	files=("$out"/callgrind.out."$name".*)
	[ -e "${files[0]}" ] || continue
	total=0
	for f in "${files[@]}"; do
		n=$(awk '/^totals:/ { print $2 }' "$f")
		total=$((total + ${n:-0}))
	done
	printf '  %-10s %10d Ir per check-sync (%d processes, %d Ir in all)\n' \
		"$name" $((total / calls)) "${#files[@]}" "$total"
done
csd_file=$(ls "$out"/callgrind.out.checksyncd.* | head -1)
echo
echo "checksyncd, top 10 functions by exclusive cost (self):"
callgrind_annotate --threshold=100 "$csd_file" 2>/dev/null |
	awk '/file:function/ { on = 1; next } on && /\(/ && k < 10 { print; k++ }' || true
echo
echo "checksyncd, top 25 functions by inclusive cost:"
callgrind_annotate --inclusive=yes --threshold=100 "$csd_file" 2>/dev/null |
	awk '/file:function/ { on = 1; next } on && /\(/ && k < 25 { print; k++ }' || true
echo
echo "callgrind files: $out"
