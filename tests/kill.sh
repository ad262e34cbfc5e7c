#!/bin/sh
# Runs killed with SIGKILL at seeded pseudo-random moments, resumed with --resume each time, end
# (on an MLP, a small CNN and a small residual net, batch norm's running statistics included)
# with the same accuracy.csv and curves.csv, byte for byte, the same class confusion and the
# same unlearning figures as an uninterrupted run; one run holds three forget requests and audits
# clean after its resumes. A corrupt, truncated, foreign checkpoint or a FIFO is refused with exit
# 2 and one line, as are a second run on the same directory and a read-only directory; a full
# disk and a file size limit stop the run with a clear error and leave the previous checkpoint
# whole, and the run
# resumes from it. --resume with no checkpoint yet starts from the beginning. Run from the build
# directory, as make check does.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/testlib.sh"
export LC_ALL=C

# What a failed test may leave in the way of the removal: the tmpfs, the immutable directory.
MOUNTED=
cleanup() {
	[ -n "$MOUNTED" ] && umount "$MOUNTED" 2>/dev/null
	chattr -i "$TMP/ro" 2>/dev/null
	chmod -R u+w "$TMP" 2>/dev/null
}
scratch kill cleanup
KILLS=10

# A synthetic scenario of 900 batches, a second or so, with checkpoints every 3 batches so that
# kills land in the middle of epochs. AUGMENT holds [data] lines; extra lines follow. The MLP's;
# to_net FILE MODEL makes it a small net of batch norm's running statistics too (its model line,
# a third of the data for three times the epochs: as many batches as the MLP's, so that on a
# loaded host the polling still finds the run going and a late kill does not find it ended).
scenario() { # FILE PLUGINS EXTRA-LINES...
	file=$1 plugins=$2
	shift 2
	{
		printf '[scenario]\nname = kill\nprotocol = class-incremental\nplugins = %s\n' "$plugins"
		printf '[data]\n%ssource = synthetic\nclasses = 6\ndim = 32\n' "${AUGMENT:-}"
		printf 'train_per_class = 1200\n'
		printf 'test_per_class = 40\nspread = 70\n[tasks]\nsplit = 3\n[model]\nhidden = 32\n'
		printf '[train]\nlr = 0.05\nmomentum = 0.5\nbatch_size = 16\nepochs = 2\nseed = 4\n'
		printf 'checkpoint_every = 3\n'
		for line in "$@"; do printf '%s\n' "$line"; done
	} >"$file"
}

# The training samples' crops and flips drawn from their stream: its state resumes too.
AUGMENT='crop = 1
flip = true
'
scenario "$TMP/ewc.ini" "ewc, rehearsal" "[ewc]" "lambda = 10" "[rehearsal]" \
	"schedule = power-law" "max_stored = 100"
AUGMENT=
# The baselines together: si's path, mas's importance of a seeded subset, lwf's teacher, the
# replay memories and derpp's draws.
scenario "$TMP/baselines.ini" "si, mas, lwf, er_ace, der, derpp" "[si]" "lambda = 0.5" "[mas]" \
	"samples = 300" "[er_ace]" "max_stored = 100" "[der]" "max_stored = 100" "[derpp]" \
	"max_stored = 100"
# The gradient memories: gem's rings and counts, agem's reservoir and draws, gdumb's greedy memory
# and its training from the initial model.
scenario "$TMP/memories.ini" "gem, agem, gdumb" "[gem]" "memory_per_task = 30" "[agem]" \
	"max_stored = 100" "[gdumb]" "max_stored = 100" "epochs = 2"
# The exemplar memories: icarl's herded sets, old model and class means; bic's held-out part and
# its corrections (on_predict scores both).
scenario "$TMP/exemplars.ini" "icarl, bic" "[icarl]" "max_stored = 100" "[bic]" \
	"max_stored = 100" "bias_epochs = 5"
# Three forget requests: a class, a tenth of a task's samples, then a whole task that holds
# the class already forgotten.
scenario "$TMP/forget.ini" "rehearsal, repulsion" "[rehearsal]" "max_stored = 100" \
	"[repulsion]" "unlearn_steps = 20" "[forget1]" "after = 2" "classes = 1" \
	"plugin = repulsion" "references = retrain, finetune" "[forget2]" "after = 2" \
	"what = samples" "task = 2" "fraction = 0.1" "plugin = repulsion" "references = retrain" \
	"[forget3]" "after = 3" "what = task" "task = 1" "plugin = repulsion" \
	"references = retrain"

