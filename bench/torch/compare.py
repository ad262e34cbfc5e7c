#!/usr/bin/python3
"""The side-by-side table of bench/fidelity.sh: lethe's metrics.json against the twin's JSON.

    compare.py DIR [NAME...] [--seeds 1,2,3] [--tolerance 0.02] [--markdown]

DIR holds one directory per scenario (all of them, or the NAMEs given), each with
lethe-SEED/metrics.json (or lethe-SEED.err when lethe failed) and twin-SEED.json (or
twin-SEED.err). Prints, per scenario, ACC, BWT and forgetting as mean ± sample std over the
seeds for each side and their difference (lethe minus twin), flagging |difference| > tolerance
with '!'. --markdown prints ACC and BWT as the Markdown table of docs/fidelity.md instead (the
notes on stderr).
Exit status 1 when a difference is flagged or a run failed, else 0.
"""
import argparse
import json
import os
import re
import statistics
import sys

FIGURES = (("average_accuracy", "ACC"), ("bwt", "BWT"), ("forgetting", "F"))


def first_line(path):
    with open(path) as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    return lines[-1] if lines else "no message"


def side(directory, prefix, seeds):
    """{seed: figures} of one side, and {seed: error line} of its failed runs."""
    runs, errors = {}, {}
    for entry in sorted(os.listdir(directory)):
        m = re.fullmatch(rf"{prefix}-(\d+)(\.json|\.err|)", entry)
        if not m or (seeds and int(m.group(1)) not in seeds):
            continue
        seed, path = int(m.group(1)), os.path.join(directory, entry)
        if m.group(2) == ".err":
            errors[seed] = first_line(path)
        elif m.group(2) == ".json":
            with open(path) as f:
                runs[seed] = json.load(f)
        elif os.path.isfile(os.path.join(path, "metrics.json")):
            with open(os.path.join(path, "metrics.json")) as f:
                runs[seed] = json.load(f)
    return runs, errors


def stats(values):
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def cell(mean, std):
    return f"{mean:6.3f}±{std:.3f}" if mean is not None else f"{'n/a':>12s}"


class Text:
    """compare.py's own table: every figure of FIGURES, aligned columns."""
    figures = FIGURES

    def head(self):
        head = f"{'scenario':32s} {'seeds':>5s}"
        for _, label in self.figures:
            head += f" | {label + ' lethe':>12s} {label + ' twin':>12s} {'diff':>7s}"
        return head + "\n" + "-" * len(head)

    def start(self, name, seeds):
        return f"{name:32s} {seeds:5d}"

    def cells(self, lm, ls, tm, ts, diff, mark):
        if diff is None:
            return f" | {cell(lm, ls)} {cell(tm, ts)} {'':>7s}"
        return f" | {cell(lm, ls)} {cell(tm, ts)} {diff:+6.3f}{mark}"


class Markdown(Text):
    """docs/fidelity.md's table: ACC and BWT."""
    figures = FIGURES[:2]

    def head(self):
        return ("| scenario | seeds | ACC lethe | ACC twin | diff | BWT lethe | BWT twin | diff |"
                "\n|---|---|---|---|---|---|---|---|")

    def start(self, name, seeds):
        return f"| {name} | {seeds}"

    def cells(self, lm, ls, tm, ts, diff, mark):
        def md(mean, std):
            return "n/a" if mean is None else f"{mean:.3f} ± {std:.3f}"
        return f" | {md(lm, ls)} | {md(tm, ts)} | " + \
            ("" if diff is None else f"{diff:+.3f}{mark.strip()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("names", nargs="*")
    ap.add_argument("--seeds", default="", help="only these seeds (comma-separated)")
    ap.add_argument("--tolerance", type=float, default=0.02)
    ap.add_argument("--markdown", action="store_true", help="docs/fidelity.md's table")
    args = ap.parse_args()
    out = Markdown() if args.markdown else Text()
    print(out.head())
    flagged, failed = [], []
    seeds = {int(t) for t in args.seeds.split(",") if t}
    for name in args.names or sorted(os.listdir(args.dir)):
        d = os.path.join(args.dir, name)
        if not os.path.isdir(d):
            continue
        lethe, lerr = side(d, "lethe", seeds)
        twin, terr = side(d, "twin", seeds)
        for who, errs in (("lethe", lerr), ("twin", terr)):
            for seed, msg in errs.items():
                failed.append(f"{name} seed {seed}: {who} failed: {msg}")
        present = set(lethe) | set(twin)
        row = out.start(name, len(present))
        for key, label in out.figures:
            lm, ls = stats([lethe[s][key] for s in sorted(lethe)])
            tm, ts = stats([twin[s][key] for s in sorted(twin)])
            if lm is None or tm is None:
                row += out.cells(lm, ls, tm, ts, None, "")
                continue
            diff = lm - tm
            mark = "!" if abs(diff) > args.tolerance else " "
            if mark == "!":
                flagged.append(f"{name}: {label} lethe {lm:.3f}, twin {tm:.3f} ({diff:+.3f})")
            row += out.cells(lm, ls, tm, ts, diff, mark)
        print(row + (" |" if args.markdown else ""))
    notes = sys.stderr if args.markdown else sys.stdout  # the table alone on stdout
    for line in failed:
        print(line, file=notes)
    if flagged:
        print(f"{len(flagged)} difference(s) above {args.tolerance:g} (!):", file=notes)
        for line in flagged:
            print("  " + line, file=notes)
    return 1 if flagged or failed else 0


if __name__ == "__main__":
    sys.exit(main())
