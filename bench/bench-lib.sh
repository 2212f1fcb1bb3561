# shellcheck shell=bash
# Shell functions the benchmark scripts share (run-sim-speed.sh,
# run-wrapper-overhead.sh); sourced, not run. Each side of a benchmark runs
# REPS times; a run's measures go to WORK/SIDE-I.time and its output to
# WORK/SIDE-I.out.

# The options every benchmark takes, with their defaults: BUILD (default
# /tmp/build-bench-release, configured as Release), --reps N, --build DIR,
# --no-build. The sourcing script sets root (the repository).
# shellcheck disable=SC2034 # read by the sourcing scripts
build=${BUILD:-/tmp/build-bench-release}
reps=3
no_build=0

# common_opt ARGS...: takes one shared option from the front of ARGS and
# sets `used` to how many arguments it took (0: not a shared option)
common_opt() {
	used=0
	case $1 in
	--reps) reps=$2 used=2 ;;
	--build) build=$2 used=2 ;;
	--no-build) no_build=1 used=1 ;;
	esac
}

# release_build "CMAKE_OPTIONS" "TARGETS": configures and builds the targets
# in BUILD, unless --no-build
release_build() {
	[ "$no_build" = 0 ] || return 0
	# shellcheck disable=SC2086 # both are word lists
	cmake -S "${root:?}" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release $1 >/dev/null
	# shellcheck disable=SC2086
	ninja -C "$build" $2 >/dev/null
}

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "nan" }'; }
# value of key=N in a file; first match
field() { grep -oE "$1=[0-9.]+" "$2" | head -1 | cut -d= -f2 || echo nan; }
# user + system CPU seconds of one .time file
cpu_of() { grep -oE 'cpu=[0-9.]+\+[0-9.]+' "$1" | awk -F'[=+]' '{ print $2 + $3 }'; }

# count_before WORDS FILE: N of the first "N WORDS" in FILE
count_before() { grep -oE "[0-9]+ $1" "$2" | head -1 | grep -oE '^[0-9]+' || echo nan; }

# run_all REPS SIDES: the caller's run_side SIDE I for every repetition,
# the sides alternating within each
run_all() {
	local i side
	for i in $(seq 1 "$1"); do
		for side in $2; do run_side "$side" "$i"; done
	done
}

# timed FILE CMD...: runs CMD under /usr/bin/time, wall and CPU time and
# peak RSS into FILE
timed() {
	local t=$1
	shift
	/usr/bin/time -f "wall=%e cpu=%U+%S rss_kib=%M" -o "$t" "$@"
}

# time_medians WORK SIDE: "wall cpu rss_kib", each the median over the
# side's repetitions
time_medians() {
	local work=$1 side=$2 f wall cpu rss
	wall=$(for f in "$work/$side"-*.time; do field wall "$f"; done | median)
	cpu=$(for f in "$work/$side"-*.time; do cpu_of "$f"; done | median)
	rss=$(for f in "$work/$side"-*.time; do field rss_kib "$f"; done | median)
	echo "$wall $cpu $rss"
}

# side_ran SIDE I TIMEFILE: one progress line for a run that worked
side_ran() { echo "$1 #$2: $(cat "$3")" >&2; }

# side_failed SIDE RC OUT: says which side failed and how, then exits
side_failed() {
	echo "$1 failed (exit $2):" >&2
	tail -20 "$3" >&2
	exit 1
}
