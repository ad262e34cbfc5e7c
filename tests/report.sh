#!/bin/sh
# lethe report end to end: the real binary reports real runs (one with a forget step, one
# stopped part way) into SVG that xmllint accepts, with a cell per accuracy the run measured;
# every bad input gives exit status 2, a failed write 1, each with one clear line on stderr.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/testlib.sh"
# A read-only directory the test makes must not stop the removal (run at exit, hence quoted).
# shellcheck disable=SC2016
scratch report 'chmod -R u+w "$TMP"'

check() { # NAME CONDITION...: ok when the condition (a command) succeeds
	what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

scenario() { # FILE PLUGINS EXTRA-LINES...: a small synthetic scenario of three tasks
	file=$1 plugins=$2
	shift 2
	{
		printf '[scenario]\nname = report\nprotocol = class-incremental\nplugins = %s\n' \
			"$plugins"
		printf '[data]\nsource = synthetic\nclasses = 6\ndim = 8\ntrain_per_class = 60\n'
		printf 'test_per_class = 20\n'
		printf '[tasks]\nsplit = 3\n[model]\nhidden = 16\n'
		printf '[train]\nlr = 0.05\nbatch_size = 20\nepochs = 1\nseed = 1\n'
		for line in "$@"; do printf '%s\n' "$line"; done
	} >"$file"
}

# matrix_size METRICS: "CELLS T", the entries of "accuracy_matrix" and of "untrained_accuracy"
# in a metrics.json as results.c indents it (two spaces a level, one value a line).
matrix_size() {
	awk '
	/^  "accuracy_matrix": \[$/ { key = "m"; next }
	/^  "untrained_accuracy": \[$/ { key = "u"; next }
	/^  \]/ { key = "" }
	key == "m" && /^      [^ ]/ { cells++ }
	key == "u" && /^    [^ ]/ { t++ }
	END { print cells + 0, t + 0 }' "$1"
}

count() { # FILE TEXT: occurrences of TEXT in FILE
	grep -oF -- "$2" "$1" | wc -l | tr -d ' '
}

if command -v xmllint >/dev/null 2>&1; then
	xmllint=yes
else
	xmllint=
	echo "note: xmllint is absent (apt-get install libxml2-utils): the SVG is not validated"
fi

# report_of NAME DIR: DIR's report is valid XML with a cell per accuracy in its metrics.json.
report_of() {
	run=$1 dir=$2
	expect 0 "wrote $dir/report.svg" "$run: report" -- "$LETHE" report "$dir"
	svg=$dir/report.svg
	if [ -n "$xmllint" ]; then
		check "$run: well-formed XML" xmllint --noout "$svg"
	fi
	set -- $(matrix_size "$dir/metrics.json") 0 0
	cells=$1 tasks=$2
	check "$run: metrics.json read" [ "$tasks" -gt 0 ]
	check "$run: a cell per accuracy ($cells)" \
		[ "$(count "$svg" '<rect class="cell"')" -eq "$cells" ]
	check "$run: a cell per untrained accuracy ($tasks)" \
		[ "$(count "$svg" '<rect class="cell untrained"')" -eq "$tasks" ]
	if [ -n "$xmllint" ]; then
		xpath='count(//*[local-name()="rect"][@class="cell" or @class="cell untrained"])'
		check "$run: xpath finds (rows + 1) x T cells" \
			[ "$(xmllint --xpath "$xpath" "$svg")" -eq $((cells + tasks)) ]
	fi
	check "$run: no temporary file left" [ -z "$(find "$dir" -name '.report.svg.*.tmp')" ]
}

# A complete run with a forget step by repulsion, beside two references.
S=$TMP/s.ini
scenario "$S" repulsion "[repulsion]" "unlearn_steps = 10" "[forget1]" "after = 3" \
	"what = class" "classes = 1" "plugin = repulsion" "references = retrain, finetune"
expect 0 "step 3/3" "run with a forget step" -- "$LETHE" run "$S" --out "$TMP/run"
report_of "complete run" "$TMP/run"
check "complete run: 3 steps, 3 tasks" [ "$cells" -eq 9 ]
check "complete run: complete" grep -qF 'seed 1, complete</text>' "$TMP/run/report.svg"
check "complete run: unlearning panel" \
	[ "$(count "$TMP/run/report.svg" '<g class="unlearning"')" -eq 1 ]
check "complete run: forgetting bars" \
	[ "$(count "$TMP/run/report.svg" '<rect class="forgetting-bar"')" -eq 3 ]
# UA, RA, TA, MIA and the evidence (the threshold attack, loss AUC, JS), for the plugin and its two references.
check "complete run: unlearning bars with the evidence" \
	[ "$(count "$TMP/run/report.svg" '<rect class="unlearning-bar"')" -eq 21 ]
check "complete run: JS to retrain drawn" grep -qF 'finetune JS D_f: 0.' "$TMP/run/report.svg"

# A run stopped in its second step (a NaN loss): the report shows the one row it finished.
scenario "$TMP/nan.ini" "$PLUGINS/hooks.so" "[hooks]" "nan_at_batch = 12"
expect 1 "NaN" "run stopped part way" -- "$LETHE" run "$TMP/nan.ini" --out "$TMP/part"
report_of "partial run" "$TMP/part"
check "partial run: one row" [ "$cells" -eq 3 ]
check "partial run: titled partial" grep -qF 'partial, 1 of 3 steps</text>' "$TMP/part/report.svg"
check "partial run: no unlearning panel" \
	[ "$(count "$TMP/part/report.svg" '<g class="unlearning"')" -eq 0 ]

# A sweep's summary.json (as lethe sweep writes it): a bar per setting in each panel, in order.
mkdir "$TMP/swept"
cat >"$TMP/swept/summary.json" <<'JSON'
{"sweep": "lr", "base": "base.ini", "runs": 4, "done": 4, "failed": 0,
 "settings": [
  {"label": "train.lr=0.05", "values": {"train.lr": "0.05"}, "seeds": [1, 2], "done": 2,
   "failed": 0, "mean": {"average_accuracy": 0.8, "forgetting": 0.1},
   "std": {"average_accuracy": 0.01, "forgetting": 0.02}},
  {"label": "train.lr=0.5", "values": {"train.lr": "0.5"}, "seeds": [1, 2], "done": 2,
   "failed": 0, "mean": {"average_accuracy": 0.4, "forgetting": 0.3},
   "std": {"average_accuracy": null, "forgetting": null}}],
 "failures": []}
JSON
expect 0 "wrote $TMP/swept/report.svg" "sweep: report" -- "$LETHE" report "$TMP/swept"
if [ -n "$xmllint" ]; then
	check "sweep: well-formed XML" xmllint --noout "$TMP/swept/report.svg"
fi
check "sweep: a bar per setting and panel" \
	[ "$(count "$TMP/swept/report.svg" '<rect class="sweep-bar"')" -eq 4 ]
check "sweep: settings in the file's order" [ "$(grep -o 'class="setting"[^>]*>[^<]*' \
	"$TMP/swept/report.svg" | sed 's/.*>//' | tr '\n' ' ')" = \
	"train.lr=0.05 train.lr=0.5 train.lr=0.05 train.lr=0.5 " ]

# A report already there is replaced, quietly.
"$LETHE" report "$TMP/run" --quiet >"$TMP/out" 2>"$TMP/err"
check "report again with --quiet: exit 0, nothing printed" \
	test $? -eq 0 -a ! -s "$TMP/out" -a ! -s "$TMP/err"

# Usage.
expect 0 "usage: lethe report DIR" "help" -- "$LETHE" report --help
expect 2 "report needs a results directory" "no directory" -- "$LETHE" report
expect 2 "unknown option '--bogus'" "unknown option" -- "$LETHE" report "$TMP/run" --bogus
expect 2 "several directories need --out FILE.svg" "two directories without --out" -- \
	"$LETHE" report "$TMP/run" "$TMP/part"

# Bad input: exit 2, the file and the cause.
expect 2 "$TMP/none: No such file or directory" "missing directory" -- "$LETHE" report "$TMP/none"
expect 2 "$S: Not a directory" "not a directory" -- "$LETHE" report "$S"
mkdir "$TMP/empty"
expect 2 "$TMP/empty: no metrics.json (a run's results) nor summary.json (a sweep's) in it" \
	"no results" -- "$LETHE" report "$TMP/empty"
mkdir "$TMP/syntax"
printf '{"protocol": "class-incremental",\n "seed": }\n' >"$TMP/syntax/metrics.json"
expect 2 "$TMP/syntax/metrics.json:2:10: unexpected token near '}'" "JSON syntax error" -- \
	"$LETHE" report "$TMP/syntax"
mkdir "$TMP/missing"
printf '{"protocol": "class-incremental", "seed": 1, "complete": true}\n' \
	>"$TMP/missing/metrics.json"
expect 2 "$TMP/missing/metrics.json: missing key \"average_accuracy\"" "missing key" -- \
	"$LETHE" report "$TMP/missing"
mkdir "$TMP/typed"
sed 's/^  "bwt": .*,$/  "bwt": "low",/' "$TMP/run/metrics.json" >"$TMP/typed/metrics.json"
expect 2 "$TMP/typed/metrics.json: \"bwt\" is a string, not a number or null" \
	"wrongly typed key" -- "$LETHE" report "$TMP/typed"
mkdir "$TMP/sweep"
printf '{"sweep": "s", "runs": 1, "done": 1, "failed": 0, "settings": [{"label": 3}]}\n' \
	>"$TMP/sweep/summary.json"
expect 2 "$TMP/sweep/summary.json: \"settings[0].label\" is an integer, not a string" \
	"a sweep's summary, wrongly typed" -- "$LETHE" report "$TMP/sweep"
check "bad input writes nothing" [ ! -e "$TMP/typed/report.svg" ]

# A failed write: exit 1. report.svg a directory stops the rename even for root; a read-only
# directory stops the temporary file for anyone else.
rm "$TMP/part/report.svg" && mkdir "$TMP/part/report.svg"
expect 1 "$TMP/part/report.svg: Is a directory" "report.svg cannot be replaced" -- \
	"$LETHE" report "$TMP/part"
check "no temporary file left after a failure" \
	[ -z "$(find "$TMP/part" -name '.report.svg.*.tmp')" ]
if [ "$(id -u)" -ne 0 ]; then
	chmod a-w "$TMP/run"
	expect 1 "$TMP/run/report.svg: Permission denied" "read-only directory" -- \
		"$LETHE" report "$TMP/run"
	chmod u+w "$TMP/run"
fi

finish
