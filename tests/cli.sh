#!/bin/sh
# The lethe command line end to end: the real binary, real plugin files, real files on disk.
# Every bad input must give exit status 2 (or 1 for a failed run) and one clear line on stderr.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/testlib.sh"
scratch cli

scenario() { # FILE EXTRA-LINES...: a small synthetic scenario
	file=$1
	shift
	{
		printf '[scenario]\nname = cli\nprotocol = class-incremental\n'
		printf '[data]\nsource = synthetic\nclasses = 4\ndim = 8\ntrain_per_class = 60\n'
		printf 'test_per_class = 20\n'
		printf '[tasks]\nsplit = 2\n[model]\nhidden = 16\n'
		printf '[train]\nlr = 0.05\nbatch_size = 20\nepochs = 1\nseed = 1\n'
		for line in "$@"; do printf '%s\n' "$line"; done
	} >"$file"
}

S=$TMP/s.ini
scenario "$S"

expect 0 "lethe 0." "version" -- "$LETHE" --version
expect 0 "usage: lethe COMMAND" "help" -- "$LETHE" --help
expect 2 "no command given" "no command" -- "$LETHE"
expect 2 "unknown command 'fly'" "unknown command" -- "$LETHE" fly
expect 2 "unknown option '--bogus'" "unknown option" -- "$LETHE" run "$S" --bogus
# One table of commands: each takes its own options, refuses the others and has its --help.
expect 0 "usage: lethe COMMAND" "run --help" -- "$LETHE" run --help
expect 0 "usage: lethe sweep" "sweep --help after other arguments" -- "$LETHE" sweep x.ini --help
expect 2 "lethe check: unknown option '--out'" "check takes no --out" -- \
	"$LETHE" check "$S" --out "$TMP/no"
expect 2 "lethe plugins: unexpected argument 'x'" "plugins takes no argument" -- \
	"$LETHE" plugins x
