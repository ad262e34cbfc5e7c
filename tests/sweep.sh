#!/bin/sh
# lethe sweep end to end, on small synthetic runs: runs in parallel and their summary, a failing
# setting, resuming (finished runs untouched), Ctrl-C, --summary, and the Slurm path (the
# emitted script's command run by hand for every array task).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/testlib.sh"
if ! command -v jq >/dev/null; then
	echo "skip: the summary checks need jq (apt-get install jq)"
	exit 77
fi
scratch sweep
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }

# A synthetic scenario with the test plugin `hooks`, whose fail_hook makes a run fail at run
# time; the sizes set how long a run takes.
scenario() { # FILE TRAIN_PER_CLASS DIM HIDDEN EPOCHS
	{
		printf '[scenario]\nname = sw\nprotocol = class-incremental\n'
		printf 'plugins = %s/hooks.so\n' "$PLUGINS"
		printf '[data]\nsource = synthetic\nclasses = 4\ndim = %s\n' "$3"
		printf 'train_per_class = %s\ntest_per_class = 40\n' "$2"
		printf '[tasks]\nsplit = 2\n[model]\nhidden = %s\n' "$4"
		printf '[train]\nlr = 0.05\nbatch_size = 20\nepochs = %s\nseed = 1\n' "$5"
	} >"$1"
}
scenario "$TMP/base.ini" 100 16 32 2

cat >"$TMP/good.ini" <<EOF
[sweep]
name = good
scenario = base.ini
seeds = 1-2
[grid]
train.lr = 0.05, 0.1
EOF

# ---- a sweep, two runs at a time ----
expect 0 "4/4 runs done" "sweep runs every setting and seed" -- \
	"$LETHE" sweep "$TMP/good.ini" --out "$TMP/g" --jobs 2
G=$TMP/g
check "every run complete" \
	'[ "$(cat "$G"/runs/*/seed-*/metrics.json | grep -c "\"complete\": true")" -eq 4 ]'
check "run logs kept" '[ -f "$G/runs/train.lr=0.1/seed-2/run.log" ]'
check "summary files written" '[ -s "$G/summary.json" ] && [ -s "$G/summary.csv" ]'
check "summary table printed" 'grep -q "^train.lr=0.1 .* ± " "$TMP/out"'

# The summary's mean and standard deviation recomputed from the runs' metrics.
recompute() { # DIR
	jq -e '.sweep == "good" and .runs == 4 and .done == 4 and .failed == 0 and
		.failures == [] and ([.settings[].label] | sort) == ["train.lr=0.05", "train.lr=0.1"]
		and ([.settings[].mean.average_accuracy] | . == (sort | reverse))' \
		"$1/summary.json" >/dev/null || return 1
	for lr in 0.05 0.1; do
		jq -s -e --arg lr "$lr" --slurpfile sum "$1/summary.json" '
			def mean: add / length;
			def sd: mean as $m | map((. - $m) * (. - $m)) | add / (length - 1) | sqrt;
			def close(a; b): ((a - b) | fabs) < 1e-12;
			. as $runs
			| ($sum[0].settings[] | select(.values["train.lr"] == $lr)) as $s
			| all(("average_accuracy", "bwt", "forgetting"); . as $k
				| close($s.mean[$k]; [$runs[][$k]] | mean)
				and close($s.std[$k]; [$runs[][$k]] | sd))
			and close($s.mean.wall_seconds; [$runs[].seconds.total] | mean)
			and (($s.mean.peak_rss_mb - ([$runs[].peak_rss_bytes / 1048576] | mean))
				| fabs) < 1e-9
			and $s.mean.ua == null and $s.std.mia == null and $s.seeds == [1, 2]
			and $s.done == 2 and $s.failed == 0' \
			"$1/runs/train.lr=$lr/seed-1/metrics.json" \
			"$1/runs/train.lr=$lr/seed-2/metrics.json" >/dev/null || return 1
	done
	head -1 "$1/summary.csv" | grep -q "^label,train.lr,seeds,done,failed,average_accuracy_mean," &&
		[ "$(wc -l <"$1/summary.csv")" -eq 3 ]
}
check "summary means and deviations match the runs" 'recompute "$G"'

