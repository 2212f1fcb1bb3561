#!/usr/bin/env bash
# One daemon = one struct: the daemon, control and sim-backend libraries may
# hold no writable global or static variable. Objects in .bss/.data (and
# thread-local ones) fail; const tables, which land in .rodata or
# .data.rel.ro (read-only after relocation), pass.
set -euo pipefail
build=${1:-build}
status=0
checked=0
# Every library built from lib/, proxy/, control/, reports/, sim/ and apps/
# (apps run many to a process in the simulator, like the daemon) except the
# ns-3 wrapper, whose C++ holds ns-3's own TypeId statics. Test and fuzz
# libraries are not checked.
mapfile -t libs < <(find "$build"/lib "$build"/proxy "$build"/control "$build"/reports \
  "$build"/sim "$build"/apps -name 'lib*.a' 2>/dev/null | sort)
for lib in "${libs[@]}"; do
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
