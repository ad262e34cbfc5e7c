#!/bin/sh
# lethe compare end to end: three runs and a sweep, in each format, the differing settings as
# columns and the figures metrics.json holds; bad inputs give exit status 2 and one line.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/testlib.sh"
LETHE_PLUGIN_PATH=${LETHE_BUILD_PLUGINS:-plugins}
export LETHE_PLUGIN_PATH
scratch compare

S=$TMP/s.ini
cat >"$S" <<'EOT'
[scenario]
name = cmp
[data]
source = synthetic
classes = 4
dim = 8
train_per_class = 40
test_per_class = 10
[tasks]
split = 2
[model]
hidden = 8
[train]
lr = 0.05
batch_size = 20
[forget1]
after = 2
classes = 1
EOT
"$LETHE" run "$S" --out "$TMP/a" --quiet 2>"$TMP/err"
"$LETHE" run "$S" --out "$TMP/b" --set train.seed=2 --quiet 2>>"$TMP/err"
"$LETHE" run "$S" --out "$TMP/c" --set train.lr=0.1 --set forget1.references=finetune \
	--quiet 2>>"$TMP/err"
printf '[sweep]\nname = sw\nscenario = s.ini\nseeds = 1-2\n[grid]\ntrain.lr = 0.05, 0.1\n' \
	>"$TMP/sweep.ini"
"$LETHE" sweep "$TMP/sweep.ini" --out "$TMP/sw" --quiet >/dev/null 2>>"$TMP/err"

# Every format carries the same rows: checked through the JSON against each metrics.json, and
# the others against the JSON.
check_formats() { # NAME ROWS DIR...
	name=$1 rows=$2
	shift 2
	for f in text csv markdown json; do
		"$LETHE" compare "$@" --format "$f" >"$TMP/$f" 2>"$TMP/err" ||
			{ not_ok "$name: --format $f"; continue; }
	done
	if python3 - "$rows" "$TMP" <<'EOT' 2>"$TMP/err"
import csv, json, math, os, sys
rows, tmp = int(sys.argv[1]), sys.argv[2]
table = json.load(open(os.path.join(tmp, "json")))
assert len(table) == rows, table
for r in table:
    m = json.load(open(os.path.join(r["run"], "metrics.json")))
    assert r["acc"] == m["average_accuracy"] and r["bwt"] == m["bwt"]
    assert r["fwt"] == m["fwt"] and r["forgetting"] == m["forgetting"]
    assert r["seconds"] == m["seconds"]["total"]
    assert r["peak_mib"] == m["peak_rss_bytes"] / 2**20
    u = m["unlearning"][-1]
    assert r["gap"] == u["gap_to_retrain"]
    if "retrain" in u["references"]:
        assert abs(r["gap_ua"] - abs(u["ua"] - u["references"]["retrain"]["ua"])) < 1e-15
    else:
        assert r["gap_ua"] is None
    ini = dict()
    for line in open(os.path.join(r["run"], "scenario.ini")):
        if line.startswith("#"): continue
        if line.startswith("["): section = line.strip()[1:-1]
        elif "=" in line: k, v = line.split("=", 1); ini[section + "." + k.strip()] = v.strip()
    for k, v in r["settings"].items():
        assert ini.get(k) == v, (k, v)
cols = list(table[0]["settings"])
with open(os.path.join(tmp, "csv")) as f:
    c = list(csv.reader(f))
assert c[0][:1 + len(cols)] == ["run"] + cols and len(c) == rows + 1, c[0]
for r, line in zip(table, c[1:]):
    assert line[0] == r["run"] and float(line[1 + len(cols)]) == r["acc"]
md = open(os.path.join(tmp, "markdown")).read().splitlines()
assert len(md) == rows + 2 and set(md[1]) <= set("|-: ") and all(l.startswith("| ") for l in md)
text = open(os.path.join(tmp, "text")).read().splitlines()
assert len(text) == rows + 1 and text[0].split()[:1 + len(cols)] == ["run"] + cols
for r, line in zip(table, text[1:]):
    assert line.split()[0] == r["run"] and abs(float(line.split()[1 + len(cols)]) - r["acc"]) < 5e-5
EOT
	then ok "$name: every format"; else not_ok "$name: every format"; fi
}
check_formats "three runs" 3 "$TMP/a" "$TMP/b" "$TMP/c"
if head -1 "$TMP/csv" | grep -q '^run,train.lr,train.seed,forget1.references,acc,'; then
	ok "the differing settings are the columns"
else not_ok "the differing settings are the columns"; fi
check_formats "a sweep and a run" 5 "$TMP/sw" "$TMP/a"
if grep -q "sw/runs/train.lr=0.1/seed-2" "$TMP/text"; then ok "a sweep stands for its runs"
else not_ok "a sweep stands for its runs"; fi

# Bad inputs: one line each, exit status 2.
mkdir "$TMP/empty"
expect 2 "$TMP/empty: no metrics.json (a run's results) nor summary.json" "not a run" -- \
	"$LETHE" compare "$TMP/a" "$TMP/empty"
expect 2 "$TMP/none: No such file or directory" "no such directory" -- \
	"$LETHE" compare "$TMP/none"
expect 2 "--format yaml: expected text, csv, markdown or json" "unknown format" -- \
	"$LETHE" compare "$TMP/a" --format yaml
"$LETHE" run "$S" --out "$TMP/til" --set scenario.protocol=task-incremental --quiet 2>"$TMP/err"
expect 2 "$TMP/til is task-incremental but $TMP/a is class-incremental" "mixed protocols" -- \
	"$LETHE" compare "$TMP/a" "$TMP/til"
expect 2 "compare needs one or more results directories" "no directory" -- "$LETHE" compare

# lethe report of several runs: one page, shared axes, a line and four bars per run.
expect 0 "wrote $TMP/runs.svg" "report of three runs" -- \
	"$LETHE" report "$TMP/a" "$TMP/b" "$TMP/c" --out "$TMP/runs.svg"
if command -v xmllint >/dev/null 2>&1; then
	if xmllint --noout "$TMP/runs.svg" 2>"$TMP/err"; then ok "the runs' SVG is well-formed"
	else not_ok "the runs' SVG is well-formed"; fi
fi
if [ "$(grep -o 'class="acc-line"' "$TMP/runs.svg" | wc -l)" -eq 3 ]; then ok "a line per run"
else not_ok "a line per run"; fi
expect 2 "several directories need --out FILE.svg" "several runs need --out" -- \
	"$LETHE" report "$TMP/a" "$TMP/b"
expect 2 "$TMP/sw: a sweep's results; several directories are drawn only as runs" \
	"a sweep among several" -- "$LETHE" report "$TMP/a" "$TMP/sw" --out "$TMP/x.svg"
finish
