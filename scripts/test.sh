#!/usr/bin/env bash
# Builds everything and runs the whole test suite: Criterion suites (normal
# build and an address+undefined sanitizer build), the fixed explore sweep,
# the benchmarks' smoke runs, the format check and the no-writable-globals
# check. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/install-deps.sh || exit 1

passed=0
failed=0
logdir="$root/build-logs"
mkdir -p "$logdir"

# fail WHAT LOG [LINES]: counts one failure, says what failed and shows the
# end of its log.
fail() {
  failed=$((failed + 1))
  echo "FAIL $1"
  tail -n "${3:-40}" "$2"
}

# check NAME COMMAND...: one pass/fail line for a whole-tree check.
check() {
  local name=$1
  shift
  if "$@" >"$logdir/$name.log" 2>&1; then
    passed=$((passed + 1))
    echo "PASS $name"
  else
    fail "$name (log: build-logs/$name.log)" "$logdir/$name.log"
  fi
}

# suites BUILD_DIR LABEL: runs every ctest executable and adds up the
# Criterion synthesis lines; a suite that died without one counts as failed.
suites() {
  local dir=$1 label=$2
  local tests
  tests=$(ctest --test-dir "$dir" -N | sed -n 's/^ *Test *#[0-9]*: //p')
  for t in $tests; do
    local log="$logdir/$label-$t.log"
    ctest --test-dir "$dir" -R "^$t\$" --output-on-failure -V >"$log" 2>&1
    local rc=$?
    local syn
    syn=$(grep -a 'Synthesis:' "$log" | tail -n 1)
    if [ -z "$syn" ]; then
      fail "$label/$t: no test summary (exit $rc)" "$log"
      continue
    fi
    local p f c
    p=$(sed -n 's/.*Passing: *\([0-9]*\).*/\1/p' <<<"$syn")
    f=$(sed -n 's/.*Failing: *\([0-9]*\).*/\1/p' <<<"$syn")
    c=$(sed -n 's/.*Crashing: *\([0-9]*\).*/\1/p' <<<"$syn")
    passed=$((passed + p))
    failed=$((failed + f + c))
    if [ "$rc" -ne 0 ] || [ $((f + c)) -ne 0 ]; then
      [ $((f + c)) -eq 0 ] && failed=$((failed + 1))
      echo "FAIL $label/$t: $syn"
      grep -a -E '\[(FAIL|----)\]|Assertion|error' "$log" | head -n 40
    else
      echo "ok   $label/$t: $syn"
    fi
  done
}

build() {
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja "$@" >"$logdir/cmake-$(basename "$dir").log" 2>&1 &&
    ninja -C "$dir" >"$logdir/ninja-$(basename "$dir").log" 2>&1
}

# The main build through ccache, paths relative to the tree and the build
# folder left out of the hash: the perf demo's clone and bisect's worktree
# (PRF-4, under build/) then rebuild simrun from these objects.
export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=true
if ! build build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER_LAUNCHER=ccache \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache; then
  echo "build failed:"
  tail -n 60 "$logdir/ninja-build.log" "$logdir/cmake-build.log"
  echo "0 passed, 1 failed"
  exit 1
fi
suites build main
# Which requirement IDs have a passing test (the gaps are listed).
python3 scripts/conformance-matrix.py build/test-results --out "$logdir/conformance-matrix.md"
check conformance-matrix-script python3 tests/scripts/test_conformance_matrix.py
# The fixed explore sweep (EXP-1, EXP-2): a few hundred seeded fault
# schedules over the shipped fault scenarios, every invariant judged.
check explore-sweep scripts/explore-sweep.sh build
# The perf gate (PRF-5): the quick suite against the committed baseline,
# its Markdown table printed here (refresh: build/perfrun baseline --quick).
if build/perfrun gate >"$logdir/perf-gate.md" 2>"$logdir/perf-gate.log"; then
  passed=$((passed + 1))
  echo "PASS perf-gate"
else
  fail "perf-gate (log: build-logs/perf-gate.log)" "$logdir/perf-gate.log" 20
fi
cat "$logdir/perf-gate.md"
# Every benchmark in bench/ for a few seconds (--smoke): each fails when it
# cannot read a figure it reports, so none rots unnoticed.
check bench-smoke scripts/bench-smoke.sh build

if build build-asan -DCMAKE_BUILD_TYPE=Debug -DTAILSIM_SANITIZE=ON -DTAILSIM_BENCH=OFF; then
  # ns-3 keeps a few singletons alive until exit; leaks are checked in our
  # own code by the suites' explicit frees, not at process exit.
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 suites build-asan asan
else
  fail "sanitizer build" "$logdir/ninja-build-asan.log" 60
fi

# A short libFuzzer run per parser (clang, address sanitizer), each from
# its committed seed corpus copied aside so the run never edits the tree.
fuzz() {
  local target=$1 seconds=$2
  shift 2
  local corpus
  corpus=$(mktemp -d)
  cp -r "fuzz/corpus_${target#fuzz_}/." "$corpus/"
  local bin
  bin=$(find build-fuzz -type f -name "$target" -perm -u+x | head -n 1)
  "$bin" -max_total_time="$seconds" -max_len=8192 -print_final_stats=0 \
    "$@" "$corpus" && rm -rf "$corpus"
}
fuzz_seconds=${FUZZ_SECONDS:-20}
if cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DTAILSIM_FUZZ=ON -DTAILSIM_BENCH=OFF >"$logdir/cmake-build-fuzz.log" 2>&1 &&
  ninja -C build-fuzz fuzz_serve fuzz_packet fuzz_netmap fuzz_http fuzz_policy fuzz_mapproto \
    fuzz_scenario fuzz_magicdns fuzz_l7 fuzz_wg >"$logdir/ninja-build-fuzz.log" 2>&1; then
  check fuzz-serve fuzz fuzz_serve "$fuzz_seconds" -dict=fuzz/serve.dict
  check fuzz-packet fuzz fuzz_packet "$fuzz_seconds"
  check fuzz-netmap fuzz fuzz_netmap "$fuzz_seconds" -dict=fuzz/netmap.dict
  check fuzz-http fuzz fuzz_http "$fuzz_seconds"
  check fuzz-policy fuzz fuzz_policy "$fuzz_seconds" -dict=fuzz/policy.dict
  check fuzz-scenario fuzz fuzz_scenario "$fuzz_seconds" -dict=fuzz/scenario.dict -timeout=10
  check fuzz-mapproto fuzz fuzz_mapproto "$fuzz_seconds"
  check fuzz-magicdns fuzz fuzz_magicdns "$fuzz_seconds"
  check fuzz-l7 fuzz fuzz_l7 "$fuzz_seconds" -dict=fuzz/l7.dict
  check fuzz-wg fuzz fuzz_wg "$fuzz_seconds"
else
  fail "fuzz build" "$logdir/ninja-build-fuzz.log"
fi

check clang-format scripts/check-format.sh
check no-writable-globals scripts/check-globals.sh build
check doc-names scripts/check-doc-names.sh docs/architecture.md docs/explore.md docs/mutants.md
check file-size scripts/check-file-size.sh
check perf-doc-tables python3 scripts/perf-doc-tables.py build --check

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
