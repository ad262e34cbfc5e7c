#!/usr/bin/python3
"""lethe's fidelity twin: the protocol of a lethe scenario, run in PyTorch from the papers.

    /usr/bin/python3 bench/torch/cl.py SCENARIO [--set SECTION.KEY=VALUE]... [--threads N]
                                       [--out FILE] [--quiet] [--lethe-draws]
    /usr/bin/python3 bench/torch/cl.py --list

Reads the scenario file lethe runs (a bare name finds scenarios/NAME.ini), trains and evaluates
it in PyTorch on the CPU, and prints one JSON object with the names of lethe's metrics.json
("accuracy_matrix", "untrained_accuracy", "average_accuracy", "bwt", "fwt", "forgetting",
"seconds", ...), on stdout or in --out FILE. One progress line per step goes to stderr (not with
--quiet). Exit status: 0 done, 1 the run failed, 2 bad input (nothing ran). Run it with Debian's
/usr/bin/python3, which python3-torch installs into. See bench/torch/README.md.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lethe_twin import TwinError  # noqa: E402


def find_scenario(name):
    if os.path.exists(name) or "/" in name:
        return name
    shipped = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scenarios")
    for candidate in (os.path.join(shipped, name), os.path.join(shipped, name + ".ini")):
        if os.path.isfile(candidate):
            return os.path.normpath(candidate)
    return name


def main(argv):
    ap = argparse.ArgumentParser(prog="cl.py", description=__doc__.split("\n")[0])
    ap.add_argument("scenario", nargs="?")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--out", help="write the JSON here instead of stdout")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    ap.add_argument("--lethe-draws", action="store_true",
                    help="diagnostic: initial weights and batch order from lethe's "
                         "generator too (lethe_twin/lethe_draws.py)")
    ap.add_argument("--list", action="store_true", help="the strategies and their parameters")
    args = ap.parse_args(argv)
    if args.threads < 1:
        raise TwinError(f"--threads {args.threads}: at least 1")
    # the BLAS under torch starts its pool when it loads: limited before the import
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))

    import torch
    from lethe_twin import protocol, scenario
    from lethe_twin.strategies import registry
    from lethe_twin.unlearning import methods

    if args.list:
        for name in list(registry) + list(methods):
            cls = registry[name] if name in registry else methods[name]
            print(f"{name}  {cls.summary}")
            for p in cls.PARAMS:
                print("    " + p.describe().replace("\n", "\n    "))
        return 0
    if not args.scenario:
        ap.error("a scenario is needed")
    torch.set_num_threads(args.threads)
    scn = scenario.load(find_scenario(args.scenario), args.set, registry, methods)
    result = protocol.execute(scn, registry, quiet=args.quiet, lethe_draws=args.lethe_draws)
    text = json.dumps(result, indent=1)
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, args.out)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except TwinError as e:
        print(f"cl.py: {e}", file=sys.stderr)
        sys.exit(e.status)
    except KeyboardInterrupt:
        sys.exit(130)
