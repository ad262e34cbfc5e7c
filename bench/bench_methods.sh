#!/bin/sh
# Each strategy's cost on split Fashion-MNIST (class-IL, MLP: its shipped scenario), as `make
# bench` prints it: wall time relative to naive's in the same run, against the bounds the
# baselines are held to (SI, A-GEM, ER-ACE, DER and DER++ within 2x of naive, GEM within 4x),
# and heap allocations per training batch. Each scenario runs twice under the malloc-counting
# shim (bench/malloc_count.c), at one epoch and at two (the scenarios' own): the second epoch
# adds only batches (and one shuffle per task), so the difference in allocations over its
# batches is what a batch allocates. Times are the two-epoch run's. A slice (MAX_TRAIN training
# samples per task, 2000 unless given; 0 = the full 12000) keeps it to minutes; with it the
# per-task work (GDumb's retraining, iCaRL's herding, BiC's bias fit) weighs more than on the
# full data.
#
#   bench/bench_methods.sh             (from a built tree; needs jq)
#
# Env: LETHE (host/lethe), SHIM (bench/.libs/malloc_count.so), MAX_TRAIN (2000), THREADS (1),
# METHODS (naive and the eleven baselines), OUT (a scratch directory, removed unless given).
# Exit status 0 even when a bound is missed: a timing on a shared machine is a figure, not a
# test; the table flags it.
set -eu
LETHE=${LETHE:-host/lethe}
SHIM=${SHIM:-bench/.libs/malloc_count.so}
SRC=$(cd "$(dirname "$0")/.." && pwd)
MAX_TRAIN=${MAX_TRAIN:-2000}
THREADS=${THREADS:-1}
METHODS=${METHODS:-naive si mas lwf gem agem er_ace der derpp icarl gdumb bic}

if ! command -v jq >/dev/null; then
	echo "bench_methods: skipped: jq is not installed" >&2
	exit 0
fi
if [ ! -f "$SHIM" ]; then
	echo "bench_methods: $SHIM is missing (make bench builds it)" >&2
	exit 1
fi
SHIM=$(cd "$(dirname "$SHIM")" && pwd)/$(basename "$SHIM")
. "$SRC/bench/lib.sh"
bench_outdir bench-methods

now() { date +%s.%N; }

# run DIR METHOD EPOCHS: one run under the shim; DIR.wall its wall time, DIR.allocs the
# allocations of every process it made (libtool's wrapper execs the program: one line each).
run() {
	dir=$1 method=$2 epochs=$3
	rm -f "$dir.allocs"
	t0=$(now)
	MALLOC_COUNT_OUT="$dir.allocs" LD_PRELOAD="$SHIM" "$LETHE" run \
		"$SRC/scenarios/split-fashion-$method.ini" --out "$dir" --force --quiet \
		--set train.epochs="$epochs" --set train.threads="$THREADS" \
		--set data.max_train="$MAX_TRAIN"
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >"$dir.wall"
}

# batches DIR: training batches in one epoch of the run (batch 64, as every scenario here),
# from each task's training size: its classes' 6000 samples each, or MAX_TRAIN.
batches() {
	jq --argjson m "$MAX_TRAIN" '[.tasks[] | (.classes | length) * 6000
		| if $m > 0 and $m < . then $m else . end | (. + 63) / 64 | floor] | add' \
		"$1/metrics.json"
}

allocs() { awk '{ n += $2 } END { print n + 0 }' "$1.allocs"; }

echo "Strategies on split Fashion-MNIST (class-IL, MLP, their scenarios: 2 epochs, batch 64)," \
	"data.max_train=$MAX_TRAIN, train.threads=$THREADS"
echo "(wall: the whole process at 2 epochs, x naive against naive's in this run; train+hooks:"
echo " metrics.json's training and plugin-hook seconds, which leave out loading and evaluation;"
echo " bound: 2x for the per-batch methods, 4x for GEM, on wall time; allocs/batch: heap"
echo " allocations of the second epoch over its batches, counted by bench/malloc_count.c)"
printf "%-8s %8s %8s %8s %8s %6s %5s %12s %7s\n" method "wall s" "x naive" "train+h" \
	"x naive" bound "" allocs/batch ACC
naive_wall='' naive_train=''
for m in $METHODS; do
	run "$OUT/$m-1" "$m" 1
	run "$OUT/$m-2" "$m" 2
	wall=$(cat "$OUT/$m-2.wall")
	train=$(jq '.seconds.phases.train + .seconds.phases.hooks' "$OUT/$m-2/metrics.json")
	[ -n "$naive_wall" ] || naive_wall=$wall naive_train=$train
	case $m in
	si | agem | er_ace | der | derpp) bound=2 ;;
	gem) bound=4 ;;
	*) bound=- ;;
	esac
	per=$(awk -v a="$(allocs "$OUT/$m-1")" -v b="$(allocs "$OUT/$m-2")" \
		-v n="$(batches "$OUT/$m-2")" 'BEGIN { printf "%.2f", (b - a) / n }')
	acc=$(jq '.average_accuracy' "$OUT/$m-2/metrics.json")
	awk -v m="$m" -v w="$wall" -v n="$naive_wall" -v t="$train" -v nt="$naive_train" \
		-v bound="$bound" -v per="$per" -v acc="$acc" 'BEGIN {
		r = w / n
		flag = (bound != "-" && r > bound) ? "over" : ""
		printf "%-8s %8.2f %8.2f %8.2f %8.2f %6s %5s %12s %7.3f\n", m, w, r, t, t / nt,
			bound, flag, per, acc
	}'
done