# ---- running it again: finished runs are skipped, a deleted one runs again ----
stat -c '%n %y' "$G"/runs/*/seed-*/metrics.json | sort >"$TMP/mtimes"
expect 0 "0 to go" "a finished sweep runs nothing" -- \
	"$LETHE" sweep "$TMP/good.ini" --out "$G" --jobs 2
rm -rf "$G/runs/train.lr=0.1/seed-2"
expect 0 "1 to go" "only the missing run runs" -- "$LETHE" sweep "$TMP/good.ini" --out "$G" --jobs 2
check "the missing run is back" \
	'grep -q "\"complete\": true" "$G/runs/train.lr=0.1/seed-2/metrics.json"'
stat -c '%n %y' "$G"/runs/*/seed-*/metrics.json | sort | grep -v "train.lr=0.1/seed-2" \
	>"$TMP/mtimes2"
check "finished runs untouched" 'grep -v "train.lr=0.1/seed-2" "$TMP/mtimes" | cmp -s - "$TMP/mtimes2"'

# A run stopped with a checkpoint resumes; one whose checkpoint is refused starts over.
R=$G/runs/train.lr=0.05/seed-1
sed 's/"complete": true/"complete": false/' "$R/metrics.json" >"$TMP/m" && mv "$TMP/m" "$R/metrics.json"
echo "not a checkpoint" >"$R/checkpoint.lethe"
expect 0 "1 to go" "a run with a refused checkpoint starts over" -- \
	"$LETHE" sweep "$TMP/good.ini" --out "$G" --jobs 2
check "the refused resume's log is kept" '[ -s "$R/resume.log" ]'
check "the restarted run completes" 'grep -q "\"complete\": true" "$R/metrics.json"'

# ---- --summary ----
rm "$G/summary.json" "$G/summary.csv"
expect 0 "good: 4 runs, 4 done, 0 failed" "--summary collects and prints" -- \
	"$LETHE" sweep --summary "$G"
check "--summary aligns mean ± std columns" \
	'[ "$(grep "^train.lr=" "$TMP/out" | awk "{ print index(\$0, \"±\") }" | sort -u | wc -l)" -eq 1 ]'
check "--summary rewrites the files" '[ -s "$G/summary.json" ] && [ -s "$G/summary.csv" ]'
check "--summary gives the same figures" 'recompute "$G"'
expect 2 "plan.json" "--summary of a directory without a sweep" -- "$LETHE" sweep --summary "$TMP"

# ---- a setting that fails at run time ----
cat >"$TMP/fail.ini" <<EOF
[sweep]
scenario = base.ini
seeds = 1-2
[grid]
hooks.fail_hook = none, after_task
EOF
expect 1 "asked to fail in after_task" "failing runs: exit 1, the reason shown" -- \
	"$LETHE" sweep "$TMP/fail.ini" --out "$TMP/f" --jobs 2
check "failures recorded, the others finished" \
	'jq -e ".done == 2 and .failed == 2 and (.failures | length) == 2" "$TMP/f/summary.json" >/dev/null'
check "a failure names its run and log line" \
	'jq -r ".failures[0].message" "$TMP/f/summary.json" |
		grep -q "^exit status 1: lethe: .*asked to fail in after_task"'
check "failure run names" 'jq -e ".failures[1].run == \"runs/hooks.fail_hook=after_task/seed-2\"" \
	"$TMP/f/summary.json" >/dev/null'
expect 1 "failed runs:" "--summary lists failures, exit 1" -- "$LETHE" sweep --summary "$TMP/f"

# ---- a list of settings ----
printf '[sweep]\nscenario = base.ini\nseeds = 3\nmode = list\n[list]\n%s\n%s\n' \
	'small = train.lr=0.01 model.hidden=8' 'fast = train.lr=0.1' >"$TMP/list.ini"
expect 0 "2/2 runs done" "a list sweep" -- "$LETHE" sweep "$TMP/list.ini" --out "$TMP/l" --jobs 2
check "one folder per listed setting" \
	'[ -f "$TMP/l/runs/train.lr=0.01_model.hidden=8/seed-3/metrics.json" ] &&
		[ -f "$TMP/l/runs/train.lr=0.1/seed-3/metrics.json" ]'

