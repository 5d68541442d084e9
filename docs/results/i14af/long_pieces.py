"""Do the long Eterna misses' wrong sites lie in pieces that fold wrong on their own?

For every unsolved target of >= 200 nt in the given results.csv files, each mismatched
site's smallest substructure (closed by a helix's outermost pair, >= 7 nt, at most 90 % of
the target: ``envs.decomposition.subproblems``) is cut out of the reported design and
folded alone. Prints one line per miss: its pieces as (length, folds right alone).

Usage (from the project's root)::

    python docs/results/i14af/long_pieces.py \
        docs/results/i14ae/eterna-60s-seed1-grafts/results.csv \
        docs/results/i14ae/eterna-60s-seed2-grafts/results.csv
"""

from __future__ import annotations

import sys

from benchmarks.results import read_results
from envs.decomposition import subproblems
from envs.folding import mfe_structure, mismatched_sites


def pieces(target: str, sequence: str, folded: str) -> list[tuple[int, bool]]:
    """(length, folds right alone) of each mismatched site's smallest piece, once each."""
    nodes = subproblems(target, 7, 0.9)
    found: dict[tuple[int, int], bool] = {}
    for site in mismatched_sites(folded, target):
        around = [(i, j) for i, j in nodes if i <= site <= j]
        if around and around[0] not in found:
            i, j = around[0]
            found[around[0]] = mfe_structure(sequence[i : j + 1]) == target[i : j + 1]
    return sorted((j - i + 1, right) for (i, j), right in found.items())


def main(paths: list[str]) -> None:
    """Print the pieces of every long miss in ``paths``."""
    for path in paths:
        for row in read_results(path):
            if row["solved"] == "1" or int(row["length"]) < 200:
                continue
            found = pieces(row["target"], row["sequence"], row["mfe_structure"])
            print(path, row["target_id"], row["length"], row["best_distance"], found)


if __name__ == "__main__":
    main(sys.argv[1:])