to_net() {
	sed -i "s/^hidden = 32\$/$2/; s/^train_per_class = 1200\$/train_per_class = 400/;
		s/^epochs = 2\$/epochs = 6/" "$1"
}
scenario "$TMP/cnn.ini" "ewc, rehearsal" "[ewc]" "lambda = 10" "[rehearsal]" \
	"schedule = power-law" "max_stored = 100"
to_net "$TMP/cnn.ini" "layers = conv 4 k3 p1, bn, relu, maxpool 1 s2, conv 6 k3 p1, relu, flatten, dense"
# mas's importance through batch norm in evaluation mode (not beside ewc: each guard counts its
# own penalty, and the two together pass SGD's bound here).
scenario "$TMP/resnet.ini" "rehearsal, mas" "[rehearsal]" "max_stored = 100" "[mas]" \
	"lambda = 0.01" "samples = 200"
to_net "$TMP/resnet.ini" "layers = conv 4 k3 p1 nobias, bn, relu, res 4, res 6 s2, gap, dense"

now() { date +%s.%N; }

# The unlearning figures of a metrics.json, less their times.
unlearning() {
	awk '/^  "unlearning": / { on = 1 } on { print } on && (/^  \]/ || /\[\],?$/) { exit }' \
		"$1" | grep -v '"seconds"'
}

# same NAME REF DIR: DIR's results are REF's.
same() {
	if ! cmp -s "$2/accuracy.csv" "$3/accuracy.csv"; then
		diff "$2/accuracy.csv" "$3/accuracy.csv" >"$TMP/err" 2>&1
		not_ok "$1: accuracy.csv differs"
	elif ! cmp -s "$2/curves.csv" "$3/curves.csv"; then
		diff "$2/curves.csv" "$3/curves.csv" >"$TMP/err" 2>&1
		not_ok "$1: curves.csv differs"
	elif [ "$(jq -c .confusion_matrices "$2/metrics.json")" != \
		"$(jq -c .confusion_matrices "$3/metrics.json")" ]; then
		: >"$TMP/err"
		not_ok "$1: the confusion matrices differ"
	elif ! unlearning "$2/metrics.json" >"$TMP/u1" || ! unlearning "$3/metrics.json" >"$TMP/u2" ||
		! cmp -s "$TMP/u1" "$TMP/u2"; then
		diff "$TMP/u1" "$TMP/u2" >"$TMP/err" 2>&1
		not_ok "$1: the unlearning figures differ"
	else
		ok "$1"
	fi
}

# start DIR SCENARIO: lethe run in the background, resuming when DIR has a checkpoint.
start() {
	if [ -f "$1/checkpoint.lethe" ]; then
		"$LETHE" run "$2" --out "$1" --quiet --resume >/dev/null 2>>"$TMP/log" &
	else
		"$LETHE" run "$2" --out "$1" --quiet >/dev/null 2>>"$TMP/log" &
	fi
	pid=$!
}

# The batches a checkpoint says are done, and the run's total: checkpoint.h has the layout (a
# 28-byte header, the settings' length and text, 14 eight-byte values, then these two).
progress() { # FILE OFFSET: 0 for batches done, 8 for the total; 0 without a checkpoint
	len=$(od -An -tu8 -j 28 -N 8 "$1" 2>/dev/null | tr -d ' ') v=
	if [ -n "$len" ]; then
		at=$((28 + 8 + len))
		# format 2 records the BLAS kernel's name after the settings
		if [ "$(od -An -tu4 -j 8 -N 4 "$1" | tr -d ' ')" -ge 2 ]; then
			at=$((at + 8 + $(od -An -tu8 -j "$at" -N 8 "$1" | tr -d ' ')))
		fi
		v=$(od -An -tu8 -j $((at + 8 * 14 + $2)) -N 8 "$1" 2>/dev/null | tr -d ' ')
	fi
	echo "${v:-0}"
}

