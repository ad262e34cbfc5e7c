#!/bin/sh
# The acceptance figures of the engine on the real Fashion-MNIST (minutes, not part of
# `make check`): run by `make accept`. Prints each figure next to its bound and fails if any
# bound is missed.
set -u
LETHE=${LETHE_BIN:-host/lethe}
SRC=${LETHE_TEST_SRCDIR:-.}
OUT=${ACCEPT_OUT:-accept-results}
mkdir -p "$OUT"
failed=0
passed=0

# json KEY FILE: a top-level number of metrics.json (written one key per line).
json() { sed -n "s/^  \"$1\": \([-0-9.eE+]*\),*$/\1/p" "$2"; }

check() { # NAME VALUE OP BOUND
	if awk -v v="$2" -v b="$4" "BEGIN { exit !(v $3 b) }"; then
		passed=$((passed + 1)); echo "ok: $1 = $2 ($3 $4)"
	else
		failed=$((failed + 1)); echo "FAILED: $1 = $2 (wanted $3 $4)"
	fi
}

run() { # SCENARIO [ARGS...]
	name=$1
	shift
	"$LETHE" run "$SRC/scenarios/$name.ini" --out "$OUT/$name" --force --quiet "$@" || {
		failed=$((failed + 1)); echo "FAILED: $name did not run"; return 1; }
}

run split-fashion-naive && {
	m=$OUT/split-fashion-naive/metrics.json
	check "split-fashion-naive ACC" "$(json average_accuracy "$m")" ">=" 0.17
	check "split-fashion-naive ACC" "$(json average_accuracy "$m")" "<=" 0.23
	diag=$(awk -F, 'NR > 2 { i = NR - 2; print $(i + 1) }' "$OUT/split-fashion-naive/accuracy.csv" | sort -g | head -n 1)
	check "split-fashion-naive min R[i][i]" "$diag" ">=" 0.93
}
run split-fashion-joint &&
	check "split-fashion-joint ACC" "$(json average_accuracy "$OUT/split-fashion-joint/metrics.json")" ">=" 0.75
run permuted-fashion-naive && {
	m=$OUT/permuted-fashion-naive/metrics.json
	naive=$(json average_accuracy "$m")
	check "permuted-fashion-naive ACC" "$naive" ">=" 0.50
	check "permuted-fashion-naive ACC" "$naive" "<=" 0.62
	check "permuted-fashion-naive forgetting" "$(json forgetting "$m")" ">=" 0.25
}
run permuted-fashion-joint && {
	joint=$(json average_accuracy "$OUT/permuted-fashion-joint/metrics.json")
	check "permuted joint - naive ACC" "$(awk -v a="$joint" -v b="${naive:-0}" 'BEGIN { print a - b }')" ">=" 0.15
}

# Determinism on the real data: the same seed twice gives the same bytes, another seed not.
run split-fashion-naive-til && run split-fashion-naive-til --out "$OUT/til-again" && {
	if cmp -s "$OUT/split-fashion-naive-til/accuracy.csv" "$OUT/til-again/accuracy.csv"; then
		passed=$((passed + 1)); echo "ok: same seed, identical accuracy matrix"
	else failed=$((failed + 1)); echo "FAILED: same seed gave another matrix"; fi
}
run split-fashion-naive-til --out "$OUT/til-seed2" --set train.seed=2 && {
	if ! cmp -s "$OUT/split-fashion-naive-til/accuracy.csv" "$OUT/til-seed2/accuracy.csv"; then
		passed=$((passed + 1)); echo "ok: train.seed=2 gives another matrix"
	else failed=$((failed + 1)); echo "FAILED: train.seed=2 gave the same matrix"; fi
}
run split-fashion-joint-til

# Throughput against the roofline: the last column of bench/bench_train's batch-256 row.
if [ -x bench/bench_train ]; then
	ratio=$(bench/bench_train | awk '$1 == 256 { sub("%", "", $NF); print $NF }')
	check "training GEMM rate / roofline at batch 256 (%)" "${ratio:-0}" ">=" 60
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
