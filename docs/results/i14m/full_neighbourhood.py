"""Session 22 probe: is a short Eterna miss one neighbourhood step from a solution?

For each target id, the best design of a benchmark results file is taken, its MFE
structure is the competitor, and every assignment of the units that competitor's energy
difference depends on is scored (no sampling up to 10**6 assignments,
:class:`envs.neighbourhood.Neighbourhood`). The ``keep`` best are then folded one by one,
best first, each fold's MFE structure re-ranking the rest (``add_competitor``), as the
ensemble stage does with 8 of them.

    python docs/results/i14m/full_neighbourhood.py RESULTS.csv 88 66 71 --keep 400
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time

import numpy as np

from envs.constraints import unit_index, unit_options
from envs.folding import hamming, mfe_structure
from envs.neighbourhood import Neighbourhood, neighbourhood_units


def probe(target: str, design: str, keep: int, seed: int) -> dict:
    """Fold the ``keep`` best of the design's full neighbourhood; the closest reached."""
    units, options = unit_options(target, None, True)
    unit_of = unit_index(units, len(target))
    competitor = mfe_structure(design)
    chosen = neighbourhood_units(target, competitor, options, unit_of)
    began = time.monotonic()
    hood = Neighbourhood(
        target,
        design,
        competitor,
        [],
        units,
        options,
        unit_of,
        np.random.default_rng(seed),
        max_assignments=10**6,
        keep=keep,
    )
    closest, folds = hamming(competitor, target), 0
    while (candidate := hood.next()) is not None:
        structure = mfe_structure(candidate)
        folds += 1
        closest = min(closest, hamming(structure, target))
        if closest == 0:
            break
        hood.add_competitor(structure)
    return {
        "start_distance": hamming(competitor, target),
        "units": len(chosen),
        "size": math.prod(len(options[k]) for k in chosen),
        "scored": hood.scored,
        "folds": folds,
        "closest": closest,
        "seconds": round(time.monotonic() - began, 1),
    }


def main() -> None:
    """Probe every id given; print one JSON line per target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="a benchmark results.csv")
    parser.add_argument("ids", nargs="+")
    parser.add_argument("--keep", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with open(args.results, newline="") as handle:
        rows = {row["target_id"]: row for row in csv.DictReader(handle)}
    for target_id in args.ids:
        row = rows[target_id]
        report = probe(row["target"], row["sequence"], args.keep, args.seed)
        print(json.dumps({"id": target_id, "length": len(row["target"]), **report}))


if __name__ == "__main__":
    main()
