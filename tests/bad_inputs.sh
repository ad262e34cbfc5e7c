#!/bin/sh
# The catalogue of bad inputs: each directory in tests/bad_inputs/ is one case, a scenario.ini
# and whatever else it needs, run with the real binary and the real plugins. A case may hold
#   cmd     lethe's arguments (default: run scenario.ini --out @WORK@/out); @WORK@ is the
#           case's scratch directory, where its files are copied and lethe runs; --quiet and
#           --plugin-path follow, but for compare
#   setup   shell sourced in that directory first, to write data fixtures (helpers below; it
#           may run "$LETHE" to make a run or a model file)
#   expect  line 1 the exit status, line 2 a fixed string the error line must contain
#   limit   the memory (KiB) lethe runs under, for cases whose input asks for more than the
#           machine has: a regression then fails at once instead of exhausting it. It is
#           ulimit -v, or, where that stops the binary from starting (AddressSanitizer
#           reserves terabytes), ASan's own cap on one allocation.
# Every case must exit with that status (2 bad input, 1 a failed run; never a signal or a
# hang), print exactly one line on stderr, containing the string, and leave no half-written
# results: no *.tmp, and any metrics.json well-formed JSON.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/testlib.sh"
SRCDIR=${LETHE_TEST_SRCDIR:-.}
CASES=$SRCDIR/tests/bad_inputs
JSON_CHECK=$(dirname "$(dirname "$LETHE")")/tests/bad_inputs_json
CIFAR_FIXTURE=$(dirname "$(dirname "$LETHE")")/tests/cifar_fixture
PLUGINS=$PLUGINS:${LETHE_BUILD_PLUGINS:-plugins}
scratch bad

# ---- fixture helpers for setup files ----

# byte N: the byte N (0..255); printf takes it as an octal escape in its format.
byte() {
	# shellcheck disable=SC2059
	printf "\\$(printf '%03o' "$1")"
}

# be32 N: N as 4 big-endian bytes.
be32() {
	for bits in 24 16 8 0; do
		byte $(($1 >> bits & 255))
	done
}

# zeros N: N zero bytes.
zeros() {
	dd if=/dev/zero bs=1 count="$1" 2>/dev/null
}

# idx_images FILE N ROWS COLS: an idx3 image file of N blank images.
idx_images() {
	{ be32 2051; be32 "$2"; be32 "$3"; be32 "$4"; zeros $(($2 * $3 * $4)); } >"$1"
}

# idx_labels FILE LABEL...: an idx1 label file.
idx_labels() {
	file=$1
	shift
	{
		be32 2049
		be32 $#
		for label in "$@"; do byte "$label"; done
	} >"$file"
}

# idx_set DIR: a valid data set of four classes, 2x2 pixels: 8 training images, 4 test.
idx_set() {
	mkdir -p "$1"
	idx_images "$1/train-images-idx3-ubyte" 8 2 2
	idx_labels "$1/train-labels-idx1-ubyte" 0 1 2 3 0 1 2 3
	idx_images "$1/t10k-images-idx3-ubyte" 4 2 2
	idx_labels "$1/t10k-labels-idx1-ubyte" 0 1 2 3
}

# cifar_set DIR cifar10|cifar100: a valid CIFAR data set in DIR as its archive unpacks
# (DIR/cifar-10-batches-bin/ or DIR/cifar-100-binary/), one training and one test image a class.
cifar_set() {
	"$CIFAR_FIXTURE" "$1" "$2" 1 1
}

