#!/bin/sh
# Every shipped scenario kind on the real Fashion-MNIST, as `make bench` prints it: wall time
# (the whole process: start, data loading, training, evaluation, files), training samples/s,
# peak RSS, and the share of the run's time in each phase metrics.json records: training,
# evaluation, plugin hooks (of which EWC's Fisher = ewc's after_task, OVOR's outlier synthesis =
# ovor's before_epoch), unlearning (forget steps). bench_dispatch measures the hook dispatch.
#
#   bench/bench_scenarios.sh           (from a built tree; needs jq)
#
# Env: LETHE (host/lethe), EPOCHS (1; 2 is the scenarios' own), THREADS (1), OUT (a scratch
# directory, removed afterwards unless given).
set -eu
LETHE=${LETHE:-host/lethe}
SRC=$(cd "$(dirname "$0")/.." && pwd)
EPOCHS=${EPOCHS:-1}
THREADS=${THREADS:-1}
PER_CLASS=6000 # Fashion-MNIST's training samples per class

if ! command -v jq >/dev/null; then
	echo "bench_scenarios: skipped: jq is not installed" >&2
	exit 0
fi
. "$SRC/bench/lib.sh"
bench_outdir bench-scenarios

now() { date +%s.%N; }

# run DIR SCENARIO EPOCHS [ARGS...]: one run; its wall time goes to DIR.wall.
run() {
	dir=$1 scen=$2 epochs=$3
	shift 3
	t0=$(now)
	"$LETHE" run "$SRC/scenarios/$scen.ini" --out "$dir" --force --quiet \
		--set train.epochs="$epochs" --set train.threads="$THREADS" "$@"
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >"$dir.wall"
	echo "$epochs" >"$dir.epochs"
}

# The figures of one run as a table row; samples count each task's training data per epoch
# (rehearsal's replayed rows ride on top of them).
row() {
	label=$1 dir=$2
	jq -r --arg name "$label" --argjson wall "$(cat "$dir.wall")" \
		--argjson per "$PER_CLASS" --argjson epochs "$(cat "$dir.epochs")" '
		def pct(x): if .seconds.total > 0 then 100 * x / .seconds.total else 0 end;
		def hook(p; h): (.seconds.hooks[p][h] // 0);
		(([.tasks[].classes | length] | add) * $per * $epochs) as $samples
		| [ $name, $wall, .seconds.total,
		    (if .seconds.phases.train > 0 then $samples / .seconds.phases.train else 0 end),
		    .peak_rss_bytes / 1048576,
		    pct(.seconds.phases.train), pct(.seconds.phases.evaluate),
		    pct(.seconds.phases.hooks), pct(hook("ewc"; "after_task")),
		    pct(hook("ovor"; "before_epoch")), pct(.seconds.phases.forget),
		    .average_accuracy ]
		| "\(.[0])|\(.[1])|\(.[2])|\(.[3])|\(.[4])|\(.[5])|\(.[6])|\(.[7])|\(.[8])|\(.[9])|\(.[10])|\(.[11])"
		' "$dir/metrics.json" | awk -F'|' '{
		printf "%-22s %7.2f %7.2f %9.0f %6.0f %6.1f %6.1f %6.1f %6.1f %6.1f %6.1f %6.3f\n",
			$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 }'
}

echo "Shipped scenarios on Fashion-MNIST, train.epochs=$EPOCHS (OVOR at least 2)," \
	"train.threads=$THREADS"
echo "(wall: the whole process; run: metrics.json's total; % of the run's time per phase;"
echo " Fisher and outliers are part of hooks, unlearning is the forget steps)"
printf "%-22s %7s %7s %9s %6s %6s %6s %6s %6s %6s %6s %6s\n" scenario "wall s" "run s" \
	samples/s "RSS MB" "train%" "eval%" "hooks%" "Fisher" "outlrs" unlrn% ACC
for scen in split-fashion-naive split-fashion-ewc split-fashion-l2 split-fashion-rehearsal \
	split-fashion-ovor unlearn-class-sfd; do
	# OVOR's head-only epoch, where the outliers are made, needs a second epoch; an
	# unlearning run's references (retrain and three baselines) would dwarf the rest: retrain
	# alone stands for them.
	case $scen in
	*-ovor) run "$OUT/$scen" "$scen" $((EPOCHS < 2 ? 2 : EPOCHS)) ;;
	unlearn-*) run "$OUT/$scen" "$scen" "$EPOCHS" --set forget1.references=retrain ;;
	*) run "$OUT/$scen" "$scen" "$EPOCHS" ;;
	esac
	row "${scen#split-fashion-}" "$OUT/$scen"
done
