#!/bin/sh
# `make valgrind`: the real lethe binary under memcheck, running small synthetic scenarios that
# load every shipped plugin (EWC and L2 together, rehearsal with OVOR, and the unlearning
# plugins with forget steps and every reference method) under each protocol, plus `check`,
# `plugins`, a resumed run and runs refused or failed part way. Any memory error or definite or indirect leak
# fails. No suppressions: Debian's OpenBLAS thread pool and dlopen leave nothing behind.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/testlib.sh"
LIBTOOL=${LIBTOOL:-libtool}
scratch valgrind

if ! command -v valgrind >/dev/null 2>&1; then
	echo "valgrind not found (apt-get install valgrind)"
	exit 1
fi
# The test plugins, and the build tree's shipped ones (found as plugins/NAME/.libs/NAME.so).
LETHE_PLUGIN_PATH=$PLUGINS:${LETHE_BUILD_PLUGINS:-plugins}
export LETHE_PLUGIN_PATH

# grind NAME STATUS ARGS...: lethe ARGS under memcheck must exit with STATUS (memcheck's own
# errors exit 99). Through libtool, as lethe may be a wrapper script in the build tree.
grind() {
	name=$1 want=$2
	shift 2
	# shellcheck disable=SC2086
	$LIBTOOL --mode=execute valgrind --quiet --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
		--track-origins=yes "$LETHE" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
	status=$?
	if [ "$status" -eq "$want" ]; then
		ok "$name"
	else
		not_ok "$name (exit $status, expected $want)"
		sed 's/^/    /' "$TMP/$name.err"
	fi
}

# scenario FILE PROTOCOL PLUGINS EXTRA-LINES...: four synthetic classes as two tasks (unless
# EXTRA-LINES say otherwise), a tiny MLP.
scenario() {
	file=$1 protocol=$2 plugins=$3
	shift 3
	{
		printf '[scenario]\nname = grind\nprotocol = %s\nplugins = %s\n' "$protocol" \
			"$plugins"
		printf '[data]\nsource = synthetic\nclasses = 4\ndim = 16\ntrain_per_class = 24\n'
		printf 'test_per_class = 8\n[model]\nhidden = 16\n'
		printf '[train]\nlr = 0.05\nbatch_size = 16\nepochs = 2\nseed = 1\n'
		for line in "$@"; do printf '%s\n' "$line"; done
	} >"$file"
}

CIL=class-incremental
scenario "$TMP/ewc-l2.ini" $CIL "ewc, l2" "[tasks]" "split = 2" \
	"[ewc]" "fisher = sampled" "samples = 32" "[l2]" "lambda = 0.1"
scenario "$TMP/ewc-permuted.ini" domain-incremental ewc "[tasks]" "permuted = 2" \
	"[ewc]" "mode = online" "fisher = batched"
scenario "$TMP/rehearsal-ovor.ini" task-incremental "rehearsal, ovor" "[tasks]" \
	"task1 = 0, 2" "task2 = 1, 3" "[rehearsal]" "max_stored = 32" \
	"[ovor]" "k = 5" "boundary = 8" "per_class = 8"
scenario "$TMP/sfd.ini" $CIL "rehearsal, sfd" "[tasks]" "split = 2" \
	"[rehearsal]" "max_stored = 32" \
	"[sfd]" "steps = 4" "batch = 16" "synth = 16" "synth_steps = 2" \
	"[forget1]" "after = 2" "what = class" "classes = 1" "plugin = sfd" \
	"references = retrain, finetune, gradient_ascent, random_labels" "relearn_max_epochs = 2"
scenario "$TMP/repulsion.ini" $CIL "rehearsal, repulsion" "[tasks]" "split = 2" \
	"[rehearsal]" "max_stored = 32" \
	"[repulsion]" "adapt_steps = 2" "unlearn_steps = 4" "fisher_samples = 16" \
	"batch_size = 16" \
	"[forget1]" "after = 1" "what = samples" "task = 1" "fraction = 0.25" \
	"plugin = repulsion" "references = retrain, finetune" "relearn_max_epochs = 2" \
	"[forget2]" "after = 2" "what = task" "task = 2" "retrain = joint"
# The unlearning methods of docs/unlearning.md, each forgetting samples, at small settings.
for p in neggrad l1sparse scrub salun badteacher ssd; do
	scenario "$TMP/$p.ini" $CIL "rehearsal, $p" "[tasks]" "split = 2" \
		"[rehearsal]" "max_stored = 32" "[$p]" "batch_size = 16" \
		"[forget1]" "after = 2" "what = samples" "task = 1" "fraction = 0.25" \
		"plugin = $p" "references ="
done

grind plugins 0 plugins
grind check 0 check "$TMP/sfd.ini"
# Two BLAS threads once, to bring up OpenBLAS's thread pool; a joint baseline once.
grind run-ewc-l2 0 run "$TMP/ewc-l2.ini" --out "$TMP/out-ewc-l2" --quiet \
	--set train.threads=2
grind run-ewc-permuted 0 run "$TMP/ewc-permuted.ini" --out "$TMP/out-ewc-permuted" --quiet \
	--set train.baseline=joint
for s in rehearsal-ovor sfd repulsion neggrad l1sparse scrub salun badteacher ssd; do
	grind "run-$s" 0 run "$TMP/$s.ini" --out "$TMP/out-$s" --quiet
done
# The checkpoint reader and the plugins' load hooks: resuming the finished unlearning run.
grind resume 0 run "$TMP/repulsion.ini" --out "$TMP/out-repulsion" --quiet --resume
# Refusals and failures free what was set up before them: a scenario error, a plugin's bad
# parameter after another plugin was loaded, data that cannot be read, a plugin failing in
# create, and a run stopped by a failing hook.
grind bad-scenario 2 run "$TMP/sfd.ini" --out "$TMP/out-bad" --quiet --set tasks.split=3
grind bad-plugin-param 2 run "$TMP/sfd.ini" --out "$TMP/out-bad" --quiet \
	--set sfd.temperature=0
grind missing-data 2 run "$TMP/sfd.ini" --out "$TMP/out-bad" --quiet \
	--set data.source=idx --set data.dir="$TMP"
grind create-fails 2 run "$TMP/sfd.ini" --out "$TMP/out-bad" --quiet \
	--set scenario.plugins=rehearsal,hooks --set forget1.plugin= --set hooks.fail_hook=create
grind hook-fails 1 run "$TMP/sfd.ini" --out "$TMP/out-hook" --quiet \
	--set scenario.plugins=rehearsal,sfd,hooks --set hooks.fail_hook=after_task
# A results directory refused once the engine is open (it holds a run's results).
grind out-taken 2 run "$TMP/sfd.ini" --out "$TMP/out-repulsion" --quiet

finish
