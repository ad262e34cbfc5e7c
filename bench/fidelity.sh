#!/bin/sh
# lethe against its PyTorch fidelity twin (bench/torch/cl.py): each scenario run by `lethe run`
# and by the twin for each seed, one run at a time, then a side-by-side table of ACC, BWT and
# forgetting (mean ± std over the seeds, and lethe minus twin), |difference| > the tolerance
# flagged. The twin is written from the papers, not from lethe's C: the same protocol, not the
# same bits, so only the means over seeds are expected to agree.
#
#   bench/fidelity.sh SCENARIO... [--seeds 1,2,3] [--set SECTION.KEY=VALUE]... [--out DIR]
#                     [--threads N] [--tolerance 0.02] [--twin-only] [--lethe-draws]
#
# SCENARIO is a file or a shipped scenario's name (split-fashion-ewc). --set goes to both sides
# (train.seed is set per seed), e.g. --set data.max_train=1000 --set data.max_test=500 for a
# quick slice. --out keeps every run's results (DIR/NAME/lethe-SEED/, DIR/NAME/twin-SEED.json;
# default: a scratch directory, removed); --twin-only skips lethe (for settings it does not
# have yet). Both sides learn the same tasks for a seed (permutations and subsets by lethe's
# documented rule); --lethe-draws also gives the twin lethe's initial weights and batch order,
# and the reservoir methods' memory draws (MLP only; cl.py --lethe-draws): then each seed's
# figures should agree closely, and a difference left is the implementations', not the draws'
# (try --tolerance 0.005). Exit status: 0, or 1 when a difference is flagged or a run failed,
# 2 bad usage.
#
# Env: LETHE (the built tree's host/lethe), PYTHON (/usr/bin/python3: Debian's, which
# python3-torch installs into).
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
LETHE=${LETHE:-$SRC/host/lethe}
PYTHON=${PYTHON:-/usr/bin/python3}
SEEDS=1
THREADS=1
TOLERANCE=0.02
TWIN_ONLY=0
TWIN_ARGS=
OUT=
SETS=
SCENARIOS=

usage() {
	echo "usage: bench/fidelity.sh SCENARIO... [--seeds 1,2,3] [--set SECTION.KEY=VALUE]..." \
		"[--out DIR] [--threads N] [--tolerance T] [--twin-only] [--lethe-draws]" >&2
	exit 2
}
# quote WORD: WORD single-quoted for eval
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

while [ $# -gt 0 ]; do
	case $1 in
	--seeds) [ $# -ge 2 ] || usage; SEEDS=$2; shift 2 ;;
	--set) [ $# -ge 2 ] || usage; SETS="$SETS --set $(quote "$2")"; shift 2 ;;
	--out) [ $# -ge 2 ] || usage; OUT=$2; shift 2 ;;
	--threads) [ $# -ge 2 ] || usage; THREADS=$2; shift 2 ;;
	--tolerance) [ $# -ge 2 ] || usage; TOLERANCE=$2; shift 2 ;;
	--twin-only) TWIN_ONLY=1; shift ;;
	--lethe-draws) TWIN_ARGS=--lethe-draws; shift ;;
	-h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) echo "fidelity.sh: unknown option $1" >&2; usage ;;
	*) SCENARIOS="$SCENARIOS $(quote "$1")"; shift ;;
	esac
done
[ -n "$SCENARIOS" ] || usage
case $SEEDS in *[!0-9,]* | "" | ,* | *, | *,,*)
	echo "fidelity.sh: --seeds $SEEDS: expected a comma-separated list of integers" >&2
	exit 2 ;;
esac
case $THREADS in *[!0-9]* | "" | 0)
	echo "fidelity.sh: --threads $THREADS: expected N >= 1" >&2
	exit 2 ;;
esac
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
	echo "fidelity.sh: $PYTHON cannot import torch (apt-get install python3-torch)" >&2
	exit 2
fi
if [ "$TWIN_ONLY" = 0 ] && [ ! -x "$LETHE" ]; then
	echo "fidelity.sh: no lethe at $LETHE (build the tree, or set LETHE)" >&2
	exit 2
