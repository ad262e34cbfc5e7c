#!/bin/sh
# How a continual-learning study's cost grows, lethe against its PyTorch twin, along three axes
# of split Fashion-MNIST (class-incremental), one axis at a time from the shipped scenarios:
#   tasks   EWC (exact Fisher) with 2, 5 and 10 tasks: the Fisher and the penalty grow with them
#   width   naive with hidden = W,W for W = 128 .. 1024: the products grow as W and W²
#   buffer  rehearsal (reservoir) storing 100 .. 10000 samples
# Each point prints wall and processor time and peak RSS of both and their ratios, as markdown
# tables, then an ASCII chart of the processor times (steady on a machine others load). One
# epoch per task (EPOCHS); the sides alternate, and the run of least processor time of REPS
# counts.
#
#   bench/bench_axes.sh                (from a built tree; make bench-axes runs it)
#
# Env: LETHE (host/lethe), THREADS (1), EPOCHS (1), REPS (1), PYTHON (/usr/bin/python3),
# OUT (a scratch directory, removed afterwards unless given).
set -eu
LETHE=${LETHE:-host/lethe}
SRC=$(cd "$(dirname "$0")/.." && pwd)
THREADS=${THREADS:-1}
EPOCHS=${EPOCHS:-1}
REPS=${REPS:-1}
PYTHON=${PYTHON:-/usr/bin/python3}

TORCH=1
"$PYTHON" -c 'import torch' 2>/dev/null || TORCH=0
[ "$TORCH" = 1 ] || echo "bench-axes: $PYTHON cannot import torch: lethe's figures alone"
if ! command -v jq >/dev/null; then
	echo "bench-axes: skipped: jq is not installed"
	exit 0
fi
. "$SRC/bench/lib.sh"
bench_outdir bench-axes
export OPENBLAS_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS"

now() { date +%s.%N; }

# timed COMMAND...: runs it, its output to $OUT/stdout; "wall cpu" seconds to $OUT/took (cpu:
# the children's user + system time from the shell's `times`).
timed() {
	t0=$(now)
	( "$@"; times >"$OUT/times" ) >"$OUT/stdout"
	t1=$(now)
	awk -v w="$(echo "$t0 $t1" | awk '{ print $2 - $1 }')" '
		function s(t) { sub(/s$/, "", t); split(t, p, "m"); return p[1] * 60 + p[2] }
		NR == 2 { printf "%.3f %.3f\n", w, s($1) + s($2) }' "$OUT/times" >"$OUT/took"
}

# point NAME SCENARIO LETHE_SET TWIN_ARGS: appends "NAME wall cpu rss" of lethe, then of torch
# (zeros without torch), to $OUT/points: the run of least processor time of each side.
point() {
	name=$1 scen=$2 set=$3 twin=$4
	: >"$OUT/lethe" && : >"$OUT/torch"
	i=0
	while [ "$i" -lt "$REPS" ]; do
		d=$OUT/$scen-$name-$i
		timed "$LETHE" run "$SRC/scenarios/split-fashion-$scen.ini" --out "$d" --force \
			--quiet --set train.threads="$THREADS" --set train.epochs="$EPOCHS" --set "$set"
		echo "$(cat "$OUT/took") $(jq '.peak_rss_bytes' "$d/metrics.json")" >>"$OUT/lethe"
		if [ "$TORCH" = 1 ]; then
			# shellcheck disable=SC2086
			timed "$PYTHON" "$SRC/bench/torch/twin.py" "$scen" --threads "$THREADS" \
				--epochs "$EPOCHS" $twin
			echo "$(cat "$OUT/took") $(sed -n 's/.*peak_rss=\([0-9]*\).*/\1/p' \
				"$OUT/stdout")" >>"$OUT/torch"
		else
			echo "0 0 0" >>"$OUT/torch"
		fi
		i=$((i + 1))
	done
	echo "$name $(sort -n -k2 "$OUT/lethe" | head -n 1) $(sort -n -k2 "$OUT/torch" | head -n 1)" \
		>>"$OUT/points"
}

# table TITLE UNIT: the points gathered so far as a markdown table and a chart; then resets.
table() {
	echo
	echo "### $1"
	echo
	echo "| $2 | lethe wall s | torch wall s | speedup | lethe cpu s | torch cpu s |" \
		"cpu ratio | lethe MiB | torch MiB | RSS ratio |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	awk 'function r(a, b) { return b > 0 ? sprintf("%.1fx", a / b) : "-" }
		function v(x, f) { return x > 0 ? sprintf(f, x) : "-" }
		{ printf "| %s | %.2f | %s | %s | %.2f | %s | %s | %.0f | %s | %s |\n", $1, $2,
			v($5, "%.2f"), r($5, $2), $3, v($6, "%.2f"), r($6, $3), $4 / 1048576,
			v($7 / 1048576, "%.0f"), r($7, $4) }' "$OUT/points"
	echo
	echo "processor seconds:"
	echo '```'
	awk '
		{ n[NR] = $1; l[NR] = $3; t[NR] = $6; if ($3 > m) m = $3; if ($6 > m) m = $6 }
		END {
			for (i = 1; i <= NR; i++) {
				printf "%-6s lethe %-40s %6.2f\n", n[i], bar(l[i]), l[i]
				if (t[i] > 0)
					printf "%-6s torch %-40s %6.2f\n", "", bar(t[i]), t[i]
			}
		}
		function bar(v,   s, k) { s = ""; for (k = 0; k < int(40 * v / m + 0.5); k++) s = s "#"; return s }' \
		"$OUT/points"
	echo '```'
	rm -f "$OUT/points"
}

echo "Cost along three axes: split Fashion-MNIST, $EPOCHS epoch(s) per task, $THREADS" \
	"thread(s), the whole process, best of $REPS"
for t in 2 5 10; do
	point "$t" ewc "tasks.split=$t" "--tasks $t"
done
table "Number of tasks (EWC, exact Fisher, λ = 100)" tasks
for w in 128 256 512 1024; do
	point "$w" naive "model.hidden=$w,$w" "--hidden $w"
done
table "Model width (naive, MLP 784-W-W-10)" W
for n in 100 500 2000 10000; do
	point "$n" rehearsal "rehearsal.max_stored=$n" "--stored $n"
done
table "Rehearsal buffer (reservoir, 64 replayed rows a batch)" stored
