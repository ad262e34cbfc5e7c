#!/bin/sh
# Weights out of a run and into one: lethe export writes a run's model as safetensors, and
# [model] init = FILE.safetensors starts a run from such a file (its untrained row is the
# exported model's last row; scenario.ini keeps the path absolute; an unfinished run's
# checkpoint is exported with a note). Then, unless /usr/bin/python3 cannot import torch and
# numpy, on an MLP (synthetic data), the cnn preset and a small ResNet (CIFAR-10 fixtures):
# bench/torch/safetensors_twin.py runs the exported file on the run's own test set
# (tests/safetensors_tool testset, whose accuracies are checked against accuracy.csv, so its
# predictions are lethe's) with the same prediction on every row; and the reverse, a model the
# twin writes, given as [model] init, predicted alike. The refusals are bad-input cases 240-249.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/testlib.sh"
BUILD=$(dirname "$(dirname "$LETHE")")
TOOL=$BUILD/tests/safetensors_tool
FIXTURE=$BUILD/tests/cifar_fixture
TWIN=${LETHE_TEST_SRCDIR:-.}/bench/torch/safetensors_twin.py
PLUGINS=${LETHE_TEST_PLUGINS:-tests/plugins/.libs}
PYTHON=/usr/bin/python3
scratch export

cat >"$TMP/mlp.ini" <<END
[scenario]
name = mlp
protocol = class-incremental
[data]
source = synthetic
classes = 4
dim = 8
train_per_class = 20
test_per_class = 10
[tasks]
split = 2
[model]
hidden = 16
[train]
lr = 0.05
batch_size = 10
epochs = 1
END

# runs NAME -- CMD...: CMD succeeds.
runs() {
	name=$1
	shift 2
	if "$@" >"$TMP/out" 2>"$TMP/err"; then ok "$name"; else not_ok "$name"; fi
}

# row NAME DIR: accuracy.csv's row NAME without its label.
row() {
	sed -n "s/^$1,/,/p" "$2/accuracy.csv"
}

# ---- lethe alone ----
runs "a run" -- "$LETHE" run "$TMP/mlp.ini" --out "$TMP/first" --quiet
expect 0 "wrote $TMP/first.safetensors" "lethe export" -- \
	"$LETHE" export "$TMP/first" --out "$TMP/first.safetensors"
mkdir "$TMP/sub"
cp "$TMP/first.safetensors" "$TMP/sub/w.safetensors"
cp "$TMP/mlp.ini" "$TMP/sub/init.ini"
# A relative path, from the scenario file's directory (not the working directory's).
runs "a run from init = FILE.safetensors" -- \
	"$LETHE" run "$TMP/sub/init.ini" --set model.init=w.safetensors --out "$TMP/init" --quiet
if [ -n "$(row 2 "$TMP/first")" ] &&
	[ "$(row untrained "$TMP/init")" = "$(row 2 "$TMP/first")" ]
then
	ok "it starts from the exported model: its untrained row is the run's last"
else
	not_ok "it starts from the exported model: $(row untrained "$TMP/init") vs $(row 2 "$TMP/first")"
fi
expect 0 "init = $TMP/sub/w.safetensors" "scenario.ini holds the path absolute" -- \
	cat "$TMP/init/scenario.ini"
(cd / && "$LETHE" run "$TMP/init/scenario.ini" --out "$TMP/again" --quiet) 2>"$TMP/err"
if cmp -s "$TMP/init/accuracy.csv" "$TMP/again/accuracy.csv"; then
	ok "DIR/scenario.ini repeats a run from a file, from another directory"
else
	not_ok "DIR/scenario.ini repeats a run from a file, from another directory"
fi
expect 0 "ok: class-incremental" "lethe check with init = FILE" -- \
	"$LETHE" check "$TMP/sub/init.ini" --set model.init=w.safetensors

# An unfinished run (a NaN loss in step 2): its last checkpoint's model, with a note.
"$LETHE" run "$TMP/mlp.ini" --out "$TMP/cut" --quiet --plugin-path "$PLUGINS" \
	--set scenario.plugins=hooks --set hooks.nan_at_batch=6 >/dev/null 2>&1
expect 0 "the run is unfinished (1 of 2 steps done)" "an unfinished run exports with a note" -- \
	"$LETHE" export "$TMP/cut" --out "$TMP/cut.safetensors" --quiet

