#!/usr/bin/env bash
# Runs every benchmark in bench/ in its smoke mode (--smoke: one repetition,
# a few simulated or real seconds each) on the programs already built in
# BUILD_DIR, so that a benchmark that can no longer read what it measures (a
# missing figure, zero requests, nan) fails CI instead of rotting until it
# is next run by hand. One PASS/FAIL line per benchmark; exits 1 if any
# failed. run-proxy-vs-haproxy.sh needs root and the packages of
# scripts/install-deps.sh (haproxy, nginx, wrk, iperf3).
#
#   scripts/bench-smoke.sh [BUILD_DIR]
#
# BUILD_DIR (default build) needs simrun, bench_rr_plain, svcd and svcctl
# (TAILSIM_BENCH=ON, the default). Outputs and logs go to BUILD_DIR/bench-smoke.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "${1:-build}" && pwd)
out=$build/bench-smoke
rm -rf "$out"
mkdir -p "$out/tmp"
# the benchmarks make their output folders under TMPDIR: keep them here,
# replaced on every run, not piling up in /tmp
export TMPDIR=$out/tmp

failed=0
start=$SECONDS
for script in bench/run-*.sh; do
	name=$(basename "$script" .sh)
	log=$out/$name.log
	t0=$SECONDS
	if "$script" --smoke --build "$build" >"$log" 2>&1; then
		echo "PASS $name ($((SECONDS - t0)) s)"
	else
		echo "FAIL $name ($((SECONDS - t0)) s, exit $?; log: $log)"
		tail -n 20 "$log" | sed 's/^/    /'
		failed=$((failed + 1))
	fi
done
echo "bench-smoke: $failed failed, $((SECONDS - start)) s"
[ "$failed" -eq 0 ]
