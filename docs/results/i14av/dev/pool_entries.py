"""Which evaluations of the ensemble stage enter its pool, by MFE distance.

A dev harness, not a benchmark: on each target of a target file the stage runs alone (no
screen, the design loop's stage settings: competitor steps 0.5, 10 targeted starts with
loop boosts, grafts 0.2, restarts 100, GU allowed) for the given seconds, and every
evaluation made with a full pool is counted by how many sites its MFE structure is
farther from the target than the pool's farthest member (``excess``), and whether it
entered the pool. This is what ``screen`` (skip the partition function past an excess)
would have given up.

Usage: ``PYTHONPATH=. python docs/results/i14av/dev/pool_entries.py FILE SECONDS``.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter

import numpy as np

from envs.dot_bracket import read_targets
from envs.ensemble_search import EnsembleSearch

#: Excess bounds (sites) the table reports: evaluations at or past each.
BOUNDS = (1, 3, 5, 8, 10, 15)


def count(structure: str, seconds: float, seed: int) -> tuple[Counter, Counter, int]:
    """One run: evaluations and pool entries per excess, and the evaluations in all."""
    search = EnsembleSearch(
        structure,
        np.random.default_rng(seed),
        gu_pairs=True,
        rivals=0.5,
        starts=10,
        boost=True,
        grafts=0.2,
        restart=100,
    )
    made: Counter = Counter()
    entered: Counter = Counter()
    evaluate = search._evaluate

    def record(sequence: str):
        full = len(search.pool) == search.pool_size
        farthest = max((c.distance for c in search.pool), default=0)
        candidate = evaluate(sequence)
        if full:
            excess = candidate.distance - farthest
            made[excess] += 1
            entered[excess] += any(c is candidate for c in search.pool)
        return candidate

    search._evaluate = record  # type: ignore[method-assign]
    search.run(time.monotonic() + seconds)
    return made, entered, search.evaluations


def main(path: str, seconds: float) -> None:
    """Print, per excess bound, the evaluations at or past it and how many entered."""
    made: Counter = Counter()
    entered: Counter = Counter()
    total = 0
    for k, target in enumerate(read_targets(path)):
        m, e, n = count(target.structure, seconds, k)
        made.update(m)
        entered.update(e)
        total += n
    table = {
        f">={bound}": {
            "evaluations": sum(v for x, v in made.items() if x >= bound),
            "entered": sum(v for x, v in entered.items() if x >= bound),
        }
        for bound in BOUNDS
    }
    print(json.dumps({"file": path, "seconds": seconds, "evaluations": total, "excess": table}))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
