#!/bin/sh
# The installed lethe as a third party meets it (run by `make installcheck`): the installed binary
# finds its plugins and scenarios with no environment; its manual pages are installed, the
# plugin guide among them; sdk/example builds with nothing but its Makefile and pkg-config
# against the prefix; its LwF scenario runs and beats naive's average accuracy on
# task-incremental Split Fashion-MNIST.
set -eu
PREFIX=$1
SRC=$2
LETHE=$PREFIX/bin/lethe
work=$(mktemp -d "${TMPDIR:-/tmp}/lethe-installcheck-XXXXXX")
trap 'rm -rf "$work"' EXIT
unset LETHE_PLUGIN_PATH

"$LETHE" plugins >"$work/plugins"
for p in ewc l2 rehearsal; do
	grep -q "^$p " "$work/plugins" || { echo "installed lethe does not list $p"; exit 1; }
done
echo "ok: the installed lethe finds its plugins"

for page in man1/lethe.1 man5/lethe-scenario.5 man7/lethe-plugin.7; do
	[ -s "$PREFIX/share/man/$page" ] || { echo "$PREFIX/share/man/$page is not installed"; exit 1; }
done
MANPATH=$PREFIX/share/man man -w lethe-plugin >/dev/null 2>&1 ||
	{ echo "man does not find lethe-plugin(7) under $PREFIX/share/man"; exit 1; }
echo "ok: the manual pages are installed, lethe-plugin(7) among them"

cp -R "$SRC/sdk/example" "$work/example"
chmod -R u+w "$work/example"
PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig make -C "$work/example" >"$work/build.log" 2>&1 ||
	{ cat "$work/build.log"; exit 1; }
echo "ok: sdk/example builds against $PREFIX with pkg-config alone"

if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
	echo "skipped: the LwF run needs Fashion-MNIST (apt-get install dataset-fashion-mnist)"
	exit 0
fi
"$LETHE" check quickstart >/dev/null
echo "ok: the installed lethe finds its scenarios"
(cd "$work/example" && "$LETHE" run lwf-split-fashion-til.ini --plugin-path . \
	--out "$work/lwf" --quiet)
"$LETHE" run split-fashion-naive-til --out "$work/naive" --quiet
acc() { sed -n 's/^  "average_accuracy": \([0-9.eE+-]*\),$/\1/p' "$1/metrics.json"; }
lwf=$(acc "$work/lwf")
naive=$(acc "$work/naive")
if awk -v a="$lwf" -v b="$naive" 'BEGIN { exit !(a > b) }'; then
	echo "ok: LwF ACC $lwf > naive ACC $naive (task-incremental Split Fashion-MNIST)"
else
	echo "FAILED: LwF ACC $lwf <= naive ACC $naive"
	exit 1
fi
