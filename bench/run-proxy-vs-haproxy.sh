#!/usr/bin/env bash
# Proxy throughput: svcd vs HAProxy on loopback (issue 3). One network
# namespace holds svcd (real mode, its TUN device carrying the service VIP
# 100.100.0.5), HAProxy (nbthread 1) bound to the same VIP on other ports,
# an nginx backend (1 worker) and an iperf3 server on 127.0.0.1. Clients in
# the namespace reach the VIP by local delivery. Proxies run on core 0; load
# generators and backends on core 1 (the machine has 2 cores).
#
#   L7  wrk -t1 -c50 -d${DUR}s --latency: direct, svcd --http=80, HAProxy mode http
#   L4  iperf3 single stream: direct, svcd --tcp=5201, HAProxy mode tcp
#   L4  new connections/s: wrk -H 'Connection: close' through svcd --tcp=81 and
#       HAProxy mode tcp to nginx (every request is a new TCP connection)
# Each measurement REPS times (interleaved); medians and svcd/HAProxy ratios,
# with each repetition's. Exits 1 when a figure cannot be read (the run's
# output file is named) or a proxy answered with non-2xx responses.
#
# usage: bench/run-proxy-vs-haproxy.sh [--reps N] [--duration S] [--build DIR]
#            [--no-build] [--smoke] [--perf]
# BUILD (default /tmp/build-proxy-bench) is configured as Release.
# --smoke: one repetition of 1 s per measurement on the binaries in BUILD.
# Daemons start as `ip netns exec NS taskset ...` (not through a shell function):
# both exec, so $! is the daemon itself and the EXIT trap can kill it.
# --perf also records `perf record -g` of svcd under the L7 load (perf.data in
# the output dir) and prints the top symbols. Needs root.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/bench-lib.sh
. "$root/bench/bench-lib.sh"
cfgdir=$root/bench/proxy-bench
build=${BUILD:-/tmp/build-proxy-bench}
dur=
do_perf=0
usage() {
	echo "usage: $0 [--reps N] [--duration S] [--build DIR] [--no-build] [--smoke] [--perf]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	common_opt "$@"
	if [ "$used" -eq 0 ]; then
		case $1 in
		--duration) dur=$2 used=2 ;;
		--perf) do_perf=1 used=1 ;;
		*) usage ;;
		esac
	fi
	shift "$used"
done
[ "$smoke" = 0 ] || dur=${dur:-1}
dur=${dur:-10}
[ "$(id -u)" = 0 ] || { echo "$0: needs root (network namespace, TUN device)" >&2; exit 1; }
for t in haproxy wrk iperf3 nginx taskset ip jq; do
	command -v $t >/dev/null || { echo "$0: $t not installed (scripts/install-deps.sh)" >&2; exit 1; }
done
release_build "" "svcd svcctl"
svcd=$build/svcd
svcctl=$build/svcctl

ns=pxb$$
vip=100.100.0.5
work=$(mktemp -d "${TMPDIR:-/tmp}/proxy-bench.XXXXXX")
pids=()
echo "# outputs in $work" >&2

cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	[ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
	ip netns del $ns 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

inns() { ip netns exec $ns "$@"; }
wait_port() { # addr port
	for _ in $(seq 100); do
		inns bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "$0: nothing listening on $1:$2" >&2; exit 1
}

ip netns add $ns
inns ip link set lo up
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# svcd on core 0
ip netns exec $ns taskset -c 0 "$svcd" --name host --underlay 127.0.0.1:41641 --tun pxbtun0 \
	--socket "$work/svcd.sock" --netmap "$cfgdir/netmap.json" >"$work/svcd.log" 2>&1 &
svcpid=$!
pids+=($!)
for _ in $(seq 100); do [ -S "$work/svcd.sock" ] && break; sleep 0.1; done
[ -S "$work/svcd.sock" ] || { cat "$work/svcd.log"; exit 1; }
ctl() { inns "$svcctl" --socket "$work/svcd.sock" "$@"; }
ctl serve --service=svc:web --http=80 127.0.0.1:8080 >/dev/null
ctl serve --service=svc:web --tcp=81 127.0.0.1:8080 >/dev/null
ctl serve --service=svc:web --tcp=5201 127.0.0.1:5202 >/dev/null

# backends on core 1
mkdir -p "$work/nginx"
sed -e "s#PIDFILE#$work/nginx.pid#" -e "s#TMPDIR#$work/nginx#" "$cfgdir/nginx.conf" \
	>"$work/nginx.conf"
ip netns exec $ns taskset -c 1 nginx -c "$work/nginx.conf" -p "$work/nginx" >"$work/nginx.log" 2>&1 &
pids+=($!)
ip netns exec $ns taskset -c 1 iperf3 -s -B 127.0.0.1 -p 5202 >"$work/iperf3-server.log" 2>&1 &
pids+=($!)

# HAProxy on core 0 (after svcd: it binds the VIP that svcd puts on its TUN)
wait_port $vip 80
ip netns exec $ns taskset -c 0 haproxy -db -f "$cfgdir/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
pids+=($!)
wait_port 127.0.0.1 8080
wait_port 127.0.0.1 5202
wait_port $vip 8081
wait_port $vip 8082
wait_port $vip 5203
wait_port $vip 81
wait_port $vip 5201

# wrk's summary -> "req_per_s p99_ms"
wrk_run() { # name url [extra wrk args...]
	local name=$1 url=$2; shift 2
	local out=$work/$name.txt
	inns taskset -c 1 wrk -t1 -c50 -d"$dur"s --latency "$@" "$url" >"$out" 2>&1
	local rps p99 errs
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
	p99=$(awk '$1 == "99%" { v = $2;
		if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v) }
		else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
		print v }' "$out")
	errs=$(awk '/Non-2xx|Socket errors/ { print }' "$out" | tr '\n' ' ')
	[ -z "$errs" ] || echo "# $name: $errs" >&2
	echo "$rps $p99"
}
iperf_run() { # name addr port -> Gbit/s received
	local out=$work/$1.json
	# no fallback address: a proxy that is not reachable must fail the run,
	# not be measured as something else
	inns taskset -c 1 iperf3 -c "$2" -p "$3" -t "$dur" -J >"$out" 2>&1 || true
	jq '.end.sum_received.bits_per_second / 1e9' "$out" 2>/dev/null || true
}

