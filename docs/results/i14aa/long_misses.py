"""Session 36: where the wrong pairs of long unsolved designs lie.

For every unsolved target of at least 200 nt in a benchmark's results.csv: the pairs of
the design's MFE structure that the target lacks (wrong) and the target's pairs it lacks
(missing); each wrong pair is put in the smallest substructure the ensemble stage
searches on its own (:func:`envs.decomposition.subproblems`, at least 30 nt, at most 80 %
of the target) holding it: "root" (none holds it), "wrong-alone" (that piece's slice of
the design folds wrong on its own too) or "right-alone" (it folds right alone: cross-talk
with the rest).

Usage (from the project's root)::

    python docs/results/i14aa/long_misses.py docs/results/i14z/eterna100-v2-60s-boost/results.csv
"""

from __future__ import annotations

import csv
import sys

from envs.decomposition import subproblems
from envs.dot_bracket import pair_table
from envs.folding import mfe_structure


def main() -> None:
    """Run the probe on the command line's arguments (see the module docstring)."""
    with open(sys.argv[1], newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row["solved"] == "1" or int(row["length"]) < 200:
            continue
        target, sequence, folded = row["target"], row["sequence"], row["mfe_structure"]
        ours, theirs = pair_table(target), pair_table(folded)
        n = len(target)
        wrong = [(a, int(theirs[a])) for a in range(n) if theirs[a] > a and ours[a] != theirs[a]]
        missing = [a for a in range(n) if ours[a] > a and theirs[a] != ours[a]]
        pieces = subproblems(target)
        kinds: dict[str, int] = {}
        for a, b in wrong:
            piece = next(((i, j) for i, j in pieces if i <= a and b <= j), None)
            if piece is None:
                kind = "root"
            else:
                i, j = piece
                alone = mfe_structure(sequence[i : j + 1])
                kind = "wrong-alone" if alone != target[i : j + 1] else "right-alone"
            kinds[kind] = kinds.get(kind, 0) + 1
        print(
            row["target_id"],
            n,
            "distance",
            row["best_distance"],
            "wrong pairs",
            len(wrong),
            "missing",
            len(missing),
            kinds,
        )


if __name__ == "__main__":
    main()
