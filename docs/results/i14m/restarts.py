"""Session 22 probe: the ensemble stage alone, with and without restarts.

Each target gets ``seconds`` of the stage (targeted starts, hierarchical starts with 0.3
of the time, focused repairs, competitor steps and neighbourhood steps: today's
defaults). With ``--restart S`` a fresh search (new random stream, new pool) replaces the
current one once it is at least ``S`` seconds old and its best design has not improved in
the later half of its age; the best design over all searches is reported. ``--restart 0``
is one search for the whole time.

    python docs/results/i14m/restarts.py docs/results/i14h/dev/dev41.txt --seconds 20 \
        --seed 8000 --restart 3
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from envs.ensemble_search import EnsembleSearch

#: The stage's turns in this probe (the restart rule is checked after each).
SLICE = 0.25


def _search(target: str, rng: np.random.Generator, decompose: float) -> EnsembleSearch:
    return EnsembleSearch(
        target,
        np.random.default_rng(int(rng.integers(2**31))),
        gu_pairs=True,
        starts=10,
        decompose_seconds=decompose,
        repair=1.0,
        rivals=0.5,
        neighbourhood=16384,
    )


def design(job: tuple[str, str, float, list[int], float]) -> tuple[str, dict]:
    """One target: searches until solved or out of time; the best design's report."""
    target_id, target, seconds, seed, restart = job
    rng = np.random.default_rng(seed)  # [the run's seed, the target's index]
    end = time.monotonic() + seconds
    best, searches, evaluations = None, 0, 0
    while time.monotonic() < end and (best is None or best.distance > 0):
        first = searches == 0
        search = _search(target, rng, 0.3 * (seconds if first else min(seconds, 2 * restart)))
        searches += 1
        born = last = time.monotonic()
        rank = None
        while time.monotonic() < end and not search.solved:
            search.run(min(end, time.monotonic() + SLICE))
            now = time.monotonic()
            if search.best is not None and (rank is None or search.best.rank < rank):
                rank, last = search.best.rank, now
            if restart > 0 and now - born >= restart and now - last >= 0.5 * (now - born):
                break
        evaluations += search.evaluations
        if search.best is not None and (best is None or search.best.rank < best.rank):
            best = search.best
    return target_id, {
        "solved": best is not None and best.distance == 0,
        "distance": None if best is None else best.distance,
        "searches": searches,
        "evaluations": evaluations,
    }


def main() -> None:
    """Run every target of the file, two at a time; print the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", help="id<TAB>structure per line")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--restart", type=float, default=0.0, help="seconds (0: none)")
    args = parser.parse_args()
    with open(args.targets) as handle:
        lines = [line.rstrip("\n").split("\t") for line in handle if line.strip()]
    jobs = [(i, t, args.seconds, [args.seed, k], args.restart) for k, (i, t) in enumerate(lines)]
    with ProcessPoolExecutor(2) as pool:
        per_target = dict(pool.map(design, jobs))
    reports = per_target.values()
    print(
        json.dumps(
            {
                "solved": sum(r["solved"] for r in reports),
                "count": len(per_target),
                "distance_sum": sum(r["distance"] or 0 for r in reports),
                "per_target": per_target,
            }
        )
    )


if __name__ == "__main__":
    main()
