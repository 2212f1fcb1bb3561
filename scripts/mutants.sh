#!/usr/bin/env bash
# The harness proves its power (EXP-5): builds the mutant build
# (-DTAILSIM_MUTANTS=ON, lib/base/mutant.h), then for every mutant of
# lib/base/mutant_catalogue.h runs the conformance-relevant suites and a
# fixed `simrun explore` sweep with TAILSIM_MUTANT=name, and prints the kill
# table (mutant | killed by tests | killed by explore). Exits non-zero when
# a mutant survives, when the real code fails its own run, or when a check
# of the switch itself fails (an ordinary build holding a mutant's name, a
# MUTANT("x") the catalogue lacks, an unknown name accepted at start).
#
#   scripts/mutants.sh [NAME,NAME...]     all mutants, or only these
#
# Environment: MUTANTS_BUILD (build-mutants), MUTANTS_NORMAL_BUILD (build:
# the ordinary build checked for names; skipped when absent), MUTANTS_OUT
# (BUILD/mutants: logs, the table), MUTANTS_JOBS (2), MUTANTS_ALL=1 (run
# every suite to the end instead of stopping at the first kill: slower, a
# fuller "killed by" column).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

build=${MUTANTS_BUILD:-build-mutants}
normal=${MUTANTS_NORMAL_BUILD:-build}
out=${MUTANTS_OUT:-$build/mutants}
jobs=${MUTANTS_JOBS:-2}
# Suites that exercise no product decision (pure parsers, the seam, ns-3,
# report writers, the schedule generator) are left out: a mutant of
# proxy/ or control/ cannot change their outcome.
skip_suites='^test_(numarg|hash|htab|list|buf|io_.*|storage|fs|netmap|packet|http_msg|ca|mapproto|localapi|reports|ns3w|ns3_tcp_fixes|explore_schedule|workloads)$'
# The fixed explore sweep: scenario:seeds, the same for every mutant
# (MUTANTS_SEEDS, when set, replaces every range). chaos-mixed's own
# timeline holds what a random schedule rarely draws (a drain under
# kept-alive clients, a crash, a cut-off region, an off-grant port, an
# unapproved host), so a few of its seeds kill most of what explore can.
explore_scenarios=(scenarios/failover-crash.yaml:1..8 scenarios/drain-under-load.yaml:1..8
  scenarios/chaos-mixed.yaml:1..4)
catalogue=lib/base/mutant_catalogue.h

mkdir -p "$out"
status=0
start=$(date +%s)
say() { echo "mutants: $*"; }

# ---- build -----------------------------------------------------------------
say "building $build (-DTAILSIM_MUTANTS=ON)"
if ! cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAILSIM_MUTANTS=ON \
  -DTAILSIM_BENCH=OFF -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
  >"$out/cmake.log" 2>&1 || ! ninja -C "$build" -j"$jobs" >"$out/ninja.log" 2>&1; then
  tail -n 40 "$out/cmake.log" "$out/ninja.log"
  say "build failed"
  exit 2
fi
simrun="$build/simrun"

# ---- the catalogue and the switch ------------------------------------------
# Catalogue lines: X("name", "REQ", "where", "what") \
mapfile -t entries < <(sed -n 's/^X("\([^"]*\)", "\([^"]*\)", "\([^"]*\)", "\([^"]*\)").*/\1|\2|\3|\4/p' "$catalogue")
[ "${#entries[@]}" -ge 12 ] || { say "the catalogue lists ${#entries[@]} mutants, fewer than 12"; exit 2; }
declare -A req where what
names=()
for e in "${entries[@]}"; do
  IFS='|' read -r n r w d <<<"$e"
  names+=("$n")
  req[$n]=$r
  where[$n]=$w
  what[$n]=$d
done
# Every MUTANT("x") in the product is catalogued, every entry is planted
# where the catalogue says.
while read -r used; do
  [ -n "${req[$used]+x}" ] || { say "MUTANT(\"$used\") is not in $catalogue"; status=2; }
done < <(grep -rhoE 'MUTANT\("[a-z0-9-]+"\)' lib proxy control apps --include='*.c' |
  sed 's/MUTANT("\(.*\)")/\1/' | sort -u)
for n in "${names[@]}"; do
  grep -q "MUTANT(\"$n\")" "${where[$n]}" 2>/dev/null ||
    { say "$n: no MUTANT(\"$n\") in ${where[$n]}"; status=2; }
