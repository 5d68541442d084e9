"""How many more mutants the ensemble stage evaluates when its turns run as islands.

Runs the ensemble search (:mod:`envs.ensemble_search`) on one random target for the same
number of turns of the same length twice: in this process (as the design loop does with
one worker), and with :func:`envs.ensemble_search.run_islands` on ``--workers`` folding
processes (as it does with ``--workers W >= 2``). Both start from SAMFEO's targeted start,
with the same seed. The target is a random MFE structure of ``--length`` nt with one of
its hairpins widened into an interior loop longer than ViennaRNA's 30 nt, so no sequence
folds into it and both runs spend every turn searching. Prints, as JSON, the evaluations
and seconds of both and ``speedup``, the ratio of their evaluations per second.

Usage::

    python -m benchmarks.ensemble_islands --length 200 --turns 10 --turn-seconds 1 --workers 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

import numpy as np

from benchmarks.throughput import design_targets
from envs.ensemble_search import EnsembleSearch, run_islands
from envs.execution import Executor, ProcessExecutor, SerialExecutor, Unit
from envs.folding import positional_defects


def unsolvable_target(length: int, rng: np.random.Generator) -> str:
    """A 46-nt stem whose interior loop has 32 unpaired sites, then a random MFE structure."""
    blocked = "((" + "." * 16 + "(((....)))" + "." * 16 + "))"
    [rest] = design_targets(length - len(blocked), 1, rng)
    return blocked + rest.structure


def _search(structure: str, seed: int) -> EnsembleSearch:
    search = EnsembleSearch(structure, np.random.default_rng(seed))
    search.offer(search.targeted_start())
    return search


def _warm_up(executor: Executor) -> None:
    """Start every worker and load ViennaRNA there."""
    for k in range(executor.slots):
        executor.submit(Unit(f"warm-{k}", positional_defects, ("GGGAAACCC", "(((...)))")))
    left = executor.slots
    while left:
        left -= len(executor.wait())


def run_turns(
    search: EnsembleSearch, executor: Executor, turns: int, seconds: float
) -> tuple[int, float]:
    """Give ``search`` ``turns`` slices of ``seconds`` on ``executor`` (fewer once solved).

    Returns:
        The evaluations spent and the seconds they took.
    """
    began, before = time.monotonic(), search.evaluations
    for _ in range(turns):
        if search.solved:
            break
        run_islands(search, executor, time.monotonic() + seconds)
    return search.evaluations - before, time.monotonic() - began


def main(argv: Sequence[str] | None = None) -> int:
    """Measure both ways and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ensemble_islands")
    parser.add_argument("--length", type=int, default=200, help="target length in nt")
    parser.add_argument("--turns", type=int, default=10, help="turns of the stage")
    parser.add_argument("--turn-seconds", type=float, default=1.0, help="seconds per turn")
    parser.add_argument("--workers", type=int, default=2, help="folding processes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.length < 56 or args.turns < 1 or args.turn_seconds <= 0 or args.workers < 2:
        parser.error("need --length >= 56, --turns >= 1, --turn-seconds > 0, --workers >= 2")
    target = unsolvable_target(args.length, np.random.default_rng(args.seed))
    here = _search(target, args.seed)
    alone, alone_seconds = run_turns(here, SerialExecutor(), args.turns, args.turn_seconds)
    islands = _search(target, args.seed)
    with ProcessExecutor(args.workers, name="autorl-island") as executor:
        _warm_up(executor)  # the design loop's folding processes are running already
        together, together_seconds = run_turns(islands, executor, args.turns, args.turn_seconds)
    figures = {
        "length": args.length,
        "turns": args.turns,
        "turn_seconds": args.turn_seconds,
        "workers": args.workers,
        "evaluations_here": alone,
        "seconds_here": round(alone_seconds, 2),
        "evaluations_islands": together,
        "seconds_islands": round(together_seconds, 2),
        "speedup": round((together / together_seconds) / (alone / alone_seconds), 2),
        "best_distance_here": here.best.distance if here.best else None,
        "best_distance_islands": islands.best.distance if islands.best else None,
        "seed": args.seed,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
