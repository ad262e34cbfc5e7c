#!/bin/sh
# Runs that explain themselves: DIR/scenario.ini reruns the run bit for bit from anywhere, and
# metrics.json says which lethe, ABI, BLAS, CPU and command line made it, and when.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/testlib.sh"
SRCDIR=${LETHE_TEST_SRCDIR:-.}
LETHE=$(cd "$(dirname "$LETHE")" && pwd)/$(basename "$LETHE")
LETHE_PLUGIN_PATH=$(cd "${LETHE_BUILD_PLUGINS:-plugins}" && pwd)
export LETHE_PLUGIN_PATH
scratch provenance
mkdir "$TMP/elsewhere"

# Shipped scenarios, made small and synthetic by overrides, with a setting changed besides.
SMALL="--set data.source=synthetic --set data.dim=16 --set data.train_per_class=40
	--set data.test_per_class=10"
# layers.ini: a model given by its layers alone, which stands for architecture = custom.
printf '[scenario]\nname = layers\n[data]\nsource = synthetic\n[tasks]\nsplit = 2\n[model]\n%s\n' \
	'layers = conv 3 k3 p1, bn, relu, flatten, dense' >"$TMP/layers.ini"
for case in "quickstart --set train.lr=0.02 --set model.hidden=16" \
	"split-fashion-ewc-til --set ewc.lambda=50 --set model.hidden=16" \
	"permuted-fashion-rehearsal --set train.seed=3 --set model.hidden=16" \
	"unlearn-class-repulsion --set forget1.references=retrain,finetune --set model.hidden=16" \
	"split-fashion-cnn-ewc --set model.architecture=resnet18 --set model.width=2" \
	"$TMP/layers --set train.epochs=1"; do
	name=${case%% *}
	file=$SRCDIR/scenarios/$name.ini
	case $name in /*) file=$name.ini name=${name##*/} ;; esac
	# shellcheck disable=SC2086 # the overrides are words
	"$LETHE" run "$file" --out "$TMP/$name" $SMALL ${case#* } \
		--quiet 2>"$TMP/err"
	(cd "$TMP/elsewhere" && "$LETHE" run "../$name/scenario.ini" --out "../$name-again" \
		--quiet 2>"$TMP/err")
	if cmp -s "$TMP/$name/accuracy.csv" "$TMP/$name-again/accuracy.csv"; then
		ok "$name: scenario.ini reruns it bit for bit"
	else not_ok "$name: scenario.ini reruns it bit for bit"; fi
	# Written back, the file is the same but for where it came from.
	if [ ! -f "$TMP/$name-again/scenario.ini" ] ||
		diff "$TMP/$name/scenario.ini" "$TMP/$name-again/scenario.ini" | grep -q '^[<>] [^#]'
	then not_ok "$name: scenario.ini is a fixed point"
	else ok "$name: scenario.ini is a fixed point"; fi
done
if grep -q '^lambda = 50$' "$TMP/split-fashion-ewc-til/scenario.ini" &&
	grep -q '^gamma = ' "$TMP/split-fashion-ewc-til/scenario.ini" &&
	grep -q '^checkpoint_every = 1000$' "$TMP/split-fashion-ewc-til/scenario.ini"; then
	ok "overrides applied, defaults and plugin parameters explicit"
else not_ok "overrides applied, defaults and plugin parameters explicit"; fi
# Keys of another architecture are left out; a list of layers is written as custom.
if grep -q '^width = 2$' "$TMP/split-fashion-cnn-ewc/scenario.ini" &&
	! grep -q '^hidden\|^layers' "$TMP/split-fashion-cnn-ewc/scenario.ini" &&
	grep -q '^architecture = custom$' "$TMP/layers/scenario.ini" &&
	! grep -q '^hidden\|^width\|^labels' "$TMP/layers/scenario.ini"; then
	ok "keys that do not apply left out"
else not_ok "keys that do not apply left out"; fi

# Relative paths resolve against the scenario's directory, so the copy runs from anywhere.
mkdir "$TMP/sub"
cp "$LETHE_PLUGIN_PATH/ewc/.libs/ewc.so" "$TMP/sub/ewc.so"
cat >"$TMP/sub/s.ini" <<EOT
[scenario]
plugins = ./ewc.so
[data]
source = synthetic
dir = data
classes = 4
dim = 8
train_per_class = 30
test_per_class = 10
[tasks]
split = 2
[model]
hidden = 8
[train]
lr = 0.05
batch_size = 10
EOT
(cd "$TMP/sub" && "$LETHE" run s.ini --out ../rel --quiet 2>"$TMP/err")
real=$(cd "$TMP/sub" && pwd -P)
if grep -qx "dir = $real/data" "$TMP/rel/scenario.ini" &&
	grep -qx "plugins = $real/ewc.so" "$TMP/rel/scenario.ini" &&
	grep -qx "name = s" "$TMP/rel/scenario.ini"; then
	ok "relative paths and the name written resolved"
else not_ok "relative paths and the name written resolved"; fi
(cd "$TMP/elsewhere" && "$LETHE" run ../rel/scenario.ini --out ../rel-again --quiet 2>"$TMP/err")
if cmp -s "$TMP/rel/accuracy.csv" "$TMP/rel-again/accuracy.csv"; then
	ok "a relative plugin path reruns from elsewhere"
else not_ok "a relative plugin path reruns from elsewhere"; fi

# A value the file could not hold back is refused before any training.
expect 2 "would read back as a comment" "a value with ' ;'" -- \
	"$LETHE" run "$TMP/sub/s.ini" --out "$TMP/semi" --set "scenario.name=a ;b"

# metrics.json's provenance.
check_provenance() { # DIR: the keys and their forms
	python3 - "$1/metrics.json" <<'EOT'
import json, re, sys
m = json.load(open(sys.argv[1]))
iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
assert isinstance(m["lethe"]["version"], str) and m["lethe"]["version"]
assert "revision" not in m["lethe"] or m["lethe"]["revision"]
assert re.match(r"^\d+\.\d+\.\d+$", m["abi"])
assert m["blas"]["library"] and m["blas"]["kernel"] and m["blas"]["threads"] >= 1
assert isinstance(m["cpu"], str) and m["cpu"]
assert m["command"][1:3] == ["run", "s.ini"]
assert iso.match(m["started"]) and iso.match(m["ended"]) and m["started"] <= m["ended"]
EOT
}
if check_provenance "$TMP/rel" 2>"$TMP/err"; then ok "metrics.json: lethe, abi, blas, cpu, command, times"
else not_ok "metrics.json: lethe, abi, blas, cpu, command, times"; fi

# Resumed, a run keeps its first start and command and lists each resumption.
cp "$TMP/rel/metrics.json" "$TMP/first.json"
sleep 1
(cd "$TMP/sub" && "$LETHE" run s.ini --out ../rel --resume --quiet 2>"$TMP/err")
if python3 - "$TMP/first.json" "$TMP/rel/metrics.json" <<'EOT' 2>"$TMP/err"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert "resumed" not in a
assert b["started"] == a["started"] and b["command"] == a["command"]
assert len(b["resumed"]) == 1 and "--resume" in b["resumed"][0]["command"]
assert b["resumed"][0]["at"] > a["started"]
EOT
then ok "a resumed run keeps its first start"; else not_ok "a resumed run keeps its first start"; fi
finish
