#!/bin/sh
# unlearn_fidelity.sh: lethe's unlearning figures beside the PyTorch twin's (bench/torch/cl.py)
# on the same scenarios, mean over seeds: UA, RA, TA and MIA of the method and of retrain, lethe
# minus twin, '!' where |difference| > the tolerance. mia is the SVC attack's confidence efficacy
# (SalUn's MIA-efficacy), mia_threshold the NLL threshold attack; the gaps to retrain:
# bench/unlearn_gap.py DIR/NAME-SEED... (lethe) or .../twin.json (the twin).
#
#   bench/unlearn_fidelity.sh SCENARIO... [--seeds 1,2,3] [--set SECTION.KEY=VALUE]...
#                             [--out DIR] [--tolerance 0.02] [--lethe-draws]
# --lethe-draws runs the twin on lethe's draws (bench/torch/README.md): the training's, D_f's and
# SCRUB's, so that its figures follow lethe's seed by seed (a diagnostic, not the comparison).
# Exit 1 when something is flagged or a run failed, 2 for bad arguments.
set -u
here=$(cd "$(dirname "$0")" && pwd)
lethe=${LETHE:-$here/../host/lethe}
py=${PYTHON:-/usr/bin/python3}
seeds=1,2,3 out=${TMPDIR:-/tmp}/unlearn-fidelity tol=0.02 scenarios='' sets='' draws=''
while [ $# -gt 0 ]; do
	case $1 in
	--seeds) seeds=$2; shift 2 ;;
	--set) sets="$sets --set $2"; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--tolerance) tol=$2; shift 2 ;;
	--lethe-draws) draws=--lethe-draws; shift ;;
	-*) echo "unlearn_fidelity.sh: unknown option $1" >&2; exit 2 ;;
	*) scenarios="$scenarios $1"; shift ;;
	esac
done
[ -n "$scenarios" ] || { echo "unlearn_fidelity.sh: give a scenario" >&2; exit 2; }
[ -x "$lethe" ] || { echo "unlearn_fidelity.sh: $lethe is not built" >&2; exit 2; }
mkdir -p "$out" || exit 1
status=0
for scn in $scenarios; do
	name=$(basename "$scn" .ini)
	for seed in $(echo "$seeds" | tr , ' '); do
		d="$out/$name-$seed"
		# shellcheck disable=SC2086
		"$lethe" run "$scn" $sets --set train.seed="$seed" --out "$d" --force --quiet ||
			{ echo "unlearn_fidelity.sh: lethe failed on $scn seed $seed" >&2; status=1; }
		# shellcheck disable=SC2086
		"$py" "$here/torch/cl.py" "$scn" $sets --set train.seed="$seed" --quiet $draws \
			--out "$d/twin.json" ||
			{ echo "unlearn_fidelity.sh: the twin failed on $scn seed $seed" >&2; status=1; }
	done
	"$py" - "$out" "$name" "$seeds" "$tol" <<'PY' || status=1
import json, statistics, sys
out, name, seeds, tol = sys.argv[1], sys.argv[2], sys.argv[3].split(","), float(sys.argv[4])
keys = ("ua", "ra", "ta", "mia", "mia_threshold")
rows, flagged = {}, False
for seed in seeds:
    d = f"{out}/{name}-{seed}"
    for side, path, get in (("lethe", f"{d}/metrics.json", lambda j: j["unlearning"]),
                            ("twin", f"{d}/twin.json", lambda j: j["unlearning"])):
        for i, u in enumerate(get(json.load(open(path)))):
            for who, fig in (("method", u), ("retrain", u["references"].get("retrain", {}))):
                # mia: SalUn's MIA-efficacy, the SVC attack's confidence efficacy; lethe calls
                # the NLL threshold attack mia_threshold, the twin still mia
                thr = fig.get("mia_threshold") if side == "lethe" else fig.get("mia")
                fig = dict(fig, mia=(fig.get("svc_mia") or {}).get("confidence"),
                           mia_threshold=thr)
                for k in keys:
                    if fig.get(k) is not None:
                        rows.setdefault((i, who, k, side), []).append(fig[k])
print(f"{name} ({len(seeds)} seeds)")
print(f"  {'request':8s} {'model':8s} {'figure':15s} {'lethe':>8s} {'twin':>8s} {'diff':>8s}")
for (i, who, k, side), v in sorted(rows.items()):
    if side != "lethe" or (i, who, k, "twin") not in rows:
        continue
    a, b = statistics.mean(v), statistics.mean(rows[(i, who, k, "twin")])
    bad = abs(a - b) > tol
    flagged |= bad
    print(f"  forget{i + 1:<2d}  {who:8s} {k:15s} {a:8.4f} {b:8.4f} {a - b:+8.4f}"
          f"{' !' if bad else ''}")
sys.exit(1 if flagged else 0)
PY
done
exit $status
