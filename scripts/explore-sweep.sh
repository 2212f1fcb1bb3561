#!/usr/bin/env bash
# The fixed explore sweep CI runs on every change (issue 13; EXP-1, EXP-2):
# a few hundred seeds over the shipped scenarios that carry a fault menu,
# every core, each seed's invariants judged. Exits 1 when a seed breaks an
# invariant or does not run to its end (each printed with its replay and
# shrink commands), 2 when a sweep could not run.
#
#   scripts/explore-sweep.sh [BUILD_DIR] [OUT_DIR]
#
# Seed counts: EXPLORE_SEEDS (a multiplier, default 1); the longer sweep of
# docs/explore.md is EXPLORE_SEEDS=10.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=${2:-$build/explore-sweep}
mult=${EXPLORE_SEEDS:-1}
jobs=$(nproc)

# scenario  seeds (times the multiplier)
sweeps=(
  "failover-crash 100"
  "drain-under-load 100"
  "chaos-mixed 30"
)

status=0
for s in "${sweeps[@]}"; do
  read -r name n <<<"$s"
  last=$((n * mult))
  "$build/simrun" explore "scenarios/$name.yaml" --seeds "1..$last" --jobs "$jobs" \
    --pcap none --quiet --out "$out/$name"
  rc=$?
  if [ "$rc" -gt "$status" ]; then
    status=$rc
  fi
done
exit "$status"
