#!/bin/sh
# Weights across to PyTorch and back: tests/safetensors_tool (lethe) writes models of a few
# architectures, bench/torch/safetensors_twin.py loads each with load_state_dict(strict=True)
# and runs the inputs lethe ran, row by row the same predictions and logits within a rounding
# bound; then the twin writes models that lethe reads and runs, compared alike. Skipped with a
# message when /usr/bin/python3 cannot import torch and numpy.
. "$(dirname "$0")/testlib.sh"
TOOL=${LETHE_TEST_BUILDDIR:-.}/tests/safetensors_tool
TWIN=${LETHE_TEST_SRCDIR:-.}/bench/torch/safetensors_twin.py
PYTHON=/usr/bin/python3
if ! "$PYTHON" -c 'import numpy, torch' 2>/dev/null; then
	echo "safetensors_torch: skipped: $PYTHON cannot import torch and numpy (python3-torch)"
	exit 77
fi
scratch safetensors
ROWS=16 SEED=7

# model|layers|input|classes: an MLP on images of two channels, a CNN with pooling, batch norm
# and a flatten of 6x3x3 (both in NCHW order, as PyTorch flattens), a small ResNet (a block
# without and one with a projection, batch norm on a 1 x 1 input).
MODELS='mlp|dense 32, relu, dense 16, relu, dense|2x3x3|5
cnn|conv 4 k3 p1, relu, maxpool 2, conv 6 k3 p1 nobias, bn, relu, avgpool 2 s1, flatten, dense 12, relu, dense|2x8x8|4
resnet|conv 4 k3 p1 nobias, bn, relu, res 4, res 8 s2, gap, bn, dense|3x8x8|6'

# lethe writes and predicts; the twin writes all its files at once (one start of PyTorch).
set --
while IFS='|' read -r model layers input classes; do
	if "$TOOL" write "$layers" "$input" "$classes" $SEED $ROWS "$TMP/$model.lethe.st" \
		2>"$TMP/err" >"$TMP/out" &&
		"$TOOL" predict "$layers" "$input" "$classes" "$TMP/$model.lethe.st" $ROWS \
			>"$TMP/$model.lethe.out" 2>"$TMP/err"; then
		ok "lethe writes and reads $model"
	else
		not_ok "lethe writes and reads $model"
	fi
	set -- "$@" "$TMP/$model.torch.st" "$layers" "$input" "$classes" $SEED $ROWS
done <<END
$MODELS
END
if "$PYTHON" "$TWIN" write "$@" >"$TMP/out" 2>"$TMP/err"; then
	ok "PyTorch writes"
else
	not_ok "PyTorch writes"
fi

set --
while IFS='|' read -r model layers input classes; do
	if "$TOOL" predict "$layers" "$input" "$classes" "$TMP/$model.torch.st" $ROWS \
		>"$TMP/$model.torch.out" 2>"$TMP/err"; then
		ok "lethe reads PyTorch's $model"
	else
		not_ok "lethe reads PyTorch's $model"
	fi
	set -- "$@" "$TMP/$model.lethe.st" "$TMP/$model.lethe.out" \
		"$TMP/$model.torch.st" "$TMP/$model.torch.out"
done <<END
$MODELS
END
expect 0 'all agree' "the same logits and predictions either way" -- \
	"$PYTHON" "$TWIN" check $ROWS "$@"
cat "$TMP/out"

# The twin's predictions alone, on the same rows: lethe's argmax.
"$PYTHON" "$TWIN" predict "$TMP/cnn.lethe.st" $ROWS >"$TMP/out" 2>"$TMP/err"
if cut -d' ' -f1,2 "$TMP/cnn.lethe.out" | cmp -s - "$TMP/out"; then
	ok "the twin predicts as lethe"
else
	not_ok "the twin predicts as lethe"
fi
finish
