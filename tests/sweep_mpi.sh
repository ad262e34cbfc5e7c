#!/bin/sh
# lethe sweep under mpirun: two ranks deal the runs of a small synthetic sweep between them and
# must give the same summary (wall time and memory aside) as a local sweep with --jobs 2.
# Skipped (77) when lethe was built without MPI or mpirun is missing.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/testlib.sh"
if ! "$LETHE" sweep --help | grep -q "^MPI: built in"; then
	echo "skip: lethe was built without MPI (configure --with-mpi, libopenmpi-dev)"
	exit 77
fi
if ! command -v mpirun >/dev/null; then
	echo "skip: no mpirun (apt-get install openmpi-bin)"
	exit 77
fi
if ! command -v jq >/dev/null; then
	echo "skip: the summary comparison needs jq (apt-get install jq)"
	exit 77
fi
scratch sweep-mpi

# Two ranks on whatever cores there are, as root in CI, over shared memory without the
# kernel's cross-memory attach (containers forbid it); MPI's own allocations are no leaks of
# ours under LeakSanitizer.
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_warn_on_fork=0
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_plm_rsh_agent=false
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

cat >"$TMP/base.ini" <<'EOF2'
[scenario]
name = mpi
protocol = class-incremental
[data]
source = synthetic
classes = 4
dim = 16
train_per_class = 100
test_per_class = 40
[tasks]
split = 2
[model]
hidden = 32
[train]
lr = 0.05
batch_size = 20
epochs = 2
EOF2
cat >"$TMP/sweep.ini" <<'EOF2'
[sweep]
name = mpi
scenario = base.ini
seeds = 1-3
[grid]
train.lr = 0.02, 0.05, 0.1
EOF2

status=0
"$LETHE" sweep "$TMP/sweep.ini" --out "$TMP/local" --jobs 2 --quiet || status=1
mpirun --allow-run-as-root --oversubscribe -n 2 \
	"$LETHE" sweep "$TMP/sweep.ini" --out "$TMP/mpi" >"$TMP/out" 2>"$TMP/err" || status=1
if [ "$status" -ne 0 ]; then
	echo "FAILED: a sweep failed"
	sed 's/^/    /' "$TMP/out" "$TMP/err"
	exit 1
fi
# Every figure but the wall time and the memory, with the labels, in the summary's order.
figures='.settings[] |= del(.mean.wall_seconds, .mean.peak_rss_mb, .std.wall_seconds, .std.peak_rss_mb)'
if ! jq -S "$figures" "$TMP/local/summary.json" >"$TMP/local.json" ||
	! jq -S "$figures" "$TMP/mpi/summary.json" >"$TMP/mpi.json" ||
	[ "$(jq '.settings | length' "$TMP/mpi.json")" != 3 ] ||
	! diff "$TMP/local.json" "$TMP/mpi.json"; then
	echo "FAILED: the MPI sweep's summary differs from the local one"
	exit 1
fi
if [ "$(jq .done "$TMP/mpi/summary.json")" != 9 ] || ! grep -q "9/9 runs done" "$TMP/err"; then
	echo "FAILED: the MPI sweep did not finish its 9 runs"
	sed 's/^/    /' "$TMP/err"
	exit 1
fi
echo "ok: mpirun -n 2 gives the local sweep's summary"
