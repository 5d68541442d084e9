"""Baseline design methods: ViennaRNA's RNAinverse with random restarts.

RNAinverse cannot be interrupted in-process, so :func:`rnainverse` only checks its time
limit between restarts; the benchmark runner calls it inside a child process that it
terminates at the hard limit, keeping the best design reported through ``on_improvement``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from envs.dot_bracket import Target
from envs.folding import hamming, inverse_fold, mfe_structure

NUCLEOTIDES = "ACGU"


@dataclass(frozen=True)
class BaselineResult:
    """The best design of a baseline so far.

    Attributes:
        target_id: The target's id.
        sequence: Best sequence found.
        distance: Hamming distance between its MFE structure and the target.
        solved: Whether the MFE structure is the target.
        seconds: Seconds from the start of the search to this design.
        restarts: RNAinverse calls made so far.
    """

    target_id: str
    sequence: str
    distance: int
    solved: bool
    seconds: float
    restarts: int


def random_sequence(length: int, rng: np.random.Generator) -> str:
    """A uniformly random RNA sequence (RNAinverse's default start)."""
    return "".join(NUCLEOTIDES[i] for i in rng.integers(0, 4, size=length))


def rnainverse(
    target: Target,
    *,
    time_limit: float,
    seed: int = 0,
    on_improvement: Callable[[BaselineResult], None] | None = None,
) -> BaselineResult:
    """RNAinverse from random start sequences, restarted until solved or out of time.

    Each restart is one uninterruptible RNAinverse adaptive walk: a walk that starts
    before the limit may end after it (the runner's hard limit cuts it off).

    Args:
        target: The target structure.
        time_limit: Seconds; no restart begins after this.
        seed: Seed of the start sequences (each walk is seeded from its start sequence).
        on_improvement: Called with the new best design whenever it improves.

    Returns:
        The best design found.

    Raises:
        ValueError: ``time_limit`` is not positive.
    """
    if time_limit <= 0:
        raise ValueError(f"time_limit must be positive, got {time_limit}")
    rng = np.random.default_rng(seed)
    structure = target.structure
    start_time = time.monotonic()
    best: BaselineResult | None = None
    restarts = 0
    while best is None or (not best.solved and time.monotonic() - start_time < time_limit):
        sequence, _ = inverse_fold(random_sequence(len(structure), rng), structure)
        restarts += 1
        distance = hamming(mfe_structure(sequence), structure)
        if best is None or distance < best.distance:
            best = BaselineResult(
                target_id=target.id,
                sequence=sequence,
                distance=distance,
                solved=distance == 0,
                seconds=time.monotonic() - start_time,
                restarts=restarts,
            )
            if on_improvement is not None:
                on_improvement(best)
    return BaselineResult(
        target.id, best.sequence, best.distance, best.solved, best.seconds, restarts
    )
