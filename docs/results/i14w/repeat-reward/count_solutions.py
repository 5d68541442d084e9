"""Count the distinct solutions per target in ``autorl design --format json`` output.

Usage::

    python docs/results/i14w/repeat-reward/count_solutions.py RESULTS.json
"""

from __future__ import annotations

import json
import sys


def main(path: str) -> None:
    """Print each target's solutions, episodes, folds and repeats, and the total."""
    with open(path, encoding="utf-8") as handle:
        rows = json.load(handle)
    total = 0
    for row in rows:
        count = len(row["solutions"])
        total += count
        print(
            row["target_id"],
            row["length"],
            "solutions",
            count,
            "episodes",
            row["episodes"],
            "folds",
            row["folds"],
            "repeats",
            row.get("repeats"),
        )
    print("distinct solutions in all:", total)


if __name__ == "__main__":
    main(sys.argv[1])
