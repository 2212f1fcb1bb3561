# shellcheck shell=bash
# Shell functions the benchmark scripts share (run-sim-speed.sh,
# run-wrapper-overhead.sh, run-explore.sh, run-proxy-vs-haproxy.sh); sourced,
# not run. Each side of a benchmark runs
# REPS times; a run's measures go to WORK/SIDE-I.time and its output to
# WORK/SIDE-I.out.

# The options every benchmark takes, with their defaults: BUILD (default
# /tmp/build-bench-release, configured as Release), --reps N, --build DIR,
# --no-build, --smoke. The sourcing script sets root (the repository).
# --smoke (CI, scripts/bench-smoke.sh): one repetition of a seconds-long
# version of each measurement on the binaries already in BUILD, so that a
# benchmark whose figures can no longer be read fails at once instead of
# rotting until someone next runs it by hand. A later --reps still counts.
# shellcheck disable=SC2034 # read by the sourcing scripts
build=${BUILD:-/tmp/build-bench-release}
reps=3
no_build=0
smoke=0

# common_opt ARGS...: takes one shared option from the front of ARGS and
# sets `used` to how many arguments it took (0: not a shared option)
common_opt() {
	used=0
	case $1 in
	--reps) reps=$2 used=2 ;;
	--build) build=$2 used=2 ;;
	--no-build) no_build=1 used=1 ;;
	--smoke) smoke=1 reps=1 no_build=1 used=1 ;;
	esac
}

# release_build "CMAKE_OPTIONS" "TARGETS": configures and builds the targets
# in BUILD, unless --no-build; then each target must be a program in BUILD
release_build() {
	local t
	if [ "$no_build" = 0 ]; then
		# shellcheck disable=SC2086 # both are word lists
		cmake -S "${root:?}" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release $1 >/dev/null
		# shellcheck disable=SC2086
		ninja -C "$build" $2 >/dev/null
	fi
	for t in $2; do
		[ -x "$build/$t" ] || { echo "${0##*/}: $build/$t is not built" >&2; exit 1; }
	done
}

# must_read NAME VALUE [FILE]: VALUE, a figure the benchmark read or computed,
# must be a number greater than 0; else the benchmark could not read what it
# measures (a missing line, a changed output format, a run that did nothing)
# and exits 1 naming the figure and FILE, the output it came from, instead of
# printing nan, 0 or -2147483647 and passing. Every figure it reports has no
# meaningful zero (requests, events, times, rates, sizes).
must_read() {
	local name=$1 v=$2 from=${3:+ (from $3)}
	if ! [[ $v =~ ^[0-9]*[.]?[0-9]+([eE][-+]?[0-9]+)?$ ]]; then
		echo "${0##*/}: cannot read $name$from: got '$v', not a number >= 0" >&2
		exit 1
	fi
	if awk -v v="$v" 'BEGIN { exit !(v + 0 == 0) }'; then
		echo "${0##*/}: cannot read $name$from: got $v, and it cannot be 0" >&2
		exit 1
	fi
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
