#!/bin/sh
# The dashboard end to end: the real binary in a detached 100x30 tmux window on a private
# server, driven with send-keys and read with capture-pane. A synthetic scenario trains long
# enough for the keys to act during training; every wait polls the screen with a timeout.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/testlib.sh"
if ! command -v tmux >/dev/null 2>&1; then
	echo "tmux not found: skipped"
	exit 77
fi
case $LETHE in /*) ;; *) LETHE=$(pwd)/$LETHE ;; esac
if [ -n "${LETHE_BUILD_PLUGINS:-}" ]; then
	LETHE_PLUGIN_PATH=$LETHE_BUILD_PLUGINS/repulsion/.libs
	export LETHE_PLUGIN_PATH
fi
TM="tmux -L lethe-test-$$ -f /dev/null"
# shellcheck disable=SC2016 # run at exit
scratch tui '$TM kill-server 2>/dev/null'
ESC=$(printf '\033')

# A failure shows the session's screen rather than $TMP/err and $TMP/out.
not_ok() {
	failed=$((failed + 1))
	echo "FAILED: $1"
	[ -n "${2:-}" ] && screen "$2" | sed 's/^/    |/'
}
check() { # NAME SESSION CMD...: CMD's status decides
	name=$1 s=$2
	shift 2
	if "$@"; then ok "$name"; else not_ok "$name" "$s"; fi
}

screen() { $TM capture-pane -p -t "$1" 2>/dev/null; }
shows() { screen "$1" | grep -qF -- "$2"; }
# wait_for SESSION TEXT [SECONDS]: until the screen shows TEXT
wait_for() {
	end=$(($(date +%s) + ${3:-10}))
	until shows "$1" "$2"; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.1
	done
}
wait_gone() {
	end=$(($(date +%s) + ${3:-10}))
	while shows "$1" "$2"; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.1
	done
}
# The run's batch counter as the screen shows it.
counter() { screen "$1" | grep -o '[0-9]*/[0-9]* batches' | head -n 1; }
counter_moves() { # SESSION FROM: until the counter differs from FROM
	end=$(($(date +%s) + 10))
	while [ "$(counter "$1")" = "$2" ]; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.1
	done
}

# Five class-incremental tasks, each a few seconds of training, a forget template the f key
# uses (repulsion, with a quick joint retrain as the reference).
S=$TMP/tui.ini
cat >"$S" <<INI
[scenario]
name = tui-test
protocol = class-incremental
plugins = repulsion
[data]
source = synthetic
classes = 10
dim = 128
train_per_class = 2000
test_per_class = 100
[tasks]
split = 5
[model]
hidden = 256,256
[train]
lr = 0.05
batch_size = 32
epochs = 60
seed = 1
[repulsion]
unlearn_steps = 20
[forget1]
after = 5
what = class
classes = 9
plugin = repulsion
references = retrain
retrain = joint
retrain_epochs = 1
relearn_max_epochs = 1
INI

# A pane runs the dashboard, then says how it ended and whether the terminal's modes are back.
cat >"$TMP/run.sh" <<'SH'
trap : INT # outlive a Ctrl-C meant for the dashboard (its handler resets in the child)
before=$(stty -g)
"$@"
status=$?
if [ "$(stty -g)" = "$before" ]; then tty=restored; else tty=changed; fi
echo "exit status $status, terminal $tty"
exec sleep 300
SH
start() { # SESSION ENV-ASSIGNMENTS LETHE-ARGS...
	s=$1 vars=$2
	shift 2
	$TM new-session -d -s "$s" -x 100 -y 30 \
		"env TERM=xterm-256color $vars sh $TMP/run.sh $LETHE $*"
}

# ---- the main run: colours, matrix, pause, help, forget, save, resize, quit ----
start main "" tui "$S" --out "$TMP/main"
check "the matrix and its labels appear" main wait_for main "accuracy %"
labelled() {
	screen main | grep -q 'T1  *T2  *T3  *T4  *T5' && shows main untrained &&
		shows main "after 5" && shows main forgetting && shows main "ACC "
}
check "task columns, step rows, forgetting and metrics are labelled" main labelled
if $TM capture-pane -p -e -t main | grep -qE "$ESC\[([0-9]+;)*3[0-8][;m]"; then
	ok "colours on a colour terminal"
else not_ok "colours on a colour terminal" main; fi

$TM send-keys -t main p
check "p pauses" main wait_for main PAUSED
before=$(counter main)
sleep 1
after=$(counter main)
if [ -n "$before" ] && [ "$before" = "$after" ]; then ok "no batch while paused ($before)"
else not_ok "no batch while paused ($before, then $after)" main; fi
$TM send-keys -t main p
check "p resumes" main wait_for main TRAINING
check "training goes on after the pause" main counter_moves main "$after"

$TM send-keys -t main h
check "h opens the help" main wait_for main "any key closes this help"
$TM send-keys -t main x
check "any key closes the help" main wait_gone main "any key closes this help"

check "the unlearning panel waits for a forget" main wait_for main "no forget step yet"
check "task 1 learned" main wait_for main "step 2/5" 60
$TM send-keys -t main c
check "c shows the class confusion" main wait_for main "confusion % after step"
confusion_rows() { screen main | grep -q 'P0  *P1  *P2  *P3  *P4' && shows main "class 4"; }
check "the confusion has rows of classes, columns of predictions" main confusion_rows
$TM send-keys -t main c
check "c again brings the accuracy matrix back" main wait_for main "accuracy %"
$TM send-keys -t main Left
$TM send-keys -t main f
check "f forgets the selected task" main wait_for main "forget-now-1: classes 0,1 by repulsion" 30
check "the unlearning panel shows the figures beside retrain's" main \
	sh -c "$TM capture-pane -p -t main | grep -q 'retrain  *[0-9]'"
