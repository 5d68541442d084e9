"""Session 36's probe: how many whole-target evaluations the stage makes on long targets.

Runs the ensemble stage alone (the design loop's settings: 10 boosted targeted starts,
hierarchical starts for 30 % of the time, focused repairs, competitor steps on half of
the steps, neighbourhoods) on the chosen targets of a target file and records, for every
whole-target evaluation, the candidate's MFE distance and objective, the pool's worst
objective and distances before it, whether the pool was full and whether the candidate
entered it. Every target gets seed 11 (the dev runs' seed).

Usage (from the project's root)::

    python docs/results/i14aa/entry_probe.py docs/results/i14z/dev/long20.txt 3,13,19 20 out.json
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from envs.dot_bracket import read_targets
from envs.ensemble_search import EnsembleSearch


def probe(structure: str, seed: int, seconds: float) -> list[tuple]:
    """The evaluations of one stage run (see the module docstring for the fields)."""
    search = EnsembleSearch(
        structure,
        np.random.default_rng(seed),
        gu_pairs=True,
        starts=10,
        decompose_seconds=0.3 * seconds,
        repair=1.0,
        rivals=0.5,
        neighbourhood=16384,
        boost=True,
    )
    log: list[tuple] = []
    original = search._evaluate

    def evaluate(sequence: str):
        pool = search.pools[0]
        worst = max((c.objective for c in pool), default=None)
        distances = [c.distance for c in pool]
        full = len(pool) >= search.pool_size
        candidate = original(sequence)
        entered = any(candidate is member for member in search.pools[0])
        log.append(
            (
                candidate.distance,
                candidate.objective,
                worst,
                min(distances, default=None),
                max(distances, default=None),
                full,
                entered,
            )
        )
        return candidate

    search._evaluate = evaluate
    search.run(time.monotonic() + seconds)
    return log


def main() -> None:
    """Run the probe on the command line's arguments (see the module docstring)."""
    path, ids, seconds, out = sys.argv[1], sys.argv[2].split(","), float(sys.argv[3]), sys.argv[4]
    logs = {t.id: probe(t.structure, 11, seconds) for t in read_targets(path) if t.id in ids}
    with open(out, "w") as handle:
        json.dump(logs, handle)
    for key, log in logs.items():
        full = [row for row in log if row[5]]
        print(
            f"target {key}: {len(log)} evaluations, {len(full)} with a full pool, "
            f"{sum(row[6] for row in full)} of those entered it"
        )


if __name__ == "__main__":
    main()
