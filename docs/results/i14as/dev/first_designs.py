"""When autorl's design loop reports its first designs, as the benchmark runner runs it.

Usage: ``PYTHONPATH=. python docs/results/i14as/dev/first_designs.py ID [ID ...]`` (Eterna100-v2
target ids; ``$AUTORL_DATA`` names the data folder). Prints each target's solve time and
its first improvements as (seconds, distance, stage).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from benchmarks.runner import load_design
from envs.dot_bracket import Target


def main(ids: list[str]) -> None:
    """Design each target for up to 10 s with the runner's solver and print the timeline."""
    path = Path(os.environ.get("AUTORL_DATA", "../shared/data")) / "eterna100_v2.txt"
    targets = dict(line.split()[:2] for line in path.read_text().splitlines() if line.strip())
    solve = load_design("meta-learna-adapt", {})
    for target_id in ids:
        seen: list[tuple[float, int, str]] = []
        began = time.monotonic()

        def note(best, began=began, seen=seen) -> None:
            seen.append((round(time.monotonic() - began, 3), best.distance, best.found_by))

        structure = targets[target_id]
        result = solve(Target(target_id, structure), time_limit=10, seed=1, on_improvement=note)
        print(target_id, len(structure), result.solved, round(result.seconds, 3), seen[:8])


if __name__ == "__main__":
    main(sys.argv[1:])