# ---- bad input: nothing runs ----
printf '[sweep]\nscenario = base.ini\nseeds = 1\n[grid]\ntrain.lr = 0.1, abc\n' >"$TMP/bad.ini"
expect 2 "bad.ini:5: [train] lr = abc: 'abc' is not a number" "a bad value fails before any run" -- \
	"$LETHE" sweep "$TMP/bad.ini" --out "$TMP/b"
check "nothing ran" '[ ! -d "$TMP/b/runs" ]'
printf '[sweep]\nscenario = base.ini\nseeds = 1\n[grid]\nhooks.fail_hok = none\n' >"$TMP/bad2.ini"
expect 2 "bad2.ini:5: unknown key 'fail_hok' in [hooks]; did you mean 'fail_hook'?" \
	"a plugin key typo fails before any run" -- "$LETHE" sweep "$TMP/bad2.ini" --out "$TMP/b"
expect 2 "--out DIR is needed" "--out is required" -- "$LETHE" sweep "$TMP/good.ini"
expect 2 "the sweep has runs 0 to 3" "--only out of range" -- \
	"$LETHE" sweep "$TMP/good.ini" --out "$G" --only 4
expect 2 "--jobs 0" "--jobs 0" -- "$LETHE" sweep "$TMP/good.ini" --out "$G" --jobs 0
cp "$TMP/base.ini" "$TMP/other-base.ini"
printf '[sweep]\nscenario = other-base.ini\nseeds = 1\n' >"$TMP/other.ini"
expect 2 "choose another --out" "another sweep's directory is refused" -- \
	"$LETHE" sweep "$TMP/other.ini" --out "$G"

# ---- Slurm: the emitted job array, each task's command run by hand ----
expect 0 "sweep.slurm" "--emit-slurm" -- "$LETHE" sweep "$TMP/good.ini" --out "$TMP/s" --emit-slurm
SCRIPT=$TMP/s/sweep.slurm
check "a job array of one task per run" \
	'grep -q "^#SBATCH --array=0-3$" "$SCRIPT" && grep -q "^#SBATCH --cpus-per-task=1$" "$SCRIPT"'
check "the script names --summary" 'grep -q "sweep --summary" "$SCRIPT"'
check "nothing ran yet" '[ ! -d "$TMP/s/runs" ]'
task_failed=0
for i in 0 1 2 3; do
	SLURM_ARRAY_TASK_ID=$i sh "$SCRIPT" >>"$TMP/slurm.log" 2>&1 || task_failed=1
done
check "every array task succeeds" '[ "$task_failed" -eq 0 ]'
expect 0 "good: 4 runs, 4 done, 0 failed" "--summary after the array" -- \
	"$LETHE" sweep --summary "$TMP/s"
figures='[.settings[] | [.label, .mean.average_accuracy, .mean.fwt, .std.bwt]]'
check "the array's figures equal the local sweep's" \
	'[ "$(jq -c "$figures" "$TMP/s/summary.json")" = "$(jq -c "$figures" "$G/summary.json")" ]'
expect 0 "is complete; nothing to do" "--only on a finished run" -- \
	"$LETHE" sweep "$TMP/good.ini" --out "$TMP/s" --only 2

# ---- Ctrl-C: children stopped, what finished kept, the same command resumes ----
scenario "$TMP/slow.ini" 2000 256 256,256 8 # about a second a run
printf '[sweep]\nscenario = slow.ini\nseeds = 1-4\n' >"$TMP/slow-sweep.ini"
"$LETHE" sweep "$TMP/slow-sweep.ini" --out "$TMP/i" --jobs 2 >"$TMP/out" 2>"$TMP/err" &
pid=$!
for _ in $(seq 100); do
	[ -f "$TMP/i/runs/base/seed-1/run.log" ] && break
	sleep 0.1
done
sleep 0.3
kill -INT "$pid"
wait "$pid"
status=$?
check "interrupted sweep exits 1" '[ "$status" -eq 1 ] && grep -q "resumes the rest" "$TMP/err"'
check "no run outlives the sweep" '! pgrep -f -- "--out $TMP/i/" >/dev/null'
expect 0 "4/4 runs done" "the same command finishes the sweep" -- \
	"$LETHE" sweep "$TMP/slow-sweep.ini" --out "$TMP/i" --jobs 2

finish