check "the forget ran during training" main shows main TRAINING
# Paused from here on, so the run cannot end under the remaining keys, however fast it is.
$TM send-keys -t main p
check "paused again" main wait_for main PAUSED

$TM send-keys -t main s
check "s writes the results so far" main wait_for main "results so far written to"
if [ -s "$TMP/main/metrics.json" ]; then ok "metrics.json written mid-run"
else not_ok "metrics.json written mid-run" main; fi

$TM resize-window -t main -x 50 -y 12
check "a small window says so" main wait_for main "terminal too small"
$TM resize-window -t main -x 100 -y 30
check "the dashboard comes back at full size" main wait_for main "accuracy %"

$TM send-keys -t main q
check "q asks to confirm" main wait_for main "Stop the run now?"
$TM send-keys -t main n
check "another key cancels" main wait_for main "carrying on"
$TM send-keys -t main q
wait_for main "Stop the run now?" >/dev/null
$TM send-keys -t main y
check "q then y exits with status 0, terminal restored" main \
	wait_for main "exit status 0, terminal restored" 30
check "the dashboard left the screen" main wait_gone main "accuracy %" 1

json_ok() { # FILE JQ-FILTER PYTHON-EXPRESSION-OVER-m: the file parses and the test holds
	if command -v jq >/dev/null 2>&1; then
		jq -e "$2" "$1" >/dev/null
	else
		python3 -c "import json, sys; m = json.load(open(sys.argv[1])); sys.exit(not ($3))" \
			"$1"
	fi
}
if json_ok "$TMP/main/metrics.json" \
	'.complete == false and (.accuracy_matrix | length) >= 1 and (.unlearning | length) >= 1' \
	'm["complete"] is False and len(m["accuracy_matrix"]) >= 1 and len(m["unlearning"]) >= 1'
then ok "metrics.json parses: incomplete run, its forget step"
else not_ok "metrics.json parses: incomplete run, its forget step"; fi

# ---- NO_COLOR, an ASCII locale and the final screen of a finished run ----
start plain "NO_COLOR=1 LC_ALL=C" tui "$S" --out "$TMP/plain" --set train.epochs=1
check "the run finishes and says q quits" plain wait_for plain "finished - q to quit" 30
if $TM capture-pane -p -e -t plain | grep -qE "$ESC\[([0-9]+;)*3[0-8][;m]"; then
	not_ok "NO_COLOR: no colours" plain
else ok "NO_COLOR: no colours"; fi
check "the scenario's forget step shows" plain shows plain "forget1: class 9 by repulsion"
$TM send-keys -t plain q
check "q leaves the finished run at once" plain \
	wait_for plain "exit status 0, terminal restored"
if json_ok "$TMP/plain/metrics.json" '.complete == true and (.accuracy_matrix | length) == 5' \
	'm["complete"] is True and len(m["accuracy_matrix"]) == 5'
then ok "finished run's metrics.json"
else not_ok "finished run's metrics.json"; fi

# ---- Ctrl-C stops the run cleanly ----
start intr "" tui "$S" --out "$TMP/intr"
wait_for intr "accuracy %" >/dev/null
$TM send-keys -t intr C-c
check "Ctrl-C stops, terminal restored" intr wait_for intr "exit status 0, terminal restored" 30

# ---- a failing run: the error stays on the final screen until q ----
if [ -n "${LETHE_TEST_PLUGINS:-}" ] && [ -e "$LETHE_TEST_PLUGINS/hooks.so" ]; then
	sed "s|^plugins = .*|plugins = $LETHE_TEST_PLUGINS/hooks.so|; /^\[repulsion\]/,\$d" "$S" \
		>"$TMP/nan.ini"
	printf '[hooks]\nnan_at_batch = 3\n' >>"$TMP/nan.ini"
	start nan "" tui "$TMP/nan.ini" --out "$TMP/nan"
	check "a failed run shows its error" nan wait_for nan "error: step 1, epoch 1, batch 3" 30
	check "the error screen says q quits" nan shows nan "q to quit"
	$TM send-keys -t nan q
	check "q leaves a failed run with status 1" nan \
		wait_for nan "exit status 1, terminal restored"
	check "the error is printed once the terminal is back" nan shows nan "lethe: step 1"
fi

# ---- terminals the dashboard cannot use: refused at once (nothing loaded), lethe run hinted ----
for term in dumb nosuchterm; do
	start "$term" "TERM=$term" tui "$S" --out "$TMP/$term"
	check "TERM=$term is refused at once with exit 2" "$term" \
		wait_for "$term" "exit status 2, terminal restored"
	check "TERM=$term: the refusal names TERM and hints lethe run" "$term" \
		sh -c "$TM capture-pane -p -J -t $term | grep -q 'TERM=$term.*use lethe run'"
	if [ -e "$TMP/$term" ]; then not_ok "TERM=$term: nothing ran" "$term"
	else ok "TERM=$term: nothing ran"; fi
done

# ---- not a terminal ----
"$LETHE" tui "$S" --out "$TMP/none" </dev/null >/dev/null 2>"$TMP/err"
status=$?
if [ "$status" -eq 2 ] && grep -qF "tui needs a terminal on stdin and stdout" "$TMP/err"; then
	ok "refused off a terminal (exit 2)"
else
	not_ok "refused off a terminal (exit $status)"
	sed 's/^/    /' "$TMP/err"
fi

finish