fi
. "$SRC/bench/lib.sh"
bench_outdir fidelity

now() { date +%s.%N; }
since() { echo "$1 $(now)" | awk '{ printf "%.1f", $2 - $1 }'; }
# figure FILE KEY: a figure of a JSON file
figure() {
	"$PYTHON" -c 'import json, sys; print("%.4f" % json.load(open(sys.argv[1]))[sys.argv[2]])' \
		"$1" "$2"
}

# scenario NAME: the file, a shipped scenario's name resolved as lethe does
scenario() {
	if [ -e "$1" ] || [ "${1#*/}" != "$1" ]; then
		echo "$1"
	elif [ -f "$SRC/scenarios/$1.ini" ]; then
		echo "$SRC/scenarios/$1.ini"
	else
		echo "$SRC/scenarios/$1"
	fi
}

if [ "$TWIN_ONLY" = 1 ]; then
	version="lethe skipped"
else
	version=$("$LETHE" --version 2>/dev/null | head -n 1)
fi
torch=$("$PYTHON" -c 'import torch; print(torch.__version__)')
note=
[ -z "$TWIN_ARGS" ] || note=", the twin on lethe's draws"
sets=
[ -z "$SETS" ] || sets=$(eval "printf ' %s' $SETS")
echo "fidelity: $version vs twin (PyTorch $torch), seeds $SEEDS, $THREADS thread(s)$note$sets" >&2
NAMES=
eval "set -- $SCENARIOS"
for s in "$@"; do
	file=$(scenario "$s")
	name=$(basename "$file" .ini)
	NAMES="$NAMES $(quote "$name")"
	mkdir -p "$OUT/$name"
	for seed in $(echo "$SEEDS" | tr ',' ' '); do
		line="fidelity: $name seed $seed:"
		if [ "$TWIN_ONLY" = 0 ]; then
			rm -rf "$OUT/$name/lethe-$seed" "$OUT/$name/lethe-$seed.err"
			t0=$(now)
			if eval "env OPENBLAS_NUM_THREADS=$THREADS \"\$LETHE\" run \"\$file\" \
				--out \"\$OUT/\$name/lethe-\$seed\" --force --quiet \
				--set train.seed=$seed --set train.threads=$THREADS $SETS" \
				>/dev/null 2>"$OUT/$name/lethe.log"; then
				acc=$(figure "$OUT/$name/lethe-$seed/metrics.json" average_accuracy)
				line="$line lethe $(since "$t0") s ACC $acc;"
			else
				mv "$OUT/$name/lethe.log" "$OUT/$name/lethe-$seed.err"
				rm -rf "$OUT/$name/lethe-$seed"
				line="$line lethe failed: $(tail -n 1 "$OUT/$name/lethe-$seed.err");"
			fi
		fi
		rm -f "$OUT/$name/twin-$seed.json" "$OUT/$name/twin-$seed.err"
		t0=$(now)
		if eval "env OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS \"\$PYTHON\" \
			\"\$SRC/bench/torch/cl.py\" \"\$file\" --quiet --threads $THREADS $TWIN_ARGS \
			--out \"\$OUT/\$name/twin-\$seed.json\" --set train.seed=$seed $SETS" \
			2>"$OUT/$name/twin.log"; then
			line="$line twin $(since "$t0") s ACC $(figure "$OUT/$name/twin-$seed.json" average_accuracy)"
		else
			mv "$OUT/$name/twin.log" "$OUT/$name/twin-$seed.err"
			line="$line twin failed: $(tail -n 1 "$OUT/$name/twin-$seed.err")"
		fi
		echo "$line" >&2
	done
	rm -f "$OUT/$name/lethe.log" "$OUT/$name/twin.log"
done
eval "set -- $NAMES"
"$PYTHON" "$SRC/bench/torch/compare.py" "$OUT" "$@" --seeds "$SEEDS" --tolerance "$TOLERANCE"
