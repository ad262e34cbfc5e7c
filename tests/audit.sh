#!/bin/sh
# lethe audit: a plugin that keeps a forgotten sample's bytes in its saved state (hoarder) is
# caught, exit 1 and one line naming the file, the offset and the sample; the same run with a
# plugin that keeps nothing is clean, exit 0, with each forget step's attacks printed.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/testlib.sh"
scratch audit

cat >"$TMP/hoard.ini" <<'EOT'
[scenario]
name = hoard
protocol = class-incremental
plugins = hoarder
[data]
source = synthetic
classes = 4
dim = 16
train_per_class = 100
test_per_class = 20
[tasks]
split = 2
[model]
hidden = 16
[train]
lr = 0.05
batch_size = 16
epochs = 1
seed = 2
[forget1]
after = 2
what = task
task = 1
plugin = hoarder
references = retrain
EOT
"$LETHE" run "$TMP/hoard.ini" --out "$TMP/dirty" --quiet --plugin-path "$PLUGINS" \
	>/dev/null 2>"$TMP/err" || not_ok "the hoarding run"
"$LETHE" audit "$TMP/dirty" --plugin-path "$PLUGINS" >/dev/null 2>"$TMP/err"
rc=$?
if [ "$rc" -ne 1 ]; then
	not_ok "a kept sample: exit $rc, expected 1"
elif [ "$(wc -l <"$TMP/err")" -ne 1 ] ||
	! grep -q "dirty/checkpoint.lethe: offset [0-9]*: forgotten sample 0x[0-9a-f]* (task 1" "$TMP/err"; then
	not_ok "a kept sample: the line names the file, the offset and the sample"
else
	ok "a plugin that keeps a forgotten sample is caught"
fi

"$LETHE" run "$TMP/hoard.ini" --out "$TMP/clean" --quiet --plugin-path "$PLUGINS" \
	--set hoarder.keep=0 >/dev/null 2>"$TMP/err" || not_ok "the honest run"
if ! "$LETHE" audit "$TMP/clean" --plugin-path "$PLUGINS" >"$TMP/out" 2>"$TMP/err"; then
	not_ok "a clean run audits clean"
elif ! grep -q "^forget1 *200 " "$TMP/out" || ! grep -q "^clean: none of the 200" "$TMP/out"; then
	cp "$TMP/out" "$TMP/err"
	not_ok "a clean run: the forget step's figures and the verdict"
else
	ok "a clean run audits clean"
fi
finish
