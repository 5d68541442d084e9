r"""Probe: how often the design loop folds a design it has folded before.

Not part of the package. Runs ``meta-learna-adapt`` with the benchmark runner's settings
(one folding process, the refinement walk and the ensemble stage on) on the chosen targets
of a target file and prints, per target, the designs the policy handed to folding, how
many were distinct, and the share that repeated an earlier design of the same run.

Usage (from the project's root)::

    python docs/results/i14v/duplicates.py docs/results/i14n/dev/hard110.txt 20 \
        106,114,118,137,138,139
"""

from __future__ import annotations

import collections
import sys

import envs.vector as vector
from benchmarks.runner import load_design
from envs.dot_bracket import read_targets

#: The settings the benchmark runner gives meta-learna-adapt (see its results.csv).
SETTINGS = {
    "ensemble_rivals": 0.5,
    "ensemble_share": 0.5,
    "ensemble_starts": 10,
    "refinement_budget": 200,
}

#: Every design handed to folding in the current run.
DESIGNS: list[str] = []
_jobs = vector.RnaDesignVecEnv._jobs


def _recording_jobs(self, indices):  # noqa: ANN001, ANN202 - a recording wrapper
    jobs = _jobs(self, indices)
    DESIGNS.extend(job[0] for job in jobs)
    return jobs


vector.RnaDesignVecEnv._jobs = _recording_jobs


def main(path: str, seconds: float, ids: list[str]) -> None:
    """Design each chosen target for ``seconds`` and print its duplicate share."""
    solve = load_design("meta-learna-adapt", SETTINGS)
    for target in read_targets(path):
        if target.id not in ids:
            continue
        DESIGNS.clear()
        result = solve(target, time_limit=seconds, seed=1)
        distinct = len(collections.Counter(DESIGNS))
        share = 1 - distinct / max(1, len(DESIGNS))
        print(
            f"{target.id} {len(target.structure)} designs {len(DESIGNS)} distinct {distinct} "
            f"dup share {share:.2f} solved {result.solved} d {result.distance}",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3].split(","))
