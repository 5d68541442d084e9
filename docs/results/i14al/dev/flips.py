"""Write the dev targets that earlier runs solved sometimes: ``python flips.py > flips.txt``.

A target of ens-open (docs/results/i14aj/dev/ens-open.txt) or hard110
(docs/results/i14n/dev/hard110.txt) is kept when the stage harness's recorded runs on the
whole set (their JSON under docs/results/*/dev, made before session 48) solved it in some
runs and not in others: it is designable (a run solved it) and not always solved. Run from
the repository's root.
"""

from __future__ import annotations

import collections
import glob
import json
import sys

SETS = (
    ("docs/results/i14aj/dev/ens-open.txt", 64),
    ("docs/results/i14n/dev/hard110.txt", 110),
)


def runs(count: int) -> list[dict]:
    """The recorded harness runs over a whole set of ``count`` targets (session 48's left out)."""
    found = []
    for path in sorted(glob.glob("docs/results/*/dev/*.json")):
        if "/i14al/" in path:
            continue
        try:
            with open(path) as handle:
                summary = json.load(handle)
        except (OSError, ValueError):
            continue
        if isinstance(summary, dict) and len(summary.get("per_target", {})) == count:
            found.append(summary)
    return found


def main() -> None:
    """Print the flipping targets of both sets (counts on stderr)."""
    for path, count in SETS:
        recorded = runs(count)
        solved = collections.Counter()
        for summary in recorded:
            for name, result in summary["per_target"].items():
                solved[name] += bool(result["solved"])
        flips = {name for name, times in solved.items() if 0 < times < len(recorded)}
        print(f"{path}: {len(recorded)} runs, {len(flips)} targets flip", file=sys.stderr)
        with open(path) as handle:
            for line in handle:
                if line.split("\t")[0] in flips:
                    sys.stdout.write(line if line.endswith("\n") else line + "\n")


if __name__ == "__main__":
    main()
