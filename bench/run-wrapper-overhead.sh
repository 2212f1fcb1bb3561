#!/usr/bin/env bash
# Wrapper-overhead benchmark: the same underlay TCP request/response workload
# (1,000 hosts, 4 regions, 0.5 requests/s per host, 30 simulated seconds) run
# as a plain ns-3 program (bench_rr_plain) and through ns3w + the seam
# (simrun bench/rr-1k.yaml). Runs each side REPS times, alternating, and
# prints the medians and the wrapper/plain ratios, with each repetition's.
# See docs/benchmarks.md.
#
# usage: bench/run-wrapper-overhead.sh [--reps N] [--build DIR] [--no-build]
#            [--smoke] [--plain-only] [--routing "host direct"] [--plain-args "ARGS"]
# BUILD (default /tmp/build-bench-release) is configured as Release.
# --smoke: one repetition of 2 simulated seconds on the binaries in BUILD.
# --routing lists the bench_rr_plain --routing variants to run (host: static
# host routes, the plain user's program and the headline ratio; prefix;
# direct: ns3w's routing tricks, isolating the C layer's own cost).
# Wall time, CPU time and peak RSS come from /usr/bin/time (whole process:
# build, run and teardown); events from each program's summary, requests from
# rr_plain's summary and from simrun's events.jsonl (simrun's own summary
# counts only tailnet requests, so its "0 requests" is not this workload's).
# Exits 1 when any figure of any repetition cannot be read.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/bench-lib.sh
. "$root/bench/bench-lib.sh"
plain_only=0
variants="host direct"
scenario=${SCENARIO:-$root/bench/rr-1k.yaml}
plain_args="--nodes 1000 --regions 4 --duration 30 --rate 0.5 --seed 1"

usage() {
	echo "usage: $0 [--reps N] [--build DIR] [--no-build] [--smoke] [--plain-only]" \
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

work=$(mktemp -d "${TMPDIR:-/tmp}/wrapper-overhead.XXXXXX")
echo "# outputs in $work" >&2
cut=()
if [ "$smoke" = 1 ]; then
	plain_args=$(echo "$plain_args" | sed -E 's/--duration [0-9.]+/--duration 2/')
	cut=(--duration 2s)
fi
sim_s=$(echo " $plain_args " | grep -oE -- '--duration [0-9.]+' | awk '{ print $2 }')
sim_s=${sim_s:-30}

sides=""
for v in $variants; do sides="$sides plain-$v"; done
[ $plain_only = 1 ] || sides="$sides wrapper"

# runs side $1, repetition $2
run_side() {
	local side=$1 i=$2 rc=0
	local t="$work/$side-$i.time" o="$work/$side-$i.out"
	case $side in
	plain-*)
		# shellcheck disable=SC2086 # a word list
		timed "$t" "$build/bench_rr_plain" \
			$plain_args --routing "${side#plain-}" --out "$work/$side-$i.jsonl" >"$o" || rc=$?
		;;
	wrapper)
		timed "$t" "$build/simrun" --quiet --pcap none "${cut[@]}" --out "$work/$side-$i" \
			"$scenario" >"$o" 2>&1 || rc=$?
		;;
	esac
	# simrun: 1 = an expectation failed (there are none here); 2 = failed run
	if [ $rc -ge 2 ] || { [ $rc -ne 0 ] && [ "$side" != wrapper ]; }; then
		side_failed "$side" $rc "$o"
	fi
	side_ran "$side" "$i" "$t"
}

run_all "$reps" "$sides"

# events executed: rr_plain "events=N", simrun's "run: ... N ns-3 events"
events_of() {
	case $1 in
	*/plain-*) field events "$1" ;;
	*) count_before "ns-3 events" "$1" ;;
	esac
}
# requests completed ok: rr_plain "ok=N"; simrun: the rr_done events with
# outcome ok in the events file its output names ("events: PATH")
ok_of() {
	local ev
	case $1 in
	*/plain-*) field ok "$1" ;;
	*)
		ev=$(sed -n 's/^events: //p' "$1")
		if [ -f "$ev" ]; then
			grep -F '"type":"rr_done"' "$ev" | grep -cF '"outcome":"ok"' || true
		else
			echo "no events file"
		fi
		;;
	esac
}

