#!/usr/bin/env bash
# Fails when a product source file (lib, proxy, control, apps, sim, reports)
# is longer than 1,200 lines, unless its opening comment says why it is one
# cohesive piece with the marker "cohesive:" (issue 12's limit, kept).
set -euo pipefail
cd "$(dirname "$0")/.."
max=1200
bad=0
while IFS= read -r f; do
  lines=$(wc -l <"$f")
  if [ "$lines" -gt "$max" ] && ! head -n 40 "$f" | grep -q 'cohesive:'; then
    echo "check-file-size: $f has $lines lines (limit $max, no 'cohesive:' reason in its header)"
    bad=1
  fi
done < <(git ls-files -- lib proxy control apps sim reports | grep -E '\.(c|h|cc)$')
[ "$bad" -eq 0 ] && echo "check-file-size: ok (no product file over $max lines)"
exit "$bad"
