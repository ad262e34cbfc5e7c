#!/bin/sh
# What checkpoints cost: a scenario's wall time as it checkpoints by default (after every step,
# and every train.checkpoint_every = 1000 batches within one) against none at all
# (train.checkpoint_every = -1). The runs alternate, REPS of each. It prints the ratio of the
# median wall times (the target is 1.03 at most), and, steadier on a busy machine, the time
# the runs themselves spent writing checkpoints: the "checkpoint" phase of metrics.json, less
# the same phase of the runs without (there it is the results files alone).
#
#   bench/bench_checkpoint.sh [SCENARIO [REPS]]   (from a built tree; env: LETHE, TMPDIR)
#
# SCENARIO defaults to quickstart (Fashion-MNIST, 5 steps of one epoch: a checkpoint every
# 188 batches, the most a shipped scenario writes). Results and checkpoints go to a scratch
# directory on TMPDIR's disk, which is what an fsync costs on.
set -eu
LETHE=${LETHE:-host/lethe}
SCENARIO=${1:-quickstart}
REPS=${2:-5}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lethe-bench-checkpoint-XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# run NAME [EVERY]: one run in TMP/NAME-run with train.checkpoint_every = EVERY (none: the
# default); appends its wall time and its checkpoint phase to TMP/NAME.
run() {
	name=$1
	shift
	set -- ${1:+--set train.checkpoint_every=$1}
	t0=$(date +%s.%N)
	"$LETHE" run "$SCENARIO" --out "$TMP/$name-run" --force --quiet "$@" >/dev/null
	t1=$(date +%s.%N)
	phase=$(sed -n 's/^ *"checkpoint": \([0-9.e-]*\).*/\1/p' "$TMP/$name-run/metrics.json")
	echo "$t0 $t1 $phase" | awk '{ printf "%.3f %.4f\n", $2 - $1, $3 }' >>"$TMP/$name"
}

# median COLUMN <FILE
median() {
	awk -v c="$1" '{ print $c }' | sort -n |
		awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

for i in $(seq "$REPS"); do
	run with
	run without -1
done
with=$(median 1 <"$TMP/with")
without=$(median 1 <"$TMP/without")
writing=$(paste "$TMP/with" "$TMP/without" | awk '{ print $2 - $4 }' | median 1)
size=$(wc -c <"$TMP/with-run/checkpoint.lethe")
echo "$SCENARIO, median of $REPS runs each: checkpoints by default $with s, none $without s"
echo "$with $without $writing $size" | awk '{
	printf "wall-time ratio %.4f (target <= 1.03)\n", $1 / $2
	printf "writing checkpoints: %.3f s a run, %.2f%% of it; a checkpoint is %.1f MB\n",
		$3, 100 * $3 / $2, $4 / 1048576 }'
