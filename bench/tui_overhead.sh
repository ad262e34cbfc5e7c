#!/bin/sh
# What the dashboard costs: one synthetic scenario run headless (lethe run --quiet) and under
# `lethe tui` in a detached 100x30 tmux window, interleaved ROUNDS times. Two measures:
#   wall: the engine's own time ("seconds"."total" in metrics.json: steps, evaluations, forget
#         steps; not process start, data generation or the final screen's wait for q);
#   cpu:  user + system seconds of the lethe process, plus, for the dashboard, of the tmux
#         server drawing it: the steadier figure on a machine other jobs share.
# Prints every pair, the medians and their ratios (target: at most 1.05).
#
#   bench/tui_overhead.sh [ROUNDS]        from a build directory (LETHE_BIN overrides host/lethe)
set -u

ROUNDS=${1:-3}
LETHE=${LETHE_BIN:-host/lethe}
case $LETHE in /*) ;; *) LETHE=$(pwd)/$LETHE ;; esac
command -v tmux >/dev/null 2>&1 || { echo "tui_overhead: needs tmux" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lethe-tui-bench-XXXXXX")
TM="tmux -L lethe-bench-$$ -f /dev/null"
trap '$TM kill-server 2>/dev/null; rm -rf "$TMP"' EXIT

# Small batches of a small model: many events per second, the dashboard's worst case.
S=$TMP/bench.ini
cat >"$S" <<INI
[scenario]
name = tui-bench
protocol = class-incremental
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
epochs = 20
seed = 1
INI

# Runs a command, then writes the shell's `times` (its children's CPU on the second line).
cat >"$TMP/timed.sh" <<'SH'
out=$1
shift
"$@" || exit 1
times >"$out"
SH

total() { sed -n 's/.*"total": *\([0-9.e+-]*\).*/\1/p' "$1/metrics.json" | head -n 1; }
# User + system seconds from a `times` file ("1m2.5s 0m0.1s" on its second line).
child_cpu() {
	sed -n 2p "$1" | awk '{
		s = 0
		for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); s += p[1] * 60 + p[2] }
		print s
	}'
}
# CPU seconds of the tmux server so far.
server_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$SERVER/stat"; }

# One server for every round, kept up by an idle session.
$TM new-session -d -s idle -x 20 -y 5 "sleep 100000"
SERVER=$($TM display-message -p -t idle '#{pid}')

headless() { # ROUND: prints "wall cpu"
	sh "$TMP/timed.sh" "$TMP/times-h$1" "$LETHE" run "$S" --out "$TMP/run$1" --quiet || exit 1
	echo "$(total "$TMP/run$1") $(child_cpu "$TMP/times-h$1")"
}

dashboard() { # ROUND: prints "wall cpu"
	before=$(server_cpu)
	$TM new-session -d -s "b$1" -x 100 -y 30 "env TERM=xterm-256color sh $TMP/timed.sh \
$TMP/times-t$1 $LETHE tui $S --out $TMP/tui$1"
	# The final screen waits for q: poll for it (seldom: the server's CPU counts), then leave.
	until $TM capture-pane -p -t "b$1" 2>/dev/null | grep -q "finished"; do
		if ! $TM has-session -t "b$1" 2>/dev/null; then
			echo "tui_overhead: the dashboard died" >&2
			exit 1
		fi
		sleep 0.5
	done
	$TM send-keys -t "b$1" q
	while $TM has-session -t "b$1" 2>/dev/null; do sleep 0.1; done
	echo "$(total "$TMP/tui$1") $(child_cpu "$TMP/times-t$1") $before $(server_cpu)" |
		awk '{ print $1, $2 + $4 - $3 }'
}

median() {
	sort -g | awk '{ v[NR] = $1 }
		END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

: >"$TMP/h"
: >"$TMP/t"
i=1
while [ "$i" -le "$ROUNDS" ]; do
	h=$(headless "$i") || exit 1
	t=$(dashboard "$i") || exit 1
	echo "$h" >>"$TMP/h"
	echo "$t" >>"$TMP/t"
	echo "$i $h $t" | awk '{ printf "round %d: headless %.2f s wall %.2f s cpu, " \
		"dashboard %.2f s wall %.2f s cpu\n", $1, $2, $3, $4, $5 }'
	i=$((i + 1))
done
hw=$(cut -d' ' -f1 "$TMP/h" | median)
hc=$(cut -d' ' -f2 "$TMP/h" | median)
tw=$(cut -d' ' -f1 "$TMP/t" | median)
tc=$(cut -d' ' -f2 "$TMP/t" | median)
awk -v hw="$hw" -v hc="$hc" -v tw="$tw" -v tc="$tc" 'BEGIN {
	printf "median wall: headless %.2f s, dashboard %.2f s, ratio %.3f\n", hw, tw, tw / hw
	printf "median cpu:  headless %.2f s, dashboard %.2f s, ratio %.3f (target <= 1.05)\n",
		hc, tc, tc / hc
}'
