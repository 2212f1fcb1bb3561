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
# each side's speed relative to the anchor, with each repetition's. See
# docs/benchmarks.md, "Simulation speed". Exits 1 when any figure of any
# repetition cannot be read.
#
# usage: bench/run-sim-speed.sh [--reps N] [--build DIR] [--no-build] [--smoke]
# BUILD (default /tmp/build-bench-release) is configured as Release.
# --smoke: one repetition on the binaries in BUILD, the tailnet cut to 7
# simulated seconds (simrun --duration; 2 s of requests) and plain ns-3 to 2.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/bench-lib.sh
. "$root/bench/bench-lib.sh"
usage() {
	echo "usage: $0 [--reps N] [--build DIR] [--no-build] [--smoke]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	common_opt "$@"
	[ "$used" -gt 0 ] || usage
	shift "$used"
done
release_build -DTAILSIM_BENCH=ON "simrun bench_rr_plain"

work=$(mktemp -d "${TMPDIR:-/tmp}/sim-speed.XXXXXX")
echo "# outputs in $work" >&2
scenario=$root/bench/tailnet-1k.yaml
sim_s=30 plain_s=30 cut=()
if [ "$smoke" = 1 ]; then
	# 5 s to register 1,000 daemons, then 2 s of requests; the new-connection
	# counts expected of 25 s of requests do not apply (simrun exits 1)
	cut=(--duration 7s) sim_s=7 plain_s=2
fi
# the same scenario with persistent client connections
# (each client keeps about one connection: a host sees hundreds, not thousands)
sed 's/kind: http, rate:/kind: http, connection: keepalive, rate:/
     s/name: tailnet-1k$/name: tailnet-1k-keepalive/
     s/new_connections: ">= 5000"/new_connections: ">= 300"/' \
	"$scenario" >"$work/tailnet-1k-keepalive.yaml"
sides="tailnet-new tailnet-keepalive plain-ns3"

run_side() {
	local side=$1 i=$2 rc=0
	local t="$work/$side-$i.time" o="$work/$side-$i.out"
	case $side in
	tailnet-new | tailnet-keepalive)
		local sc=$scenario
		[ "$side" = tailnet-keepalive ] && sc=$work/tailnet-1k-keepalive.yaml
		timed "$t" "$build/simrun" --quiet --pcap none "${cut[@]}" --out "$work/$side-$i" \
			"$sc" >"$o" 2>&1 || rc=$?
		# a cut run misses the whole run's expectations: only a failed run counts
		[ $rc -eq 1 ] && [ ${#cut[@]} -gt 0 ] && rc=0
		;;
	plain-ns3)
		timed "$t" "$build/bench_rr_plain" \
			--nodes 1000 --regions 3 --duration $plain_s --rate 1.0 --seed 1 --routing direct \
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

# every repetition's figures, each checked: "side i sim_s wall cpu requests rss_kib"
for side in $sides; do
	s=$sim_s
	[ "$side" != plain-ns3 ] || s=$plain_s
	for i in $(seq 1 "$reps"); do
		o=$work/$side-$i.out t=$work/$side-$i.time
		wall=$(field wall "$t") cpu=$(cpu_of "$t") rss=$(field rss_kib "$t") ok=$(ok_of "$o")
		must_read "$side #$i wall time" "$wall" "$t"
		must_read "$side #$i CPU time" "$cpu" "$t"
		must_read "$side #$i peak RSS" "$rss" "$t"
		must_read "$side #$i requests" "$ok" "$o"
		echo "$side $i $s $wall $cpu $ok $rss" >>"$work/figures"
	done
done
# median of column COL (4 wall, 5 cpu, 6 requests, 7 rss) over SIDE's runs
med() { awk -v s="$1" -v c="$2" '$1 == s { print $c }' "$work/figures" | median; }

printf '\n%-18s %8s %8s %12s %9s %8s\n' side wall_s cpu_s sim_s/wall_s requests rss_MiB
for side in $sides; do
	s=$sim_s
	[ "$side" != plain-ns3 ] || s=$plain_s
	awk -v n="$side" -v w="$(med "$side" 4)" -v c="$(med "$side" 5)" -v k="$(med "$side" 6)" \
		-v r="$(med "$side" 7)" -v s="$s" \
		'BEGIN { printf "%-18s %8.2f %8.2f %12.2f %9d %8.1f\n", n, w, c, s / w, k, r / 1024 }'
done
# speed (simulated s per wall s) relative to the anchor: of the medians, then
# each repetition's (side run i against plain run i, which ran next to it)
echo
awk -v a="$(med plain-ns3 4)" -v n="$(med tailnet-new 4)" -v k="$(med tailnet-keepalive 4)" \
	-v s="$sim_s" -v ps="$plain_s" '
	{ v[$1, $2] = $3 / $4; if ($2 > reps) reps = $2 }
	END {
		printf "speed relative to plain ns-3 (anchor): tailnet-new %.2f, tailnet-keepalive %.2f\n",
		       (s / n) / (ps / a), (s / k) / (ps / a)
		for (i = 1; i <= reps; i++)
			printf "  run %d: tailnet-new %.2f, tailnet-keepalive %.2f\n", i,
			       v["tailnet-new", i] / v["plain-ns3", i],
			       v["tailnet-keepalive", i] / v["plain-ns3", i]
	}' "$work/figures"
echo "(median of $reps runs each, alternating; $(nproc) CPUs, load average now" \
	"$(cut -d' ' -f1-3 /proc/loadavg))"
for side in tailnet-new tailnet-keepalive; do
	echo "($side: $(grep -E '^report:' "$work/$side-1.out" | head -1))"
done
