#!/bin/sh
# The CIFAR scenarios end to end on small files in the exact binary formats (cifar_fixture: the
# real files cannot be downloaded here): each passes lethe check and runs to its metrics with
# data.dir pointed at the fixtures, on the archives' layout and on files straight in data.dir;
# a missing data set is refused on one line that says where to get it.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/testlib.sh"
SRCDIR=${LETHE_TEST_SRCDIR:-.}
FIXTURE=$(dirname "$(dirname "$LETHE")")/tests/cifar_fixture
PLUGINS=${LETHE_BUILD_PLUGINS:-plugins}
export LETHE_PLUGIN_PATH="$PLUGINS"
scratch cifar

"$FIXTURE" "$TMP/c10" cifar10 3 1 && "$FIXTURE" "$TMP/c100" cifar100 1 1 || exit 1

# run_scenario NAME DIR: lethe check, then lethe run, of scenarios/NAME.ini on DIR, as shipped
# but for the ResNet's width (4: quick).
run_scenario() {
	ini=$TMP/$1.ini
	cp "$SRCDIR/scenarios/$1.ini" "$ini"
	expect 0 "$1.ini: ok: task-incremental" "lethe check $1" -- \
		"$LETHE" check "$ini" --set "data.dir=$2" --set model.width=4
	expect 0 "" "lethe run $1" -- "$LETHE" run "$ini" --set "data.dir=$2" --set model.width=4 --out "$TMP/out-$1"
	if [ -s "$TMP/out-$1/metrics.json" ]; then ok "$1: metrics.json"; else not_ok "$1: metrics.json"; fi
}

for ini in "$SRCDIR"/scenarios/split-cifar10-*.ini; do
	run_scenario "$(basename "$ini" .ini)" "$TMP/c10"
done
for ini in "$SRCDIR"/scenarios/split-cifar100-*.ini; do
	run_scenario "$(basename "$ini" .ini)" "$TMP/c100"
done

# The files straight in data.dir, not in the archive's directory; coarse labels: 20 classes.
mv "$TMP/c100/cifar-100-binary" "$TMP/flat"
expect 0 "ok: task-incremental, 4 tasks" "CIFAR-100 coarse, files in data.dir" -- \
	"$LETHE" check "$TMP/split-cifar100-naive.ini" --set "data.dir=$TMP/flat" \
	--set data.labels=coarse --set tasks.split=4

expect 2 "https://www.cs.toronto.edu/~kriz/cifar.html" "missing CIFAR-10 says where to get it" -- \
	"$LETHE" check "$TMP/split-cifar10-naive.ini" --set "data.dir=$TMP/nowhere"
expect 2 "cifar-100-binary.tar.gz" "missing CIFAR-100 names its archive" -- \
	"$LETHE" check "$TMP/split-cifar100-naive.ini" --set "data.dir=$TMP/c10"
finish
