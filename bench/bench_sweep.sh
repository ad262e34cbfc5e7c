#!/bin/sh
# lethe sweep's parallel speed-up: the same 12 runs (2 settings x 6 seeds, a few seconds each on
# synthetic data) with --jobs 2 and one after another (--jobs 1). Prints both wall times and
# their ratio; the target on two cores is 0.60 or less. Not part of make check (a minute).
#     LETHE_BIN=host/lethe bench/bench_sweep.sh
set -eu

LETHE=${LETHE_BIN:-host/lethe}
EPOCHS=${BENCH_EPOCHS:-20}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lethe-bench-sweep-XXXXXX")
trap 'rm -rf "$TMP"' EXIT

cat >"$TMP/base.ini" <<EOF2
[scenario]
name = bench
protocol = class-incremental
[data]
source = synthetic
classes = 4
dim = 256
train_per_class = 2000
test_per_class = 200
[tasks]
split = 2
[model]
hidden = 256,256
[train]
lr = 0.05
batch_size = 64
epochs = $EPOCHS
EOF2
printf '[sweep]\nname = bench\nscenario = base.ini\nseeds = 1-6\n[grid]\ntrain.lr = 0.02, 0.05\n' \
	>"$TMP/sweep.ini"

seconds() { # DIR JOBS: the sweep's wall time
	t0=$(date +%s.%N)
	"$LETHE" sweep "$TMP/sweep.ini" --out "$1" --jobs "$2" --quiet >/dev/null
	t1=$(date +%s.%N)
	echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }'
}

one=$(seconds "$TMP/one" 1)
two=$(seconds "$TMP/two" 2)
echo "12 runs, --jobs 1: $one s"
echo "12 runs, --jobs 2: $two s"
echo "$one $two" | awk '{ r = $2 / $1
	printf "ratio: %.2f (target <= 0.60)%s\n", r, r <= 0.60 ? "" : "  ABOVE TARGET" }'