# put_byte FILE OFFSET N: overwrites the byte at OFFSET of FILE with N.
put_byte() {
	byte "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# cut_to FILE N: keeps the first N bytes of FILE.
cut_to() {
	dd if="$1" of="$1.cut" bs=1 count="$2" 2>/dev/null && mv "$1.cut" "$1"
}

# gz_zeros FILE N: appends 2^N MiB of zeros to FILE as gzip members, a few KiB of them.
gz_zeros() {
	head -c 1048576 /dev/zero | gzip -n >"$1.z"
	for _ in $(seq "$2"); do
		cat "$1.z" "$1.z" >"$1.zz" && mv "$1.zz" "$1.z"
	done
	cat "$1.z" >>"$1" && rm "$1.z"
}

# ---- the run ----

# A case that hangs (a FIFO opened for reading waits for a writer) fails instead of stopping
# the suite; every case takes a second or less.
TIMEOUT=
command -v timeout >/dev/null 2>&1 && TIMEOUT="timeout 60"

# Whether ulimit -v (dash's and bash's, if not POSIX's) leaves lethe able to start.
ulimit_works=
# shellcheck disable=SC3045
(ulimit -v 2097152 && "$LETHE" --version) >/dev/null 2>&1 && ulimit_works=1

fail_case() {
	not_ok "$name: $1"
	sed 's/^/    stderr: /' "$work.err"
}

for case in "$CASES"/*/; do
	case=${case%/}
	name=${case##*/}
	work=$TMP/$name
	mkdir "$work"
	cp -R "$case"/. "$work"/
	status=$(sed -n 1p "$case/expect")
	text=$(sed -n 2p "$case/expect")
	if [ -f "$case/setup" ]; then
		# shellcheck source=/dev/null
		(cd "$work" && . ./setup) || { fail_case "setup failed"; continue; }
	fi
	cmd="run scenario.ini --out @WORK@/out"
	[ -f "$case/cmd" ] && cmd=$(cat "$case/cmd")
	# The arguments hold no blanks but @WORK@'s, which mktemp's name has none of.
	# shellcheck disable=SC2046
	set -- $(printf '%s\n' "$cmd" | sed "s|@WORK@|$work|g")
	# compare reads results only: it takes neither option; export loads no plugin.
	case $1 in
	compare) ;;
	export) set -- "$@" --quiet ;;
	*) set -- "$@" --quiet --plugin-path "$PLUGINS" ;;
	esac
	limit=$(cat "$case/limit" 2>/dev/null)
	(
		cd "$work" || exit 1
		if [ -n "$limit" ] && [ -n "$ulimit_works" ]; then
			# shellcheck disable=SC3045
			ulimit -v "$limit" || exit 1
		elif [ -n "$limit" ]; then
			ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1"
			export ASAN_OPTIONS="$ASAN_OPTIONS:max_allocation_size_mb=$((limit / 1024))"
		fi
		exec $TIMEOUT "$LETHE" "$@"
	) >"$work.out" 2>"$work.err"
	got=$?

	lines=$(grep -c '' "$work.err")
	tmps=$(find "$work" -name '*.tmp' | head -n 1)
	json_ok=1
	find "$work" -name metrics.json -exec "$JSON_CHECK" {} + 2>"$work.json" || json_ok=
	if [ -n "$TIMEOUT" ] && [ "$got" -eq 124 ]; then
		fail_case "still running after ${TIMEOUT#timeout } s: a hang"
	elif [ "$got" -ge 128 ]; then
		fail_case "killed by signal $((got - 128))"
	elif grep -qE 'Sanitizer|runtime error:' "$work.err"; then
		fail_case "sanitizer report"
	elif [ "$got" -ne "$status" ]; then
		fail_case "exit $got, expected $status"
	elif [ "$lines" -ne 1 ]; then
		fail_case "$lines lines on stderr, expected 1"
	elif ! grep -qF -- "$text" "$work.err"; then
		fail_case "stderr lacks '$text'"
	elif [ -n "$tmps" ]; then
		fail_case "left ${tmps#"$work"/} behind"
	elif [ -z "$json_ok" ]; then
		fail_case "a results file is not well-formed JSON: $(cat "$work.json")"
	else
		ok "$name"
	fi
done

# At least the 30 cases promised: a catalogue gone missing must not pass quietly.
finish && [ "$passed" -ge 30 ]