# every repetition's figures, each checked: "side i wall cpu events ok rss_kib"
for side in $sides; do
	for i in $(seq 1 "$reps"); do
		o=$work/$side-$i.out t=$work/$side-$i.time
		wall=$(field wall "$t") cpu=$(cpu_of "$t") rss=$(field rss_kib "$t")
		events=$(events_of "$o") ok=$(ok_of "$o")
		must_read "$side #$i wall time" "$wall" "$t"
		must_read "$side #$i CPU time" "$cpu" "$t"
		must_read "$side #$i peak RSS" "$rss" "$t"
		must_read "$side #$i ns-3 events" "$events" "$o"
		# the wrapper's requests come from its events file
		ev=$o
		[ "$side" != wrapper ] || ev=$(sed -n 's/^events: //p' "$o")
		must_read "$side #$i requests ok" "$ok" "${ev:-$o}"
		echo "$side $i $wall $cpu $events $ok $rss" >>"$work/figures"
	done
done

# median of column COL (3 wall, 4 cpu, 5 events, 6 ok, 7 rss) over SIDE's runs
med() { awk -v s="$1" -v c="$2" '$1 == s { print $c }' "$work/figures" | median; }

printf '\n%-14s %8s %8s %9s %9s %12s %8s %10s %8s\n' side wall_s cpu_s events events/s \
	sim_s/wall_s ok_reqs cpu_us/req rss_MiB
for side in $sides; do
	wall=$(med "$side" 3) cpu=$(med "$side" 4) events=$(med "$side" 5) ok=$(med "$side" 6)
	rss=$(med "$side" 7)
	awk -v n="$side" -v w="$wall" -v c="$cpu" -v e="$events" -v k="$ok" -v r="$rss" \
		-v s="$sim_s" 'BEGIN { printf "%-14s %8.2f %8.2f %9d %9.0f %12.2f %8d %10.0f %8.1f\n",
		                       n, w, c, e, e / w, s / w, k, c * 1e6 / k, r / 1024 }'
done
if [ $plain_only = 0 ]; then
	# the ratio of the medians, then each repetition's (wrapper run i against
	# plain run i, which ran next to it)
	echo
	for side in $sides; do
		[ "$side" != wrapper ] || continue
		awk -v p="$side" -v wm="$(med wrapper 3)" -v cm="$(med wrapper 4)" \
			-v km="$(med wrapper 6)" -v pwm="$(med "$side" 3)" -v pcm="$(med "$side" 4)" \
			-v pkm="$(med "$side" 6)" '
			$1 == "wrapper" { w[$2] = $3; c[$2] = $4; k[$2] = $6 }
			$1 == p { pw[$2] = $3; pc[$2] = $4; pk[$2] = $6; n++ }
			END {
				printf "ratio wrapper/%s: wall time %.2f, CPU time %.2f, CPU per request %.2f\n",
				       p, wm / pwm, cm / pcm, (cm / km) / (pcm / pkm)
				for (i = 1; i <= n; i++)
					printf "  run %d: wall time %.2f, CPU time %.2f, CPU per request %.2f\n",
					       i, w[i] / pw[i], c[i] / pc[i], (c[i] / k[i]) / (pc[i] / pk[i])
			}' "$work/figures"
	done
fi
echo "(median of $reps runs each, alternating; $(nproc) CPUs, load average now" \
	"$(cut -d' ' -f1-3 /proc/loadavg))"
# the allocator each side links: a difference shows in every ratio
alloc_of() { ldd "$1" | grep -oE 'lib(tc|je)malloc[a-z_]*' | head -1 || echo "glibc malloc"; }
echo "(allocator: bench_rr_plain $(alloc_of "$build/bench_rr_plain")$(
	[ $plain_only = 1 ] || echo ", simrun $(alloc_of "$build/simrun")"))"
for side in $sides; do
	case $side in
	plain-*) echo "($side: $(sed -n 3p "$work/$side-1.out"))" ;;
	wrapper) echo "(wrapper: $(grep '^run:' "$work/$side-1.out"))" ;;
	esac
done
