#!/usr/bin/env bash
# Runs every shipped scenario with its own seed and prints a SHA-256 of each
# output that must not change when code is restructured: events.jsonl,
# report.json, latency.csv and every pcap. Compare two runs with diff:
#   scripts/scenario-hashes.sh build > before.txt; ...; diff before.txt after.txt
# Usage: scenario-hashes.sh [BUILD_DIR] [--with-10k]   (scale-10k takes minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
with_10k=false
[ "${2:-}" = "--with-10k" ] && with_10k=true
shopt -s nullglob
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for s in scenarios/*.yaml; do
  name=$(basename "$s" .yaml)
  if [ "$name" = scale-10k ] && ! $with_10k; then
    continue
  fi
  if ! "$build/simrun" --quiet --out "$out" "$s" >"$out/$name.log" 2>&1; then
    echo "$name: simrun failed" >&2
    tail -n 5 "$out/$name.log" >&2
    exit 1
  fi
  for f in "$out/reports/$name/events.jsonl" "$out/reports/$name/report.json" \
    "$out/reports/$name/latency.csv" "$out/pcaps/$name"/*.pcap; do
    printf '%s %s\n' "$(sha256sum <"$f" | cut -c1-16)" "${f#"$out"/}"
  done
done
