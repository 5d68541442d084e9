"""When autorl's design loop reports its first designs, with the benchmark's settings.

Usage: ``PYTHONPATH=. python docs/results/i14at/dev/timeline.py FILE LIMIT SEED ID [ID ...]``
(FILE a target file of ``$AUTORL_DATA``, LIMIT the time limit in seconds). Prints each
target's solve and its improvements as (seconds, distance, stage). A side harness, not a
user command: the runner's solver with the stage options ``autorl benchmark`` records.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from benchmarks.runner import load_design
from envs.dot_bracket import Target

#: The benchmark's stage options (results.csv's config column).
SETTINGS = {
    "ensemble_late_share": 0.9,
    "ensemble_rivals": 0.5,
    "ensemble_share": 0.5,
    "ensemble_starts": 10,
    "quick_starts": 3,
    "refinement_budget": 200,
}


def main(name: str, limit: float, seed: int, ids: list[str]) -> None:
    """Design each target and print its improvements as (seconds, distance, stage).

    Args:
        name: The target file's name in the data folder.
        limit: The time limit per target, in seconds.
        seed: The seed of each run.
        ids: The targets' ids.
    """
    path = Path(os.environ.get("AUTORL_DATA", "../shared/data")) / name
    targets = dict(line.split()[:2] for line in path.read_text().splitlines() if line.strip())
    solve = load_design("meta-learna-adapt", SETTINGS)
    for target_id in ids:
        seen: list[tuple[float, int, str]] = []
        began = time.monotonic()

        def note(best, began=began, seen=seen) -> None:
            seen.append((round(time.monotonic() - began, 3), best.distance, best.found_by))

        structure = targets[target_id]
        result = solve(
            Target(target_id, structure), time_limit=limit, seed=seed, on_improvement=note
        )
        print(target_id, len(structure), result.solved, round(result.seconds, 3), seen)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
