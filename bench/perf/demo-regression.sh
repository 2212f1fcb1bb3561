#!/usr/bin/env bash
# Shows the gate and bisect catching a regression nobody announced (issue
# 14's proof, docs/benchmarks.md "The perf suite"). In a throwaway clone of
# this repository's HEAD it adds three commits: a harmless one, one that
# makes every HTTP backend answer 5 ms later, another harmless one. Then:
#   1. `perfrun gate` there must fail, naming a latency metric;
#   2. `perfrun bisect` on that metric must name the slowing commit.
# Prints PASS or FAIL for each and exits non-zero on a FAIL. Takes a few
# minutes (two builds of simrun plus the bisect steps'; ccache helps).
#
# The work folder goes under $TMPDIR (default /tmp), and bisect's worktree
# inside it. Builds go through ccache when it is installed: the clone and
# the worktree share it (base_dir the work folder, or $CCACHE_BASEDIR when
# that holds the work folder, as .ci/run sets it, so they also reuse the CI
# build's objects).
#
# usage: bench/perf/demo-regression.sh [--keep]
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
keep=0
[ "${1:-}" = --keep ] && keep=1
work=$(mktemp -d "${TMPDIR:-/tmp}/perf-demo.XXXXXX")
cleanup() { [ $keep = 1 ] || rm -rf "$work"; }
trap cleanup EXIT
echo "# work folder $work" >&2
export TMPDIR=$work
case "$work/" in
"${CCACHE_BASEDIR:-/nowhere}"/*) ;;
*) export CCACHE_BASEDIR=$work ;;
esac
# -g puts the build folder in the hash unless told not to: the clone's and
# the worktree's folders differ, their objects do not
export CCACHE_NOHASHDIR=true

git clone -q "$root" "$work/tree"
cd "$work/tree"
git config user.email demo@example.com
git config user.name "perf demo"
base=$(git rev-parse HEAD)

echo "# $(date -u +%FT%TZ) three commits on top of $base" >&2
echo "A harmless change before the slowdown." >>"$work/tree/bench/perf/DEMO.txt"
git add bench/perf/DEMO.txt && git commit -qm "demo: harmless change 1"
# every backend answer 5 ms later: the kind of slip a review misses
sed -i 's/uint64_t delay = b->service_time_us;/uint64_t delay = b->service_time_us + 5000;/' \
	apps/http_backend.c
git diff --quiet apps/http_backend.c && { echo "FAIL: the injection found nothing to change" >&2; exit 1; }
git commit -qam "apps: http_backend takes 5 ms more per answer (the injected regression)"
slow=$(git rev-parse HEAD)
echo "Another harmless change." >>bench/perf/DEMO.txt
git commit -qam "demo: harmless change 2"

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache
	-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAILSIM_BENCH=OFF \
	"${launcher[@]}" >"$work/cmake.log"
ninja -C build simrun perfrun >"$work/ninja.log"

failed=0
echo "# $(date -u +%FT%TZ) perfrun gate at the slowed HEAD" >&2
set +e
build/perfrun gate >"$work/gate.md" 2>"$work/gate.log"
gate_rc=$?
set -e
cat "$work/gate.md"
metric=$(grep -o '^| [a-z0-9.:-]*latency_p50_ms | exact |[^|]*|[^|]*|[^|]*| \*\*REGRESSION\*\*' \
	"$work/gate.md" | head -1 | awk '{ print $2 }')
if [ $gate_rc -eq 1 ] && [ -n "$metric" ]; then
	echo "PASS gate: exit 1, names $metric"
else
	echo "FAIL gate: exit $gate_rc, no latency metric named REGRESSION"
	failed=1
	metric=quickstart.office.latency_p50_ms
fi

echo "# $(date -u +%FT%TZ) perfrun bisect --good $base --bad HEAD --metric $metric" >&2
start=$(date +%s)
set +e
build/perfrun bisect --good "$base" --bad HEAD --metric "$metric" | tee "$work/bisect.out"
set -e
found=$(sed -n 's/^first bad commit: \([0-9a-f]*\).*/\1/p' "$work/bisect.out")
if [ "$found" = "$slow" ]; then
	echo "PASS bisect: names $slow in $(($(date +%s) - start)) s"
else
	echo "FAIL bisect: named '${found:-nothing}', the slowing commit is $slow"
	failed=1
fi
exit $failed