# measure KEY REP CMD NAME ARGS...: runs one measurement (CMD prints its
# figures; NAME: its output file's base name), checks every figure and appends
# "KEY REP figures" to the results. A wrk run is refused when any response
# was not 2xx: its requests/s would count error pages.
measure() {
	local key=$1 r=$2 name=$4 a b out
	shift 2
	read -r a b <<<"$("$@")"
	case $key in
	l4_*)
		out=$work/$name.json
		must_read "$key rep $r Gbit/s" "$a" "$out"
		;;
	*)
		out=$work/$name.txt
		must_read "$key rep $r requests/s" "$a" "$out"
		must_read "$key rep $r p99 latency" "$b" "$out"
		if grep -q 'Non-2xx' "$out"; then
			echo "$0: $key rep $r: $(grep 'Non-2xx' "$out") (from $out)" >&2
			exit 1
		fi
		;;
	esac
	echo "$key $r $a $b" >>"$work/results"
}

: >"$work/results"
for r in $(seq "$reps"); do
	echo "# rep $r/$reps: load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
	measure l7_direct "$r" wrk_run "l7-direct-$r" http://127.0.0.1:8080/
	measure l7_svcd "$r" wrk_run "l7-svcd-$r" "http://$vip:80/"
	measure l7_haproxy "$r" wrk_run "l7-haproxy-$r" "http://$vip:8081/"
	measure cps_direct "$r" wrk_run "cps-direct-$r" http://127.0.0.1:8080/ -H 'Connection: close'
	measure cps_svcd "$r" wrk_run "cps-svcd-$r" "http://$vip:81/" -H 'Connection: close'
	measure cps_haproxy "$r" wrk_run "cps-haproxy-$r" "http://$vip:8082/" -H 'Connection: close'
	measure l4_direct "$r" iperf_run "l4-direct-$r" 127.0.0.1 5202
	measure l4_svcd "$r" iperf_run "l4-svcd-$r" $vip 5201
	measure l4_haproxy "$r" iperf_run "l4-haproxy-$r" $vip 5203
done

if [ $do_perf = 1 ] && [ -n "$svcpid" ]; then
	echo "# perf record -g of svcd (pid $svcpid) under L7 load" >&2
	perf record -g -o "$work/perf-l7.data" -p "$svcpid" -- sleep "$dur" >/dev/null 2>&1 &
	pp=$!
	inns taskset -c 1 wrk -t1 -c50 -d"$dur"s "http://$vip:80/" >/dev/null 2>&1
	wait $pp || true
	perf report -i "$work/perf-l7.data" --no-children -g none --sort dso,symbol --stdio 2>/dev/null |
		awk '/^ +[0-9]/ && n++ < 25' >"$work/perf-l7.top"
	perf record -g -o "$work/perf-cps.data" -p "$svcpid" -- sleep "$dur" >/dev/null 2>&1 &
	pp=$!
	inns taskset -c 1 wrk -t1 -c50 -d"$dur"s -H 'Connection: close' "http://$vip:81/" \
		>/dev/null 2>&1
	wait $pp || true
	perf report -i "$work/perf-cps.data" --no-children -g none --sort dso,symbol --stdio 2>/dev/null |
		awk '/^ +[0-9]/ && n++ < 25' >"$work/perf-cps.top"
	echo "# top symbols: $work/perf-l7.top $work/perf-cps.top" >&2
fi

# medians (results: "key rep figure1 figure2")
med() { # key column (2: first figure)
	awk -v k="$1" -v c="$(($2 + 1))" '$1 == k { print $c }' "$work/results" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
			else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "nan"; else printf "%.2f", a / b }'; }
# each repetition's svcd/HAProxy ratio of column C of measurement K
rep_ratios() { # key column
	awk -v k="$1" -v c="$(($2 + 1))" '$1 == k "_svcd" { s[$2] = $c } $1 == k "_haproxy" { h[$2] = $c }
		END { for (r = 1; r in s; r++) printf " %.2f", s[r] / h[r] }' "$work/results"
}
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg); reps $reps, ${dur}s each; medians"
printf "%-34s %12s %12s %12s %10s  %s\n" measurement direct svcd haproxy svcd/hap "each rep"
for m in "l7:2:L7 keep-alive requests/s" "l7:3:L7 keep-alive p99 latency ms" \
	"cps:2:L4 new connections/s" "cps:3:L4 new-connection p99 ms" \
	"l4:2:L4 single stream Gbit/s"; do
	k=${m%%:*}; rest=${m#*:}; c=${rest%%:*}; label=${rest#*:}
	d=$(med "${k}_direct" "$c"); s=$(med "${k}_svcd" "$c"); h=$(med "${k}_haproxy" "$c")
	printf "%-34s %12.2f %12.2f %12.2f %10s %s\n" "$label" "$d" "$s" "$h" "$(ratio "$s" "$h")" \
		"$(rep_ratios "$k" "$c")"
done
echo "# raw: $work/results"
