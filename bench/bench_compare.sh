#!/bin/sh
# lethe against its PyTorch twin (bench/torch/twin.py) on the split Fashion-MNIST naive, EWC and
# rehearsal scenarios, on the same number of threads: wall time of the whole process (start,
# imports, data loading, training, evaluation), its processor time (user + system: what a
# loaded machine leaves steady), peak RSS (getrusage), and both average accuracies, side by
# side with the ratios. The two sides alternate, REPS times; the median of each figure counts.
#
# PyTorch has two thread pools, its own (OpenMP, torch.set_num_threads) and OpenBLAS's for the
# products, and on THREADS > 1 no setting of them suits every machine, so the twin runs under
# each of TWIN_SETTINGS (torch:blas thread counts; by default both pools at THREADS, as PyTorch
# starts, one pool at THREADS and the other at 1, and 1:1), a row each, and a last line per
# strategy compares lethe with the fastest of them.
#
#   bench/bench_compare.sh             (from a built tree; make bench-compare runs it)
#
# ARCH=cnn compares the CNN scenarios (split-fashion-cnn-*.ini, naive and rehearsal) instead of
# the MLP's.
#
# The twin's convolutions run in oneDNN, which picks the widest vector instructions the CPU has,
# while lethe's products run in the OpenBLAS kernel the environment chooses (OPENBLAS_CORETYPE
# may pin an AVX2 kernel on an AVX-512 machine). TWIN_ISA=match (the default) caps oneDNN at the
# instructions of lethe's kernel (ONEDNN_MAX_CPU_ISA), so both sides use the same vector width;
# TWIN_ISA=native leaves oneDNN its own choice. The head says what each side used.
#
# Env: LETHE (host/lethe), ARCH (mlp), THREADS (1), REPS (3), EPOCHS (2, the scenarios' own),
# PYTHON (/usr/bin/python3: Debian's, which python3-torch installs into), STRATEGIES
# (naive ewc rehearsal), TWIN_ARGS (more options for twin.py, e.g. --data float),
# TWIN_SETTINGS (see above), TWIN_ISA (match or native, see above), BLAS_INFO (bench/blas_info),
# OUT (a scratch directory, removed afterwards unless given).
set -eu
LETHE=${LETHE:-host/lethe}
SRC=$(cd "$(dirname "$0")/.." && pwd)
ARCH=${ARCH:-mlp}
THREADS=${THREADS:-1}
REPS=${REPS:-3}
EPOCHS=${EPOCHS:-2}
PYTHON=${PYTHON:-/usr/bin/python3}
case $ARCH in
mlp) STRATEGIES=${STRATEGIES:-naive ewc rehearsal}; SCENARIO=split-fashion ;;
cnn) STRATEGIES=${STRATEGIES:-naive rehearsal}; SCENARIO=split-fashion-cnn ;;
*) echo "bench-compare: ARCH=$ARCH: expected mlp or cnn" >&2; exit 2 ;;
esac
TWIN_ARGS=${TWIN_ARGS:-}
if [ "$THREADS" -gt 1 ]; then
	TWIN_SETTINGS=${TWIN_SETTINGS:-$THREADS:$THREADS $THREADS:1 1:$THREADS 1:1}
else
	TWIN_SETTINGS=${TWIN_SETTINGS:-1:1}
fi

TWIN_ISA=${TWIN_ISA:-match}
BLAS_INFO=${BLAS_INFO:-bench/blas_info}
case $TWIN_ISA in
match | native) ;;
*) echo "bench-compare: TWIN_ISA=$TWIN_ISA: expected match or native" >&2; exit 2 ;;
esac
if [ ! -x "$BLAS_INFO" ]; then
	echo "bench-compare: $BLAS_INFO is missing (make bench-compare builds it)" >&2
	exit 2
fi

if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
	echo "bench-compare: skipped: $PYTHON cannot import torch (apt-get install python3-torch)"
	exit 0
fi
if ! command -v jq >/dev/null; then
	echo "bench-compare: skipped: jq is not installed"
	exit 0
fi
. "$SRC/bench/lib.sh"
bench_outdir bench-compare

# The oneDNN ISA (ONEDNN_MAX_CPU_ISA's spelling) of OpenBLAS's x86 kernel $1; empty, for no cap,
# for the AVX-512 kernels (SkylakeX, Cooperlake, SapphireRapids) and any this list does not know.
kernel_isa() {
	case $1 in
	Haswell | Zen) echo AVX2 ;;
	Sandybridge | Bulldozer | Piledriver | Steamroller | Excavator) echo AVX ;;
	Nehalem | Prescott | Core2 | Penryn | Dunnington | Atom | Barcelona | Opteron*) echo SSE41 ;;
	*) echo "" ;;
	esac
}
kernel=$("$BLAS_INFO" 1 | sed -n 's/.*openblas_get_corename: \([A-Za-z0-9_]*\).*/\1/p')
cap=
[ "$TWIN_ISA" = match ] && cap=$(kernel_isa "$kernel")
# What oneDNN reports it runs on under the cap: its verbose mode's first lines, on a conv large
# enough that PyTorch hands it to oneDNN.
twin_isa=$(env ${cap:+ONEDNN_MAX_CPU_ISA=$cap} ONEDNN_VERBOSE=1 OMP_NUM_THREADS=1 "$PYTHON" -c '
import torch
torch.nn.functional.conv2d(torch.zeros(8, 3, 16, 16), torch.zeros(16, 3, 3, 3))' 2>/dev/null |
	sed -n 's/^onednn_verbose,info,cpu,isa://p' | head -n 1)
