#!/usr/bin/env bash
# Build the libFuzzer targets with clang, replay every regression input,
# then fuzz each target for SECONDS (default 60) from a copy of its seed
# corpus. Ends with "fuzz: N passed, N failed" (one test case per target and
# one per regression input) and exits non-zero on any failure.
#
#   fuzz/run.sh [SECONDS]        # CI: fuzz/run.sh 60; long run: fuzz/run.sh 600
#
# Installs clang 14 and libFuzzer's runtime (Debian: clang-14,
# libclang-rt-14-dev) when missing. Builds in build-fuzz/; the generated
# corpus lives in a temporary directory and never in the repository; crash
# inputs are kept in build-fuzz/artifacts/. See docs/fuzzing.md.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-60}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
	echo "usage: fuzz/run.sh [SECONDS]" >&2
	exit 64
fi

targets=(authorization dns_message event request_guard)
build=build-fuzz
cxx=clang++-14
runtime_glob='/usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a'

passed=0
failed=0
summary() {
	echo "fuzz: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}
fail_setup() {
	echo "fuzz: $1" >&2
	failed=$((failed + 1))
	summary
}

# Dependencies: the project's own, then clang and the fuzzer runtime.
tools/install-deps || fail_setup "installing the dependencies failed"
# shellcheck disable=SC2086 # the glob is meant to expand
if ! command -v "$cxx" > /dev/null || ! compgen -G $runtime_glob > /dev/null; then
	if [ "$(id -u)" -ne 0 ]; then
		fail_setup "clang-14 and libclang-rt-14-dev are missing; run as root (sudo)"
	fi
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get update -q && apt-get install -y -q --no-install-recommends clang-14 libclang-rt-14-dev; } ||
		fail_setup "installing clang-14 and libclang-rt-14-dev failed"
fi

if [ ! -f "$build/build.ninja" ]; then
	CXX=$cxx meson setup "$build" -Dfuzz=true -Dtests=disabled > "$build.setup.log" 2>&1 || {
		cat "$build.setup.log" >&2
		rm -f "$build.setup.log"
		fail_setup "meson setup failed"
	}
	rm -f "$build.setup.log"
fi
ninja -C "$build" "${targets[@]/#/fuzz/fuzz_}" || fail_setup "the build failed"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A smaller quarantine than ASan's 256 MB keeps a target well under the
# 512 MB RSS limit (it plateaus near 410 MB with the default).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=64}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

# Regression inputs: each must run clean.
for target in "${targets[@]}"; do
	for input in fuzz/regressions/"$target"/*; do
		[ -f "$input" ] || continue
		log="$work/regression.log"
		if "$build/fuzz/fuzz_$target" "$input" > "$log" 2>&1; then
			echo "regression $target/$(basename "$input"): ok"
			passed=$((passed + 1))
		else
			echo "regression $target/$(basename "$input"): FAILED"
			grep -E 'ERROR: |invariant failed|SUMMARY: |runtime error' "$log" | head -n 5 | sed 's/^/  /'
			failed=$((failed + 1))
		fi
	done
done

# Fuzzing: the targets side by side when there are cores for it.
jobs=$(nproc 2> /dev/null || echo 1)
run_target() {
	local target=$1 dir="$work/$1"
	mkdir -p "$dir/corpus" "$dir/artifacts"
	cp fuzz/corpus/"$target"/* "$dir/corpus/"
	"$build/fuzz/fuzz_$target" "$dir/corpus" \
		-max_total_time="$seconds" -dict=fuzz/sip.dict -rss_limit_mb=512 -timeout=10 \
		-artifact_prefix="$dir/artifacts/" -print_final_stats=1 > "$dir/log" 2>&1
	echo $? > "$dir/rc"
}
echo "fuzz: ${#targets[@]} targets for ${seconds} s each"
pids=()
for target in "${targets[@]}"; do
	run_target "$target" &
	pids+=($!)
	if [ "$jobs" -lt 2 ]; then
		wait "${pids[-1]}"
	fi
done
wait "${pids[@]}"

for target in "${targets[@]}"; do
	dir="$work/$target"
	rc=$(cat "$dir/rc" 2> /dev/null || echo 1)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -n 1)
	cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$dir/log" | tail -n 1)
	corpus=$(find "$dir/corpus" -type f | wc -l)
	if [ "$rc" -eq 0 ]; then
		echo "fuzz $target: ${runs:-0} runs, no crash (${speed:-0} runs/s, ${cov:-cov: ?}, corpus $corpus)"
		passed=$((passed + 1))
	else
		echo "fuzz $target: CRASH after ${runs:-?} runs (exit $rc)"
		grep -E 'ERROR: |invariant failed|SUMMARY: |runtime error|Test unit written' "$dir/log" |
			head -n 8 | sed 's/^/  /'
		mkdir -p "$build/artifacts/$target"
		cp "$dir"/artifacts/* "$build/artifacts/$target/" 2> /dev/null &&
			echo "  input kept in $build/artifacts/$target/ (docs/fuzzing.md: minimise, add to fuzz/regressions/$target/)"
		failed=$((failed + 1))
	fi
done

summary
