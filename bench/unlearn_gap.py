#!/usr/bin/python3
"""unlearn_gap.py: the average gap to retrain of a forget request over several runs (seeds).

    bench/unlearn_gap.py [--request N] [--mia svc|threshold] RUN...

RUN is a run's directory (its metrics.json) or a JSON file with an "unlearning" list (the
twin's, bench/torch/cl.py --out). For the method of request N (default 1), each plugin it
compared (`compare =`; a failed one is left out) and each reference other than retrain it prints the mean over the runs of UA, RA, TA and MIA, and two gaps:
  gap of means: mean of |UA - UA_r|, |RA - RA_r|, |TA - TA_r|, |MIA - MIA_r| on the runs' mean
                figures (SalUn's tables' Avg. Gap);
  mean gap:     the mean over the runs of each run's gap;
and the method's seconds over retrain's, mean of the runs' ratios. MIA: "svc" (default) is the
SVC attack's confidence efficacy (metrics.json "svc_mia"."confidence", SalUn's MIA-efficacy);
"threshold" is the NLL threshold attack ("mia_threshold"; "mia" in older runs and the twin's)."""
import argparse
import json
import os
import statistics
import sys

FIGS = ("ua", "ra", "ta", "mia")


def figures(fig, mia):
    out = {k: fig[k] for k in ("ua", "ra", "ta")}
    if mia == "svc":
        svc = fig.get("svc_mia")
        if not svc or svc.get("confidence") is None:
            raise KeyError("svc_mia.confidence")
        out["mia"] = svc["confidence"]
    else:  # lethe's runs since the SVC attack became "mia"; older runs and the twin: "mia"
        out["mia"] = fig.get("mia_threshold", fig["mia"])
    return out


def gap(a, b):
    return sum(abs(a[k] - b[k]) for k in FIGS) / len(FIGS)


def load(run, request):
    path = os.path.join(run, "metrics.json") if os.path.isdir(run) else run
    try:
        with open(path) as f:
            entries = json.load(f).get("unlearning") or []
    except (OSError, ValueError) as e:
        sys.exit(f"unlearn_gap.py: {path}: {e}")
    if request > len(entries):
        sys.exit(f"unlearn_gap.py: {path}: no forget request {request} "
                 f"(it has {len(entries)})")
    return path, entries[request - 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--request", type=int, default=1)
    ap.add_argument("--mia", choices=("svc", "threshold"), default="svc")
    ap.add_argument("runs", nargs="+")
    a = ap.parse_args()
    rows = {}  # name -> list of (figures, retrain figures, seconds ratio or None)
    for run in a.runs:
        path, u = load(run, a.request)
        refs = u.get("references") or {}
        if "retrain" not in refs:
            sys.exit(f"unlearn_gap.py: {path}: request {a.request} has no retrain reference")
        try:
            ret = figures(refs["retrain"], a.mia)
            who = {(u.get("plugin") or "(none)"): u}
            who.update({k: v for k, v in refs.items() if k != "retrain"})
            who.update({k: v for k, v in (u.get("compared") or {}).items()
                        if not v.get("failed")})
            rows.setdefault("retrain", []).append((ret, ret, 1.0))
            for name, fig in who.items():
                secs = fig.get("seconds")
                rsecs = refs["retrain"].get("seconds")
                ratio = secs / rsecs if secs is not None and rsecs else None
                rows.setdefault(name, []).append((figures(fig, a.mia), ret, ratio))
        except KeyError as e:
            sys.exit(f"unlearn_gap.py: {path}: request {a.request} lacks {e}")
    print(f"request {a.request}, {len(a.runs)} runs, MIA = "
          f"{'svc_mia.confidence' if a.mia == 'svc' else 'threshold attack'}")
    print(f"{'method':16s} {'UA':>6s} {'RA':>6s} {'TA':>6s} {'MIA':>6s} "
          f"{'gap(means)':>10s} {'mean gap':>9s} {'time':>7s}")
    for name, rs in rows.items():
        mean = {k: statistics.mean(f[k] for f, _, _ in rs) for k in FIGS}
        rmean = {k: statistics.mean(r[k] for _, r, _ in rs) for k in FIGS}
        ratios = [t for _, _, t in rs if t is not None]
        time = f"{100 * statistics.mean(ratios):6.1f}%" if ratios else f"{'':7s}"
        print(f"{name:16s} " + " ".join(f"{mean[k]:6.3f}" for k in FIGS)
              + f" {gap(mean, rmean):10.4f} {statistics.mean(gap(f, r) for f, r, _ in rs):9.4f}"
              + f" {time}")


if __name__ == "__main__":
    main()