# ---- PyTorch ----
if ! "$PYTHON" -c 'import numpy, torch' 2>/dev/null; then
	echo "export: the PyTorch half skipped: $PYTHON cannot import torch and numpy (python3-torch)"
	finish
	exit
fi
"$FIXTURE" "$TMP/c10" cifar10 2 2 || exit 1
CNN='conv 32 k3 p1, relu, maxpool 2, conv 64 k3 p1, relu, maxpool 2, flatten, dense 256, relu, dense'
RES='conv 4 k3 p1 nobias, bn, relu, res 4, res 8 s2, gap, bn, dense'

# model|[data]'s lines|[model]'s line|the layers|input|classes
SYNTH='source = synthetic\nclasses = 4\ndim = 8\ntrain_per_class = 20\ntest_per_class = 10'
C10="source = cifar10\ndir = $TMP/c10"
MODELS="mlp|$SYNTH|hidden = 16|dense 16, relu, dense|1x1x8|4
cnn|$C10|architecture = cnn|$CNN|3x32x32|10
resnet|$C10|layers = $RES|$RES|3x32x32|10"

# lethe's side of one model: its test set, predictions and accuracies, which are accuracy.csv's
# row ROW: the predictions are the run's own. testset DIR NAME ROW [FILE]
testset() {
	if "$TOOL" testset "$1" "$TMP/$2.npy" "$TMP/$2.acc" ${4:+"$4"} >"$TMP/$2.out" \
		2>"$TMP/err" && [ "$(cat "$TMP/$2.acc")" = "$(row "$3" "$1")" ]; then
		ok "$2: lethe's predictions, its accuracies accuracy.csv's row $3"
	else
		not_ok "$2: lethe's predictions ($(cat "$TMP/$2.acc") vs $(row "$3" "$1"))"
	fi
}

# Out: each model trained, exported and predicted by lethe; the twin writes its own models.
set --
while IFS='|' read -r model data line layers input classes; do
	printf '[scenario]\nname = %s\nprotocol = class-incremental\n[data]\n%b\n' "$model" \
		"$data" >"$TMP/$model.ini"
	printf '[tasks]\nsplit = 2\n[model]\n%s\n[train]\nlr = 0.05\nbatch_size = 10\n' \
		"$line" >>"$TMP/$model.ini"
	echo 'epochs = 1' >>"$TMP/$model.ini"
	if "$LETHE" run "$TMP/$model.ini" --out "$TMP/$model" --quiet 2>"$TMP/err" &&
		"$LETHE" export "$TMP/$model" --out "$TMP/$model.lethe.safetensors" --quiet \
			2>"$TMP/err"; then
		ok "$model: run and export"
	else
		not_ok "$model: run and export"
	fi
	testset "$TMP/$model" "$model.out" 2
	set -- "$@" "$TMP/$model.torch.safetensors" "$layers" "$input" "$classes" 7 16
done <<END
$MODELS
END
runs "PyTorch writes its models" -- "$PYTHON" "$TWIN" write "$@"

# In: each of the twin's models given as [model] init; lethe's predictions on the run's test
# set are the untrained row's.
while IFS='|' read -r model data line layers input classes; do
	runs "$model: a run from PyTorch's weights" -- "$LETHE" run "$TMP/$model.ini" \
		--set "model.init=$TMP/$model.torch.safetensors" --out "$TMP/$model.in" --quiet
	testset "$TMP/$model.in" "$model.in" untrained "$TMP/$model.torch.safetensors"
done <<END
$MODELS
END

# Both files of each model on its test set (the same in both runs): the same prediction on
# every row (near-ties within the twin's rounding bound excepted), every logit within the bound.
for model in mlp cnn resnet; do
	expect 0 "all agree" "$model: PyTorch predicts as lethe, either way" -- \
		"$PYTHON" "$TWIN" check "$TMP/$model.out.npy" \
		"$TMP/$model.lethe.safetensors" "$TMP/$model.out.out" \
		"$TMP/$model.torch.safetensors" "$TMP/$model.in.out"
	cat "$TMP/out"
done
if cmp -s "$TMP/mlp.out.npy" "$TMP/mlp.in.npy"; then
	ok "both runs of a model have the same test set"
else
	not_ok "both runs of a model have the same test set"
fi
finish
