"""Solved within t seconds, for each results directory given (the budgets' curve).

Usage: ``python docs/results/i14as/dev/solved_within.py DIR [DIR ...]``.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

#: The budgets, seconds.
BUDGETS = (0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60)


def main(directories: list[str]) -> None:
    """Print one row per budget: the jobs of each directory solved within it."""
    times = {}
    for directory in directories:
        with (Path(directory) / "results.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        times[directory] = [float(r["time_to_solve"]) for r in rows if r["solved"] == "1"]
    print("seconds", *(Path(d).name for d in directories))
    for budget in BUDGETS:
        print(budget, *(sum(t <= budget for t in times[d]) for d in directories))


if __name__ == "__main__":
    main(sys.argv[1:])