# The moments, from a fixed seed: the i-th kill once the checkpoints reach a point drawn in the
# i-th tenth of the run's batches, 0 to 10 ms after that checkpoint (a clock that keeps the
# run's own pace, however slow its disk), so that the kills spread over the whole run and land
# between checkpoints. The run with forget steps has two more, aimed at them: 20 ms after the
# last checkpoint of step 2, which forget1 and forget2 follow, and of step 3 (forget3).
awk -v n=$KILLS 'BEGIN { srand(1); for (i = 0; i < n; i++)
	printf "%.4f %.4f\n", (i + rand()) / n, 0.01 * rand() }' >"$TMP/moments-ewc"
{ cat "$TMP/moments-ewc"; echo "0.6667 0.02"; echo "1 0.02"; } | sort -n >"$TMP/moments-forget"
cp "$TMP/moments-ewc" "$TMP/moments-baselines"
cp "$TMP/moments-ewc" "$TMP/moments-memories"
cp "$TMP/moments-ewc" "$TMP/moments-exemplars"
cp "$TMP/moments-ewc" "$TMP/moments-cnn"
cp "$TMP/moments-ewc" "$TMP/moments-resnet"

for name in ewc baselines memories exemplars forget cnn resnet; do
	S=$TMP/$name.ini
	t0=$(now)
	"$LETHE" run "$S" --out "$TMP/$name-ref" --quiet >/dev/null 2>"$TMP/err" ||
		not_ok "$name: the uninterrupted run"
	took=$(echo "$t0 $(now)" | awk '{ printf "%.2f", $2 - $1 }')
	total=$(progress "$TMP/$name-ref/checkpoint.lethe" 8)
	: >"$TMP/log"
	hit=0 kills=0
	while read -r at delay; do
		kills=$((kills + 1))
		target=$(echo "$at $total" | awk '{ printf "%d", $1 * $2 }')
		start "$TMP/$name-cut" "$S"
		while kill -0 "$pid" 2>/dev/null &&
			[ "$(progress "$TMP/$name-cut/checkpoint.lethe" 0)" -lt "$target" ]; do
			sleep 0.001
		done
		sleep "$delay"
		kill -9 "$pid" 2>/dev/null && hit=$((hit + 1))
		wait "$pid" 2>/dev/null
	done <"$TMP/moments-$name"
	start "$TMP/$name-cut" "$S"
	if ! wait "$pid"; then
		cp "$TMP/log" "$TMP/err"
		not_ok "$name: the last resume failed"
	# A kill after the run's end finds nothing: on a loaded host the polling lags behind the
	# small CNN and ResNet runs, so only most of the kills land. Two still interrupt it.
	elif [ "$hit" -lt 2 ]; then
		: >"$TMP/err"
		not_ok "$name: only $hit of $kills kills found the run going"
	else
		same "$name: killed $hit times of $kills, resumed each time (uninterrupted: ${took}s)" \
			"$TMP/$name-ref" "$TMP/$name-cut"
	fi
	# The resumed run of three forget requests keeps none of what they forgot.
	if [ "$name" = forget ]; then
		if "$LETHE" audit "$TMP/$name-cut" --quiet >"$TMP/out" 2>"$TMP/err"; then
			ok "forget: the resumed run audits clean"
		else
			not_ok "forget: the resumed run audits clean"
		fi
	fi
done

# refused STATUS TEXT NAME -- CMD...: CMD exits with STATUS and says TEXT in one line.
refused() {
	status=$1 text=$2 name=$3
	shift 4
	"$@" >/dev/null 2>"$TMP/err"
	got=$?
	if [ "$got" -ne "$status" ]; then
		not_ok "$name (exit $got, expected $status)"
	elif ! grep -qF -- "$text" "$TMP/err"; then
		not_ok "$name (stderr lacks '$text')"
	elif [ "$(wc -l <"$TMP/err")" -ne 1 ]; then
		not_ok "$name (more than one line)"
	else
		ok "$name"
	fi
}

# A checkpoint in the middle of the run: the first one the run writes.
CK=$TMP/first/checkpoint.lethe
start "$TMP/first" "$TMP/ewc.ini"
while kill -0 "$pid" 2>/dev/null && [ ! -f "$CK" ]; do sleep 0.01; done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
size=$(wc -c <"$CK")
cp "$CK" "$TMP/first.lethe" # what the refusals below must leave as it is

mkdir -p "$TMP/flip" "$TMP/cut"
cp "$CK" "$TMP/flip/checkpoint.lethe"
printf '\377' | dd of="$TMP/flip/checkpoint.lethe" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
refused 2 "flip/checkpoint.lethe: corrupt: its CRC-32 does not match" "a flipped byte is refused" \
	-- "$LETHE" run "$TMP/ewc.ini" --out "$TMP/flip" --resume
