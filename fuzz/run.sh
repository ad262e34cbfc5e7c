#!/bin/sh
# fuzz/run.sh FUZZER CORPUS SECONDS [DICT]: runs a libFuzzer binary for SECONDS on a scratch copy
# of CORPUS (so the committed corpus only changes by hand), with DICT when given. Fails when
# the fuzzer finds a crash, a leak or a timeout; the input that did it is kept as
# FUZZER-crash-*, -leak-* or -timeout-*, to add to the corpus once fixed.
set -u

fuzzer=$1 corpus=$2 seconds=$3 dict=${4:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/lethe-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -R "$corpus"/. "$work"/
set -- -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
	-artifact_prefix="$fuzzer-"
[ -n "$dict" ] && set -- "$@" -dict="$dict"
"$fuzzer" "$@" "$work"
