"""Session 37: can the stage solve the wrong pieces of long misses alone, and do they fit?

For every unsolved target of at least 200 nt in a benchmark's ``results.csv``, the wrong
pairs of its best design are put in the smallest substructure the ensemble stage searches
on its own (:func:`envs.decomposition.subproblems`) that holds them; of those pieces whose
slice of the design also folds wrong alone, the innermost are kept (session 36's
``long_misses.py`` counted them).

- ``alone``: each piece is a target of its own; the stage (the harness's settings
  ``--repair 1 --rivals 0.5 --neighbourhood 16384 --decompose 0.3 --boost``, seed 11)
  searches it for ``SECONDS``. Prints id, piece (0-based sites), length, solved,
  distance, seconds, evaluations.
- ``splice``: for the ids given, each piece is searched alone from the design's own
  slice for 5 s (the same settings without repairs and hierarchical starts), solved
  slices are written into the design, and the whole is folded again.

- ``context``: for the ids given, each piece (in order) is searched alone from the
  design's own slice with ``SEEDS`` seeds (3 s each, the ``splice`` settings); every
  distinct solution is written into the current design in turn and the whole folded
  (MFE only), and the slice that leaves the whole closest is kept (the old one when
  none is closer).

Usage (from the project's root)::

    R=docs/results/i14z/eterna100-v2-60s-boost/results.csv
    python docs/results/i14ab/pieces_probe.py alone $R 20
    python docs/results/i14ab/pieces_probe.py splice $R 73,76,86
    python docs/results/i14ab/pieces_probe.py context $R 73,76,86 20
"""

from __future__ import annotations

import csv
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from envs.decomposition import subproblems
from envs.dot_bracket import pair_table
from envs.ensemble_search import EnsembleSearch
from envs.folding import hamming, mfe_structure


def _search(
    target: str, repair: float = 0.0, decompose: float = 0.0, seed: int = 11
) -> EnsembleSearch:
    """The stage with the design loop's settings (no policy: its own targeted starts)."""
    return EnsembleSearch(
        target,
        np.random.default_rng(seed),
        gu_pairs=True,
        starts=10,
        rivals=0.5,
        neighbourhood=16384,
        boost=True,
        repair=repair,
        decompose_seconds=decompose,
    )


def wrong_pieces(row: dict[str, str]) -> list[tuple[int, int]]:
    """The innermost pieces holding a wrong pair whose slice of the design folds wrong."""
    target, sequence, folded = row["target"], row["sequence"], row["mfe_structure"]
    ours, theirs = pair_table(target), pair_table(folded)
    wrong = [(a, int(theirs[a])) for a in range(len(target)) if a < theirs[a] != ours[a]]
    pieces = subproblems(target)
    chosen = set()
    for a, b in wrong:
        piece = next(((i, j) for i, j in pieces if i <= a and b <= j), None)
        if piece is not None:
            i, j = piece
            if mfe_structure(sequence[i : j + 1]) != target[i : j + 1]:
                chosen.add(piece)
    return sorted(
        p for p in chosen if not any(q != p and p[0] <= q[0] and q[1] <= p[1] for q in chosen)
    )


def solve_alone(job: tuple[str, int, int, str, float]) -> tuple:
    """Search one piece alone for its seconds; the row printed."""
    target_id, i, j, target, seconds = job
    search = _search(target, repair=1.0, decompose=0.3 * seconds)
    began = time.monotonic()
    search.run(began + seconds)
    best = search.best
    distance = None if best is None else best.distance
    elapsed = round(time.monotonic() - began, 1)
    return target_id, i, j, len(target), search.solved, distance, elapsed, search.evaluations


def splice(row: dict[str, str]) -> None:
    """Write the pieces solved alone into the design and fold the whole again."""
    target, sequence = row["target"], row["sequence"]
    letters = list(sequence)
    for i, j in wrong_pieces(row):
        search = _search(target[i : j + 1])
        search.offer(sequence[i : j + 1])
        search.run(time.monotonic() + 5.0)
        if search.solved:
            letters[i : j + 1] = search.best.sequence
        print(row["target_id"], (i, j), "solved" if search.solved else "unsolved", flush=True)
    folded = mfe_structure("".join(letters))
    before = hamming(row["mfe_structure"], target)
    print(row["target_id"], "distance before", before, "after", hamming(folded, target))


def in_context(row: dict[str, str], seeds: int) -> None:
    """Keep, piece by piece, the solution alone that leaves the whole design closest."""
    target, sequence = row["target"], row["sequence"]
    letters = list(sequence)
    current = hamming(mfe_structure(sequence), target)
    began, folds = time.monotonic(), 0
    for i, j in wrong_pieces(row):
        solutions = []
        for seed in range(seeds):
            search = _search(target[i : j + 1], seed=100 + seed)
            search.offer(sequence[i : j + 1])
            search.run(time.monotonic() + 3.0)
            if search.solved:
                solutions.append(search.best.sequence)
        kept = letters[i : j + 1]
        for solution in dict.fromkeys(solutions):
            trial = letters[:i] + list(solution) + letters[j + 1 :]
            distance = hamming(mfe_structure("".join(trial)), target)
            folds += 1
            if distance < current:
                current, kept = distance, list(solution)
        letters[i : j + 1] = kept
        print(row["target_id"], (i, j), len(solutions), "solutions; distance", current, flush=True)
    elapsed = round(time.monotonic() - began, 1)
    before = hamming(row["mfe_structure"], target)
    print(
        row["target_id"], "distance before", before, "after", current, elapsed, "s", folds, "folds"
    )


def main() -> None:
    """Run the mode named on the command line (see the module docstring)."""
    mode, path, argument = sys.argv[1:4]
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if mode in ("splice", "context"):
        by_id = {row["target_id"]: row for row in rows}
        for target_id in argument.split(","):
            if mode == "splice":
                splice(by_id[target_id])
            else:
                in_context(by_id[target_id], int(sys.argv[4]))
        return
    jobs = [
        (row["target_id"], i, j, row["target"][i : j + 1], float(argument))
        for row in rows
        if row["solved"] != "1" and int(row["length"]) >= 200
        for i, j in wrong_pieces(row)
    ]
    print(len(jobs), "pieces", flush=True)
    with ProcessPoolExecutor(2) as pool:
        for result in pool.map(solve_alone, jobs):
            print(*result, flush=True)


if __name__ == "__main__":
    main()
