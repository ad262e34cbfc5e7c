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
# Two threads, twice: OpenBLAS parts its products between threads the same way every time, so
# the bits repeat (another thread count may change the last bits: rehearsal's 128-row batches
# do, 0.7620 on 1 thread and 0.7624 on 2).
run split-fashion-rehearsal --out "$OUT/rehearsal-2-threads" --set train.threads=2 &&
	run split-fashion-rehearsal --out "$OUT/rehearsal-2-threads-again" --set train.threads=2 && {
	if cmp -s "$OUT/rehearsal-2-threads/accuracy.csv" \
		"$OUT/rehearsal-2-threads-again/accuracy.csv"; then
		passed=$((passed + 1)); echo "ok: 2 threads twice, identical accuracy matrix"
	else failed=$((failed + 1)); echo "FAILED: 2 threads twice gave two matrices"; fi
}

# ---- strategies (issue: EWC, L2, rehearsal) ----
gain() { awk -v a="$1" -v b="$2" 'BEGIN { print a - b }'; }
for pl in ewc l2 rehearsal; do
	run permuted-fashion-$pl || continue
	acc=$(json average_accuracy "$OUT/permuted-fashion-$pl/metrics.json")
	want=0.05
	[ "$pl" = rehearsal ] && want=0.15
	check "permuted-fashion-$pl ACC - naive's" "$(gain "$acc" "${naive:-0}")" ">=" $want
done
run split-fashion-rehearsal &&
	check "split-fashion-rehearsal ACC" "$(json average_accuracy "$OUT/split-fashion-rehearsal/metrics.json")" ">=" 0.66
# Task-incremental EWC against naive: here naive already sits next to joint's ceiling, so a
# margin of 0.05 cannot exist; the figures are printed, not judged.
run split-fashion-ewc-til && run split-fashion-joint-til && {
	til_naive=$(json average_accuracy "$OUT/split-fashion-naive-til/metrics.json")
	echo "info: task-incremental ACC: naive $til_naive, EWC" \
		"$(json average_accuracy "$OUT/split-fashion-ewc-til/metrics.json"), joint" \
		"$(json average_accuracy "$OUT/split-fashion-joint-til/metrics.json")"
}

# ---- OVOR (class-incremental, 5 epochs per task) ----
run split-fashion-ovor && run split-fashion-naive --out "$OUT/naive-5" --set train.epochs=5 && {
	check "split-fashion-ovor ACC - naive's (5 epochs)" "$(gain \
		"$(json average_accuracy "$OUT/split-fashion-ovor/metrics.json")" \
		"$(json average_accuracy "$OUT/naive-5/metrics.json")")" ">" 0
}

# ---- unlearning: one class forgotten after all ten were learned ----
# unl KEY FILE [REFERENCE]: a figure of the first forget step (the plugin's, or a reference's).
unl() {
	awk -v key="$1" -v ref="${3:-}" '
		/"unlearning": \[/ { on = 1 }
		on && /"references": \{/ { refs = 1 }
		refs && ref != "" && index($0, "\"" ref "\": {") { inref = 1 }
		on && $0 ~ "^ *\"" key "\": " && ((ref == "" && !refs) || inref) {
			sub(/^ *"[a-z_]+": /, ""); sub(/,$/, ""); print; exit
		}' "$2"
}
for pl in sfd repulsion; do
	run unlearn-class-$pl || continue
	m=$OUT/unlearn-class-$pl/metrics.json
	check "unlearn-class-$pl forget-set accuracy (1 - UA)" "$(gain 1 "$(unl ua "$m")")" "<=" 0.05
	check "unlearn-class-$pl |TA - retrain's|" \
		"$(gain "$(unl ta "$m")" "$(unl ta "$m" retrain)" | tr -d -)" "<=" 0.03
	check "unlearn-class-$pl |MIA - retrain's|" \
		"$(gain "$(unl mia "$m")" "$(unl mia "$m" retrain)" | tr -d -)" "<=" 0.05
	check "unlearn-class-$pl seconds / retrain's" \
		"$(awk -v a="$(unl seconds "$m")" -v b="$(unl seconds "$m" retrain)" 'BEGIN { print a / b }')" "<=" 0.10
done

# A random 10% of the training set forgotten from the fitted MLP, seeds 1-3 (issue 19): the
# best method (NegGrad+ flooded, clipped, with an annealed repair: unlearn-random-neggrad.ini)
# within 0.02 of retrain (SalUn's gap: of the seeds' means) at a fifth of its time or less.
ran=0
for seed in 1 2 3; do
	run unlearn-random-neggrad --out "$OUT/unlearn-random-neggrad-s$seed" \
		--set train.seed=$seed --set forget1.references=retrain && ran=$((ran + 1))
done
if [ "$ran" = 3 ]; then
	row=$(/usr/bin/env python3 "$SRC/bench/unlearn_gap.py" "$OUT"/unlearn-random-neggrad-s[123] |
		awk '$1 == "neggrad" { sub("%", "", $8); print $6, $8 }')
	check "unlearn-random-neggrad gap to retrain (seeds 1-3)" "${row% *}" "<=" 0.02
	check "unlearn-random-neggrad seconds / retrain's (%)" "${row#* }" "<=" 20
fi

# Throughput against the roofline: the last column of bench/bench_train's batch-256 row.
if [ -x bench/bench_train ]; then
	ratio=$(bench/bench_train | awk '$1 == 256 { sub("%", "", $NF); print $NF }')
	check "training GEMM rate / roofline at batch 256 (%)" "${ratio:-0}" ">=" 60
fi

# Fisher cost per variant against one epoch, and OVOR's outlier synthesis against a second.
if [ -x bench/bench_fisher ]; then
	LETHE_BUILD_PLUGINS=${LETHE_BUILD_PLUGINS:-plugins} bench/bench_fisher >"$OUT/fisher.txt"
	cat "$OUT/fisher.txt"
	check "Fisher variants within their cost targets" "$(grep -c ' ok$' "$OUT/fisher.txt")" "==" 3
fi
if [ -x bench/bench_outliers ]; then
	bench/bench_outliers | tee "$OUT/outliers.txt"
	check "outlier synthesis under a second" "$(grep -c 'met$' "$OUT/outliers.txt")" "==" 1
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
