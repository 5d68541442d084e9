"""Keep the candidates some runs solved and others did not: ``python pick_flips.py FILE JSON...``.

``FILE`` holds the candidates (id, structure per line); each ``JSON`` is the stage
harness's summary of one run over all of them (``python -m benchmarks.ensemble_stage``).
A candidate solved by at least one run and missed by at least one is designable (a run
found a design) and not always solved: it can show a gain or a loss. Those lines are
printed (id, structure); how many candidates each number of runs solved goes to stderr.
"""

from __future__ import annotations

import collections
import json
import sys


def solved_counts(paths: list[str]) -> tuple[collections.Counter, int]:
    """How many of the runs in ``paths`` solved each target, and the number of runs."""
    counts: collections.Counter = collections.Counter()
    for path in paths:
        with open(path) as handle:
            summary = json.load(handle)
        for name, result in summary["per_target"].items():
            counts[name] += bool(result["solved"])
    return counts, len(paths)


def main(argv: list[str]) -> int:
    """Print the flipping candidates (exit 2 without a file and at least two runs)."""
    if len(argv) < 3:
        print("usage: python pick_flips.py CANDIDATES RUN.json RUN.json [...]", file=sys.stderr)
        return 2
    counts, runs = solved_counts(argv[1:])
    histogram = collections.Counter()
    with open(argv[0]) as handle:
        for line in handle:
            fields = line.split()
            if not fields:
                continue
            solved = counts[fields[0]]
            histogram[solved] += 1
            if 0 < solved < runs:
                print(f"{fields[0]}\t{fields[1]}")
    for solved in range(runs + 1):
        print(f"solved by {solved} of {runs} runs: {histogram[solved]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
