#!/usr/bin/env bash
# One daemon = one struct: the daemon, control and sim-backend libraries may
# hold no writable global or static variable. Objects in .bss/.data (and
# thread-local ones) fail; const tables, which land in .rodata or
# .data.rel.ro (read-only after relocation), pass.
set -euo pipefail
build=${1:-build}
status=0
checked=0
# Every library of ours except the ns-3 wrapper, whose C++ holds ns-3's own
# TypeId statics.
for lib in "$build"/proxy/lib*.a "$build"/sim/lib*.a "$build"/control/lib*.a "$build"/reports/lib*.a; do
  [ -f "$lib" ] || continue
  [ "$(basename "$lib")" = libns3w.a ] && continue
  checked=$((checked + 1))
  hits=$(objdump -t "$lib" | awk '(/[*]COM[*]/ || ($3 == "O" && $4 ~ /^\.(bss|data|tbss|tdata)($|\.)/ && $4 !~ /^\.data\.rel\.ro/))' || true)
  if [ -n "$hits" ]; then
    echo "writable globals in $lib:"
    echo "$hits"
    status=1
  fi
done
[ "$checked" -gt 0 ] || { echo "no libraries found under $build"; exit 1; }
echo "checked $checked libraries"
exit $status