echo "ISA: lethe's OpenBLAS kernel ${kernel:-unknown}; the twin's oneDNN ${twin_isa:-unknown}" \
	"(TWIN_ISA=$TWIN_ISA${cap:+, ONEDNN_MAX_CPU_ISA=$cap})"

now() { date +%s.%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# timed NAME COMMAND...: runs it; appends its wall and processor seconds to $OUT/NAME.wall and
# $OUT/NAME.cpu (the children's user + system time from the shell's `times`).
timed() {
	name=$1
	shift
	t0=$(now)
	( "$@"; times >"$OUT/times" ) >"$OUT/stdout"
	echo "$t0 $(now)" | awk '{ printf "%.3f\n", $2 - $1 }' >>"$OUT/$name.wall"
	awk 'function s(t) { sub(/s$/, "", t); split(t, p, "m"); return p[1] * 60 + p[2] }
		NR == 2 { printf "%.3f\n", s($1) + s($2) }' "$OUT/times" >>"$OUT/$name.cpu"
}

echo "lethe vs PyTorch $("$PYTHON" -c 'import torch; print(torch.__version__)'), split" \
	"Fashion-MNIST, $ARCH, $EPOCHS epochs per task, $THREADS thread(s), median of $REPS alternating runs" \
	"${TWIN_ARGS:+(twin: $TWIN_ARGS)}"
printf "%-10s %-5s %8s %8s %7s %8s %8s %7s %8s %8s %6s %7s %7s\n" strategy twin "lethe s" \
	"torch s" speedup "l cpu s" "t cpu s" "cpu x" "lethe MB" "torch MB" "RSS /" "ACC l" "ACC t"
for s in $STRATEGIES; do
	i=0
	while [ "$i" -lt "$REPS" ]; do
		d=$OUT/$s-$i
		timed "$s.lethe" env OPENBLAS_NUM_THREADS="$THREADS" "$LETHE" run \
			"$SRC/scenarios/$SCENARIO-$s.ini" --out "$d" --force --quiet \
			--set train.threads="$THREADS" --set train.epochs="$EPOCHS"
		jq '.peak_rss_bytes' "$d/metrics.json" >>"$OUT/$s.lethe.rss"
		jq '.average_accuracy' "$d/metrics.json" >>"$OUT/$s.lethe.acc"
		for t in $TWIN_SETTINGS; do
			tw=$s.torch-$t
			# shellcheck disable=SC2086
			timed "$tw" env ${cap:+ONEDNN_MAX_CPU_ISA=$cap} OMP_NUM_THREADS="${t%:*}" \
				OPENBLAS_NUM_THREADS="${t#*:}" "$PYTHON" \
				"$SRC/bench/torch/twin.py" "$s" --arch "$ARCH" --threads "${t%:*}" --epochs "$EPOCHS" \
				$TWIN_ARGS
			sed -n 's/.*peak_rss=\([0-9]*\).*/\1/p' "$OUT/stdout" >>"$OUT/$tw.rss"
			sed -n 's/.* acc=\([0-9.]*\).*/\1/p' "$OUT/stdout" >>"$OUT/$tw.acc"
		done
		i=$((i + 1))
	done
	for t in $TWIN_SETTINGS; do
		for f in lethe.wall torch-$t.wall lethe.cpu torch-$t.cpu lethe.rss torch-$t.rss \
			lethe.acc torch-$t.acc; do
			median <"$OUT/$s.$f"
		done | tr '\n' ' ' | awk -v s="$s" -v t="$t" '{
			printf "%-10s %-5s %8.2f %8.2f %6.1fx %8.2f %8.2f %6.1fx %8.0f %8.0f %5.1fx %7.4f %7.4f\n",
				s, t, $1, $2, $2 / $1, $3, $4, $4 / $3, $5 / 1048576, $6 / 1048576, $6 / $5,
				$7, $8 }'
	done | tee "$OUT/$s.rows"
	if [ "$(echo "$TWIN_SETTINGS" | wc -w)" -gt 1 ]; then
		sort -k4,4n "$OUT/$s.rows" | awk 'NR == 1 { printf "%-10s fastest twin %s (torch:blas threads): " \
			"lethe %.1fx faster, %.1fx less memory\n", $1, $2, $4 / $3, $10 / $9 }'
	fi
done