done
# An unknown name stops the run at start with the reason.
TAILSIM_MUTANT=no-such-mutant "$simrun" scenarios/quickstart.yaml --out "$out/unknown" \
  >"$out/unknown.log" 2>&1
rc=$?
if [ "$rc" -eq 0 ] || ! grep -q 'unknown mutant "no-such-mutant"' "$out/unknown.log"; then
  say "TAILSIM_MUTANT=no-such-mutant was not refused at start (exit $rc, $out/unknown.log)"
  status=2
fi
# An ordinary build holds none of the names (MUTANT() is the constant false).
if [ -d "$normal" ]; then
  mapfile -t bins < <(find "$normal" -type f \( -name '*.a' -o -perm -u+x \) \
    \( -path '*/lib/*' -o -path '*/proxy/*' -o -path '*/control/*' -o -name simrun \) 2>/dev/null)
  for n in "${names[@]}"; do
    hit=$(grep -l -a -F "$n" "${bins[@]}" 2>/dev/null | head -n 1)
    [ -z "$hit" ] || { say "the ordinary build holds mutant $n ($hit)"; status=2; }
  done
  say "ordinary build $normal: ${#bins[@]} binaries and libraries hold none of the names"
else
  say "no ordinary build at $normal: the no-mutants check is skipped"
fi
[ "$status" -eq 0 ] || exit "$status"

