"""The ensemble stage alone on one target, with the special-loop moves off and on.

A dev harness, not a benchmark: each seed runs :class:`envs.ensemble_search.EnsembleSearch`
from one targeted start for the given seconds, with the design loop's stage settings
(competitor steps 0.5, 10 targeted starts, grafts 0.2, GU allowed), and counts the bonus
hairpins the moves wrote.

Usage: ``PYTHONPATH=. python docs/results/i14au/dev/stage_alone.py STRUCTURE SECONDS SEEDS``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from envs.ensemble_search import EnsembleSearch


def run(target: str, seconds: float, seed: int, special: bool) -> tuple[float | None, int, int]:
    """One run of the stage.

    Returns:
        The seconds to the solution (None: unsolved), the evaluations, and the bonus
        hairpins written (by mutations and competitor-walk moves).
    """
    search = EnsembleSearch(
        target,
        np.random.default_rng([seed, 3]),
        None,
        True,
        None,
        rivals=0.5,
        starts=10,
        special_loops=special,
        grafts=0.2,
    )
    written = [0]
    write = search._special_hairpin

    def counted(chars: list[str], hairpin: int) -> list[int]:
        written[0] += 1
        return write(chars, hairpin)

    search._special_hairpin = counted  # type: ignore[method-assign]
    began = time.monotonic()
    search.offer(search.targeted_start())
    search.run(began + seconds)
    solved = time.monotonic() - began if search.solved else None
    return solved, search.evaluations, written[0]


def main(target: str, seconds: float, seeds: int) -> None:
    """Print, for the moves off and on, the runs solved and the work done."""
    for special in (False, True):
        runs = [run(target, seconds, seed, special) for seed in range(seeds)]
        times = [t for t, _, _ in runs if t is not None]
        print(
            f"special_loops={special}: solved {len(times)}/{seeds}"
            f" (median {np.median(times) if times else '-'} s),"
            f" evaluations per run {np.mean([e for _, e, _ in runs]):.0f},"
            f" bonus hairpins written per run {np.mean([w for _, _, w in runs]):.0f}"
        )


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))
