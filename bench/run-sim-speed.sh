#!/usr/bin/env bash
# Simulation speed benchmark (not a test): the reference scenario of 1,000
# tailnet nodes making 1,000 HTTP requests/s in total through the L7 Service
# Proxies (bench/tailnet-1k.yaml: control, 4 hosts, 996 clients, 30 simulated
# seconds), in its two connection modes, against plain ns-3 running 1,000
# hosts at 1,000 TCP request/responses per second (bench_rr_plain, the
# anchor; no tailnet, no proxy, one connection per request).
#
# Prints per side the median wall time, CPU time, simulated seconds per
# wall second (whole run: building the world, registering 1,000 daemons with
# control, the workload, the reports), completed requests and peak RSS, then
# each side's speed relative to the anchor. See docs/benchmarks.md,
# "Simulation speed".
#
# usage: bench/run-sim-speed.sh [--reps N] [--build DIR] [--no-build]
# BUILD (default /tmp/build-bench-release) is configured as Release.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/bench-lib.sh
. "$root/bench/bench-lib.sh"
usage() {
	echo "usage: $0 [--reps N] [--build DIR] [--no-build]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	common_opt "$@"
	[ "$used" -gt 0 ] || usage
	shift "$used"
done
release_build -DTAILSIM_BENCH=ON "simrun bench_rr_plain"

work=$(mktemp -d /tmp/sim-speed.XXXXXX)
echo "# outputs in $work" >&2
scenario=$root/bench/tailnet-1k.yaml
# the same scenario with persistent client connections
# (each client keeps about one connection: a host sees hundreds, not thousands)
sed 's/kind: http, rate:/kind: http, connection: keepalive, rate:/
     s/name: tailnet-1k$/name: tailnet-1k-keepalive/
     s/new_connections: ">= 5000"/new_connections: ">= 300"/' \
	"$scenario" >"$work/tailnet-1k-keepalive.yaml"
sim_s=30
sides="tailnet-new tailnet-keepalive plain-ns3"

run_side() {
	local side=$1 i=$2 rc=0
	local t="$work/$side-$i.time" o="$work/$side-$i.out"
	case $side in
	tailnet-new | tailnet-keepalive)
		local sc=$scenario
		[ "$side" = tailnet-keepalive ] && sc=$work/tailnet-1k-keepalive.yaml
		timed "$t" "$build/simrun" --quiet --pcap none --out "$work/$side-$i" "$sc" \
			>"$o" 2>&1 || rc=$?
		;;
	plain-ns3)
		timed "$t" "$build/bench_rr_plain" \
			--nodes 1000 --regions 3 --duration $sim_s --rate 1.0 --seed 1 --routing direct \
			--out "$work/$side-$i.jsonl" >"$o" 2>&1 || rc=$?
		;;
	esac
	[ $rc -eq 0 ] || side_failed "$side" $rc "$o"
	side_ran "$side" "$i" "$t"
}

run_all "$reps" "$sides"

# completed requests: rr_plain "ok=N"; simrun "(... N requests; ...)"
ok_of() {
	case $1 in
	*/plain-*) field ok "$1" ;;
	*) count_before requests "$1" ;;
	esac
}

printf '\n%-18s %8s %8s %12s %9s %8s\n' side wall_s cpu_s sim_s/wall_s requests rss_MiB
for side in $sides; do
	read -r wall cpu rss <<<"$(time_medians "$work" "$side")"
	ok=$(for f in "$work/$side"-*.out; do ok_of "$f"; done | median)
	echo "$side $wall" >>"$work/medians"
	awk -v n="$side" -v w="$wall" -v c="$cpu" -v k="$ok" -v r="$rss" -v s="$sim_s" \
		'BEGIN { printf "%-18s %8.2f %8.2f %12.2f %9d %8.1f\n", n, w, c, s / w, k, r / 1024 }'
done
echo
awk '{ w[$1] = $2 } END {
	printf "speed relative to plain ns-3 (anchor): tailnet-new %.2f, tailnet-keepalive %.2f\n",
	       w["plain-ns3"] / w["tailnet-new"], w["plain-ns3"] / w["tailnet-keepalive"] }' \
	"$work/medians"
echo "(median of $reps runs each, alternating; $(nproc) CPUs, load average now" \
	"$(cut -d' ' -f1-3 /proc/loadavg))"
for side in tailnet-new tailnet-keepalive; do
	echo "($side: $(grep -E '^report:' "$work/$side-1.out" | head -1))"
done