head -c $((size - 100)) "$CK" >"$TMP/cut/checkpoint.lethe"
refused 2 "cut/checkpoint.lethe: truncated: $((size - 100)) of its $size bytes" \
	"a truncated checkpoint is refused" -- "$LETHE" run "$TMP/ewc.ini" --out "$TMP/cut" --resume
refused 2 "first/checkpoint.lethe: another scenario: the checkpoint's run has train.lr = 0.05, this one 0.06" \
	"another scenario's checkpoint is refused" \
	-- "$LETHE" run "$TMP/ewc.ini" --out "$TMP/first" --resume --set train.lr=0.06
refused 2 "another scenario: the checkpoint's run set" "another plugin list is refused" \
	-- "$LETHE" run "$TMP/forget.ini" --out "$TMP/first" --resume
mkdir -p "$TMP/fifo"
mkfifo "$TMP/fifo/checkpoint.lethe"
refused 2 "fifo/checkpoint.lethe: a FIFO, not a regular file" "a FIFO is refused, not waited on" \
	-- timeout 60 "$LETHE" run "$TMP/ewc.ini" --out "$TMP/fifo" --resume
refused 2 "first holds the checkpoint of a run stopped in its first step; pass --resume" \
	"a checkpoint alone is a run's results too" \
	-- "$LETHE" run "$TMP/ewc.ini" --out "$TMP/first"
# A checkpoint written under another BLAS kernel (here its name's first letter made '~', the
# CRC mended with gzip's) resumes, with one line naming both kernels.
mkdir -p "$TMP/kernel"
K=$TMP/kernel/checkpoint.lethe
cp "$CK" "$K"
settings=$(od -An -t u8 -j 28 -N 8 "$K" | tr -d ' ')
printf '~' | dd of="$K" bs=1 seek=$((28 + 8 + settings + 8)) conv=notrunc 2>/dev/null
tail -c +29 "$K" | gzip -c | tail -c 8 | head -c 4 | dd of="$K" bs=1 seek=24 conv=notrunc 2>/dev/null
expect 0 "warning: lethe: the checkpoint was written under OpenBLAS's ~" \
	"another kernel's checkpoint resumes, warned" \
	-- "$LETHE" run "$TMP/ewc.ini" --out "$TMP/kernel" --resume --quiet
if [ "$(grep -c 'kernel and resumes under' "$TMP/err")" -eq 1 ]; then ok "warned once"
else not_ok "warned once"; fi
if cmp -s "$TMP/first.lethe" "$CK"; then
	ok "refusals leave the checkpoint alone"
else
	: >"$TMP/err"
	not_ok "a refusal changed the checkpoint"
fi

# A requeued job says --resume from its first start on: with no checkpoint and no results there,
# the run starts from the beginning, and says so in one line.
"$LETHE" run "$TMP/ewc.ini" --out "$TMP/requeued" --resume >/dev/null 2>"$TMP/err"
status=$?
if [ "$status" -ne 0 ]; then
	not_ok "--resume without a checkpoint starts from the beginning (exit $status)"
elif [ "$(grep -c "requeued holds no checkpoint yet: starting from the beginning" "$TMP/err")" \
	-ne 1 ]; then
	not_ok "--resume without a checkpoint says it starts from the beginning"
else
	same "--resume without a checkpoint starts from the beginning" "$TMP/ewc-ref" \
		"$TMP/requeued"
fi

# --resume says where it resumed, in one line: the checkpoint's step, epoch and batch (step 1
# has 2 epochs of 150 batches; the first checkpoint is early in it).
mkdir -p "$TMP/where"
cp "$CK" "$TMP/where/"
want=$(awk -v b="$(progress "$CK" 0)" -v dir="$TMP/where" 'BEGIN { e = b > 150 ? 2 : 1
	printf "resuming %s from step 1/3, epoch %d/2, after batch %d/150", dir, e,
		b - 150 * (e - 1) }')
"$LETHE" run "$TMP/ewc.ini" --out "$TMP/where" --resume >/dev/null 2>"$TMP/err"
if [ "$(grep -cF "lethe: $want" "$TMP/err")" -eq 1 ]; then
	same "--resume says where: $want" "$TMP/ewc-ref" "$TMP/where"
else
	not_ok "--resume says where ($want)"
fi