expect 2 "lethe run: --out needs a value" "an option without its value" -- "$LETHE" run "$S" --out
expect 2 "run needs a scenario file" "missing scenario" -- "$LETHE" run
expect 2 "$TMP/none.ini" "missing scenario file" -- "$LETHE" run "$TMP/none.ini"
expect 2 "nosuch: no such file, nor a shipped scenario" "unknown scenario name" -- "$LETHE" check nosuch
if [ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
	expect 0 "ok: class-incremental, 5 tasks" "shipped scenario by name" -- "$LETHE" check quickstart
fi

# A headless run: results files, one plain line per step when stderr is not a terminal.
expect 0 "step 2/2" "run" -- "$LETHE" run "$S" --out "$TMP/r1"
if [ -s "$TMP/r1/metrics.json" ] && [ -s "$TMP/r1/accuracy.csv" ]; then ok "results written"
else not_ok "results written"; fi
if [ "$(grep -c '^step ' "$TMP/err")" -eq 2 ]; then ok "one line per step"
else not_ok "one line per step"; fi
# The BLAS that made the results' last bits: library, kernel and threads.
if grep -A3 '"blas": {' "$TMP/r1/metrics.json" | grep -q '"kernel": "[A-Za-z]'; then
	ok "metrics.json names the BLAS kernel"
else not_ok "metrics.json names the BLAS kernel"; fi
expect 2 "already holds a run's results" "no silent overwrite" -- "$LETHE" run "$S" --out "$TMP/r1"
expect 0 "step 2/2" "--force replaces" -- "$LETHE" run "$S" --out "$TMP/r1" --force

# Determinism: the same seed gives the same bytes; --set train.seed=2 another matrix.
"$LETHE" run "$S" --out "$TMP/r2" --quiet 2>/dev/null
if cmp -s "$TMP/r1/accuracy.csv" "$TMP/r2/accuracy.csv"; then ok "same seed, same results"
else not_ok "same seed, same results"; fi
"$LETHE" run "$S" --out "$TMP/r3" --quiet --set train.seed=2 2>/dev/null
if ! cmp -s "$TMP/r1/accuracy.csv" "$TMP/r3/accuracy.csv"; then ok "--set train.seed=2 differs"
else not_ok "--set train.seed=2 differs"; fi

# Validation without training.
expect 0 "ok: class-incremental, 2 tasks" "check" -- "$LETHE" check "$S"
expect 2 "--set 'train.lr'" "malformed --set" -- "$LETHE" check "$S" --set train.lr
expect 2 "above the maximum" "--set out of range" -- "$LETHE" check "$S" --set train.lr=100
scenario "$TMP/typo.ini" "lrr = 0.1"
expect 2 "typo.ini:19: unknown key 'lrr' in [train]; did you mean 'lr'?" "unknown key" -- \
	"$LETHE" check "$TMP/typo.ini"
scenario "$TMP/range.ini" "batch_size = 0"
expect 2 "range.ini:" "out of range value" -- "$LETHE" check "$TMP/range.ini"
printf '[train\nlr = 1\n' >"$TMP/syntax.ini"
expect 2 "syntax.ini:1:" "malformed INI" -- "$LETHE" check "$TMP/syntax.ini"

# Data: missing set, corrupt file.
cat >"$TMP/fm.ini" <<INI
[data]
source = fashion-mnist
dir = $TMP/nowhere
[tasks]
split = 5
INI
expect 2 "apt-get install dataset-fashion-mnist" "missing data set" -- "$LETHE" check "$TMP/fm.ini"
mkdir -p "$TMP/bad"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
	t10k-labels-idx1-ubyte; do printf 'garbage-not-idx-data' >"$TMP/bad/$f"; done
sed "s|$TMP/nowhere|$TMP/bad|" "$TMP/fm.ini" >"$TMP/corrupt.ini"
expect 2 "$TMP/bad/train-images-idx3-ubyte" "corrupt data file" -- "$LETHE" check "$TMP/corrupt.ini"

# Plugins: listing, wrong ABI, missing entry symbol, not a shared object, a failing hook.
expect 0 "fail_hook" "plugins lists parameters" -- "$LETHE" plugins --plugin-path "$PLUGINS"
expect 0 "major versions differ" "plugins reports bad files" -- "$LETHE" plugins --plugin-path "$PLUGINS"
scenario "$TMP/abi.ini" && sed -i "s|^protocol.*|&\nplugins = $PLUGINS/abi_major.so|" "$TMP/abi.ini"
expect 2 "abi_major.so: built for ABI 2.0.0" "wrong ABI major" -- "$LETHE" check "$TMP/abi.ini"
sed "s|abi_major|no_entry|" "$TMP/abi.ini" >"$TMP/noentry.ini"
expect 2 "no entry symbol" "no entry symbol" -- "$LETHE" check "$TMP/noentry.ini"
printf 'not an ELF file' >"$TMP/fake.so"
sed "s|$PLUGINS/abi_major.so|$TMP/fake.so|" "$TMP/abi.ini" >"$TMP/fake.ini"
expect 2 "fake.so: cannot load" "not a shared object" -- "$LETHE" check "$TMP/fake.ini"
sed "s|abi_major|hooks|" "$TMP/abi.ini" >"$TMP/hooks.ini"
printf '[hooks]\nfail_hook = after_task\n' >>"$TMP/hooks.ini"
expect 1 "plugin hooks: after_task failed (status -1): asked to fail in after_task" \
	"failing hook stops the run" -- "$LETHE" run "$TMP/hooks.ini" --out "$TMP/r4"
sed "s|fail_hook = after_task|nan_at_batch = 2|" "$TMP/hooks.ini" >"$TMP/nan.ini"
expect 1 "NaN" "NaN loss stops the run" -- "$LETHE" run "$TMP/nan.ini" --out "$TMP/r5"
expect 2 "plugin 'nosuch' not found" "unknown plugin" -- "$LETHE" check "$S" --set scenario.plugins=nosuch

# Paths in a scenario resolve against its directory, the same from there as from elsewhere: a
# plugin named by its file beside the scenario, and the data directory.
case $LETHE in /*) ABS=$LETHE ;; *) ABS=$(pwd)/$LETHE ;; esac
in_dir() { # DIR CMD...: CMD run in DIR
	(cd "$1" && shift && exec "$@")
}
mkdir -p "$TMP/here"
cp "$PLUGINS/hooks.so" "$TMP/here/"
scenario "$TMP/here/s.ini" && sed -i "s|^protocol.*|&\nplugins = hooks.so|" "$TMP/here/s.ini"
expect 0 "ok: class-incremental, 2 tasks" "a plugin path, from the scenario's directory" -- \
	in_dir "$TMP/here" "$ABS" check s.ini
expect 0 "ok: class-incremental, 2 tasks" "a plugin path, from its parent" -- \
	in_dir "$TMP" "$ABS" check here/s.ini
if [ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
	ln -s /usr/share/datasets/fashion-mnist "$TMP/here/fm"
	printf '[data]\nsource = fashion-mnist\ndir = fm\n[tasks]\nsplit = 5\n' >"$TMP/here/fm.ini"
	expect 0 "ok: class-incremental, 5 tasks" "a data directory, from the scenario's directory" \
		-- in_dir "$TMP/here" "$ABS" check fm.ini
	expect 0 "ok: class-incremental, 5 tasks" "a data directory, from its parent" -- \
		in_dir "$TMP" "$ABS" check here/fm.ini
fi

# Results: a FIFO where a run's metrics.json should be is refused, not waited on.
mkdir -p "$TMP/fifo"
mkfifo "$TMP/fifo/metrics.json"
expect 2 "fifo/metrics.json: a FIFO, not a regular file" "report refuses a FIFO" -- \
	timeout 60 "$LETHE" report "$TMP/fifo"

# A BLAS kernel the CPU cannot run is refused before any product, not a SIGILL mid-run. This
# one test sets OPENBLAS_CORETYPE, which tests otherwise never do (results must not hang on one
# kernel): here the variable is the input under test. SkylakeX needs AVX-512, so only a CPU
# without it can show the refusal.
if [ -r /proc/cpuinfo ] && ! grep -qw avx512f /proc/cpuinfo; then
	want="OPENBLAS_CORETYPE=SkylakeX makes OpenBLAS run its SkylakeX kernel, which needs AVX-512"
	expect 2 "$want" "a kernel the CPU cannot run: run refused" \
		-- env OPENBLAS_CORETYPE=SkylakeX "$LETHE" run "$S" --out "$TMP/sigill"
	if [ "$(wc -l <"$TMP/err")" -eq 1 ] && [ ! -e "$TMP/sigill" ]; then
		ok "one line, nothing written"
	else not_ok "one line, nothing written"; fi
	expect 2 "$want" "a kernel the CPU cannot run: check refused" \
		-- env OPENBLAS_CORETYPE=SkylakeX "$LETHE" check "$S"
fi

finish
