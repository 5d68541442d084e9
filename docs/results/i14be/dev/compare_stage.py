"""Side harness (not a user command): ``benchmarks.ensemble_stage`` runs, target by target.

Prints each target that some run left unsolved or solved at a different second (status or
final distance, seconds, evaluations, one column per run), then each run's totals.

Usage: ``python docs/results/i14be/dev/compare_stage.py RUN.json...``
"""

import json
import sys
from pathlib import Path

runs = [
    (Path(name).stem, json.loads(Path(name).read_text())["per_target"]) for name in sys.argv[1:]
]


def cell(outcome: dict) -> str:
    """One run's outcome on one target."""
    status = "S" if outcome["solved"] else f"d={outcome['distance']}"
    return f"{status:>6} {outcome['seconds']:6.1f}s {outcome['evaluations']:>5}"


print("id  len " + " ".join(f"{name:>20}" for name, _ in runs))
for key, first in runs[0][1].items():
    outcomes = [per_target[key] for _, per_target in runs]
    if any(not o["solved"] for o in outcomes) or len({round(o["seconds"]) for o in outcomes}) > 1:
        print(f"{key:>3} {first['length']:>4} " + " ".join(f"{cell(o):>20}" for o in outcomes))
for name, per_target in runs:
    solved = sum(o["solved"] for o in per_target.values())
    distance = sum(o["distance"] for o in per_target.values())
    print(f"{name}: solved {solved}/{len(per_target)}, sum of distances {distance}")