# ---- one run: the suites ---------------------------------------------------
# suites LABEL: runs the selected suites with the current TAILSIM_MUTANT;
# writes $out/LABEL.failed (one "binary: suite::test" a line; a suite that
# failed without a readable report is "binary"). Stops at the first failing
# suite unless MUTANTS_ALL=1, and Criterion at a suite's first failing test.
suites() {
  local label=$1
  local results="$build/test-results"
  rm -f "$results"/*.json
  # Declaration order (fast unit and conformance suites first, simrun's
  # scenario runs last) rather than ctest's longest-first: with
  # --stop-on-failure most mutants die in the first minute.
  rm -f "$build/Testing/Temporary/CTestCostData.txt"
  local stop=(--stop-on-failure) fast=(CRITERION_FAIL_FAST=1)
  [ "${MUTANTS_ALL:-0}" = 1 ] && stop=() fast=()
  env "${fast[@]}" ctest --test-dir "$build" -E "$skip_suites" -j"$jobs" "${stop[@]}" --timeout 600 \
    --output-on-failure >"$out/$label.ctest.log" 2>&1
  rm -rf "$out/$label.results" && cp -r "$results" "$out/$label.results"
  python3 - "$out/$label.ctest.log" "$results" >"$out/$label.failed" <<'EOF'
import glob, json, os, re, sys
log, results = sys.argv[1], sys.argv[2]
failed_bins = re.findall(r"^\s*\d+ - (\S+) \(", open(log, errors="replace").read(), re.M)
seen = set()
for path in sorted(glob.glob(os.path.join(results, "*.json"))):
    binary = os.path.basename(path)[:-5]
    # Criterion writes assertion messages unescaped: read the names and
    # statuses by pattern, as scripts/conformance-matrix.py does.
    text = open(path, errors="replace").read()
    suite = None
    pat = r'"name": "([^"]*)",\s*(?:"passed"|"assertions": \d+,\s*"status": "([A-Z]+)")'
    for m in re.finditer(pat, text):
        if m.group(2) is None:
            suite = m.group(1)
        elif m.group(2) in ("FAILED", "ERRORED"):
            print("%s: %s::%s" % (binary, suite, m.group(1)))
            seen.add(binary)
# Without a report (Criterion's fail-fast ends a suite before it writes
# one), the [FAIL] lines that --output-on-failure put under the suite's
# status line name the tests.
current = None
for line in open(log, errors="replace"):
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    m = re.match(r"^\s*\d+/\d+ Test\s+#\d+: (\S+) ", line)
    if m:
        current = m.group(1)
        continue
    m = re.search(r"\[FAIL\] (\S+?)::(\S+?):? ", line)
    if m and current in failed_bins and current not in seen:
        name = "%s: %s::%s" % (current, m.group(1), m.group(2))
        print(name)
        seen.add(name)
for b in failed_bins:
    if b not in seen and not any(x.startswith(b + ": ") for x in seen):
        print(b)
EOF
}

# ---- one run: the explore sweep --------------------------------------------
have_explore=0
if grep -q '"explore"' sim/simrun.c && [ -x "$simrun" ]; then
  have_explore=1
fi
# sweep LABEL: writes $out/LABEL.explore ("invariant seed N (scenario)"
# for the first broken seed of each scenario; "simrun exit N (scenario)"
# when the sweep itself failed).
sweep() {
  local label=$1
  : >"$out/$label.explore"
  [ "$have_explore" = 1 ] || return 0
  for entry in "${explore_scenarios[@]}"; do
    local sc=${entry%%:*} seeds=${MUTANTS_SEEDS:-${entry##*:}}
    local dir="$out/explore-$label-$(basename "$sc" .yaml)"
    rm -rf "$dir"
    "$simrun" explore "$sc" --seeds "$seeds" --jobs "$jobs" --pcap none --quiet --out "$dir" \
      >"$dir.log" 2>&1
    local rc=$?
    if [ "$rc" -eq 0 ]; then
      continue
    elif [ "$rc" -eq 1 ] && [ -f "$dir/explore.json" ]; then
      python3 - "$dir/explore.json" "$(basename "$sc")" >>"$out/$label.explore" <<'EOF'
import json, sys
# Per seed ("runs"; "seeds" in the first drafts of the format): the first
# that did not pass, by its broken invariants, else its first failed
# expectation, else its error.
doc = json.load(open(sys.argv[1]))
for r in doc.get("runs", doc.get("seeds", [])):
    if not isinstance(r, dict) or r.get("status", "fail" if r.get("broken") else "pass") == "pass":
        continue
    ex = r.get("expectations") or {}
    why = ",".join(r.get("broken") or []) or (
        "expectation: %s" % ex["first_failed"] if ex.get("first_failed") else
        "error: %s" % r.get("error", "?"))
    print("%s, seed %s (%s)" % (why, r.get("seed"), sys.argv[2]))
    break
EOF
    else
      echo "simrun exit $rc ($(basename "$sc"))" >>"$out/$label.explore"
    fi
  done
}

# ---- the real code first: it must pass what kills the mutants -------------
only=${1:-}
say "baseline: the real code (TAILSIM_MUTANT unset)"
unset TAILSIM_MUTANT
MUTANTS_ALL=1 suites baseline
sweep baseline
if [ -s "$out/baseline.failed" ] || [ -s "$out/baseline.explore" ]; then
  say "the real code fails its own run; nothing can be judged:"
  cat "$out/baseline.failed" "$out/baseline.explore"
  exit 2
fi
[ "$have_explore" = 1 ] || say "simrun explore is not in this tree yet: the explore sweep is skipped"

# ---- every mutant ------------------------------------------------------------
table="$out/kill-table.md"
{
  echo "| mutant | requirement | breaks | killed by tests | killed by explore (invariant, seed) |"
  echo "|---|---|---|---|---|"
} >"$table"
survivors=0
for n in "${names[@]}"; do
  if [ -n "$only" ] && [[ ",$only," != *",$n,"* ]]; then
    continue
  fi
  t0=$(date +%s)
  export TAILSIM_MUTANT=$n
  suites "$n"
  sweep "$n"
  unset TAILSIM_MUTANT
  nf=$(wc -l <"$out/$n.failed")
  tests=$(head -n 3 "$out/$n.failed" | sed 's/^/`/; s/$/`/' | paste -sd ' ' - | sed 's/` `/`, `/g')
  [ "$nf" -gt 3 ] && tests="$tests (+$((nf - 3)))"
  explore=$(paste -sd ';' "$out/$n.explore" | sed 's/;/; /g')
  [ "$have_explore" = 1 ] || explore="(explore not built)"
  if [ "$nf" -eq 0 ] && [ ! -s "$out/$n.explore" ]; then
    survivors=$((survivors + 1))
    tests="**SURVIVED**"
  fi
  echo "| \`$n\` | ${req[$n]} | ${what[$n]} | ${tests:--} | ${explore:--} |" >>"$table"
  say "$n: $nf failing tests, explore: ${explore:--} ($(($(date +%s) - t0)) s)"
done

echo
cat "$table"
echo
say "${#names[@]} mutants, $survivors survived, $(($(date +%s) - start)) s; table: $table"
[ "$survivors" -eq 0 ]
