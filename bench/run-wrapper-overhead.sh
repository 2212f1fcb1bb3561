#!/usr/bin/env bash
# Wrapper-overhead benchmark: the same underlay TCP request/response workload
# (1,000 hosts, 4 regions, 0.5 requests/s per host, 30 simulated seconds) run
# as a plain ns-3 program (bench_rr_plain) and through ns3w + the seam
# (simrun bench/rr-1k.yaml). Runs each side REPS times, alternating, and
# prints the medians and the wrapper/plain ratios. See docs/benchmarks.md.
#
# usage: bench/run-wrapper-overhead.sh [--reps N] [--build DIR] [--no-build]
#            [--plain-only] [--routing "host direct"] [--plain-args "ARGS"]
# BUILD (default /tmp/build-bench-release) is configured as Release.
# --routing lists the bench_rr_plain --routing variants to run (host: static
# host routes, the plain user's program and the headline ratio; prefix;
# direct: ns3w's routing tricks, isolating the C layer's own cost).
# Wall time, CPU time and peak RSS come from /usr/bin/time (whole process:
# build, run and teardown); events and requests from each program's summary.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/bench-lib.sh
. "$root/bench/bench-lib.sh"
plain_only=0
variants="host direct"
scenario=${SCENARIO:-$root/bench/rr-1k.yaml}
plain_args="--nodes 1000 --regions 4 --duration 30 --rate 0.5 --seed 1"

usage() {
	echo "usage: $0 [--reps N] [--build DIR] [--no-build] [--plain-only]" \
		"[--routing \"host prefix direct\"] [--plain-args ARGS]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	common_opt "$@"
	if [ "$used" -gt 0 ]; then
		shift "$used"
		continue
	fi
	case $1 in
	--plain-only) plain_only=1; shift ;;
	--routing) variants=$2; shift 2 ;;
	--plain-args) plain_args=$2; shift 2 ;;
	*) usage ;;
	esac
done

targets=bench_rr_plain
[ $plain_only = 1 ] || targets="$targets simrun"
release_build "" "$targets"

sim_s=$(echo " $plain_args " | grep -oE -- '--duration [0-9.]+' | awk '{ print $2 }')
sim_s=${sim_s:-30}
work=$(mktemp -d /tmp/wrapper-overhead.XXXXXX)
echo "# outputs in $work" >&2

sides=""
for v in $variants; do sides="$sides plain-$v"; done
[ $plain_only = 1 ] || sides="$sides wrapper"

# runs side $1, repetition $2
run_side() {
	local side=$1 i=$2 rc=0
	local t="$work/$side-$i.time" o="$work/$side-$i.out"
	case $side in
	plain-*)
		timed "$t" "$build/bench_rr_plain" \
			$plain_args --routing "${side#plain-}" --out "$work/$side-$i.jsonl" >"$o" || rc=$?
		;;
	wrapper)
		timed "$t" "$build/simrun" --quiet --pcap none --out "$work/$side-$i" "$scenario" \
			>"$o" 2>&1 || rc=$?
		;;
	esac
	# simrun: 1 = an expectation failed (there are none here); 2 = failed run
	if [ $rc -ge 2 ] || { [ $rc -ne 0 ] && [ "$side" != wrapper ]; }; then
		side_failed "$side" $rc "$o"
	fi
	side_ran "$side" "$i" "$t"
}

run_all "$reps" "$sides"

# events executed: rr_plain "events=N", simrun's summary "... N ns-3 events ..."
events_of() {
	case $1 in
	*/plain-*) field events "$1" ;;
	*) count_before "ns-3 events" "$1" ;;
	esac
}
# requests completed ok: rr_plain "ok=N", simrun "N ok"
ok_of() {
	case $1 in
	*/plain-*) field ok "$1" ;;
	*) count_before ok "$1" ;;
	esac
}

# side -> "wall cpu events ok rss_kib", each the median over the repetitions
summarize() {
	local side=$1 f
	local wall cpu events ok rss
	read -r wall cpu rss <<<"$(time_medians "$work" "$side")"
	events=$(for f in "$work/$side"-*.out; do events_of "$f"; done | median)
	ok=$(for f in "$work/$side"-*.out; do ok_of "$f"; done | median)
	echo "$wall $cpu $events $ok $rss"
}

printf '\n%-14s %8s %8s %9s %9s %12s %8s %10s %8s\n' side wall_s cpu_s events events/s \
	sim_s/wall_s ok_reqs cpu_us/req rss_MiB
for side in $sides; do
	read -r wall cpu events ok rss <<<"$(summarize "$side")"
	echo "$side $wall $cpu" >>"$work/medians"
	awk -v n="$side" -v w="$wall" -v c="$cpu" -v e="$events" -v k="$ok" -v r="$rss" \
		-v s="$sim_s" 'BEGIN { printf "%-14s %8.2f %8.2f %9d %9.0f %12.2f %8d %10.0f %8.1f\n",
		                       n, w, c, e, e / w, s / w, k, c * 1e6 / k, r / 1024 }'
done
if [ $plain_only = 0 ]; then
	echo
	awk '{ w[$1] = $2; c[$1] = $3; o[NR] = $1 }
	     END { for (i = 1; i < NR; i++)
		     printf "ratio wrapper/%s: wall time %.2f, CPU time %.2f\n",
		            o[i], w["wrapper"] / w[o[i]], c["wrapper"] / c[o[i]] }' "$work/medians"
fi
echo "(median of $reps runs each, alternating; $(nproc) CPUs, load average now" \
	"$(cut -d' ' -f1-3 /proc/loadavg))"
for side in $sides; do
	case $side in
	plain-*) echo "($side: $(sed -n 3p "$work/$side-1.out"))" ;;
	wrapper) echo "(wrapper: $(grep '^summary:' "$work/$side-1.out" | head -1))" ;;
	esac
done