# Two runs on one directory: the second is refused, naming the first's pid, while the first
# holds the lock (stopped, so that it cannot finish first); killed with -9, the first leaves no
# lock behind, and its run resumes.
"$LETHE" run "$TMP/ewc.ini" --out "$TMP/busy" --quiet >/dev/null 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null && ! grep -qs "^$pid\$" "$TMP/busy/run.lock"; do sleep 0.01; done
kill -STOP "$pid" 2>/dev/null
refused 2 "busy: another lethe run is using it (pid $pid)" "a second run on one directory" \
	-- "$LETHE" run "$TMP/ewc.ini" --out "$TMP/busy" --force
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
if "$LETHE" run "$TMP/ewc.ini" --out "$TMP/busy" --resume --quiet >/dev/null 2>"$TMP/err"; then
	same "kill -9 leaves no lock behind" "$TMP/ewc-ref" "$TMP/busy"
else
	not_ok "kill -9 leaves no lock behind"
fi

# stopped NAME DIR WHY STATUS: lethe --resume in DIR failed (exit STATUS, 1 expected) naming the
# checkpoint and the cause WHY; the checkpoint is the one it resumed from, and that one still
# resumes to the end.
stopped() {
	name=$1 dir=$2 why=$3 status=$4
	if [ "$status" -ne 1 ]; then
		not_ok "$name (exit $status, expected 1)"
	elif ! grep -q "checkpoint.lethe: cannot write the checkpoint: $why; the previous one" \
		"$TMP/err"; then
		not_ok "$name (no clear error)"
	elif ! cmp -s "$CK" "$dir/checkpoint.lethe"; then
		not_ok "$name (the previous checkpoint changed)"
	else
		mkdir -p "$TMP/again-$name"
		cp "$dir/checkpoint.lethe" "$TMP/again-$name/"
		"$LETHE" run "$TMP/ewc.ini" --out "$TMP/again-$name" --resume --quiet >/dev/null \
			2>"$TMP/err" || not_ok "$name: the previous checkpoint does not resume"
		same "$name: stopped with a clear error, the previous checkpoint resumes" \
			"$TMP/ewc-ref" "$TMP/again-$name"
	fi
}

# A full disk: a tmpfs that holds one checkpoint but not a second beside it (root only).
mkdir -p "$TMP/full"
if mount -t tmpfs -o size=$((size * 3 / 2)) tmpfs "$TMP/full" 2>/dev/null; then
	MOUNTED=$TMP/full
	cp "$CK" "$TMP/full/"
	"$LETHE" run "$TMP/ewc.ini" --out "$TMP/full" --resume --quiet >/dev/null 2>"$TMP/err"
	stopped "disk-full" "$TMP/full" "No space left on device" $?
	umount "$TMP/full" && MOUNTED=
else
	echo "skip: a full disk: cannot mount a tmpfs here (root in a privileged container only)"
fi

# A file size limit fails a write the same way, for anyone.
mkdir -p "$TMP/limit"
cp "$CK" "$TMP/limit/"
(
	trap '' XFSZ
	ulimit -f $((size / 1024 / 2))
	exec "$LETHE" run "$TMP/ewc.ini" --out "$TMP/limit" --resume --quiet >/dev/null 2>"$TMP/err"
)
stopped "file-size-limit" "$TMP/limit" "File too large" $?

# A read-only directory is refused before anything trains, its checkpoint untouched: by its
# permissions for a user; root ignores them, but not an immutable directory, where the file
# system has that attribute.
mkdir -p "$TMP/ro"
cp "$CK" "$TMP/ro/"
chmod 555 "$TMP/ro"
ro=
if ! touch "$TMP/ro/probe" 2>/dev/null; then
	ro="Permission denied"
elif rm -f "$TMP/ro/probe" && chattr +i "$TMP/ro" 2>/dev/null; then
	ro="Operation not permitted"
fi
if [ -n "$ro" ]; then
	refused 2 "ro: cannot write in it: $ro" "a read-only directory is refused before training" \
		-- "$LETHE" run "$TMP/ewc.ini" --out "$TMP/ro" --resume
	chattr -i "$TMP/ro" 2>/dev/null
	cmp -s "$CK" "$TMP/ro/checkpoint.lethe" || not_ok "read-only: the checkpoint changed"
else
	echo "skip: a read-only directory: running as root, and this file system has no" \
		"immutable attribute"
fi
chmod 755 "$TMP/ro"

finish
