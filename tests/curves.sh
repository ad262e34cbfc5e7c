#!/bin/sh
# curves.csv and the class confusion matrices of a tiny synthetic run, checked against what the
# event stream says and what the accuracy matrix says: the loss at each epoch's end is the
# stream's, the points fall every curve_every batches, the accuracy after an epoch is the
# stream's (after the last, the step's row), a plugin's per-batch term is there, metrics.json's
# summary is the file's; each matrix's rows sum to the class's test samples and its trace over
# its total is the accuracy over every test sample. lethe report draws them (xmllint), curve_every
# = 0 and evaluate_epochs = false leave what they say, and a damaged curves.csv is refused by
# the report with its line named. Run from the build directory, as make check does.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/testlib.sh"
LETHE_PLUGIN_PATH=${LETHE_BUILD_PLUGINS:-plugins}
export LETHE_PLUGIN_PATH
scratch curves
check() { # NAME CONDITION...: ok when the condition (a command) succeeds
	what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

S=$TMP/s.ini
cat >"$S" <<'EOT'
[scenario]
name = curves
protocol = class-incremental
plugins = lwf
[data]
source = synthetic
classes = 6
dim = 8
train_per_class = 60
test_per_class = 20
[tasks]
split = 3
[model]
hidden = 16
[train]
lr = 0.05
batch_size = 16
epochs = 3
curve_every = 4
evaluate_epochs = true
EOT

expect 0 "step 3/3" "run with --events" -- "$LETHE" run "$S" --out "$TMP/r" --events "$TMP/ev.jsonl"

if python3 - "$TMP/r" "$TMP/ev.jsonl" >"$TMP/out" 2>"$TMP/err" <<'EOT'
import json, sys
d = sys.argv[1]
lines = [json.loads(t) for t in open(sys.argv[2])]
m = json.load(open(d + "/metrics.json"))
rows = [l.rstrip("\n").split(",") for l in open(d + "/curves.csv")]
assert rows[0] == ["step", "epoch", "batch", "name", "value"], rows[0]
pts = [(int(s), int(e), int(b), n, float(v)) for s, e, b, n, v in rows[1:]]
T, E, EVERY = 3, 3, 4
batches = {(l["step"], l["epoch"]): l["batches"] for l in lines if l["event"] == "epoch_start"}
# The loss: every EVERY batches and at each epoch's end, that end the stream's epoch_end.
loss = [p for p in pts if p[3] == "loss"]
for s, e, b, _, _ in loss:
    assert b % EVERY == 0 or b == batches[(s, e)], (s, e, b)
ends = {(l["step"], l["epoch"]): l["loss"] for l in lines if l["event"] == "epoch_end"}
assert len(ends) == T * E
for (s, e), v in ends.items():
    last = [p for p in loss if p[:2] == (s, e)][-1]
    assert last[2] == batches[(s, e)] and last[4] == v, (s, e, last, v)
# Each task's accuracy after every epoch: the stream's, and after the last the step's row.
acc = {}
for s, e, b, n, v in pts:
    if n.startswith("accuracy_task_"):
        assert b == batches[(s, e)], (s, e, b)
        acc.setdefault((s, e), [None] * T)[int(n[len("accuracy_task_"):]) - 1] = v
assert sorted(acc) == [(s, e) for s in range(1, T + 1) for e in range(1, E + 1)], sorted(acc)
for l in lines:
    if l["event"] == "epoch_evaluation":
        assert acc[(l["step"], l["epoch"])] == l["accuracy"], l
assert len([l for l in lines if l["event"] == "epoch_evaluation"]) == T * (E - 1)
for s in range(1, T + 1):
    assert acc[(s, E)] == m["accuracy_matrix"][s - 1], s
# LwF's distillation term from step 2 on, at the loss's batches.
terms = [p for p in pts if p[3] == "lwf.distill_loss"]
assert terms and {p[0] for p in terms} == {2, 3}, terms
assert {p[:3] for p in terms} == {p[:3] for p in loss if p[0] > 1}
# metrics.json's summary is the file's.
c = m["curves"]
assert c["every"] == EVERY and len(c["steps"]) == T
for s in range(1, T + 1):
    mine = [p[4] for p in loss if p[0] == s]
    st = c["steps"][s - 1]
    assert st["final_loss"] == mine[-1] and st["min_loss"] == min(mine), st
    assert st["epoch_accuracy"] == [acc[(s, e)] for e in range(1, E + 1)], st
# The confusion: rows sum to each class's test samples, trace / total is the accuracy.
tests = [len(t["classes"]) * 20 for t in m["tasks"]]
assert len(m["confusion_matrices"]) == T
for s, cm in enumerate(m["confusion_matrices"]):
    assert len(cm) == 6 and all(len(r) == 6 for r in cm)
    assert [sum(r) for r in cm] == [20] * 6, cm
    trace, total = sum(cm[k][k] for k in range(6)), sum(map(sum, cm))
    weighted = sum(a * n for a, n in zip(m["accuracy_matrix"][s], tests)) / sum(tests)
    assert abs(trace / total - weighted) <= 1e-12, (trace, total, weighted)
EOT
then ok "curves.csv, the summary and the confusion agree with the stream and the matrix"
else not_ok "curves.csv, the summary and the confusion agree with the stream and the matrix"; fi

expect 0 "wrote $TMP/r/report.svg" "report" -- "$LETHE" report "$TMP/r"
svg=$TMP/r/report.svg
if command -v xmllint >/dev/null 2>&1; then
	check "report: well-formed XML" xmllint --noout "$svg"
fi
check "report: a loss curve and a term's" sh -c "grep -q 'class=\"loss-line\"' '$svg' &&
	grep -q 'class=\"term-line\"' '$svg'"
check "report: a line per task of the accuracy after every epoch" \
	[ "$(grep -o 'class="epoch-accuracy-line"' "$svg" | wc -l)" -eq 3 ]
check "report: a confusion heatmap per step, 36 cells each" sh -c \
	"[ \$(grep -o '<g class=\"confusion\"' '$svg' | wc -l) -eq 3 ] &&
	 [ \$(grep -o 'class=\"confusion-cell\"' '$svg' | wc -l) -eq 108 ]"

# curve_every = 0: no loss points; evaluate_epochs = false: the steps' evaluations only.
expect 0 "step 3/3" "curve_every = 0, evaluate_epochs = false" -- "$LETHE" run "$S" --out "$TMP/off" \
	--set train.curve_every=0 --set train.evaluate_epochs=false
check "only the last epoch's accuracies" sh -c "[ \$(tail -n +2 '$TMP/off/curves.csv' |
	grep -vc ',3,[0-9]*,accuracy_task_') -eq 0 ] && [ \$(grep -c , '$TMP/off/curves.csv') -eq 10 ]"
check "the same accuracy matrix" cmp -s "$TMP/r/accuracy.csv" "$TMP/off/accuracy.csv"

# A damaged curves.csv: the report names its line.
cp -r "$TMP/r" "$TMP/bad"
sed -i '3s/.*/1,1,x,loss,0.5/' "$TMP/bad/curves.csv"
expect 2 "curves.csv:3: step, epoch and batch must be whole numbers from 1" \
	"a damaged curves.csv is refused" -- "$LETHE" report "$TMP/bad"
finish
