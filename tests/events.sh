#!/bin/sh
# --events FILE: every line of a run with a plugin and a forget step is one JSON object of the
# schema lethe(1) documents (checked here by a small schema of its own), in a sensible order.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/testlib.sh"
LETHE_PLUGIN_PATH=${LETHE_BUILD_PLUGINS:-plugins}
export LETHE_PLUGIN_PATH
scratch events

S=$TMP/s.ini
cat >"$S" <<'EOT'
[scenario]
name = events
plugins = ewc
[data]
source = synthetic
classes = 4
dim = 8
train_per_class = 60
test_per_class = 20
[tasks]
split = 2
[model]
hidden = 16
[train]
lr = 0.05
batch_size = 20
epochs = 2
evaluate_epochs = true
[forget1]
after = 2
what = class
classes = 1
references = retrain, finetune
EOT

check_stream() { # FILE: validates every line
	python3 - "$1" <<'EOT'
import json, sys
N, S, A, O, B, NULL = (int, float), str, list, dict, bool, type(None)
FIG = {"ua": N + (NULL,), "ra": N + (NULL,), "ta": N + (NULL,), "mia": N + (NULL,),
       "forget_test_accuracy": N + (NULL,), "relearn_epochs": N + (NULL,),
       "seconds": N + (NULL,), "gap_to_retrain": N + (NULL,), "svc_mia": O,
       "mia_threshold": N + (NULL,),
       "loss_auc": N + (NULL,), "to_retrain": (O, NULL)}
SCHEMA = {
    "run_start": {"scenario": S, "protocol": S, "tasks": int, "steps_done": int,
                  "batches_total": int},
    "step_start": {"step": int, "steps": int},
    "epoch_start": {"step": int, "epoch": int, "batches": int},
    "loss": {"step": int, "epoch": int, "batch": int, "batches": int, "loss": N + (NULL,),
             "batches_done": int, "batches_total": int, "samples_done": int},
    "epoch_end": {"step": int, "epoch": int, "loss": N + (NULL,)},
    "epoch_evaluation": {"step": int, "epoch": int, "accuracy": A},
    "evaluation": {"step": int, "accuracy": A, "average_accuracy": N + (NULL,)},
    "step_end": {"step": int, "seconds": N},
    "log": {"source": S, "level": S, "message": S},
    "forget_progress": {"reference": S, "batch": int, "batches": int},
    "forget": dict(FIG, section=S, after=int, what=S, plugin=(S, NULL), forget_samples=int,
                   references=O, compared=O, cumulative=(O, NULL)),
    "run_end": {"average_accuracy": N, "bwt": N, "fwt": N, "forgetting": N, "seconds": N},
}
OPTIONAL = {"forget": {"classes": A, "task": int, "fraction": N}, "evaluation": {"confusion": A}}
seen = []
for n, text in enumerate(open(sys.argv[1]), 1):
    line = json.loads(text)
    kind = line.pop("event")
    assert kind in SCHEMA, (n, kind)
    assert isinstance(line.pop("elapsed"), N), n
    for key, t in SCHEMA[kind].items():
        assert key in line and isinstance(line.pop(key), t), (n, kind, key)
    for key, t in OPTIONAL.get(kind, {}).items():
        assert key not in line or isinstance(line.pop(key), t), (n, kind, key)
    assert not line, (n, kind, "unknown keys", line)
    seen.append(kind)
assert seen[0] == "run_start" and seen[-1] == "run_end", seen
assert seen.count("evaluation") == 3 and seen.count("step_end") == 2, seen
assert seen.count("epoch_start") == 4 == seen.count("epoch_end"), seen
assert seen.count("epoch_evaluation") == 2, seen
assert seen.count("forget") == 1 and "loss" in seen and "log" in seen, seen
EOT
}

expect 0 "" "run with --events FILE" -- "$LETHE" run "$S" --out "$TMP/r" --events "$TMP/ev.jsonl"
if check_stream "$TMP/ev.jsonl" >"$TMP/out" 2>"$TMP/err"; then ok "every line fits the schema"
else not_ok "every line fits the schema"; fi
"$LETHE" run "$S" --out "$TMP/r2" --events - --quiet >"$TMP/stdout.jsonl" 2>"$TMP/err"
if check_stream "$TMP/stdout.jsonl" >"$TMP/out" 2>>"$TMP/err"; then ok "--events - on stdout"
else not_ok "--events - on stdout"; fi
# The figures in the stream are metrics.json's.
if python3 - "$TMP/ev.jsonl" "$TMP/r/metrics.json" <<'EOT' 2>"$TMP/err"
import json, sys
lines = [json.loads(t) for t in open(sys.argv[1])]
m = json.load(open(sys.argv[2]))
forget = dict([l for l in lines if l["event"] == "forget"][0])
del forget["event"], forget["elapsed"]
assert forget == m["unlearning"][0]
evals = [l["accuracy"] for l in lines if l["event"] == "evaluation"]
assert evals == [m["untrained_accuracy"]] + m["accuracy_matrix"]
assert [l["confusion"] for l in lines if l["event"] == "evaluation" and l["step"]] == \
    m["confusion_matrices"]
EOT
then ok "the stream's figures are metrics.json's"; else not_ok "the stream's figures are metrics.json's"; fi

expect 2 "--events $TMP/no/such: cannot open" "an unwritable --events file" -- \
	"$LETHE" run "$S" --out "$TMP/r3" --events "$TMP/no/such"
expect 2 "would write into the dashboard's terminal" "tui refuses --events -" -- \
	"$LETHE" tui "$S" --out "$TMP/r4" --events -
if [ -w /dev/full ]; then
	expect 1 "--events: a line could not be written" "a full disk is said" -- \
		"$LETHE" run "$S" --out "$TMP/r5" --events /dev/full --quiet
fi
finish
